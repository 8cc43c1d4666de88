#include "domain/api_objects.hpp"

#include <nlohmann/json.hpp>

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
  ojson j;
  j["id"] = m.id;
  j["dialpad_call_id"] = c.dialpad_call_id;
  j["direction"] = opt(c.direction);
  j["from_number"] = opt(c.from_number);
  j["to_number"] = opt(c.to_number);
  j["status"] = std::string{to_string(c.status)};
  j["dialpad_user_id"] = opt(c.dialpad_user_id);
  j["crm_user_id"] = opt(m.crm_user_id);
  j["started_at"] = format_rfc3339(c.started_at);
  j["answered_at"] = opt_time(c.answered_at);
  j["ended_at"] = opt_time(c.ended_at);
  j["duration_seconds"] = opt(c.duration_seconds);
  j["recording_url"] = opt(c.recording_url);
  j["has_voicemail"] = c.has_voicemail;
  j["crm_context"] = opt_object(m.crm_context);
  j["created_at"] = format_rfc3339(m.created_at);
  j["updated_at"] = format_rfc3339(m.updated_at);
  return dump(j);
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
