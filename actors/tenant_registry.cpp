#include "actors/tenant_registry.hpp"

#include <unordered_map>

#include <caf/all.hpp>

namespace cti {

namespace {

/// A lookup in progress and the requests waiting for it.
struct loading {
  bool stale = false; ///< Invalidated while loading: answer, but do not keep.
  std::vector<caf::typed_response_promise<app_info>> waiting;
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
  /// Applied events handed over per app. TODO(issue 5): tenant actors take
  /// these and push them to WebSocket sessions; until then they are counted.
  std::unordered_map<std::string, uint64_t> published;
};

using registry_ptr = tenant_registry_actor::stateful_pointer<tenant_registry_state>;

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
    [=](caf::publish_atom, applied_event& ev) { ++self->state.published[ev.app_id]; },
    [=](invalidate_atom, std::string& id) {
      auto& st = self->state;
      st.cache->erase_app(id);
      // A load in flight may have read the old row: answer its waiters but
      // do not keep the answer. (Org loads cannot tell their app yet.)
      if (auto it = st.by_id.find(id); it != st.by_id.end())
        it->second.stale = true;
      for (auto& [org, l] : st.by_org)
        l.stale = true;
    },
  };
}

} // namespace

tenant_registry_actor spawn_tenant_registry(caf::actor_system& sys, db_pool_actor pool,
                                            std::shared_ptr<tenant_cache> cache,
                                            tenant_registry_settings settings) {
  return sys.spawn(tenant_registry, std::move(pool), std::move(cache), settings);
}

} // namespace cti
