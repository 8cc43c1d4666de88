#include "actors/ingester.hpp"

#include <limits>
#include <map>
#include <stdexcept>

#include <caf/all.hpp>

#include "domain/log.hpp"

namespace cti {

namespace {

using clock = std::chrono::steady_clock;
using promise = caf::typed_response_promise<ingest_result>;

/// Who waits for one gathered event: an actor's request, or the callback of
/// an HTTP session that handed the event over itself.
struct waiter {
  promise rp;         ///< Used unless `direct`.
  ingest_reply reply; ///< Used when `direct`.
  bool direct = false;

  void deliver(ingest_result&& res) {
    if (direct)
      call(&res, nullptr);
    else
      rp.deliver(std::move(res));
  }
  void fail(const caf::error& err) {
    if (direct)
      call(nullptr, &err);
    else
      rp.deliver(err);
  }

private:
  /// The session's callback must not take the node's one ingester down
  /// with it (and the rest of the batch's answers).
  void call(ingest_result* res, const caf::error* err) {
    try {
      reply(res, err);
    } catch (const std::exception& e) {
      log::error("answering a stored webhook failed", {{"error", e.what()}});
    } catch (...) {
      log::error("answering a stored webhook failed", {{"error", "unknown exception"}});
    }
  }
};

/// The requests of one batch at the pool, until answered or given up.
struct batch_waiters {
  std::vector<waiter> promises;
  clock::time_point deadline; ///< Answered `unavailable` after this.
};

/// `flush_atom` carries the generation of the batch a gathering timer was
/// armed for; this value (never a generation) marks the expiry tick.
constexpr uint64_t expiry_tick = std::numeric_limits<uint64_t>::max();
constexpr auto expiry_interval = std::chrono::milliseconds{250};

/// The batch being gathered, and the batches at the pool.
struct ingester_state {
  static inline const char* name = "ingester";
  ingester_settings settings;
  db_pool_actor pool;
  std::vector<ingest_item> items;
  std::vector<waiter> promises;
  std::vector<clock::time_point> arrived; ///< When each gathered item came.
  std::size_t gathered_bytes = 0; ///< Payload bytes of `items`.
  uint64_t generation = 0;   ///< Numbers gathering timers so a stale one is ignored.
  std::size_t in_flight = 0; ///< Batches sent to the pool, not yet answered by it.
  bool timer_armed = false;
  bool expiry_armed = false;
  uint64_t next_batch = 0;
  std::map<uint64_t, batch_waiters> unanswered; ///< By batch number (= send order).
};

using ingester_ptr = ingester_actor::stateful_pointer<ingester_state>;

void flush(ingester_ptr self);

void fail_all(std::vector<waiter>& promises, errc code, const char* text) {
  auto err = make_error(code, text);
  for (auto& p : promises)
    p.fail(err);
}

/// Gives up on what waited too long: gathered items that found no free
/// connection for `wait_timeout` (their webhooks were answered by then),
/// and batches the pool has not answered within `db_timeout`. Their
/// requests get `unavailable` (nothing acknowledged); a batch's connection
/// stays counted until the pool answers, so a database that stalls cannot
/// draw every connection of the pool into ingest.
void expire(ingester_ptr self) {
  auto& st = self->state;
  auto now = clock::now();
  std::size_t stale = 0;
  while (stale < st.arrived.size() && now - st.arrived[stale] >= st.settings.wait_timeout)
    ++stale;
  if (stale > 0) {
    for (std::size_t i = 0; i < stale; ++i)
      st.gathered_bytes -= st.items[i].payload.size();
    std::vector<waiter> gone(std::make_move_iterator(st.promises.begin()),
                             std::make_move_iterator(st.promises.begin() + stale));
    st.items.erase(st.items.begin(), st.items.begin() + stale);
    st.promises.erase(st.promises.begin(), st.promises.begin() + stale);
    st.arrived.erase(st.arrived.begin(), st.arrived.begin() + stale);
    fail_all(gone, errc::db_unavailable, "no database connection free in time");
  }
  for (auto i = st.unanswered.begin();
       i != st.unanswered.end() && i->second.deadline <= now;) {
    fail_all(i->second.promises, errc::db_unavailable, "database unavailable");
    i = st.unanswered.erase(i);
  }
}

/// Keeps the expiry tick running while anything could expire.
void arm_expiry(ingester_ptr self) {
  auto& st = self->state;
  if (st.expiry_armed || (st.items.empty() && st.unanswered.empty()))
    return;
  st.expiry_armed = true;
  self->delayed_send(self, expiry_interval, flush_atom_v, expiry_tick);
}

/// True while every ingest connection is taken: what comes gathers.
bool all_connections_busy(const ingester_state& st) {
  return st.in_flight >= st.settings.max_connections;
}

/// The pool answered a batch: the events gathered meanwhile go out now
/// (those that waited for a connection, at once).
void batch_done(ingester_ptr self) {
  auto& st = self->state;
  bool freed_the_last = all_connections_busy(st);
  --st.in_flight;
  if (!st.items.empty() && (freed_the_last || st.in_flight < st.settings.max_in_flight))
    flush(self);
}

/// How many of the gathered events, from the oldest, one batch takes: at
/// most `max_batch` events and `max_batch_bytes` of payload, at least one.
std::size_t batch_size(const ingester_state& st) {
  std::size_t n = 0;
  std::size_t bytes = 0;
  while (n < st.items.size() && n < st.settings.max_batch) {
    auto b = st.items[n].payload.size();
    if (n > 0 && bytes + b > st.settings.max_batch_bytes)
      break;
    bytes += b;
    ++n;
  }
  return n;
}

/// Sends one batch of gathered events (see batch_size) to the pool and
/// answers each waiting request once the pool answers (after COMMIT), or
/// fails them all.
void send_batch(ingester_ptr self) {
  auto& st = self->state;
  std::vector<ingest_item> items;
  batch_waiters waiters;
  auto take = batch_size(st);
  if (take == st.items.size()) {
    items = std::move(st.items);
    waiters.promises = std::move(st.promises);
    st.items.clear();
    st.promises.clear();
    st.arrived.clear();
    st.gathered_bytes = 0;
    st.items.reserve(st.settings.max_batch);
    st.promises.reserve(st.settings.max_batch);
    st.arrived.reserve(st.settings.max_batch);
  } else {
    // More gathered than a batch holds (the connections were all busy).
    auto n = static_cast<std::ptrdiff_t>(take);
    for (std::size_t i = 0; i < take; ++i)
      st.gathered_bytes -= st.items[i].payload.size();
    items.assign(std::make_move_iterator(st.items.begin()),
                 std::make_move_iterator(st.items.begin() + n));
    waiters.promises.assign(std::make_move_iterator(st.promises.begin()),
                            std::make_move_iterator(st.promises.begin() + n));
    st.items.erase(st.items.begin(), st.items.begin() + n);
    st.promises.erase(st.promises.begin(), st.promises.begin() + n);
    st.arrived.erase(st.arrived.begin(), st.arrived.begin() + n);
  }
  ++st.in_flight;
  auto id = st.next_batch++;
  waiters.deadline = clock::now() + st.settings.db_timeout;
  st.unanswered.emplace(id, std::move(waiters));
  // The pool answers every job (its job timeout replaces a hung worker),
  // so the connection stays counted until it does; the requests themselves
  // are given up after db_timeout by `expire`. `slot_timeout` only guards
  // against a pool that is gone.
  self->request(st.pool, st.settings.slot_timeout, ingest_atom_v, std::move(items))
    .then(
      [self, id](std::vector<ingest_result>& results) mutable {
        auto& s = self->state;
        if (auto i = s.unanswered.find(id); i != s.unanswered.end()) {
          auto promises = std::move(i->second.promises);
          s.unanswered.erase(i);
          for (std::size_t k = 0; k < promises.size(); ++k) {
            if (k >= results.size())
              promises[k].fail(make_error(errc::internal, "missing result"));
            else if (results[k].app_gone)
              promises[k].fail(make_error(errc::not_found, "unknown tenant"));
            else if (!results[k].error.empty())
              promises[k].fail(make_error(errc::bad_request, results[k].error));
            else
              promises[k].deliver(std::move(results[k]));
          }
        }
        batch_done(self);
      },
      [self, id](caf::error& err) mutable {
        auto& s = self->state;
        // Nothing of this batch is acknowledged: the commit did not happen
        // (or cannot be known to have happened).
        auto code = errc_of(err) == errc::internal ? errc::internal : errc::db_unavailable;
        if (code == errc::internal)
          log::error("storing a webhook batch failed");
        if (auto i = s.unanswered.find(id); i != s.unanswered.end()) {
          fail_all(i->second.promises, code,
                   code == errc::internal ? "the event could not be stored"
                                          : "database unavailable");
          s.unanswered.erase(i);
        }
        batch_done(self);
      });
}

/// Sends what was gathered, in batches, while fewer than `max_connections`
/// batches are at the pool; the rest waits for the pool's next answer.
void flush(ingester_ptr self) {
  auto& st = self->state;
  ++st.generation;
  st.timer_armed = false;
  while (!st.items.empty() && !all_connections_busy(st))
    send_batch(self);
  arm_expiry(self);
}

constexpr const char* too_many_waiting = "too many webhooks waiting for the database";

/// The test hook (CTI_TEST_INGESTER_FAIL_EVENT): throws for its event, as
/// a bug would, before anything is kept.
void test_hook(const ingester_state& s, const ingest_item& item) {
  if (!s.settings.fail_on_event_id.empty() && item.dialpad_event_id == s.settings.fail_on_event_id)
    throw std::runtime_error("test hook: the ingester fails on this event");
}

/// False when `item` cannot wait: every ingest connection is busy and the
/// events gathered meanwhile are at their bound.
bool has_room(const ingester_state& s, const ingest_item& item) {
  return !(all_connections_busy(s)
           && (s.items.size() >= s.settings.max_waiting
               || (!s.items.empty()
                   && s.gathered_bytes + item.payload.size() > s.settings.max_waiting_bytes)));
}

/// Adds one event to the batch being gathered, and sends what is gathered
/// when a commit slot is free (or the batch is full).
void gather(ingester_ptr self, ingest_item&& item, waiter&& w) {
  auto& s = self->state;
  s.gathered_bytes += item.payload.size();
  s.items.push_back(std::move(item));
  s.promises.push_back(std::move(w));
  s.arrived.push_back(clock::now());
  if (all_connections_busy(s)) {
    arm_expiry(self); // the pool's next answer sends them, unless too late
    return;
  }
  if (s.in_flight < s.settings.max_in_flight || s.items.size() >= s.settings.max_batch
      || s.gathered_bytes >= s.settings.max_batch_bytes || s.settings.max_delay.count() == 0) {
    flush(self);
  } else if (!s.timer_armed) {
    // Every commit slot is busy: wait for one, but no longer than max_delay.
    s.timer_armed = true;
    self->delayed_send(self, s.settings.max_delay, flush_atom_v, s.generation);
  }
}

ingester_actor::behavior_type ingester(ingester_ptr self, db_pool_actor pool,
                                       ingester_settings settings) {
  auto& st = self->state;
  st.settings = settings;
  if (st.settings.max_batch < 1)
    st.settings.max_batch = 1;
  if (st.settings.max_in_flight < 1)
    st.settings.max_in_flight = 1;
  if (st.settings.max_connections < 1)
    st.settings.max_connections = 1;
  if (st.settings.max_waiting < st.settings.max_batch)
    st.settings.max_waiting = st.settings.max_batch;
  st.pool = std::move(pool);
  return {
    [=](ingest_atom, ingest_item& item) -> caf::result<ingest_result> {
      test_hook(self->state, item);
      if (!has_room(self->state, item))
        return make_error(errc::db_unavailable, too_many_waiting);
      auto rp = self->make_response_promise<ingest_result>();
      gather(self, std::move(item), waiter{rp, {}, false});
      return rp;
    },
    [=](ingest_atom, ingest_item& item, ingest_reply& reply) {
      waiter w{promise{}, std::move(reply), true};
      test_hook(self->state, item); // `w`, dropped, answers `unavailable`
      if (!has_room(self->state, item)) {
        w.fail(make_error(errc::db_unavailable, too_many_waiting));
        return;
      }
      gather(self, std::move(item), std::move(w));
    },
    [=](flush_atom, uint64_t generation) {
      auto& s = self->state;
      if (generation == expiry_tick) {
        s.expiry_armed = false;
        expire(self);
        arm_expiry(self);
        return;
      }
      // A batch flushed early for size leaves its timer behind: ignore it.
      if (generation == s.generation)
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
