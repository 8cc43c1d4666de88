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
//
// Connection cap: at most `max_connections` batches are at the pool at
// once, counted until the pool answers, even after their requests were
// given up (`db_timeout`). A database that stalls ingest (a lock on
// webhook_events, a full disk) therefore holds that many connections and
// no more: the REST reads keep the rest of the pool. Events that find
// every ingest connection busy gather (at most `max_waiting`, then `503`
// at once) and go with the next answer.

#include <chrono>
#include <cstddef>
#include <string>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti {

/// Batching limits.
struct ingester_settings {
  std::chrono::microseconds max_delay{1000}; ///< INGEST_MAX_DELAY_US
  std::size_t max_batch = 256;               ///< INGEST_MAX_BATCH
  /// Payload bytes one batch may carry (an event larger than this goes
  /// alone): a batch is one statement's parameter, and PostgreSQL refuses
  /// a jsonb array past 256 MiB, which would fail every event of the batch.
  std::size_t max_batch_bytes = std::size_t{16} << 20;
  std::size_t max_in_flight = 1;             ///< INGEST_MAX_IN_FLIGHT
  /// INGEST_MAX_CONNECTIONS: batches at the pool at once (default: half of
  /// DB_POOL_MAX, at least 1).
  std::size_t max_connections = 5;
  /// Events gathered while every ingest connection is busy; more are
  /// answered `unavailable` at once.
  std::size_t max_waiting = 4096;
  /// Payload bytes those gathered events may hold (one event at least):
  /// webhook bodies may each be WEBHOOK_MAX_BODY_BYTES.
  std::size_t max_waiting_bytes = std::size_t{256} << 20;
  /// Longest wait for a free ingest connection (the HTTP session answers a
  /// webhook `503` at 4.5 s; later it is pointless to store it).
  std::chrono::milliseconds wait_timeout{4500};
  /// Longest a batch counts against `max_connections` without an answer
  /// from the pool (which answers every job within its job timeout, 60 s,
  /// plus its queue wait); only a pool that is gone reaches it.
  std::chrono::milliseconds slot_timeout{90000};
  /// Longest wait for a batch's commit (a webhook's answer has its own
  /// deadline of 4.5 s in the HTTP session, inside Dialpad's 5 s).
  std::chrono::milliseconds db_timeout{10000};
  /// Tests only (CTI_TEST_INGESTER_FAIL_EVENT): the ingester throws on a
  /// webhook with this event id, as a bug would (the node guard then stops
  /// the node). Empty: never.
  std::string fail_on_event_id;
};

/// Spawns the node's ingester, storing through `pool`.
ingester_actor spawn_ingester(caf::actor_system& sys, db_pool_actor pool,
                              ingester_settings settings);

} // namespace cti
