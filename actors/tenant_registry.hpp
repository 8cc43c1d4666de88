#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"
#include "actors/tenant_cache.hpp"
#include "actors/ws_stats.hpp"

namespace cti {

/// Cache lifetimes.
struct tenant_registry_settings {
  /// How long an answer (found or not) is served from memory. Changes made
  /// through this node invalidate at once; the lifetime bounds staleness for
  /// changes made elsewhere (another node, a DBA).
  std::chrono::milliseconds ttl{5000};
  std::chrono::seconds db_timeout{5};
  /// DATABASE_ENCRYPTION_KEY (32 raw bytes): opens sealed webhook secrets.
  std::string encryption_key;
  /// bcrypt workers (detached actors) that verify API keys.
  std::vector<hasher_actor> hashers;
  /// This node's name (WebSocket welcome frames).
  std::string node_name;
  /// How long a tenant waits for a missing seq (test hook
  /// CTI_TEST_GAP_WAIT_MS: longer, so that events pile up behind a gap).
  std::chrono::milliseconds gap_wait{200};
  /// WS_REPLAY_MAX.
  int64_t replay_max = 1000;
  /// Test hook (CTI_TEST_DROP_PUBLISH_SEQ): drop the publish message of
  /// this seq, to show that the tenant fills the gap from the database.
  /// 0: off.
  int64_t drop_publish_seq = 0;
  /// The node's Dialpad actor: told of every invalidation (this node's and
  /// the peers'), so its refreshers read a changed connection again.
  dialpad_actor dialpad;
  /// Session connections, for the tenants' direct fan-out.
  std::shared_ptr<ws_sink_directory> sinks;
  /// WS_MAX_QUEUED_MESSAGES.
  std::size_t max_queued = 1024;
  /// Test hook (CTI_TEST_REPLAY_HOLD_MS): a replay's read first waits this
  /// long in the database, so live events arrive during it. 0: off.
  std::chrono::milliseconds replay_hold{0};
  /// Test hook (CTI_TEST_TENANT_FAIL_SEQ): a tenant that receives the
  /// publish of this seq throws, as a bug would. 0: off.
  int64_t fail_at_seq = 0;
  /// Test hook (CTI_TEST_TENANT_FAIL_HOLD_MS): before that throw the tenant
  /// holds its thread this long (logged first), so that messages queue
  /// behind the failure. 0: off.
  std::chrono::milliseconds fail_hold{0};
  /// Test hook (CTI_TEST_TENANT_FAIL_SUBSCRIBES=N): the node's first N
  /// subscriptions each make the tenant they reach throw, as a bug would
  /// (null: off).
  std::shared_ptr<std::atomic<int>> fail_subscribes;
};

/// Spawns the node's tenant registry, reading through `pool` and publishing
/// every answer into `cache` (which request handlers read directly).
tenant_registry_actor spawn_tenant_registry(caf::actor_system& sys, db_pool_actor pool,
                                            std::shared_ptr<tenant_cache> cache,
                                            tenant_registry_settings settings);

} // namespace cti
