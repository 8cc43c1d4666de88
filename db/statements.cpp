#include "db/statements.hpp"

namespace cti::db {

const std::vector<prepared_statement>& prepared_statements() {
  static const std::vector<prepared_statement> all = {
    {"health", "SELECT 1"},
  };
  return all;
}

} // namespace cti::db
