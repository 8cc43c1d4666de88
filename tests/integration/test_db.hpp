#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace cti::test {

/// `CTI_TEST_DATABASE_URL`, set by scripts/test.sh. A missing value fails
/// loudly: integration tests never skip silently.
std::string database_url();

/// Creates a new empty database (name `prefix` + random suffix) on the test
/// cluster and returns its URL.
std::string fresh_database(const std::string& prefix);

/// Runs the shell command held by environment variable `var` (e.g.
/// `CTI_TEST_PG_STOP`); returns its exit status, or -1 when unset.
int run_env_command(const char* var);

/// Polls `pred` every `interval` until it holds or `deadline` passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds deadline,
                std::chrono::milliseconds interval = std::chrono::milliseconds{20});

} // namespace cti::test
