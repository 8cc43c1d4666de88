#include "db/processor.hpp"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "db/event_handlers.hpp"
#include "db/sql_params.hpp"
#include "domain/retry.hpp"
#include "domain/validation.hpp"

namespace cti::db {

namespace {

/// Failed events a round names in the log, and how much of each error.
constexpr std::size_t max_logged_failures = 5;
constexpr std::size_t max_logged_error = 200;

/// Longest `last_error` kept.
constexpr std::size_t max_error_length = 1000;

double jitter() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>{0.0, 1.0}(rng);
}

/// SQLSTATEs that abort the round instead of failing one event: the
/// connection or the transaction as a whole is gone, or the database
/// refuses the work for now (a lock not granted within the round's lock
/// timeout, out of memory, disk or connections). Neither is the event's
/// fault: the round rolls back with no attempt counted and is tried again.
/// (Deadlocks and serialization failures come as pqxx::transaction_rollback
/// and abort the round too.)
bool is_fatal(const pqxx::sql_error& e) {
  const auto& s = e.sqlstate();
  return s.rfind("08", 0) == 0 || s.rfind("57P", 0) == 0 || s == "25P02" || s == "55P03"
         || s.rfind("53", 0) == 0;
}


struct claimed_event {
  stored_event stored;
  event_data data;
  int attempts = 0;
  std::string serial;  ///< serial_key(), empty when none.
  std::string stored_serial; ///< The serial column (set at ingest), empty when none.
  int64_t received_us = 0;   ///< Arrival time, epoch µs.
};

struct done {
  const claimed_event* ev = nullptr;
  handler_result result;
  int64_t seq = 0;
};

template <class Key>
std::vector<Key> as_vector(const std::set<Key>& s) {
  return {s.begin(), s.end()};
}

/// Loads what `events` touch, runs their handlers in order, writes what
/// changed. Throws on any failure (the caller rolls back).
std::vector<handler_result> apply_events(pqxx::transaction_base& tx,
                                         const std::vector<const claimed_event*>& events,
                                         timestamp now) {
  batch_needs needs;
  for (const auto* e : events)
    add_needs(needs, e->stored, e->data);
  event_batch batch;
  batch.now = now;
  batch.calls = lock_calls(tx, as_vector(needs.calls));
  batch.voicemails = lock_voicemails(tx, as_vector(needs.voicemails));
  batch.messages = existing_messages(tx, as_vector(needs.messages));
  // The CRM user of a call also comes from the user already stored on it
  // (later events of a call rarely name the user again).
  for (const auto& [key, call] : batch.calls)
    if (call.rec.dialpad_user_id)
      needs.users.insert(user_key{key.app_id, *call.rec.dialpad_user_id});
  for (const auto& [key, vm] : batch.voicemails)
    if (vm.rec.dialpad_user_id)
      needs.users.insert(user_key{key.app_id, *vm.rec.dialpad_user_id});
  auto users = as_vector(needs.users);
  batch.crm_users = crm_users_of(tx, users);
  batch.users = find_dialpad_users(tx, users);

  std::vector<handler_result> results;
  results.reserve(events.size());
  for (const auto* e : events) {
    auto handler = find_handler(e->stored.event_type);
    fail_if_injected(e->stored.event_type);
    results.push_back(handler ? handler(batch, e->stored, e->data) : handler_result{});
  }

  // The sanitized copy of each call's last event, made once per written call.
  std::vector<std::string> raws;
  raws.reserve(batch.changed_calls.size());
  for (const auto& [key, last] : batch.changed_calls)
    raws.push_back(sanitized_payload(*last));
  std::vector<call_write> calls;
  calls.reserve(batch.changed_calls.size());
  std::size_t i = 0;
  for (const auto& [key, last] : batch.changed_calls)
    calls.push_back(call_write{key, &batch.calls.at(key), &raws[i++]});
  write_calls(tx, calls);
  std::vector<std::pair<call_key, const stored_call*>> marks;
  for (const auto& key : batch.marked_calls)
    if (!batch.changed_calls.contains(key))
      marks.emplace_back(key, &batch.calls.at(key));
  write_call_marks(tx, marks);
  std::vector<std::pair<call_key, const stored_voicemail*>> voicemails;
  for (const auto& key : batch.changed_voicemails)
    voicemails.emplace_back(key, &batch.voicemails.at(key));
  write_voicemails(tx, voicemails);
  std::vector<message_write> messages;
  for (const auto& m : batch.new_messages)
    messages.push_back(message_write{m.app_id, &m.row, &m.raw_payload});
  write_messages(tx, messages);
  std::map<user_key, dialpad_user> changed_users;
  for (const auto& key : batch.changed_users)
    changed_users.emplace(key, batch.users.at(key));
  write_dialpad_users(tx, changed_users);
  return results;
}

/// Records a handler failure on `ev`: attempts+1, the error, the next attempt
/// after a backoff, or dead. Answers true when it is now dead.
bool mark_failed(pqxx::transaction_base& tx, const claimed_event& ev, const std::string& error,
                 const process_settings& settings) {
  auto state = tx.exec_prepared1("event_mark_failed", ev.stored.id,
                                 utf8_text_prefix(error, max_error_length),
                                 retry_delay(ev.attempts + 1, jitter()).count(),
                                 settings.max_attempts)[0]
                 .as<std::string>();
  return state == "dead";
}

/// After a failed batch: each event on its own, in its own savepoint.
void apply_one_by_one(pqxx::transaction_base& tx, const std::vector<const claimed_event*>& events,
                      timestamp now, const process_settings& settings, process_report& report,
                      std::vector<done>& finished) {
  for (const auto* e : events) {
    std::string error;
    tx.exec("SAVEPOINT event");
    try {
      auto results = apply_events(tx, {e}, now);
      tx.exec("RELEASE SAVEPOINT event");
      finished.push_back(done{e, std::move(results.front()), 0});
      continue;
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::in_doubt_error&) {
      throw;
    } catch (const pqxx::transaction_rollback&) {
      throw;
    } catch (const pqxx::sql_error& ex) {
      if (is_fatal(ex))
        throw;
      error = "handler failed: SQLSTATE " + ex.sqlstate() + ": " + ex.what();
    } catch (const std::exception& ex) {
      error = std::string{"handler failed: "} + ex.what();
    }
    tx.exec("ROLLBACK TO SAVEPOINT event");
    ++report.failed;
    bool dead = mark_failed(tx, *e, error, settings);
    if (dead)
      ++report.dead;
    // Logged by the poller once the round committed; a round of many
    // failures names the first few (the rest are counted). The log gets the
    // error's first line only: PostgreSQL's DETAIL line can quote the
    // row's values (numbers, message text), which last_error keeps for
    // the internal API.
    if (report.failures.size() < max_logged_failures)
      report.failures.push_back(event_failure{
        e->stored.id, e->stored.app_id, e->attempts + 1, dead,
        utf8_text_prefix(std::string_view{error}.substr(0, error.find('\n')), max_logged_error)});
  }
}

/// What keeps claimed events for a later round, found in one round trip.
struct held_back {
  std::set<int32_t> busy;          ///< Serial lock keys another transaction holds.
  std::set<int32_t> busy_apps;     ///< App lock keys an erase holds.
  std::set<std::string> behind;    ///< Events with an earlier one of their call pending elsewhere.
};

/// Try-locks the serial keys of `events` (one poller at a time per call)
/// and finds the events that must wait for an earlier event of their call
/// that is still pending outside this claim (another poller holds it, or
/// its commit was not visible to the claim; only never attempted ones
/// count).
held_back hold_back(pqxx::transaction_base& tx, const std::vector<claimed_event>& events) {
  // Benchmarks only (scripts/bench.sh measures what the ordering costs).
  static const bool unordered = std::getenv("CTI_BENCH_NO_ORDERING") != nullptr;
  // Per lock key: the first claimed event of that call, when it has a
  // stored serial. A key whose first event must wait is not locked: its
  // events all wait, and the lock would only make the poller holding the
  // earlier event wait too.
  std::map<int32_t, std::string> first;
  std::string ids = "{";
  for (const auto& e : events) {
    bool ordered = !e.stored_serial.empty() && !unordered;
    if (!e.serial.empty())
      first.emplace(serial_lock_key(e.serial), ordered ? e.stored.id : std::string{});
    if (ordered) {
      if (ids.size() > 1)
        ids += ',';
      ids += e.stored.id;
    }
  }
  ids += '}';
  held_back out;
  std::set<int32_t> app_keys;
  for (const auto& e : events)
    app_keys.insert(serial_lock_key(e.stored.app_id));
  std::string apps = "{";
  for (auto k : app_keys) {
    if (apps.size() > 1)
      apps += ',';
    apps += std::to_string(k);
  }
  apps += '}';
  std::string keys = "{";
  std::string firsts = "{";
  for (const auto& [key, id] : first) {
    if (keys.size() > 1) {
      keys += ',';
      firsts += ',';
    }
    keys += std::to_string(key);
    firsts += id.empty() ? "NULL" : id;
  }
  keys += '}';
  firsts += '}';
  for (const auto& row : tx.exec_prepared("hold_back", keys, firsts, ids, apps)) {
    if (row[0].is_null())
      out.behind.insert(row[1].as<std::string>());
    else if (!row[1].is_null())
      out.busy_apps.insert(row[0].as<int32_t>());
    else
      out.busy.insert(row[0].as<int32_t>());
  }
  return out;
}

/// `budget`: the parameter that bounds the payload bytes a round loads.
/// Events are locked up to the LIMIT, but only those whose payloads before
/// them in claim order come to less than the budget are read (the first
/// one always, whatever its size); the rest stay pending, locked until the
/// round ends, and the last column tells how many were locked, so that the
/// poller comes back for them at once. The payloads are turned into text
/// only for the events read (the CTE keeps them as stored).
std::string claim_sql(const std::string& extra_condition, const std::string& budget) {
  return "WITH c AS (SELECT id, app_id, event_type, payload, attempts, received_at, serial,"
         " coalesce(payload_bytes, pg_column_size(payload))::int8 AS n"
         " FROM webhook_events WHERE state = 'pending'"
         " AND next_attempt_at <= now()" + extra_condition
         + " ORDER BY received_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)"
           " SELECT id, app_id, event_type, payload::text, attempts, " + us_of("now()") + ", "
         + us_of("received_at") + ", coalesce(serial, ''), locked FROM (SELECT c.*,"
           " sum(n) OVER w - n AS before, count(*) OVER () AS locked FROM c"
           " WINDOW w AS (ORDER BY received_at, id)) x WHERE before < " + budget
         + " ORDER BY received_at, id";
}

/// How far behind the newest events the next claim starts at the latest:
/// events become visible a little out of received_at order (group commit),
/// so the most recent moments are always looked at again.
constexpr int64_t visibility_margin_us = 2'000'000;

const std::string nil_uuid = "00000000-0000-0000-0000-000000000000";

/// (received_at µs, id) positions in claim order.
using position = std::pair<int64_t, std::string>;

} // namespace

