#pragma once

// The LISTEN connection (ARCHITECTURE.md rule 4): a detached actor with a
// connection of its own, waiting for the ingester's NOTIFY and waking every
// poller. It waits in slices of `slice` so that it notices an exit request
// quickly; while Postgres is away it reconnects with backoff and, once back,
// wakes the pollers in case a notification was lost meanwhile.

#include <chrono>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti::db {

/// How the listener connects and waits.
struct listener_settings {
  std::string conninfo;
  std::chrono::milliseconds slice{200};
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
};

/// Spawns the listener; it wakes every actor of `pollers` on each
/// notification (several notifications arriving together wake them once).
event_listener_actor spawn_event_listener(caf::actor_system& sys, listener_settings settings,
                                          std::vector<queue_poller_actor> pollers);

} // namespace cti::db
