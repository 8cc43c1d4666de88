#include "actors/ws_stream.hpp"

#include <nlohmann/json.hpp>

#include "domain/time_format.hpp"

namespace cti {

namespace {

using ojson = nlohmann::ordered_json;

ojson parse_object(const std::string& text) {
  if (text.empty())
    return nullptr;
  auto j = ojson::parse(text, nullptr, false);
  return j.is_object() ? j : ojson(nullptr);
}

ojson field(const ojson& obj, const char* name) {
  if (!obj.is_object())
    return nullptr;
  auto it = obj.find(name);
  return it == obj.end() ? ojson(nullptr) : *it;
}

} // namespace

rendered_frame event_frame(const applied_event& ev) {
  auto call = parse_object(ev.call_json);
  auto vm = parse_object(ev.voicemail_json);
  auto msg = parse_object(ev.message_json);
  // The call's fields, else the voicemail's, else the message's.
  const ojson& main = call.is_object() ? call : vm.is_object() ? vm : msg;
  ojson f;
  f["type"] = "event";
  f["seq"] = ev.seq;
  f["event"] = ev.event_type;
  f["call_id"] = field(main, "dialpad_call_id");
  f["direction"] = field(main, "direction");
  f["from_number"] = field(main, "from_number");
  f["to_number"] = field(main, "to_number");
  f["status"] = field(call, "status");
  f["user_id"] = field(main, "dialpad_user_id");
  rendered_frame out;
  auto crm = field(main, "crm_user_id");
  if (crm.is_string()) {
    f["target_crm_user"] = crm;
    out.target_crm = crm.get<std::string>();
  }
  f["timestamp"] = format_rfc3339(timestamp{std::chrono::microseconds{ev.occurred_at_us}});
  // The record an event type carries is always there, null when it is
  // gone (erased, deleted, purged by retention, before a replay rebuilt
  // the frame), so that a client can tell "no record" from a missing field.
  auto carries = [&ev](std::string_view prefix) {
    return std::string_view{ev.event_type}.substr(0, prefix.size()) == prefix;
  };
  if (call.is_object() || carries("call.") || carries("voicemail."))
    f["call"] = call;
  if (vm.is_object() || carries("voicemail."))
    f["voicemail"] = vm;
  if (msg.is_object() || carries("sms."))
    f["message"] = msg;
  out.text = f.dump(-1, ' ', false, ojson::error_handler_t::replace);
  out.event = ev.event_type;
  return out;
}

std::string welcome_frame(const std::string& app_id, const std::string& node, int64_t seq) {
  ojson f;
  f["type"] = "welcome";
  f["app_id"] = app_id;
  f["node"] = node;
  f["seq"] = seq;
  return f.dump();
}

std::string replay_truncated_frame(int64_t from_seq) {
  ojson f;
  f["type"] = "replay_truncated";
  f["from_seq"] = from_seq;
  return f.dump();
}

bool glob_match(std::string_view p, std::string_view t) {
  // Iterative wildcard match with backtracking to the last '*'.
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (pi < p.size() && p[pi] == t[ti]) {
      ++pi;
      ++ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*')
    ++pi;
  return pi == p.size();
}

bool frame_matches(const rendered_frame& frame, const ws_filter& filter) {
  if (!filter.crm_user_id.empty() && frame.target_crm && *frame.target_crm != filter.crm_user_id)
    return false;
  if (filter.events.empty())
    return true;
  for (const auto& g : filter.events)
    if (glob_match(g, frame.event))
      return true;
  return false;
}

bool at_soft_bound(const send_queue_state& q, const send_queue_limits& limits) {
  return q.frames >= limits.frames || q.bytes >= limits.bytes;
}

bool too_slow(const send_queue_state& q, const send_queue_limits& limits) {
  if (at_soft_bound(q, limits) && q.writing && q.writing_for > limits.stall)
    return true;
  return q.frames >= 4 * limits.frames + limits.burst;
}

} // namespace cti
