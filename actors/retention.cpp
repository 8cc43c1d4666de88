#include "actors/retention.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/tenant_cache.hpp"
#include "domain/log.hpp"

namespace cti {

namespace {

struct retention_state {
  static inline const char* name = "retention";
  retention_settings settings;
};

using retention_ptr = retention_actor::stateful_pointer<retention_state>;

/// The run deleted what it deleted: this node's cached answers go.
void forget_answers(const retention_settings& s) {
  if (s.cache)
    s.cache->bump_all();
}

db_query run_query_of(const retention_settings& s) {
  db_query q;
  q.kind = query_kind::retention_run;
  q.args = nlohmann::json{{"batch", s.batch}}.dump();
  return q;
}

retention_actor::behavior_type retention(retention_ptr self, retention_settings settings) {
  self->state.settings = std::move(settings);
  if (self->state.settings.interval.count() > 0)
    self->delayed_send(self, self->state.settings.interval, caf::tick_atom_v);
  return {
    [self](retention_atom) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      self->request(self->state.settings.pool, std::chrono::minutes{10}, query_atom_v,
                    run_query_of(self->state.settings))
        .then([self, rp](db_answer& ans) mutable {
                forget_answers(self->state.settings);
                rp.deliver(std::move(ans.body));
              },
              [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [self](caf::tick_atom) {
      // The next periodic run is due an interval after this one ends (only
      // then is the next tick sent): runs never pile up on the pool when
      // one takes longer than the interval.
      auto next = [self] {
        self->delayed_send(self, self->state.settings.interval, caf::tick_atom_v);
      };
      self->request(self->state.settings.pool, std::chrono::minutes{10}, query_atom_v,
                    run_query_of(self->state.settings))
        .then(
          [self, next](db_answer& ans) {
            forget_answers(self->state.settings);
            log::info("retention applied", {{"counts", ans.body}});
            next();
          },
          [next](caf::error& err) {
            log::warn("retention could not run", {{"error", to_string(errc_of(err))}});
            next();
          });
    },
  };
}

} // namespace

retention_actor spawn_retention(caf::actor_system& sys, retention_settings settings) {
  return sys.spawn(retention, std::move(settings));
}

} // namespace cti
