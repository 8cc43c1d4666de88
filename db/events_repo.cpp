#include "db/events_repo.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "db/api_repo.hpp"
#include "db/sql_params.hpp"
#include "domain/uuid.hpp"

namespace cti::db {

namespace {

using key = std::pair<std::string, std::string>; // (app_id, dialpad_event_id)

/// The API state: `failed` is derived (pending after a failed attempt).
const std::string api_state =
  "CASE WHEN state = 'pending' AND attempts > 0 THEN 'failed' ELSE state END";

const std::string event_columns =
  "id, app_id, dialpad_event_id, event_type, " + api_state
  + ", outcome, attempts, last_error, seq, " + us_of("received_at") + ", "
  + us_of("processed_at") + ", CASE WHEN state = 'pending' THEN " + us_of("next_attempt_at")
  + " END";

event_record to_event(const pqxx::row& r, bool with_payload) {
  event_record e;
  e.id = r[0].as<std::string>();
  e.app_id = r[1].as<std::string>();
  e.dialpad_event_id = r[2].as<std::string>();
  e.event_type = r[3].as<std::string>();
  e.state = r[4].as<std::string>();
  e.outcome = opt<std::string>(r[5]);
  e.attempts = r[6].as<int>();
  e.last_error = opt<std::string>(r[7]);
  e.seq = opt<int64_t>(r[8]);
  e.received_at = time_of(r[9]);
  e.processed_at = opt_time(r[10]);
  e.next_attempt_at = opt_time(r[11]);
  if (with_payload)
    e.payload = opt<std::string>(r[12]);
  return e;
}

/// SQL condition for an API state (validated by is_event_state).
std::string state_condition(const std::string& state) {
  if (state == "pending")
    return "state = 'pending' AND attempts = 0";
  if (state == "failed")
    return "state = 'pending' AND attempts > 0";
  if (state == "dead")
    return "state = 'dead'";
  return "state = 'processed'";
}

} // namespace

namespace {

/// What one run of the insert statement said about some rows.
struct insert_outcome {
  std::map<key, std::string> inserted; ///< New rows' ids.
  std::set<std::string> present;       ///< Apps whose rows the statement locked.
};

/// Runs the insert statement for `items[rows]` (in that order).
insert_outcome insert_rows(pqxx::transaction_base& tx, const std::vector<ingest_item>& items,
                           const std::vector<std::size_t>& rows) {
  // The whole batch travels as one JSON array parameter of one prepared
  // statement: no re-planning per batch size, no per-value parameters. The
  // payloads are spliced in as they are (each was parsed as a JSON object by
  // the intake, so the array is valid JSON).
  std::string batch;
  std::size_t bytes = 2;
  for (auto r : rows)
    bytes += items[r].payload.size() + items[r].dialpad_event_id.size() + 128;
  batch.reserve(bytes);
  batch += '[';
  std::set<std::string> apps;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& it = items[rows[r]];
    apps.insert(it.app_id);
    if (r > 0)
      batch += ',';
    // The event's id is time-ordered: the primary key's inserts go to the
    // right edge of its index, not to a random page of it.
    batch += R"({"u":")";
    batch += new_uuid_v7(it.received_at_us / 1000);
    batch += R"(","a":")";
    batch += it.app_id; // a UUID: nothing to escape
    batch += R"(","i":)";
    batch += nlohmann::json(it.dialpad_event_id).dump(-1, ' ', false,
                                                       nlohmann::json::error_handler_t::replace);
    batch += R"(,"t":)";
    batch += nlohmann::json(it.event_type).dump(-1, ' ', false,
                                                nlohmann::json::error_handler_t::replace);
    batch += R"(,"f":")";
    batch += it.format; // one of three fixed words
    batch += R"(","r":)";
    batch += std::to_string(it.received_at_us);
    if (!it.serial.empty()) {
      batch += R"(,"s":)";
      batch += nlohmann::json(it.serial).dump(-1, ' ', false,
                                              nlohmann::json::error_handler_t::replace);
    }
    batch += R"(,"n":)";
    batch += std::to_string(std::min<std::size_t>(it.payload.size(), std::numeric_limits<int32_t>::max()));
    batch += R"(,"p":)";
    batch += it.payload;
    batch += '}';
  }
  batch += ']';
  std::string app_array = "{";
  for (const auto& a : apps) {
    if (app_array.size() > 1)
      app_array += ',';
    app_array += a; // a UUID: nothing to quote
  }
  app_array += '}';
  insert_outcome out;
  for (const auto& row : tx.exec_prepared("insert_events", batch, app_array)) {
    if (row[0].is_null())
      out.present.insert(row[1].as<std::string>());
    else
      out.inserted.emplace(key{row[1].as<std::string>(), row[2].as<std::string>()},
                           row[0].as<std::string>());
  }
  return out;
}

} // namespace

