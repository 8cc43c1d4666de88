#include "db/worker.hpp"

#include <memory>

#include <poll.h>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "db/api_repo.hpp"
#include "db/apps_repo.hpp"
#include "db/events_repo.hpp"
#include "domain/api_objects.hpp"
#include "db/processor.hpp"
#include "db/statements.hpp"
#include "domain/log.hpp"

namespace cti::db {

namespace {

/// The worker's resources; the connection closes with the actor.
struct db_worker_state {
  static inline const char* name = "db_worker";
  worker_settings settings;
  std::unique_ptr<pqxx::connection> conn;
  std::chrono::milliseconds backoff{0};
  bool reconnect_pending = false;
  bool was_connected = false;
  /// When a refusal (read-only, full disk) was last logged: once per 10 s
  /// per worker, not once per refused request.
  std::chrono::steady_clock::time_point refusal_logged{};
  /// When the connection's cached plans were last dropped (see
  /// db::plan_refresh_interval); a new connection has none.
  std::chrono::steady_clock::time_point plans_refreshed{};
  int backend_pid = 0; ///< As recorded in settings.pids.
  bool notify_queued = false; ///< A notify_atom is in the mailbox.

  /// The connection's pid leaves this node's set with the connection: a
  /// pid that PostgreSQL reuses for another node's backend must not look
  /// like this node's.
  void forget_pid() {
    if (settings.pids && backend_pid != 0)
      settings.pids->replace(backend_pid, 0);
    backend_pid = 0;
  }

  ~db_worker_state() {
    forget_pid();
  }
};

using worker_ptr = db_worker_actor::stateful_pointer<db_worker_state>;

// SQLSTATE classes that mean "this connection is gone": connection exceptions
// (08), operator intervention such as admin shutdown (57P), and crash recovery.
bool is_connection_loss(const std::string& sqlstate) {
  return sqlstate.rfind("08", 0) == 0 || sqlstate.rfind("57P", 0) == 0;
}

// SQLSTATEs of a database that is there but refuses the work for now: a
// read-only server (25006: a standby, or default_transaction_read_only), out
// of disk, memory or connections (class 53), a deadlock or serialization
// failure (40001, 40P01), a lock not granted within the lock timeout (55P03:
// a processing round's). Retrying later can succeed, so callers get 503.
bool is_transient_refusal(const std::string& sqlstate) {
  return sqlstate == "25006" || sqlstate.rfind("53", 0) == 0 || sqlstate == "40001"
         || sqlstate == "40P01" || sqlstate == "55P03";
}

/// The SQLSTATE a libpqxx 6 rollback exception stands for (they carry none).
std::string rollback_sqlstate(const pqxx::transaction_rollback& e) {
  if (dynamic_cast<const pqxx::deadlock_detected*>(&e))
    return "40P01";
  if (dynamic_cast<const pqxx::serialization_failure*>(&e))
    return "40001";
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&e))
    return "40003";
  return "40000";
}

/// Warns that the database refused work (a transient refusal), at most once
/// per 10 s.
void refusal_warning(worker_ptr self, const std::string& sqlstate) {
  auto now = std::chrono::steady_clock::now();
  if (now - self->state.refusal_logged >= std::chrono::seconds{10}) {
    self->state.refusal_logged = now;
    log::warn("database refused the work for now (logged once per 10 s)",
              {{"sqlstate", sqlstate}});
  }
}

bool try_connect(worker_ptr self) {
  auto& st = self->state;
  try {
    auto conn = std::make_unique<pqxx::connection>(st.settings.conninfo);
    {
      pqxx::nontransaction tx{*conn};
      tx.exec("SET statement_timeout = "
              + std::to_string(st.settings.statement_timeout.count()));
      // Timestamps selected as text come in one known form (pg_time_of).
      tx.exec("SET DateStyle = 'ISO, YMD'");
    }
    for (const auto& stmt : prepared_statements())
      conn->prepare(stmt.name, stmt.sql);
    st.conn = std::move(conn);
    st.plans_refreshed = std::chrono::steady_clock::now();
    if (st.settings.pids) {
      auto pid = st.conn->backendpid();
      st.settings.pids->replace(st.backend_pid, pid);
      st.backend_pid = pid;
    }
    st.backoff = st.settings.min_backoff;
    if (st.was_connected)
      log::info("database connection restored");
    st.was_connected = true;
    return true;
  } catch (const std::exception& e) {
    st.conn.reset();
    log::debug("database connect failed", {{"error", e.what()}});
    return false;
  }
}

