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

/// How many events `app` has.
std::string count_events(const std::string& app) {
  return cti::test::query_value(db_url(), "SELECT count(*) FROM webhook_events WHERE app_id = $1",
                                {app});
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
  EXPECT_EQ(count_events(app), "3");
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
  EXPECT_EQ(count_events(app), "2");
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
  EXPECT_EQ(count_events(app), "0");
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
  EXPECT_EQ(count_events(app), std::to_string(10 * n));
}

// The ingest insert checks each app once per batch (schema/014): an event
// whose app was deleted since its request found it is answered app_gone,
// alone; the batch's other events are stored. (With the per-row foreign
// key this batch failed whole.)
TEST(events_repo, an_event_of_a_deleted_app_is_refused_alone_and_its_neighbours_are_stored) {
  auto kept = cti::test::create_app(db_url());
  auto gone = cti::test::create_app(db_url());
  cti::test::query_value(db_url(), "DELETE FROM apps WHERE id = $1", {gone});
  auto res = store({item(kept, "k1"), item(gone, "g1"), item(kept, "k2"), item(gone, "g1")});
  ASSERT_EQ(res.size(), 4u);
  EXPECT_FALSE(res[0].app_gone);
  EXPECT_EQ(res[0].event_id.size(), 36u);
  EXPECT_TRUE(res[1].app_gone);
  EXPECT_EQ(res[1].event_id, "");
  EXPECT_FALSE(res[2].app_gone);
  EXPECT_FALSE(res[2].duplicate);
  EXPECT_TRUE(res[3].app_gone);
  EXPECT_EQ(count_events(kept), "2");
  EXPECT_EQ(count_events(gone), "0");
}

namespace {

/// True once the backend `pid` waits for a lock.
bool waits_for_a_lock(int pid) {
  return cti::test::eventually(
    [pid] {
      return cti::test::query_value(db_url(), "SELECT wait_event_type FROM pg_stat_activity"
                                              " WHERE pid = $1::int",
                                    {std::to_string(pid)})
             == "Lock";
    },
    std::chrono::seconds{10});
}

} // namespace

// An app deleted while a batch holding it is uncommitted: the DELETE waits
// for the batch, and the events go with the app (none is left without one).
TEST(events_repo, deleting_an_app_waits_for_a_batch_holding_it_and_takes_its_events) {
  auto app = cti::test::create_app(db_url());
  auto writer = connect();
  pqxx::work batch{*writer};
  auto res = cti::db::insert_events(batch, {item(app, "held-1"), item(app, "held-2")});
  ASSERT_FALSE(res[0].app_gone);
  // As the server's role, which owns nothing (the trigger runs as the
  // owner).
  pqxx::connection deleter{cti::test::as_server_role(db_url())};
  std::string deleted, error;
  std::thread t{[&] {
    try {
      pqxx::nontransaction tx{deleter};
      deleted = std::to_string(
        tx.exec_params("DELETE FROM apps WHERE id = $1::uuid", app).affected_rows());
    } catch (const std::exception& e) {
      error = e.what();
    }
  }};
  bool waited = waits_for_a_lock(deleter.backendpid());
  batch.commit();
  t.join();
  EXPECT_TRUE(waited) << "the DELETE did not wait for the uncommitted batch";
  EXPECT_EQ(error, "");
  EXPECT_EQ(deleted, "1");
  EXPECT_EQ(count_events(app), "0");
}

// A batch that comes while an app's DELETE is uncommitted waits for it and
// then stores nothing for that app.
TEST(events_repo, a_batch_waits_for_an_uncommitted_app_delete_and_stores_nothing_for_it) {
  auto app = cti::test::create_app(db_url());
  auto other = cti::test::create_app(db_url());
  pqxx::connection deleter{db_url()};
  pqxx::work del{deleter};
  del.exec_params("DELETE FROM apps WHERE id = $1::uuid", app);
  auto writer = connect();
  std::vector<cti::ingest_result> res;
  std::string error;
  std::thread t{[&] {
    try {
      pqxx::nontransaction tx{*writer};
      res = cti::db::insert_events(tx, {item(app, "late-1"), item(other, "late-2")});
    } catch (const std::exception& e) {
      error = e.what();
    }
  }};
  bool waited = waits_for_a_lock(writer->backendpid());
  del.commit();
  t.join();
  EXPECT_TRUE(waited) << "the batch did not wait for the uncommitted DELETE";
  ASSERT_EQ(error, "");
  ASSERT_EQ(res.size(), 2u);
  EXPECT_TRUE(res[0].app_gone);
  EXPECT_FALSE(res[1].app_gone);
  EXPECT_EQ(count_events(app), "0");
  EXPECT_EQ(count_events(other), "1");
}

