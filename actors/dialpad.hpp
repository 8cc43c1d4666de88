#pragma once

// The node's Dialpad accounts (issue 6): one token refresher actor per
// connected app, the screen pop, and the revocation on disconnect.

#include <chrono>
#include <string>

#include <caf/typed_actor.hpp>

#include "actors/dialpad_stats.hpp"
#include "actors/messages.hpp"
#include "domain/config.hpp"

namespace cti {

struct dialpad_settings {
  config cfg;                       ///< Environments, scopes, REFRESH_MARGIN, the sealing key.
  std::string node_name;            ///< Lease owner name for refreshes.
  db_pool_actor pool;
  ingester_actor ingester;          ///< Call-history sync stores what it fetched here.
  std::shared_ptr<dialpad_stats> stats = std::make_shared<dialpad_stats>();
  http_client_actor http;
  /// First retry after a failed refresh (then doubling, capped at 15 min).
  std::chrono::milliseconds refresh_retry_base{30000};
  /// Screen pops allowed per Dialpad user and app per minute (Dialpad's own limit).
  int screen_pops_per_minute = 5;
};

/// Spawns the manager; it starts a refresher for every connected account.
dialpad_actor spawn_dialpad(caf::actor_system& sys, dialpad_settings settings);

/// The configuration of environment `name` (`sandbox` or `production`).
const dialpad_env_config& dialpad_env(const config& cfg, const std::string& name);

/// The request that revokes `access_token` (and its grant) at Dialpad:
/// POST /oauth2/deauthorize with the token as bearer and the client id.
outbound_request deauthorize_request(const dialpad_env_config& env, const std::string& access_token);

/// Sends `req` through `http`, allowing it `cfg.dialpad_timeout_ms`; `done`
/// receives the answer (a worker that does not answer in time gives error
/// `timeout`). The caller includes <caf/all.hpp>.
template <class Self, class Done>
void call_dialpad(Self self, const http_client_actor& http, const config& cfg,
                  outbound_request req, Done done) {
  std::chrono::milliseconds timeout{cfg.dialpad_timeout_ms};
  req.timeout_ms = static_cast<int32_t>(timeout.count());
  self->request(http, timeout + std::chrono::seconds{5}, http_call_atom_v, std::move(req))
    .then([done](outbound_response& res) mutable { done(res); },
          [done](caf::error&) mutable {
            outbound_response res;
            res.error = "timeout";
            done(res);
          });
}

} // namespace cti
