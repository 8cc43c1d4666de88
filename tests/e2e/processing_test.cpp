// The event pipeline through the built binary: a signed webhook is stored,
// processed within moments (woken by NOTIFY, not by the 5 s poll), and the
// queue's admin endpoints show, fetch and replay it.

#include <csignal>
#include <sstream>
#include <unistd.h>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "domain/time_format.hpp"
#include "tests/e2e/api_helpers.hpp"
#include "tests/e2e/server_process.hpp"
#include "tests/e2e/shared_server.hpp"
#include "tests/e2e/webhook_signing.hpp"
#include "tests/fixture_files.hpp"
#include "tests/integration/test_db.hpp"

using namespace std::chrono_literals;
using cti::test::http_reply;
using cti::test::http_request;
using cti::test::server_process;
using json = nlohmann::json;

namespace {


class processing_test : public cti::test::shared_server_test<processing_test> {
public:
  // A long poll interval: processing within the test's deadlines proves
  // the NOTIFY wake-up, not the safety-net poll.
  static std::map<std::string, std::string> server_env() {
    return {{"EVENT_POLL_INTERVAL_MS", "60000"}};
  }

protected:
  static http_reply post_event(const std::string& app, const std::string& body) {
    return cti::test::post_signed_event(server->port(), app, body);
  }

  static http_reply internal(const std::string& method, const std::string& target) {
    return cti::test::internal_call(server->port(), method, target);
  }

  static std::string url() { return cti::test::database_url(); }

};

/// A server whose rounds are larger than the order test posts: no round is
/// ever a full batch, which would wake a second poller to share a backlog
/// (and a backlog is applied by pollers side by side, in any commit order:
/// DECISIONS "Wake-ups"). On a busy machine 200 quick posts pile up 50
/// events during one slow round.
class arrival_order_test : public cti::test::shared_server_test<arrival_order_test> {
public:
  static std::map<std::string, std::string> server_env() {
    return {{"EVENT_POLL_INTERVAL_MS", "60000"}, {"EVENT_BATCH_SIZE", "1000"}};
  }

protected:
  static std::string url() { return cti::test::database_url(); }
};

std::string seed(const std::string& type, const std::string& id, int64_t call) {
  return json{{"event_type", type},
              {"event_id", id},
              {"dialpad_call_id", call},
              {"direction", "inbound"},
              {"from", "+15551230000"},
              {"to", "+15559870000"},
              {"timestamp", "2026-01-28T10:30:00Z"}}
    .dump();
}

/// seed(), stamped with the RFC 3339 `time`.
std::string seed_at(int64_t call, const std::string& type, const std::string& id, const char* time) {
  auto ev = json::parse(seed(type, id, call));
  ev["timestamp"] = time;
  return ev.dump();
}

/// A server's environment on a database of its own (`owner`, the migration
/// role's URL), with `extra` settings.
std::map<std::string, std::string> own_database_env(const std::string& owner,
                                                    std::map<std::string, std::string> extra) {
  extra.emplace("DATABASE_URL", cti::test::as_server_role(owner));
  extra.emplace("MIGRATION_DATABASE_URL", owner);
  return extra;
}

/// True once the event named `id` in `owner`'s database is processed (15 s at most).
bool processed_in(const std::string& owner, const std::string& id) {
  return cti::test::eventually(
    [&] {
      return cti::test::query_value(owner, "SELECT state FROM webhook_events"
                                           " WHERE dialpad_event_id = $1",
                                    {id})
             == "processed";
    },
    15s);
}

/// The outcomes of the app's events, in arrival order, comma-separated.
std::string outcomes(const std::string& app) {
  return cti::test::query_value(cti::test::database_url(),
                                "SELECT string_agg(outcome, ',' ORDER BY received_at)"
                                " FROM webhook_events WHERE app_id = $1",
                                {app});
}

} // namespace

