#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domain/call_merge.hpp"

namespace cti {

/// The stored parts of a call the event merge does not own.
struct call_meta {
  std::string id;                        ///< Our UUID.
  std::optional<std::string> crm_user_id; ///< From the app's user mapping.
  std::optional<std::string> crm_context; ///< JSON text of the CRM's object.
  timestamp created_at{};
  timestamp updated_at{};
};

/// The contract's call object (API.md "App API"), as compact JSON.
std::string call_json(const call_record& c, const call_meta& m);

/// The stored parts of a voicemail the event merge does not own.
struct voicemail_meta {
  std::string id;
  std::optional<std::string> crm_user_id;
  bool is_archived = false;
  std::string callback_status = "pending";
  std::optional<std::string> crm_task_id;
  timestamp created_at{};
};

/// The contract's voicemail object, as compact JSON.
std::string voicemail_json(const voicemail_record& v, const voicemail_meta& m);

/// A stored SMS.
struct message_record {
  std::string id;
  int64_t dialpad_message_id = 0;
  std::optional<std::string> direction, from_number, to_number, text;
  std::optional<int64_t> dialpad_user_id;
  std::optional<std::string> crm_user_id;
  timestamp sent_at{};
  timestamp created_at{};
};

/// The contract's message object, as compact JSON.
std::string message_json(const message_record& m);

/// A stored webhook event, as the internal events API shows it.
struct event_record {
  std::string id;
  std::string app_id;
  std::string dialpad_event_id;
  std::string event_type;
  std::string state;                      ///< pending | failed | processed | dead (API form).
  std::optional<std::string> outcome;
  int attempts = 0;
  std::optional<std::string> last_error;
  std::optional<int64_t> seq;
  timestamp received_at{};
  std::optional<timestamp> processed_at;
  std::optional<timestamp> next_attempt_at; ///< Only while pending (or failed).
  std::optional<std::string> payload;     ///< JSON text; only for the single-event view.
};

/// The contract's event object (`payload` included when the record has it).
std::string event_json(const event_record& e);

/// `{"data": [...], "next_cursor": ..., "has_more": ...}` around already
/// rendered JSON objects.
std::string page_json(const std::vector<std::string>& objects,
                      const std::optional<std::string>& next_cursor, bool has_more);

} // namespace cti
