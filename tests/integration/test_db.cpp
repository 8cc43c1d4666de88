#include "tests/integration/test_db.hpp"

#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "domain/secure_random.hpp"

namespace cti::test {

std::string database_url() {
  const char* url = std::getenv("CTI_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    ADD_FAILURE() << "CTI_TEST_DATABASE_URL is not set: run the tests through scripts/test.sh";
    std::abort();
  }
  return url;
}

namespace {

// postgresql://user@host:port/db?params → same URL naming `db` instead.
std::string with_database(const std::string& url, const std::string& db) {
  auto query = url.find('?');
  auto base = url.substr(0, query);
  auto slash = base.rfind('/');
  auto out = base.substr(0, slash + 1) + db;
  if (query != std::string::npos)
    out += url.substr(query);
  return out;
}

} // namespace

std::string fresh_database(const std::string& prefix) {
  auto name = prefix + "_" + random_hex(6);
  pqxx::connection conn{database_url()};
  pqxx::nontransaction tx{conn};
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
  return with_database(database_url(), name);
}

int run_env_command(const char* var) {
  const char* cmd = std::getenv(var);
  if (cmd == nullptr || *cmd == '\0') {
    ADD_FAILURE() << var << " is not set: run the tests through scripts/test.sh";
    return -1;
  }
  return std::system(cmd);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds deadline,
                std::chrono::milliseconds interval) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (pred())
      return true;
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(interval);
  }
}

} // namespace cti::test