std::vector<ingest_result> insert_events(pqxx::transaction_base& tx,
                                         const std::vector<ingest_item>& items) {
  // One row per key: a repeat inside the batch is a duplicate of the first.
  // App ids are compared as the database writes them (lowercase): the
  // statement casts whatever form it is given.
  std::vector<key> keys;
  keys.reserve(items.size());
  for (const auto& it : items)
    keys.push_back(key{lowercase_uuid(it.app_id), it.dialpad_event_id});
  std::map<key, std::size_t> first;
  for (std::size_t i = 0; i < items.size(); ++i)
    first.emplace(keys[i], i);
  // Rows go in key order, not arrival order: two batches that carry some
  // of the same new events (retries after a stall, one delivery reaching
  // two nodes) then take the unique index's entries in one order and never
  // wait for each other in a cycle (a deadlock would answer one batch 503).
  // Arrival order means nothing here: each row carries its received_at.
  std::vector<std::size_t> todo;
  todo.reserve(first.size());
  for (const auto& [k, i] : first)
    todo.push_back(i);
  std::map<key, ingest_result> result;
  // A row that was there when the statement ran may be gone when its id is
  // looked up (its app deleted, or the event past its retention, in
  // between): such rows go through the statement again, which stores them
  // anew or finds their app gone. Anything still unsettled after that is
  // an error of the whole batch, as before.
  for (int pass = 0; !todo.empty(); ++pass) {
    if (pass == 3)
      throw pqxx::unexpected_rows("event neither inserted nor found: "
                                  + items[todo.front()].dialpad_event_id);
    auto outcome = insert_rows(tx, items, todo);
    std::vector<std::size_t> again;
    for (auto r : todo) {
      const key& k = keys[r];
      ingest_result res;
      if (auto in = outcome.inserted.find(k); in != outcome.inserted.end()) {
        res.event_id = in->second;
      } else if (outcome.present.count(k.first) == 0) {
        res.app_gone = true; // deleted since the request found it
      } else {
        // There before: look its id up (a fresh statement sees rows
        // committed by a concurrent batch that won the race).
        auto found = tx.exec_prepared("event_id_by_key", items[r].app_id, k.second);
        if (found.empty()) {
          again.push_back(r);
          continue;
        }
        res.event_id = found[0][0].as<std::string>();
        res.duplicate = true;
      }
      result.emplace(k, std::move(res));
    }
    todo = std::move(again);
  }
  std::vector<ingest_result> out(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const key& k = keys[i];
    out[i] = result.at(k);
    if (first.at(k) != i)
      out[i].duplicate = !out[i].app_gone;
  }
  return out;
}

bool is_event_state(const std::string& s) {
  return s == "pending" || s == "failed" || s == "processed" || s == "dead";
}

