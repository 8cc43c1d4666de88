#include "db/api_repo.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "db/event_handlers.hpp"
#include "db/events_repo.hpp"
#include "db/processor.hpp"
#include "db/sql_params.hpp"
#include "domain/api_objects.hpp"
#include "domain/call_status.hpp"
#include "domain/event_model.hpp"
#include "domain/pagination.hpp"
#include "domain/redact.hpp"
#include "domain/seal.hpp"
#include "domain/secure_random.hpp"
#include "domain/uuid.hpp"

namespace cti::db {

namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

[[noreturn]] void refuse(errc code, std::string message) {
  throw api_error{code, std::move(message)};
}

std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

ojson opt_time_json(const pqxx::field& f) {
  return f.is_null() ? ojson(nullptr) : ojson(format_rfc3339(time_of(f)));
}

template <class T>
ojson opt_json(const pqxx::field& f) {
  return f.is_null() ? ojson(nullptr) : ojson(f.as<T>());
}

/// Optional argument accessors.
std::optional<std::string> arg_text(const json& a, const char* name) {
  auto it = a.find(name);
  if (it == a.end() || !it->is_string())
    return std::nullopt;
  return it->get<std::string>();
}

std::optional<int64_t> arg_int(const json& a, const char* name) {
  auto it = a.find(name);
  if (it == a.end() || !it->is_number_integer())
    return std::nullopt;
  return it->get<int64_t>();
}

std::optional<bool> arg_bool(const json& a, const char* name) {
  auto it = a.find(name);
  if (it == a.end() || !it->is_boolean())
    return std::nullopt;
  return it->get<bool>();
}

/// Runs `sql` as a statement prepared on this connection the first time
/// its text is seen (the REST queries come in a few dozen shapes: the
/// filters present, a cursor or not), so repeat requests skip parsing and
/// planning. Each DB worker is a thread owning one connection; the cache is
/// per thread and forgets everything when the connection changes.
pqxx::result exec(pqxx::transaction_base& tx, const std::string& sql, sql_params& p) {
  struct statement_cache {
    const void* conn = nullptr;
    int backend = 0;
    std::unordered_map<std::string, std::string> names;
  };
  thread_local statement_cache cache;
  constexpr std::size_t max_statements = 512;
  auto& conn = tx.conn();
  if (cache.conn != &conn || cache.backend != conn.backendpid()) {
    cache.conn = &conn;
    cache.backend = conn.backendpid();
    cache.names.clear();
  }
  auto it = cache.names.find(sql);
  if (it == cache.names.end()) {
    if (cache.names.size() >= max_statements)
      return tx.exec_params(sql, p.dynamic());
    auto name = "api_" + std::to_string(cache.names.size());
    conn.prepare(name, sql);
    it = cache.names.emplace(sql, std::move(name)).first;
  }
  return tx.exec_prepared(it->second, p.dynamic());
}

/// Where a list's cursor comes from: the sort time's column (selected as
/// epoch microseconds with us_of, or, for the call list, as Postgres's
/// timestamptz text) and the id's column.
struct cursor_columns {
  int time = 0;
  int id = 0;
  bool pg_text_time = false;

