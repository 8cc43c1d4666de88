#pragma once

#include <chrono>
#include <cstddef>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "db/worker.hpp"

namespace cti::db {

/// Pool sizing and limits.
struct pool_settings {
  worker_settings worker;                       ///< How each worker connects.
  std::size_t min_workers = 2;                  ///< DB_POOL_MIN: spawned at start.
  std::size_t max_workers = 10;                 ///< DB_POOL_MAX: grown on demand.
  std::chrono::milliseconds max_wait{2000};     ///< DB_POOL_WAIT_MS: longest queue wait.
  std::size_t max_waiting = 1000;               ///< DB_POOL_MAX_WAITING: queue bound.
  std::chrono::milliseconds job_timeout{60000}; ///< A worker silent this long is replaced.
  /// A worker beyond `min_workers` idle this long is closed.
  std::chrono::milliseconds idle_timeout{60000};
  /// A /health check unanswered this long is "unavailable" (the HTTP
  /// handler gives up at 1.5 s); three in a row replace its connection.
  std::chrono::milliseconds health_timeout{1000};
  /// Most workers the API's jobs (REST and internal reads and writes,
  /// WebSocket replays, the event admin) hold at once; the rest are kept
  /// for the pipeline (ingest, processing, key and tenant lookups). 0: the
  /// default, `max_workers` less a fifth (at least one kept when there
  /// are two or more).
  std::size_t max_api_workers = 0;
};

/// Spawns the pool and its first `min_workers` workers. The pool hands each
/// job to an idle worker, grows up to `max_workers`, queues at most
/// `max_waiting` jobs for at most `max_wait` (then answers
/// `errc::db_unavailable`), replaces workers that die or hang, and closes
/// the connections beyond `min_workers` that idled for `idle_timeout`.
db_pool_actor spawn_db_pool(caf::actor_system& sys, pool_settings settings);

} // namespace cti::db
