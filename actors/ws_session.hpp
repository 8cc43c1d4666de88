#pragma once

#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti {

struct node_context;

/// Spawns the actor of one WebSocket connection of `app_id`: it subscribes
/// with `filter` to the app's tenant actor and relays its frames to `sink`.
ws_session_actor spawn_ws_session(caf::actor_system& sys, std::shared_ptr<const node_context> ctx,
                                  std::weak_ptr<ws_sink> sink, std::string app_id,
                                  ws_filter filter);

/// Stops it (the connection closed); the tenant notices and forgets it.
void stop_ws_session(const ws_session_actor& session);

} // namespace cti