TEST_F(processing_test, a_signed_webhook_becomes_a_call_within_moments) {
  auto app = cti::test::create_app(url());
  auto r = post_event(app, cti::test::fixture_text("13-seed-call.ring.json"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(url(), "SELECT status FROM calls WHERE app_id = $1"
                                           " AND dialpad_call_id = 5635304278851584",
                                    {app})
             == "ringing";
    },
    5s));
  auto ended = post_event(app, cti::test::fixture_text("14-seed-call.ended.json"));
  ASSERT_EQ(ended.status, 200) << ended.body;
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(url(), "SELECT status FROM calls WHERE app_id = $1"
                                           " AND dialpad_call_id = 5635304278851584",
                                    {app})
             == "ended";
    },
    5s));
  EXPECT_EQ(cti::test::query_value(url(), "SELECT last_seq FROM apps WHERE id = $1", {app}), "2");
}

TEST_F(processing_test, events_without_a_timestamp_do_not_make_later_stamped_ones_older) {
  // A seed ring without a timestamp (processed now), then events stamped by
  // the sender's clock on an earlier day: each status change applies.
  auto app = cti::test::create_app(url());
  const int64_t call = 7'300'000'001;
  auto status_is = [&](const std::string& want) {
    return cti::test::eventually(
      [&] {
        return cti::test::query_value(url(), "SELECT status FROM calls WHERE app_id = $1"
                                             " AND dialpad_call_id = $2",
                                      {app, std::to_string(call)})
               == want;
      },
      5s);
  };
  auto ring = json::parse(seed("call.ring", "untimed-ring", call));
  ring.erase("timestamp");
  ASSERT_EQ(post_event(app, ring.dump()).status, 200);
  ASSERT_TRUE(status_is("ringing"));
  ASSERT_EQ(post_event(app, seed("call.started", "timed-start", call)).status, 200);
  EXPECT_TRUE(status_is("active"));
  EXPECT_EQ(cti::test::query_value(url(), "SELECT outcome FROM webhook_events WHERE app_id = $1"
                                          " AND dialpad_event_id = 'timed-start'", {app}),
            "applied");
}

TEST_F(processing_test, a_post_call_event_delivered_first_does_not_keep_a_missed_call_live) {
  // call.updated (a post-call event) first creates the call `active`, a
  // placeholder; the call's own ring and miss, delivered after it, must
  // still end it `missed` (they were refused: active → missed).
  auto app = cti::test::create_app(url());
  const int64_t call = 7'300'000'002;
  ASSERT_EQ(post_event(app, seed_at(call, "call.updated", "late-csat", "2026-01-28T10:31:00Z")).status, 200);
  ASSERT_EQ(post_event(app, seed_at(call, "call.ring", "early-ring", "2026-01-28T10:30:00Z")).status, 200);
  ASSERT_EQ(post_event(app, seed_at(call, "call.missed", "early-miss", "2026-01-28T10:30:20Z")).status, 200);
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(url(), "SELECT status || ' ' || coalesce(ended_at::text, '-')"
                                           " FROM calls WHERE app_id = $1 AND dialpad_call_id = $2",
                                    {app, std::to_string(call)})
             == "missed 2026-01-28 10:30:20+00";
    },
    5s));
  EXPECT_EQ(outcomes(app), "applied,applied,applied");
}

TEST_F(processing_test, a_recording_delivered_first_does_not_keep_a_missed_call_without_an_end) {
  // A seed recording first creates the call `ended` with no end time; the
  // call's own miss, delivered after it, must end it `missed` at the miss's
  // time (it was refused: ended → missed).
  auto app = cti::test::create_app(url());
  const int64_t call = 7'300'000'003;
  ASSERT_EQ(post_event(app, seed_at(call, "call.recording.completed", "late-rec", "2026-01-28T10:31:10Z")).status,
            200);
  ASSERT_EQ(post_event(app, seed_at(call, "call.missed", "early-miss", "2026-01-28T10:30:25Z")).status, 200);
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(
               url(), "SELECT status || ' ' || coalesce(ended_at::text, '-') || ' '"
                      " || coalesce(duration_seconds::text, '-')"
                      " FROM calls WHERE app_id = $1 AND dialpad_call_id = $2",
               {app, std::to_string(call)})
             == "missed 2026-01-28 10:30:25+00 0";
    },
    5s));
  EXPECT_EQ(outcomes(app), "applied,applied");
}

