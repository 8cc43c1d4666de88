#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/connection>

namespace caf {
class actor_system_config;
} // namespace caf

namespace cti::test {

/// One actor system configuration for the tests that run actors: our
/// message types registered, CAF's own logging quiet.
caf::actor_system_config& actor_config();

/// `CTI_TEST_DATABASE_URL`, set by scripts/test.sh. A missing value fails
/// loudly: integration tests never skip silently.
std::string database_url();

/// `url`'s database reached as role cti_server (`CTI_TEST_SERVER_DATABASE_URL`,
/// set by scripts/test.sh): the server's role, which owns nothing.
std::string as_server_role(const std::string& url);

/// Creates a new empty database (name `prefix` + random suffix) on the test
/// cluster and returns its URL.
std::string fresh_database(const std::string& prefix);

/// A fresh database (as `fresh_database`) with every migration applied.
std::string migrated_database(const std::string& prefix);

/// A connection to `url` with every prepared statement of the repositories,
/// as a DB worker has.
std::unique_ptr<pqxx::connection> connect_prepared(const std::string& url);

/// Inserts an app (tenant) named `name` and returns its id.
std::string create_app(const std::string& url, const std::string& name = "test app",
                       bool active = true);

/// Registers `org_id` on the app's Dialpad connection.
void register_org(const std::string& url, const std::string& app_id, int64_t org_id,
                  bool allow_unsigned = false);

/// Runs `sql` (parameters $1, $2, ... from `params`) and returns the first
/// column of the first row as text ("" for none or NULL).
std::string query_value(const std::string& url, const std::string& sql,
                        const std::vector<std::string>& params = {});

/// Runs the shell command held by environment variable `var` (e.g.
/// `CTI_TEST_PG_STOP`); returns its exit status, or -1 when unset.
int run_env_command(const char* var);

/// Polls `pred` every `interval` until it holds or `deadline` passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds deadline,
                std::chrono::milliseconds interval = std::chrono::milliseconds{20});

} // namespace cti::test