// What the foreign key also guaranteed: an app's id does not change under
// its events; a DELETE under a transaction snapshot is refused (it would
// miss the events of a batch it waited for); TRUNCATE apps CASCADE empties
// the events too.
TEST(events_repo, an_app_keeps_its_id_while_it_has_events_and_truncate_takes_them) {
  auto url = cti::test::migrated_database("events_trunc");
  auto app = cti::test::create_app(url);
  auto empty = cti::test::create_app(url);
  {
    auto c = cti::test::connect_prepared(url);
    pqxx::nontransaction tx{*c};
    ASSERT_FALSE(cti::db::insert_events(tx, {item(app, "t1")})[0].app_gone);
  }
  pqxx::connection c{url};
  try {
    pqxx::nontransaction{c}.exec_params("UPDATE apps SET id = gen_random_uuid() WHERE id = $1::uuid",
                                        app);
    ADD_FAILURE() << "an app with events changed its id";
  } catch (const pqxx::foreign_key_violation&) {
  }
  // Without events it may.
  pqxx::nontransaction{c}.exec_params("UPDATE apps SET id = gen_random_uuid() WHERE id = $1::uuid",
                                      empty);
  for (const char* sql : {"DELETE FROM apps WHERE id = $1::uuid",
                          "UPDATE apps SET id = gen_random_uuid() WHERE id = $1::uuid"}) {
    try {
      pqxx::work tx{c, "rr"};
      tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
      tx.exec_params(sql, app);
      ADD_FAILURE() << "allowed under REPEATABLE READ: " << sql;
    } catch (const pqxx::sql_error& e) {
      EXPECT_EQ(e.sqlstate(), "55000") << sql;
    }
  }
  {
    // A DELETE that removes no app is no concern of the trigger's.
    pqxx::work tx{c, "rr-none"};
    tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    EXPECT_EQ(tx.exec("DELETE FROM apps WHERE false").affected_rows(), 0u);
    tx.commit();
  }
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM webhook_events"), "1");
  pqxx::nontransaction{c}.exec("TRUNCATE apps CASCADE");
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM webhook_events"), "0");
}

// A row that was there when the insert statement ran but is gone when its
// id is looked up (its app deleted, or the event past its retention, in
// that instant) goes through the statement again: stored anew, or answered
// app_gone. Until the thirty-third session that failed the whole batch
// (500 for every webhook in it). The instant is made here by a lookup
// statement that deletes what it looks for first (same name, same
// parameters as the real one).
TEST(events_repo, a_row_gone_between_the_insert_and_its_lookup_is_settled_alone) {
  auto app = cti::test::create_app(db_url());
  auto doomed = cti::test::create_app(db_url());
  auto stored_before = store({item(app, "vanish-event"), item(doomed, "vanish-app"),
                              item(app, "stays")});
  ASSERT_FALSE(stored_before[0].app_gone);
  pqxx::connection c{db_url()};
  for (const auto& s : cti::db::prepared_statements())
    if (s.name != "event_id_by_key")
      c.prepare(s.name, s.sql);
  c.prepare("event_id_by_key",
            "WITH e AS (DELETE FROM webhook_events WHERE app_id = $1::uuid AND dialpad_event_id = $2"
            "  AND $2 = 'vanish-event' RETURNING 1),"
            " a AS (DELETE FROM apps WHERE id = $1::uuid AND $2 = 'vanish-app' RETURNING 1)"
            " SELECT id FROM webhook_events WHERE app_id = $1::uuid AND dialpad_event_id = $2"
            " AND NOT EXISTS (SELECT 1 FROM e) AND NOT EXISTS (SELECT 1 FROM a)");
  pqxx::work tx{c};
  auto res = cti::db::insert_events(tx, {item(app, "vanish-event"), item(doomed, "vanish-app"),
                                         item(app, "stays"), item(app, "vanish-event")});
  tx.commit();
  ASSERT_EQ(res.size(), 4u);
  // Stored anew: a new row, not a duplicate.
  EXPECT_FALSE(res[0].duplicate);
  EXPECT_FALSE(res[0].app_gone);
  EXPECT_EQ(res[0].event_id.size(), 36u);
  EXPECT_NE(res[0].event_id, stored_before[0].event_id);
  EXPECT_TRUE(res[1].app_gone);
  EXPECT_TRUE(res[2].duplicate);
  EXPECT_EQ(res[2].event_id, stored_before[2].event_id);
  EXPECT_TRUE(res[3].duplicate);
  EXPECT_EQ(res[3].event_id, res[0].event_id);
  EXPECT_EQ(count_events(app), "2");
  EXPECT_EQ(count_events(doomed), "0");
}
