#pragma once

#include <optional>
#include <string>

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

} // namespace cti
