#include "domain/api_objects.hpp"

#include <nlohmann/json.hpp>

#include "domain/json_writer.hpp"

namespace cti {

namespace {

using ojson = nlohmann::ordered_json;

template <class T>
ojson opt(const std::optional<T>& v) {
  return v ? ojson(*v) : ojson(nullptr);
}

ojson opt_time(const std::optional<timestamp>& t) {
  return t ? ojson(format_rfc3339(*t)) : ojson(nullptr);
}

ojson opt_object(const std::optional<std::string>& text) {
  if (!text)
    return nullptr;
  auto j = ojson::parse(*text, nullptr, false);
  return j.is_discarded() ? ojson(nullptr) : j;
}

std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

} // namespace

std::string call_json(const call_record& c, const call_meta& m) {
  // Hand-written (json_writer): the call list renders up to 500 of these
  // per request.
  std::string out;
  out.reserve(640);
  auto time = [](const std::optional<timestamp>& t) {
    return t ? std::optional<std::string>{format_rfc3339(*t)} : std::nullopt;
  };
  // crm_context: the stored compact JSON text, keys in the CRM's order
  // (re-written compact: a row from before migration 012 holds jsonb's
  // text, which has spaces).
  std::optional<std::string> ctx;
  if (m.crm_context) {
    auto j = ojson::parse(*m.crm_context, nullptr, false);
    if (!j.is_discarded() && j.is_object())
      ctx = j.dump();
  }
  json_object_writer w{out};
  w.str("id", m.id)
    .num("dialpad_call_id", c.dialpad_call_id)
    .str("direction", c.direction)
    .str("from_number", c.from_number)
    .str("to_number", c.to_number)
    .str("status", to_string(c.status))
    .num("dialpad_user_id", c.dialpad_user_id)
    .str("crm_user_id", m.crm_user_id)
    .str("started_at", format_rfc3339(c.started_at))
    .str("answered_at", time(c.answered_at))
    .str("ended_at", time(c.ended_at))
    .num("duration_seconds", c.duration_seconds)
    .str("recording_url", c.recording_url)
    .boolean("has_voicemail", c.has_voicemail)
    .raw("crm_context", ctx)
    .str("created_at", format_rfc3339(m.created_at))
    .str("updated_at", format_rfc3339(m.updated_at))
    .end();
  return out;
}

std::string voicemail_json(const voicemail_record& v, const voicemail_meta& m) {
  ojson j;
  j["id"] = m.id;
  j["dialpad_call_id"] = opt(v.dialpad_call_id);
  j["from_number"] = opt(v.from_number);
  j["to_number"] = opt(v.to_number);
  j["dialpad_user_id"] = opt(v.dialpad_user_id);
  j["crm_user_id"] = opt(m.crm_user_id);
  j["recording_url"] = opt(v.recording_url);
  j["transcript"] = opt(v.transcript);
  j["duration_seconds"] = opt(v.duration_seconds);
  j["received_at"] = format_rfc3339(v.received_at);
  j["is_archived"] = m.is_archived;
  j["callback_status"] = m.callback_status;
  j["crm_task_id"] = opt(m.crm_task_id);
  j["created_at"] = format_rfc3339(m.created_at);
  return dump(j);
}

std::string message_json(const message_record& m) {
  ojson j;
  j["id"] = m.id;
  j["dialpad_message_id"] = m.dialpad_message_id;
  j["direction"] = opt(m.direction);
  j["from_number"] = opt(m.from_number);
  j["to_number"] = opt(m.to_number);
  j["text"] = opt(m.text);
  j["dialpad_user_id"] = opt(m.dialpad_user_id);
  j["crm_user_id"] = opt(m.crm_user_id);
  j["sent_at"] = format_rfc3339(m.sent_at);
  j["created_at"] = format_rfc3339(m.created_at);
  return dump(j);
}

std::string event_json(const event_record& e) {
  ojson j;
  j["id"] = e.id;
  j["dialpad_event_id"] = e.dialpad_event_id;
  j["event_type"] = e.event_type;
  j["state"] = e.state;
  j["outcome"] = opt(e.outcome);
  j["attempts"] = e.attempts;
  j["last_error"] = opt(e.last_error);
  j["seq"] = opt(e.seq);
  j["received_at"] = format_rfc3339(e.received_at);
  j["processed_at"] = opt_time(e.processed_at);
  j["next_attempt_at"] = opt_time(e.next_attempt_at);
  // The payload as PostgreSQL writes the stored jsonb, spliced in: parsed
  // and written again, a number past 64 bits lost its digits.
  if (e.payload && e.payload->starts_with('{') && e.payload->ends_with('}')) {
    auto out = dump(j);
    out.pop_back();
    out += R"(,"payload":)";
    out += *e.payload;
    out += '}';
    return out;
  }
  if (e.payload)
    j["payload"] = opt_object(e.payload);
  return dump(j);
}

std::string page_json(const std::vector<std::string>& objects,
                      const std::optional<std::string>& next_cursor, bool has_more) {
  std::string out = R"({"data":[)";
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (i > 0)
      out += ',';
    out += objects[i];
  }
  out += R"(],"next_cursor":)";
  out += next_cursor ? dump(ojson(*next_cursor)) : std::string{"null"};
  out += R"(,"has_more":)";
  out += has_more ? "true" : "false";
  out += '}';
  return out;
}

} // namespace cti