  int64_t time_us(const pqxx::row& r) const {
    return pg_text_time ? pg_time_of(r[time]).time_since_epoch().count() : r[time].as<int64_t>();
  }
};

/// One keyset page read from `sql` + ORDER BY + LIMIT: rows rendered by
/// `render`, the cursor taken from the last row.
template <class Render>
std::string page_of(pqxx::transaction_base& tx, std::string sql, sql_params& p,
                    const json& args, const std::string& scope, cursor_columns cols,
                    Render render) {
  int limit = static_cast<int>(arg_int(args, "limit").value_or(default_page_limit));
  sql += " LIMIT " + std::to_string(limit + 1);
  auto res = exec(tx, sql, p);
  std::vector<std::string> rows;
  rows.reserve(std::min<std::size_t>(res.size(), static_cast<std::size_t>(limit)));
  std::optional<std::string> next;
  for (std::size_t i = 0; i < res.size(); ++i) {
    if (static_cast<int>(i) == limit) {
      const auto& last = res[i - 1];
      next = encode_cursor(keyset{cols.time_us(last), last[cols.id].as<std::string>()}, scope);
      break;
    }
    rows.push_back(render(res[i]));
  }
  return page_json(rows, next, next.has_value());
}

/// `AND (<time>, <id>) < (after)` when the page has a cursor.
void add_after(std::string& sql, sql_params& p, int& n, const json& args,
               const std::string& time_col, const std::string& id_col) {
  auto after_us = arg_int(args, "after_us");
  auto after_id = arg_text(args, "after_id");
  if (!after_us || !after_id)
    return;
  sql += " AND (" + time_col + ", " + id_col + ") < (" + ts_param(n) + ", $"
         + std::to_string(n + 1) + "::uuid)";
  p.int64(*after_us).text(*after_id);
  n += 2;
}

void audit(pqxx::transaction_base& tx, const db_query& q, const std::string& action,
           const ojson& details) {
  tx.exec_params("INSERT INTO activity_audit_log (app_id, actor, action, details, request_id)"
                 " VALUES ($1::uuid, 'internal', $2, $3::jsonb, $4)",
                 q.app_id.empty() ? nullptr : q.app_id.c_str(), action, dump(details),
                 q.request_id.empty() ? nullptr : q.request_id.c_str());
}

/// 404 unless the app exists; optionally locks its row.
void require_app(pqxx::transaction_base& tx, const std::string& app_id, bool lock = false) {
  auto res = tx.exec_params(std::string{"SELECT 1 FROM apps WHERE id = $1::uuid"}
                              + (lock ? " FOR UPDATE" : ""),
                            app_id);
  if (res.empty())
    refuse(errc::not_found, "no such app");
}

// -- apps -----------------------------------------------------------------------

const std::string app_columns = "id, name, is_active, " + us_of("created_at");

std::string app_object(const pqxx::row& r) {
  ojson j;
  j["id"] = r[0].as<std::string>();
  j["name"] = r[1].as<std::string>();
  j["is_active"] = r[2].as<bool>();
  j["created_at"] = format_rfc3339(time_of(r[3]));
  return dump(j);
}

db_answer app_create(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  bool active = !a.contains("is_active") || a["is_active"].get<bool>();
  auto res = tx.exec_params("INSERT INTO apps (name, is_active) VALUES ($1, $2) RETURNING "
                              + app_columns,
                            *arg_text(a, "name"), active);
  db_query audited = q;
  audited.app_id = res[0][0].as<std::string>();
  json details = {{"name", *arg_text(a, "name")}};
  if (!active)
    details["is_active"] = false;
  audit(tx, audited, "app.created", details);
  return {201, app_object(res[0]), {}};
}

db_answer app_list(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  std::string sql = "SELECT " + app_columns + " FROM apps WHERE true";
  sql_params p;
  int n = 1;
  add_after(sql, p, n, a, "created_at", "id");
  sql += " ORDER BY created_at DESC, id DESC";
  return {200, page_of(tx, sql, p, a, cursor_scope(q.kind, q.app_id), {3, 0}, app_object), {}};
}

db_answer app_get(pqxx::transaction_base& tx, const db_query& q) {
  auto res = tx.exec_params("SELECT " + app_columns + " FROM apps WHERE id = $1::uuid", q.app_id);
  if (res.empty())
    refuse(errc::not_found, "no such app");
  return {200, app_object(res[0]), {}};
}

/// Every app (newest first, at most 1000) with what the operator console
/// shows: key state, Dialpad connection, stream position and the events
/// not processed (read through the partial index of unprocessed events).
constexpr std::size_t console_apps_max = 1000;

db_answer console_apps(pqxx::transaction_base& tx) {
  auto time_or_null = [](const pqxx::field& f) -> ojson {
    if (f.is_null())
      return nullptr;
    return format_rfc3339(time_of(f));
  };
  auto res = tx.exec(
    "SELECT a.id, a.name, a.is_active, " + us_of("a.created_at") + ", a.api_key_id IS NOT NULL,"
    " a.api_key_hint, " + us_of("a.api_key_created_at") + ", " + us_of("a.api_key_rotated_at") + ", "
    + us_of("a.api_key_revoked_at") + ", a.last_seq, d.status, d.environment, d.dialpad_org_id,"
    " COALESCE(e.pending, 0), COALESCE(e.failed, 0), COALESCE(e.dead, 0)"
    " FROM apps a LEFT JOIN dialpad_connections d ON d.app_id = a.id"
    " LEFT JOIN LATERAL (SELECT count(*) FILTER (WHERE state = 'pending' AND attempts = 0) AS pending,"
    "   count(*) FILTER (WHERE state = 'pending' AND attempts > 0) AS failed,"
    "   count(*) FILTER (WHERE state = 'dead') AS dead"
    "   FROM webhook_events w WHERE w.app_id = a.id AND w.state <> 'processed') e ON true"
    " ORDER BY a.created_at DESC, a.id DESC LIMIT " + std::to_string(console_apps_max + 1));
  ojson data = ojson::array();
  for (const auto& r : res) {
    if (data.size() == console_apps_max)
      break; // the one past the limit only says there are more
    ojson app;
    app["id"] = r[0].as<std::string>();
    app["name"] = r[1].as<std::string>();
    app["is_active"] = r[2].as<bool>();
    app["created_at"] = format_rfc3339(time_of(r[3]));
    app["api_key"] = {{"has_key", r[4].as<bool>()},
                      {"key_hint", r[5].is_null() ? ojson(nullptr) : ojson(r[5].as<std::string>())},
                      {"created_at", time_or_null(r[6])},
                      {"rotated_at", time_or_null(r[7])},
                      {"revoked_at", time_or_null(r[8])}};
    if (r[10].is_null()) {
      app["dialpad"] = nullptr;
    } else {
      app["dialpad"] = {{"status", r[10].as<std::string>()},
                        {"environment", r[11].as<std::string>()},
                        {"dialpad_org_id", r[12].is_null() ? ojson(nullptr) : ojson(r[12].as<int64_t>())}};
    }
    app["events"] = {{"last_seq", r[9].as<int64_t>()},
                     {"pending", r[13].as<int64_t>()},
                     {"failed", r[14].as<int64_t>()},
                     {"dead", r[15].as<int64_t>()}};
    data.push_back(std::move(app));
  }
  bool truncated = res.size() > console_apps_max;
  return {200, dump(ojson{{"data", data}, {"truncated", truncated}}), {}};
}

db_answer app_patch(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  auto name = arg_text(a, "name");
  auto active = arg_bool(a, "is_active");
  sql_params p;
  p.text(q.app_id).text(name).text(active ? std::optional<std::string>{*active ? "true" : "false"}
                                          : std::nullopt);
  auto res = tx.exec_params("UPDATE apps SET name = COALESCE($2, name),"
                            " is_active = COALESCE($3::boolean, is_active)"
                            " WHERE id = $1::uuid RETURNING " + app_columns,
                            p.dynamic());
  if (res.empty())
    refuse(errc::not_found, "no such app");
  ojson details = ojson::object();
  if (name)
    details["name"] = *name;
  if (active)
    details["is_active"] = *active;
  audit(tx, q, "app.updated", details);
  return {200, app_object(res[0]), {}};
}

// -- Dialpad connection -----------------------------------------------------------

const std::string connection_columns =
  "dialpad_org_id, environment, status, webhook_secret_sealed IS NOT NULL,"
  " allow_unsigned_webhooks, array_to_json(scopes)::text, " + us_of("expires_at")
  + ", sync_job_id, sync_state, sync_calls_imported, sync_error, " + us_of("updated_at");

std::string connection_object(const pqxx::row& r) {
  ojson j;
  j["dialpad_org_id"] = opt_json<int64_t>(r[0]);
  j["environment"] = r[1].as<std::string>();
  j["status"] = r[2].as<std::string>();
  j["has_webhook_secret"] = r[3].as<bool>();
  j["allow_unsigned_webhooks"] = r[4].as<bool>();
  j["scopes"] = ojson::parse(r[5].is_null() ? std::string{"[]"} : r[5].as<std::string>());
  j["expires_at"] = opt_time_json(r[6]);
  if (r[7].is_null()) {
    j["sync"] = nullptr;
  } else {
    j["sync"] = {{"job_id", r[7].as<std::string>()},
                 {"state", r[8].as<std::string>()},
                 {"calls_imported", r[9].as<int64_t>()},
                 {"error", opt_json<std::string>(r[10])}};
  }
  j["updated_at"] = format_rfc3339(time_of(r[11]));
  return dump(j);
}

/// Writes the app's connection row with `sql` (an upsert RETURNING
/// connection_columns), refusing with 409 when another app holds `org` —
/// found first, or by the unique index when a concurrent registration won
/// the race (the transaction is then spoilt and rolled back as the error
/// leaves).
pqxx::row upsert_connection(pqxx::transaction_base& tx, const db_query& q,
                            std::optional<int64_t> org, const std::string& sql, sql_params& p) {
  static const std::string taken = "dialpad_org_id is registered to another app";
  if (org) {
    auto clash = tx.exec_params("SELECT 1 FROM dialpad_connections WHERE dialpad_org_id = $1"
                                " AND app_id <> $2::uuid", *org, q.app_id);
    if (!clash.empty())
      refuse(errc::conflict, taken);
  }
  try {
    return tx.exec_params(sql, p.dynamic())[0];
  } catch (const pqxx::unique_violation&) {
    refuse(errc::conflict, taken);
  }
}

db_answer dialpad_put(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  require_app(tx, q.app_id, true);
  auto existing = tx.exec_params("SELECT environment, (access_token_sealed IS NOT NULL"
                                 " OR refresh_token_sealed IS NOT NULL) FROM dialpad_connections"
                                 " WHERE app_id = $1::uuid FOR UPDATE", q.app_id);
  auto org = arg_int(a, "dialpad_org_id");
  auto env = arg_text(a, "environment");
  // Tokens belong to the environment that issued them: refreshes and screen
  // pops would go to the other one with them.
  if (env && !existing.empty() && existing[0][1].as<bool>()
      && *env != existing[0][0].as<std::string>())
    refuse(errc::conflict, "the connection holds Dialpad tokens of the "
                             + existing[0][0].as<std::string>()
                             + " environment; disconnect it (DELETE) before changing environment");
  auto secret = arg_text(a, "webhook_secret_sealed");
  auto unsigned_ok = arg_bool(a, "allow_unsigned_webhooks");
  if (existing.empty() && !org)
    refuse(errc::bad_request, "dialpad_org_id is required to register a connection");
  sql_params p;
  p.text(q.app_id).int64(org).text(env).text(secret).text(
    unsigned_ok ? std::optional<std::string>{*unsigned_ok ? "true" : "false"} : std::nullopt);
  auto row = upsert_connection(tx, q, org,
      "INSERT INTO dialpad_connections (app_id, dialpad_org_id, environment,"
      " webhook_secret_sealed, allow_unsigned_webhooks)"
      " VALUES ($1::uuid, $2, COALESCE($3, 'production'), decode($4, 'hex'),"
      " COALESCE($5::boolean, false))"
      " ON CONFLICT (app_id) DO UPDATE SET"
      " dialpad_org_id = COALESCE($2, dialpad_connections.dialpad_org_id),"
      " environment = COALESCE($3, dialpad_connections.environment),"
      " webhook_secret_sealed = COALESCE(decode($4, 'hex'), dialpad_connections.webhook_secret_sealed),"
      " allow_unsigned_webhooks = COALESCE($5::boolean, dialpad_connections.allow_unsigned_webhooks)"
      " RETURNING " + connection_columns,
      p);
  ojson details = ojson::object();
  if (org)
    details["dialpad_org_id"] = *org;
  if (env)
    details["environment"] = *env;
  if (secret)
    details["webhook_secret"] = "changed";
  if (unsigned_ok)
    details["allow_unsigned_webhooks"] = *unsigned_ok;
  audit(tx, q, "dialpad.registered", details);
  return {200, connection_object(row), {}};
}

db_answer dialpad_get(pqxx::transaction_base& tx, const db_query& q) {
  require_app(tx, q.app_id);
  auto res = tx.exec_params("SELECT " + connection_columns
                              + " FROM dialpad_connections WHERE app_id = $1::uuid",
                            q.app_id);
  if (res.empty())
    refuse(errc::not_found, "the app has no Dialpad connection");
  return {200, connection_object(res[0]), {}};
}

db_answer dialpad_delete(pqxx::transaction_base& tx, const db_query& q) {
  require_app(tx, q.app_id);
  // The sealed access token goes back to the caller, which revokes it at
  // Dialpad (best effort) once the row is gone.
  auto res = tx.exec_params("DELETE FROM dialpad_connections WHERE app_id = $1::uuid"
                            " RETURNING environment, encode(access_token_sealed, 'hex')",
                            q.app_id);
  if (res.empty())
    refuse(errc::not_found, "the app has no Dialpad connection");
  audit(tx, q, "dialpad.disconnected", ojson::object());
  ojson body;
  body["environment"] = res[0][0].as<std::string>();
  body["access_sealed"] = opt_json<std::string>(res[0][1]);
  return {204, dump(body), {}};
}

// -- Dialpad OAuth ----------------------------------------------------------------

/// A text[] from parameter $n, a JSON array of strings.
std::string scopes_of(int n) {
  return "ARRAY(SELECT jsonb_array_elements_text($" + std::to_string(n) + "::jsonb))";
}

db_answer oauth_state_create(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  require_app(tx, q.app_id);
  // Abandoned authorizations go on the way (a few rows, indexed).
  tx.exec("DELETE FROM oauth_states WHERE expires_at < now() - interval '1 day'");
  tx.exec_params("INSERT INTO oauth_states (state_hash, app_id, environment, code_verifier, expires_at)"
                 " VALUES ($1, $2::uuid, $3, $4, now() + interval '10 minutes')",
                 *arg_text(a, "state_hash"), q.app_id, *arg_text(a, "environment"),
                 *arg_text(a, "code_verifier"));
  return {201, "{}", {}};
}

db_answer oauth_state_consume(pqxx::transaction_base& tx, const db_query& q) {
  // Consumed by the first callback whatever follows: a second use of the
  // same state finds consumed_at set.
  auto res = tx.exec_params("UPDATE oauth_states SET consumed_at = now()"
                            " WHERE state_hash = $1 AND consumed_at IS NULL"
                            " RETURNING app_id, environment, code_verifier, expires_at > now()",
                            q.target);
  if (res.empty())
    refuse(errc::bad_request, "unknown or already used OAuth state");
  ojson body;
  body["app_id"] = res[0][0].as<std::string>();
  body["environment"] = res[0][1].as<std::string>();
  body["code_verifier"] = res[0][2].as<std::string>();
  body["fresh"] = res[0][3].as<bool>();
  return {200, dump(body), {}};
}

db_answer dialpad_connect(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  require_app(tx, q.app_id, true);
  auto org = arg_int(a, "dialpad_org_id");
  auto it = a.find("scopes");
  std::string scopes = it != a.end() && it->is_array() ? it->dump() : "[]";
  sql_params p;
  p.text(q.app_id).int64(org).text(arg_text(a, "environment")).text(arg_text(a, "access_sealed"))
    .text(arg_text(a, "refresh_sealed")).int64(arg_int(a, "expires_at_us")).text(scopes)
    .int64(arg_int(a, "next_refresh_at_us"));
  auto row = upsert_connection(tx, q, org,
      "INSERT INTO dialpad_connections (app_id, dialpad_org_id, environment, status,"
      " access_token_sealed, refresh_token_sealed, expires_at, scopes, next_refresh_at)"
      " VALUES ($1::uuid, $2, $3, 'connected', decode($4, 'hex'), decode($5, 'hex'), "
        + ts_param(6) + ", " + scopes_of(7) + ", " + ts_param(8) + ")"
      " ON CONFLICT (app_id) DO UPDATE SET"
      " dialpad_org_id = COALESCE($2, dialpad_connections.dialpad_org_id),"
      " environment = $3, status = 'connected',"
      " access_token_sealed = decode($4, 'hex'), refresh_token_sealed = decode($5, 'hex'),"
      " expires_at = " + ts_param(6) + ", scopes = " + scopes_of(7) + ", refresh_failures = 0,"
      " next_refresh_at = " + ts_param(8) + ", last_refresh_at = NULL,"
      " refresh_lease_owner = NULL, refresh_lease_until = NULL"
      " RETURNING " + connection_columns,
      p);
  ojson details = ojson::object();
  details["environment"] = *arg_text(a, "environment");
  if (org)
    details["dialpad_org_id"] = *org;
  audit(tx, q, "dialpad.connected", details);
  return {200, connection_object(row), {}};
}

db_answer dialpad_tokens(pqxx::transaction_base& tx, const db_query& q) {
  auto res = tx.exec_params(
    "SELECT status, environment, encode(access_token_sealed, 'hex'), " + us_of("expires_at")
      + ", refresh_failures, " + us_of("next_refresh_at") + ", " + us_of("refresh_lease_until")
      + ", refresh_token_sealed IS NOT NULL FROM dialpad_connections WHERE app_id = $1::uuid",
    q.app_id);
  if (res.empty())
    refuse(errc::not_found, "the app has no Dialpad connection");
  const auto& r = res[0];
  ojson body;
  body["status"] = r[0].as<std::string>();
  body["environment"] = r[1].as<std::string>();
  body["access_sealed"] = opt_json<std::string>(r[2]);
  body["expires_at_us"] = opt_json<int64_t>(r[3]);
  body["failures"] = r[4].as<int64_t>();
  body["next_refresh_at_us"] = opt_json<int64_t>(r[5]);
  body["lease_until_us"] = opt_json<int64_t>(r[6]);
  body["has_refresh"] = r[7].as<bool>();
  return {200, dump(body), {}};
}

db_answer dialpad_refresh_claim(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  // One node per expiry: the lease is taken only while none is held, the
  // token is inside the refresh margin, and no backoff is running.
  auto res = tx.exec_params(
    "UPDATE dialpad_connections SET refresh_lease_owner = $2,"
    " refresh_lease_until = now() + $3::bigint * interval '1 millisecond'"
    " WHERE app_id = $1::uuid AND status = 'connected' AND refresh_token_sealed IS NOT NULL"
    " AND (refresh_lease_until IS NULL OR refresh_lease_until < now())"
    " AND (expires_at IS NULL OR expires_at <= now() + $4::bigint * interval '1 millisecond')"
    " AND (next_refresh_at IS NULL OR next_refresh_at <= now())"
    " RETURNING environment, encode(refresh_token_sealed, 'hex'), refresh_failures",
    q.app_id, *arg_text(a, "node"), *arg_int(a, "lease_ms"), *arg_int(a, "margin_ms"));
  if (res.empty())
    return {200, R"({"claimed":false})", {}};
  ojson body;
  body["claimed"] = true;
  body["environment"] = res[0][0].as<std::string>();
  body["refresh_sealed"] = res[0][1].as<std::string>();
  body["failures"] = res[0][2].as<int64_t>();
  return {200, dump(body), {}};
}

db_answer dialpad_refresh_store(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  std::optional<std::string> scopes;
  if (auto it = a.find("scopes"); it != a.end() && it->is_array() && !it->empty())
    scopes = it->dump();
  sql_params p;
  p.text(q.app_id).text(arg_text(a, "node")).text(arg_text(a, "access_sealed"))
    .text(arg_text(a, "refresh_sealed")).int64(arg_int(a, "expires_at_us")).text(scopes)
    .int64(arg_int(a, "next_refresh_at_us"));
  // Only the lease holder stores (a disconnect meanwhile deleted the row).
  // next_refresh_at: a token that lives shorter than the margin is not
  // refreshed again before its halfway point (NULL: the margin alone).
  auto res = tx.exec_params(
    "UPDATE dialpad_connections SET access_token_sealed = decode($3, 'hex'),"
    " refresh_token_sealed = COALESCE(decode($4, 'hex'), refresh_token_sealed),"
    " expires_at = " + ts_param(5) + ","
    " scopes = CASE WHEN $6::jsonb IS NULL THEN scopes ELSE " + scopes_of(6) + " END,"
    " last_refresh_at = now(), refresh_failures = 0, next_refresh_at = " + ts_param(7) + ","
    " refresh_lease_owner = NULL, refresh_lease_until = NULL"
    " WHERE app_id = $1::uuid AND refresh_lease_owner = $2 RETURNING 1",
    p.dynamic());
  return {200, res.empty() ? R"({"stored":false})" : R"({"stored":true})", {}};
}

db_answer dialpad_refresh_failed(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  bool permanent = arg_bool(a, "permanent").value_or(false);
  auto res = tx.exec_params(
    "UPDATE dialpad_connections SET refresh_failures = refresh_failures + 1,"
    " next_refresh_at = CASE WHEN $3 THEN NULL"
    "   ELSE now() + $4::bigint * interval '1 millisecond' END,"
    " status = CASE WHEN $3 THEN 'needs_reauth' ELSE status END,"
    " refresh_lease_owner = NULL, refresh_lease_until = NULL"
    " WHERE app_id = $1::uuid AND refresh_lease_owner = $2 RETURNING refresh_failures",
    q.app_id, *arg_text(a, "node"), permanent, arg_int(a, "retry_ms").value_or(0));
  if (!res.empty() && permanent) {
    db_query system = q;
    system.request_id.clear();
    audit(tx, system, "dialpad.needs_reauth",
          {{"error", arg_text(a, "error").value_or("invalid_grant")}});
  }
  return {200, res.empty() ? R"({"recorded":false})" : R"({"recorded":true})", {}};
}

db_answer dialpad_sync_start(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  require_app(tx, q.app_id);
  auto cur = tx.exec_params("SELECT status, sync_state = 'running' AND sync_started_at > now() -"
                            " interval '1 hour' FROM dialpad_connections WHERE app_id = $1::uuid"
                            " FOR UPDATE", q.app_id);
  if (cur.empty() || cur[0][0].as<std::string>() != "connected")
    refuse(errc::conflict, "the app has no connected Dialpad account");
  // A job that has not reported for an hour is taken as dead (its node went away).
  if (!cur[0][1].is_null() && cur[0][1].as<bool>())
    refuse(errc::conflict, "a sync is already running for this app");
  auto job = *arg_text(a, "job_id");
  tx.exec_params("UPDATE dialpad_connections SET sync_job_id = $2::uuid, sync_state = 'running',"
                 " sync_calls_imported = 0, sync_error = NULL, sync_started_at = now(),"
                 " sync_finished_at = NULL WHERE app_id = $1::uuid", q.app_id, job);
  audit(tx, q, "dialpad.sync_started",
        {{"job_id", job}, {"since", format_rfc3339(timestamp{std::chrono::microseconds{
                                     *arg_int(a, "since_us")}})}});
  return {202, dump(ojson{{"job_id", job}}), {}};
}

db_answer dialpad_sync_update(pqxx::transaction_base& tx, const db_query& q, const json& a,
                              bool finish) {
  sql_params p;
  p.text(q.app_id).text(arg_text(a, "job_id")).int64(arg_int(a, "imported").value_or(0));
  std::string sql = "UPDATE dialpad_connections SET sync_calls_imported = sync_calls_imported + $3";
  if (finish) {
    p.text(arg_text(a, "state")).text(arg_text(a, "error"));
    sql += ", sync_state = $4, sync_error = $5, sync_finished_at = now()";
  }
  sql += " WHERE app_id = $1::uuid AND sync_job_id = $2::uuid AND sync_state = 'running'";
  auto res = tx.exec_params(sql + " RETURNING 1", p.dynamic());
  // Nothing updated: the connection was deleted or a newer job took over.
  return {200, res.empty() ? R"({"running":false})" : R"({"running":true})", {}};
}

// -- data management ------------------------------------------------------------------

/// A POSIX regular expression matching `digits` written as a phone number
/// may write them: one digit after another, with only the separators
/// domain/redact reads inside a number ("+1 (702) 555-0143") between them.
/// Every text that domain/redact would change for the number matches it, so
/// it is a coarse filter for the exact walk. (It replaced stripping every
/// non-digit out of each payload, which took 23 s on 40,000 events where
/// this takes under one: stripping builds a copy of each text.)
std::string phone_digits_pattern(const std::string& digits) {
  std::string out;
  for (char c : digits) {
    if (!out.empty())
      out += "[-. ()+]*";
    out += c;
  }
  return out;
}

/// Drops the kept frames (webhook_events.published) of `app` that show any
/// of the records `ids` (their UUIDs, which every record's JSON carries),
/// or, when `digits` is given, whose digits contain it: once a record or a
/// number is deleted, a replay must not send it again. Those events are
/// then rebuilt from what is stored. One pass over the app's processed
/// events: for deletes, which are rare.
void forget_snapshots_of(pqxx::transaction_base& tx, const std::string& app,
                         const std::vector<std::string>& ids, const std::string& digits = {}) {
  std::string list = "{";
  for (const auto& id : ids) {
    if (!is_uuid(id))
      continue;
    if (list.size() > 1)
      list += ',';
    list += id;
  }
  list += '}';
  if (list.size() == 2 && digits.empty())
    return;
  tx.exec_params("UPDATE webhook_events SET published = NULL WHERE app_id = $1::uuid"
                 " AND published IS NOT NULL AND ((SELECT bool_or(strpos(published, g.id) > 0)"
                 " FROM unnest($2::text[]) AS g(id))"
                 " OR ($3 <> '' AND published ~ $3))",
                 app, list, digits.empty() ? std::string{} : phone_digits_pattern(digits));
}

db_answer erase(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  // The app's events are not applied while the erase runs (no record with
  // the number is written behind it): the rounds under way are waited for,
  // later ones leave the app's events for after the commit (see
  // app_lock_class). No lock on the app row: ingest (its foreign key) and
  // other work on the app go on, and no round waits for the erase while
  // holding rows the erase needs (that was a deadlock).
  // (Keyed by the id as the database writes it, as the rounds read it.)
  tx.exec_params("SELECT pg_advisory_xact_lock(" + std::to_string(app_lock_class) + ", $1)",
                 serial_lock_key(lowercase_uuid(q.app_id)));
  require_app(tx, q.app_id);
  // The E.164 form, and every spelling the number may be stored under
  // (a text[] literal of validated numbers: `+` and digits only).
  auto number = *arg_text(a, "phone_number");
  std::string spellings = "{";
  for (const auto& s : a.at("spellings")) {
    if (spellings.size() > 1)
      spellings += ',';
    spellings += s.get<std::string>();
  }
  spellings += '}';
  // Each delete hands back its records' ids: their kept frames go with
  // them (a frame of an early event may show the call before its numbers
  // were known).
  std::vector<std::string> gone;
  auto remove = [&](const std::string& sql) {
    auto rows = tx.exec_params(sql + " RETURNING id::text", q.app_id, spellings);
    for (const auto& r : rows)
      gone.push_back(r[0].as<std::string>());
    return static_cast<int64_t>(rows.size());
  };
  auto by_number = [&](const char* table) {
    return remove(std::string{"DELETE FROM "} + table
                  + " WHERE app_id = $1::uuid AND (from_number = ANY($2::text[])"
                    " OR to_number = ANY($2::text[]))");
  };
  // Voicemails first (with those left on a call of the number): their call
  // link would only be set to NULL.
  auto voicemails = remove("DELETE FROM voicemails WHERE app_id = $1::uuid AND (from_number = ANY($2::text[])"
                           " OR to_number = ANY($2::text[]) OR call_id IN (SELECT id FROM calls"
                           " WHERE app_id = $1::uuid AND (from_number = ANY($2::text[])"
                           " OR to_number = ANY($2::text[]))))");
  auto calls = by_number("calls");
  auto messages = by_number("messages");
  // Stored payloads that may write the number: a coarse filter on the
  // digits (its last ten, so national spellings are found too), then the
  // exact walk of domain/redact over each candidate.
  auto digits = digits_of(number);
  if (digits.size() > 10)
    digits = digits.substr(digits.size() - 10);
  int64_t redacted = 0;
  // (A copy that keeps a replayed event's place in the stream is redacted
  // too, but not counted: it is that event's payload once more.)
  auto pattern = phone_digits_pattern(digits);
  auto candidates = tx.exec_params(
    "SELECT id, payload::text, format = 'internal' AND dialpad_event_id LIKE 'replayed:%'"
    " FROM webhook_events"
    " WHERE app_id = $1::uuid AND payload::text ~ $2 FOR UPDATE",
    q.app_id, pattern);
  // Written back a few hundred rows per statement: an erase of a number
  // that tens of thousands of events write is not as many round trips. A
  // statement also stays under 32 MiB (payloads may be MiBs each; a
  // message to PostgreSQL holds 1 GiB at most).
  std::vector<std::pair<std::string, std::string>> rewritten;
  std::size_t rewritten_bytes = 0;
  auto flush = [&] {
    if (rewritten.empty())
      return;
    std::string sql = "UPDATE webhook_events AS w SET payload = v.p::jsonb, redacted_at = now()"
                      " FROM (VALUES ";
    sql_params up;
    int n = 0;
    for (auto& [id, body] : rewritten) {
      sql += (n == 0 ? "" : ", ") + std::string{"($"} + std::to_string(2 * n + 1) + "::uuid, $"
             + std::to_string(2 * n + 2) + "::text)";
      up.text(std::move(id));
      up.text(std::move(body));
      ++n;
    }
    sql += ") AS v(id, p) WHERE w.id = v.id";
    tx.exec_params(sql, up.dynamic());
    rewritten.clear();
    rewritten_bytes = 0;
  };
  for (const auto& row : candidates) {
    auto payload = json::parse(row[1].c_str(), nullptr, false);
    if (payload.is_discarded() || !redact_phone(payload, number))
      continue;
    rewritten.emplace_back(row[0].as<std::string>(),
                           payload.dump(-1, ' ', false, json::error_handler_t::replace));
    rewritten_bytes += rewritten.back().second.size();
    if (rewritten.size() == 250 || rewritten_bytes >= (std::size_t{32} << 20))
      flush();
    if (!row[2].as<bool>())
      ++redacted;
  }
  flush();
  // A record kept by the deletes (the number is not its from/to) may still
  // write it: a message in its text, or as a further recipient in its
  // stored copy of the event (only the first recipient is a column); a
  // voicemail in its transcript ("call me back at …"); a call in its stored
  // copy of the event (a note, another party). Redacted as the payloads
  // are; a text column (`text_col`, may be empty) and a jsonb one
  // (`json_col`, may be empty) per table.
  auto redact_kept = [&](const std::string& table, const std::string& text_col,
                         const std::string& json_col) {
    auto text_sql = text_col.empty() ? std::string{"NULL::text"} : text_col;
    auto json_sql = json_col.empty() ? std::string{"NULL::text"} : json_col + "::text";
    auto kept = tx.exec_params(
      "SELECT id, " + text_sql + ", " + json_sql + " FROM " + table + " WHERE app_id = $1::uuid"
      " AND (COALESCE(" + text_sql + ", '') ~ $2 OR COALESCE(" + json_sql + ", '') ~ $2) FOR UPDATE",
      q.app_id, pattern);
    for (const auto& row : kept) {
      json text = row[1].is_null() ? json(nullptr) : json(row[1].as<std::string>());
      json raw = row[2].is_null() ? json(nullptr) : json::parse(row[2].c_str(), nullptr, false);
      bool text_changed = text.is_string() && redact_phone(text, number);
      bool raw_changed = raw.is_structured() && redact_phone(raw, number);
      if (!text_changed && !raw_changed)
        continue;
      sql_params kp;
      kp.text(row[0].as<std::string>());
      std::string set;
      if (text_changed) {
        kp.text(text.get<std::string>());
        set = text_col + " = $2";
      }
      if (raw_changed) {
        kp.text(raw.dump(-1, ' ', false, json::error_handler_t::replace));
        set += (set.empty() ? "" : ", ") + json_col + " = $" + (text_changed ? "3" : "2") + "::jsonb";
      }
      tx.exec_params("UPDATE " + table + " SET " + set + " WHERE id = $1::uuid", kp.dynamic());
    }
  };
  redact_kept("messages", "text", "raw_payload");
  redact_kept("voicemails", "transcript", "");
  redact_kept("calls", "", "raw_payload");
  // What was pushed for those events holds the number too: forgotten (a
  // replay then rebuilds them from the redacted event, without the erased
  // records). The payloads' coarse filter, and every frame that shows an
  // erased record; a frame caught wrongly is only rebuilt.
  forget_snapshots_of(tx, q.app_id, gone, digits);
  ojson body;
  body["calls"] = calls;
  body["voicemails"] = voicemails;
  body["messages"] = messages;
  body["webhook_events_redacted"] = redacted;
  // The trail keeps the counts, never the number itself.
  audit(tx, q, "erase", body);
  // The rounds that met the app's events during the erase went on past
  // them (db/processor.cpp): every node's pollers start again from the
  // oldest pending event once this commits.
  tx.exec_params("SELECT pg_notify($1, $2)", std::string{events_channel}, std::string{rescan_payload});
  return {200, dump(body), {}};
}

const std::string retention_columns =
  "retention_calls_days, retention_voicemails_archive_days, retention_messages_days,"
  " retention_webhook_events_days";

std::string retention_object(const pqxx::row& r) {
  ojson j;
  j["calls_days"] = r[0].as<int64_t>();
  j["voicemails_archive_days"] = r[1].as<int64_t>();
  j["messages_days"] = r[2].as<int64_t>();
  j["webhook_events_days"] = r[3].as<int64_t>();
  return dump(j);
}

db_answer retention_get(pqxx::transaction_base& tx, const db_query& q) {
  auto res = tx.exec_params("SELECT " + retention_columns + " FROM apps WHERE id = $1::uuid",
                            q.app_id);
  if (res.empty())
    refuse(errc::not_found, "no such app");
  return {200, retention_object(res[0]), {}};
}

db_answer retention_put(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  sql_params p;
  p.text(q.app_id).int64(arg_int(a, "calls_days")).int64(arg_int(a, "voicemails_archive_days"))
    .int64(arg_int(a, "messages_days")).int64(arg_int(a, "webhook_events_days"));
  auto res = tx.exec_params(
    "UPDATE apps SET retention_calls_days = COALESCE($2::int, retention_calls_days),"
    " retention_voicemails_archive_days = COALESCE($3::int, retention_voicemails_archive_days),"
    " retention_messages_days = COALESCE($4::int, retention_messages_days),"
    " retention_webhook_events_days = COALESCE($5::int, retention_webhook_events_days)"
    " WHERE id = $1::uuid RETURNING " + retention_columns,
    p.dynamic());
  if (res.empty())
    refuse(errc::not_found, "no such app");
  auto body = retention_object(res[0]);
  audit(tx, q, "retention.updated", ojson::parse(body));
  return {200, body, {}};
}

std::string audit_entry(const pqxx::row& r) {
  ojson j;
  j["id"] = r[0].as<std::string>();
  j["app_id"] = opt_json<std::string>(r[1]);
  j["actor"] = r[2].as<std::string>();
  j["action"] = r[3].as<std::string>();
  j["details"] = ojson::parse(r[4].c_str(), nullptr, false);
  j["request_id"] = opt_json<std::string>(r[5]);
  j["created_at"] = format_rfc3339(time_of(r[6]));
  return dump(j);
}

db_answer audit_list(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  std::string sql = "SELECT id, app_id, actor, action, details::text, request_id, "
                    + us_of("created_at") + " FROM activity_audit_log WHERE true";
  sql_params p;
  int n = 1;
  if (!q.app_id.empty()) {
    sql += " AND app_id = $1::uuid";
    p.text(q.app_id);
    n = 2;
  }
  add_after(sql, p, n, a, "created_at", "id");
  sql += " ORDER BY created_at DESC, id DESC";
  return {200, page_of(tx, sql, p, a, cursor_scope(q.kind, q.app_id), {6, 0}, audit_entry), {}};
}

db_answer dialpad_connected_apps(pqxx::transaction_base& tx) {
  auto res = tx.exec("SELECT app_id FROM dialpad_connections WHERE status = 'connected'"
                     " ORDER BY app_id");
  ojson apps = ojson::array();
  for (const auto& r : res)
    apps.push_back(r[0].as<std::string>());
  return {200, dump(ojson{{"apps", apps}}), {}};
}

// -- cluster membership ---------------------------------------------------------

db_answer cluster_heartbeat(pqxx::transaction_base& tx, const json& a) {
  sql_params p;
  p.text(arg_text(a, "node")).text(arg_text(a, "host")).int64(arg_int(a, "port"))
    .int64(arg_int(a, "protocol")).int64(arg_int(a, "started_at_us"));
  tx.exec_params("INSERT INTO cluster_nodes (name, host, port, protocol_version, started_at, heartbeat_at)"
                 " VALUES ($1, $2, $3, $4, to_timestamp($5::bigint / 1e6), now())"
                 " ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, port = EXCLUDED.port,"
                 " protocol_version = EXCLUDED.protocol_version, started_at = EXCLUDED.started_at,"
                 " heartbeat_at = now()",
                 p.dynamic());
  // Nodes gone for an hour are forgotten (each living node tidies).
  tx.exec("DELETE FROM cluster_nodes WHERE heartbeat_at < now() - interval '1 hour'");
  auto res = tx.exec("SELECT name, host, port, protocol_version, " + us_of("started_at") + ", "
                     + us_of("heartbeat_at") + ", "
                     "(extract(epoch FROM now() - heartbeat_at) * 1000)::bigint"
                     " FROM cluster_nodes ORDER BY name");
  ojson nodes = ojson::array();
  for (const auto& r : res) {
    ojson n;
    n["name"] = r[0].as<std::string>();
    n["host"] = r[1].as<std::string>();
    n["port"] = r[2].as<int64_t>();
    n["protocol"] = r[3].as<int64_t>();
    n["started_at_us"] = r[4].as<int64_t>();
    n["heartbeat_at_us"] = r[5].as<int64_t>();
    n["age_ms"] = std::max<int64_t>(0, r[6].as<int64_t>());
    nodes.push_back(std::move(n));
  }
  return {200, dump(ojson{{"nodes", nodes}}), {}};
}

db_answer cluster_leave(pqxx::transaction_base& tx, const db_query& q) {
  tx.exec_params("DELETE FROM cluster_nodes WHERE name = $1", q.target);
  return {204, "", {}};
}

// -- API keys ---------------------------------------------------------------------

/// The clock time now, read after the caller took its row lock: key
/// operations on one app are stamped in the order they happened, not in the
/// order their transactions began (now()), which a lock wait would invert.
std::string locked_now(pqxx::transaction_base& tx) {
  return tx.exec("SELECT clock_timestamp()::text")[0][0].as<std::string>();
}

db_answer key_set(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  auto cur = tx.exec_params("SELECT api_key_hint, api_key_hash IS NOT NULL FROM apps"
                            " WHERE id = $1::uuid FOR UPDATE", q.app_id);
  if (cur.empty())
    refuse(errc::not_found, "no such app");
  bool rotated = cur[0][1].as<bool>();
  auto old_hint = opt<std::string>(cur[0][0]);
  auto at = locked_now(tx);
  auto res = tx.exec_params(
    "UPDATE apps SET api_key_id = $2, api_key_hash = $3, api_key_hint = $4,"
    " api_key_created_at = $6::timestamptz, api_key_revoked_at = NULL,"
    " api_key_rotated_at = CASE WHEN $5::boolean THEN $6::timestamptz ELSE NULL END"
    " WHERE id = $1::uuid RETURNING " + us_of("api_key_created_at"),
    q.app_id, *arg_text(a, "key_id"), *arg_text(a, "hash"), *arg_text(a, "hint"),
    rotated ? "true" : "false", at);
  sql_params p;
  p.text(q.app_id).text(rotated ? "rotated" : "created")
    .text(rotated ? old_hint : std::nullopt).text(*arg_text(a, "hint"))
    .text(q.request_id.empty() ? std::nullopt : std::optional{q.request_id}).text(at);
  tx.exec_params("INSERT INTO api_key_audit_log (app_id, action, old_key_hint, new_key_hint,"
                 " performed_at, request_id) VALUES ($1::uuid, $2, $3, $4, $6::timestamptz, $5)",
                 p.dynamic());
  ojson details;
  details["old_key_hint"] = rotated && old_hint ? ojson(*old_hint) : ojson(nullptr);
  details["new_key_hint"] = *arg_text(a, "hint");
  audit(tx, q, rotated ? "api_key.rotated" : "api_key.created", details);
  ojson j;
  j["key_hint"] = *arg_text(a, "hint");
  j["created_at"] = format_rfc3339(time_of(res[0][0]));
  j["rotated"] = rotated;
  return {201, dump(j), {}};
}

db_answer key_revoke(pqxx::transaction_base& tx, const db_query& q) {
  auto cur = tx.exec_params("SELECT api_key_hint, api_key_hash IS NOT NULL FROM apps"
                            " WHERE id = $1::uuid FOR UPDATE", q.app_id);
  if (cur.empty())
    refuse(errc::not_found, "no such app");
  // Already without a key, the revoke still answers as the contract says
  // (a retried revoke must not fail) and is recorded like every key
  // operation (API.md: "every operation writes api_key_audit_log"), with
  // no old hint; the key's state and revoked_at stay as they were.
  auto at = locked_now(tx);
  if (cur[0][1].as<bool>())
    tx.exec_params("UPDATE apps SET api_key_id = NULL, api_key_hash = NULL, api_key_hint = NULL,"
                   " api_key_revoked_at = $2::timestamptz WHERE id = $1::uuid", q.app_id, at);
  sql_params p;
  p.text(q.app_id).text(opt<std::string>(cur[0][0]))
    .text(q.request_id.empty() ? std::nullopt : std::optional{q.request_id}).text(at);
  tx.exec_params("INSERT INTO api_key_audit_log (app_id, action, old_key_hint, new_key_hint,"
                 " performed_at, request_id) VALUES ($1::uuid, 'revoked', $2, NULL, $4::timestamptz, $3)",
                 p.dynamic());
  audit(tx, q, "api_key.revoked",
        {{"old_key_hint", cur[0][0].is_null() ? ojson(nullptr) : ojson(cur[0][0].as<std::string>())}});
  return {200, R"({"revoked":true})", {}};
}

db_answer key_status(pqxx::transaction_base& tx, const db_query& q) {
  auto res = tx.exec_params("SELECT api_key_hash IS NOT NULL, api_key_hint, "
                              + us_of("api_key_created_at") + ", " + us_of("api_key_rotated_at")
                              + ", " + us_of("api_key_revoked_at")
                              + " FROM apps WHERE id = $1::uuid",
                            q.app_id);
  if (res.empty())
    refuse(errc::not_found, "no such app");
  const auto& r = res[0];
  bool has = r[0].as<bool>();
  ojson j;
  j["has_key"] = has;
  j["key_hint"] = has ? opt_json<std::string>(r[1]) : ojson(nullptr);
  j["created_at"] = has ? opt_time_json(r[2]) : ojson(nullptr);
  j["rotated_at"] = has ? opt_time_json(r[3]) : ojson(nullptr);
  j["revoked_at"] = opt_time_json(r[4]);
  return {200, dump(j), {}};
}

std::string audit_object(const pqxx::row& r) {
  ojson j;
  j["id"] = r[0].as<std::string>();
  j["action"] = r[1].as<std::string>();
  j["old_key_hint"] = opt_json<std::string>(r[2]);
  j["new_key_hint"] = opt_json<std::string>(r[3]);
  j["performed_at"] = format_rfc3339(time_of(r[4]));
  j["request_id"] = opt_json<std::string>(r[5]);
  return dump(j);
}

db_answer key_audit(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  require_app(tx, q.app_id);
  std::string sql = "SELECT id, action, old_key_hint, new_key_hint, " + us_of("performed_at")
                    + ", request_id FROM api_key_audit_log WHERE app_id = $1::uuid";
  sql_params p;
  p.text(q.app_id);
  int n = 2;
  add_after(sql, p, n, a, "performed_at", "id");
  sql += " ORDER BY performed_at DESC, id DESC";
  return {200, page_of(tx, sql, p, a, cursor_scope(q.kind, q.app_id), {4, 0}, audit_object), {}};
}

// -- user mappings ----------------------------------------------------------------

const std::string mapping_columns = "id, dialpad_user_id, crm_user_id, " + us_of("created_at")
                                    + ", " + us_of("updated_at");

std::string mapping_object(const pqxx::row& r) {
  ojson j;
  j["id"] = r[0].as<std::string>();
  j["dialpad_user_id"] = r[1].as<int64_t>();
  j["crm_user_id"] = r[2].as<std::string>();
  j["created_at"] = format_rfc3339(time_of(r[3]));
  j["updated_at"] = format_rfc3339(time_of(r[4]));
  return dump(j);
}

db_answer map_one(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  require_app(tx, q.app_id);
  auto res = tx.exec_params(
    "INSERT INTO dialpad_user_mappings (app_id, dialpad_user_id, crm_user_id)"
    " VALUES ($1::uuid, $2, $3) ON CONFLICT (app_id, dialpad_user_id)"
    " DO UPDATE SET crm_user_id = EXCLUDED.crm_user_id RETURNING " + mapping_columns,
    q.app_id, *arg_int(a, "dialpad_user_id"), *arg_text(a, "crm_user_id"));
  audit(tx, q, "user_mapping.upserted",
        {{"dialpad_user_id", *arg_int(a, "dialpad_user_id")},
         {"crm_user_id", *arg_text(a, "crm_user_id")}});
  return {200, mapping_object(res[0]), {}};
}

db_answer map_batch(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  require_app(tx, q.app_id);
  const auto& list = a.at("mappings");
  auto res = tx.exec_params(
    "INSERT INTO dialpad_user_mappings (app_id, dialpad_user_id, crm_user_id)"
    " SELECT $1::uuid, x.dialpad_user_id, x.crm_user_id"
    " FROM jsonb_to_recordset($2::jsonb) AS x(dialpad_user_id bigint, crm_user_id text)"
    // In one order for every batch: two batches naming the same users then
    // take their row locks in the same order and cannot deadlock.
    " ORDER BY x.dialpad_user_id"
    " ON CONFLICT (app_id, dialpad_user_id) DO UPDATE SET crm_user_id = EXCLUDED.crm_user_id",
    q.app_id, list.dump());
  audit(tx, q, "user_mapping.batch_upserted", {{"count", list.size()}});
  ojson j;
  j["upserted"] = res.affected_rows();
  return {200, dump(j), {}};
}

db_answer mappings_list(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  require_app(tx, q.app_id);
  std::string sql = "SELECT " + mapping_columns
                    + " FROM dialpad_user_mappings WHERE app_id = $1::uuid";
  sql_params p;
  p.text(q.app_id);
  int n = 2;
  if (auto crm = arg_text(a, "crm_user_id")) {
    sql += " AND crm_user_id = $" + std::to_string(n++);
    p.text(*crm);
  }
  add_after(sql, p, n, a, "created_at", "id");
  sql += " ORDER BY created_at DESC, id DESC";
  return {200, page_of(tx, sql, p, a, cursor_scope(q.kind, q.app_id), {3, 0}, mapping_object), {}};
}

db_answer mapping_by_dialpad(pqxx::transaction_base& tx, const db_query& q) {
  require_app(tx, q.app_id);
  auto res = tx.exec_params("SELECT " + mapping_columns + " FROM dialpad_user_mappings"
                              " WHERE app_id = $1::uuid AND dialpad_user_id = $2::bigint",
                            q.app_id, q.target);
  if (res.empty())
    refuse(errc::not_found, "no mapping for this Dialpad user");
  return {200, mapping_object(res[0]), {}};
}

db_answer mapping_delete(pqxx::transaction_base& tx, const db_query& q) {
  require_app(tx, q.app_id);
  auto res = tx.exec_params("DELETE FROM dialpad_user_mappings WHERE app_id = $1::uuid"
                              " AND id = $2::uuid RETURNING dialpad_user_id",
                            q.app_id, q.target);
  if (res.empty())
    refuse(errc::not_found, "no such mapping");
  audit(tx, q, "user_mapping.deleted",
        {{"id", q.target}, {"dialpad_user_id", res[0][0].as<int64_t>()}});
  return {204, {}, {}};
}

// -- calls ------------------------------------------------------------------------

// Times travel as Postgres's own text (parse_pg_timestamptz): converting
// five timestamps per row to epoch numbers in SQL cost as much as the scan.
const std::string call_select =
  "SELECT c.id, c.dialpad_call_id, c.direction, c.from_number, c.to_number, c.status,"
  " c.dialpad_user_id, m.crm_user_id, c.started_at, c.answered_at, c.ended_at,"
  " c.duration_seconds, c.recording_url, c.has_voicemail, c.crm_context::text, c.created_at,"
  " c.updated_at"
  " FROM calls c LEFT JOIN dialpad_user_mappings m"
  " ON m.app_id = c.app_id AND m.dialpad_user_id = c.dialpad_user_id";

/// Columns of `call_select` used for the cursor.
constexpr int call_time_col = 8;
constexpr int call_id_col = 0;

std::string call_object(const pqxx::row& r) {
  call_record c;
  call_meta m;
  m.id = r[0].as<std::string>();
  c.dialpad_call_id = r[1].as<int64_t>();
  c.direction = opt<std::string>(r[2]);
  c.from_number = opt<std::string>(r[3]);
  c.to_number = opt<std::string>(r[4]);
  c.status = parse_call_status(r[5].as<std::string>()).value_or(call_status::ringing);
  c.dialpad_user_id = opt<int64_t>(r[6]);
  m.crm_user_id = opt<std::string>(r[7]);
  c.started_at = pg_time_of(r[8]);
  c.answered_at = opt_pg_time(r[9]);
  c.ended_at = opt_pg_time(r[10]);
  c.duration_seconds = opt<int>(r[11]);
  c.recording_url = opt<std::string>(r[12]);
  c.has_voicemail = r[13].as<bool>();
  m.crm_context = opt<std::string>(r[14]);
  m.created_at = pg_time_of(r[15]);
  m.updated_at = pg_time_of(r[16]);
  return call_json(c, m);
}

/// `WHERE` conditions shared by the call list and the export.
void add_call_filters(std::string& sql, sql_params& p, int& n, const json& a) {
  if (arg_bool(a, "active").value_or(false))
    sql += " AND c.live"; // status IN ('ringing', 'active', 'held'), indexed (migration 009)
  if (auto it = a.find("status"); it != a.end() && it->is_array()) {
    sql += " AND c.status = ANY($" + std::to_string(n++) + "::text[])";
    std::string arr = "{";
    for (std::size_t i = 0; i < it->size(); ++i)
      arr += (i ? "," : "") + (*it)[i].get<std::string>(); // closed word list
    p.text(arr + "}");
  }
  auto text_eq = [&](const char* arg, const char* column) {
    if (auto v = arg_text(a, arg)) {
      sql += std::string{" AND "} + column + " = $" + std::to_string(n++);
      p.text(*v);
    }
  };
  text_eq("direction", "c.direction");
  text_eq("from_number", "c.from_number");
  text_eq("to_number", "c.to_number");
  if (auto v = arg_text(a, "phone")) {
    sql += " AND (c.from_number = $" + std::to_string(n) + " OR c.to_number = $"
           + std::to_string(n) + ")";
    ++n;
    p.text(*v);
  }
  if (auto v = arg_int(a, "dialpad_user_id")) {
    sql += " AND c.dialpad_user_id = $" + std::to_string(n++);
    p.int64(*v);
  }
  if (auto v = arg_text(a, "crm_user_id")) {
    sql += " AND c.dialpad_user_id IN (SELECT dialpad_user_id FROM dialpad_user_mappings"
           " WHERE app_id = $1::uuid AND crm_user_id = $" + std::to_string(n++) + ")";
    p.text(*v);
  }
  if (auto v = arg_int(a, "since_us")) {
    sql += " AND c.started_at >= " + ts_param(n++);
    p.int64(*v);
  }
  if (auto v = arg_int(a, "until_us")) {
    sql += " AND c.started_at < " + ts_param(n++);
    p.int64(*v);
  }
}

db_answer calls_list(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  std::string sql = call_select + " WHERE c.app_id = $1::uuid";
  sql_params p;
  p.text(q.app_id);
  int n = 2;
  add_call_filters(sql, p, n, a);
  add_after(sql, p, n, a, "c.started_at", "c.id");
  sql += " ORDER BY c.started_at DESC, c.id DESC";
  return {200,
          page_of(tx, sql, p, a, cursor_scope(q.kind, q.app_id), {call_time_col, call_id_col, true},
                  call_object),
          {}};
}

/// `c.id = $2::uuid` or `c.dialpad_call_id = $2::bigint`, by the target's form.
std::string call_match(const std::string& target) {
  return is_uuid(target) ? "c.id = $2::uuid" : "c.dialpad_call_id = $2::bigint";
}

db_answer call_get(pqxx::transaction_base& tx, const db_query& q) {
  sql_params p;
  p.text(q.app_id).text(q.target);
  auto res = exec(tx, call_select + " WHERE c.app_id = $1::uuid AND " + call_match(q.target), p);
  if (res.empty())
    refuse(errc::not_found, "no such call");
  return {200, call_object(res[0]), {}};
}

db_answer call_patch(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  // The object's compact text as the client wrote it (keys in its order).
  auto ctx = a.find("crm_context_text");
  std::optional<std::string> ctx_text;
  if (ctx != a.end() && ctx->is_string())
    ctx_text = ctx->get<std::string>();
  sql_params p;
  p.text(q.app_id).text(q.target).text(ctx_text);
  std::string where = is_uuid(q.target) ? "id = $2::uuid" : "dialpad_call_id = $2::bigint";
  auto upd = tx.exec_params("UPDATE calls SET crm_context = $3 WHERE app_id = $1::uuid AND "
                              + where + " RETURNING id",
                            p.dynamic());
  if (upd.empty())
    refuse(errc::not_found, "no such call");
  auto call_id = upd[0][0].as<std::string>();
  auto row = tx.exec_params(call_select + " WHERE c.app_id = $1::uuid AND c.id = $2::uuid",
                            q.app_id, call_id);
  auto body = call_object(row[0]);
  // The change joins the app's stream: it takes the next seq under the app
  // row's lock (as the processor does) and is stored as an applied event.
  auto seq = tx.exec_params1("UPDATE apps SET last_seq = last_seq + 1 WHERE id = $1::uuid"
                             " RETURNING last_seq", q.app_id)[0].as<int64_t>();
  ojson payload;
  payload["call_id"] = call_id;
  payload["crm_context"] = ctx_text ? ojson::parse(*ctx_text) : ojson(nullptr);
  auto ev = tx.exec_params1(
    "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format, state,"
    " processed_at, outcome, seq) VALUES ($1::uuid, $2, 'call.context_updated', $3::jsonb,"
    " 'internal', 'processed', clock_timestamp(), 'applied', $4) RETURNING id, "
      + us_of("processed_at"),
    q.app_id, "context:" + call_id + ":" + new_uuid(), dump(payload), seq);
  applied_event out;
  out.app_id = q.app_id;
  out.seq = seq;
  out.event_id = ev[0].as<std::string>();
  out.event_type = "call.context_updated";
  out.occurred_at_us = ev[1].as<int64_t>();
  out.call_json = body;
  // Kept with the event, as the processor keeps every applied event's
  // frame: a replay or gap filling then sends this context, not the call
  // as a later PATCH left it.
  handler_result sent;
  sent.published_type = out.event_type;
  sent.occurred_at_us = out.occurred_at_us;
  sent.call_json = body;
  tx.exec_params("UPDATE webhook_events SET published = $2 WHERE id = $1::uuid", out.event_id,
                 published_snapshot(sent));
  return {200, std::move(body), {std::move(out)}};
}

// -- voicemails -------------------------------------------------------------------

const std::string voicemail_select =
  "SELECT v.id, v.dialpad_call_id, v.from_number, v.to_number, v.dialpad_user_id,"
  " m.crm_user_id, v.recording_url, v.transcript, v.duration_seconds, "
  + us_of("v.received_at") + ", v.is_archived, v.callback_status, v.crm_task_id, "
  + us_of("v.created_at")
  + " FROM voicemails v LEFT JOIN dialpad_user_mappings m"
  " ON m.app_id = v.app_id AND m.dialpad_user_id = v.dialpad_user_id";

std::string voicemail_object(const pqxx::row& r) {
  voicemail_record v;
  voicemail_meta m;
  m.id = r[0].as<std::string>();
  v.dialpad_call_id = opt<int64_t>(r[1]);
  v.from_number = opt<std::string>(r[2]);
  v.to_number = opt<std::string>(r[3]);
  v.dialpad_user_id = opt<int64_t>(r[4]);
  m.crm_user_id = opt<std::string>(r[5]);
  v.recording_url = opt<std::string>(r[6]);
  v.transcript = opt<std::string>(r[7]);
  v.duration_seconds = opt<int>(r[8]);
  v.received_at = time_of(r[9]);
  m.is_archived = r[10].as<bool>();
  m.callback_status = r[11].as<std::string>();
  m.crm_task_id = opt<std::string>(r[12]);
  m.created_at = time_of(r[13]);
  return voicemail_json(v, m);
}

db_answer voicemails_list(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  if (arg_bool(a, "check_app").value_or(false))
    require_app(tx, q.app_id);
  std::string sql = voicemail_select + " WHERE v.app_id = $1::uuid";
  sql_params p;
  p.text(q.app_id);
  int n = 2;
  if (auto v = arg_int(a, "dialpad_user_id")) {
    sql += " AND v.dialpad_user_id = $" + std::to_string(n++);
    p.int64(*v);
  }
  if (auto v = arg_text(a, "crm_user_id")) {
    sql += " AND v.dialpad_user_id IN (SELECT dialpad_user_id FROM dialpad_user_mappings"
           " WHERE app_id = $1::uuid AND crm_user_id = $" + std::to_string(n++) + ")";
    p.text(*v);
  }
  if (auto v = arg_text(a, "callback_status")) {
    sql += " AND v.callback_status = $" + std::to_string(n++);
    p.text(*v);
  }
  if (auto v = arg_int(a, "since_us")) {
    sql += " AND v.received_at >= " + ts_param(n++);
    p.int64(*v);
  }
  if (auto v = arg_int(a, "until_us")) {
    sql += " AND v.received_at < " + ts_param(n++);
    p.int64(*v);
  }
  add_after(sql, p, n, a, "v.received_at", "v.id");
  sql += " ORDER BY v.received_at DESC, v.id DESC";
  return {200, page_of(tx, sql, p, a, cursor_scope(q.kind, q.app_id), {9, 0}, voicemail_object),
          {}};
}

db_answer voicemail_get(pqxx::transaction_base& tx, const db_query& q) {
  sql_params p;
  p.text(q.app_id).text(q.target);
  auto res = exec(tx, voicemail_select + " WHERE v.app_id = $1::uuid AND v.id = $2::uuid", p);
  if (res.empty())
    refuse(errc::not_found, "no such voicemail");
  return {200, voicemail_object(res[0]), {}};
}

db_answer voicemail_patch(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  auto status = arg_text(a, "callback_status");
  bool has_task = a.contains("crm_task_id");
  auto task = arg_text(a, "crm_task_id");
  sql_params p;
  p.text(q.app_id).text(q.target).text(status).boolean(has_task).text(task);
  auto res = tx.exec_params(
    "UPDATE voicemails SET callback_status = COALESCE($3, callback_status),"
    " crm_task_id = CASE WHEN $4::boolean THEN $5 ELSE crm_task_id END"
    " WHERE app_id = $1::uuid AND id = $2::uuid RETURNING id",
    p.dynamic());
  if (res.empty())
    refuse(errc::not_found, "no such voicemail");
  return voicemail_get(tx, q);
}

db_answer voicemail_delete(pqxx::transaction_base& tx, const db_query& q) {
  require_app(tx, q.app_id);
  // The call's row first, then the voicemail's: the order a processing
  // round locks them in (db/processor.cpp: calls, then voicemails). The
  // other way round, a round holding the call and writing this voicemail
  // deadlocked with the delete, and PostgreSQL aborted one of them (the
  // delete answered 503, or the round was retried).
  tx.exec_params("SELECT 1 FROM calls WHERE app_id = $1::uuid AND id = (SELECT call_id"
                 " FROM voicemails WHERE app_id = $1::uuid AND id = $2::uuid) FOR UPDATE",
                 q.app_id, q.target);
  auto res = tx.exec_params("DELETE FROM voicemails WHERE app_id = $1::uuid AND id = $2::uuid"
                            " RETURNING call_id",
                            q.app_id, q.target);
  if (res.empty())
    refuse(errc::not_found, "no such voicemail");
  // Its call has a voicemail no more (unless another one is left).
  if (!res[0][0].is_null())
    tx.exec_params("UPDATE calls SET has_voicemail = false WHERE app_id = $1::uuid AND id = $2::uuid"
                   " AND has_voicemail AND NOT EXISTS (SELECT 1 FROM voicemails"
                   " WHERE app_id = $1::uuid AND call_id = $2::uuid)",
                   q.app_id, res[0][0].as<std::string>());
  forget_snapshots_of(tx, q.app_id, {q.target});
  audit(tx, q, "voicemail.deleted", {{"id", q.target}});
  return {204, {}, {}};
}

// -- messages ---------------------------------------------------------------------

std::string message_object(const pqxx::row& r) {
  message_record m;
  m.id = r[0].as<std::string>();
  m.dialpad_message_id = r[1].as<int64_t>();
  m.direction = opt<std::string>(r[2]);
  m.from_number = opt<std::string>(r[3]);
  m.to_number = opt<std::string>(r[4]);
  m.text = opt<std::string>(r[5]);
  m.dialpad_user_id = opt<int64_t>(r[6]);
  m.crm_user_id = opt<std::string>(r[7]);
  m.sent_at = time_of(r[8]);
  m.created_at = time_of(r[9]);
  return message_json(m);
}

const std::string message_select =
  "SELECT s.id, s.dialpad_message_id, s.direction, s.from_number, s.to_number, s.text,"
  " s.dialpad_user_id, m.crm_user_id, " + us_of("s.sent_at") + ", " + us_of("s.created_at")
  + " FROM messages s LEFT JOIN dialpad_user_mappings m"
    " ON m.app_id = s.app_id AND m.dialpad_user_id = s.dialpad_user_id";

db_answer messages_list(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  std::string sql = message_select + " WHERE s.app_id = $1::uuid";
  sql_params p;
  p.text(q.app_id);
  int n = 2;
  if (auto v = arg_text(a, "direction")) {
    sql += " AND s.direction = $" + std::to_string(n++);
    p.text(*v);
  }
  if (auto v = arg_text(a, "phone")) {
    sql += " AND (s.from_number = $" + std::to_string(n) + " OR s.to_number = $"
           + std::to_string(n) + ")";
    ++n;
    p.text(*v);
  }
  for (const char* column : {"from_number", "to_number"})
    if (auto v = arg_text(a, column)) {
      sql += std::string{" AND s."} + column + " = $" + std::to_string(n++);
      p.text(*v);
    }
  if (auto v = arg_int(a, "dialpad_user_id")) {
    sql += " AND s.dialpad_user_id = $" + std::to_string(n++);
    p.int64(*v);
  }
  if (auto v = arg_text(a, "crm_user_id")) {
    // As for calls: the mapping at read time.
    sql += " AND s.dialpad_user_id IN (SELECT dialpad_user_id FROM dialpad_user_mappings"
           " WHERE app_id = $1::uuid AND crm_user_id = $" + std::to_string(n++) + ")";
    p.text(*v);
  }
  if (auto v = arg_int(a, "since_us")) {
    sql += " AND s.sent_at >= " + ts_param(n++);
    p.int64(*v);
  }
  if (auto v = arg_int(a, "until_us")) {
    sql += " AND s.sent_at < " + ts_param(n++);
    p.int64(*v);
  }
  add_after(sql, p, n, a, "s.sent_at", "s.id");
  sql += " ORDER BY s.sent_at DESC, s.id DESC";
  return {200, page_of(tx, sql, p, a, cursor_scope(q.kind, q.app_id), {8, 0}, message_object), {}};
}

/// The app's stored stream, `after` < seq <= `upto` (at most `limit`), as
/// applied events again (WebSocket replay and gap filling): what the live
/// subscribers were sent, kept with each event (`published`); for an event
/// without it (applied before migration 010, or its frame dropped by an
/// erase, a voicemail delete or retention), the stored name and time and
/// the call, voicemail or message as they are now.
db_answer stream_events(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  if (auto hold = arg_int(a, "hold_ms"); hold && *hold > 0) // a test hook (CTI_TEST_REPLAY_HOLD_MS)
    tx.exec("SELECT pg_sleep(" + std::to_string(static_cast<double>(std::min<int64_t>(*hold, 60000)) / 1000) + ")");
  sql_params p;
  p.text(q.app_id).int64(arg_int(a, "after").value_or(0)).int64(arg_int(a, "upto").value_or(0))
    .int64(arg_int(a, "limit").value_or(1000));
  auto rows = exec(tx,
                   // (An event sent back to the queue by POST /internal/events/{id}/replay
                   // gives its seq to a copy that keeps its place; one queued
                   // so before the seventeenth session kept its seq, without
                   // processed_at, until it was applied again.)
                   "SELECT seq, id, event_type, payload::text, " + us_of("COALESCE(processed_at, received_at)")
                     + ", published::text FROM webhook_events WHERE app_id = $1::uuid AND seq > $2"
                       " AND seq <= $3 ORDER BY seq LIMIT $4",
                   p);
  db_answer out;
  std::vector<int64_t> call_ids, message_ids;
  std::vector<std::string> call_uuids;
  struct row_info {
    applied_event ev;
    std::optional<int64_t> call, message;
    std::optional<std::string> call_uuid; ///< (None of the three: a kept snapshot.)
  };
  std::vector<row_info> infos;
  for (const auto& r : rows) {
    row_info info;
    info.ev.app_id = q.app_id;
    info.ev.seq = r[0].as<int64_t>();
    info.ev.event_id = r[1].as<std::string>();
    info.ev.event_type = r[2].as<std::string>();
    info.ev.occurred_at_us = r[4].as<int64_t>();
    // What the live subscribers were sent, when the poller kept it.
    if (!r[5].is_null() && read_published_snapshot(r[5].c_str(), info.ev)) {
      infos.push_back(std::move(info));
      continue;
    }
    auto payload = json::parse(r[3].as<std::string>(), nullptr, false);
    if (info.ev.event_type == "call.context_updated") {
      if (payload.is_object() && payload["call_id"].is_string()
          && is_uuid(payload["call_id"].get_ref<const std::string&>()))
        info.call_uuid = payload["call_id"].get<std::string>(); // spliced into an array literal
    } else if (payload.is_object()) {
      auto data = extract_event(payload);
      if (data.event_time)
        info.ev.occurred_at_us = data.event_time->time_since_epoch().count();
      if (info.ev.event_type.starts_with("sms."))
        info.message = data.message_id;
      else
        info.call = data.dialpad_call_id;
    }
    if (info.call)
      call_ids.push_back(*info.call);
    if (info.message)
      message_ids.push_back(*info.message);
    if (info.call_uuid)
      call_uuids.push_back(*info.call_uuid);
    infos.push_back(std::move(info));
  }
  auto array_of = [](const auto& xs) {
    std::string s = "{";
    for (std::size_t i = 0; i < xs.size(); ++i) {
      if (i > 0)
        s += ',';
      if constexpr (std::is_same_v<std::decay_t<decltype(xs[i])>, std::string>)
        s += xs[i]; // UUIDs: nothing to quote
      else
        s += std::to_string(xs[i]);
    }
    return s + "}";
  };
  std::map<int64_t, std::string> calls, vms, msgs;
  std::map<std::string, std::pair<int64_t, std::string>> calls_by_uuid;
  if (!call_ids.empty() || !call_uuids.empty()) {
    sql_params cp;
    cp.text(q.app_id).text(array_of(call_ids)).text(array_of(call_uuids));
    for (const auto& r : exec(tx, call_select + " WHERE c.app_id = $1::uuid AND (c.dialpad_call_id"
                                  " = ANY($2::bigint[]) OR c.id = ANY($3::uuid[]))", cp)) {
      auto text = call_object(r);
      calls[r[1].as<int64_t>()] = text;
      calls_by_uuid[r[0].as<std::string>()] = {r[1].as<int64_t>(), text};
    }
  }
  if (!call_ids.empty()) {
    sql_params vp;
    vp.text(q.app_id).text(array_of(call_ids));
    for (const auto& r : exec(tx, voicemail_select + " WHERE v.app_id = $1::uuid AND"
                                  " v.dialpad_call_id = ANY($2::bigint[])", vp))
      vms[r[1].as<int64_t>()] = voicemail_object(r);
  }
  if (!message_ids.empty()) {
    sql_params mp;
    mp.text(q.app_id).text(array_of(message_ids));
    for (const auto& r : exec(tx, message_select + " WHERE s.app_id = $1::uuid AND"
                                  " s.dialpad_message_id = ANY($2::bigint[])", mp))
      msgs[r[1].as<int64_t>()] = message_object(r);
  }
  for (auto& info : infos) {
    if (info.call) {
      if (auto it = calls.find(*info.call); it != calls.end())
        info.ev.call_json = it->second;
      if (info.ev.event_type.starts_with("voicemail."))
        if (auto it = vms.find(*info.call); it != vms.end())
          info.ev.voicemail_json = it->second;
    }
    if (info.call_uuid)
      if (auto it = calls_by_uuid.find(*info.call_uuid); it != calls_by_uuid.end())
        info.ev.call_json = it->second.second;
    if (info.message)
      if (auto it = msgs.find(*info.message); it != msgs.end())
        info.ev.message_json = it->second;
    out.applied.push_back(std::move(info.ev));
  }
  out.body = "{\"events\":" + std::to_string(out.applied.size()) + "}";
  return out;
}

} // namespace

