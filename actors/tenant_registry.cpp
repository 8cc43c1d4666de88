#include "actors/tenant_registry.hpp"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>

#include "actors/tenant.hpp"
#include "domain/api_key.hpp"
#include "domain/log.hpp"
#include "domain/seal.hpp"
#include "domain/secure_random.hpp"

namespace cti {

namespace {

/// A lookup in progress and the requests waiting for it.
struct loading {
  bool stale = false; ///< Invalidated while loading: answer, but do not keep.
  std::vector<caf::typed_response_promise<app_info>> waiting;
};

/// A key check in progress and the requests waiting for it.
struct key_loading {
  bool stale = false;
  std::vector<caf::typed_response_promise<app_auth>> waiting;
};

/// Loads in progress, by id and by Dialpad org id; finished answers live in
/// the shared cache.
struct tenant_registry_state {
  static inline const char* name = "tenant_registry";
  tenant_registry_settings settings;
  db_pool_actor pool;
  std::shared_ptr<tenant_cache> cache;
  std::unordered_map<std::string, loading> by_id;
  std::unordered_map<int64_t, loading> by_org;
  /// Key checks in progress, by the key's fingerprint.
  std::unordered_map<std::string, key_loading> by_key;
  std::size_t next_hasher = 0;
  /// One tenant actor per app that was used on this node.
  std::unordered_map<std::string, tenant_actor> tenants;
  /// Failed tenants forgotten before their exit message came (see
  /// subscribe): that message is expected, not a reason to stop.
  std::unordered_set<caf::actor_id> gone;
  /// The cluster hub, when clustering is on.
  cluster_hub_actor hub;
};

using registry_ptr = tenant_registry_actor::stateful_pointer<tenant_registry_state>;

/// Hands a change made on this node to the cluster hub for the peers. A
/// change the hub brought from a peer is not sent back to it.
template <class... Ts>
void to_peers(registry_ptr self, Ts&&... xs) {
  auto& hub = self->state.hub;
  if (hub && self->current_sender() != caf::actor_cast<caf::strong_actor_ptr>(hub))
    self->send(hub, std::forward<Ts>(xs)...);
}

/// The app's tenant actor, spawned on first use.
tenant_actor tenant_of(registry_ptr self, const std::string& app_id) {
  auto& st = self->state;
  if (auto it = st.tenants.find(app_id); it != st.tenants.end())
    return it->second;
  auto t = spawn_tenant(self, app_id, st.pool,
                        tenant_settings{st.settings.node_name, st.settings.gap_wait,
                                        st.settings.replay_max, std::chrono::milliseconds{2000},
                                        st.settings.sinks, st.settings.max_queued,
                                        st.settings.replay_hold, st.settings.fail_at_seq,
                                        st.settings.fail_hold, st.settings.fail_subscribes});
  st.tenants.emplace(app_id, t);
  return t;
}

/// Hands a WebSocket session's subscription to the app's tenant. A tenant
/// that failed before it took the subscription in (it was dead already, or
/// died with the subscription still queued, before the registry heard of
/// its end) bounces it: CAF answers `request_receiver_down`. Such a tenant
/// is forgotten at once and the subscription goes to a fresh one, up to
/// three tries. A subscription whose own handling failed, and the third
/// bounce, close the session with 1011 so its client reconnects (a
/// subscription that makes its tenant fail is not handed to fresh tenants
/// to fail them too: each failure closes the app's other sessions).
/// (Until the twenty-seventh session the subscription was a plain message
/// and was lost: the client had its 101 and then nothing, not even a
/// welcome, for as long as it stayed connected.)
void subscribe(registry_ptr self, const std::string& app_id, caf::actor session,
               ws_filter filter, int attempt) {
  auto t = tenant_of(self, app_id);
  self->request(t, caf::infinite, subscribe_atom_v, session, filter)
    .then([](bool) {},
          [self, app_id, session, filter, attempt, t](caf::error& err) mutable {
            auto& st = self->state;
            if (auto it = st.tenants.find(app_id);
                it != st.tenants.end() && it->second.address() == t.address()) {
              st.tenants.erase(it);
              st.gone.insert(t.id());
            }
            if (err == caf::sec::request_receiver_down && attempt < 3) {
              subscribe(self, app_id, std::move(session), std::move(filter), attempt + 1);
              return;
            }
            log::error("a WebSocket session could not join its app's event stream; it is"
                       " closed (1011)",
                       {{"app_id", app_id}, {"error", caf::to_string(err)},
                        {"attempts", std::to_string(attempt)}});
            self->send(caf::actor_cast<ws_session_actor>(session), close_atom_v, uint16_t{1011},
                       std::string{"internal error, reconnect with since"});
          });
}

/// Opens the app's sealed webhook secret (the database hands it over hex
/// encoded and sealed) with the node's key; the app id is the associated data.
void open_secret(registry_ptr self, app_info& info) {
  if (info.webhook_secret.empty())
    return;
  auto sealed = from_hex(info.webhook_secret);
  std::optional<std::string> plain;
  if (sealed && self->state.settings.encryption_key.size() == 32)
    plain = open_sealed(self->state.settings.encryption_key, *sealed, info.id);
  if (plain) {
    info.webhook_secret = std::move(*plain);
  } else {
    info.webhook_secret.clear();
    info.secret_unreadable = true;
    log::error("an app's webhook secret cannot be opened: DATABASE_ENCRYPTION_KEY differs from"
               " the key it was sealed with",
               {{"app_id", info.id}});
  }
}

/// Answers every request waiting for the key with fingerprint `fp`.
void finish_key(registry_ptr self, const std::string& fp, const app_auth& auth,
                const std::string& hash) {
  auto node = self->state.by_key.extract(fp);
  if (node.empty())
    return;
  if (!node.mapped().stale)
    self->state.cache->put_key(
      fp, {auth, hash, tenant_cache::clock_type::now() + self->state.settings.ttl});
  for (auto& p : node.mapped().waiting)
    p.deliver(auth);
}

void fail_key(registry_ptr self, const std::string& fp, const caf::error& err) {
  auto node = self->state.by_key.extract(fp);
  if (node.empty())
    return;
  for (auto& p : node.mapped().waiting)
    p.deliver(err);
}

/// Checks one API key: its non-secret id names the one candidate row; a
/// hash already verified on this node is trusted again without bcrypt,
/// otherwise one bcrypt runs on a hasher (never on this thread).
caf::result<app_auth> authenticate(registry_ptr self, const std::string& key) {
  auto& st = self->state;
  auto fp = api_key_fingerprint(key);
  if (auto hit = st.cache->find_key(fp))
    return *hit;
  auto rp = self->make_response_promise<app_auth>();
  auto [it, fresh] = st.by_key.try_emplace(fp);
  it->second.waiting.push_back(rp);
  if (!fresh)
    return rp;
  self->request(st.pool, st.settings.db_timeout, key_atom_v, api_key_id(key))
    .then(
      [self, fp, key](key_record& rec) {
        auto& st = self->state;
        if (!rec.found) {
          finish_key(self, fp, app_auth{}, {});
          return;
        }
        app_auth ok{true, rec.app_id, rec.is_active};
        if (auto prev = st.cache->key_entry_of(fp); prev && !prev->hash.empty()
                                                     && prev->hash == rec.hash) {
          finish_key(self, fp, ok, rec.hash);
          return;
        }
        if (st.settings.hashers.empty()) {
          fail_key(self, fp, make_error(errc::internal, "no bcrypt worker"));
          return;
        }
        auto h = st.settings.hashers[st.next_hasher++ % st.settings.hashers.size()];
        ++st.cache->bcrypt_verifications;
        self->request(h, std::chrono::seconds{30}, verify_atom_v, key, rec.hash)
          .then(
            [self, fp, ok, hash = rec.hash](bool valid) {
              if (valid)
                finish_key(self, fp, ok, hash);
              else
                finish_key(self, fp, app_auth{}, {});
            },
            [self, fp](caf::error& err) { fail_key(self, fp, err); });
      },
      [self, fp](caf::error& err) { fail_key(self, fp, err); });
  return rp;
}

/// Serves `key` from the shared cache, or loads it once however many
/// requests ask at the same time; `store` publishes the answer.
template <class Map, class Key, class Find, class Store, class... Job>
caf::result<app_info> lookup(registry_ptr self, Map& loads, const Key& key, Find find,
                             Store store, Job... job) {
  if (auto hit = find(key))
    return *hit;
  auto rp = self->make_response_promise<app_info>();
  auto [it, fresh] = loads.try_emplace(key);
  it->second.waiting.push_back(rp);
  if (!fresh)
    return rp;
  self->request(self->state.pool, self->state.settings.db_timeout, job...)
    .then(
      [self, &loads, key, store](app_info& info) {
        open_secret(self, info);
        auto node = loads.extract(key);
        if (node.empty())
          return;
        if (!node.mapped().stale)
          store(key, info, tenant_cache::clock_type::now() + self->state.settings.ttl);
        for (auto& p : node.mapped().waiting)
          p.deliver(info);
      },
      [&loads, key](caf::error& err) {
        auto node = loads.extract(key); // a failure is never cached
        if (node.empty())
          return;
        for (auto& p : node.mapped().waiting)
          p.deliver(err);
      });
  return rp;
}

tenant_registry_actor::behavior_type tenant_registry(registry_ptr self, db_pool_actor pool,
                                                     std::shared_ptr<tenant_cache> cache,
                                                     tenant_registry_settings settings) {
  self->state.pool = std::move(pool);
  self->state.cache = std::move(cache);
  self->state.settings = settings;
  // Tenants are linked to the registry (they end with it). One that fails
  // (tenant.cpp closed its sessions) is forgotten, and the app's next use
  // spawns a fresh one: the registry and the other apps' streams carry on.
  // (Until the twenty-fifth session a failing tenant took the registry and
  // every other tenant of the node down with it.)
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& tenants = self->state.tenants;
    auto it = std::find_if(tenants.begin(), tenants.end(), [&](const auto& t) {
      return t.second.address() == msg.source;
    });
    if (it == tenants.end()) {
      if (self->state.gone.erase(msg.source.id()) > 0)
        return;
      if (msg.reason)
        self->quit(std::move(msg.reason));
      return;
    }
    tenants.erase(it);
  });
  return {
    [=](app_atom, std::string& id) -> caf::result<app_info> {
      auto c = self->state.cache;
      return lookup(
        self, self->state.by_id, id, [c](const std::string& k) { return c->find_by_id(k); },
        [c](const std::string& k, const app_info& info, auto expires) {
          c->put_id(k, info, expires);
        },
        app_atom_v, id);
    },
    [=](org_atom, int64_t org) -> caf::result<app_info> {
      auto c = self->state.cache;
      return lookup(
        self, self->state.by_org, org, [c](int64_t k) { return c->find_by_org(k); },
        [c](int64_t k, const app_info& info, auto expires) { c->put_org(k, info, expires); },
        org_atom_v, org);
    },
    [=](caf::publish_atom, applied_event& ev) {
      to_peers(self, caf::publish_atom_v, ev);
      // The app's data changed: cached answers about it are stale.
      self->state.cache->bump(ev.app_id);
      if (ev.seq == self->state.settings.drop_publish_seq)
        return; // test hook: a lost message
      auto t = tenant_of(self, ev.app_id);
      self->send(t, caf::publish_atom_v, std::move(ev));
    },
    [=](mappings_atom, std::string& app_id) {
      to_peers(self, mappings_atom_v, app_id);
      // Cached call answers carry crm_user_id from the mappings: on the
      // node that made the change they went already; on a peer, now.
      self->state.cache->bump(app_id);
      if (auto it = self->state.tenants.find(app_id); it != self->state.tenants.end())
        self->send(it->second, invalidate_atom_v);
    },
    [=](crm_atom, std::string& app_id, int64_t dialpad_user) -> caf::result<std::string> {
      return self->delegate(tenant_of(self, app_id), crm_atom_v, dialpad_user);
    },
    [=](stats_atom, std::string& app_id) -> caf::result<std::vector<int64_t>> {
      return self->delegate(tenant_of(self, app_id), stats_atom_v);
    },
    [=](subscribe_atom, std::string& app_id, caf::actor& session, ws_filter& filter) {
      subscribe(self, app_id, std::move(session), std::move(filter), 1);
    },
    [=](unsubscribe_atom, std::string& app_id, caf::actor& session) {
      if (auto it = self->state.tenants.find(app_id); it != self->state.tenants.end())
        self->send(it->second, unsubscribe_atom_v, std::move(session));
    },
    [=](close_atom, std::string& app_id, uint16_t code, std::string& reason) {
      to_peers(self, close_atom_v, app_id, code, reason);
      if (auto it = self->state.tenants.find(app_id); it != self->state.tenants.end())
        self->send(it->second, close_atom_v, code, std::move(reason));
    },
    [=](auth_atom, std::string& key) -> caf::result<app_auth> {
      return authenticate(self, key);
    },
    [=](invalidate_atom, std::string& id) {
      auto& st = self->state;
      st.cache->erase_app(id);
      // A load in flight may have read the old row: answer its waiters but
      // do not keep the answer. (Org and key loads cannot tell their app
      // before they finish: all of them are marked.)
      if (auto it = st.by_id.find(id); it != st.by_id.end())
        it->second.stale = true;
      for (auto& [org, l] : st.by_org)
        l.stale = true;
      for (auto& [fp, l] : st.by_key)
        l.stale = true;
      if (st.settings.dialpad)
        self->send(st.settings.dialpad, invalidate_atom_v, id);
      to_peers(self, invalidate_atom_v, id);
      return true;
    },
    [=](cluster_atom, cluster_hub_actor& hub) { self->state.hub = std::move(hub); },
  };
}

} // namespace

tenant_registry_actor spawn_tenant_registry(caf::actor_system& sys, db_pool_actor pool,
                                            std::shared_ptr<tenant_cache> cache,
                                            tenant_registry_settings settings) {
  return sys.spawn(tenant_registry, std::move(pool), std::move(cache), settings);
}

} // namespace cti
