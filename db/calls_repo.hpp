#pragma once

// Calls, voicemails and the Dialpad users seen in events, read and written a
// whole processing batch at a time: one statement locks every row the batch
// touches, one writes every row it changed (rows travel as one JSON array
// parameter of a prepared statement).

#include <compare>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "db/statements.hpp"
#include "domain/api_objects.hpp"
#include "domain/call_merge.hpp"

namespace pqxx {
class transaction_base;
} // namespace pqxx

namespace cti::db {

/// A call (or its voicemail) within an app.
struct call_key {
  std::string app_id;
  int64_t dialpad_call_id = 0;
  auto operator<=>(const call_key&) const = default;
};

/// A Dialpad user within an app.
struct user_key {
  std::string app_id;
  int64_t dialpad_user_id = 0;
  auto operator<=>(const user_key&) const = default;
};

/// A calls row: what events own, and the rest.
struct stored_call {
  call_record rec;
  call_meta meta;
};

/// A voicemails row.
struct stored_voicemail {
  voicemail_record rec;
  voicemail_meta meta;
  std::optional<std::string> call_id; ///< Our id of the call it was left on.
};

/// A dialpad_users row.
struct dialpad_user {
  std::optional<std::string> email, name, phone;
  std::optional<int64_t> office_id;
  timestamp last_seen_at{};
  bool operator==(const dialpad_user&) const = default;
};

/// Locks (FOR UPDATE) and reads the existing calls among `keys`.
std::map<call_key, stored_call> lock_calls(pqxx::transaction_base& tx,
                                           const std::vector<call_key>& keys);

/// A call to write: a new row (its `meta.id` chosen by the caller) or new
/// values for an existing one, with the sanitized payload of its last event.
struct call_write {
  call_key key;
  const stored_call* row = nullptr;
  const std::string* raw_payload = nullptr;
};

/// Inserts or updates every call in `rows` in one statement (event-owned
/// columns only; crm_context is never touched).
void write_calls(pqxx::transaction_base& tx, const std::vector<call_write>& rows);

/// Stores the ordering mark (last_event_at) of each call in `rows`, only
/// that column: the rows' other columns and updated_at stay as they are.
void write_call_marks(pqxx::transaction_base& tx,
                      const std::vector<std::pair<call_key, const stored_call*>>& rows);

/// Locks and reads the existing voicemails of the calls among `keys`.
std::map<call_key, stored_voicemail> lock_voicemails(pqxx::transaction_base& tx,
                                                     const std::vector<call_key>& keys);

/// Inserts or updates every voicemail in `rows` (keyed by app and call) in
/// one statement; the CRM's columns (callback_status, crm_task_id,
/// is_archived) are never touched.
void write_voicemails(pqxx::transaction_base& tx,
                      const std::vector<std::pair<call_key, const stored_voicemail*>>& rows);

/// The CRM users mapped to the Dialpad users among `keys`.
std::map<user_key, std::string> crm_users_of(pqxx::transaction_base& tx,
                                             const std::vector<user_key>& keys);

/// The known Dialpad users among `keys` (not locked).
std::map<user_key, dialpad_user> find_dialpad_users(pqxx::transaction_base& tx,
                                                    const std::vector<user_key>& keys);

/// Inserts or refreshes the users in `rows`, in key order (two pollers lock
/// shared user rows in the same order, so they never deadlock).
void write_dialpad_users(pqxx::transaction_base& tx,
                         const std::map<user_key, dialpad_user>& rows);

/// The prepared statements of this repository.
std::vector<prepared_statement> calls_repo_statements();

} // namespace cti::db