std::vector<prepared_statement> events_repo_statements() {
  return {
    // Both partial indexes: cheap while the backlog is small, and
    // proportional to it when it is not.
    {"queue_counts",
     "SELECT (SELECT count(*) FROM webhook_events WHERE state = 'pending'),"
     " (SELECT count(*) FROM webhook_events WHERE state = 'dead')"},
    {"event_find", "SELECT " + event_columns + ", payload::text FROM webhook_events WHERE id = $1::uuid"},
    // Replaying an event that took a seq: its number stays in the stream,
    // held by a copy of the event as it was applied (what was pushed then),
    // and the event itself goes back to the queue without one. The app row
    // first (key share: what the copy's foreign key takes anyway), then the
    // event row, as erase takes them (a deadlock otherwise); the event row
    // is locked whatever its seq, so a poller applying it right now is
    // waited for and its seq seen. Then two statements: the copy cannot take
    // the seq while the event still holds it (the unique index is checked
    // row by row).
    {"event_lock_for_replay",
     "SELECT w.seq, w.published, w.format = 'internal' AND w.dialpad_event_id LIKE 'replayed:%'"
     " FROM (SELECT 1 FROM apps WHERE id = (SELECT app_id FROM webhook_events WHERE id = $1::uuid)"
     " FOR KEY SHARE) AS a, webhook_events w WHERE w.id = $1::uuid FOR UPDATE OF w"},
    {"event_release_seq",
     "UPDATE webhook_events SET seq = NULL, published = NULL WHERE id = $1::uuid"},
    {"event_keep_stream_slot",
     "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format, received_at,"
     " state, processed_at, outcome, attempts, seq, published, redacted_at, payload_bytes)"
     // (The random end: a webhook cannot take the copy's id beforehand.)
     " SELECT app_id, 'replayed:' || id || ':' || $2::bigint || ':' || left(gen_random_uuid()::text, 8),"
     " event_type, payload, 'internal', received_at,"
     " 'processed', COALESCE(processed_at, received_at), 'applied', GREATEST(attempts, 1), $2::bigint, $3,"
     " redacted_at, payload_bytes FROM webhook_events WHERE id = $1::uuid"},
    {"event_replay",
     "WITH r AS (UPDATE webhook_events SET state = 'pending', outcome = NULL, processed_at = NULL,"
     " attempts = 0, last_error = NULL, next_attempt_at = now() WHERE id = $1::uuid"
     " RETURNING *), n AS (SELECT pg_notify('" + std::string{events_channel} + "', '"
       + rescan_payload + "') FROM r)"
     " SELECT " + event_columns + ", NULL::text FROM r, (SELECT count(*) FROM n) AS notified"},
  };
}

queue_stats queue_counts(pqxx::transaction_base& tx) {
  auto row = tx.exec_prepared1("queue_counts");
  queue_stats out;
  out.pending = row[0].as<uint64_t>();
  out.dead = row[1].as<uint64_t>();
  return out;
}

event_page list_events(pqxx::transaction_base& tx, const event_filter& f) {
  // The few shapes of this query are fixed text: the state condition comes
  // from a closed list, every value travels as a parameter.
  std::string sql = "SELECT " + event_columns + ", NULL::text FROM webhook_events WHERE app_id = $1::uuid";
  if (f.state)
    sql += " AND " + state_condition(*f.state);
  sql_params p;
  p.text(f.app_id);
  if (f.page.after) {
    sql += " AND (received_at, id) < (" + ts_param(2) + ", $3::uuid)";
    p.int64(f.page.after->time_us).text(f.page.after->id);
  }
  sql += " ORDER BY received_at DESC, id DESC LIMIT " + std::to_string(f.page.limit + 1);
  auto res = tx.exec_params(sql, p.dynamic());
  event_page page;
  for (const auto& row : res) {
    if (static_cast<int>(page.rows.size()) == f.page.limit) {
      const auto& last = page.rows.back();
      page.next = keyset{last.received_at.time_since_epoch().count(), last.id};
      break;
    }
    page.rows.push_back(to_event(row, false));
  }
  return page;
}

std::optional<event_record> find_event(pqxx::transaction_base& tx, const std::string& id) {
  auto res = tx.exec_prepared("event_find", id);
  if (res.empty())
    return std::nullopt;
  return to_event(res[0], true);
}

std::optional<event_record> replay_event(pqxx::transaction_base& tx, const std::string& id,
                                         const std::string& actor, const std::string& request_id) {
  auto locked = tx.exec_prepared("event_lock_for_replay", id);
  if (locked.empty())
    return std::nullopt;
  const auto& row = locked[0];
  if (row[2].as<bool>())
    throw api_error{errc::conflict,
                    "this event keeps a replayed event's place in the stream; replay that event"
                    " itself"};
  if (!row[0].is_null()) {
    tx.exec_prepared("event_release_seq", id);
    tx.exec_prepared("event_keep_stream_slot", id, row[0].as<int64_t>(),
                     row[1].is_null() ? nullptr : row[1].c_str());
  }
  auto res = tx.exec_prepared("event_replay", id);
  if (res.empty())
    return std::nullopt;
  auto ev = to_event(res[0], false);
  tx.exec_params("INSERT INTO activity_audit_log (app_id, actor, action, details, request_id)"
                 " VALUES ($1::uuid, $2, 'event.replayed', $3::jsonb, $4)",
                 ev.app_id, actor,
                 nlohmann::json{{"event_id", ev.id}, {"event_type", ev.event_type}}.dump(),
                 request_id.empty() ? nullptr : request_id.c_str());
  return ev;
}

} // namespace cti::db
