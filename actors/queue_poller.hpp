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

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
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
  /// A round woken by new events claims after where the last one stopped,
  /// but one at least this often claims from the oldest pending event, so
  /// an event committed long after its received_at (a slow commit) waits
  /// no longer than this, not for the tick (and a later event of its call,
  /// held back behind it, is not retried every deferred_retry meanwhile).
  std::chrono::milliseconds full_every{1000};
  /// Those scheduled rounds (and the tick) claim only events received at
  /// least this long ago, and do not flag the poller busy: a fresh event is
  /// the business of the round woken for it (the waker's choice keeps
  /// arrival order), and one waiting longer than the waker's fresh_round is
  /// anybody's.
  std::chrono::milliseconds settled_age{1000};
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
  /// Tests only (CTI_TEST_POLLER_FAIL_SEQ): a round that applied the event
  /// numbered this throws after its commit, before publishing, as a bug
  /// would (app/main.cpp's node guard replaces the poller). 0: never.
  int64_t fail_at_seq = 0;
};

/// Stored payload bytes a grown round aims to stay under: a backlog of
/// large events keeps smaller rounds (a round parses every payload it claims).
constexpr uint64_t round_bytes_budget = 16 * 1024 * 1024;

/// What the last round tells the next one's size.
struct round_outcome {
  uint32_t asked = 0;          ///< The round's size.
  uint32_t taken = 0;          ///< Claimed and not left for later.
  uint32_t failed = 0;         ///< Handler failures.
  uint64_t payload_bytes = 0;  ///< Of every claimed event.
  uint32_t claimed = 0;        ///< Every claimed event.
};

/// The next round's size. A round that took all it asked for, with no
/// failure, means more wait: the next round takes twice as many, up to
/// `largest`, so a backlog pays the per-round cost for more events, and no
/// more than `round_bytes_budget` of payloads at the last round's mean size
/// (never below `base`). Anything else goes back to `base`: a round that was
/// not full (the queue is caught up, so a live trickle keeps small, quick
/// rounds), one that left events for later (they wait for another poller's
/// call: growing would only lock more rows to skip), one with a failure (its
/// events are retried one by one).
inline uint32_t next_round_size(const round_outcome& last, uint32_t base, uint32_t largest) {
  if (largest <= base || last.failed > 0 || last.taken < last.asked || last.asked == 0)
    return base;
  uint64_t next = std::min<uint64_t>(uint64_t{last.asked} * 2, largest);
  if (last.claimed > 0 && last.payload_bytes > 0) {
    uint64_t mean = std::max<uint64_t>(1, last.payload_bytes / last.claimed);
    next = std::min(next, std::max<uint64_t>(base, round_bytes_budget / mean));
  }
  return static_cast<uint32_t>(std::max<uint64_t>(next, base));
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