TEST_F(processing_test, the_events_api_lists_fetches_and_replays) {
  auto app = cti::test::create_app(url());
  for (int i = 0; i < 3; ++i) {
    auto body = seed("call.ring", "ev-" + std::to_string(i), 900 + i);
    if (i == 2) // a number past 64 bits, which the payload view must keep exactly
      body.insert(body.size() - 1, R"(,"big":12345678901234567890123)");
    ASSERT_EQ(post_event(app, body).status, 200);
  }
  ASSERT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(url(), "SELECT count(*) FROM webhook_events WHERE app_id = $1"
                                           " AND state = 'processed'",
                                    {app})
             == "3";
    },
    5s));

  // Newest first, paginated with an opaque cursor.
  auto page1 = internal("GET", "/internal/apps/" + app + "/events?limit=2");
  ASSERT_EQ(page1.status, 200) << page1.body;
  auto p1 = json::parse(page1.body);
  ASSERT_EQ(p1["data"].size(), 2u);
  EXPECT_EQ(p1["has_more"], true);
  ASSERT_TRUE(p1["next_cursor"].is_string());
  EXPECT_EQ(p1["data"][0]["dialpad_event_id"], "ev-2");
  EXPECT_EQ(p1["data"][0]["state"], "processed");
  EXPECT_EQ(p1["data"][0]["outcome"], "applied");
  EXPECT_EQ(p1["data"][0]["attempts"], 1);
  EXPECT_EQ(p1["data"][0]["event_type"], "call.ring");
  EXPECT_TRUE(p1["data"][0]["seq"].is_number());
  EXPECT_TRUE(p1["data"][0]["last_error"].is_null());
  EXPECT_TRUE(p1["data"][0]["next_attempt_at"].is_null());
  EXPECT_FALSE(p1["data"][0].contains("payload"));
  auto page2 = internal("GET", "/internal/apps/" + app + "/events?limit=2&cursor="
                                 + p1["next_cursor"].get<std::string>());
  ASSERT_EQ(page2.status, 200) << page2.body;
  auto p2 = json::parse(page2.body);
  ASSERT_EQ(p2["data"].size(), 1u);
  EXPECT_EQ(p2["data"][0]["dialpad_event_id"], "ev-0");
  EXPECT_EQ(p2["has_more"], false);
  EXPECT_TRUE(p2["next_cursor"].is_null());

  // Filters by state.
  auto processed = json::parse(internal("GET", "/internal/apps/" + app + "/events?state=processed").body);
  EXPECT_EQ(processed["data"].size(), 3u);
  auto dead = json::parse(internal("GET", "/internal/apps/" + app + "/events?state=dead").body);
  EXPECT_EQ(dead["data"].size(), 0u);

  // One event, with its payload.
  auto id = p1["data"][0]["id"].get<std::string>();
  auto one = internal("GET", "/internal/events/" + id);
  ASSERT_EQ(one.status, 200) << one.body;
  auto ev = json::parse(one.body);
  EXPECT_EQ(ev["id"], id);
  EXPECT_EQ(ev["payload"]["event_id"], "ev-2");
  EXPECT_EQ(ev["payload"]["dialpad_call_id"], 902);
  EXPECT_NE(one.body.find(R"("big": 12345678901234567890123)"), std::string::npos) << one.body;

  // Replay: 202, pending, then processed again (nothing changes the second time).
  auto replay = internal("POST", "/internal/events/" + id + "/replay");
  ASSERT_EQ(replay.status, 202) << replay.body;
  EXPECT_EQ(json::parse(replay.body), (json{{"event_id", id}, {"state", "pending"}}));
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(url(), "SELECT state || ':' || outcome FROM webhook_events"
                                           " WHERE id = $1",
                                    {id})
             == "processed:unchanged";
    },
    5s));
}