void schedule_reconnect(worker_ptr self) {
  auto& st = self->state;
  if (st.reconnect_pending)
    return;
  st.reconnect_pending = true;
  self->delayed_send(self, st.backoff, reconnect_atom_v);
  st.backoff = std::min(st.backoff * 2, st.settings.max_backoff);
}

void drop_connection(worker_ptr self, const char* why) {
  if (self->state.conn)
    log::warn("database connection lost", {{"reason", why}});
  self->state.conn.reset();
  self->state.forget_pid();
  schedule_reconnect(self);
}

/// True when the server has closed an idle connection (a restart's
/// "terminating connection" and end of file, or a broken link). One poll(2)
/// of the socket, no round trip; only when something is there to read does
/// libpq read it (a worker's connection listens to no channel and has no
/// query in flight between jobs, so that is normally the end of the
/// session; a stray notice or notification is consumed and the connection
/// kept).
bool closed_while_idle(pqxx::connection& c) {
  // A closing server sends its "terminating connection" message, then the
  // end of file: libpq may take one read for each. Whatever is still
  // readable after a few reads is an end of file libpq will not see.
  for (int reads = 0;; ++reads) {
    int fd = c.sock();
    if (fd < 0)
      return true;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
      return false;
    if (reads == 3)
      return true;
    try {
      c.get_notifs(); // PQconsumeInput: fails on end of file
    } catch (const std::exception&) {
      return true;
    }
    if (!c.is_open())
      return true;
  }
}

/// Runs `job` on the connection, turning every libpqxx exception into a
/// typed error: no exception may leave a handler (CAF would kill the actor).
/// Before the job, a connection PostgreSQL closed while it idled is
/// replaced (closed_while_idle), so a Postgres restart is invisible to every
/// job once Postgres is back. A connection that breaks during a job fails
/// it; `retry_safe` jobs (read-only) then get one immediate
/// reconnect-and-retry, a change does not (it may have committed).
///
/// Every job but a REST query (which chooses its role itself, see
/// db::run_query) first returns the session from tenant mode.
template <class T, class F>
caf::result<T> with_connection(worker_ptr self, bool retry_safe, F job, bool query = false,
                               std::string_view request_id = {}) {
  auto& st = self->state;
  // An error line names the request it failed, as the access line does.
  auto log_error = [request_id](std::string_view msg, std::string sqlstate, std::string error) {
    if (request_id.empty())
      log::error(msg, {{"sqlstate", std::move(sqlstate)}, {"error", std::move(error)}});
    else
      log::error(msg, {{"sqlstate", std::move(sqlstate)},
                       {"error", std::move(error)},
                       {"request_id", std::string{request_id}}});
  };
  auto log_failure = [request_id](std::string error) {
    if (request_id.empty())
      log::error("database job failed", {{"error", std::move(error)}});
    else
      log::error("database job failed",
                 {{"error", std::move(error)}, {"request_id", std::string{request_id}}});
  };
  if (st.conn && closed_while_idle(*st.conn)) {
    // PostgreSQL restarted (or ended the session) while this connection
    // idled: connect again before the job rather than fail it, which a
    // change could not be retried after.
    log::warn("database connection lost", {{"reason", "closed while idle"}});
    st.conn.reset();
    st.forget_pid();
    if (!try_connect(self))
      schedule_reconnect(self);
  }
  for (int attempt = 0;; ++attempt) {
    if (!st.conn)
      return make_error(errc::db_unavailable, "database unreachable");
    const char* lost = nullptr;
    try {
      if (!query)
        db::leave_tenant_mode(*st.conn);
      return job(*st.conn);
    } catch (const pqxx::broken_connection&) {
      lost = "broken connection";
    } catch (const pqxx::in_doubt_error&) {
      // The commit may or may not have happened: never report success.
      drop_connection(self, "transaction in doubt");
      return make_error(errc::db_unavailable, "database connection lost during commit");
    } catch (const pqxx::transaction_rollback& e) {
      // A deadlock or serialization failure (40P01, 40001; and 40003, the
      // outcome of the statement unknown). libpqxx 6 derives these from
      // `failure`, not `sql_error`: the transaction rolled back, a retry
      // can succeed, so the caller gets 503 with Retry-After.
      refusal_warning(self, rollback_sqlstate(e));
      return make_error(errc::db_unavailable, "database refuses the work for now");
    } catch (const pqxx::sql_error& e) {
      if (is_connection_loss(e.sqlstate()) || !st.conn->is_open()) {
        lost = "server closed the connection";
      } else if (e.sqlstate() == "23505") {
        return make_error(errc::conflict, "already exists");
      } else if (e.sqlstate() == "57014") {
        return make_error(errc::timeout, "statement timed out");
      } else if (is_transient_refusal(e.sqlstate())) {
        refusal_warning(self, e.sqlstate());
        return make_error(errc::db_unavailable, "database refuses the work for now");
      } else {
        // The first line only: Postgres's DETAIL ("Failing row contains
        // ...") would put row data (payloads, key hashes) into the log.
        std::string first_line = e.what();
        first_line = first_line.substr(0, first_line.find('\n'));
        log_error("database error", e.sqlstate(), std::move(first_line));
        return make_error(errc::internal, "database error");
      }
    } catch (const std::exception& e) {
      if (st.conn->is_open()) {
        std::string first_line = e.what();
        first_line = first_line.substr(0, first_line.find('\n'));
        log_failure(std::move(first_line));
        return make_error(errc::internal, "database error");
      }
      lost = "connection closed";
    }
    log::warn("database connection lost", {{"reason", lost}});
    st.conn.reset();
    // A stale connection (Postgres restarted while we idled) should not
    // fail a read-only job: reconnect at once and run it again.
    if (retry_safe && attempt == 0 && try_connect(self))
      continue;
    schedule_reconnect(self);
    return make_error(errc::db_unavailable, "database unreachable");
  }
}

