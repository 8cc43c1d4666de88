#include "db/event_handlers.hpp"

#include <map>
#include <stdexcept>

#include <pqxx/pqxx>

#include "db/calls_repo.hpp"
#include "db/messages_repo.hpp"
#include "domain/sanitize.hpp"

namespace cti::db {

namespace {

int64_t occurred_us(const event_data& ev, timestamp now) {
  return (ev.event_time ? *ev.event_time : now).time_since_epoch().count();
}

std::string raw_copy(const stored_event& stored) {
  return sanitize_payload(stored.payload).dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
}

/// Applies the call part of an event: lock (or create) the row, merge,
/// write. A concurrent creator makes the insert a no-op; the loop then
/// locks the row it created and merges into it.
std::pair<call_merge, std::optional<stored_call>>
apply_to_call(pqxx::transaction_base& tx, const stored_event& stored, const event_data& ev,
              timestamp now) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto current = lock_call(tx, stored.app_id, *ev.dialpad_call_id);
    auto m = merge_call(current ? std::optional<call_record>{current->rec} : std::nullopt, ev,
                        now);
    if (m.outcome != event_outcome::applied)
      return {std::move(m), std::move(current)};
    if (!current) {
      auto created = insert_call(tx, stored.app_id, m.call, raw_copy(stored));
      if (!created)
        continue; // created meanwhile by another poller: merge into that row
      return {std::move(m), std::move(created)};
    }
    auto updated = update_call(tx, current->meta.id, m.call, raw_copy(stored));
    return {std::move(m), std::move(updated)};
  }
  throw std::runtime_error("call row could be neither created nor locked");
}

handler_result handle_call(pqxx::transaction_base& tx, const stored_event& stored,
                           const event_data& ev, timestamp now) {
  handler_result out;
  if (!ev.dialpad_call_id)
    return out; // ignored: nothing to attach it to
  upsert_dialpad_user(tx, stored.app_id, ev);
  auto [m, row] = apply_to_call(tx, stored, ev, now);
  out.outcome = m.outcome;
  out.published_type = m.published_type.empty() ? stored.event_type : m.published_type;
  out.occurred_at_us = occurred_us(ev, now);
  if (m.outcome == event_outcome::applied && row) {
    row->meta.crm_user_id = crm_user_of(tx, stored.app_id, row->rec.dialpad_user_id);
    out.call_json = call_json(row->rec, row->meta);
  }
  return out;
}

handler_result handle_voicemail(pqxx::transaction_base& tx, const stored_event& stored,
                                const event_data& ev, timestamp now) {
  handler_result out;
  if (!ev.dialpad_call_id)
    return out; // a voicemail belongs to a call
  upsert_dialpad_user(tx, stored.app_id, ev);
  auto [m, call] = apply_to_call(tx, stored, ev, now);
  auto current = lock_voicemail(tx, stored.app_id, *ev.dialpad_call_id);
  auto vm = merge_voicemail(current ? std::optional<voicemail_record>{current->rec}
                                    : std::nullopt,
                            ev, now);
  std::optional<stored_voicemail> written;
  if (vm.changed)
    written = upsert_voicemail(tx, stored.app_id,
                               call ? std::optional<std::string>{call->meta.id} : std::nullopt,
                               vm.voicemail);
  // Either part changing makes the event applied (a transcript alone counts).
  out.outcome = vm.changed ? event_outcome::applied : m.outcome;
  out.published_type = "voicemail.received";
  out.occurred_at_us = occurred_us(ev, now);
  if (out.outcome == event_outcome::applied) {
    if (!call)
      call = lock_call(tx, stored.app_id, *ev.dialpad_call_id);
    if (call) {
      call->meta.crm_user_id = crm_user_of(tx, stored.app_id, call->rec.dialpad_user_id);
      out.call_json = call_json(call->rec, call->meta);
    }
    if (!written)
      written = current;
    if (written) {
      written->meta.crm_user_id = crm_user_of(tx, stored.app_id, written->rec.dialpad_user_id);
      out.voicemail_json = voicemail_json(written->rec, written->meta);
    }
  }
  return out;
}

handler_result handle_message(pqxx::transaction_base& tx, const stored_event& stored,
                              const event_data& ev, timestamp now) {
  handler_result out;
  if (!ev.message_id)
    return out;
  upsert_dialpad_user(tx, stored.app_id, ev);
  message_record m;
  m.dialpad_message_id = *ev.message_id;
  m.direction = ev.direction;
  m.from_number = ev.from_number;
  m.to_number = ev.to_number;
  m.text = ev.text;
  m.dialpad_user_id = ev.dialpad_user_id;
  m.sent_at = ev.event_time ? *ev.event_time : now;
  auto stored_msg = insert_message(tx, stored.app_id, m, raw_copy(stored));
  out.published_type = stored.event_type;
  out.occurred_at_us = occurred_us(ev, now);
  if (!stored_msg) {
    out.outcome = event_outcome::unchanged; // stored by an earlier delivery
    return out;
  }
  stored_msg->crm_user_id = crm_user_of(tx, stored.app_id, stored_msg->dialpad_user_id);
  out.outcome = event_outcome::applied;
  out.message_json = message_json(*stored_msg);
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

event_handler find_handler(std::string_view event_type) {
  const auto& r = registry();
  auto it = r.find(event_type);
  return it == r.end() ? nullptr : it->second;
}

} // namespace cti::db