TEST_F(processing_test, the_events_api_answers_bad_requests_clearly) {
  auto app = cti::test::create_app(url());
  EXPECT_EQ(http_request(server->port(), "GET", "/internal/apps/" + app + "/events").status, 401);
  EXPECT_EQ(http_request(server->port(), "GET", "/internal/apps/" + app + "/events",
                         {{"Authorization", "Bearer wrong"}})
              .status,
            401);
  auto bad_state = internal("GET", "/internal/apps/" + app + "/events?state=done");
  EXPECT_EQ(bad_state.status, 400);
  EXPECT_NE(bad_state.body.find("state"), std::string::npos);
  for (const auto* limit : {"0", "501", "ten", "-1"}) {
    auto r = internal("GET", "/internal/apps/" + app + "/events?limit=" + limit);
    EXPECT_EQ(r.status, 400) << limit;
    EXPECT_NE(r.body.find("limit"), std::string::npos);
  }
  EXPECT_EQ(internal("GET", "/internal/apps/" + app + "/events?cursor=garbage!").status, 400);
  // Unknown apps and events are 404, whether or not the id is a UUID.
  EXPECT_EQ(internal("GET", "/internal/apps/00000000-0000-4000-8000-000000000000/events").status,
            404);
  EXPECT_EQ(internal("GET", "/internal/apps/not-a-uuid/events").status, 404);
  EXPECT_EQ(internal("GET", "/internal/events/00000000-0000-4000-8000-000000000000").status, 404);
  EXPECT_EQ(internal("POST", "/internal/events/00000000-0000-4000-8000-000000000000/replay").status,
            404);
  EXPECT_EQ(internal("POST", "/internal/events/xyz/replay").status, 404);
  // Unknown query parameters are ignored.
  EXPECT_EQ(internal("GET", "/internal/apps/" + app + "/events?color=blue").status, 200);
}

TEST_F(processing_test, metrics_report_the_event_processor) {
  auto app = cti::test::create_app(url());
  ASSERT_EQ(post_event(app, seed("call.ring", "m-1", 4242)).status, 200);
  ASSERT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(url(), "SELECT count(*) FROM calls WHERE app_id = $1", {app})
             == "1";
    },
    5s));
  // The poller counts its round once the commit's answer reached it, a
  // moment after the row became visible.
  json j;
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      auto m = internal("GET", "/metrics");
      j = json::parse(m.body, nullptr, false);
      return m.status == 200 && j.contains("event_processor")
             && j["event_processor"]["processed_last_minute"].get<int>() >= 1;
    },
    5s)) << j.dump();
  ASSERT_TRUE(j.contains("event_processor"));
  for (const auto* key : {"queue_length", "error_count", "avg_processing_time_ms", "dead"})
    EXPECT_TRUE(j["event_processor"][key].is_number()) << key;
}

// Webhooks posted one after another (each acknowledged before the next is
// sent), one per call, are applied and numbered in the order they arrived:
// a wake during a poller's round goes to that poller, which takes the new
// event right after its own, rather than to an idle sibling that would
// apply it beside the round and could commit first. (Before this, about
// one pair in twenty came out swapped.)
TEST_F(arrival_order_test, events_posted_one_after_another_take_seq_in_arrival_order) {
  auto app = cti::test::create_app(url());
  constexpr int n = 200;
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(cti::test::post_signed_event(server->port(), app,
                                           seed("call.ring", "order-" + std::to_string(i), 7100000 + i))
                .status,
              200);
  ASSERT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(url(), "SELECT count(*) FROM webhook_events WHERE app_id = $1"
                                           " AND seq IS NOT NULL",
                                    {app})
             == std::to_string(n);
    },
    20s));
  // Arrival order is the order of the acknowledgements (received_at).
  EXPECT_EQ(cti::test::query_value(
              url(),
              "SELECT coalesce(string_agg(dialpad_event_id, ',' ORDER BY received_at), '') FROM"
              " (SELECT dialpad_event_id, received_at, seq,"
              "  lag(seq) OVER (ORDER BY received_at, id) AS before FROM webhook_events"
              "  WHERE app_id = $1) t WHERE seq < before",
              {app}),
            "")
    << "events whose seq is lower than that of the event received before them; the events:\n"
    << cti::test::query_value(
         url(),
         "SELECT string_agg(dialpad_event_id || ' seq ' || seq || ' received '"
         " || to_char(received_at, 'HH24:MI:SS.US') || ' processed '"
         " || to_char(processed_at, 'HH24:MI:SS.US') || ' attempts ' || attempts"
         " || coalesce(' error ' || last_error, ''), E'\\n' ORDER BY received_at)"
         " FROM webhook_events WHERE app_id = $1",
         {app});
}

