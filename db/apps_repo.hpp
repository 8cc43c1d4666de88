#pragma once

#include <cstdint>
#include <string>

#include "actors/messages.hpp"

namespace pqxx {
class transaction_base;
} // namespace pqxx

namespace cti::db {

/// The app with id `app_id` (a UUID), with its webhook settings;
/// `found = false` when there is none.
app_info find_app(pqxx::transaction_base& tx, const std::string& app_id);

/// The app whose Dialpad connection registered `org_id`.
app_info find_app_by_org(pqxx::transaction_base& tx, int64_t org_id);

} // namespace cti::db
