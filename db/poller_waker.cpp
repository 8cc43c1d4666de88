#include "db/poller_waker.hpp"

#include <algorithm>
#include <optional>

#include <caf/all.hpp>

namespace cti::db {

struct poller_waker::entry {
  queue_poller_actor poller;
  std::shared_ptr<std::atomic<int64_t>> busy;
  /// When its running round started (steady clock, ns); 0 when idle.
  int64_t since() const { return busy ? busy->load(std::memory_order_relaxed) : 0; }
};

poller_waker::poller_waker() = default;
poller_waker::~poller_waker() = default;

void poller_waker::add(queue_poller_actor poller, std::shared_ptr<std::atomic<int64_t>> busy) {
  std::lock_guard<std::mutex> g{m_};
  pollers_.push_back({std::move(poller), std::move(busy)});
}

void poller_waker::replace(std::size_t index, queue_poller_actor poller,
                           std::shared_ptr<std::atomic<int64_t>> busy) {
  std::lock_guard<std::mutex> g{m_};
  if (index < pollers_.size())
    pollers_[index] = {std::move(poller), std::move(busy)};
  else
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
    if (n == 1) {
      // A poller in a fresh round takes the new events next, in order.
      const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
      const auto fresh = std::chrono::duration_cast<std::chrono::nanoseconds>(fresh_round).count();
      for (std::size_t j = 0; j < count; ++j) {
        auto i = (next_ + j) % count;
        auto since = pollers_[i].since();
        if (since != 0 && now - since < fresh) {
          picked.push_back(pollers_[i].poller);
          break;
        }
      }
    }
    std::vector<bool> woken(count, false);
    auto idle = [&](std::size_t i) { return pollers_[i].since() == 0; };
    for (std::size_t k = picked.size(); k < n; ++k) {
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
      // Until the poller stamps its round itself: a wake that comes before
      // it has read this one follows it (arrival order), not another idle
      // poller. The poller overwrites the stamp, and clears it after.
      if (n == 1 && pollers_[pick].busy) {
        int64_t idle_stamp = 0;
        pollers_[pick].busy->compare_exchange_strong(
          idle_stamp, std::chrono::steady_clock::now().time_since_epoch().count(),
          std::memory_order_relaxed);
      }
    }
  }
  wakes_.fetch_add(picked.size(), std::memory_order_relaxed);
  for (auto& p : picked)
    caf::anon_send(p, wake_atom_v);
}

void poller_waker::wake_idle() {
  std::optional<queue_poller_actor> picked;
  {
    std::lock_guard<std::mutex> g{m_};
    const auto count = pollers_.size();
    for (std::size_t j = 0; j < count && !picked; ++j) {
      auto i = (next_ + j) % count;
      if (pollers_[i].since() == 0) {
        picked = pollers_[i].poller;
        next_ = i + 1;
      }
    }
  }
  if (!picked)
    return;
  wakes_.fetch_add(1, std::memory_order_relaxed);
  caf::anon_send(*picked, wake_atom_v);
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
