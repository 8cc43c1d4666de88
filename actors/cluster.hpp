#pragma once

// The cluster hub: one per node when CLUSTER_PORT is set. It keeps this
// node's row in `cluster_nodes` fresh, links to every live peer (found in
// that table and through CLUSTER_SEEDS) over CAF's network layer, and
// carries what changes on this node (applied events, cache invalidations,
// mapping changes, session closes) to the peers' registries.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"

namespace cti {

/// The protocol spoken on node links. Bump it whenever a message crossing
/// the network changes (its types, their fields, their meaning): a peer
/// that speaks another version is refused at its hello.
inline constexpr uint32_t cluster_protocol_version = 1;

/// One node as this node sees it.
struct cluster_node_view {
  std::string name;
  std::string host;
  uint16_t port = 0;
  int64_t protocol = 0;
  int64_t started_at_us = 0;
  int64_t heartbeat_at_us = 0;
  int64_t heartbeat_age_ms = 0;
  /// self | connected | connecting | unreachable | stale | refused
  std::string status;
  int64_t link_since_us = 0; ///< When the link came up (0: no link).
  std::string last_error;    ///< Why the last connection attempt failed.
};

/// What the hub knows, for `GET /internal/cluster` and `/metrics` (read
/// without a round trip; the hub replaces it on every change).
class cluster_view {
public:
  struct snapshot {
    bool enabled = false;
    std::string node;
    uint16_t port = 0;
    int64_t heartbeat_ms = 0;
    bool tls = false;
    bool database_ok = true; ///< The last heartbeat reached the database.
    std::vector<cluster_node_view> nodes;
    uint64_t peers = 0;
    uint64_t messages_sent = 0;     ///< Messages handed to peers.
    uint64_t messages_received = 0; ///< Messages from peers given to the registry.
    uint64_t messages_refused = 0;  ///< From an actor that is no accepted peer.
    uint64_t links_lost = 0;
    uint64_t peers_refused = 0;     ///< Hellos refused (protocol, proof, name clash).
  };

  snapshot get() const {
    snapshot s;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      s = snap_;
    }
    s.messages_sent = messages_sent.load(std::memory_order_relaxed);
    s.messages_received = messages_received.load(std::memory_order_relaxed);
    s.messages_refused = messages_refused.load(std::memory_order_relaxed);
    s.links_lost = links_lost.load(std::memory_order_relaxed);
    s.peers_refused = peers_refused.load(std::memory_order_relaxed);
    return s;
  }
  /// Replaces the membership part (the counters below are live).
  void set(snapshot s) {
    std::lock_guard<std::mutex> guard{mtx_};
    snap_ = std::move(s);
  }

  std::atomic<uint64_t> messages_sent{0};
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> messages_refused{0};
  std::atomic<uint64_t> links_lost{0};
  std::atomic<uint64_t> peers_refused{0};

private:
  mutable std::mutex mtx_;
  snapshot snap_;
};

/// How the hub runs.
struct cluster_settings {
  std::string node_name;
  std::string advertise_host; ///< Written to cluster_nodes for the peers.
  uint16_t port = 0;          ///< CLUSTER_PORT, published before the hub runs.
  std::vector<std::string> seeds;
  std::chrono::milliseconds heartbeat{2000};
  uint32_t protocol = cluster_protocol_version;
  /// Key of the HMAC every hello carries (derived from INTERNAL_API_SECRET,
  /// which the nodes of one deployment share).
  std::string proof_key;
  bool tls = false;
  int64_t started_at_us = 0;
  /// Tests only (CTI_TEST_CLUSTER_DROP_INBOUND): refuse every change a peer
  /// sends, as if the link were cut, to show the database fills in.
  bool drop_inbound = false;
  db_pool_actor pool;
  tenant_registry_actor registry;
  /// The middleman actor (plain or OpenSSL) that connects to peers.
  caf::actor middleman;
  std::shared_ptr<cluster_view> view;
};

/// Spawns the hub. Its heartbeat starts with the first `tick_atom` the
/// spawner sends once the hub is published (app/main.cpp); `stop_atom` (a
/// request) deletes this node's row and answers, for a graceful shutdown.
cluster_hub_actor spawn_cluster_hub(caf::actor_system& sys, cluster_settings settings);

/// The HMAC a node named `name` puts in its hello.
std::string cluster_hello_proof(const std::string& key, const std::string& name);

} // namespace cti
