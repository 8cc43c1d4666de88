#pragma once

#include <optional>
#include <string>
#include <vector>

#include "db/statements.hpp"
#include "domain/api_objects.hpp"

namespace pqxx {
class transaction_base;
} // namespace pqxx

namespace cti::db {

/// Stores an SMS once per `(app_id, dialpad_message_id)`; nothing when it
/// was stored before. `m.id` and `m.created_at` are ignored (the row's).
std::optional<message_record> insert_message(pqxx::transaction_base& tx,
                                             const std::string& app_id,
                                             const message_record& m,
                                             const std::string& raw_payload);

/// The prepared statements of this repository.
std::vector<prepared_statement> messages_repo_statements();

} // namespace cti::db
