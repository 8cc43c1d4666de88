#include "db/pool.hpp"

#include <algorithm>
#include <deque>
#include <functional>

#include <caf/all.hpp>

#include "domain/log.hpp"

namespace cti::db {

namespace {

/// A worker with nothing to do, since when.
struct idle_worker {
  db_worker_actor worker;
  std::chrono::steady_clock::time_point since;
};

/// A job waiting for a free worker.
struct waiter {
  std::chrono::steady_clock::time_point deadline;
  std::function<void(db_worker_actor)> run;
  std::function<void(caf::error)> fail;
};

/// Who is idle, who is busy, who waits.
struct db_pool_state {
  static inline const char* name = "db_pool";
  pool_settings settings;
  std::vector<db_worker_actor> all;   ///< Every live worker.
  std::vector<idle_worker> idle;      ///< Live workers with nothing to do.
  std::deque<waiter> waiting;         ///< Pipeline jobs queued for a worker, oldest first.
  std::deque<waiter> api_waiting;     ///< API jobs queued (for a worker or for the API's share).
  std::size_t api_busy = 0;           ///< Workers running an API job.
  std::size_t api_cap = 1;            ///< Most workers API jobs hold at once.
  bool expiry_scheduled = false;
  /// A connection of its own for /health, outside `all`: a pool whose
  /// workers are all busy (long exports, a locked table) still reaches the
  /// database, and must not be reported unreachable for it.
  db_worker_actor health_worker;
  /// Health checks waiting for the one in flight on `health_worker`.
  std::vector<caf::typed_response_promise<bool>> health_waiting;
  /// Checks in a row that `health_worker` left unanswered.
  int health_timeouts = 0;
  /// Health workers killed for hanging whose thread has not ended yet (a
  /// detached actor stuck in libpq ends when the call returns). While one
  /// is left, a second hanging one is not replaced: at most one stray.
  std::vector<caf::actor_addr> health_strays;
};

/// Unanswered health checks in a row after which the health worker is
/// taken for hung and replaced.
constexpr int health_timeouts_to_replace = 3;

using pool_ptr = db_pool_actor::stateful_pointer<db_pool_state>;

constexpr auto expiry_tick = std::chrono::milliseconds{50};

db_worker_actor add_worker(pool_ptr self) {
  auto w = spawn_db_worker(self->system(), self->state.settings.worker);
  self->monitor(w);
  self->state.all.push_back(w);
  return w;
}

void remove_worker(pool_ptr self, const caf::actor_addr& addr) {
  auto& st = self->state;
  std::erase_if(st.all, [&](const db_worker_actor& w) { return w.address() == addr; });
  std::erase_if(st.idle, [&](const idle_worker& w) { return w.worker.address() == addr; });
}

/// A worker finished a job: give it the oldest live waiter, or park it.
/// Idle workers are taken from the back (the most recently used, whose
/// connection is warm); one that just answered "unavailable" (its
/// connection was lost, or the database refused the work) is parked at the
/// front, so the next jobs go to the others while it reconnects: one
/// killed backend must not make every request of the node fail until it
/// is back.
void release(pool_ptr self, db_worker_actor w, bool last_in_line = false) {
  auto& st = self->state;
  if (std::none_of(st.all.begin(), st.all.end(),
                   [&](const db_worker_actor& x) { return x == w; }))
    return; // replaced meanwhile
  auto now = std::chrono::steady_clock::now();
  for (auto* queue : {&st.waiting, &st.api_waiting}) {
    if (queue == &st.api_waiting && st.api_busy >= st.api_cap)
      break;
    while (!queue->empty()) {
      auto next = std::move(queue->front());
      queue->pop_front();
      if (next.deadline < now) {
        next.fail(make_error(errc::db_unavailable, "no database connection free in time"));
        continue;
      }
      next.run(std::move(w));
      return;
    }
  }
  if (last_in_line)
    st.idle.insert(st.idle.begin(), idle_worker{std::move(w), now});
  else
    st.idle.push_back(idle_worker{std::move(w), now});
}

/// A worker that did not answer within the job timeout is presumed hung:
/// replace it so the pool does not shrink silently.
void retire(pool_ptr self, const db_worker_actor& w) {
  log::error("database worker unresponsive, replacing it");
  self->demonitor(w.address());
  remove_worker(self, w.address());
  self->send_exit(w, caf::exit_reason::kill);
  if (self->state.all.size() < self->state.settings.min_workers)
    release(self, add_worker(self));
}

void spawn_health_worker(pool_ptr self) {
  auto settings = self->state.settings.worker;
  settings.waker = nullptr; // it never stores webhooks
  settings.notify_other_nodes = false;
  self->state.health_worker = spawn_db_worker(self->system(), settings);
  self->monitor(self->state.health_worker);
}

void answer_health(pool_ptr self, const caf::expected<bool>& outcome) {
  auto waiting = std::move(self->state.health_waiting);
  self->state.health_waiting.clear();
  for (auto& rp : waiting) {
    if (outcome)
      rp.deliver(*outcome);
    else
      rp.deliver(outcome.error());
  }
}

/// Health checks run one at a time on the health worker; those that come
/// while one is in flight get its answer. A check unanswered within
/// `health_timeout` is "unavailable"; after a few in a row the worker is
/// taken for hung (a dead TCP connection after a failover) and replaced.
caf::result<bool> check_health(pool_ptr self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<bool>();
  if (!st.health_worker) {
    rp.deliver(make_error(errc::db_unavailable, "no answer from the database in time"));
    return rp;
  }
  st.health_waiting.push_back(rp);
  if (st.health_waiting.size() > 1)
    return rp;
  auto w = st.health_worker;
  self->request(w, st.settings.health_timeout, health_atom_v)
    .then(
      [=](bool ok) {
        if (self->state.health_worker == w)
          self->state.health_timeouts = 0;
        answer_health(self, ok);
      },
      [=](caf::error& err) {
        auto& s = self->state;
        if (err == caf::sec::request_timeout && s.health_worker == w) {
          if (++s.health_timeouts >= health_timeouts_to_replace) {
            log::warn("database health connection unresponsive, replacing it");
            s.health_timeouts = 0;
            s.health_strays.push_back(w.address());
            self->send_exit(w, caf::exit_reason::kill);
            s.health_worker = nullptr;
            if (s.health_strays.size() <= 1)
              spawn_health_worker(self);
          }
          answer_health(self, make_error(errc::db_unavailable,
                                         "no answer from the database in time"));
          return;
        }
        if (s.health_worker == w)
          s.health_timeouts = 0;
        answer_health(self, err);
      });
  return rp;
}

/// How often the pool looks for connections idle past their timeout.
std::chrono::milliseconds shrink_interval(const pool_settings& s) {
  return std::clamp(s.idle_timeout / 4, std::chrono::milliseconds{10},
                    std::chrono::milliseconds{10000});
}

/// Closes the workers beyond `min_workers` that idled past the timeout
/// (each entry's own time is checked: the front ones mostly waited longest,
/// but a worker parked last in line goes to the front too).
void shrink(pool_ptr self) {
  auto& st = self->state;
  auto cutoff = std::chrono::steady_clock::now() - st.settings.idle_timeout;
  std::vector<db_worker_actor> closing;
  for (auto it = st.idle.begin();
       it != st.idle.end() && st.all.size() - closing.size() > st.settings.min_workers;) {
    if (it->since < cutoff) {
      closing.push_back(std::move(it->worker));
      it = st.idle.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& w : closing) {
    self->demonitor(w.address());
    std::erase_if(st.all, [&](const db_worker_actor& x) { return x == w; });
    self->send_exit(w, caf::exit_reason::user_shutdown);
  }
}

void start_api_waiters(pool_ptr self);

/// Sends one job to `w` and routes the answer to `rp`.
template <class R, class... Ts>
void run_on(pool_ptr self, db_worker_actor w, bool api, caf::typed_response_promise<R> rp,
            Ts... xs) {
  if (api)
    ++self->state.api_busy;
  self->request(w, self->state.settings.job_timeout, xs...)
    .then(
      [=](R& r) mutable {
        rp.deliver(std::move(r));
        if (api)
          --self->state.api_busy;
        release(self, w);
        if (api)
          start_api_waiters(self);
      },
      [=](caf::error& err) mutable {
        rp.deliver(err);
        if (api)
          --self->state.api_busy;
        // Only CAF's own request timeout means the worker went silent; a
        // statement timeout (errc::timeout) comes from a healthy worker.
        if (err == caf::sec::request_timeout)
          retire(self, w);
        else
          release(self, w, errc_of(err) == errc::db_unavailable);
        if (api)
          start_api_waiters(self);
      });
}

/// An API job ended: the API's share has room again, and queued API jobs
/// may start on idle workers (or new ones) that `release` gave to nobody.
void start_api_waiters(pool_ptr self) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  while (!st.api_waiting.empty() && st.api_busy < st.api_cap) {
    db_worker_actor w;
    if (!st.idle.empty()) {
      w = std::move(st.idle.back().worker);
      st.idle.pop_back();
    } else if (st.all.size() < st.settings.max_workers) {
      w = add_worker(self);
    } else {
      return;
    }
    auto next = std::move(st.api_waiting.front());
    st.api_waiting.pop_front();
    if (next.deadline < now) {
      next.fail(make_error(errc::db_unavailable, "no database connection free in time"));
      st.idle.push_back(idle_worker{std::move(w), now});
      continue;
    }
    next.run(std::move(w));
  }
}

/// Hands the job `xs...` to an idle worker, a new one, or the queue. An
/// API job (`api`) past the API's share queues even when workers are free:
/// those are kept for the pipeline, so that one tenant's heavy reads or a
/// storm of WebSocket replays cannot make every webhook wait (a black-box
/// audit saw 10 of 15 of another tenant's webhooks answered 503).
template <class R, bool api = false, class... Ts>
caf::result<R> dispatch(pool_ptr self, Ts... xs) {
  auto& st = self->state;
  auto rp = self->template make_response_promise<R>();
  const bool room = !api || st.api_busy < st.api_cap;
  if (room && !st.idle.empty()) {
    auto w = std::move(st.idle.back().worker);
    st.idle.pop_back();
    run_on<R>(self, std::move(w), api, rp, xs...);
  } else if (room && st.all.size() < st.settings.max_workers) {
    run_on<R>(self, add_worker(self), api, rp, xs...);
  } else if (st.waiting.size() + st.api_waiting.size() < st.settings.max_waiting) {
    (api ? st.api_waiting : st.waiting).push_back(waiter{
      std::chrono::steady_clock::now() + st.settings.max_wait,
      [=](db_worker_actor w) mutable { run_on<R>(self, std::move(w), api, rp, xs...); },
      [=](caf::error err) mutable { rp.deliver(std::move(err)); }});
    if (!st.expiry_scheduled) {
      st.expiry_scheduled = true;
      self->delayed_send(self, expiry_tick, expire_atom_v);
    }
  } else {
    rp.deliver(make_error(errc::db_unavailable, "too many database jobs waiting"));
  }
  return rp;
}

db_pool_actor::behavior_type db_pool(pool_ptr self, pool_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  if (st.settings.max_workers < 1)
    st.settings.max_workers = 1;
  st.settings.min_workers = std::min(st.settings.min_workers, st.settings.max_workers);
  st.api_cap = st.settings.max_api_workers > 0
                 ? std::min(st.settings.max_api_workers, st.settings.max_workers)
                 : st.settings.max_workers
                     - (st.settings.max_workers >= 2 ? std::max<std::size_t>(1, st.settings.max_workers / 5) : 0);
  for (std::size_t i = 0; i < st.settings.min_workers; ++i)
    st.idle.push_back(idle_worker{add_worker(self), std::chrono::steady_clock::now()});
  spawn_health_worker(self);
  self->delayed_send(self, shrink_interval(st.settings), shrink_atom_v);
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& s = self->state;
    if (auto it = std::find(s.health_strays.begin(), s.health_strays.end(), msg.source);
        it != s.health_strays.end()) {
      s.health_strays.erase(it);
      if (!s.health_worker)
        spawn_health_worker(self);
      return;
    }
    if (s.health_worker && msg.source == s.health_worker.address()) {
      log::warn("database health worker died, replacing it");
      spawn_health_worker(self);
      return;
    }
    if (std::none_of(s.all.begin(), s.all.end(),
                     [&](const db_worker_actor& w) { return w.address() == msg.source; }))
      return; // retired or closed already
    log::warn("database worker died, replacing it");
    remove_worker(self, msg.source);
    if (self->state.all.size() < self->state.settings.min_workers)
      release(self, add_worker(self));
  });
  // Exiting (shutdown) takes the workers along.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    for (auto& w : self->state.all)
      self->send_exit(w, msg.reason);
    if (self->state.health_worker)
      self->send_exit(self->state.health_worker, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [=](health_atom) -> caf::result<bool> { return check_health(self); },
    [=](ingest_atom, std::vector<ingest_item>& items) -> caf::result<std::vector<ingest_result>> {
      return dispatch<std::vector<ingest_result>>(self, ingest_atom_v, std::move(items));
    },
    [=](app_atom, std::string& id) -> caf::result<app_info> {
      return dispatch<app_info>(self, app_atom_v, std::move(id));
    },
    [=](org_atom, int64_t org) -> caf::result<app_info> {
      return dispatch<app_info>(self, org_atom_v, org);
    },
    [=](process_atom, process_settings& settings) -> caf::result<process_report> {
      return dispatch<process_report>(self, process_atom_v, settings);
    },
    [=](events_atom, event_query& q) -> caf::result<std::string> {
      return dispatch<std::string, true>(self, events_atom_v, std::move(q));
    },
    [=](event_atom, std::string& id) -> caf::result<std::string> {
      return dispatch<std::string, true>(self, event_atom_v, std::move(id));
    },
    [=](replay_atom, std::string& id, std::string& request_id) -> caf::result<std::string> {
      return dispatch<std::string, true>(self, replay_atom_v, std::move(id), std::move(request_id));
    },
    [=](queue_atom) -> caf::result<queue_stats> {
      return dispatch<queue_stats>(self, queue_atom_v);
    },
    [=](key_atom, std::string& key_id) -> caf::result<key_record> {
      return dispatch<key_record>(self, key_atom_v, std::move(key_id));
    },
    [=](query_atom, db_query& q) -> caf::result<db_answer> {
      return dispatch<db_answer, true>(self, query_atom_v, std::move(q));
    },
    [=](stats_atom) -> pool_stats {
      auto& s = self->state;
      pool_stats out;
      out.total = static_cast<uint32_t>(s.all.size());
      out.idle = static_cast<uint32_t>(s.idle.size());
      out.active = out.total - out.idle;
      out.waiting = static_cast<uint32_t>(s.waiting.size() + s.api_waiting.size());
      return out;
    },
    [=](shrink_atom) {
      shrink(self);
      self->delayed_send(self, shrink_interval(self->state.settings), shrink_atom_v);
    },
    [=](expire_atom) {
      auto& s = self->state;
      auto now = std::chrono::steady_clock::now();
      for (auto* queue : {&s.waiting, &s.api_waiting})
        while (!queue->empty() && queue->front().deadline < now) {
          queue->front().fail(
            make_error(errc::db_unavailable, "no database connection free in time"));
          queue->pop_front();
        }
      s.expiry_scheduled = !s.waiting.empty() || !s.api_waiting.empty();
      if (s.expiry_scheduled)
        self->delayed_send(self, expiry_tick, expire_atom_v);
    },
  };
}

} // namespace

db_pool_actor spawn_db_pool(caf::actor_system& sys, pool_settings settings) {
  return sys.spawn(db_pool, std::move(settings));
}

} // namespace cti::db