TEST_F(processing_test, a_seed_time_outside_years_1970_to_9999_is_replaced_by_the_processing_time) {
  // Such a time, stored on a call, could not be read back as RFC 3339: the
  // app's call reads answered 500 from then on.
  auto app = cti::test::create_app_over_http(server->port());
  auto key = cti::test::create_key_over_http(server->port(), app);
  const std::vector<std::string> times{"0000-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00"};
  for (std::size_t i = 0; i < times.size(); ++i) {
    auto body = json::parse(seed("call.ring", "far-" + std::to_string(i), 7'400'000'000 + i));
    body["timestamp"] = times[i];
    auto r = post_event(app, body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  ASSERT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(url(), "SELECT count(*) FROM calls WHERE app_id = $1", {app})
             == "2";
    },
    5s));
  std::map<std::string, std::string> h{{"x-app-api-key", key}};
  auto list = cti::test::http_request(server->port(), "GET", "/api/calls", h);
  ASSERT_EQ(list.status, 200) << list.body;
  auto data = json::parse(list.body)["data"];
  ASSERT_EQ(data.size(), 2u);
  for (const auto& call : data) {
    auto started = call["started_at"].get<std::string>();
    auto t = cti::parse_rfc3339(started);
    ASSERT_TRUE(t) << started;
    // The processing time: this year, not year 0 or 10000.
    EXPECT_LT(std::chrono::abs(std::chrono::duration_cast<std::chrono::hours>(
                *t - cti::now_utc())),
              std::chrono::hours{24})
      << started;
    auto one = cti::test::http_request(
      server->port(), "GET", "/api/calls/" + std::to_string(call["dialpad_call_id"].get<int64_t>()), h);
    EXPECT_EQ(one.status, 200) << one.body;
  }
  // The operator is told which event's time was not taken, and why.
  auto logged = [&](const std::string& dialpad_event_id) {
    auto id = cti::test::query_value(
      url(), "SELECT id FROM webhook_events WHERE app_id = $1 AND dialpad_event_id = $2",
      {app, dialpad_event_id});
    std::istringstream lines{server->output()};
    for (std::string line; std::getline(lines, line);)
      if (line.find("unreadable time in an event") != std::string::npos
          && line.find(id) != std::string::npos
          && line.find(R"("field":"timestamp")") != std::string::npos)
        return true;
    return false;
  };
  EXPECT_TRUE(cti::test::eventually([&] { return logged("far-0") && logged("far-1"); }, 5s))
    << server->output();
}

TEST(processing, a_failing_event_is_logged_at_each_attempt_and_when_it_goes_dead) {
  // The handler fails through a trigger on this call only (other tests
  // share the database); two attempts, and a poll often enough to retry.
  const int64_t call = 990000000 + static_cast<int64_t>(::getpid() % 1000000);
  const std::string fn = "cti_test_fail_" + std::to_string(call);
  auto url = cti::test::database_url();
  // Started first: it migrates the database the trigger goes on.
  server_process server{{{"EVENT_MAX_ATTEMPTS", "2"}, {"EVENT_POLL_INTERVAL_MS", "200"}}};
  ASSERT_TRUE(server.start()) << server.output();
  struct cleanup {
    std::string url, fn;
    ~cleanup() {
      try {
        cti::test::query_value(url, "DROP TRIGGER IF EXISTS " + fn + " ON calls");
        cti::test::query_value(url, "DROP FUNCTION IF EXISTS " + fn + "()");
      } catch (const std::exception& e) {
        ADD_FAILURE() << "cannot drop the test trigger: " << e.what();
      }
    }
  } dropped{url, fn};
  cti::test::query_value(url, "CREATE FUNCTION " + fn + "() RETURNS trigger LANGUAGE plpgsql AS $$"
                              " BEGIN IF NEW.dialpad_call_id = " + std::to_string(call) +
                              " THEN RAISE EXCEPTION 'test refuses this call'"
                              " USING DETAIL = 'Failing row contains (+15550009999)'; END IF;"
                              " RETURN NEW; END $$");
  cti::test::query_value(url, "CREATE TRIGGER " + fn + " BEFORE INSERT ON calls FOR EACH ROW"
                              " EXECUTE FUNCTION " + fn + "()");

  auto app = cti::test::create_app(url);
  auto r = cti::test::post_signed_event(server.port(), app, seed("call.ring", "failing-1", call));
  ASSERT_EQ(r.status, 200) << r.body;
  auto id = json::parse(r.body)["event_id"].get<std::string>();
  ASSERT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(url, "SELECT state FROM webhook_events WHERE id = $1::uuid",
                                    {id}) == "dead";
    },
    30s));
  // The log lines come right after the commit that recorded them.
  ASSERT_TRUE(cti::test::eventually(
    [&] {
      return server.output().find("the event is dead") != std::string::npos;
    },
    10s));
  auto out = server.output();
  auto retried = out.find("event processing failed; it will be retried");
  auto dead = out.find("event processing failed for the last time: the event is dead");
  ASSERT_NE(retried, std::string::npos) << out;
  ASSERT_NE(dead, std::string::npos) << out;
  EXPECT_LT(retried, dead);
  // Both lines name the event and carry the handler's error.
  for (auto at : {retried, dead}) {
    auto start = out.rfind('\n', at);
    start = start == std::string::npos ? 0 : start + 1;
    auto line = out.substr(start, out.find('\n', at) - start);
    EXPECT_NE(line.find(id), std::string::npos) << line;
    EXPECT_NE(line.find("test refuses this call"), std::string::npos) << line;
  }
  // Only the error's first line: PostgreSQL's DETAIL can quote row values,
  // which stay in last_error, for the internal API.
  EXPECT_EQ(out.find("+15550009999"), std::string::npos) << out;
  EXPECT_NE(cti::test::query_value(url, "SELECT last_error FROM webhook_events WHERE id = $1::uuid",
                                   {id})
              .find("+15550009999"),
            std::string::npos);
}

