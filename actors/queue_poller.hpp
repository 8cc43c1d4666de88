#pragma once

// A queue poller drives processing rounds (db/processor.hpp) through the
// pool and publishes what they applied:
//
//   wake ──────────┐
//   tick (interval)┼─► idle? ──yes──► pool: process ──► publish applied ──┐
//                  │     └─no──► remember "again"                         │
//                  └──────────── a full batch, or "again": next round ◄───┘
//
// A wake comes from the DB worker that committed new webhooks, or from the
// listener (another node's events, a replay). Several pollers run per node
// (and on every node); SKIP LOCKED keeps them off each other's events.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti {

class processing_stats;
class tenant_cache;

/// How a poller works.
struct poller_settings {
  process_settings process;                     ///< Batch size, attempts.
  /// EVENT_BATCH_MAX: the largest round while a backlog lasts (rounds grow
  /// from `process.batch_size` while they come back full). Below
  /// `process.batch_size`: no growth.
  uint32_t max_batch_size = 0;
  /// EVENT_POLL_INTERVAL_MS: the safety-net round, which also claims from
  /// the oldest pending event (retries that became due).
  std::chrono::milliseconds interval{5000};
  std::chrono::seconds db_timeout{60};          ///< Longest wait for one round.
  /// Next round after one that left events to another poller's calls.
  std::chrono::milliseconds deferred_retry{5};
  /// Next round after a failed one during which new events were announced.
  std::chrono::milliseconds failed_retry{250};
  /// While a round runs, when it started (steady clock, ns); 0 when idle.
  /// The waker reads it to choose whom to wake. May be null.
  std::shared_ptr<std::atomic<int64_t>> busy;
  /// Called after a round that claimed a full batch (a backlog): wakes an
  /// idle sibling, so that several pollers share it. May be empty.
  std::function<void()> wake_sibling;
};

/// The next round's size after one that asked for `asked` events and
/// claimed `claimed` (held-back events included: they are a backlog too).
/// A full claim means more wait: the next round takes twice as many, up to
/// `largest`, so a backlog pays the per-round cost for more events; a claim
/// that was not full means the queue is caught up: back to `base`, so a live
/// trickle keeps small, quick rounds.
inline uint32_t next_round_size(uint32_t asked, uint32_t claimed, uint32_t base,
                                uint32_t largest) {
  if (largest <= base || claimed < asked)
    return base;
  uint64_t twice = uint64_t{asked} * 2;
  return twice >= largest ? largest : static_cast<uint32_t>(twice);
}

/// Spawns a poller that processes through `pool` and hands applied events
/// to `registry`, recording figures in `stats`.
/// `tenants` (may be null) has the app's cached answers dropped as soon as
/// a round that changed the app has committed.
queue_poller_actor spawn_queue_poller(caf::actor_system& sys, db_pool_actor pool,
                                      tenant_registry_actor registry,
                                      std::shared_ptr<processing_stats> stats,
                                      poller_settings settings,
                                      std::shared_ptr<tenant_cache> tenants = nullptr);

} // namespace cti
