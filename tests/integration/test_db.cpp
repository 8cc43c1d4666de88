#include "tests/integration/test_db.hpp"

#include <cstdlib>
#include <thread>

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "actors/messages.hpp"
#include "db/migrator.hpp"
#include "db/statements.hpp"
#include "domain/secure_random.hpp"

namespace cti::test {

caf::actor_system_config& actor_config() {
  static caf::actor_system_config cfg = [] {
    caf::actor_system_config c;
    add_message_types(c);
    c.set("logger.console-verbosity", caf::atom("quiet"));
    c.set("logger.file-verbosity", caf::atom("quiet"));
    return c;
  }();
  return cfg;
}


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

std::string as_server_role(const std::string& url) {
  const char* server = std::getenv("CTI_TEST_SERVER_DATABASE_URL");
  if (server == nullptr || *server == '\0') {
    ADD_FAILURE() << "CTI_TEST_SERVER_DATABASE_URL is not set: run the tests through scripts/test.sh";
    std::abort();
  }
  auto base = url.substr(0, url.find('?'));
  return with_database(server, base.substr(base.rfind('/') + 1));
}

std::string fresh_database(const std::string& prefix) {
  auto name = prefix + "_" + random_hex(6);
  pqxx::connection conn{database_url()};
  pqxx::nontransaction tx{conn};
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
  return with_database(database_url(), name);
}

std::string create_app(const std::string& url, const std::string& name, bool active) {
  pqxx::connection conn{url};
  pqxx::work tx{conn};
  auto id = tx.exec_params1("INSERT INTO apps (name, is_active) VALUES ($1, $2) RETURNING id",
                            name, active)[0].as<std::string>();
  tx.commit();
  return id;
}

void register_org(const std::string& url, const std::string& app_id, int64_t org_id,
                  bool allow_unsigned) {
  pqxx::connection conn{url};
  pqxx::work tx{conn};
  tx.exec_params("INSERT INTO dialpad_connections (app_id, dialpad_org_id, environment,"
                 " allow_unsigned_webhooks) VALUES ($1::uuid, $2, 'production', $3)",
                 app_id, org_id, allow_unsigned);
  tx.commit();
}

std::string query_value(const std::string& url, const std::string& sql,
                        const std::vector<std::string>& params) {
  pqxx::connection conn{url};
  pqxx::nontransaction tx{conn};
  auto res = tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
  if (res.empty() || res[0][0].is_null())
    return {};
  return res[0][0].as<std::string>();
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

std::string migrated_database(const std::string& prefix) {
  auto url = fresh_database(prefix);
  auto res = cti::db::run_migrations(url, cti::db::embedded_migrations());
  EXPECT_TRUE(res.ok) << res.error;
  return url;
}

std::unique_ptr<pqxx::connection> connect_prepared(const std::string& url) {
  auto c = std::make_unique<pqxx::connection>(url);
  for (const auto& s : cti::db::prepared_statements())
    c->prepare(s.name, s.sql);
  return c;
}

} // namespace cti::test
