#include "db/migrator.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include <pqxx/pqxx>

#include "domain/crypto.hpp"

namespace cti::db {

namespace {

// "CTI_MIGR" as a 64-bit advisory-lock key: one lock for the whole schema.
constexpr const char* lock_key = "4851042925580257618";

bool is_valid_name(const std::string& name) {
  return name.size() > 8 && std::all_of(name.begin(), name.begin() + 3, ::isdigit)
         && name[3] == '_' && name.ends_with(".sql");
}

// Releases the advisory lock however the run ends. If the connection broke,
// Postgres released the lock with the session already.
struct lock_guard {
  pqxx::connection_base& conn;
  ~lock_guard() {
    try {
      pqxx::nontransaction tx{conn};
      tx.exec(std::string{"SELECT pg_advisory_unlock("} + lock_key + ")");
    } catch (...) {
      // Nothing to do: the session's end releases it.
    }
  }
};

} // namespace

migration_result run_migrations(pqxx::connection_base& conn,
                                const std::vector<migration>& all) {
  migration_result res;
  auto sorted = all;
  std::sort(sorted.begin(), sorted.end(),
            [](const migration& a, const migration& b) { return a.name < b.name; });
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    if (!is_valid_name(sorted[i].name)) {
      res.error = "migration file name '" + sorted[i].name + "' is not NNN_name.sql";
      return res;
    }
    if (i > 0 && sorted[i].name.compare(0, 3, sorted[i - 1].name, 0, 3) == 0) {
      res.error = "migrations '" + sorted[i - 1].name + "' and '" + sorted[i].name
                  + "' share a version number";
      return res;
    }
  }
  std::string current;
  try {
    {
      pqxx::nontransaction tx{conn};
      tx.exec(std::string{"SELECT pg_advisory_lock("} + lock_key + ")");
    }
    lock_guard guard{conn};
    std::map<std::string, std::string> applied; // name -> checksum
    {
      pqxx::work tx{conn};
      // Only when missing: a server role that owns nothing may check an
      // up-to-date schema (it cannot create anything, even IF NOT EXISTS).
      if (tx.exec1("SELECT to_regclass('schema_migrations') IS NULL")[0].as<bool>())
        tx.exec("CREATE TABLE schema_migrations ("
                " version text PRIMARY KEY,"
                " name text NOT NULL,"
                " checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(),"
                " execution_ms integer NOT NULL DEFAULT 0)");
      for (const auto& row : tx.exec("SELECT name, checksum FROM schema_migrations"))
        applied.emplace(row[0].as<std::string>(), row[1].as<std::string>());
      tx.commit();
    }
    // Check every applied file before applying anything new.
    for (const auto& m : sorted) {
      auto it = applied.find(m.name);
      if (it != applied.end() && it->second != sha256_hex(m.sql)) {
        res.error = "migration " + m.name
                    + " was changed after it was applied (checksum differs);"
                      " add a new migration instead of editing an applied one";
        return res;
      }
    }
    for (const auto& [name, checksum] : applied)
      if (std::none_of(sorted.begin(), sorted.end(),
                       [&](const migration& m) { return m.name == name; }))
        res.unknown.push_back(name);
    for (const auto& m : sorted) {
      if (applied.count(m.name) > 0)
        continue;
      current = m.name;
      auto start = std::chrono::steady_clock::now();
      pqxx::work tx{conn};
      tx.exec(m.sql);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start).count();
      tx.exec_params("INSERT INTO schema_migrations (version, name, checksum, execution_ms)"
                     " VALUES ($1, $2, $3, $4)",
                     m.name.substr(0, 3), m.name, sha256_hex(m.sql), static_cast<int>(ms));
      tx.commit();
      res.applied.push_back(m.name);
    }
    res.ok = true;
  } catch (const pqxx::insufficient_privilege& e) {
    res.ok = false;
    res.error = (current.empty() ? std::string{"migrations failed: "}
                                 : "migration " + current + " failed: ")
                + e.what()
                + " (this role may not change the schema: set MIGRATION_DATABASE_URL"
                  " to the tables' owner)";
  } catch (const std::exception& e) {
    res.ok = false;
    res.error = current.empty() ? std::string{"migrations failed: "} + e.what()
                                : "migration " + current + " failed: " + e.what();
  }
  return res;
}

migration_result run_migrations(const std::string& conninfo,
                                const std::vector<migration>& all) {
  try {
    pqxx::connection conn{conninfo};
    return run_migrations(conn, all);
  } catch (const std::exception& e) {
    migration_result res;
    res.error = std::string{"cannot connect to the database: "} + e.what();
    return res;
  }
}

} // namespace cti::db
