#pragma once

// The retention job: every RETENTION_INTERVAL_SECONDS (and on demand,
// POST /internal/retention/run) it applies each app's retention settings in
// bounded batches through the pool (db/api_repo.cpp run_retention).

#include <chrono>

#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"

namespace cti {

struct retention_settings {
  db_pool_actor pool;
  std::chrono::seconds interval{3600};  ///< 0: on demand only.
  int batch = 1000;                     ///< Rows per statement and transaction.
};

retention_actor spawn_retention(caf::actor_system& sys, retention_settings settings);

} // namespace cti
