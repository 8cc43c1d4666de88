#pragma once

#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti {

/// Spawns one bcrypt worker: a detached actor (a thread of its own), so a
/// 60 ms hash never occupies a CAF scheduler thread or an asio thread.
/// `cost` is API_KEY_BCRYPT_COST.
hasher_actor spawn_hasher(caf::actor_system& sys, int cost);

} // namespace cti
