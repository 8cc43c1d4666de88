#pragma once

// Handlers turn one stored event into changes of calls, voicemails and
// messages. They work on an `event_batch`: the rows a processing batch
// touches, read (and locked) before the handlers run and written after they
// all ran, so a batch costs a few statements whatever its size. A handler is
// plain in-memory logic: one function per event family, registered by event
// type in event_handlers.cpp, so adding a type is one function and one line.

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "db/calls_repo.hpp"
#include "db/messages_repo.hpp"
#include "domain/call_merge.hpp"

namespace cti::db {

/// One claimed event, as handlers see it.
struct stored_event {
  std::string id;          ///< webhook_events.id
  std::string app_id;
  std::string event_type;  ///< As stored at ingest.
  nlohmann::json payload;  ///< The full event.
};

/// What a handler did.
struct handler_result {
  event_outcome outcome = event_outcome::ignored;
  std::string published_type;  ///< Name pushed to subscribers when applied.
  int64_t occurred_at_us = 0;  ///< Event time (else processing time), epoch µs.
  std::string call_json;       ///< The call after the event, when it concerns one.
  std::string voicemail_json;  ///< The voicemail, for voicemail events.
  std::string message_json;    ///< The message, for SMS events.
};

/// The rows a batch needs, collected from its events before any handler runs.
struct batch_needs {
  std::set<call_key> calls;
  std::set<call_key> voicemails;
  std::set<message_key> messages;
  std::set<user_key> users;
};

/// Adds what event `ev` of `stored` will read or write to `needs`.
void add_needs(batch_needs& needs, const stored_event& stored, const event_data& ev);

/// A message a handler created.
struct new_message {
  std::string app_id;
  message_record row;
  std::string raw_payload;
};

/// The rows of one batch: loaded, changed by the handlers, then written.
struct event_batch {
  /// The transaction's time: created_at / updated_at of what it writes.
  timestamp now{};
  /// Existing calls (locked), plus the ones handlers created.
  std::map<call_key, stored_call> calls;
  /// Calls to write, with the last event that changed each (its sanitized
  /// payload becomes `raw_payload`).
  std::map<call_key, const stored_event*> changed_calls;
  /// Calls whose ordering mark (last_event_at) alone moved: an event that
  /// reported the status again, later; written unless also in changed_calls.
  std::set<call_key> marked_calls;
  /// Existing voicemails (locked), plus the ones handlers created.
  std::map<call_key, stored_voicemail> voicemails;
  /// Voicemails to write.
  std::set<call_key> changed_voicemails;
  /// Messages stored already (before or by this batch).
  std::set<message_key> messages;
  /// Messages to write.
  std::vector<new_message> new_messages;
  /// CRM user of each mapped Dialpad user.
  std::map<user_key, std::string> crm_users;
  /// Known Dialpad users, updated by what the events say.
  std::map<user_key, dialpad_user> users;
  /// Users to write.
  std::set<user_key> changed_users;
};

/// A handler: applies `ev` (extracted from `stored`) to `batch`. May throw
/// (the processor then retries the events one by one to find the culprit).
using event_handler = handler_result (*)(event_batch& batch, const stored_event& stored,
                                         const event_data& ev);

/// The handler registered for `event_type`, or null (the event is `ignored`).
event_handler find_handler(std::string_view event_type);

/// Tests only (CTI_TEST_FAIL_EVENT_TYPE, set once before the pollers
/// start): every event of `event_type` fails in its handler, so the fault
/// tests can drive one through its retries to `dead`. Empty: none.
void inject_handler_failure(std::string event_type);
/// Throws the injected failure when `event_type` is the one set above.
void fail_if_injected(std::string_view event_type);

/// The copy of `stored`'s payload kept in `raw_payload` (sanitized, compact).
std::string sanitized_payload(const stored_event& stored);

/// The key that serializes processing of `ev` across pollers (its call, or
/// its message), or empty when it needs none.
std::string serial_key(const stored_event& stored, const event_data& ev);

} // namespace cti::db