std::string published_snapshot(const handler_result& r) {
  auto record = [](const std::string& json) -> const std::string& {
    static const std::string null = "null";
    return json.empty() ? null : json;
  };
  std::string out = R"({"t":)";
  out += nlohmann::json(r.published_type).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += R"(,"at":)";
  out += std::to_string(r.occurred_at_us);
  out += R"(,"c":)";
  out += record(r.call_json);
  out += R"(,"v":)";
  out += record(r.voicemail_json);
  out += R"(,"m":)";
  out += record(r.message_json);
  out += '}';
  return out;
}

bool read_published_snapshot(std::string_view text, applied_event& ev) {
  // ordered_json keeps each record's keys in the order they were written.
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (!j.is_object())
    return false;
  auto t = j.find("t");
  auto at = j.find("at");
  if (t == j.end() || !t->is_string() || t->get_ref<const std::string&>().empty() || at == j.end()
      || !at->is_number_integer())
    return false;
  auto record = [&j](const char* name) {
    auto it = j.find(name);
    return it == j.end() || !it->is_object() ? std::string{} : it->dump();
  };
  ev.event_type = t->get<std::string>();
  ev.occurred_at_us = at->get<int64_t>();
  ev.call_json = record("c");
  ev.voicemail_json = record("v");
  ev.message_json = record("m");
  return true;
}

