#include "db/listener.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "db/events_repo.hpp"
#include "tests/integration/test_db.hpp"

using namespace std::chrono_literals;

namespace {

/// A stand-in poller: tells `sink` what the listener sent it.
cti::queue_poller_actor::behavior_type recorder(cti::queue_poller_actor::pointer,
                                                caf::actor sink) {
  return {
    [=](cti::wake_atom) { caf::anon_send(sink, std::string{"wake"}); },
    [=](cti::rescan_atom) { caf::anon_send(sink, std::string{"rescan"}); },
    [](caf::tick_atom) {},
  };
}

struct listener_fixture : ::testing::Test {
  caf::actor_system sys{cti::test::actor_config()};
  caf::scoped_actor self{sys};
  std::string url = cti::test::database_url();
  /// This node's connection, and another node's.
  pqxx::connection own{url};
  pqxx::connection other{url};
  cti::event_listener_actor listener;

  /// Starts a listener with two recording pollers (notifications that
  /// arrive together wake as many pollers, so a wake too many shows even
  /// then); `own` is this node's connection.
  void start(std::chrono::milliseconds foreign_delay) {
    cti::db::listener_settings s;
    s.conninfo = url;
    s.slice = 50ms;
    s.own = std::make_shared<cti::db::backend_pids>();
    s.own->replace(0, own.backendpid());
    s.foreign_delay = foreign_delay;
    std::vector<cti::queue_poller_actor> pollers;
    for (int i = 0; i < 2; ++i)
      pollers.push_back(sys.spawn(recorder, caf::actor_cast<caf::actor>(self)));
    listener = cti::db::spawn_event_listener(sys, s, pollers);
    // Listening: a rescan from this node comes back as one.
    await_listening();
  }

  void notify(pqxx::connection& c, const std::string& payload = "") {
    pqxx::nontransaction{c}.exec("SELECT pg_notify('" + std::string{cti::db::events_channel}
                                 + "', '" + payload + "')");
  }

  /// The next thing the poller was sent ("" when nothing came within 10 s).
  std::string next() {
    std::string got;
    self->receive([&](std::string& s) { got.swap(s); }, caf::after(10s) >> [] {});
    return got;
  }

  /// Sends a rescan and counts the wakes the pollers pass on until both
  /// have passed the rescan on (each passes on what it got in order, so by
  /// then every earlier wake has arrived).
  int wakes_before_a_rescan() {
    notify(own, cti::db::rescan_payload);
    int wakes = 0;
    for (int rescans = 0; rescans < 2;) {
      auto got = next();
      if (got.empty()) {
        ADD_FAILURE() << "the rescan did not come back";
        break;
      }
      (got == "wake" ? wakes : rescans) += 1;
    }
    return wakes;
  }

  /// The next thing other than a rescan: a rescan that await_listening
  /// sent may still be on its way when a test starts.
  std::string next_besides_rescans() {
    std::string got;
    do
      got = next();
    while (got == "rescan");
    return got;
  }

  void await_listening() {
    // The LISTEN is issued as the listener connects; until then a
    // notification is lost. Send rescans until one arrives.
    for (int i = 0; i < 100; ++i) {
      notify(own, cti::db::rescan_payload);
      std::string got;
      self->receive([&](std::string& s) { got = s; }, caf::after(100ms) >> [] {});
      if (got == "rescan")
        break;
    }
    // Drain what the earlier rescans brought.
    for (;;) {
      bool more = false;
      self->receive([&](std::string&) { more = true; }, caf::after(200ms) >> [] {});
      if (!more)
        break;
    }
  }

  ~listener_fixture() override {
    if (listener)
      self->send_exit(listener, caf::exit_reason::user_shutdown);
  }
};

} // namespace

// This node's events wake a poller at once; another node's do not (that
// node's pollers take them): one wake for the two notifications.
TEST_F(listener_fixture, another_nodes_notification_does_not_wake_a_poller_at_once) {
  start(std::chrono::hours{1});
  notify(other);
  notify(own);
  EXPECT_EQ(next_besides_rescans(), "wake");
  EXPECT_EQ(wakes_before_a_rescan(), 0);
}

// ... but it does after foreign_delay, so the events of a node that stopped
// after storing them are still processed soon; notifications within the
// delay share one wake.
TEST_F(listener_fixture, another_nodes_notification_wakes_a_poller_after_the_delay) {
  start(1s);
  notify(other);
  notify(other);
  EXPECT_EQ(next_besides_rescans(), "wake");
  EXPECT_EQ(wakes_before_a_rescan(), 0);
}