bool is_read_only(query_kind k) {
  switch (k) {
    case query_kind::app_list: case query_kind::app_get: case query_kind::dialpad_get:
    case query_kind::key_status: case query_kind::key_audit: case query_kind::mappings_list:
    case query_kind::mapping_by_dialpad: case query_kind::mappings_by_crm:
    case query_kind::calls_list: case query_kind::call_get: case query_kind::voicemails_list:
    case query_kind::voicemail_get: case query_kind::messages_list:
    case query_kind::app_last_seq:
    case query_kind::stream_events: case query_kind::dialpad_tokens:
    case query_kind::dialpad_connected_apps: case query_kind::retention_get:
    case query_kind::audit_list: case query_kind::console_apps:
      return true;
    default:
      return false;
  }
}

namespace {

db_answer dispatch(pqxx::transaction_base& tx, const db_query& q, const json& a) {
  switch (q.kind) {
    case query_kind::app_create: return app_create(tx, q, a);
    case query_kind::app_list: return app_list(tx, q, a);
    case query_kind::app_get: return app_get(tx, q);
    case query_kind::app_patch: return app_patch(tx, q, a);
    case query_kind::dialpad_put: return dialpad_put(tx, q, a);
    case query_kind::dialpad_get: return dialpad_get(tx, q);
    case query_kind::dialpad_delete: return dialpad_delete(tx, q);
    case query_kind::key_set: return key_set(tx, q, a);
    case query_kind::key_revoke: return key_revoke(tx, q);
    case query_kind::key_status: return key_status(tx, q);
    case query_kind::key_audit: return key_audit(tx, q, a);
    case query_kind::map_one: return map_one(tx, q, a);
    case query_kind::map_batch: return map_batch(tx, q, a);
    case query_kind::mappings_list:
    case query_kind::mappings_by_crm: return mappings_list(tx, q, a);
    case query_kind::mapping_by_dialpad: return mapping_by_dialpad(tx, q);
    case query_kind::mapping_delete: return mapping_delete(tx, q);
    case query_kind::calls_list: return calls_list(tx, q, a);
    case query_kind::call_get: return call_get(tx, q);
    case query_kind::call_patch: return call_patch(tx, q, a);
    case query_kind::voicemails_list: return voicemails_list(tx, q, a);
    case query_kind::voicemail_get: return voicemail_get(tx, q);
    case query_kind::voicemail_patch: return voicemail_patch(tx, q, a);
    case query_kind::voicemail_delete: return voicemail_delete(tx, q);
    case query_kind::messages_list: return messages_list(tx, q, a);
    case query_kind::stream_events: return stream_events(tx, q, a);
    case query_kind::oauth_state_create: return oauth_state_create(tx, q, a);
    case query_kind::oauth_state_consume: return oauth_state_consume(tx, q);
    case query_kind::dialpad_connect: return dialpad_connect(tx, q, a);
    case query_kind::dialpad_tokens: return dialpad_tokens(tx, q);
    case query_kind::dialpad_refresh_claim: return dialpad_refresh_claim(tx, q, a);
    case query_kind::dialpad_refresh_store: return dialpad_refresh_store(tx, q, a);
    case query_kind::dialpad_refresh_failed: return dialpad_refresh_failed(tx, q, a);
    case query_kind::dialpad_connected_apps: return dialpad_connected_apps(tx);
    case query_kind::dialpad_sync_start: return dialpad_sync_start(tx, q, a);
    case query_kind::dialpad_sync_progress: return dialpad_sync_update(tx, q, a, false);
    case query_kind::dialpad_sync_finish: return dialpad_sync_update(tx, q, a, true);
    case query_kind::erase: return erase(tx, q, a);
    case query_kind::retention_get: return retention_get(tx, q);
    case query_kind::retention_put: return retention_put(tx, q, a);
    case query_kind::audit_list: return audit_list(tx, q, a);
    case query_kind::console_apps: return console_apps(tx);
    case query_kind::cluster_heartbeat: return cluster_heartbeat(tx, a);
    case query_kind::cluster_leave: return cluster_leave(tx, q);
    case query_kind::retention_run: break; // run_query: own transactions
    case query_kind::app_last_seq: {
      // Also the app's state, which the tenant's sessions depend on.
      auto res = tx.exec_params("SELECT last_seq, COALESCE(api_key_id, ''), is_active FROM apps"
                                " WHERE id = $1::uuid", q.app_id);
      if (res.empty())
        refuse(errc::not_found, "no such app");
      ojson j;
      j["last_seq"] = res[0][0].as<int64_t>();
      j["key_id"] = res[0][1].as<std::string>();
      j["is_active"] = res[0][2].as<bool>();
      return {200, dump(j), {}};
    }
  }
  refuse(errc::internal, "unknown query");
}

} // namespace