TEST(processing_rounds, a_backlog_is_taken_in_rounds_that_grow_to_event_batch_max) {
  // A database of its own (no other test's poller takes these events), with
  // 200 events of distinct calls queued before the server starts: one
  // poller, rounds of 4 growing to at most 32 while they come back full.
  auto owner = cti::test::fresh_database("rounds");
  auto env = own_database_env(owner, {});
  auto [mcode, mout] = cti::test::run_binary({"migrate"}, env);
  ASSERT_EQ(mcode, 0) << mout;
  auto app = cti::test::create_app(owner, "rounds");
  ASSERT_EQ(cti::test::query_value(
              owner,
              "WITH n AS (INSERT INTO webhook_events (app_id, dialpad_event_id, event_type,"
              " payload, format)"
              " SELECT $1::uuid, 'round-' || i, 'call.ring', jsonb_build_object('event_type',"
              " 'call.ring', 'dialpad_event_id', 'round-' || i, 'dialpad_call_id', 8800000 + i,"
              " 'direction', 'inbound', 'from', '+15550101010', 'to', '+15550202020'), 'seed'"
              " FROM generate_series(1, 200) AS i RETURNING 1) SELECT count(*) FROM n",
              {app}),
            "200");

  env.insert({{"EVENT_POLLERS", "1"},
              {"EVENT_BATCH_SIZE", "4"},
              {"EVENT_BATCH_MAX", "32"},
              {"EVENT_POLL_INTERVAL_MS", "1000"}});
  server_process server{env};
  ASSERT_TRUE(server.start()) << server.output();
  ASSERT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(owner, "SELECT count(*) FROM webhook_events"
                                           " WHERE state = 'processed'")
             == "200";
    },
    30s));
  // The rows one round marked share its transaction id: the rounds' sizes,
  // in the order they ran. 4 + 8 + 16 + 5 × 32 leaves 12, in 9 rounds; in
  // rounds of 4 it took 50. (A start that had to retry on another port may
  // have run a first round or two in the process it gave up: the sizes
  // start again from 4 then, so the test bounds rather than lists them.)
  auto sizes = cti::test::query_value(owner, "SELECT string_agg(n::text, ',' ORDER BY first)"
                                             " FROM (SELECT count(*) AS n, min(processed_at) AS first"
                                             " FROM webhook_events GROUP BY xmin::text) r");
  EXPECT_EQ(cti::test::query_value(owner, "SELECT max(n) FROM (SELECT count(*) AS n"
                                          " FROM webhook_events GROUP BY xmin::text) r"),
            "32")
    << sizes;
  EXPECT_LE(std::stoi(cti::test::query_value(owner, "SELECT count(DISTINCT xmin::text)"
                                                    " FROM webhook_events")),
            12)
    << sizes;
  EXPECT_EQ(cti::test::query_value(owner, "SELECT count(*) FROM calls"), "200");
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(processing_rounds, an_event_committed_behind_the_claim_position_waits_a_second_not_the_tick) {
  // Rounds woken by new events claim after where the last one stopped
  // (never later than 2 s ago). An event whose commit came later than that
  // after its received_at (a commit stalled in a slow database) lies behind
  // that position: a round from the oldest pending event, at least once a
  // second, finds it. Until the twenty-fifth session only the tick did
  // (EVENT_POLL_INTERVAL_MS, here ten minutes).
  auto owner = cti::test::migrated_database("late_commit");
  auto app = cti::test::create_app(owner, "late commit");
  server_process server{
    own_database_env(owner, {{"EVENT_POLLERS", "1"}, {"EVENT_POLL_INTERVAL_MS", "600000"}})};
  ASSERT_TRUE(server.start()) << server.output();
  auto processed = [&](const std::string& id) { return processed_in(owner, id); };
  // A first event gives the poller a claim position.
  ASSERT_EQ(cti::test::post_signed_event(server.port(), app, seed("call.ring", "late-1", 7100001)).status,
            200);
  ASSERT_TRUE(processed("late-1"));
  // The late one: received 30 s ago, committed now.
  ASSERT_EQ(cti::test::query_value(
              owner,
              "WITH n AS (INSERT INTO webhook_events (app_id, dialpad_event_id, event_type,"
              " payload, format, received_at)"
              " VALUES ($1::uuid, 'late-2', 'call.ring', jsonb_build_object('event_type',"
              " 'call.ring', 'dialpad_event_id', 'late-2', 'dialpad_call_id', 7100002,"
              " 'direction', 'inbound', 'from', '+15550101010', 'to', '+15550202020'), 'seed',"
              " now() - interval '30 seconds') RETURNING 1) SELECT count(*) FROM n",
              {app}),
            "1");
  // A new event wakes the poller, whose round starts from its position.
  ASSERT_EQ(cti::test::post_signed_event(server.port(), app, seed("call.ring", "late-3", 7100003)).status,
            200);
  ASSERT_TRUE(processed("late-3"));
  EXPECT_TRUE(processed("late-2"));
  EXPECT_EQ(cti::test::query_value(owner, "SELECT count(*) FROM calls"), "3");
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(processing_rounds, a_scheduled_round_leaves_fresh_events_to_the_round_woken_for_them) {
  // A poller's round is slow (here: held on a call row an outside
  // transaction has locked). Events that arrive meanwhile are woken to that
  // poller, which applies them after its round, in arrival order. The other
  // poller's scheduled look from the oldest (once a second) must leave them
  // alone: until the twenty-eighth session it took them, applied them
  // beside the slow round and committed first (a lower seq for later
  // events; a black-box audit saw it on a busy machine). The hook makes the
  // scheduled rounds' age 10 s, so the slow round can last longer than the
  // default 1 s that bounds the order otherwise (DECISIONS "Wake-ups").
  auto owner = cti::test::migrated_database("settled_rounds");
  auto app = cti::test::create_app(owner, "settled rounds");
  server_process server{own_database_env(owner, {{"EVENT_POLLERS", "2"},
                                                 {"EVENT_POLL_INTERVAL_MS", "600000"},
                                                 {"CTI_TEST_POLLER_SETTLED_AGE_MS", "10000"}})};
  ASSERT_TRUE(server.start()) << server.output();
  auto post = [&](const std::string& type, const std::string& id, int64_t call) {
    return cti::test::post_signed_event(server.port(), app, seed(type, id, call)).status;
  };
  auto processed = [&](const std::string& id) { return processed_in(owner, id); };
  // Both pollers run rounds (a wake goes to an idle poller in turn), so each
  // has its look from the oldest scheduled within the next second.
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(post("call.ring", "warm-" + std::to_string(i), 7200000 + i), 200);
    ASSERT_TRUE(processed("warm-" + std::to_string(i)));
  }
  pqxx::connection c{owner};
  pqxx::work hold{c};
  hold.exec_params("SELECT 1 FROM calls WHERE app_id = $1::uuid AND dialpad_call_id = 7200000"
                   " FOR UPDATE",
                   app);
  ASSERT_EQ(post("call.started", "held", 7200000), 200);
  ASSERT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(owner, "SELECT count(*) FROM pg_stat_activity"
                                           " WHERE wait_event_type = 'Lock'"
                                           " AND datname = current_database()")
             != "0";
    },
    10s));
  auto blocked_at = std::chrono::steady_clock::now();
  constexpr int later = 5;
  for (int i = 1; i <= later; ++i)
    ASSERT_EQ(post("call.ring", "after-" + std::to_string(i), 7200100 + i), 200);
  // The slow round's length (not a wait for anything): longer than the
  // sibling's scheduled look, which comes within a second.
  std::this_thread::sleep_until(blocked_at + 1500ms);
  EXPECT_EQ(cti::test::query_value(owner, "SELECT count(*) FROM webhook_events WHERE app_id = $1"
                                          " AND dialpad_event_id LIKE 'after-%' AND state = 'processed'",
                                   {app}),
            "0")
    << "events that arrived after the held one were applied while it waited";
  hold.commit();
  for (int i = 1; i <= later; ++i)
    ASSERT_TRUE(processed("after-" + std::to_string(i)));
  ASSERT_TRUE(processed("held"));
  EXPECT_EQ(cti::test::query_value(
              owner,
              "SELECT coalesce(string_agg(dialpad_event_id, ',' ORDER BY seq), '')"
              " FROM webhook_events WHERE app_id = $1 AND dialpad_event_id NOT LIKE 'warm-%'",
              {app}),
            "held,after-1,after-2,after-3,after-4,after-5");
  EXPECT_EQ(server.stop(SIGTERM), 0);
  // A test hook is named at start-up, never honoured silently.
  auto out = server.output();
  auto warned = out.find("a test or benchmark switch is set; it is not for production");
  ASSERT_NE(warned, std::string::npos) << out;
  EXPECT_NE(out.find("CTI_TEST_POLLER_SETTLED_AGE_MS", warned), std::string::npos) << out;
}
