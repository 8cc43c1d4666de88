#pragma once

#include <string>
#include <vector>

namespace cti::db {

/// A statement every worker prepares on each (re)connect.
struct prepared_statement {
  std::string name; ///< Used with `exec_prepared`.
  std::string sql;
};

/// Every prepared statement of the repositories, in one list so a worker
/// prepares them all at connect time (and a reconnect restores them).
const std::vector<prepared_statement>& prepared_statements();

} // namespace cti::db
