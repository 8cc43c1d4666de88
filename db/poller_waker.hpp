#pragma once

// Wakes this node's queue pollers. Whoever learns that new events are
// queued calls it: the DB worker that has just committed a batch of
// webhooks (at once, without a round trip through PostgreSQL), and the
// event listener for another node's events (after its delay) or a rescan.
//
// One wake per call wakes one poller. A poller that is woken while busy
// runs another round after its own, so a wake is never lost. The choice:
// a poller whose round started moments ago, when there is one: it takes
// the new events right after the ones it is applying, so events that
// arrive one after another are applied, and numbered (`seq`), in arrival
// order (an idle sibling would apply them beside the running round and
// could commit first). Else an idle poller, in turn (waking them all made
// every poller claim at once, and all but one claim nothing). A backlog is
// still shared: a round that claimed a full batch wakes an idle sibling
// (wake_idle), and a round running for longer than `fresh_round` (a slow
// or blocked one) is not waited for.

#include <atomic>
#include <chrono>
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

  /// A round older than this is not waited for: an idle poller is woken.
  static constexpr std::chrono::milliseconds fresh_round{1000};

  /// Registers a poller and when its running round started (steady clock,
  /// ns; 0 when idle; may be null: the poller always counts as idle). Call
  /// before the pollers can be woken; safe at any time.
  void add(queue_poller_actor poller, std::shared_ptr<std::atomic<int64_t>> busy);

  /// Puts a fresh poller in the place of the one at `index` (the order of
  /// `add`), which has ended: wakes stop going to it. An `index` past the
  /// end adds it.
  void replace(std::size_t index, queue_poller_actor poller,
               std::shared_ptr<std::atomic<int64_t>> busy);

  /// New events are queued: wakes `n` pollers (at least one, at most all).
  /// One: a poller in a fresh round when there is one (see above); more:
  /// idle ones first.
  void wake(std::size_t n = 1);

  /// A poller found a backlog: wakes one idle poller, if there is one.
  void wake_idle();

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
