#include "db/pool.hpp"

#include <pqxx/pqxx>
#include "db/processor.hpp"

#include <optional>
#include <thread>
#include <variant>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "tests/integration/test_db.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace std::chrono_literals;

namespace {

/// A real-scheduler actor system with our types registered.
struct pool_fixture : ::testing::Test {
  caf::actor_system sys{cti::test::actor_config()};
  caf::scoped_actor self{sys};

  cti::db_pool_actor make_pool(std::size_t min, std::size_t max,
                               std::string url = cti::test::database_url(),
                               std::chrono::milliseconds max_wait = 2000ms) {
    cti::db::pool_settings ps;
    ps.worker.conninfo = std::move(url);
    ps.min_workers = min;
    ps.max_workers = max;
    ps.max_wait = max_wait;
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

  /// Asks `pool` for an ordinary job (the queue's counts), which takes one
  /// of its workers; answers true, or the error's errc.
  std::variant<bool, cti::errc> job(const cti::db_pool_actor& pool) {
    std::variant<bool, cti::errc> out = cti::errc::internal;
    self->request(pool, 5s, cti::queue_atom_v)
      .receive([&](const cti::queue_stats&) { out = true; },
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

/// An erase sent to a pool, waiting in the database for the app lock this
/// object holds: it keeps one of the pool's workers busy until `finish`.
struct erase_behind_a_lock {
  erase_behind_a_lock(caf::actor_system& sys, const cti::db_pool_actor& pool, std::string url)
    : url{std::move(url)}, holder{cti::test::connect_prepared(this->url)}, holding{*holder} {
    auto app = cti::test::create_app(this->url);
    holding.exec_params("SELECT pg_advisory_xact_lock($1, $2)", cti::db::app_lock_class,
                        cti::db::serial_lock_key(app));
    cti::db_query q;
    q.kind = cti::query_kind::erase;
    q.app_id = app;
    q.args = R"({"phone_number":"+17025550188","spellings":["+17025550188"]})";
    q.request_id = "test";
    asking = std::thread{[this, &sys, pool, q] {
      caf::scoped_actor other{sys};
      other->request(pool, 20s, cti::query_atom_v, q)
        .receive([&](cti::db_answer&) { result = cti::errc::none; },
                 [&](caf::error& err) { result = cti::errc_of(err); });
    }};
  }
  ~erase_behind_a_lock() { finish(); }

  /// Waits until `aggregate` over the backends waiting for the lock (other
  /// than the asking one) gives 1: `count(*)` looks,
  /// `count(pg_terminate_backend(pid))` kills the erase's backend.
  bool waiting(const std::string& aggregate) {
    return cti::test::eventually(
      [&] {
        return cti::test::query_value(url, "SELECT " + aggregate + " FROM pg_stat_activity"
                                      " WHERE wait_event_type = 'Lock' AND query LIKE"
                                      " '%pg_advisory_xact_lock%' AND pid <> pg_backend_pid()")
               == "1";
      },
      5000ms);
  }

  /// Lets the lock go (after a commit or not) and answers the erase's outcome.
  std::optional<cti::errc> finish(bool commit = false) {
    if (asking.joinable()) {
      if (commit)
        holding.commit();
      else
        holding.abort();
      asking.join();
    }
    return result;
  }

  std::string url;
  std::unique_ptr<pqxx::connection> holder;
  pqxx::work holding;
  std::thread asking;
  std::optional<cti::errc> result;
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
  auto pool = make_pool(1, 3, cti::test::migrated_database("pool_burst"));
  // Send every job before waiting for any answer.
  using handle = decltype(self->request(pool, 5s, cti::queue_atom_v));
  std::vector<handle> pending;
  for (int i = 0; i < 12; ++i)
    pending.push_back(self->request(pool, 5s, cti::queue_atom_v));
  int answered = 0;
  for (auto& h : pending)
    h.receive([&](const cti::queue_stats&) { ++answered; },
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

namespace {

/// A TCP port that completes handshakes (the kernel's backlog) but never
/// answers: a libpq connect to it hangs until its connect_timeout.
struct black_hole {
  int fd = -1;
  uint16_t port = 0;
  black_hole() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~black_hole() {
    for (int c : taken)
      ::close(c);
    ::close(fd);
  }
  /// Takes (and holds, silent) the connections made so far; answers how
  /// many were made in all.
  std::size_t connections() {
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0) {
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0)
        break;
      taken.push_back(c);
    }
    return taken.size();
  }
  /// Settings of a one-worker pool connecting here, given up after
  /// `connect_timeout` seconds.
  cti::db::pool_settings one_worker_pool(int connect_timeout) const {
    cti::db::pool_settings ps;
    ps.worker.conninfo = "postgresql://postgres@127.0.0.1:" + std::to_string(port)
                         + "/none?connect_timeout=" + std::to_string(connect_timeout);
    ps.min_workers = 1;
    ps.max_workers = 1;
    return ps;
  }
  std::vector<int> taken;
};

} // namespace

TEST_F(pool_fixture, replaces_a_health_connection_that_stopped_answering) {
  // A connection stuck on a host that accepts and never answers (a dead
  // peer after a failover) must not leave /health waiting on it for good:
  // each check says "unavailable" within its limit, and after three in a
  // row the health connection is replaced (one stray at most).
  black_hole hole;
  auto ps = hole.one_worker_pool(60);
  ps.health_timeout = 200ms;
  pools.push_back(cti::db::spawn_db_pool(sys, ps));
  auto pool = pools.back();
  // The pool's worker and the health worker connect at once.
  ASSERT_TRUE(cti::test::eventually([&] { return hole.connections() == 2; }, 5000ms));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(health(pool), (std::variant<bool, cti::errc>{cti::errc::db_unavailable})) << i;
  // The third replaced it: a new connection.
  EXPECT_TRUE(cti::test::eventually([&] { return hole.connections() == 3; }, 5000ms));
  // Three more: the replacement hangs too, but the first is still stuck in
  // its connect, so no third health connection is opened; checks keep
  // answering at once.
  for (int i = 0; i < 4; ++i) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(health(pool), (std::variant<bool, cti::errc>{cti::errc::db_unavailable})) << i;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2000ms) << i;
  }
  EXPECT_EQ(hole.connections(), 3u);
}

TEST_F(pool_fixture, closes_the_connections_beyond_its_minimum_once_they_idle) {
  // DB_POOL_MIN is what the pool keeps open: a burst grows it, and the
  // connections beyond the minimum close once they idled for the pool's
  // idle timeout (they stayed open for good).
  auto url = cti::test::migrated_database("pool_shrink");
  cti::db::pool_settings ps;
  ps.worker.conninfo = url;
  ps.min_workers = 1;
  ps.max_workers = 3;
  ps.max_api_workers = 3; // the erases below may take every worker
  ps.idle_timeout = 300ms;
  pools.push_back(cti::db::spawn_db_pool(sys, ps));
  auto pool = pools.back();
  auto backends = [&] {
    return cti::test::query_value(url, "SELECT count(*) FROM pg_stat_activity"
                                       " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                                       " AND backend_type = 'client backend'");
  };
  {
    // Three jobs at once, each held on a lock: the pool grows to three.
    std::vector<std::unique_ptr<erase_behind_a_lock>> held;
    for (int i = 0; i < 3; ++i)
      held.push_back(std::make_unique<erase_behind_a_lock>(sys, pool, url));
    ASSERT_TRUE(cti::test::eventually([&] { return stats(pool).total == 3; }, 5000ms));
    for (auto& h : held)
      EXPECT_EQ(h->finish(true), cti::errc::none);
  }
  ASSERT_TRUE(cti::test::eventually([&] { return stats(pool).total == 1; }, 5000ms))
    << stats(pool).total;
  auto s = stats(pool);
  EXPECT_EQ(s.idle, 1u);
  // Its one worker plus the health check's own connection.
  EXPECT_TRUE(cti::test::eventually([&] { return backends() == "2"; }, 5000ms)) << backends();
  EXPECT_EQ(job(pool), (std::variant<bool, cti::errc>{true}));
  // ... and it never goes below the minimum (two more idle timeouts).
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(stats(pool).total, 1u);
}

TEST_F(pool_fixture, bounds_the_wait_for_a_free_worker_and_the_queue_length) {
  black_hole hole;
  // The only worker spends up to 3 s in its first connect, busy all along.
  auto ps = hole.one_worker_pool(3);
  ps.max_wait = 200ms;
  ps.max_waiting = 1;
  pools.push_back(cti::db::spawn_db_pool(sys, ps));
  auto pool = pools.back();
  auto first = self->request(pool, 10s, cti::queue_atom_v);  // goes to the stuck worker
  auto second = self->request(pool, 10s, cti::queue_atom_v); // waits in the queue
  auto third = self->request(pool, 10s, cti::queue_atom_v);  // finds the queue full
  auto start = std::chrono::steady_clock::now();
  cti::errc third_err = cti::errc::none;
  third.receive([&](const cti::queue_stats&) { ADD_FAILURE() << "no worker could have run it"; },
                [&](caf::error& err) { third_err = cti::errc_of(err); });
  EXPECT_EQ(third_err, cti::errc::db_unavailable);
  cti::errc second_err = cti::errc::none;
  second.receive([&](const cti::queue_stats&) { ADD_FAILURE() << "no worker could have run it"; },
                 [&](caf::error& err) { second_err = cti::errc_of(err); });
  EXPECT_EQ(second_err, cti::errc::db_unavailable);
  // Both answered long before the stuck connect gave up (3 s).
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);
  EXPECT_EQ(stats(pool).waiting, 0u);
  first.receive([&](const cti::queue_stats&) { ADD_FAILURE() << "the database is a black hole"; },
                [&](caf::error& err) { EXPECT_EQ(cti::errc_of(err), cti::errc::db_unavailable); });
  // The health check's own connection is stuck the same way (or between
  // two attempts): it answers "unavailable" within its 1 s limit, not
  // after the connect's 3 s.
  // Check after check, through the replacements of a health connection
  // that never answers (after three checks in a row), each answer comes
  // within the limit.
  for (int i = 0; i < 8; ++i) {
    start = std::chrono::steady_clock::now();
    EXPECT_EQ(health(pool), (std::variant<bool, cti::errc>{cti::errc::db_unavailable})) << i;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms) << i;
  }
}

// Stops and restarts the test cluster: other tests never run concurrently
// (scripts/test.sh runs ctest serially).
TEST_F(pool_fixture, survives_a_postgres_restart_without_being_restarted) {
  auto pool = make_pool(2, 4, cti::test::migrated_database("pool_survives"));
  ASSERT_EQ(health(pool), (std::variant<bool, cti::errc>{true}));
  ASSERT_EQ(job(pool), (std::variant<bool, cti::errc>{true}));
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
  // The workers reconnect too: after the first job that runs, a run of
  // jobs all succeed.
  EXPECT_TRUE(cti::test::eventually(
    [&] { return job(pool) == std::variant<bool, cti::errc>{true}; }, 10000ms));
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(job(pool), (std::variant<bool, cti::errc>{true}));
  EXPECT_EQ(stats(pool).total, 2u); // no worker died; none was replaced
}

// A change is never retried on a broken connection (it may have committed),
// so a worker must notice a connection PostgreSQL closed while it idled
// before it starts a change on it.
TEST_F(pool_fixture, a_change_after_a_postgres_restart_runs_on_a_fresh_connection) {
  cti::db::pool_settings ps;
  ps.worker.conninfo = cti::test::migrated_database("pool_restart");
  ps.min_workers = 4;
  ps.max_workers = 4;
  pools.push_back(cti::db::spawn_db_pool(sys, ps));
  auto pool = pools.back();
  ASSERT_TRUE(cti::test::eventually([&] { return stats(pool).total == 4; }, 5000ms));
  // The pool is connected (idle workers are handed out last-in first-out,
  // so these may all run on one worker; every worker's connection goes
  // stale below all the same).
  for (int i = 0; i < 8; ++i)
    ASSERT_EQ(job(pool), (std::variant<bool, cti::errc>{true}));
  ASSERT_EQ(cti::test::run_env_command("CTI_TEST_PG_STOP"), 0);
  ASSERT_EQ(cti::test::run_env_command("CTI_TEST_PG_START"), 0);
  // A replay is a change (not retried on a lost connection); an unknown
  // event answers not_found when it ran, db_unavailable when the worker's
  // stale connection failed it. Every worker's connection is stale now, so
  // the first replay would fail without the check.
  std::vector<cti::errc> results;
  for (int i = 0; i < 12; ++i) {
    self->request(pool, 10s, cti::replay_atom_v, std::string{"00000000-0000-4000-8000-00000000000"}
                                                    + std::to_string(i % 10),
                  std::string{"req"})
      .receive([&](std::string&) { results.push_back(cti::errc::none); },
               [&](caf::error& err) { results.push_back(cti::errc_of(err)); });
  }
  ASSERT_EQ(results.size(), 12u);
  for (auto r : results)
    EXPECT_EQ(r, cti::errc::not_found);
}

TEST_F(pool_fixture, one_killed_backend_fails_only_the_job_it_was_running) {
  // The worker whose backend is terminated mid-job answers that job
  // "unavailable" and reconnects in the background (after 100 ms at first);
  // meanwhile the next jobs go to the other workers. (They did not: the
  // worker went back on top of the idle stack and failed every job handed
  // to it until it was connected again.)
  auto url = cti::test::migrated_database("pool_one_killed");
  auto pool = make_pool(3, 3, url);
  ASSERT_TRUE(cti::test::eventually([&] { return stats(pool).total == 3; }, 5000ms));
  ASSERT_EQ(health(pool), (std::variant<bool, cti::errc>{true}));
  // A change (an erase: not retried on another connection) that waits in
  // the database for the app lock this test holds, killed there.
  erase_behind_a_lock slow{sys, pool, url};
  ASSERT_TRUE(slow.waiting("count(pg_terminate_backend(pid))"));
  ASSERT_EQ(slow.finish(), cti::errc::db_unavailable);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(job(pool), (std::variant<bool, cti::errc>{true})) << "job " << i;
}

TEST_F(pool_fixture, health_reaches_the_database_while_every_worker_is_busy) {
  // /health asks whether the database is reachable. With every worker of
  // the pool waiting on a lock (a long export, a locked table) it is, and
  // the check must not wait in the pool's queue and time out into
  // "unreachable" (it did: health checks were ordinary pool jobs).
  auto url = cti::test::migrated_database("pool_busy_health");
  auto pool = make_pool(1, 1, url, 300ms);
  ASSERT_EQ(job(pool), (std::variant<bool, cti::errc>{true}));
  erase_behind_a_lock slow{sys, pool, url};
  ASSERT_TRUE(slow.waiting("count(*)"));
  // The pool is full: an ordinary job waits its 300 ms and gives up...
  EXPECT_EQ(job(pool), (std::variant<bool, cti::errc>{cti::errc::db_unavailable}));
  // ...while health checks, several at once, reach the database.
  using handle = decltype(self->request(pool, 5s, cti::health_atom_v));
  std::vector<handle> checks;
  for (int i = 0; i < 3; ++i)
    checks.push_back(self->request(pool, 5s, cti::health_atom_v));
  for (auto& h : checks)
    h.receive([&](bool ok) { EXPECT_TRUE(ok); },
              [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
  EXPECT_EQ(stats(pool).total, 1u) << "the health connection is not one of the pool's";
  EXPECT_EQ(slow.finish(true), cti::errc::none);
  EXPECT_EQ(job(pool), (std::variant<bool, cti::errc>{true}));
}

TEST_F(pool_fixture, api_jobs_leave_a_worker_to_the_pipeline) {
  // Two workers, the API's share one: an API job holding one worker and a
  // second queued behind it leave the other worker to the pipeline (before,
  // the second took it, and the pipeline's job waited and failed).
  auto url = cti::test::migrated_database("pool_api_share");
  cti::db::pool_settings ps;
  ps.worker.conninfo = url;
  ps.min_workers = 1;
  ps.max_workers = 2;
  ps.max_wait = 3000ms;
  pools.push_back(cti::db::spawn_db_pool(sys, ps));
  auto pool = pools.back();
  erase_behind_a_lock first{sys, pool, url};
  ASSERT_TRUE(first.waiting("count(*)"));
  erase_behind_a_lock second{sys, pool, url};
  ASSERT_TRUE(cti::test::eventually([&] { return stats(pool).waiting == 1; }, 2000ms));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(job(pool), (std::variant<bool, cti::errc>{true}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);
  EXPECT_EQ(stats(pool).waiting, 1u) << "the second API job waits for the API's share";
  // The first ends: the second runs (and waits for its own lock).
  EXPECT_EQ(first.finish(true), cti::errc::none);
  EXPECT_TRUE(cti::test::eventually([&] { return stats(pool).waiting == 0; }, 2000ms));
  EXPECT_EQ(second.finish(true), cti::errc::none);
  EXPECT_EQ(job(pool), (std::variant<bool, cti::errc>{true}));
}
