#include "db/calls_repo.hpp"

#include <pqxx/pqxx>

#include "db/sql_params.hpp"

namespace cti::db {

namespace {

const std::string call_columns =
  "id, dialpad_call_id, direction, from_number, to_number, status, dialpad_user_id, "
  + us_of("started_at") + ", " + us_of("answered_at") + ", " + us_of("ended_at")
  + ", duration_seconds, recording_url, has_voicemail, crm_context::text, "
  + us_of("last_event_at") + ", " + us_of("created_at") + ", " + us_of("updated_at");

const std::string voicemail_columns =
  "id, dialpad_call_id, from_number, to_number, dialpad_user_id, recording_url, transcript, "
  "duration_seconds, " + us_of("received_at") + ", is_archived, callback_status, crm_task_id, "
  + us_of("created_at");

template <class T>
std::optional<T> opt(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return f.as<T>();
}

std::optional<timestamp> opt_time(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return timestamp{std::chrono::microseconds{f.as<int64_t>()}};
}

timestamp time_of(const pqxx::field& f) {
  return timestamp{std::chrono::microseconds{f.as<int64_t>()}};
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
  return v;
}

/// The event-owned call columns, in the order the statements below use.
void add_call_fields(sql_params& p, const call_record& c) {
  p.text(c.direction)
    .text(c.from_number)
    .text(c.to_number)
    .text(std::string{to_string(c.status)})
    .int64(c.dialpad_user_id)
    .time(c.started_at)
    .time(c.answered_at)
    .time(c.ended_at)
    .int64(c.duration_seconds ? std::optional<int64_t>{*c.duration_seconds} : std::nullopt)
    .text(c.recording_url)
    .boolean(c.has_voicemail)
    .time(c.last_event_at);
}

} // namespace

std::vector<prepared_statement> calls_repo_statements() {
  return {
    {"call_lock", "SELECT " + call_columns
                    + " FROM calls WHERE app_id = $1::uuid AND dialpad_call_id = $2 FOR UPDATE"},
    {"call_insert",
     "INSERT INTO calls (app_id, dialpad_call_id, direction, from_number, to_number, status,"
     " dialpad_user_id, started_at, answered_at, ended_at, duration_seconds, recording_url,"
     " has_voicemail, last_event_at, raw_payload)"
     " VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, " + ts_param(8) + ", " + ts_param(9) + ", "
       + ts_param(10) + ", $11, $12, $13, " + ts_param(14) + ", $15::jsonb)"
     " ON CONFLICT (app_id, dialpad_call_id) DO NOTHING RETURNING " + call_columns},
    {"call_update",
     "UPDATE calls SET direction = $2, from_number = $3, to_number = $4, status = $5,"
     " dialpad_user_id = $6, started_at = " + ts_param(7) + ", answered_at = " + ts_param(8)
       + ", ended_at = " + ts_param(9) + ", duration_seconds = $10, recording_url = $11,"
     " has_voicemail = $12, last_event_at = " + ts_param(13) + ", raw_payload = $14::jsonb"
     " WHERE id = $1::uuid RETURNING " + call_columns},
    {"voicemail_lock", "SELECT " + voicemail_columns
                         + " FROM voicemails WHERE app_id = $1::uuid AND dialpad_call_id = $2"
                           " FOR UPDATE"},
    {"voicemail_upsert",
     "INSERT INTO voicemails (app_id, call_id, dialpad_call_id, from_number, to_number,"
     " dialpad_user_id, recording_url, transcript, duration_seconds, received_at)"
     " VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, " + ts_param(10) + ")"
     " ON CONFLICT (app_id, dialpad_call_id) DO UPDATE SET"
     " call_id = COALESCE(voicemails.call_id, EXCLUDED.call_id),"
     " from_number = EXCLUDED.from_number, to_number = EXCLUDED.to_number,"
     " dialpad_user_id = EXCLUDED.dialpad_user_id, recording_url = EXCLUDED.recording_url,"
     " transcript = EXCLUDED.transcript, duration_seconds = EXCLUDED.duration_seconds,"
     " received_at = EXCLUDED.received_at"
     " RETURNING " + voicemail_columns},
    {"crm_user_of",
     "SELECT crm_user_id FROM dialpad_user_mappings WHERE app_id = $1::uuid"
     " AND dialpad_user_id = $2"},
    {"dialpad_user_upsert",
     "INSERT INTO dialpad_users (app_id, dialpad_user_id, email, name, phone, office_id)"
     " VALUES ($1::uuid, $2, $3, $4, $5, $6)"
     " ON CONFLICT (app_id, dialpad_user_id) DO UPDATE SET"
     " email = COALESCE(EXCLUDED.email, dialpad_users.email),"
     " name = COALESCE(EXCLUDED.name, dialpad_users.name),"
     " phone = COALESCE(EXCLUDED.phone, dialpad_users.phone),"
     " office_id = COALESCE(EXCLUDED.office_id, dialpad_users.office_id),"
     " last_seen_at = now()"},
  };
}

std::optional<stored_call> lock_call(pqxx::transaction_base& tx, const std::string& app_id,
                                     int64_t dialpad_call_id) {
  auto res = tx.exec_prepared("call_lock", app_id, dialpad_call_id);
  if (res.empty())
    return std::nullopt;
  return to_call(res[0]);
}

std::optional<stored_call> insert_call(pqxx::transaction_base& tx, const std::string& app_id,
                                       const call_record& c, const std::string& raw_payload) {
  sql_params p;
  p.text(app_id).int64(c.dialpad_call_id);
  add_call_fields(p, c);
  p.text(raw_payload);
  auto res = tx.exec_prepared("call_insert", p.dynamic());
  if (res.empty())
    return std::nullopt;
  return to_call(res[0]);
}

stored_call update_call(pqxx::transaction_base& tx, const std::string& id, const call_record& c,
                        const std::string& raw_payload) {
  sql_params p;
  p.text(id);
  add_call_fields(p, c);
  p.text(raw_payload);
  return to_call(tx.exec_prepared("call_update", p.dynamic()).at(0));
}

std::optional<stored_voicemail> lock_voicemail(pqxx::transaction_base& tx,
                                               const std::string& app_id,
                                               int64_t dialpad_call_id) {
  auto res = tx.exec_prepared("voicemail_lock", app_id, dialpad_call_id);
  if (res.empty())
    return std::nullopt;
  return to_voicemail(res[0]);
}

stored_voicemail upsert_voicemail(pqxx::transaction_base& tx, const std::string& app_id,
                                  const std::optional<std::string>& call_id,
                                  const voicemail_record& v) {
  sql_params p;
  p.text(app_id)
    .text(call_id)
    .int64(v.dialpad_call_id)
    .text(v.from_number)
    .text(v.to_number)
    .int64(v.dialpad_user_id)
    .text(v.recording_url)
    .text(v.transcript)
    .int64(v.duration_seconds ? std::optional<int64_t>{*v.duration_seconds} : std::nullopt)
    .time(v.received_at);
  return to_voicemail(tx.exec_prepared("voicemail_upsert", p.dynamic()).at(0));
}

std::optional<std::string> crm_user_of(pqxx::transaction_base& tx, const std::string& app_id,
                                       std::optional<int64_t> dialpad_user_id) {
  if (!dialpad_user_id)
    return std::nullopt;
  auto res = tx.exec_prepared("crm_user_of", app_id, *dialpad_user_id);
  if (res.empty())
    return std::nullopt;
  return res[0][0].as<std::string>();
}

void upsert_dialpad_user(pqxx::transaction_base& tx, const std::string& app_id,
                         const event_data& ev) {
  if (!ev.dialpad_user_id)
    return;
  sql_params p;
  p.text(app_id)
    .int64(ev.dialpad_user_id)
    .text(ev.user_email)
    .text(ev.user_name)
    .text(ev.user_phone)
    .int64(ev.user_office_id);
  tx.exec_prepared("dialpad_user_upsert", p.dynamic());
}

} // namespace cti::db