/// Stores a batch in one statement (one transaction). When the database refuses the data
/// of the batch (SQLSTATE class 22, e.g. a value jsonb cannot hold), each
/// item is retried alone so one bad event cannot fail its neighbours.
std::vector<ingest_result> store_events(pqxx::connection& c,
                                        const std::vector<ingest_item>& items) {
  // Autocommit: the one INSERT statement is the transaction, committed by
  // the time its result arrives (one round trip instead of four).
  try {
    pqxx::nontransaction tx{c};
    return db::insert_events(tx, items);
  } catch (const pqxx::data_exception&) {
    // fall through to one transaction per item
  } catch (const pqxx::check_violation&) {
    // likewise
  }
  std::vector<ingest_result> out(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    try {
      pqxx::nontransaction tx{c};
      out[i] = db::insert_events(tx, {items[i]}).front();
    } catch (const pqxx::data_exception& e) {
      out[i].error = "the event cannot be stored (SQLSTATE " + e.sqlstate() + ")";
    } catch (const pqxx::check_violation& e) {
      out[i].error = "the event cannot be stored (SQLSTATE " + e.sqlstate() + ")";
    }
  }
  return out;
}

/// True when the batch stored at least one event that was not there yet.
bool stored_something_new(const std::vector<ingest_result>& results) {
  for (const auto& r : results)
    if (r.error.empty() && !r.duplicate && !r.app_gone)
      return true;
  return false;
}

const std::string notify_other_nodes_sql =
  std::string{"BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_notify('"} + events_channel
  + "', ''); COMMIT";