std::string cursor_scope(query_kind kind, const std::string& app_id) {
  switch (kind) {
    case query_kind::app_list: return "apps";
    case query_kind::key_audit: return "key_audit:" + app_id;
    case query_kind::mappings_list:
    case query_kind::mappings_by_crm: return "mappings:" + app_id;
    case query_kind::calls_list: return "calls:" + app_id;
    case query_kind::voicemails_list: return "voicemails:" + app_id;
    case query_kind::messages_list: return "messages:" + app_id;
    case query_kind::audit_list: return "audit:" + app_id;
    default: return "none";
  }
}

namespace {

/// Advisory-lock class of the retention job (two-int form): one node at a
/// time applies it.
constexpr int32_t retention_lock_class = 0x43544952; // "CTIR"

/// Applies every app's retention in batches of `batch` rows, each in its
/// own short transaction (no long locks), never touching pending or dead
/// events or the audit logs.
db_answer run_retention(pqxx::connection_base& c, int64_t batch) {
  struct app_row {
    std::string id;
    int calls, voicemails, messages, events;
  };
  std::vector<app_row> apps;
  {
    pqxx::nontransaction tx{c};
    for (const auto& r : tx.exec("SELECT id, " + retention_columns + " FROM apps ORDER BY id"))
      apps.push_back({r[0].as<std::string>(), r[1].as<int>(), r[2].as<int>(), r[3].as<int>(),
                      r[4].as<int>()});
  }
  const std::string window = " < now() - $2::int * interval '1 day' LIMIT $3)";
  const std::string calls_sql =
    "DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE app_id = $1::uuid AND started_at" + window;
  const std::string messages_sql =
    "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE app_id = $1::uuid AND sent_at" + window;
  const std::string voicemails_sql =
    "UPDATE voicemails SET is_archived = true WHERE id IN (SELECT id FROM voicemails"
    " WHERE app_id = $1::uuid AND NOT is_archived AND received_at" + window;
  // Events: those that took no seq in any order; those of the stream
  // (WebSocket replay and gap filling read it by seq) lowest seq first and
  // only up to the first one still inside the window, so what is left of
  // the stream is always its end, never one with holes: a replay from
  // before it gets replay_truncated, and no replay or gap fill meets a
  // missing seq in the middle. (processed_at is not in seq order: rounds
  // take their numbers in commit order, a copy kept for a replayed event
  // keeps its time.) Until the twenty-fifth session they went in any order.
  const std::string events_sql =
    "DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events WHERE app_id = $1::uuid"
    " AND seq IS NULL AND state = 'processed' AND processed_at" + window;
  const std::string stream_end_sql =
    "SELECT COALESCE((SELECT min(seq) - 1 FROM webhook_events WHERE app_id = $1::uuid"
    " AND seq IS NOT NULL AND NOT (state = 'processed' AND processed_at < now() - $2::int * interval '1 day')),"
    " (SELECT max(seq) FROM webhook_events WHERE app_id = $1::uuid AND seq IS NOT NULL), 0)";
  auto stream_sql = [&](int64_t upto) {
    return "DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events"
           " WHERE app_id = $1::uuid AND seq IS NOT NULL AND seq <= "
           + std::to_string(upto) + " AND state = 'processed' AND processed_at < now() - $2::int"
           " * interval '1 day' ORDER BY seq LIMIT $3)";
  };
  // The kept frames (published) show calls and messages: they go a day
  // before the oldest records do, so that no replay sends a deleted call or
  // message (its later events arrive within a day of the call's start).
  const std::string snapshots_sql =
    "UPDATE webhook_events SET published = NULL WHERE id IN (SELECT id FROM webhook_events"
    " WHERE app_id = $1::uuid AND published IS NOT NULL AND received_at" + window;
  bool skipped = false;
  auto apply = [&](const std::string& sql, const std::string& app, int days) {
    int64_t total = 0;
    for (;;) {
      pqxx::work tx{c};
      if (!tx.exec_params1("SELECT pg_try_advisory_xact_lock($1, 0)", retention_lock_class)[0]
             .as<bool>()) {
        skipped = true; // another node is applying it right now
        return total;
      }
      auto n = static_cast<int64_t>(tx.exec_params(sql, app, days, batch).affected_rows());
      tx.commit();
      total += n;
      if (n < batch)
        return total;
    }
  };
  ojson totals = {{"calls", 0}, {"voicemails_archived", 0}, {"messages", 0}, {"webhook_events", 0}};
  for (const auto& app : apps) {
    ojson counts;
    counts["calls"] = apply(calls_sql, app.id, app.calls);
    counts["voicemails_archived"] = apply(voicemails_sql, app.id, app.voicemails);
    counts["messages"] = apply(messages_sql, app.id, app.messages);
    int64_t stream_end = 0;
    {
      pqxx::nontransaction tx{c};
      stream_end = tx.exec_params1(stream_end_sql, app.id, app.events)[0].as<int64_t>();
    }
    counts["webhook_events"] = apply(events_sql, app.id, app.events)
                               + (stream_end > 0 ? apply(stream_sql(stream_end), app.id, app.events) : 0);
    apply(snapshots_sql, app.id, std::max(0, std::min(app.calls, app.messages) - 1));
    bool any = false;
    for (auto& [k, v] : counts.items()) {
      totals[k] = totals[k].get<int64_t>() + v.get<int64_t>();
      any = any || v.get<int64_t>() > 0;
    }
    if (any) {
      pqxx::work tx{c};
      tx.exec_params("INSERT INTO activity_audit_log (app_id, actor, action, details)"
                     " VALUES ($1::uuid, 'system', 'retention.applied', $2::jsonb)",
                     app.id, dump(counts));
      tx.commit();
    }
  }
  totals["apps"] = static_cast<int64_t>(apps.size());
  totals["skipped"] = skipped;
  return {200, dump(totals), {}};
}

} // namespace

