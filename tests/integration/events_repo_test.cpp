#include "db/events_repo.hpp"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "db/migrator.hpp"
#include "db/statements.hpp"
#include "tests/integration/test_db.hpp"

namespace {

/// A migrated database shared by this suite; each test makes its own app.
const std::string& db_url() {
  static const std::string url = [] {
    auto u = cti::test::fresh_database("events");
    auto res = cti::db::run_migrations(u, cti::db::embedded_migrations());
    EXPECT_TRUE(res.ok) << res.error;
    return u;
  }();
  return url;
}

std::unique_ptr<pqxx::connection> connect() {
  auto c = std::make_unique<pqxx::connection>(db_url());
  for (const auto& s : cti::db::prepared_statements())
    c->prepare(s.name, s.sql);
  return c;
}

cti::ingest_item item(const std::string& app, const std::string& id,
                      const std::string& payload = R"({"event_type":"call.ring"})") {
  cti::ingest_item it;
  it.app_id = app;
  it.dialpad_event_id = id;
  it.event_type = "call.ring";
  it.payload = payload;
  it.format = "seed";
  it.received_at_us = 1769596200123456;
  return it;
}

std::vector<cti::ingest_result> store(const std::vector<cti::ingest_item>& items) {
  auto c = connect();
  pqxx::work tx{*c};
  auto res = cti::db::insert_events(tx, items);
  tx.commit();
  return res;
}

} // namespace

TEST(events_repo, stores_a_batch_and_answers_in_order) {
  auto app = cti::test::create_app(db_url());
  auto res = store({item(app, "a"), item(app, "b"), item(app, "c")});
  ASSERT_EQ(res.size(), 3u);
  for (const auto& r : res) {
    EXPECT_FALSE(r.duplicate);
    EXPECT_EQ(r.event_id.size(), 36u);
  }
  EXPECT_EQ(cti::test::query_value(db_url(), "SELECT count(*) FROM webhook_events WHERE app_id = $1",
                                   {app}),
            "3");
  EXPECT_EQ(cti::test::query_value(db_url(), "SELECT dialpad_event_id FROM webhook_events WHERE id = $1",
                                   {res[1].event_id}),
            "b");
  // Arrival time kept to the microsecond, state pending.
  EXPECT_EQ(cti::test::query_value(
              db_url(), "SELECT (extract(epoch FROM received_at) * 1000000)::bigint::text || state"
                        " FROM webhook_events WHERE id = $1",
              {res[0].event_id}),
            "1769596200123456pending");
}

TEST(events_repo, a_repeat_delivery_answers_the_first_id_as_duplicate) {
  auto app = cti::test::create_app(db_url());
  auto first = store({item(app, "x")});
  auto second = store({item(app, "x", R"({"event_type":"call.ring","changed":true})"), item(app, "y")});
  EXPECT_TRUE(second[0].duplicate);
  EXPECT_EQ(second[0].event_id, first[0].event_id);
  EXPECT_FALSE(second[1].duplicate);
  // The stored payload is the first delivery's.
  EXPECT_EQ(cti::test::query_value(db_url(), "SELECT payload::text FROM webhook_events WHERE id = $1",
                                   {first[0].event_id}),
            R"({"event_type": "call.ring"})");
}

TEST(events_repo, a_repeat_inside_one_batch_is_stored_once) {
  auto app = cti::test::create_app(db_url());
  auto res = store({item(app, "dup"), item(app, "dup"), item(app, "other")});
  EXPECT_FALSE(res[0].duplicate);
  EXPECT_TRUE(res[1].duplicate);
  EXPECT_EQ(res[0].event_id, res[1].event_id);
  EXPECT_EQ(cti::test::query_value(db_url(), "SELECT count(*) FROM webhook_events WHERE app_id = $1",
                                   {app}),
            "2");
}

TEST(events_repo, the_same_event_id_in_two_apps_is_two_events) {
  auto a = cti::test::create_app(db_url());
  auto b = cti::test::create_app(db_url());
  auto res = store({item(a, "same"), item(b, "same")});
  EXPECT_FALSE(res[0].duplicate);
  EXPECT_FALSE(res[1].duplicate);
  EXPECT_NE(res[0].event_id, res[1].event_id);
}

