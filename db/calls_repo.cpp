#include "db/calls_repo.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "db/json_rows.hpp"
#include "db/sql_params.hpp"

namespace cti::db {

namespace {

using json = nlohmann::json;

const std::string call_columns =
  "id, dialpad_call_id, direction, from_number, to_number, status, dialpad_user_id, "
  + us_of("started_at") + ", " + us_of("answered_at") + ", " + us_of("ended_at")
  + ", duration_seconds, recording_url, has_voicemail, crm_context::text, "
  + us_of("last_event_at") + ", " + us_of("created_at") + ", " + us_of("updated_at")
  + ", app_id";

const std::string voicemail_columns =
  "id, dialpad_call_id, from_number, to_number, dialpad_user_id, recording_url, transcript, "
  "duration_seconds, " + us_of("received_at") + ", is_archived, callback_status, crm_task_id, "
  + us_of("created_at") + ", app_id, call_id";

/// Epoch microseconds → timestamptz, for a column of a JSON recordset.
std::string ts_of(const std::string& column) {
  return "(timestamptz 'epoch' + " + column + " * interval '1 microsecond')";
}

stored_call to_call(const pqxx::row& r) {
  stored_call c;
  c.meta.id = r[0].as<std::string>();
  c.rec.dialpad_call_id = r[1].as<int64_t>();
  c.rec.direction = opt<std::string>(r[2]);
  c.rec.from_number = opt<std::string>(r[3]);
  c.rec.to_number = opt<std::string>(r[4]);
  c.rec.status = parse_call_status(r[5].as<std::string>()).value_or(call_status::ringing);
  c.rec.dialpad_user_id = opt<int64_t>(r[6]);
  c.rec.started_at = time_of(r[7]);
  c.rec.answered_at = opt_time(r[8]);
  c.rec.ended_at = opt_time(r[9]);
  c.rec.duration_seconds = opt<int>(r[10]);
  c.rec.recording_url = opt<std::string>(r[11]);
  c.rec.has_voicemail = r[12].as<bool>();
  c.meta.crm_context = opt<std::string>(r[13]);
  c.rec.last_event_at = opt_time(r[14]);
  c.meta.created_at = time_of(r[15]);
  c.meta.updated_at = time_of(r[16]);
  return c;
}

stored_voicemail to_voicemail(const pqxx::row& r) {
  stored_voicemail v;
  v.meta.id = r[0].as<std::string>();
  v.rec.dialpad_call_id = opt<int64_t>(r[1]);
  v.rec.from_number = opt<std::string>(r[2]);
  v.rec.to_number = opt<std::string>(r[3]);
  v.rec.dialpad_user_id = opt<int64_t>(r[4]);
  v.rec.recording_url = opt<std::string>(r[5]);
  v.rec.transcript = opt<std::string>(r[6]);
  v.rec.duration_seconds = opt<int>(r[7]);
  v.rec.received_at = time_of(r[8]);
  v.meta.is_archived = r[9].as<bool>();
  v.meta.callback_status = r[10].as<std::string>();
  v.meta.crm_task_id = opt<std::string>(r[11]);
  v.meta.created_at = time_of(r[12]);
  v.call_id = opt<std::string>(r[14]);
  return v;
}

/// `[{"a": app, "k": id}, ...]` for the key lookups below.
template <class Key, class IdOf>
std::string keys_json(const std::vector<Key>& keys, IdOf id_of) {
  json_rows rows;
  for (const auto& k : keys)
    rows.add({{"a", k.app_id}, {"k", id_of(k)}});
  return rows.text();
}

/// `SELECT <columns> FROM <table> WHERE (app_id, <id>) is one of the keys in
/// $1`, as a lateral join so that every key is one probe of the table's
/// unique index whatever the plan cache thinks of the table's size (a
/// generic plan made while the table was small would otherwise scan it).
std::string for_keys(const std::string& columns, const std::string& table,
                     const std::string& id_column, const std::string& tail = {}) {
  return "SELECT " + columns + " FROM jsonb_to_recordset($1::jsonb) AS x(a uuid, k bigint)"
         " CROSS JOIN LATERAL (SELECT * FROM " + table + " t WHERE t.app_id = x.a AND t."
         + id_column + " = x.k" + tail + ") AS " + table;
}

} // namespace

std::vector<prepared_statement> calls_repo_statements() {
  return {
    {"calls_lock", for_keys(call_columns, "calls", "dialpad_call_id", " FOR UPDATE")},
    {"calls_write",
     "INSERT INTO calls (id, app_id, dialpad_call_id, direction, from_number, to_number, status,"
     " dialpad_user_id, started_at, answered_at, ended_at, duration_seconds, recording_url,"
     " has_voicemail, last_event_at, raw_payload)"
     " SELECT x.id, x.a, x.c, x.dir, x.fr, x.tn, x.st, x.u, " + ts_of("x.s") + ", "
       + ts_of("x.an") + ", " + ts_of("x.en") + ", x.d, x.rec, x.vm, " + ts_of("x.le") + ", x.raw"
     " FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, a uuid, c bigint, dir text, fr text,"
     " tn text, st text, u bigint, s bigint, an bigint, en bigint, d integer, rec text,"
     " vm boolean, le bigint, raw jsonb)"
     " ON CONFLICT (app_id, dialpad_call_id) DO UPDATE SET direction = EXCLUDED.direction,"
     " from_number = EXCLUDED.from_number, to_number = EXCLUDED.to_number,"
     " status = EXCLUDED.status, dialpad_user_id = EXCLUDED.dialpad_user_id,"
     " started_at = EXCLUDED.started_at, answered_at = EXCLUDED.answered_at,"
     " ended_at = EXCLUDED.ended_at, duration_seconds = EXCLUDED.duration_seconds,"
     " recording_url = EXCLUDED.recording_url, has_voicemail = EXCLUDED.has_voicemail,"
     " last_event_at = EXCLUDED.last_event_at, raw_payload = EXCLUDED.raw_payload,"
     " updated_at = now()"},
    {"calls_mark",
     "UPDATE calls SET last_event_at = " + ts_of("x.le")
       + " FROM jsonb_to_recordset($1::jsonb) AS x(a uuid, c bigint, le bigint)"
     " WHERE calls.app_id = x.a AND calls.dialpad_call_id = x.c"},
    {"voicemails_lock", for_keys(voicemail_columns, "voicemails", "dialpad_call_id", " FOR UPDATE")},
    {"voicemails_write",
     "INSERT INTO voicemails (id, app_id, call_id, dialpad_call_id, from_number, to_number,"
     " dialpad_user_id, recording_url, transcript, duration_seconds, received_at)"
     " SELECT x.id, x.a, x.call, x.c, x.fr, x.tn, x.u, x.rec, x.tr, x.d, " + ts_of("x.r")
       + " FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, a uuid, call uuid, c bigint,"
     " fr text, tn text, u bigint, rec text, tr text, d integer, r bigint)"
     " ON CONFLICT (app_id, dialpad_call_id) DO UPDATE SET"
     " call_id = COALESCE(voicemails.call_id, EXCLUDED.call_id),"
     " from_number = EXCLUDED.from_number, to_number = EXCLUDED.to_number,"
     " dialpad_user_id = EXCLUDED.dialpad_user_id, recording_url = EXCLUDED.recording_url,"
     " transcript = EXCLUDED.transcript, duration_seconds = EXCLUDED.duration_seconds,"
     " received_at = EXCLUDED.received_at, updated_at = now()"},
    {"crm_users_of", for_keys("dialpad_user_mappings.app_id, dialpad_user_mappings.dialpad_user_id,"
                              " dialpad_user_mappings.crm_user_id",
                              "dialpad_user_mappings", "dialpad_user_id")},
    {"dialpad_users_find",
     for_keys("dialpad_users.app_id, dialpad_users.dialpad_user_id, dialpad_users.email,"
              " dialpad_users.name, dialpad_users.phone, dialpad_users.office_id, "
                + us_of("dialpad_users.last_seen_at"),
              "dialpad_users", "dialpad_user_id")},
    {"dialpad_users_write",
     "INSERT INTO dialpad_users (app_id, dialpad_user_id, email, name, phone, office_id,"
     " last_seen_at)"
     " SELECT x.a, x.u, x.e, x.n, x.p, x.o, " + ts_of("x.s")
       + " FROM jsonb_to_recordset($1::jsonb) AS x(a uuid, u bigint, e text, n text, p text,"
     " o bigint, s bigint) ORDER BY x.a, x.u"
     // Merged again here, not only in the round: two rounds that read the
     // row before either wrote would otherwise each write back their stale
     // copy, and the second would clear what the first learnt (a null is
     // "not said", never "cleared": see_user only fills fields in).
     " ON CONFLICT (app_id, dialpad_user_id) DO UPDATE SET"
     " email = COALESCE(EXCLUDED.email, dialpad_users.email),"
     " name = COALESCE(EXCLUDED.name, dialpad_users.name),"
     " phone = COALESCE(EXCLUDED.phone, dialpad_users.phone),"
     " office_id = COALESCE(EXCLUDED.office_id, dialpad_users.office_id),"
     " last_seen_at = GREATEST(EXCLUDED.last_seen_at, dialpad_users.last_seen_at)"},
  };
}

std::map<call_key, stored_call> lock_calls(pqxx::transaction_base& tx,
                                           const std::vector<call_key>& keys) {
  std::map<call_key, stored_call> out;
  if (keys.empty())
    return out;
  auto json_keys = keys_json(keys, [](const call_key& k) { return k.dialpad_call_id; });
  for (const auto& row : tx.exec_prepared("calls_lock", json_keys)) {
    auto c = to_call(row);
    out.emplace(call_key{row[17].as<std::string>(), c.rec.dialpad_call_id}, std::move(c));
  }
  return out;
}

void write_calls(pqxx::transaction_base& tx, const std::vector<call_write>& rows) {
  if (rows.empty())
    return;
  json_rows arr;
  for (const auto& w : rows) {
    const auto& c = w.row->rec;
    static const std::string none;
    arr.add({{"id", w.row->meta.id},
             {"a", w.key.app_id},
             {"c", c.dialpad_call_id},
             {"dir", opt_json(c.direction)},
             {"fr", opt_json(c.from_number)},
             {"tn", opt_json(c.to_number)},
             {"st", std::string{to_string(c.status)}},
             {"u", opt_json(c.dialpad_user_id)},
             {"s", c.started_at.time_since_epoch().count()},
             {"an", opt_us(c.answered_at)},
             {"en", opt_us(c.ended_at)},
             {"d", opt_json(c.duration_seconds)},
             {"rec", opt_json(c.recording_url)},
             {"vm", c.has_voicemail},
             {"le", opt_us(c.last_event_at)}},
            w.raw_payload != nullptr ? w.raw_payload : &none);
  }
  tx.exec_prepared("calls_write", arr.text());
}

void write_call_marks(pqxx::transaction_base& tx,
                      const std::vector<std::pair<call_key, const stored_call*>>& rows) {
  if (rows.empty())
    return;
  json_rows arr;
  for (const auto& [key, row] : rows)
    arr.add({{"a", key.app_id}, {"c", key.dialpad_call_id}, {"le", opt_us(row->rec.last_event_at)}});
  tx.exec_prepared("calls_mark", arr.text());
}

std::map<call_key, stored_voicemail> lock_voicemails(pqxx::transaction_base& tx,
                                                     const std::vector<call_key>& keys) {
  std::map<call_key, stored_voicemail> out;
  if (keys.empty())
    return out;
  auto json_keys = keys_json(keys, [](const call_key& k) { return k.dialpad_call_id; });
  for (const auto& row : tx.exec_prepared("voicemails_lock", json_keys)) {
    auto v = to_voicemail(row);
    out.emplace(call_key{row[13].as<std::string>(), v.rec.dialpad_call_id.value_or(0)},
                std::move(v));
  }
  return out;
}

void write_voicemails(pqxx::transaction_base& tx,
                      const std::vector<std::pair<call_key, const stored_voicemail*>>& rows) {
  if (rows.empty())
    return;
  json_rows arr;
  for (const auto& [key, v] : rows)
    arr.add({
      {"id", v->meta.id},
      {"a", key.app_id},
      {"call", opt_json(v->call_id)},
      {"c", key.dialpad_call_id},
      {"fr", opt_json(v->rec.from_number)},
      {"tn", opt_json(v->rec.to_number)},
      {"u", opt_json(v->rec.dialpad_user_id)},
      {"rec", opt_json(v->rec.recording_url)},
      {"tr", opt_json(v->rec.transcript)},
      {"d", opt_json(v->rec.duration_seconds)},
      {"r", v->rec.received_at.time_since_epoch().count()},
    });
  tx.exec_prepared("voicemails_write", arr.text());
}

std::map<user_key, std::string> crm_users_of(pqxx::transaction_base& tx,
                                             const std::vector<user_key>& keys) {
  std::map<user_key, std::string> out;
  if (keys.empty())
    return out;
  auto json_keys = keys_json(keys, [](const user_key& k) { return k.dialpad_user_id; });
  for (const auto& row : tx.exec_prepared("crm_users_of", json_keys))
    out.emplace(user_key{row[0].as<std::string>(), row[1].as<int64_t>()},
                row[2].as<std::string>());
  return out;
}

std::map<user_key, dialpad_user> find_dialpad_users(pqxx::transaction_base& tx,
                                                    const std::vector<user_key>& keys) {
  std::map<user_key, dialpad_user> out;
  if (keys.empty())
    return out;
  auto json_keys = keys_json(keys, [](const user_key& k) { return k.dialpad_user_id; });
  for (const auto& row : tx.exec_prepared("dialpad_users_find", json_keys)) {
    dialpad_user u;
    u.email = opt<std::string>(row[2]);
    u.name = opt<std::string>(row[3]);
    u.phone = opt<std::string>(row[4]);
    u.office_id = opt<int64_t>(row[5]);
    u.last_seen_at = time_of(row[6]);
    out.emplace(user_key{row[0].as<std::string>(), row[1].as<int64_t>()}, std::move(u));
  }
  return out;
}

void write_dialpad_users(pqxx::transaction_base& tx,
                         const std::map<user_key, dialpad_user>& rows) {
  if (rows.empty())
    return;
  json_rows arr;
  for (const auto& [key, u] : rows)
    arr.add({
      {"a", key.app_id},
      {"u", key.dialpad_user_id},
      {"e", opt_json(u.email)},
      {"n", opt_json(u.name)},
      {"p", opt_json(u.phone)},
      {"o", opt_json(u.office_id)},
      {"s", u.last_seen_at.time_since_epoch().count()},
    });
  tx.exec_prepared("dialpad_users_write", arr.text());
}

} // namespace cti::db
