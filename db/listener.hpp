#pragma once

// The LISTEN connection (ARCHITECTURE.md rule 4): a detached actor with a
// connection of its own, waiting for the ingester's NOTIFY and waking an
// idle poller per notification. It waits in slices of `slice` so that it notices an exit request
// quickly; while Postgres is away it reconnects with backoff and, once back,
// wakes the pollers in case a notification was lost meanwhile.
//
// In a cluster every node's listener hears every notification. The node
// whose pool stored the events (the sender's backend pid is one of its
// connections) wakes a poller at once; the others wait `foreign_delay`
// and then wake one poller for all such notifications meanwhile, which
// finds the events already taken unless their node is slow or gone. Each
// notification used to wake a poller on every node at once: all of them
// claimed, and all but one claimed nothing.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "db/backend_pids.hpp"

namespace cti::db {

/// How the listener connects and waits.
struct listener_settings {
  std::string conninfo;
  std::chrono::milliseconds slice{200};
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
  /// Per poller (same order as the pollers), set while its round runs
  /// (poller_settings::busy); may be empty (every poller counts as idle).
  std::vector<std::shared_ptr<std::atomic<bool>>> busy;
  /// This node's pool connections (may be null: every notification is
  /// this node's). A notification from another backend wakes a poller only
  /// after `foreign_delay` (several within it wake one).
  std::shared_ptr<backend_pids> own;
  std::chrono::milliseconds foreign_delay{25};
};

/// Spawns the listener; each notification wakes one poller, an idle one
/// when there is one (several notifications arriving together wake as many,
/// at most all); a rescan wakes them all.
event_listener_actor spawn_event_listener(caf::actor_system& sys, listener_settings settings,
                                          std::vector<queue_poller_actor> pollers);

} // namespace cti::db
