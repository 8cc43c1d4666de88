#pragma once

// The node's guard: keeps the queue pollers running, and stops the node
// when one of its other long-lived actors ends while it runs.
//
// A poller that fails (an exception in its code: a bug, bad_alloc) is
// replaced by a fresh one in its place with the waker. It held nothing that
// is not in PostgreSQL: its round committed or rolled back in the DB worker
// either way (a claimed event of a rolled-back round is pending again), and
// applied events it had not published yet reach the WebSocket streams
// through the tenants' gap filling. One that fails again within
// `quick_failure` of its start comes back after a delay that doubles (up to
// `max_delay`), so a fault that recurs on every round does not spin.
//
// The others (the pool, the ingester, the registry, the listener, ...) are
// held by handle all over the node, so a fresh one could not take their
// place; and a node without one of them would go on accepting requests it
// cannot serve (every webhook refused, nothing processed) until someone
// noticed. So the guard logs which one ended and why, once, and calls
// `on_fatal`: main shuts the node down as on SIGTERM and exits 70 (EX_SOFTWARE)
// for its service manager to restart it. Nothing acknowledged is lost by
// that: it is in PostgreSQL.
//
// Stopping the guard (an exit message, user_shutdown) stops its pollers
// with it (they are linked to it). It ignores an end for user_shutdown
// (the node's own shutdown).

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti {

/// What the guard watches and how.
struct node_guard_settings {
  /// The node's pollers, as spawned; the guard links itself to them.
  std::vector<queue_poller_actor> pollers;
  /// Spawns the poller for place `index` (of `pollers`) and registers it
  /// with the waker in that place. Called from the guard's thread.
  std::function<queue_poller_actor(std::size_t index)> spawn_poller;
  /// The node's other long-lived actors, by name (for the log).
  std::vector<std::pair<std::string, caf::actor>> core;
  /// Called once, when one of `core` has ended, with its name.
  std::function<void(const std::string& name)> on_fatal;
  /// A poller that fails within this of its start comes back after a delay.
  std::chrono::milliseconds quick_failure{1000};
  std::chrono::milliseconds first_delay{100};
  std::chrono::milliseconds max_delay{30000};
};

/// Spawns the guard.
caf::actor spawn_node_guard(caf::actor_system& sys, node_guard_settings settings);

} // namespace cti