int32_t serial_lock_key(const std::string& serial) {
  // FNV-1a, folded to the int4 of an advisory lock key. A collision only
  // makes an event wait for a later round. (The two-int lock form never
  // meets the one-bigint locks of the migrator.)
  uint32_t h = 2166136261u;
  for (unsigned char c : serial) {
    h ^= c;
    h *= 16777619u;
  }
  return static_cast<int32_t>(h);
}

std::vector<prepared_statement> processor_statements() {
  return {
    // The claim locks ids only; the payloads are turned into text for the
    // claimed rows alone (projected inside the scan, every row that SKIP
    // LOCKED passes over would be converted too).
    {"events_claim", claim_sql("", "$2::int8")},
    // The same for events received at least $3 ms ago (a scheduled round).
    {"events_claim_settled",
     claim_sql(" AND received_at <= now() - $3::int8 * interval '1 millisecond'", "$2::int8")},
    // The same from a position: (received_at, id) > ($2 µs, $3).
    {"events_claim_after",
     claim_sql(" AND (received_at, id) > (" + ts_param(2) + ", $3::uuid)", "$4::int8")},
    // The claimed events whose call has an earlier, never attempted event
    // pending outside the claim (NULL, id), then the serial locks another
    // transaction holds (key, NULL); a key whose first claimed event waits
    // is not locked (CASE keeps the lock from being tried first).
    // OFFSET 0 keeps the EXISTS a probe per claimed event (the serial index,
    // keyed by that event's serial): unnested into a semi-join, a plan made
    // with statistics from before a bulk load read the whole pending part
    // of the index once and compared every claimed event with every pending
    // row — 1,000 × 99,000 comparisons, 25 s for one round of a drain.
    // And the probe must be the serial index's whatever the statistics say.
    // With those of a queue that was all processed when last analysed and a
    // backlog since (a quiet spell, then a burst or an outage's catch-up),
    // every pending-only index looks empty, the three tie, and the cached
    // plan probed the received-at index (every pending event older than
    // the claimed one: 27 ms for a round of 200) or the unprocessed one
    // (no index condition: 2.3 s); processing then fell behind a 9,000/s
    // ingest for good. So the order asked for is the serial index's own,
    // and the serial is bounded by two comparisons rather than equated (an
    // equality would make it a constant, and any (received_at, id) index
    // would give that order): every other index needs a sort, which a round
    // does not allow (processing_plan_settings).
    {"hold_back",
     "WITH behind AS (SELECT me.id FROM unnest($3::uuid[]) AS x(id)"
     " JOIN webhook_events me ON me.id = x.id"
     " WHERE EXISTS (SELECT 1 FROM webhook_events w WHERE w.serial >= me.serial AND w.serial <= me.serial"
     " AND w.state = 'pending' AND w.attempts = 0 AND (w.received_at, w.id) < (me.received_at, me.id)"
     " AND w.id <> ALL($3::uuid[]) ORDER BY w.serial, w.received_at, w.id OFFSET 0))"
     " SELECT NULL::int4, id::text FROM behind"
     " UNION ALL"
     " SELECT y.k, NULL::text FROM unnest($1::int4[], $2::uuid[]) AS y(k, first_id)"
     " WHERE CASE WHEN y.first_id IS NOT NULL AND y.first_id IN (SELECT id FROM behind) THEN false"
     " ELSE NOT pg_try_advisory_xact_lock(" + std::to_string(serial_lock_class) + ", y.k) END"
     // The apps of the claim, held shared (see app_lock_class): one an
     // erase holds comes back (k, 'app'), and its events wait.
     " UNION ALL"
     " SELECT a.k, 'app'::text FROM unnest($4::int4[]) AS a(k)"
     " WHERE NOT pg_try_advisory_xact_lock_shared(" + std::to_string(app_lock_class) + ", a.k)"},
    // `published`: what the subscribers were sent (published_snapshot),
    // its JSON text as written (json_to_recordset hands a nested object
    // to a text column as its text; jsonb would reorder its keys).
    {"events_mark_processed",
     "UPDATE webhook_events AS w SET state = 'processed', outcome = x.o, processed_at = clock_timestamp(),"
     " attempts = w.attempts + 1, last_error = NULL, seq = COALESCE(x.s, w.seq),"
     " published = CASE WHEN x.s IS NULL THEN w.published ELSE x.p END,"
     " event_type = COALESCE(x.t, w.event_type)"
     " FROM json_to_recordset($1::json) AS x(id uuid, o text, s bigint, p text, t text)"
     " WHERE w.id = x.id"},
    {"event_mark_failed",
     "UPDATE webhook_events SET attempts = attempts + 1, last_error = $2,"
     " next_attempt_at = now() + $3::bigint * interval '1 millisecond',"
     " state = CASE WHEN attempts + 1 >= $4 THEN 'dead' ELSE 'pending' END"
     " WHERE id = $1::uuid RETURNING state"},
    {"app_take_seq",
     "UPDATE apps SET last_seq = last_seq + $2 WHERE id = $1::uuid RETURNING last_seq"},
  };
}

