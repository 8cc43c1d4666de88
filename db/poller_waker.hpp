#pragma once

// Wakes this node's queue pollers. Whoever learns that new events are
// queued calls it: the DB worker that has just committed a batch of
// webhooks (at once, without a round trip through PostgreSQL), and the
// event listener for another node's events (after its delay) or a rescan.
//
// One wake per call wakes one poller, an idle one when there is one, in
// turn: waking them all made every poller claim at once, and all but one
// claim nothing. A poller that is woken while busy runs another round
// after its own, so a wake is never lost.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti::db {

class poller_waker {
public:
  poller_waker();
  ~poller_waker();
  poller_waker(const poller_waker&) = delete;
  poller_waker& operator=(const poller_waker&) = delete;

  /// Registers a poller and its busy flag (set while its round runs; may
  /// be null: the poller always counts as idle). Call before the pollers
  /// can be woken; safe at any time.
  void add(queue_poller_actor poller, std::shared_ptr<std::atomic<bool>> busy);

  /// New events are queued: wakes `n` pollers (at least one, at most all).
  void wake(std::size_t n = 1);

  /// An event before the pollers' positions became due (a replay, or
  /// notifications lost while the listener was away): every poller claims
  /// from the oldest pending event.
  void rescan();

  /// Wakes sent so far (for tests and figures).
  uint64_t wakes() const {
    return wakes_.load(std::memory_order_relaxed);
  }

private:
  struct entry; // a poller and its busy flag (the handle's type is heavy)
  mutable std::mutex m_;
  std::vector<entry> pollers_;
  std::size_t next_ = 0; ///< The poller the next wake tries first.
  std::atomic<uint64_t> wakes_{0};
};

} // namespace cti::db
