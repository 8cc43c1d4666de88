#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti {

struct node_context;

/// Spawns the actor behind one HTTP connection. It answers each request
/// through `sink` and dies with the connection (see `stop_http_handler`).
http_handler_actor spawn_http_handler(caf::actor_system& sys,
                                      std::shared_ptr<const node_context> ctx,
                                      std::weak_ptr<session_sink> sink);

/// Hands `req` to `handler` (thread-safe, returns at once).
void submit_request(const http_handler_actor& handler, api_request req);

/// Tells `handler` its connection is gone.
void stop_http_handler(const http_handler_actor& handler);

} // namespace cti