const std::string& processing_plan_settings() {
  static const std::string sql =
    "SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off;"
    " SET LOCAL enable_bitmapscan = off; SET LOCAL enable_hashjoin = off;"
    " SET LOCAL enable_mergejoin = off; SET LOCAL enable_sort = off;"
    " SET LOCAL enable_incremental_sort = off; SET LOCAL jit = off";
  return sql;
}

process_report process_batch(pqxx::connection_base& conn, const process_settings& settings,
                             bool refresh_plans) {
  process_report report;
  pqxx::work tx{conn};
  // The round's statements run on plans cached per connection (planning
  // them afresh every round cost more PostgreSQL time than executing
  // them). What keeps a cached plan right while the tables grow and their
  // statistics are stale (see processing_plan_settings) is that no plan
  // can scan a table, sort a backlog or join other than by index probes;
  // what keeps its index choice right is that the caller replans every
  // plan_refresh_interval (a plan made while a table was empty may probe
  // it through any index that starts with app_id).
  static const std::string refresh_and_settings = "DISCARD PLANS; " + processing_plan_settings();
  // (One round trip with the lock timeout.)
  tx.exec((refresh_plans ? refresh_and_settings : processing_plan_settings())
          + "; SET LOCAL lock_timeout = " + std::to_string(settings.lock_timeout_ms));
  // (At least 1: the first event is always read, whatever its size.)
  const auto max_bytes = static_cast<int64_t>(std::clamp<uint64_t>(
    settings.max_bytes, 1, std::numeric_limits<int64_t>::max()));
  auto claimed = settings.has_after
                   ? tx.exec_prepared("events_claim_after", settings.batch_size,
                                      settings.after_us, settings.after_id, max_bytes)
                 : settings.min_age_ms > 0
                   ? tx.exec_prepared("events_claim_settled", settings.batch_size, max_bytes,
                                      static_cast<int64_t>(settings.min_age_ms))
                   : tx.exec_prepared("events_claim", settings.batch_size, max_bytes);
  report.claimed = static_cast<uint32_t>(claimed.size());
  if (!claimed.empty())
    report.left_over = static_cast<uint32_t>(claimed[0][8].as<int64_t>() - claimed.size());
  if (claimed.empty())
    return report; // the read-only transaction just ends
  // Whole milliseconds, like event times (see representable() in
  // event_model.cpp): a record stamped with it lists in the order shown.
  const int64_t now_us = claimed[0][5].as<int64_t>();
  const timestamp now{std::chrono::microseconds{now_us - now_us % 1000}};
  // The next round may start after this one's last event, but never after
  // an event this one left for later, nor within the visibility margin.
  position next{claimed[claimed.size() - 1][6].as<int64_t>(),
                claimed[claimed.size() - 1][0].as<std::string>()};
  next = std::min(next, position{now.time_since_epoch().count() - visibility_margin_us, nil_uuid});
  std::vector<claimed_event> events;
  events.reserve(claimed.size());
  for (const auto& row : claimed) {
    claimed_event e;
    e.stored.id = row[0].as<std::string>();
    e.stored.app_id = row[1].as<std::string>();
    e.stored.event_type = row[2].as<std::string>();
    report.payload_bytes += row[3].size();
    e.stored.payload = nlohmann::json::parse(row[3].c_str(), nullptr, false);
    e.attempts = row[4].as<int>();
    e.stored_serial = row[7].as<std::string>();
    e.received_us = row[6].as<int64_t>();
    e.data = extract_event(e.stored.payload);
    // The stored type is authoritative: derived at ingest, or the published
    // name a poller stored once it applied the event (call.resumed).
    e.data.event_type = e.stored.event_type;
    e.serial = serial_key(e.stored, e.data);
    events.push_back(std::move(e));
  }

  // One poller at a time per call: an event whose call another poller is
  // applying right now waits for a later round (its claim ends with ours).
  // Arrival order per call: an event also waits while an earlier event of
  // its call is pending outside this claim (the poller holding it may not
  // have locked the call yet, and must apply it first).
  auto [busy, busy_apps, behind] = hold_back(tx, events);
  std::vector<const claimed_event*> todo;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    if (busy_apps.count(serial_lock_key(e.stored.app_id)) > 0) {
      // An erase holds the app (it may run for seconds): the next round
      // starts past its events, so the other apps' events behind them go
      // on. The erase's commit has every poller rescan from the oldest
      // (db/api_repo.cpp erase), and the periodic tick does too.
      ++report.deferred;
      ++report.erasing;
    } else if ((!e.serial.empty() && busy.count(serial_lock_key(e.serial)) > 0)
               || behind.count(e.stored.id) > 0) {
      ++report.deferred;
      next = std::min(next, position{claimed[static_cast<pqxx::result::size_type>(i)][6].as<int64_t>(),
                                     nil_uuid});
    } else {
      todo.push_back(&e);
    }
  }
  report.has_next = true;
  report.next_us = next.first;
  report.next_id = next.second;

  std::vector<done> finished;
  finished.reserve(todo.size());
  bool batch_failed = false;
  if (!todo.empty()) {
    tx.exec("SAVEPOINT batch");
    try {
      auto results = apply_events(tx, todo, now);
      tx.exec("RELEASE SAVEPOINT batch");
      for (std::size_t i = 0; i < todo.size(); ++i)
        finished.push_back(done{todo[i], std::move(results[i]), 0});
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::in_doubt_error&) {
      throw;
    } catch (const pqxx::transaction_rollback&) {
      throw;
    } catch (const pqxx::sql_error& e) {
      if (is_fatal(e))
        throw;
      batch_failed = true;
    } catch (const std::exception&) {
      batch_failed = true;
    }
  }
  if (batch_failed) {
    // Find the culprit: every event again, alone. At most alone_max of
    // them: each savepoint that writes takes a subtransaction id, and past
    // 64 in one transaction every snapshot taken anywhere in the database
    // gets slower. The rest go back to the queue (in claim order, so each
    // call's events stay in arrival order) for the next round.
    tx.exec("ROLLBACK TO SAVEPOINT batch");
    if (settings.alone_max > 0 && todo.size() > settings.alone_max) {
      for (auto i = static_cast<std::size_t>(settings.alone_max); i < todo.size(); ++i) {
        ++report.deferred;
        next = std::min(next, position{todo[i]->received_us, nil_uuid});
      }
      todo.resize(settings.alone_max);
      report.next_us = next.first;
      report.next_id = next.second;
    }
    apply_one_by_one(tx, todo, now, settings, report, finished);
  }

  // Stream numbers: per app, in app-id order (a fixed lock order, so two
  // pollers never deadlock on app rows), contiguous in processing order.
  std::map<std::string, std::vector<done*>> applied_by_app;
  for (auto& d : finished)
    if (d.result.outcome == event_outcome::applied)
      applied_by_app[d.ev->stored.app_id].push_back(&d);
  for (auto& [app, applied] : applied_by_app) {
    auto last = tx.exec_prepared1("app_take_seq", app, static_cast<int64_t>(applied.size()))[0]
                  .as<int64_t>();
    auto first = last - static_cast<int64_t>(applied.size()) + 1;
    for (std::size_t i = 0; i < applied.size(); ++i)
      applied[i]->seq = first + static_cast<int64_t>(i);
  }
  if (!finished.empty()) {
    // [{"id", "o", "s", "p", "t"}]: written by hand so that the records'
    // JSON, already text, goes in as it is (ids and outcomes need no
    // escaping). "t": the published name where it is not the stored type
    // (Dialpad's `connected` on a held call is call.resumed), so the events
    // API shows what was published.
    std::string marks = "[";
    for (const auto& d : finished) {
      if (marks.size() > 1)
        marks += ',';
      marks += R"({"id":")";
      marks += d.ev->stored.id;
      marks += R"(","o":")";
      marks += to_string(d.result.outcome);
      marks += '"';
      if (d.seq > 0) {
        marks += R"(,"s":)";
        marks += std::to_string(d.seq);
        marks += R"(,"p":)";
        marks += published_snapshot(d.result);
        if (!d.result.published_type.empty() && d.result.published_type != d.ev->stored.event_type) {
          marks += R"(,"t":)";
          marks += nlohmann::json(d.result.published_type).dump();
        }
      }
      marks += '}';
    }
    marks += ']';
    tx.exec_prepared("events_mark_processed", marks);
  }
  tx.commit();

  report.received_us.reserve(finished.size());
  for (const auto& d : finished)
    report.received_us.push_back(d.ev->received_us);
  for (auto& [app, applied] : applied_by_app) {
    for (auto* d : applied) {
      applied_event a;
      a.app_id = app;
      a.seq = d->seq;
      a.event_id = d->ev->stored.id;
      a.event_type = std::move(d->result.published_type);
      a.occurred_at_us = d->result.occurred_at_us;
      a.call_json = std::move(d->result.call_json);
      a.voicemail_json = std::move(d->result.voicemail_json);
      a.message_json = std::move(d->result.message_json);
      report.applied.push_back(std::move(a));
    }
  }
  return report;
}

} // namespace cti::db
