#include "db/listener.hpp"
#include "db/pool.hpp"

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
    [](cti::poll_atom) {},
    [](caf::tick_atom) {},
  };
}

/// A poller stand-in that reports "wake <index>" to `sink`.
cti::queue_poller_actor::behavior_type indexed_recorder(cti::queue_poller_actor::pointer,
                                                        caf::actor sink, int index) {
  return {
    [=](cti::wake_atom) { caf::anon_send(sink, "wake " + std::to_string(index)); },
    [](cti::rescan_atom) {},
    [](cti::poll_atom) {},
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
    s.waker = std::make_shared<cti::db::poller_waker>();
    for (int i = 0; i < 2; ++i)
      s.waker->add(sys.spawn(recorder, caf::actor_cast<caf::actor>(self)), nullptr);
    listener = cti::db::spawn_event_listener(sys, s);
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

// This node's own notifications wake nobody (its worker woke a poller as
// it committed the events), and another node's do not wake a poller at
// once (that node's pollers take them): the first wake is the delayed one
// for the other node's notification, and nothing follows it.
TEST_F(listener_fixture, only_another_nodes_notification_wakes_a_poller_and_only_after_the_delay) {
  start(300ms);
  notify(own);
  notify(own);
  // Stamped before the notification goes out: the listener may hear it
  // (and start its delay) before notify() returns.
  auto sent = std::chrono::steady_clock::now();
  notify(other);
  EXPECT_EQ(next_besides_rescans(), "wake");
  EXPECT_GE(std::chrono::steady_clock::now() - sent, 300ms);
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

namespace {

/// A pool of one worker whose committed webhook batches wake recording
/// pollers, and a connection that listens on the events channel.
struct stored_batch_fixture : ::testing::Test {
  caf::actor_system sys{cti::test::actor_config()};
  caf::scoped_actor self{sys};
  std::string url = cti::test::migrated_database("wake");
  std::string app = cti::test::create_app(url, "wake");
  std::shared_ptr<cti::db::poller_waker> waker = std::make_shared<cti::db::poller_waker>();
  std::shared_ptr<cti::db::backend_pids> pids = std::make_shared<cti::db::backend_pids>();
  pqxx::connection listening{url};
  struct heard_receiver : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    void operator()(const std::string& payload, int pid) override {
      heard.emplace_back(payload, pid);
    }
    std::vector<std::pair<std::string, int>> heard;
  } receiver{listening, cti::db::events_channel};
  cti::db_pool_actor pool;

  void start(bool notify_other_nodes, const std::string& conninfo = {}) {
    cti::db::pool_settings ps;
    ps.worker.conninfo = conninfo.empty() ? url : conninfo;
    ps.worker.pids = pids;
    ps.worker.waker = waker;
    ps.worker.notify_other_nodes = notify_other_nodes;
    ps.min_workers = 1;
    ps.max_workers = 1;
    for (int i = 0; i < 2; ++i)
      waker->add(sys.spawn(recorder, caf::actor_cast<caf::actor>(self)), nullptr);
    pool = cti::db::spawn_db_pool(sys, ps);
  }

  /// Stores one event through the pool; true when it was new.
  bool store(const std::string& event_id) {
    cti::ingest_item item;
    item.app_id = app;
    item.dialpad_event_id = event_id;
    item.event_type = "call.ring";
    item.payload = R"({"event_id":")" + event_id + R"("})";
    item.format = "seed";
    item.received_at_us = 1'700'000'000'000'000;
    bool fresh = false;
    self->request(pool, 10s, cti::ingest_atom_v, std::vector<cti::ingest_item>{item})
      .receive([&](std::vector<cti::ingest_result>& r) { fresh = r.size() == 1 && !r[0].duplicate; },
               [&](caf::error& err) { ADD_FAILURE() << sys.render(err); });
    return fresh;
  }

  /// What the listening connection heard up to a notification sent after
  /// the worker finished everything it was given: one worker handles its
  /// mailbox in order, so a health check answered means any notification
  /// it queued is committed, and the marker sent now comes after it.
  std::vector<std::pair<std::string, int>> heard_until_marker() {
    self->request(pool, 10s, cti::health_atom_v).receive([](bool) {}, [&](caf::error& err) {
      ADD_FAILURE() << sys.render(err);
    });
    pqxx::connection marker{url};
    pqxx::nontransaction{marker}.exec("SELECT pg_notify('" + std::string{cti::db::events_channel}
                                      + "', 'marker')");
    receiver.heard.clear();
    bool seen = false;
    for (int i = 0; i < 100 && !seen; ++i) {
      listening.await_notification(0, 100000);
      for (auto& [payload, pid] : receiver.heard)
        seen = seen || payload == "marker";
    }
    EXPECT_TRUE(seen) << "the marker notification did not arrive";
    return receiver.heard;
  }

  ~stored_batch_fixture() override {
    if (pool)
      self->send_exit(pool, caf::exit_reason::user_shutdown);
  }
};

} // namespace

// A batch that stored something new wakes one of this node's pollers as it
// commits, without a NOTIFY (a NOTIFY in the ingest transaction serialized
// the commits of concurrent batches); a batch of repeats wakes nobody.
TEST_F(stored_batch_fixture, a_stored_batch_wakes_one_poller_directly_and_a_repeat_none) {
  start(false);
  ASSERT_TRUE(store("wake-1"));
  std::string got;
  self->receive([&](std::string& s) { got = s; }, caf::after(10s) >> [] {});
  EXPECT_EQ(got, "wake");
  EXPECT_EQ(waker->wakes(), 1u);
  EXPECT_FALSE(store("wake-1"));
  EXPECT_EQ(waker->wakes(), 1u);
  auto heard = heard_until_marker();
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].first, "marker");
}

