#include "actors/ingester.hpp"

#include <future>
#include <map>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "db/pool.hpp"
#include "tests/integration/test_db.hpp"

using namespace std::chrono_literals;

namespace {

/// What the ingester answered: "stored", "duplicate" or the error's code.
using answer = std::string;

cti::ingest_item item(const std::string& app, const std::string& id) {
  cti::ingest_item it;
  it.app_id = app;
  it.dialpad_event_id = id;
  it.event_type = "call.ring";
  it.payload = R"({"event_type":"call.ring"})";
  it.format = "seed";
  it.received_at_us = 1769596200123456;
  return it;
}

/// A pool of four connections on a database of its own and an ingester
/// that may hold two of them.
struct ingester_fixture : ::testing::Test {
  std::string url = cti::test::migrated_database("ingester");
  std::string app = cti::test::create_app(url);
  caf::actor_system sys{cti::test::actor_config()};
  caf::scoped_actor self{sys};
  cti::db_pool_actor pool;
  cti::ingester_actor ingester;

  static cti::ingester_settings small_batches() {
    cti::ingester_settings is;
    is.max_batch = 3;
    is.max_in_flight = 1;
    is.max_delay = 1ms;
    is.max_connections = 2;
    is.db_timeout = 1500ms;
    is.wait_timeout = 1500ms;
    return is;
  }

  explicit ingester_fixture(const cti::ingester_settings& is = small_batches()) {
    cti::db::pool_settings ps;
    ps.worker.conninfo = url;
    ps.min_workers = 1;
    ps.max_workers = 4;
    pool = cti::db::spawn_db_pool(sys, ps);
    ingester = cti::spawn_ingester(sys, pool, is);
  }

  ~ingester_fixture() override {
    self->send_exit(ingester, caf::exit_reason::user_shutdown);
    self->send_exit(pool, caf::exit_reason::user_shutdown);
  }

  using handle = decltype(std::declval<caf::scoped_actor&>()->request(
    std::declval<cti::ingester_actor&>(), 20s, cti::ingest_atom_v, cti::ingest_item{}));

  /// Sends `id` to the ingester without waiting for its answer.
  handle send(const std::string& id) {
    return self->request(ingester, 20s, cti::ingest_atom_v, item(app, id));
  }

  /// The same with a payload of about `bytes` bytes.
  handle send(const std::string& id, std::size_t bytes) {
    auto it = item(app, id);
    it.payload = R"({"event_type":"call.ring","pad":")" + std::string(bytes - 40, 'x') + R"("})";
    return self->request(ingester, 20s, cti::ingest_atom_v, std::move(it));
  }

  /// The answer to an earlier `send` (request_timeout's errc if none came).
  answer await(handle& h) {
    answer out;
    h.receive([&](cti::ingest_result& r) { out = r.duplicate ? "duplicate" : "stored"; },
              [&](caf::error& err) { out = std::string{cti::to_string(cti::errc_of(err))}; });
    return out;
  }

  std::variant<bool, cti::errc> health() {
    std::variant<bool, cti::errc> out = cti::errc::internal;
    self->request(pool, 10s, cti::health_atom_v)
      .receive([&](bool ok) { out = ok; }, [&](caf::error& err) { out = cti::errc_of(err); });
    return out;
  }

  /// Hands `it` over with a callback (as an HTTP session does); the future
  /// holds what the callback was given: "stored", "duplicate" or the
  /// error's code.
  std::future<answer> hand_over(cti::ingest_item it) {
    auto done = std::make_shared<std::promise<answer>>();
    auto out = done->get_future();
    cti::ingest_reply reply{[done](cti::ingest_result* res, const caf::error* err) {
      done->set_value(res != nullptr ? (res->duplicate ? "duplicate" : "stored")
                                     : std::string{cti::to_string(cti::errc_of(*err))});
    }};
    caf::anon_send(ingester, cti::ingest_atom_v, std::move(it), std::move(reply));
    return out;
  }

  /// The callback's answer, or "no answer" after 10 s.
  static answer await(std::future<answer>& f) {
    return f.wait_for(10s) == std::future_status::ready ? f.get() : "no answer";
  }

  std::string inserts_waiting_for_the_lock() {
    return cti::test::query_value(
      url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
           " AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO webhook_events%'");
  }
};

} // namespace

