#pragma once

// One tenant actor per app per node, spawned by the tenant registry on first
// use: where the app's hot state lives. Today: the app's applied-event
// stream as this node received it (last seq, count) and the user-mapping
// cache (Dialpad user → CRM user) that WebSocket pushes will enrich events
// with. WebSocket sessions and their filters join it with the push step.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"
#include "actors/ws_stats.hpp"

namespace cti {

/// How tenant actors work.
struct tenant_settings {
  std::string node_name;                          ///< Shown in the welcome frame.
  std::chrono::milliseconds gap_wait{200};        ///< Wait for a missing seq.
  int64_t replay_max = 1000;                      ///< WS_REPLAY_MAX.
  /// How often, while sessions listen, the app's seq is compared with the
  /// database (a lost publish of the newest event).
  std::chrono::milliseconds check_interval{2000};
  /// Where session connections are found (null: frames go through the
  /// session actors).
  std::shared_ptr<ws_sink_directory> sinks;
  /// Live frames a session may have held while its replay is read
  /// (WS_MAX_QUEUED_MESSAGES).
  std::size_t max_buffered = 1024;
  /// Test hook: see tenant_registry_settings::replay_hold.
  std::chrono::milliseconds replay_hold{0};
  /// Test hook: see tenant_registry_settings::fail_at_seq.
  int64_t fail_at_seq = 0;
  /// Test hook: see tenant_registry_settings::fail_hold.
  std::chrono::milliseconds fail_hold{0};
  /// Test hook: see tenant_registry_settings::fail_subscribes.
  std::shared_ptr<std::atomic<int>> fail_subscribes;
};

/// Test hooks' countdowns: true (and one fewer left) while `left` is above 0.
inline bool take_one(const std::shared_ptr<std::atomic<int>>& left) {
  if (!left)
    return false;
  int n = left->load();
  while (n > 0 && !left->compare_exchange_weak(n, n - 1)) {
  }
  return n > 0;
}

/// Events a tenant holds ahead of a missing seq (while it waits for it or
/// reads it, or before it knows where the stream stands): past this the
/// newest are dropped and read back from the database in their turn.
inline std::size_t max_pending(const tenant_settings& s) {
  return std::max<std::size_t>(16, 4 * s.max_buffered);
}

/// Spawns the tenant actor of `app_id`, linked to `parent` (the registry).
/// A tenant that fails (an exception: a bug, memory) closes its sessions
/// with 1011 first, so their clients reconnect with `since` and lose
/// nothing; the registry then forgets it and the app's next use spawns a
/// fresh one.
tenant_actor spawn_tenant(caf::local_actor* parent, std::string app_id, db_pool_actor pool,
                          tenant_settings settings);

} // namespace cti