/// The kinds that act for one app on tenant tables only: the App API's
/// (reached with an app's key), the WebSocket replay read, and the internal
/// per-app ones that touch no shared table. They run as role cti_tenant,
/// bound to the app by row-level security.
bool is_tenant_scoped(query_kind k) {
  switch (k) {
    case query_kind::calls_list: case query_kind::call_get: case query_kind::call_patch:
    case query_kind::voicemails_list: case query_kind::voicemail_get:
    case query_kind::voicemail_patch: case query_kind::voicemail_delete:
    case query_kind::messages_list: case query_kind::stream_events:
    case query_kind::map_one: case query_kind::map_batch: case query_kind::mappings_list:
    case query_kind::mapping_by_dialpad: case query_kind::mappings_by_crm:
    case query_kind::mapping_delete: case query_kind::key_audit: case query_kind::erase:
      return true;
    default:
      return false;
  }
}

namespace {

/// What a DB worker's connection is doing, per backend: whether it may act
/// as cti_tenant, and for which app it does so now (empty: as itself).
struct tenant_memo {
  const void* conn = nullptr;
  int backend = 0;
  bool checked = false;
  bool available = false;
  std::string app;
};

tenant_memo& memo_of(pqxx::connection_base& c) {
  thread_local tenant_memo m;
  if (m.conn != &c || m.backend != c.backendpid()) {
    m = tenant_memo{}; // a new session starts as itself
    m.conn = &c;
    m.backend = c.backendpid();
  }
  return m;
}

/// Puts the session in tenant mode for `app` (a validated UUID, safe to
/// inline): role cti_tenant, `cti.app_id` set. It stays so for the next
/// queries of the same app, so a read costs no extra round trip.
void enter_tenant_mode(pqxx::connection_base& c, const std::string& app) {
  auto& m = memo_of(c);
  if (m.app == app)
    return;
  if (!is_uuid(app))
    refuse(errc::internal, "a tenant query without its app");
  m.app = "?"; // unknown until it succeeded: the next leave resets
  pqxx::nontransaction tx{c};
  tx.exec("SET ROLE cti_tenant; SELECT set_config('cti.app_id', '" + app + "', false)");
  m.app = app;
}

} // namespace

