#pragma once

// SMS records, read and written a whole processing batch at a time.

#include <compare>
#include <set>
#include <string>
#include <vector>

#include "db/statements.hpp"
#include "domain/api_objects.hpp"

namespace pqxx {
class transaction_base;
} // namespace pqxx

namespace cti::db {

/// A message within an app.
struct message_key {
  std::string app_id;
  int64_t dialpad_message_id = 0;
  auto operator<=>(const message_key&) const = default;
};

/// The messages among `keys` that are stored already.
std::set<message_key> existing_messages(pqxx::transaction_base& tx,
                                        const std::vector<message_key>& keys);

/// A new message to store, with the sanitized payload of its event.
struct message_write {
  std::string app_id;
  const message_record* row = nullptr;  ///< `id` and `created_at` chosen by the caller.
  const std::string* raw_payload = nullptr;
};

/// Stores the messages in one statement (ON CONFLICT DO NOTHING: a message
/// stored meanwhile stays as it is).
void write_messages(pqxx::transaction_base& tx, const std::vector<message_write>& rows);

/// The prepared statements of this repository.
std::vector<prepared_statement> messages_repo_statements();

} // namespace cti::db
