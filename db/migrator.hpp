#pragma once

#include <string>
#include <vector>

namespace pqxx {
class connection_base;
} // namespace pqxx

namespace cti::db {

/// One schema file: `NNN_name.sql` and its text.
struct migration {
  std::string name;
  std::string sql;
};

/// The `schema/NNN_*.sql` files compiled into the binary, in order.
const std::vector<migration>& embedded_migrations();

/// What a migration run did.
struct migration_result {
  bool ok = false;                    ///< False: `error` says why; nothing half-applied.
  std::string error;                  ///< Human text naming the file at fault.
  std::vector<std::string> applied;   ///< Files applied by this run, in order.
  std::vector<std::string> unknown;   ///< Applied in the database but unknown to this binary.
};

/// Applies the migrations of `all` that `schema_migrations` does not list yet,
/// in name order, each in its own transaction, all under a session-level
/// advisory lock so that several nodes starting at once apply each file
/// exactly once. Refuses (ok = false, nothing applied) when a file already
/// applied has a different checksum now. Never throws.
migration_result run_migrations(pqxx::connection_base& conn,
                                const std::vector<migration>& all);

/// Opens a connection to `conninfo` and runs `run_migrations` on it.
migration_result run_migrations(const std::string& conninfo,
                                const std::vector<migration>& all);

} // namespace cti::db
