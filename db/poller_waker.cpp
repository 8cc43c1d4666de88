#include "db/poller_waker.hpp"

#include <algorithm>

#include <caf/all.hpp>

namespace cti::db {

struct poller_waker::entry {
  queue_poller_actor poller;
  std::shared_ptr<std::atomic<bool>> busy;
};

poller_waker::poller_waker() = default;
poller_waker::~poller_waker() = default;

void poller_waker::add(queue_poller_actor poller, std::shared_ptr<std::atomic<bool>> busy) {
  std::lock_guard<std::mutex> g{m_};
  pollers_.push_back({std::move(poller), std::move(busy)});
}

void poller_waker::wake(std::size_t n) {
  std::vector<queue_poller_actor> picked;
  {
    std::lock_guard<std::mutex> g{m_};
    const auto count = pollers_.size();
    if (count == 0)
      return;
    n = std::min(std::max<std::size_t>(n, 1), count);
    std::vector<bool> woken(count, false);
    auto idle = [&](std::size_t i) {
      return !pollers_[i].busy || !pollers_[i].busy->load(std::memory_order_relaxed);
    };
    for (std::size_t k = 0; k < n; ++k) {
      // The first idle poller not yet woken, from where the last wake
      // stopped; when all are busy, the next in turn.
      std::size_t pick = next_ % count;
      for (std::size_t j = 0; j < count; ++j) {
        auto i = (next_ + j) % count;
        if (!woken[i] && idle(i)) {
          pick = i;
          break;
        }
      }
      woken[pick] = true;
      next_ = pick + 1;
      picked.push_back(pollers_[pick].poller);
    }
  }
  wakes_.fetch_add(picked.size(), std::memory_order_relaxed);
  for (auto& p : picked)
    caf::anon_send(p, wake_atom_v);
}

void poller_waker::rescan() {
  std::vector<queue_poller_actor> all;
  {
    std::lock_guard<std::mutex> g{m_};
    for (auto& e : pollers_)
      all.push_back(e.poller);
  }
  for (auto& p : all)
    caf::anon_send(p, rescan_atom_v);
}

} // namespace cti::db