TEST_F(ingester_fixture, a_stalled_table_holds_only_the_ingest_connections_and_nothing_waiting_is_acknowledged) {
  // The first event is stored and answered as usual.
  auto first = send("ev-0");
  ASSERT_EQ(await(first), "stored");

  pqxx::connection locker{url};
  pqxx::work hold{locker};
  hold.exec("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE");

  // Twelve events: enough for four batches of three, one per connection
  // of the pool, if ingest took every connection it could get.
  std::vector<handle> pending;
  for (int i = 1; i <= 12; ++i)
    pending.push_back(send("ev-" + std::to_string(i)));
  ASSERT_TRUE(cti::test::eventually([&] { return inserts_waiting_for_the_lock() == "2"; }, 10s))
    << "ingest never reached the lock on two connections";

  // The rest of the pool still serves everyone else, and ingest has not
  // taken a third connection meanwhile.
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(health(), (std::variant<bool, cti::errc>{true})) << "health check " << i;
  EXPECT_EQ(inserts_waiting_for_the_lock(), "2");

  // Nothing is acknowledged while the table is locked: after db_timeout
  // every request is answered "unavailable", the stalled batches' and the
  // gathered ones' alike.
  for (std::size_t i = 0; i < pending.size(); ++i)
    EXPECT_EQ(await(pending[i]), cti::to_string(cti::errc::db_unavailable)) << "event " << i + 1;

  // Given-up requests do not free their connections: the stalled INSERTs
  // still hold them, so later events neither take a third connection nor
  // wait for ever.
  std::vector<handle> later;
  for (int i = 13; i <= 18; ++i)
    later.push_back(send("ev-" + std::to_string(i)));
  EXPECT_EQ(health(), (std::variant<bool, cti::errc>{true}));
  EXPECT_EQ(inserts_waiting_for_the_lock(), "2");
  for (std::size_t i = 0; i < later.size(); ++i)
    EXPECT_EQ(await(later[i]), cti::to_string(cti::errc::db_unavailable)) << "event " << i + 13;
  EXPECT_EQ(inserts_waiting_for_the_lock(), "2");

  // Released, the two stalled batches commit late (what Dialpad retries is
  // then a duplicate); the gathered events were given up, not stored.
  hold.commit();
  ASSERT_TRUE(cti::test::eventually([&] { return inserts_waiting_for_the_lock() == "0"; }, 10s));
  auto again_first = send("ev-1");  // alone in the first stalled batch
  auto again_last = send("ev-12");  // gathered, never sent
  EXPECT_EQ(await(again_first), "duplicate");
  EXPECT_EQ(await(again_last), "stored");
  // ev-0 and ev-12, and the stalled batches: ev-1 alone, then one to
  // three of ev-2..ev-4 (the gathering timer may send the second early);
  // none of ev-5..ev-18 (bar ev-12, sent again), which waited for a
  // connection and were given up.
  // (Counted until the number settles: the second stalled batch may
  // commit a moment after the first.)
  int stalled = 0;
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      stalled = std::stoi(cti::test::query_value(url, "SELECT count(*) FROM webhook_events")) - 2;
      return stalled >= 2;
    },
    10s));
  EXPECT_LE(stalled, 4);
  EXPECT_EQ(cti::test::query_value(
              url, "SELECT count(*) FROM webhook_events WHERE dialpad_event_id ~ '^ev-([5-9]|1[013-8])$'"),
            "0")
    << "an event given up while it waited for a connection was stored";
}

// An event handed over by an HTTP session itself (handle_webhook_in_session)
// comes with a callback instead of a waiting request. The callback runs
// once per event, only after the commit (the row is visible from another
// connection when it runs), says "duplicate" for a repeat, and says
// `unavailable` when the batch cannot commit in time; events of both kinds
// share batches and none is answered twice.
TEST_F(ingester_fixture, events_handed_over_with_a_callback_are_answered_through_it_after_the_commit) {
  struct answers {
    std::mutex mtx;
    std::map<std::string, std::vector<std::string>> by_id;
  };
  auto got = std::make_shared<answers>();
  auto hand_over = [&](const std::string& id) {
    cti::ingest_reply reply{[got, id, url = url](cti::ingest_result* res, const caf::error* err) {
      std::string a;
      if (res != nullptr) {
        auto rows = cti::test::query_value(
          url, "SELECT count(*) FROM webhook_events WHERE dialpad_event_id = $1", {id});
        a = std::string{res->duplicate ? "duplicate" : "stored"}
            + (rows == "1" ? "" : " before its commit");
      } else {
        a = std::string{cti::to_string(cti::errc_of(*err))};
      }
      std::lock_guard<std::mutex> guard{got->mtx};
      got->by_id[id].push_back(a);
    }};
    caf::anon_send(ingester, cti::ingest_atom_v, item(app, id), std::move(reply));
  };
  auto answers_for = [&](const std::string& id) {
    std::lock_guard<std::mutex> guard{got->mtx};
    return got->by_id[id];
  };
  auto answered = [&](std::size_t n) {
    return cti::test::eventually(
      [&] {
        std::lock_guard<std::mutex> guard{got->mtx};
        std::size_t total = 0;
        for (const auto& [id, list] : got->by_id)
          total += list.size();
        return total >= n;
      },
      10s);
  };

  // Callbacks and requests side by side, more than one batch of three.
  std::vector<handle> requests;
  for (int i = 0; i < 4; ++i) {
    hand_over("cb-" + std::to_string(i));
    requests.push_back(send("rq-" + std::to_string(i)));
  }
  for (auto& h : requests)
    EXPECT_EQ(await(h), "stored");
  ASSERT_TRUE(answered(4));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(answers_for("cb-" + std::to_string(i)), std::vector<std::string>{"stored"}) << i;

  // A repeat is a duplicate, whichever way it came first.
  hand_over("cb-0");
  hand_over("rq-0");
  ASSERT_TRUE(answered(6));
  EXPECT_EQ(answers_for("cb-0"), (std::vector<std::string>{"stored", "duplicate"}));
  EXPECT_EQ(answers_for("rq-0"), std::vector<std::string>{"duplicate"});

  // A table that does not take the batch in time: `unavailable`, nothing
  // acknowledged, and nothing answered a second time when it commits late.
  {
    pqxx::connection locker{url};
    pqxx::work hold{locker};
    hold.exec("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE");
    hand_over("cb-late");
    ASSERT_TRUE(answered(7));
    EXPECT_EQ(answers_for("cb-late"),
              std::vector<std::string>{std::string{cti::to_string(cti::errc::db_unavailable)}});
    hold.commit();
  }
  ASSERT_TRUE(cti::test::eventually(
    [&] { return cti::test::query_value(url, "SELECT count(*) FROM webhook_events WHERE"
                                             " dialpad_event_id = 'cb-late'") == "1"; },
    10s)) << "the stalled batch never committed";
  auto probe = send("after-late");
  EXPECT_EQ(await(probe), "stored");
  EXPECT_EQ(answers_for("cb-late").size(), 1u);
}

