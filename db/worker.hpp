#pragma once

// A DB worker is a detached actor: it has a thread of its own for its whole
// life, so it (and only it) may block in libpqxx.
//
//   spawn ──► connect ──ok──► [connected] ──job──► run ──ok──► answer
//                │                 ▲                 │
//               fail               │            broken / 57P01
//                ▼                 │                 ▼
//          [disconnected] ◄────────┼──────── drop connection
//             │   ▲ answers jobs   │
//   reconnect │   │ db_unavailable │
//   (backoff) └───┴────────ok──────┘
//
// Before each job a connected worker looks (one poll of the socket) whether
// PostgreSQL closed the connection while it idled, and connects again first
// when it did: after a Postgres restart no job fails on a stale connection.
// A connection that breaks during a job fails that job (a read-only one is
// retried once on a new connection; a change is not: it may have committed).

#include <chrono>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "db/backend_pids.hpp"
#include "db/poller_waker.hpp"

namespace cti::db {

/// How a worker connects.
struct worker_settings {
  std::string conninfo;                               ///< libpq URI or key=value string.
  std::chrono::milliseconds min_backoff{100};         ///< First reconnect delay.
  std::chrono::milliseconds max_backoff{2000};        ///< Reconnect delay cap.
  std::chrono::milliseconds statement_timeout{30000}; ///< Per-statement limit set on connect.
  /// Where the worker records its connection's backend pid (may be null).
  std::shared_ptr<backend_pids> pids;
  /// This node's pollers: woken as soon as a batch of webhooks that stored
  /// something new has committed (may be null).
  std::shared_ptr<poller_waker> waker;
  /// In a cluster: after such a batch, a NOTIFY for the other nodes'
  /// listeners, in a transaction of its own (see db/listener.hpp).
  bool notify_other_nodes = false;
};

/// Spawns one detached worker. It connects at once and keeps reconnecting
/// with exponential backoff while Postgres is away.
db_worker_actor spawn_db_worker(caf::actor_system& sys, worker_settings settings);

} // namespace cti::db
