#pragma once

// The REST API's reads and changes: apps, API keys, Dialpad connection
// registration, user mappings, calls, voicemails and messages. The handler
// validates every parameter and hands a `db_query` whose `args` is a JSON
// object of already-valid values; this file turns it into SQL (every value
// a parameter) and renders the contract's JSON.
//
// Argument names (all optional unless the kind needs them):
//   limit, after_us, after_id        keyset page (validated cursor)
//   name, is_active                  apps
//   dialpad_org_id, environment, webhook_secret_sealed (hex),
//   allow_unsigned_webhooks          Dialpad connection
//   key_id, hash, hint               a new API key (never the key itself)
//   dialpad_user_id, crm_user_id     mappings and filters
//   mappings: [{dialpad_user_id, crm_user_id}]
//   status: [..], direction, phone, from_number, to_number, since_us, until_us,
//   active                           call filters
//   callback_status, crm_task_id     voicemail filters and patch
//   crm_context_text (string | null) call patch (compact JSON, keys as written)

#include <string>
#include <string_view>
#include <vector>

#include "actors/messages.hpp"

#include <pqxx/connection_base>

namespace cti::db {

/// A refusal a query reports (not found, conflict, bad request).
struct api_error {
  errc code;
  std::string message;
};

/// Runs `q` in its own transaction. Throws `api_error` for the refusals
/// above and what libpqxx throws otherwise.
db_answer run_query(pqxx::connection_base& c, const db_query& q);

/// True when this connection's role may act as `cti_tenant` (migration
/// 005): then the per-app queries run under row-level security.
bool tenant_role_available(pqxx::connection_base& c);

/// True for the kinds that run as `cti_tenant`, bound to their app.
bool is_tenant_scoped(query_kind kind);

/// Returns the session to its own role, if a per-app query left it as
/// `cti_tenant` (every other use of a worker's connection does this first).
void leave_tenant_mode(pqxx::connection_base& c);

/// True for the kinds that only read (run in autocommit, and safe to run
/// again on a fresh connection).
bool is_read_only(query_kind kind);

/// The stored key whose non-secret id is `key_id`, with its app's state.
key_record find_key(pqxx::transaction_base& tx, const std::string& key_id);

/// "<app id> <column>" for each sealed value (webhook secret, OAuth
/// tokens) that `key32` cannot open, at most `limit` of them: a non-empty
/// answer means DATABASE_ENCRYPTION_KEY is not the key they were sealed with.
std::vector<std::string> unreadable_sealed_values(pqxx::connection_base& c, std::string_view key32,
                                                  std::size_t limit = 5);

/// The list scope a cursor is bound to (see domain/pagination.hpp).
std::string cursor_scope(query_kind kind, const std::string& app_id);

} // namespace cti::db
