#include "actors/cluster.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "domain/crypto.hpp"
#include "domain/log.hpp"
#include "domain/webhook_auth.hpp"

namespace cti {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

constexpr auto connect_timeout = std::chrono::seconds{5};
constexpr auto hello_timeout = std::chrono::seconds{3};
constexpr auto min_backoff = std::chrono::milliseconds{250};
constexpr auto max_backoff = std::chrono::seconds{30};
/// After a refused hello (another protocol, a wrong proof) the node is
/// tried again this much later: it will not change its mind sooner.
constexpr auto refused_backoff = std::chrono::seconds{60};

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// "host:port" or "[v6]:port" → host and port (port 0: malformed).
std::pair<std::string, uint16_t> split_host_port(const std::string& hp) {
  std::string host;
  std::string port;
  if (!hp.empty() && hp.front() == '[') {
    auto close = hp.find(']');
    if (close == std::string::npos || close + 1 >= hp.size() || hp[close + 1] != ':')
      return {"", 0};
    host = hp.substr(1, close - 1);
    port = hp.substr(close + 2);
  } else {
    auto colon = hp.rfind(':');
    if (colon == std::string::npos)
      return {"", 0};
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
  }
  try {
    auto n = std::stoul(port);
    if (n == 0 || n > 65535)
      return {"", 0};
    return {host, static_cast<uint16_t>(n)};
  } catch (const std::exception&) {
    return {"", 0};
  }
}

std::string host_port(const std::string& host, uint16_t port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":"
         + std::to_string(port);
}

/// A linked peer.
struct peer {
  cluster_hub_actor hub;
  caf::node_id node;
  std::string address; ///< host:port it was reached at (or announced).
  int64_t since_us = 0;
};

/// An address to connect to: a live row of cluster_nodes or a seed.
struct target {
  bool connecting = false;
  steady::time_point next_attempt{};
  std::chrono::milliseconds backoff = min_backoff;
  std::string name;       ///< The node there, once known.
  std::string last_error;
  bool refused = false;   ///< Its last hello was refused.
};

struct hub_state {
  static inline const char* name = "cluster_hub";
  cluster_settings settings;
  std::map<std::string, peer> peers;     ///< By node name.
  std::map<std::string, target> targets; ///< By host:port.
  std::vector<cluster_node_view> rows;   ///< The last heartbeat's view of the table.
  bool database_ok = true;
  bool stopping = false;
  std::set<std::string> refused_logged;  ///< Refusals already logged (name/reason).
};

using hub_ptr = cluster_hub_actor::stateful_pointer<hub_state>;

/// True for a message sent on this node (the heartbeat timer, main's stop):
/// the published hub must not take them from the network.
bool from_this_node(hub_ptr self) {
  auto src = self->current_sender();
  return !src || src->node() == self->node();
}

bool from_registry(hub_ptr self) {
  return self->current_sender() == caf::actor_cast<caf::strong_actor_ptr>(self->state.settings.registry);
}

/// The accepted peer that sent the current message, if any.
const peer* from_peer(hub_ptr self) {
  auto src = self->current_sender();
  if (!src)
    return nullptr;
  for (const auto& [name, p] : self->state.peers)
    if (p.node == src->node())
      return &p;
  return nullptr;
}

void publish_view(hub_ptr self) {
  auto& st = self->state;
  cluster_view::snapshot s;
  s.enabled = true;
  s.node = st.settings.node_name;
  s.port = st.settings.port;
  s.heartbeat_ms = st.settings.heartbeat.count();
  s.tls = st.settings.tls;
  s.database_ok = st.database_ok;
  s.peers = st.peers.size();
  s.nodes.clear();
  auto stale_ms = 3 * st.settings.heartbeat.count();
  std::set<std::string> seen;
  for (const auto& row : st.rows) {
    auto n = row;
    seen.insert(n.name);
    auto addr = host_port(n.host, n.port);
    if (n.name == st.settings.node_name) {
      n.status = "self";
    } else if (auto p = st.peers.find(n.name); p != st.peers.end()) {
      n.status = "connected";
      n.link_since_us = p->second.since_us;
    } else if (n.heartbeat_age_ms > stale_ms) {
      n.status = "stale";
    } else if (auto t = st.targets.find(addr); t != st.targets.end()) {
      n.status = t->second.refused ? "refused" : t->second.connecting ? "connecting" : "unreachable";
      n.last_error = t->second.last_error;
    } else {
      n.status = "connecting";
    }
    s.nodes.push_back(std::move(n));
  }
  // Linked peers whose row this node has not read (yet).
  for (const auto& [name, p] : st.peers) {
    if (seen.count(name))
      continue;
    cluster_node_view n;
    n.name = name;
    auto [host, port] = split_host_port(p.address);
    n.host = host;
    n.port = port;
    n.status = "connected";
    n.link_since_us = p.since_us;
    s.nodes.push_back(std::move(n));
  }
  st.settings.view->set(std::move(s));
}

void drop_peer(hub_ptr self, const std::string& name, const std::string& why) {
  auto& st = self->state;
  auto it = st.peers.find(name);
  if (it == st.peers.end())
    return;
  self->demonitor(it->second.hub.address());
  log::warn("cluster: peer dropped", {{"peer", name}, {"reason", why}});
  if (auto t = st.targets.find(it->second.address); t != st.targets.end()) {
    t->second.backoff = min_backoff;
    t->second.next_attempt = steady::now() + min_backoff;
  }
  st.peers.erase(it);
  ++st.settings.view->links_lost;
  publish_view(self);
}

/// Links `hub` as peer `name`; false when another hub holds that name and
/// its link is up (a restarted node is accepted once the old link is seen
/// down, which a reset connection makes immediate; a second claimant of a
/// live name, e.g. a replayed hello, is not).
bool add_peer(hub_ptr self, const std::string& name, cluster_hub_actor hub, std::string address) {
  auto& st = self->state;
  if (auto it = st.peers.find(name); it != st.peers.end())
    return it->second.hub == hub;
  self->monitor(hub);
  peer p;
  p.node = hub.node();
  p.hub = std::move(hub);
  p.address = std::move(address);
  p.since_us = now_us();
  st.peers.emplace(name, std::move(p));
  st.refused_logged.erase(name);
  log::info("cluster: peer linked", {{"peer", name}, {"peers", std::to_string(st.peers.size())}});
  publish_view(self);
  return true;
}

void refuse_logged(hub_ptr self, const std::string& name, const std::string& message,
                   std::initializer_list<log::field> f) {
  auto& st = self->state;
  ++st.settings.view->peers_refused;
  if (st.refused_logged.size() > 1000) // names chosen by whoever says hello
    st.refused_logged.clear();
  if (st.refused_logged.insert(name + "\n" + message).second)
    log::write(log::level::error, message, f);
}

void attempt_failed(hub_ptr self, const std::string& addr, std::string error, bool refused) {
  auto& st = self->state;
  auto& t = st.targets[addr];
  t.connecting = false;
  t.refused = refused;
  if (t.last_error != error)
    log::debug("cluster: cannot link", {{"address", addr}, {"error", error}});
  t.last_error = std::move(error);
  t.next_attempt = steady::now() + (refused ? std::chrono::milliseconds{refused_backoff} : t.backoff);
  t.backoff = std::min<std::chrono::milliseconds>(t.backoff * 2, max_backoff);
  publish_view(self);
}

/// Connects to `addr` and says hello; the peer is linked when the answer is
/// a hello of our protocol from another node.
void attempt(hub_ptr self, const std::string& addr) {
  auto& st = self->state;
  auto& t = st.targets[addr];
  if (t.connecting || steady::now() < t.next_attempt)
    return;
  auto [host, port] = split_host_port(addr);
  if (port == 0) {
    attempt_failed(self, addr, "not host:port", true);
    return;
  }
  t.connecting = true;
  self->request(st.settings.middleman, connect_timeout, caf::connect_atom_v, host, port)
    .then(
      [self, addr](caf::node_id& nid, caf::strong_actor_ptr& ptr, std::set<std::string>&) {
        if (!ptr || nid == self->node()) {
          // Ourselves (a seed list naming this node): never again.
          auto& t = self->state.targets[addr];
          t.connecting = false;
          t.name = self->state.settings.node_name;
          t.next_attempt = steady::time_point::max();
          return;
        }
        auto remote = caf::actor_cast<cluster_hub_actor>(ptr);
        auto& s = self->state.settings;
        self->request(remote, hello_timeout, hello_atom_v, s.protocol, s.node_name,
                      cluster_hello_proof(s.proof_key, s.node_name))
          .then(
            [self, addr, remote](uint32_t protocol, std::string& name, std::string& proof) {
              auto& st = self->state;
              auto& s = st.settings;
              if (protocol != s.protocol) {
                refuse_logged(self, name,
                              "cluster: peer refused: it speaks another cluster protocol",
                              {{"peer", name}, {"address", addr},
                               {"peer_protocol", std::to_string(protocol)},
                               {"protocol", std::to_string(s.protocol)}});
                attempt_failed(self, addr, "protocol " + std::to_string(protocol), true);
                return;
              }
              if (!constant_time_equals(proof, cluster_hello_proof(s.proof_key, name))
                  || name == s.node_name) {
                refuse_logged(self, name,
                              "cluster: peer refused: wrong proof or our own node name"
                              " (same INTERNAL_API_SECRET and distinct NODE_NAME on every node?)",
                              {{"peer", name}, {"address", addr}});
                attempt_failed(self, addr, "hello refused", true);
                return;
              }
              auto& t = st.targets[addr];
              t.connecting = false;
              t.refused = false;
              t.name = name;
              t.last_error.clear();
              t.backoff = min_backoff;
              if (!add_peer(self, name, remote, addr))
                attempt_failed(self, addr, "another link to " + name + " is up", false);
            },
            [self, addr](caf::error& err) {
              // The peer refused our hello (our proof, or our name is
              // linked already): `refused`, as when we refuse theirs.
              auto code = errc_of(err);
              attempt_failed(self, addr, "hello: " + caf::to_string(err),
                             code == errc::unauthorized || code == errc::conflict);
            });
      },
      [self, addr](caf::error& err) {
        attempt_failed(self, addr, caf::to_string(err), false);
      });
}

/// Writes the heartbeat, reads the table, links to the live nodes and the
/// seeds, drops the peers whose heartbeat went stale.
void heartbeat(hub_ptr self) {
  auto& st = self->state;
  db_query q;
  q.kind = query_kind::cluster_heartbeat;
  q.args = json{{"node", st.settings.node_name},
                {"host", st.settings.advertise_host},
                {"port", st.settings.port},
                {"protocol", st.settings.protocol},
                {"started_at_us", st.settings.started_at_us}}
             .dump();
  auto seeds = [self] {
    for (const auto& seed : self->state.settings.seeds) {
      auto& t = self->state.targets[seed];
      // A seed whose node is linked (under another address) needs no link.
      if (!t.name.empty() && self->state.peers.count(t.name))
        continue;
      attempt(self, seed);
    }
  };
  self->request(st.settings.pool, st.settings.heartbeat, query_atom_v, std::move(q))
    .then(
      [self, seeds](db_answer& answer) {
        auto& st = self->state;
        st.database_ok = true;
        st.rows.clear();
        auto j = json::parse(answer.body, nullptr, false);
        auto stale_ms = 3 * st.settings.heartbeat.count();
        std::vector<std::string> stale;
        if (j.is_object() && j["nodes"].is_array()) {
          for (const auto& n : j["nodes"]) {
            cluster_node_view v;
            v.name = n.value("name", "");
            v.host = n.value("host", "");
            v.port = static_cast<uint16_t>(n.value("port", 0));
            v.protocol = n.value("protocol", int64_t{0});
            v.started_at_us = n.value("started_at_us", int64_t{0});
            v.heartbeat_at_us = n.value("heartbeat_at_us", int64_t{0});
            v.heartbeat_age_ms = n.value("age_ms", int64_t{0});
            if (v.name != st.settings.node_name) {
              if (v.heartbeat_age_ms > stale_ms)
                stale.push_back(v.name);
              else if (!st.peers.count(v.name))
                attempt(self, host_port(v.host, v.port));
            }
            st.rows.push_back(std::move(v));
          }
        }
        // Alive by its link but silent in the table (hung, or its
        // database connection is gone): no longer a peer.
        for (const auto& name : stale)
          drop_peer(self, name, "heartbeat stale");
        seeds();
        publish_view(self);
      },
      [self, seeds](caf::error&) {
        self->state.database_ok = false;
        seeds();
        publish_view(self);
      });
}

/// Where a change goes. Made here (sent by the registry): to every peer,
/// answering false. From an accepted peer: counted, answering true (the
/// caller hands it to the registry). From anyone else: dropped and
/// counted, false.
template <class... Ts>
bool arrived_from_peer(hub_ptr self, const Ts&... xs) {
  auto& st = self->state;
  if (from_registry(self)) {
    for (auto& [name, p] : st.peers) {
      self->send(p.hub, xs...);
      ++st.settings.view->messages_sent;
    }
    return false;
  }
  if (!from_peer(self) || st.settings.drop_inbound) {
    ++st.settings.view->messages_refused;
    return false;
  }
  ++st.settings.view->messages_received;
  return true;
}

cluster_hub_actor::behavior_type cluster_hub(hub_ptr self, cluster_settings settings) {
  self->state.settings = std::move(settings);
  self->set_down_handler([self](caf::down_msg& msg) {
    for (const auto& [name, p] : self->state.peers)
      if (p.hub.address() == msg.source) {
        drop_peer(self, name, "link down: " + caf::to_string(msg.reason));
        return;
      }
  });
  for (const auto& seed : self->state.settings.seeds)
    self->state.targets[seed];
  publish_view(self);
  // The first tick (the row in cluster_nodes, the links) comes from whoever
  // spawned the hub once it listens: a node that cannot publish its hub
  // must leave no row advertising a port it does not hold.
  return {
    [=](caf::tick_atom) {
      if (self->state.stopping || !from_this_node(self))
        return;
      heartbeat(self);
      self->delayed_send(self, self->state.settings.heartbeat, caf::tick_atom_v);
    },
    // A peer says hello (it connected to us, or answers ours).
    [=](hello_atom, uint32_t protocol, std::string& name,
        std::string& proof) -> caf::result<uint32_t, std::string, std::string> {
      auto& s = self->state.settings;
      auto sender = caf::actor_cast<cluster_hub_actor>(self->current_sender());
      auto mine = cluster_hello_proof(s.proof_key, s.node_name);
      if (protocol != s.protocol) {
        refuse_logged(self, name, "cluster: peer refused: it speaks another cluster protocol",
                      {{"peer", name},
                       {"peer_protocol", std::to_string(protocol)},
                       {"protocol", std::to_string(s.protocol)}});
        // Our version goes back so that it can log the same; our proof
        // does not (it is for nodes that passed).
        return {s.protocol, s.node_name, std::string{}};
      }
      if (!sender || !constant_time_equals(proof, cluster_hello_proof(s.proof_key, name))
          || name == s.node_name) {
        refuse_logged(self, name,
                      "cluster: peer refused: wrong proof or our own node name"
                      " (same INTERNAL_API_SECRET and distinct NODE_NAME on every node?)",
                      {{"peer", name}});
        return make_error(errc::unauthorized, "hello refused");
      }
      std::string address;
      for (const auto& row : self->state.rows)
        if (row.name == name)
          address = host_port(row.host, row.port);
      if (!add_peer(self, name, sender, address)) {
        refuse_logged(self, name, "cluster: peer refused: another link to that node name is up",
                      {{"peer", name}});
        return make_error(errc::conflict, "node name linked");
      }
      return {s.protocol, s.node_name, mine};
    },
    // Changes: from the registry (made here) to the peers; from a peer to
    // the registry.
    [=](caf::publish_atom, applied_event& ev) {
      if (arrived_from_peer(self, caf::publish_atom_v, ev))
        self->send(self->state.settings.registry, caf::publish_atom_v, std::move(ev));
    },
    [=](invalidate_atom, std::string& app) {
      // A request: the registry answers once its caches forgot the app.
      if (arrived_from_peer(self, invalidate_atom_v, app))
        self->request(self->state.settings.registry, std::chrono::seconds{5}, invalidate_atom_v,
                      std::move(app))
          .then([](bool) {}, [](caf::error&) {});
    },
    [=](mappings_atom, std::string& app) {
      if (arrived_from_peer(self, mappings_atom_v, app))
        self->send(self->state.settings.registry, mappings_atom_v, std::move(app));
    },
    [=](close_atom, std::string& app, uint16_t code, std::string& reason) {
      if (arrived_from_peer(self, close_atom_v, app, code, reason))
        self->send(self->state.settings.registry, close_atom_v, std::move(app), code,
                   std::move(reason));
    },
    // Graceful stop: leave the table, so the peers stop trying at once.
    [=](stop_atom) -> caf::result<bool> {
      if (!from_this_node(self))
        return make_error(errc::forbidden, "not from this node");
      auto& st = self->state;
      st.stopping = true;
      db_query q;
      q.kind = query_kind::cluster_leave;
      q.target = st.settings.node_name;
      auto rp = self->make_response_promise<bool>();
      self->request(st.settings.pool, std::chrono::seconds{2}, query_atom_v, std::move(q))
        .then([rp](db_answer&) mutable { rp.deliver(true); },
              [rp](caf::error&) mutable { rp.deliver(false); });
      return rp;
    },
  };
}

} // namespace

std::string cluster_hello_proof(const std::string& key, const std::string& name) {
  return hmac_sha256_hex(key, "cti-cluster-hello-v1:" + name);
}

cluster_hub_actor spawn_cluster_hub(caf::actor_system& sys, cluster_settings settings) {
  return sys.spawn(cluster_hub, std::move(settings));
}

} // namespace cti
