#include "actors/tenant.hpp"

#include <map>
#include <optional>
#include <unordered_map>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

namespace cti {

namespace {

struct tenant_state {
  static inline const char* name = "tenant";
  std::string app_id;
  db_pool_actor pool;
  int64_t last_seq = 0;        ///< Highest seq received.
  uint64_t received = 0;       ///< Applied events received.
  /// Dialpad user → CRM user (nullopt: known to be unmapped).
  std::unordered_map<int64_t, std::optional<std::string>> mappings;
  /// Loads in flight and who waits for them.
  std::map<int64_t, std::vector<caf::typed_response_promise<std::string>>> loading;
  uint64_t generation = 0;     ///< Bumped by invalidation: late loads are not kept.
};

using tenant_ptr = tenant_actor::stateful_pointer<tenant_state>;

tenant_actor::behavior_type tenant(tenant_ptr self, std::string app_id, db_pool_actor pool) {
  self->state.app_id = std::move(app_id);
  self->state.pool = std::move(pool);
  return {
    [=](caf::publish_atom, applied_event& ev) {
      auto& st = self->state;
      ++st.received;
      st.last_seq = std::max(st.last_seq, ev.seq);
    },
    [=](crm_atom, int64_t dialpad_user) -> caf::result<std::string> {
      auto& st = self->state;
      if (auto it = st.mappings.find(dialpad_user); it != st.mappings.end())
        return it->second.value_or(std::string{});
      auto rp = self->make_response_promise<std::string>();
      auto& waiting = st.loading[dialpad_user];
      waiting.push_back(rp);
      if (waiting.size() > 1)
        return rp;
      db_query q;
      q.kind = query_kind::mapping_by_dialpad;
      q.app_id = st.app_id;
      q.target = std::to_string(dialpad_user);
      auto gen = st.generation;
      auto finish = [self, dialpad_user, gen](std::optional<std::string> crm, bool keep) {
        auto& st = self->state;
        auto node = st.loading.extract(dialpad_user);
        if (keep && gen == st.generation)
          st.mappings[dialpad_user] = crm;
        if (!node.empty())
          for (auto& p : node.mapped())
            p.deliver(crm.value_or(std::string{}));
      };
      self->request(st.pool, std::chrono::seconds{5}, query_atom_v, std::move(q))
        .then(
          [finish](db_answer& ans) {
            auto j = nlohmann::json::parse(ans.body, nullptr, false);
            if (j.is_object() && j.contains("crm_user_id") && j["crm_user_id"].is_string())
              finish(j["crm_user_id"].get<std::string>(), true);
            else
              finish(std::nullopt, false);
          },
          [self, dialpad_user, finish](caf::error& err) {
            if (errc_of(err) == errc::not_found) {
              finish(std::nullopt, true); // unmapped
              return;
            }
            auto node = self->state.loading.extract(dialpad_user);
            if (!node.empty())
              for (auto& p : node.mapped())
                p.deliver(err);
          });
      return rp;
    },
    [=](invalidate_atom) {
      auto& st = self->state;
      st.mappings.clear();
      ++st.generation;
    },
    [=](stats_atom) -> std::vector<int64_t> {
      auto& st = self->state;
      return {st.last_seq, static_cast<int64_t>(st.received),
              static_cast<int64_t>(st.mappings.size())};
    },
  };
}

} // namespace

tenant_actor spawn_tenant(caf::local_actor* parent, std::string app_id, db_pool_actor pool) {
  return parent->spawn<caf::linked>(tenant, std::move(app_id), std::move(pool));
}

} // namespace cti