namespace {

/// One ingest connection, batches of at most 1,000 payload bytes, and
/// 2,500 bytes of events waiting for the connection.
struct ingester_bytes_fixture : ingester_fixture {
  static cti::ingester_settings byte_bounds() {
    auto is = small_batches();
    is.max_batch = 256;
    is.max_connections = 1;
    is.max_batch_bytes = 1000;
    is.max_waiting_bytes = 2500;
    is.db_timeout = 10s;
    is.wait_timeout = 10s;
    return is;
  }
  ingester_bytes_fixture() : ingester_fixture(byte_bounds()) {}
};

} // namespace

// A batch is bounded by its payload bytes as well as its count: webhook
// bodies may be megabytes each, and one statement's jsonb array past
// PostgreSQL's limit would fail every event in it. What waits for a
// connection is bounded in bytes too (503 at once past it).
TEST_F(ingester_bytes_fixture, batches_and_the_waiting_events_are_bounded_in_bytes) {
  auto warm = send("warm");
  ASSERT_EQ(await(warm), "stored");
  pqxx::connection locker{url};
  pqxx::work hold{locker};
  hold.exec("LOCK TABLE webhook_events IN ACCESS EXCLUSIVE MODE");
  std::vector<handle> big;
  big.push_back(send("big-1", 600)); // goes at once, and waits for the lock
  ASSERT_TRUE(cti::test::eventually([&] { return inserts_waiting_for_the_lock() == "1"; }, 10s));
  for (int i = 2; i <= 5; ++i)
    big.push_back(send("big-" + std::to_string(i), 600)); // 2,400 bytes gathered
  auto refused = send("big-6", 600);
  EXPECT_EQ(await(refused), cti::to_string(cti::errc::db_unavailable));
  // The same for an event handed over with a callback (the sessions' fast
  // path): answered at once, while the table is still locked.
  auto cb = item(app, "big-7");
  cb.payload = R"({"event_type":"call.ring","pad":")" + std::string(560, 'x') + R"("})";
  auto refused_cb = hand_over(std::move(cb));
  EXPECT_EQ(await(refused_cb), cti::to_string(cti::errc::db_unavailable));
  hold.commit();
  for (std::size_t i = 0; i < big.size(); ++i)
    EXPECT_EQ(await(big[i]), "stored") << "big-" << i + 1;
  // Five batches (transactions) of one event each: two would exceed 1,000 bytes.
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(DISTINCT xmin::text) || '/' || count(*)"
                                        " FROM webhook_events WHERE dialpad_event_id LIKE 'big-%'"),
            "5/5");
  // An event larger than a batch's bound still goes (alone).
  auto huge = send("huge", 1500);
  EXPECT_EQ(await(huge), "stored");
}

// An event whose app was deleted after its request found it: `not_found`
// (the webhook's 404 "unknown tenant") on either path, nothing stored, and
// the ingester goes on with the other apps' events.
TEST_F(ingester_fixture, an_event_of_an_app_deleted_meanwhile_is_not_found_and_the_rest_go_on) {
  auto gone = cti::test::create_app(url);
  cti::test::query_value(url, "DELETE FROM apps WHERE id = $1", {gone});
  auto by_request = self->request(ingester, 20s, cti::ingest_atom_v, item(gone, "gone-1"));
  auto by_callback = hand_over(item(gone, "gone-2"));
  auto kept = send("kept-1");
  EXPECT_EQ(await(by_request), cti::to_string(cti::errc::not_found));
  EXPECT_EQ(await(by_callback), cti::to_string(cti::errc::not_found));
  EXPECT_EQ(await(kept), "stored");
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM webhook_events WHERE app_id = $1",
                                   {gone}),
            "0");
}
