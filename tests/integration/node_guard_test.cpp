// The node guard (actors/node_guard.hpp) with stand-in actors: no database.

#include "actors/node_guard.hpp"

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "tests/integration/test_db.hpp"

namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// A poller that fails on its first message (sent by itself at start, or a
/// wake from the test when `fail_at_once` is off).
cti::queue_poller_actor::behavior_type failing_poller(cti::queue_poller_actor::pointer self,
                                                      bool fail_at_once) {
  if (fail_at_once)
    self->send(self, cti::wake_atom_v);
  return {
    [](cti::wake_atom) { throw std::runtime_error("stand-in poller fails"); },
    [](cti::rescan_atom) {},
    [](cti::poll_atom) {},
    [](caf::tick_atom) {},
  };
}

/// The pollers spawned for each place, in order, and when.
struct spawn_log {
  struct entry {
    std::size_t place;
    cti::queue_poller_actor poller;
    clock_type::time_point at;
  };
  std::mutex m;
  std::vector<entry> spawns;
  std::size_t count() {
    std::lock_guard g{m};
    return spawns.size();
  }
  entry at(std::size_t k) {
    std::lock_guard g{m};
    return spawns.at(k);
  }
};

/// Guard settings whose spawn_poller records into `log`.
cti::node_guard_settings logged(caf::actor_system& sys, std::shared_ptr<spawn_log> log,
                                bool fail_at_once, std::size_t places) {
  cti::node_guard_settings gs;
  gs.spawn_poller = [&sys, log, fail_at_once](std::size_t i) {
    auto p = sys.spawn(failing_poller, fail_at_once);
    std::lock_guard g{log->m};
    log->spawns.push_back({i, p, clock_type::now()});
    return p;
  };
  for (std::size_t i = 0; i < places; ++i)
    gs.pollers.push_back(gs.spawn_poller(i));
  return gs;
}

// A poller that fails after it has run for a while (quick_failure 0 here:
// always) is replaced at once, in its own place; the others are left alone.
TEST(node_guard, a_failed_poller_is_replaced_in_its_place) {
  caf::actor_system sys{cti::test::actor_config()};
  auto log = std::make_shared<spawn_log>();
  auto gs = logged(sys, log, false, 2);
  gs.quick_failure = 0ms;
  auto guard = cti::spawn_node_guard(sys, gs);
  caf::anon_send(log->at(1).poller, cti::wake_atom_v);
  ASSERT_TRUE(cti::test::eventually([&] { return log->count() == 3; }, 10s));
  EXPECT_EQ(log->at(2).place, 1u);
  // The replacement is guarded as well.
  caf::anon_send(log->at(2).poller, cti::wake_atom_v);
  ASSERT_TRUE(cti::test::eventually([&] { return log->count() == 4; }, 10s));
  EXPECT_EQ(log->at(3).place, 1u);
  caf::anon_send(log->at(0).poller, cti::wake_atom_v);
  ASSERT_TRUE(cti::test::eventually([&] { return log->count() == 5; }, 10s));
  EXPECT_EQ(log->at(4).place, 0u);
  caf::anon_send_exit(guard, caf::exit_reason::user_shutdown);
}

// A poller that fails right after its start, every time, comes back after
// a delay that doubles up to max_delay: 50, 100, 200, 200 ms here (a
// delayed message never comes early), never in a loop as fast as it fails.
TEST(node_guard, a_poller_failing_at_its_start_comes_back_ever_later) {
  caf::actor_system sys{cti::test::actor_config()};
  auto log = std::make_shared<spawn_log>();
  auto gs = logged(sys, log, true, 1);
  gs.quick_failure = 60s;
  gs.first_delay = 50ms;
  gs.max_delay = 200ms;
  auto guard = cti::spawn_node_guard(sys, gs);
  ASSERT_TRUE(cti::test::eventually([&] { return log->count() >= 5; }, 10s));
  const std::chrono::milliseconds expected[] = {50ms, 100ms, 200ms, 200ms};
  for (std::size_t k = 0; k < 4; ++k)
    EXPECT_GE(log->at(k + 1).at - log->at(k).at, expected[k]) << "replacement " << k + 1;
  caf::anon_send_exit(guard, caf::exit_reason::user_shutdown);
}

// A core actor that ends calls on_fatal once, with its name; one that ends
// for the node's shutdown (user_shutdown) does not. Stopping the guard
// stops its pollers.
TEST(node_guard, a_core_actor_that_ends_is_fatal_once_and_the_guard_takes_its_pollers_along) {
  caf::actor_system sys{cti::test::actor_config()};
  caf::scoped_actor self{sys};
  auto idle = [](caf::event_based_actor*) -> caf::behavior { return {[](int) {}}; };
  auto ingester = sys.spawn(idle);
  auto pool = sys.spawn(idle);
  auto hasher = sys.spawn(idle);
  std::mutex m;
  std::vector<std::string> fatal;
  cti::node_guard_settings gs;
  gs.spawn_poller = [&sys](std::size_t) { return sys.spawn(failing_poller, false); };
  gs.pollers = {gs.spawn_poller(0)};
  auto poller = gs.pollers[0];
  gs.core = {{"db_pool", pool}, {"ingester", ingester}, {"hasher", hasher}};
  gs.on_fatal = [&](const std::string& name) {
    std::lock_guard g{m};
    fatal.push_back(name);
  };
  auto guard = cti::spawn_node_guard(sys, gs);
  auto fatal_now = [&] {
    std::lock_guard g{m};
    return fatal;
  };
  // A shutdown's end is no failure.
  caf::anon_send_exit(hasher, caf::exit_reason::user_shutdown);
  // Anything else is, once.
  caf::anon_send_exit(ingester, caf::exit_reason::kill);
  ASSERT_TRUE(cti::test::eventually([&] { return !fatal_now().empty(); }, 10s));
  // A second end, if the guard sees it before its own, is not reported
  // again (the node is stopping already).
  caf::anon_send_exit(pool, caf::exit_reason::kill);
  // Stopping the guard stops its poller; after the guard's end, every
  // down message it had is handled.
  self->monitor(poller);
  self->monitor(guard);
  caf::anon_send_exit(guard, caf::exit_reason::user_shutdown);
  int downs = 0;
  for (int k = 0; k < 2; ++k)
    self->receive([&](caf::down_msg&) { ++downs; }, caf::after(10s) >> [] {});
  EXPECT_EQ(downs, 2);
  EXPECT_EQ(fatal_now(), std::vector<std::string>{"ingester"});
}

} // namespace
