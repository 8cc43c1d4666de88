#pragma once

// Group commit (ARCHITECTURE.md rule 2):
//
//   request ─┐                       ┌─► 200 / duplicate (after COMMIT)
//   request ─┼─► batch ──────────────► pool: INSERT … ; COMMIT; wake a poller
//   request ─┘                       └─► 503 for every item when the DB is down
//
// Adaptive batching: while fewer than `max_in_flight` batches are being
// committed, an event is sent at once (no added latency when the load is
// light). Otherwise events gather until a batch finishes, `max_batch` is
// reached, or the oldest has waited `max_delay`, so under load the batches
// grow to match the commit latency.

#include <chrono>
#include <cstddef>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti {

/// Batching limits.
struct ingester_settings {
  std::chrono::microseconds max_delay{1000}; ///< INGEST_MAX_DELAY_US
  std::size_t max_batch = 256;               ///< INGEST_MAX_BATCH
  std::size_t max_in_flight = 1;             ///< INGEST_MAX_IN_FLIGHT
  /// Longest wait for a batch's commit (a webhook's answer has its own
  /// deadline of 4.5 s in the HTTP session, inside Dialpad's 5 s).
  std::chrono::seconds db_timeout{10};
};

/// Spawns the node's ingester, storing through `pool`.
ingester_actor spawn_ingester(caf::actor_system& sys, db_pool_actor pool,
                              ingester_settings settings);

} // namespace cti
