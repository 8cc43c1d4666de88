#pragma once

// Handlers turn one stored event into changes of calls, voicemails and
// messages. One function per event family, registered by event type in
// event_handlers.cpp: adding a type is one function and one line.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "domain/call_merge.hpp"

namespace pqxx {
class transaction_base;
} // namespace pqxx

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

/// A handler: applies `ev` (extracted from `stored`) inside the caller's
/// transaction. Throws on failure (the caller rolls back to its savepoint).
using event_handler = handler_result (*)(pqxx::transaction_base& tx, const stored_event& stored,
                                         const event_data& ev, timestamp now);

/// The handler registered for `event_type`, or null (the event is `ignored`).
event_handler find_handler(std::string_view event_type);

} // namespace cti::db