// Storing a batch sends no NOTIFY: PostgreSQL serializes the commits of
// notifying transactions, WAL flush included, so concurrent batches could
// not share a flush (the worker wakes this node's pollers itself, and in
// a cluster notifies the other nodes in a transaction of its own).
TEST(events_repo, storing_a_batch_notifies_nobody) {
  auto app = cti::test::create_app(db_url());
  pqxx::connection listener{db_url()};
  struct recorder : pqxx::notification_receiver {
    recorder(pqxx::connection_base& c) : pqxx::notification_receiver(c, cti::db::events_channel) {}
    void operator()(const std::string& payload, int) override { heard.push_back(payload); }
    std::vector<std::string> heard;
  } recv{listener};
  {
    auto c = connect();
    pqxx::work tx{*c};
    EXPECT_EQ(cti::db::insert_events(tx, {item(app, "n1"), item(app, "n2")}).size(), 2u);
    tx.commit();
  }
  // Notifications arrive in commit order: one sent now comes after any
  // the batch's commit sent.
  {
    pqxx::connection marker{db_url()};
    pqxx::nontransaction{marker}.exec("SELECT pg_notify('" + std::string{cti::db::events_channel}
                                      + "', 'marker')");
  }
  for (int i = 0; i < 100 && recv.heard.empty(); ++i)
    listener.await_notification(0, 50000);
  ASSERT_FALSE(recv.heard.empty());
  EXPECT_EQ(recv.heard.front(), "marker");
}

TEST(events_repo, an_aborted_transaction_stores_nothing) {
  auto app = cti::test::create_app(db_url());
  {
    auto c = connect();
    pqxx::work tx{*c};
    cti::db::insert_events(tx, {item(app, "gone")});
    // no commit: the destructor aborts
  }
  EXPECT_EQ(cti::test::query_value(db_url(), "SELECT count(*) FROM webhook_events WHERE app_id = $1",
                                   {app}),
            "0");
}

// Two batches carrying the same new events in opposite arrival orders,
// stored at the same moment (a burst of Dialpad's retries after a stall,
// or the same delivery reaching two nodes): each writes its rows in key
// order, so neither waits for the other in a cycle. Until the
// twenty-fourth session rows went in arrival order, the two statements
// deadlocked and one batch's webhooks were answered 503.
TEST(events_repo, batches_of_the_same_events_in_opposite_orders_do_not_deadlock) {
  auto app = cti::test::create_app(db_url());
  auto c1 = connect();
  auto c2 = connect();
  constexpr int n = 200;
  for (int round = 0; round < 10; ++round) {
    std::vector<cti::ingest_item> forward;
    for (int i = 0; i < n; ++i)
      forward.push_back(item(app, "opp-" + std::to_string(round) + "-" + std::to_string(i)));
    std::vector<cti::ingest_item> backward(forward.rbegin(), forward.rend());
    std::atomic<int> ready{0};
    auto run = [&ready](pqxx::connection& c, const std::vector<cti::ingest_item>& items,
                        std::vector<cti::ingest_result>& out, std::string& error) {
      // Both statements start together (a barrier, not a sleep).
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      try {
        pqxx::nontransaction tx{c};
        out = cti::db::insert_events(tx, items);
      } catch (const std::exception& e) {
        error = e.what();
      }
    };
    std::vector<cti::ingest_result> r1, r2;
    std::string e1, e2;
    std::thread t1{run, std::ref(*c1), std::cref(forward), std::ref(r1), std::ref(e1)};
    std::thread t2{run, std::ref(*c2), std::cref(backward), std::ref(r2), std::ref(e2)};
    t1.join();
    t2.join();
    ASSERT_EQ(e1, "") << "round " << round;
    ASSERT_EQ(e2, "") << "round " << round;
    ASSERT_EQ(r1.size(), std::size_t{n});
    ASSERT_EQ(r2.size(), std::size_t{n});
    for (int i = 0; i < n; ++i) {
      // The same stored event, new to exactly one of the two batches.
      EXPECT_EQ(r1[i].event_id, r2[n - 1 - i].event_id);
      EXPECT_NE(r1[i].duplicate, r2[n - 1 - i].duplicate);
    }
  }
  EXPECT_EQ(cti::test::query_value(db_url(), "SELECT count(*) FROM webhook_events WHERE app_id = $1",
                                   {app}),
            std::to_string(10 * n));
}
