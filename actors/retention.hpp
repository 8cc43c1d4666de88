#pragma once

// The retention job: every RETENTION_INTERVAL_SECONDS (and on demand,
// POST /internal/retention/run) it applies each app's retention settings in
// bounded batches through the pool (db/api_repo.cpp run_retention).

#include <chrono>
#include <memory>

#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"

namespace cti {

class tenant_cache;

struct retention_settings {
  db_pool_actor pool;
  /// Its cached API answers are dropped after each run (rows were deleted).
  std::shared_ptr<tenant_cache> cache;
  std::chrono::seconds interval{3600};  ///< 0: on demand only.
  int batch = 1000;                     ///< Rows per statement and transaction.
};

retention_actor spawn_retention(caf::actor_system& sys, retention_settings settings);

} // namespace cti
