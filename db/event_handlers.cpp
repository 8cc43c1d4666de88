#include "db/event_handlers.hpp"

#include <map>
#include <stdexcept>
#include <string>

#include "domain/event_model.hpp"
#include "domain/log.hpp"
#include "domain/sanitize.hpp"
#include "domain/uuid.hpp"

namespace cti::db {

namespace {

/// How long a Dialpad user's last_seen_at may lag before an event refreshes it
/// (so hot users are not rewritten by every batch).
constexpr auto last_seen_resolution = std::chrono::minutes{1};

int64_t occurred_us(const event_data& ev, timestamp now) {
  return (ev.event_time ? *ev.event_time : now).time_since_epoch().count();
}


std::optional<std::string> crm_user(const event_batch& batch, const std::string& app_id,
                                    std::optional<int64_t> dialpad_user_id) {
  if (!dialpad_user_id)
    return std::nullopt;
  auto it = batch.crm_users.find(user_key{app_id, *dialpad_user_id});
  if (it == batch.crm_users.end())
    return std::nullopt;
  return it->second;
}

/// Records the Dialpad user an event names (fill-in of email, name, phone,
/// office; last seen now).
void see_user(event_batch& batch, const std::string& app_id, const event_data& ev) {
  if (!ev.dialpad_user_id)
    return;
  user_key key{app_id, *ev.dialpad_user_id};
  auto [it, created] = batch.users.try_emplace(key);
  auto& u = it->second;
  auto before = u;
  auto take = [](auto& field, const auto& value) {
    if (value)
      field = value;
  };
  take(u.email, ev.user_email);
  take(u.name, ev.user_name);
  take(u.phone, ev.user_phone);
  take(u.office_id, ev.user_office_id);
  if (created || !(u == before) || batch.now - u.last_seen_at >= last_seen_resolution) {
    u.last_seen_at = batch.now;
    batch.changed_users.insert(key);
  }
}

/// API.md: a direction that is none of the known spellings becomes null
/// "with a warning". A time given but unreadable counts as absent (the
/// processing time may stand in): also warned, so an operator sees why.
void warn_about_fields(const stored_event& stored, const event_data& ev) {
  if (ev.direction_unknown)
    log::warn("unknown direction in an event, stored as null",
              {{"app_id", stored.app_id}, {"event_id", stored.id}, {"event_type", ev.event_type}});
  if (!ev.unreadable_time.empty())
    log::warn("unreadable time in an event, taken as absent",
              {{"app_id", stored.app_id},
               {"event_id", stored.id},
               {"event_type", ev.event_type},
               {"field", ev.unreadable_time}});
}

/// Applies the call part of an event to the batch's copy of the call.
/// Answers the merge and the row after it (null when there is none).
std::pair<call_merge, stored_call*> apply_to_call(event_batch& batch, const stored_event& stored,
                                                  const event_data& ev) {
  call_key key{stored.app_id, *ev.dialpad_call_id};
  auto it = batch.calls.find(key);
  auto m = merge_call(it != batch.calls.end() ? std::optional<call_record>{it->second.rec}
                                              : std::nullopt,
                      ev, batch.now);
  if (m.refused_from)
    // API.md: an invalid transition leaves the status and logs a warning.
    log::warn("call status transition refused",
              {{"app_id", stored.app_id},
               {"event_id", stored.id},
               {"dialpad_call_id", std::to_string(*ev.dialpad_call_id)},
               {"status", std::string{to_string(*m.refused_from)}},
               {"event_type", ev.event_type}});
  else if (m.refused_as_older)
    // Out of order (common with retried deliveries): logged, not a fault.
    log::info("call status change refused: older than the last applied one",
              {{"app_id", stored.app_id},
               {"event_id", stored.id},
               {"dialpad_call_id", std::to_string(*ev.dialpad_call_id)},
               {"event_type", ev.event_type}});
  if (m.mark_moved) {
    // Not applied (nothing shown moved), but the ordering mark must be stored.
    it->second.rec.last_event_at = m.call.last_event_at;
    batch.marked_calls.insert(key);
  }
  if (m.outcome != event_outcome::applied)
    return {std::move(m), it != batch.calls.end() ? &it->second : nullptr};
  if (it == batch.calls.end()) {
    stored_call fresh;
    fresh.meta.id = new_uuid();
    fresh.meta.created_at = batch.now;
    it = batch.calls.emplace(key, std::move(fresh)).first;
  }
  it->second.rec = m.call;
  it->second.meta.updated_at = batch.now;
  batch.changed_calls[key] = &stored;
  return {std::move(m), &it->second};
}

std::string call_object(const event_batch& batch, const std::string& app_id,
                        const stored_call& call) {
  auto meta = call.meta;
  meta.crm_user_id = crm_user(batch, app_id, call.rec.dialpad_user_id);
  return call_json(call.rec, meta);
}

handler_result handle_call(event_batch& batch, const stored_event& stored, const event_data& ev) {
  handler_result out;
  warn_about_fields(stored, ev);
  if (!ev.dialpad_call_id)
    return out; // ignored: nothing to attach it to
  see_user(batch, stored.app_id, ev);
  auto [m, row] = apply_to_call(batch, stored, ev);
  out.outcome = m.outcome;
  out.published_type = m.published_type.empty() ? stored.event_type : m.published_type;
  out.occurred_at_us = occurred_us(ev, batch.now);
  if (m.outcome == event_outcome::applied && row != nullptr)
    out.call_json = call_object(batch, stored.app_id, *row);
  return out;
}

handler_result handle_voicemail(event_batch& batch, const stored_event& stored,
                                const event_data& ev) {
  handler_result out;
  warn_about_fields(stored, ev);
  if (!ev.dialpad_call_id)
    return out; // a voicemail belongs to a call
  see_user(batch, stored.app_id, ev);
  auto [m, call] = apply_to_call(batch, stored, ev);
  call_key key{stored.app_id, *ev.dialpad_call_id};
  auto it = batch.voicemails.find(key);
  auto vm = merge_voicemail(it != batch.voicemails.end()
                              ? std::optional<voicemail_record>{it->second.rec}
                              : std::nullopt,
                            ev, batch.now);
  if (vm.changed) {
    if (it == batch.voicemails.end()) {
      stored_voicemail fresh;
      fresh.meta.id = new_uuid();
      fresh.meta.created_at = batch.now;
      it = batch.voicemails.emplace(key, std::move(fresh)).first;
    }
    it->second.rec = vm.voicemail;
    if (!it->second.call_id && call != nullptr)
      it->second.call_id = call->meta.id;
    batch.changed_voicemails.insert(key);
  }
  // Either part changing makes the event applied (a transcript alone counts).
  out.outcome = vm.changed ? event_outcome::applied : m.outcome;
  out.published_type = "voicemail.received";
  out.occurred_at_us = occurred_us(ev, batch.now);
  if (out.outcome == event_outcome::applied) {
    if (call != nullptr)
      out.call_json = call_object(batch, stored.app_id, *call);
    if (it != batch.voicemails.end()) {
      auto meta = it->second.meta;
      meta.crm_user_id = crm_user(batch, stored.app_id, it->second.rec.dialpad_user_id);
      out.voicemail_json = voicemail_json(it->second.rec, meta);
    }
  }
  return out;
}

handler_result handle_message(event_batch& batch, const stored_event& stored,
                              const event_data& ev) {
  handler_result out;
  warn_about_fields(stored, ev);
  if (!ev.message_id)
    return out;
  see_user(batch, stored.app_id, ev);
  out.published_type = stored.event_type;
  out.occurred_at_us = occurred_us(ev, batch.now);
  if (!batch.messages.insert(message_key{stored.app_id, *ev.message_id}).second) {
    out.outcome = event_outcome::unchanged; // stored by an earlier delivery
    return out;
  }
  new_message m;
  m.app_id = stored.app_id;
  m.row.id = new_uuid();
  m.row.dialpad_message_id = *ev.message_id;
  m.row.direction = ev.direction;
  m.row.from_number = ev.from_number;
  m.row.to_number = ev.to_number;
  m.row.text = ev.text;
  m.row.dialpad_user_id = ev.dialpad_user_id;
  m.row.sent_at = ev.event_time ? *ev.event_time : batch.now;
  m.row.created_at = batch.now;
  m.row.crm_user_id = crm_user(batch, stored.app_id, ev.dialpad_user_id);
  m.raw_payload = sanitized_payload(stored);
  out.outcome = event_outcome::applied;
  out.message_json = message_json(m.row);
  batch.new_messages.push_back(std::move(m));
  return out;
}

const std::map<std::string, event_handler, std::less<>>& registry() {
  static const std::map<std::string, event_handler, std::less<>> handlers = {
    {"call.ring", &handle_call},
    {"call.started", &handle_call},
    {"call.resumed", &handle_call},
    {"call.held", &handle_call},
    {"call.ended", &handle_call},
    {"call.missed", &handle_call},
    {"call.rejected", &handle_call},
    {"call.recording.completed", &handle_call},
    {"call.updated", &handle_call},
    {"voicemail.received", &handle_voicemail},
    {"sms.received", &handle_message},
    {"sms.sent", &handle_message},
  };
  return handlers;
}

} // namespace

std::string sanitized_payload(const stored_event& stored) {
  return sanitize_payload(stored.payload).dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
}

namespace {
std::string& injected_failure() {
  static std::string type;
  return type;
}
} // namespace

void inject_handler_failure(std::string event_type) { injected_failure() = std::move(event_type); }

void fail_if_injected(std::string_view event_type) {
  if (!injected_failure().empty() && event_type == injected_failure())
    throw std::runtime_error("injected failure for " + std::string{event_type}
                             + " (CTI_TEST_FAIL_EVENT_TYPE)");
}

event_handler find_handler(std::string_view event_type) {
  const auto& r = registry();
  auto it = r.find(event_type);
  return it == r.end() ? nullptr : it->second;
}

void add_needs(batch_needs& needs, const stored_event& stored, const event_data& ev) {
  auto handler = find_handler(stored.event_type);
  if (handler == nullptr)
    return;
  if (ev.dialpad_user_id)
    needs.users.insert(user_key{stored.app_id, *ev.dialpad_user_id});
  if (handler == &handle_message) {
    if (ev.message_id)
      needs.messages.insert(message_key{stored.app_id, *ev.message_id});
    return;
  }
  if (!ev.dialpad_call_id)
    return;
  needs.calls.insert(call_key{stored.app_id, *ev.dialpad_call_id});
  if (handler == &handle_voicemail)
    needs.voicemails.insert(call_key{stored.app_id, *ev.dialpad_call_id});
}

std::string serial_key(const stored_event& stored, const event_data& ev) {
  // The same serial the intake stored (the SMS handlers are the sms.* types).
  if (find_handler(stored.event_type) == nullptr)
    return {};
  return event_serial(stored.app_id, stored.event_type, ev);
}

} // namespace cti::db
