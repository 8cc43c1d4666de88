#pragma once

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

/// A calls row: what events own, and the rest.
struct stored_call {
  call_record rec;
  call_meta meta;
};

/// A voicemails row.
struct stored_voicemail {
  voicemail_record rec;
  voicemail_meta meta;
};

/// Locks and reads the call `(app_id, dialpad_call_id)` (FOR UPDATE).
std::optional<stored_call> lock_call(pqxx::transaction_base& tx, const std::string& app_id,
                                     int64_t dialpad_call_id);

/// Inserts a new call; nothing (nullopt) when a concurrent transaction
/// created it first (ON CONFLICT DO NOTHING; that row is then locked by a
/// following `lock_call`).
std::optional<stored_call> insert_call(pqxx::transaction_base& tx, const std::string& app_id,
                                       const call_record& c, const std::string& raw_payload);

/// Writes every event-owned column of call `id`.
stored_call update_call(pqxx::transaction_base& tx, const std::string& id, const call_record& c,
                        const std::string& raw_payload);

/// Locks and reads the voicemail of a call.
std::optional<stored_voicemail> lock_voicemail(pqxx::transaction_base& tx,
                                               const std::string& app_id,
                                               int64_t dialpad_call_id);

/// Creates or overwrites the event-owned columns of the voicemail of
/// `v.dialpad_call_id`, linking it to call `call_id`.
stored_voicemail upsert_voicemail(pqxx::transaction_base& tx, const std::string& app_id,
                                  const std::optional<std::string>& call_id,
                                  const voicemail_record& v);

/// The CRM user mapped to a Dialpad user, if any.
std::optional<std::string> crm_user_of(pqxx::transaction_base& tx, const std::string& app_id,
                                       std::optional<int64_t> dialpad_user_id);

/// Records a Dialpad user seen in an event (first/last seen, name, email).
void upsert_dialpad_user(pqxx::transaction_base& tx, const std::string& app_id,
                         const event_data& ev);

/// The prepared statements of this repository.
std::vector<prepared_statement> calls_repo_statements();

} // namespace cti::db