bool tenant_role_available(pqxx::connection_base& c) {
  // Benchmarks only (scripts/bench.sh measures what the scoping costs).
  static const bool disabled = std::getenv("CTI_BENCH_NO_TENANT_ROLE") != nullptr;
  if (disabled)
    return false;
  auto& m = memo_of(c);
  if (!m.checked) {
    pqxx::nontransaction tx{c};
    m.available = tx.exec("SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname ="
                          " 'cti_tenant') THEN pg_has_role(current_user, 'cti_tenant', 'MEMBER')"
                          " ELSE false END")[0][0].as<bool>();
    m.checked = true;
  }
  return m.available;
}

void leave_tenant_mode(pqxx::connection_base& c) {
  auto& m = memo_of(c);
  if (m.app.empty())
    return;
  m.app = "?";
  pqxx::nontransaction tx{c};
  tx.exec("RESET ROLE; RESET cti.app_id");
  m.app.clear();
}

db_answer run_query(pqxx::connection_base& c, const db_query& q) {
  auto args = q.args.empty() ? json::object() : json::parse(q.args);
  // Every kind passes here first: a kind that acts for one app switches the
  // session to it; every other one (retention included) returns it to its
  // own role, never keeping the scope of the worker's previous query.
  if (is_tenant_scoped(q.kind) && tenant_role_available(c))
    enter_tenant_mode(c, q.app_id);
  else
    leave_tenant_mode(c);
  if (q.kind == query_kind::retention_run)
    return run_retention(c, std::max<int64_t>(1, arg_int(args, "batch").value_or(1000)));
  if (is_read_only(q.kind)) {
    // Reads run in autocommit: one round trip per statement instead of
    // BEGIN/COMMIT around it.
    pqxx::nontransaction tx{c};
    return dispatch(tx, q, args);
  }
  pqxx::work tx{c};
  auto out = dispatch(tx, q, args);
  tx.commit();
  return out;
}

