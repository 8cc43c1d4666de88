#pragma once

// The LISTEN connection (ARCHITECTURE.md rule 4): a detached actor with a
// connection of its own. It waits in slices of `slice` so that it notices
// an exit request quickly; while Postgres is away it reconnects with
// backoff and, once back, has every poller rescan in case a notification
// was lost meanwhile.
//
// A node wakes its own pollers directly when its DB worker commits a
// batch of webhooks (db/poller_waker.hpp); no NOTIFY is involved. In a
// cluster that worker also sends a NOTIFY afterwards, in a transaction of
// its own, for the other nodes: their listeners wait `foreign_delay` and
// then wake one poller for all such notifications meanwhile, which finds
// the events already taken unless their node is slow or gone. A
// notification sent by one of this node's own connections (the sender's
// backend pid) wakes nobody. A rescan (a replayed event lies before the
// pollers' positions) goes to every poller at once.
//
// (A NOTIFY inside the ingest transaction used to do the waking. PostgreSQL
// serializes the commits of notifying transactions, flush included, on one
// lock: concurrent ingest batches could not share a WAL flush, and ingest
// stopped at about 4,500 webhooks/s with a core idle; see DECISIONS.md.)

#include <chrono>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "db/backend_pids.hpp"
#include "db/poller_waker.hpp"

namespace cti::db {

/// How the listener connects and waits.
struct listener_settings {
  std::string conninfo;
  std::chrono::milliseconds slice{200};
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
  /// This node's pollers (null: none).
  std::shared_ptr<poller_waker> waker;
  /// This node's pool connections: their notifications wake nobody. A
  /// notification from another backend wakes a poller after
  /// `foreign_delay` (several within it wake one). Null: this node does not
  /// know its connections, and every notification wakes a poller at once.
  std::shared_ptr<backend_pids> own;
  std::chrono::milliseconds foreign_delay{25};
};

/// Spawns the listener.
event_listener_actor spawn_event_listener(caf::actor_system& sys, listener_settings settings);

} // namespace cti::db
