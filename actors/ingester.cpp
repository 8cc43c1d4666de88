#include "actors/ingester.hpp"

#include <caf/all.hpp>

#include "domain/log.hpp"

namespace cti {

namespace {

/// The batch being gathered.
struct ingester_state {
  static inline const char* name = "ingester";
  ingester_settings settings;
  db_pool_actor pool;
  std::vector<ingest_item> items;
  std::vector<caf::typed_response_promise<ingest_result>> promises;
  uint64_t generation = 0; ///< Numbers batches so a stale timer is ignored.
  std::size_t in_flight = 0; ///< Batches sent to the pool, not yet answered.
  bool timer_armed = false;
};

using ingester_ptr = ingester_actor::stateful_pointer<ingester_state>;

void flush(ingester_ptr self);

/// A batch came back: the events gathered meanwhile go out now.
void batch_done(ingester_ptr self) {
  auto& st = self->state;
  --st.in_flight;
  if (!st.items.empty() && st.in_flight < st.settings.max_in_flight)
    flush(self);
}

/// Sends the gathered batch to the pool and answers every waiting request
/// once the pool answers (after COMMIT), or fails them all.
void flush(ingester_ptr self) {
  auto& st = self->state;
  if (st.items.empty())
    return;
  ++st.generation;
  st.timer_armed = false;
  ++st.in_flight;
  auto items = std::move(st.items);
  auto promises = std::move(st.promises);
  st.items.clear();
  st.promises.clear();
  st.items.reserve(st.settings.max_batch);
  st.promises.reserve(st.settings.max_batch);
  self->request(st.pool, st.settings.db_timeout, ingest_atom_v, std::move(items))
    .then(
      [self, promises](std::vector<ingest_result>& results) mutable {
        batch_done(self);
        for (std::size_t i = 0; i < promises.size(); ++i) {
          if (i >= results.size())
            promises[i].deliver(make_error(errc::internal, "missing result"));
          else if (!results[i].error.empty())
            promises[i].deliver(make_error(errc::bad_request, results[i].error));
          else
            promises[i].deliver(std::move(results[i]));
        }
      },
      [self, promises](caf::error& err) mutable {
        batch_done(self);
        // Nothing of this batch is acknowledged: the commit did not happen
        // (or cannot be known to have happened).
        auto code = errc_of(err) == errc::internal ? errc::internal : errc::db_unavailable;
        if (code == errc::internal)
          log::error("storing a webhook batch failed");
        for (auto& p : promises)
          p.deliver(make_error(code, code == errc::internal ? "the event could not be stored"
                                                            : "database unavailable"));
      });
}

ingester_actor::behavior_type ingester(ingester_ptr self, db_pool_actor pool,
                                       ingester_settings settings) {
  auto& st = self->state;
  st.settings = settings;
  if (st.settings.max_batch < 1)
    st.settings.max_batch = 1;
  if (st.settings.max_in_flight < 1)
    st.settings.max_in_flight = 1;
  st.pool = std::move(pool);
  return {
    [=](ingest_atom, ingest_item& item) -> caf::result<ingest_result> {
      auto& s = self->state;
      auto rp = self->make_response_promise<ingest_result>();
      s.items.push_back(std::move(item));
      s.promises.push_back(rp);
      if (s.in_flight < s.settings.max_in_flight || s.items.size() >= s.settings.max_batch
          || s.settings.max_delay.count() == 0) {
        flush(self);
      } else if (!s.timer_armed) {
        // Every commit slot is busy: wait for one, but no longer than max_delay.
        s.timer_armed = true;
        self->delayed_send(self, s.settings.max_delay, flush_atom_v, s.generation);
      }
      return rp;
    },
    [=](flush_atom, uint64_t generation) {
      // A batch flushed early for size leaves its timer behind: ignore it.
      if (generation == self->state.generation)
        flush(self);
    },
  };
}

} // namespace

ingester_actor spawn_ingester(caf::actor_system& sys, db_pool_actor pool,
                              ingester_settings settings) {
  return sys.spawn(ingester, std::move(pool), settings);
}

} // namespace cti