// In a cluster the worker then tells the other nodes, from its own
// connection (whose pid this node's listener knows as its own), once per
// batch that stored something new.
TEST_F(stored_batch_fixture, in_a_cluster_a_stored_batch_notifies_the_other_nodes_once) {
  start(true);
  ASSERT_TRUE(store("notify-1"));
  auto heard = heard_until_marker();
  ASSERT_EQ(heard.size(), 2u);
  EXPECT_EQ(heard[0].first, "");
  EXPECT_TRUE(pids->contains(heard[0].second));
  EXPECT_FALSE(store("notify-1"));
  heard = heard_until_marker();
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(heard[0].first, "marker");
}

// A notification that fails (here: the server's role may not call
// pg_notify; in production, a full notification queue) leaves the worker's
// connection usable: its transaction is ended, and the next batch is
// stored. (Left open and aborted, it failed every later job.)
TEST_F(stored_batch_fixture, a_failed_cluster_notification_leaves_the_connection_usable) {
  {
    pqxx::connection owner{url};
    pqxx::nontransaction{owner}.exec("REVOKE EXECUTE ON FUNCTION pg_notify(text, text) FROM PUBLIC");
  }
  start(true, cti::test::as_server_role(url));
  ASSERT_TRUE(store("failed-notify-1"));
  EXPECT_TRUE(store("failed-notify-2"));
  EXPECT_TRUE(store("failed-notify-3"));
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM webhook_events WHERE app_id = $1", {app}),
            "3");
}

// Whom a wake goes to: a poller in a fresh round (it applies the new events
// right after its own, so events that arrive one after another are
// numbered in arrival order); else an idle one, in turn; a round running
// for long is not waited for. wake_idle (a round found a backlog) wakes an
// idle poller or nobody.
TEST(poller_waker, a_wake_goes_to_a_fresh_round_else_to_an_idle_poller) {
  caf::actor_system sys{cti::test::actor_config()};
  caf::scoped_actor self{sys};
  cti::db::poller_waker waker;
  std::vector<std::shared_ptr<std::atomic<int64_t>>> started;
  for (int i = 0; i < 3; ++i) {
    started.push_back(std::make_shared<std::atomic<int64_t>>(0));
    waker.add(sys.spawn(indexed_recorder, caf::actor_cast<caf::actor>(self), i), started.back());
  }
  auto next = [&] {
    std::string got;
    self->receive([&](std::string& s) { got = s; }, caf::after(10s) >> [] {});
    return got;
  };
  auto now = [] { return std::chrono::steady_clock::now().time_since_epoch().count(); };
  const int64_t long_ago =
    std::chrono::duration_cast<std::chrono::nanoseconds>(cti::db::poller_waker::fresh_round * 4).count();

  waker.wake(); // all idle: the first in turn, stamped as if its round began
  EXPECT_EQ(next(), "wake 0");
  EXPECT_NE(started[0]->load(), 0);
  waker.wake(); // before it has read the first: the next wake follows it
  EXPECT_EQ(next(), "wake 0");
  started[0]->store(0); // its round has ended
  started[2]->store(now());
  waker.wake(); // poller 2's round has just started: it takes them next
  EXPECT_EQ(next(), "wake 2");
  waker.wake();
  EXPECT_EQ(next(), "wake 2");
  started[2]->store(now() - long_ago);
  waker.wake(); // a long round is not waited for: the next idle one
  EXPECT_EQ(next(), "wake 1");

  for (auto& s : started)
    s->store(now());
  auto before = waker.wakes();
  waker.wake_idle(); // nobody idle: nobody woken
  EXPECT_EQ(waker.wakes(), before);
  started[0]->store(0);
  waker.wake_idle();
  EXPECT_EQ(next(), "wake 0");
  EXPECT_EQ(waker.wakes(), before + 1);
}