std::vector<std::string> unreadable_sealed_values(pqxx::connection_base& c, std::string_view key32,
                                                  std::size_t limit) {
  std::vector<std::string> out;
  pqxx::read_transaction tx{c};
  auto res = tx.exec("SELECT app_id, encode(webhook_secret_sealed, 'hex'),"
                     " encode(access_token_sealed, 'hex'), encode(refresh_token_sealed, 'hex')"
                     " FROM dialpad_connections");
  static const char* columns[] = {"", "webhook_secret_sealed", "access_token_sealed",
                                  "refresh_token_sealed"};
  for (const auto& row : res) {
    auto app = row[0].as<std::string>();
    for (int i = 1; i <= 3 && out.size() < limit; ++i) {
      if (row[i].is_null())
        continue;
      auto bytes = from_hex(row[i].as<std::string>());
      if (!bytes || !open_sealed(key32, *bytes, app))
        out.push_back(app + " " + columns[i]);
    }
  }
  return out;
}

key_record find_key(pqxx::transaction_base& tx, const std::string& key_id) {
  key_record out;
  auto res = tx.exec_prepared("app_by_key_id", key_id);
  if (res.empty())
    return out;
  out.found = true;
  out.app_id = res[0][0].as<std::string>();
  out.is_active = res[0][1].as<bool>();
  out.hash = res[0][2].as<std::string>();
  return out;
}

} // namespace cti::db
