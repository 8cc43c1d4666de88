#include "db/migrator.hpp"

#include <future>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "tests/integration/test_db.hpp"

using cti::db::embedded_migrations;
using cti::db::migration;
using cti::db::run_migrations;

namespace {

long long count(const std::string& url, const std::string& sql) {
  pqxx::connection conn{url};
  pqxx::nontransaction tx{conn};
  return tx.exec1(sql)[0].as<long long>();
}

bool table_exists(const std::string& url, const std::string& table) {
  return count(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = '"
                      + table + "'") == 1;
}

} // namespace

TEST(migrator, applies_every_embedded_migration_to_an_empty_database) {
  auto url = cti::test::fresh_database("mig_empty");
  auto res = run_migrations(url, embedded_migrations());
  ASSERT_TRUE(res.ok) << res.error;
  ASSERT_EQ(res.applied.size(), embedded_migrations().size());
  EXPECT_EQ(res.applied.front(), "001_init.sql");
  for (const char* t : {"apps", "api_key_audit_log", "dialpad_connections", "dialpad_users",
                        "dialpad_user_mappings", "calls", "voicemails", "messages",
                        "webhook_events", "activity_audit_log", "cluster_nodes",
                        "schema_migrations"})
    EXPECT_TRUE(table_exists(url, t)) << t;
}

TEST(migrator, a_second_run_is_a_no_op) {
  auto url = cti::test::fresh_database("mig_twice");
  ASSERT_TRUE(run_migrations(url, embedded_migrations()).ok);
  auto again = run_migrations(url, embedded_migrations());
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_TRUE(again.applied.empty());
  EXPECT_EQ(count(url, "SELECT count(*) FROM schema_migrations"),
            static_cast<long long>(embedded_migrations().size()));
}

TEST(migrator, refuses_to_start_when_an_applied_file_changed) {
  auto url = cti::test::fresh_database("mig_changed");
  ASSERT_TRUE(run_migrations(url, embedded_migrations()).ok);
  auto edited = embedded_migrations();
  edited.front().sql += "\n-- edited after release\n";
  edited.push_back({"999_later.sql", "CREATE TABLE later_table (x int);"});
  auto res = run_migrations(url, edited);
  EXPECT_FALSE(res.ok);
  EXPECT_NE(res.error.find("001_init.sql"), std::string::npos) << res.error;
  EXPECT_NE(res.error.find("checksum"), std::string::npos) << res.error;
  EXPECT_TRUE(res.applied.empty());
  EXPECT_FALSE(table_exists(url, "later_table")); // nothing new applied
}

TEST(migrator, a_failing_migration_rolls_back_whole_and_is_retried_later) {
  auto url = cti::test::fresh_database("mig_fail");
  auto list = embedded_migrations();
  list.push_back({"998_broken.sql", "CREATE TABLE half_done (x int); SELEC oops;"});
  auto res = run_migrations(url, list);
  EXPECT_FALSE(res.ok);
  EXPECT_NE(res.error.find("998_broken.sql"), std::string::npos) << res.error;
  EXPECT_FALSE(table_exists(url, "half_done"));
  EXPECT_EQ(count(url, "SELECT count(*) FROM schema_migrations WHERE name = '998_broken.sql'"), 0);
  list.back().sql = "CREATE TABLE half_done (x int);";
  auto fixed = run_migrations(url, list);
  ASSERT_TRUE(fixed.ok) << fixed.error;
  EXPECT_EQ(fixed.applied, std::vector<std::string>{"998_broken.sql"});
  EXPECT_TRUE(table_exists(url, "half_done"));
}

TEST(migrator, concurrent_migrators_apply_each_file_exactly_once) {
  auto url = cti::test::fresh_database("mig_race");
  std::promise<void> go;
  auto gate = go.get_future().share();
  auto run = [&] {
    gate.wait();
    return run_migrations(url, embedded_migrations());
  };
  auto a = std::async(std::launch::async, run);
  auto b = std::async(std::launch::async, run);
  go.set_value();
  auto ra = a.get();
  auto rb = b.get();
  ASSERT_TRUE(ra.ok) << ra.error;
  ASSERT_TRUE(rb.ok) << rb.error;
  EXPECT_EQ(ra.applied.size() + rb.applied.size(), embedded_migrations().size());
  EXPECT_EQ(count(url, "SELECT count(*) FROM schema_migrations"),
            static_cast<long long>(embedded_migrations().size()));
}

TEST(migrator, rejects_badly_named_files) {
  auto url = cti::test::fresh_database("mig_names");
  auto res = run_migrations(url, {{"init.sql", "SELECT 1"}});
  EXPECT_FALSE(res.ok);
  EXPECT_NE(res.error.find("init.sql"), std::string::npos);
  auto dup = run_migrations(url, {{"001_a.sql", "SELECT 1"}, {"001_b.sql", "SELECT 1"}});
  EXPECT_FALSE(dup.ok);
  EXPECT_NE(dup.error.find("share a version"), std::string::npos);
}

TEST(migrator, reports_an_unreachable_database_as_a_connection_failure) {
  auto res = run_migrations("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2",
                            embedded_migrations());
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.error.rfind("cannot connect", 0), 0u) << res.error;
}
