#pragma once

// The PostgreSQL backend pids of this node's pool connections. The event
// listener tells from a notification's sender pid whether this node stored
// the events (it has woken its pollers already: the notification is for
// the other nodes) or another node did (this node looks after a delay, in
// case that node is slow or gone; see db/listener.hpp). A pid leaves the
// set with its connection. A wrong answer only changes when a poller
// looks, never whether: the periodic poll finds every event.

#include <mutex>
#include <unordered_set>

namespace cti::db {

class backend_pids {
public:
  /// A connection of this node now has backend `pid` (instead of `old`, 0: none).
  void replace(int old, int pid) {
    std::lock_guard<std::mutex> g{m_};
    if (old != 0)
      pids_.erase(old);
    if (pid != 0)
      pids_.insert(pid);
  }
  bool contains(int pid) const {
    std::lock_guard<std::mutex> g{m_};
    return pids_.count(pid) > 0;
  }

private:
  mutable std::mutex m_;
  std::unordered_set<int> pids_;
};

} // namespace cti::db