db_worker_actor::behavior_type db_worker(worker_ptr self, worker_settings settings) {
  self->state.settings = std::move(settings);
  self->state.backoff = self->state.settings.min_backoff;
  if (!try_connect(self)) {
    log::warn("database unreachable, retrying in the background");
    schedule_reconnect(self);
  }
  return {
    [=](reconnect_atom) {
      self->state.reconnect_pending = false;
      if (!self->state.conn && !try_connect(self))
        schedule_reconnect(self);
    },
    [=](ingest_atom, std::vector<ingest_item>& items)
      -> caf::result<std::vector<ingest_result>> {
      bool stored_new = false;
      auto res = with_connection<std::vector<ingest_result>>(
        self, false, [&](pqxx::connection& c) {
          auto out = store_events(c, items);
          stored_new = stored_something_new(out);
          return out;
        });
      if (stored_new) {
        // Committed (autocommit): this node's pollers look at once; the
        // other nodes hear of it after the answer has gone.
        auto& st = self->state;
        if (st.settings.waker)
          st.settings.waker->wake();
        if (st.settings.notify_other_nodes && !st.notify_queued) {
          st.notify_queued = true;
          self->send(self, notify_atom_v);
        }
      }
      return res;
    },
    [=](notify_atom) {
      auto& st = self->state;
      st.notify_queued = false;
      if (!st.conn)
        return; // its rounds find the events anyway
      try {
        // Nothing here needs to be durable: the commit does not wait for
        // the WAL flush, and so holds PostgreSQL's notify lock only briefly.
        pqxx::nontransaction{*st.conn}.exec(notify_other_nodes_sql);
      } catch (const pqxx::broken_connection&) {
        drop_connection(self, "connection broken");
      } catch (const std::exception& e) {
        // (e.g. PostgreSQL's notification queue is full.) The failed
        // statement leaves its explicit transaction open and aborted: end it,
        // or every later job on this connection would fail.
        log::debug("cluster notification not sent", {{"error", e.what()}});
        try {
          pqxx::nontransaction{*st.conn}.exec("ROLLBACK");
        } catch (const std::exception&) {
          drop_connection(self, "cannot end a failed notification");
        }
      }
    },
    [=](app_atom, std::string& id) -> caf::result<app_info> {
      return with_connection<app_info>(self, true, [&](pqxx::connection& c) {
        pqxx::read_transaction tx{c};
        return db::find_app(tx, id);
      });
    },
    [=](org_atom, int64_t org) -> caf::result<app_info> {
      return with_connection<app_info>(self, true, [&](pqxx::connection& c) {
        pqxx::read_transaction tx{c};
        return db::find_app_by_org(tx, org);
      });
    },
    [=](process_atom, process_settings& settings) -> caf::result<process_report> {
      return with_connection<process_report>(self, false, [&](pqxx::connection& c) {
        auto now = std::chrono::steady_clock::now();
        bool refresh = now - self->state.plans_refreshed >= db::plan_refresh_interval;
        if (refresh)
          self->state.plans_refreshed = now;
        return db::process_batch(c, settings, refresh);
      });
    },
    [=](events_atom, event_query& q) -> caf::result<std::string> {
      return with_connection<std::string>(self, true, [&](pqxx::connection& c) -> caf::result<std::string> {
        pqxx::read_transaction tx{c};
        if (!db::find_app(tx, q.app_id).found)
          return make_error(errc::not_found, "no such app");
        db::event_filter f;
        f.app_id = q.app_id;
        if (!q.state.empty())
          f.state = q.state;
        f.page.limit = q.limit;
        if (q.has_after)
          f.page.after = keyset{q.after_us, q.after_id};
        auto page = db::list_events(tx, f);
        std::vector<std::string> rows;
        rows.reserve(page.rows.size());
        for (const auto& e : page.rows)
          rows.push_back(event_json(e));
        return page_json(rows,
                         page.next ? std::optional{encode_cursor(*page.next, "events:" + q.app_id)}
                                   : std::nullopt,
                         page.next.has_value());
      });
    },
    [=](event_atom, std::string& id) -> caf::result<std::string> {
      return with_connection<std::string>(self, true, [&](pqxx::connection& c) -> caf::result<std::string> {
        pqxx::read_transaction tx{c};
        auto e = db::find_event(tx, id);
        if (!e)
          return make_error(errc::not_found, "no such event");
        return event_json(*e);
      });
    },
    [=](replay_atom, std::string& id, std::string& request_id) -> caf::result<std::string> {
      return with_connection<std::string>(self, false, [&](pqxx::connection& c) -> caf::result<std::string> {
        pqxx::work tx{c};
        std::optional<event_record> e;
        try {
          e = db::replay_event(tx, id, "internal", request_id);
        } catch (const db::api_error& refused) {
          return make_error(refused.code, refused.message);
        }
        if (!e)
          return make_error(errc::not_found, "no such event");
        tx.commit();
        return e->app_id;
      });
    },
    [=](queue_atom) -> caf::result<queue_stats> {
      return with_connection<queue_stats>(self, true, [&](pqxx::connection& c) {
        pqxx::read_transaction tx{c};
        return db::queue_counts(tx);
      });
    },
    [=](key_atom, std::string& key_id) -> caf::result<key_record> {
      return with_connection<key_record>(self, true, [&](pqxx::connection& c) {
        pqxx::read_transaction tx{c};
        return db::find_key(tx, key_id);
      });
    },
    [=](query_atom, db_query& q) -> caf::result<db_answer> {
      // Reads are retried once on a stale connection; a change is not (it
      // may have committed before the connection broke).
      return with_connection<db_answer>(self, db::is_read_only(q.kind),
                                        [&](pqxx::connection& c) -> caf::result<db_answer> {
        try {
          return db::run_query(c, q);
        } catch (const db::api_error& e) {
          return make_error(e.code, e.message);
        }
      }, true, q.request_id);
    },
    [=](health_atom) -> caf::result<bool> {
      return with_connection<bool>(self, true, [](pqxx::connection& c) {
        pqxx::nontransaction tx{c};
        tx.exec_prepared("health");
        return true;
      });
    },
  };
}

} // namespace

db_worker_actor spawn_db_worker(caf::actor_system& sys, worker_settings settings) {
  return sys.spawn<caf::detached>(db_worker, std::move(settings));
}

} // namespace cti::db
