#include "db/pool.hpp"

#include <variant>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "tests/integration/test_db.hpp"

using namespace std::chrono_literals;

namespace {

/// A real-scheduler actor system with our types registered.
struct pool_fixture : ::testing::Test {
  static caf::actor_system_config& config() {
    static caf::actor_system_config cfg = [] {
      caf::actor_system_config c;
      cti::add_message_types(c);
      c.set("logger.console-verbosity", caf::atom("quiet"));
      c.set("logger.file-verbosity", caf::atom("quiet"));
      return c;
    }();
    return cfg;
  }

  caf::actor_system sys{config()};
  caf::scoped_actor self{sys};

  cti::db_pool_actor make_pool(std::size_t min, std::size_t max) {
    cti::db::pool_settings ps;
    ps.worker.conninfo = cti::test::database_url();
    ps.min_workers = min;
    ps.max_workers = max;
    pools.push_back(cti::db::spawn_db_pool(sys, ps));
    return pools.back();
  }

  /// Asks `pool` for a health check; answers true, or the error's errc.
  std::variant<bool, cti::errc> health(const cti::db_pool_actor& pool) {
    std::variant<bool, cti::errc> out = cti::errc::internal;
    self->request(pool, 5s, cti::health_atom_v)
      .receive([&](bool ok) { out = ok; },
               [&](caf::error& err) { out = cti::errc_of(err); });
    return out;
  }

  cti::pool_stats stats(const cti::db_pool_actor& pool) {
    cti::pool_stats out;
    self->request(pool, 5s, cti::stats_atom_v)
      .receive([&](cti::pool_stats s) { out = s; },
               [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
    return out;
  }

  ~pool_fixture() override {
    for (auto& p : pools)
      self->send_exit(p, caf::exit_reason::user_shutdown);
  }

  std::vector<cti::db_pool_actor> pools;
};

} // namespace

TEST_F(pool_fixture, answers_health_checks_and_reports_its_workers) {
  auto pool = make_pool(2, 4);
  EXPECT_EQ(health(pool), (std::variant<bool, cti::errc>{true}));
  auto s = stats(pool);
  EXPECT_EQ(s.total, 2u);
  EXPECT_EQ(s.idle, 2u);
  EXPECT_EQ(s.active, 0u);
  EXPECT_EQ(s.waiting, 0u);
}

TEST_F(pool_fixture, answers_a_burst_of_jobs_growing_no_further_than_its_maximum) {
  auto pool = make_pool(1, 3);
  // Send every job before waiting for any answer.
  using handle = decltype(self->request(pool, 5s, cti::health_atom_v));
  std::vector<handle> pending;
  for (int i = 0; i < 12; ++i)
    pending.push_back(self->request(pool, 5s, cti::health_atom_v));
  int answered = 0;
  for (auto& h : pending)
    h.receive([&](bool ok) { answered += ok ? 1 : 0; },
              [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_EQ(answered, 12);
  auto s = stats(pool);
  EXPECT_GE(s.total, 1u);
  EXPECT_LE(s.total, 3u);
  EXPECT_EQ(s.idle, s.total);
  EXPECT_EQ(s.waiting, 0u);
}

TEST_F(pool_fixture, answers_unavailable_for_an_unreachable_database_and_never_crashes) {
  cti::db::pool_settings ps;
  ps.worker.conninfo = "postgresql://postgres@127.0.0.1:1/none?connect_timeout=2";
  ps.min_workers = 1;
  ps.max_workers = 2;
  pools.push_back(cti::db::spawn_db_pool(sys, ps));
  auto pool = pools.back();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(health(pool), (std::variant<bool, cti::errc>{cti::errc::db_unavailable}));
  EXPECT_GE(stats(pool).total, 1u); // workers alive, waiting to reconnect
}

// Stops and restarts the test cluster: other tests never run concurrently
// (scripts/test.sh runs ctest serially).
TEST_F(pool_fixture, survives_a_postgres_restart_without_being_restarted) {
  auto pool = make_pool(2, 4);
  ASSERT_EQ(health(pool), (std::variant<bool, cti::errc>{true}));
  ASSERT_EQ(cti::test::run_env_command("CTI_TEST_PG_STOP"), 0);
  bool saw_unavailable = cti::test::eventually(
    [&] { return health(pool) == std::variant<bool, cti::errc>{cti::errc::db_unavailable}; },
    5000ms);
  auto started = cti::test::run_env_command("CTI_TEST_PG_START");
  ASSERT_EQ(started, 0);
  EXPECT_TRUE(saw_unavailable) << "the pool never reported the database as unavailable";
  bool recovered = cti::test::eventually(
    [&] { return health(pool) == std::variant<bool, cti::errc>{true}; }, 10000ms);
  EXPECT_TRUE(recovered) << "the pool did not recover after Postgres came back";
  // Every worker reconnects: a run of checks all succeed.
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(health(pool), (std::variant<bool, cti::errc>{true}));
  EXPECT_EQ(stats(pool).total, 2u); // no worker died; none was replaced
}
