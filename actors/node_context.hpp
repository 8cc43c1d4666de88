#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/typed_actor.hpp>

#include "actors/cluster.hpp"
#include "actors/messages.hpp"
#include "actors/dialpad_stats.hpp"
#include "actors/processing_stats.hpp"
#include "actors/tenant_cache.hpp"
#include "actors/ws_stats.hpp"
#include "domain/config.hpp"
#include "domain/rate_limit.hpp"
#include "domain/request_stats.hpp"

namespace cti {

/// What every request handler on this node shares, read-only after start.
struct node_context {
  config cfg;                                   ///< Validated configuration.
  std::string node_name;                        ///< NODE_NAME or hostname-pid.
  db_pool_actor pool;                           ///< The DB pool.
  ingester_actor ingester;                      ///< Group commit of webhooks.
  http_client_actor http;                       ///< Outbound HTTP (Dialpad).
  dialpad_actor dialpad;                        ///< Dialpad accounts: refreshers, screen pop.
  retention_actor retention;                    ///< The retention job.
  tenant_registry_actor registry;               ///< Loads apps into `tenants`.
  std::shared_ptr<tenant_cache> tenants;        ///< Apps and keys, read without a round trip.
  std::vector<hasher_actor> hashers;            ///< bcrypt workers (detached).
  std::shared_ptr<ws_stats> ws = std::make_shared<ws_stats>(); ///< WebSocket figures.
  /// The connection of each ws_session actor (tenants write to it directly).
  std::shared_ptr<ws_sink_directory> ws_sinks = std::make_shared<ws_sink_directory>();
  std::shared_ptr<request_stats> stats;         ///< HTTP figures (thread-safe).
  /// Wrong credentials per client IP (AUTH_FAILURES_PER_MINUTE).
  std::shared_ptr<window_limiter> auth_failures;
  /// Requests per app (API_RATE_LIMIT_PER_MINUTE).
  std::shared_ptr<window_limiter> app_requests;
  /// WEBHOOK_RATE_LIMIT_PER_MINUTE: per app, far above any real tenant's
  /// traffic; past it a webhook gets 503 with Retry-After (never 429).
  std::shared_ptr<window_limiter> app_webhooks;
  std::shared_ptr<processing_stats> processing; ///< Event figures (thread-safe).
  std::shared_ptr<dialpad_stats> dialpad_figures = std::make_shared<dialpad_stats>();
  /// The cluster as the hub sees it (enabled = false: clustering off).
  std::shared_ptr<cluster_view> cluster = std::make_shared<cluster_view>();
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

} // namespace cti
