// Data management through the binary: right to be forgotten (erase),
// retention (settings and the job, with time injected into the rows), and
// the activity audit log.

#include <csignal>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/api_helpers.hpp"
#include "tests/e2e/server_process.hpp"
#include "tests/e2e/shared_server.hpp"
#include "tests/fixture_files.hpp"
#include "tests/integration/test_db.hpp"

namespace cti::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class data_test : public cti::test::shared_server_test<data_test> {
public:
  static std::map<std::string, std::string> server_env() {
    return {{"RETENTION_INTERVAL_SECONDS", "0"}};
  }

protected:
  static std::string count(const std::string& sql, const std::vector<std::string>& params) {
    return query_value(database_url(), sql, params);
  }

  /// POST …/erase of `number` for `app`; the answer's counts (an empty
  /// object, and a failure, when it is not a 200).
  static json erase(const std::string& app, const std::string& number) {
    auto r = internal_call(port(), "POST", "/internal/apps/" + app + "/erase",
                           json{{"phone_number", number}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    auto j = json::parse(r.body, nullptr, false);
    return r.status == 200 && j.is_object() ? j : json::object();
  }

  /// A seed call.ring for `app` from `from`, processed before returning.
  static void ring(const std::string& app, int64_t call_id, const std::string& from,
                   const std::string& caller = "Pat Doe") {
    json ev = {{"event_type", "call.ring"},
               {"dialpad_event_id", "evt_" + std::to_string(call_id) + "_ring"},
               {"dialpad_call_id", call_id},
               {"direction", "inbound"},
               {"from", from},
               {"to", "+14155550123"},
               {"caller_name", caller},
               {"timestamp", "2026-01-28T10:30:00Z"}};
    auto r = post_signed_event(port(), app, ev.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  static bool all_processed(const std::string& app, int n) {
    return eventually([&] {
      return count("SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                   " AND state = 'processed'", {app}) == std::to_string(n);
    }, 10s);
  }

};

TEST_F(data_test, erase_deletes_the_numbers_records_and_redacts_the_payloads_of_that_app_only) {
  auto app = create_app_over_http(port(), "erase-a");
  auto other = create_app_over_http(port(), "erase-b");
  const std::string number = "+17025550143";
  ring(app, 8800001, number);
  ring(app, 8800002, "+14155550999", "Lee Roe");
  auto vm = json::parse(fixture_text("15-seed-voicemail.received.json"));
  vm["from"] = "+1 702-555-0143";
  vm["caller_name"] = "Pat Doe";
  vm["transcript"] = "Hi, this is Pat Doe, call me at 702 555 0143.";
  vm["dialpad_call_id"] = 8800003;
  ASSERT_EQ(post_signed_event(port(), app, vm.dump()).status, 200);
  ring(other, 8800001, number);
  ASSERT_TRUE(all_processed(app, 3));
  ASSERT_TRUE(all_processed(other, 1));
  query_value(database_url(),
              "INSERT INTO messages (app_id, dialpad_message_id, direction, from_number, to_number,"
              " text, sent_at) VALUES ($1::uuid, 1, 'inbound', $2, '+14155550123', 'hi', now()),"
              " ($1::uuid, 2, 'inbound', '+14155550999', '+14155550123', 'hello', now()) RETURNING 1",
              {app, number});

  auto r = internal_call(port(), "POST", "/internal/apps/" + app + "/erase",
                         R"({"phone_number": "+1 (702) 555-0143"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto counts = json::parse(r.body, nullptr, false);
  EXPECT_GE(counts["calls"].get<int>(), 1) << counts;
  EXPECT_EQ(counts["voicemails"], 1) << counts;
  EXPECT_EQ(counts["messages"], 1) << counts;
  EXPECT_EQ(counts["webhook_events_redacted"], 2) << counts;

  // The raw rows: nothing of the number (or its caller's name) is left in the app.
  EXPECT_EQ(count("SELECT count(*) FROM calls WHERE app_id = $1::uuid AND (from_number = $2"
                  " OR to_number = $2)", {app, number}), "0");
  EXPECT_EQ(count("SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid AND"
                  " (regexp_replace(payload::text, '[^0-9]', '', 'g') LIKE '%7025550143%'"
                  " OR payload::text LIKE '%Pat Doe%')", {app}), "0");
  EXPECT_EQ(count("SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                  " AND redacted_at IS NOT NULL", {app}), "2");
  // What was pushed for those events (kept for WebSocket replays) is gone
  // too; the other caller's is kept.
  EXPECT_EQ(count("SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid AND"
                  " (regexp_replace(published::text, '[^0-9]', '', 'g') LIKE '%7025550143%'"
                  " OR published::text LIKE '%Pat Doe%')", {app}), "0");
  EXPECT_EQ(count("SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                  " AND published IS NOT NULL", {app}), "1");
  EXPECT_EQ(count("SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                  " AND published::text LIKE '%7025550143%'", {other}), "1");
  EXPECT_EQ(count("SELECT count(*) FROM messages WHERE app_id = $1::uuid", {app}), "1");
  // The other caller and the other app keep everything.
  EXPECT_EQ(count("SELECT count(*) FROM calls WHERE app_id = $1::uuid AND from_number ="
                  " '+14155550999'", {app}), "1");
  EXPECT_EQ(count("SELECT count(*) FROM calls WHERE app_id = $1::uuid AND from_number = $2",
                  {other, number}), "1");
  EXPECT_EQ(count("SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                  " AND payload::text LIKE '%7025550143%'", {other}), "1");

  // The audit trail has the erase, with counts and without the number.
  auto audit = internal_call(port(), "GET", "/internal/audit?app_id=" + app);
  ASSERT_EQ(audit.status, 200) << audit.body;
  auto page = json::parse(audit.body, nullptr, false);
  ASSERT_TRUE(page["data"].is_array());
  bool found = false;
  for (const auto& e : page["data"])
    if (e["action"] == "erase") {
      found = true;
      EXPECT_EQ(e["actor"], "internal");
      EXPECT_EQ(e["app_id"], app);
      EXPECT_EQ(e["details"]["voicemails"], 1);
      EXPECT_FALSE(e["request_id"].is_null());
    }
  EXPECT_TRUE(found) << audit.body;
  EXPECT_EQ(audit.body.find("7025550143"), std::string::npos);

  // Bad input.
  EXPECT_EQ(internal_call(port(), "POST", "/internal/apps/" + app + "/erase",
                          R"({"phone_number": "call me"})").status, 400);
  EXPECT_EQ(internal_call(port(), "POST", "/internal/apps/" + app + "/erase", "{}").status, 400);
  EXPECT_EQ(internal_call(port(), "POST",
                          "/internal/apps/00000000-0000-4000-8000-000000000000/erase",
                          R"({"phone_number": "+17025550143"})").status, 404);
  EXPECT_EQ(http_request(port(), "POST", "/internal/apps/" + app + "/erase",
                         {{"Content-Type", "application/json"}},
                         R"({"phone_number": "+17025550143"})").status, 401);
}

TEST_F(data_test, erase_reads_a_number_without_country_code_as_e164) {
  auto app = create_app_over_http(port(), "erase-national");
  ring(app, 8810001, "+17025550199");
  ASSERT_TRUE(all_processed(app, 1));
  auto r = erase(app, "702-555-0199");
  EXPECT_EQ(r["calls"], 1) << r;
  EXPECT_EQ(r["webhook_events_redacted"], 1) << r;
  EXPECT_EQ(count("SELECT count(*) FROM calls WHERE app_id = $1::uuid", {app}), "0");
}

TEST_F(data_test, erase_deletes_a_record_that_stores_the_number_in_its_national_form) {
  // A call stored as 7025550177 (the event wrote 702.555.0177) and one of
  // +7025550177 (another country's number). Erasing +1 702 555 0177
  // deletes the first and redacts its payload, and leaves the second.
  auto app = create_app_over_http(port(), "erase-spellings");
  ring(app, 8820001, "702.555.0177");
  ring(app, 8820002, "+7025550177");
  ASSERT_TRUE(all_processed(app, 2));
  ASSERT_EQ(count("SELECT count(*) FROM calls WHERE app_id = $1::uuid AND from_number = '7025550177'",
                  {app}),
            "1");
  auto r = erase(app, "+17025550177");
  EXPECT_EQ(r["calls"], 1) << r;
  EXPECT_EQ(r["webhook_events_redacted"], 1) << r;
  EXPECT_EQ(count("SELECT string_agg(dialpad_call_id::text, ',') FROM calls WHERE app_id = $1::uuid",
                  {app}),
            "8820002");
  // Not for another country: erasing +52 55 1234 5678 leaves the call of
  // (551) 234-5678, a North American number stored as 5512345678.
  ring(app, 8820003, "551-234-5678");
  ASSERT_TRUE(all_processed(app, 3));
  auto mx = erase(app, "+525512345678");
  EXPECT_EQ(mx["calls"], 0) << mx;
  EXPECT_EQ(mx["webhook_events_redacted"], 0) << mx;
  EXPECT_EQ(count("SELECT count(*) FROM calls WHERE app_id = $1::uuid AND dialpad_call_id = 8820003",
                  {app}),
            "1");
}

TEST_F(data_test, erase_redacts_a_kept_message_that_writes_the_number) {
  // An SMS from another number, to two recipients (the number second: only
  // the first is a column), whose text writes the number. The message is
  // not "with that number" and is kept, but neither its text nor its
  // stored copy of the event keeps the number.
  auto app = create_app_over_http(port(), "erase-message-text");
  json sms = {{"event_type", "sms.sent"},
              {"dialpad_event_id", "evt_sms_erase_1"},
              {"message_id", 8830001},
              {"direction", "outbound"},
              {"from_number", "+14155550123"},
              {"to_number", {"+14155550999", "+17025550166"}},
              {"text", "call 702-555-0166 please"},
              {"timestamp", "2026-01-28T10:30:00Z"}};
  ASSERT_EQ(post_signed_event(port(), app, sms.dump()).status, 200);
  ASSERT_TRUE(all_processed(app, 1));
  auto r = erase(app, "+17025550166");
  EXPECT_EQ(r["messages"], 0) << r;
  EXPECT_EQ(count("SELECT text FROM messages WHERE app_id = $1::uuid", {app}), "call [redacted] please");
  EXPECT_EQ(count("SELECT count(*) FROM messages WHERE app_id = $1::uuid AND"
                  " regexp_replace(raw_payload::text, '[^0-9]', '', 'g') LIKE '%7025550166%'",
                  {app}),
            "0");
}

TEST_F(data_test, erase_redacts_a_kept_voicemail_and_call_that_write_the_number) {
  // A voicemail left from another number whose transcript gives the number,
  // and a call between two other numbers whose event carries it in a note:
  // both are kept (not "with that number"), neither keeps the number.
  auto app = create_app_over_http(port(), "erase-kept-records");
  json vm = {{"event_type", "voicemail.received"},
             {"dialpad_event_id", "evt_vm_erase_1"},
             {"dialpad_call_id", 8840001},
             {"direction", "inbound"},
             {"from", "+14155550999"},
             {"to", "+14155550123"},
             {"transcript", "Please call me back at 312-555-0177. Thanks."},
             {"timestamp", "2026-01-28T10:30:00Z"}};
  json call = {{"event_type", "call.ring"},
               {"dialpad_event_id", "evt_call_erase_note"},
               {"dialpad_call_id", 8840002},
               {"direction", "inbound"},
               {"from", "+14155550998"},
               {"to", "+14155550123"},
               {"note", "transferred from +1 312 555 0177"},
               {"timestamp", "2026-01-28T10:31:00Z"}};
  ASSERT_EQ(post_signed_event(port(), app, vm.dump()).status, 200);
  ASSERT_EQ(post_signed_event(port(), app, call.dump()).status, 200);
  ASSERT_TRUE(all_processed(app, 2));
  auto holding = [&](const char* sql) { return count(sql, {app}); };
  ASSERT_EQ(holding("SELECT count(*) FROM calls WHERE app_id = $1::uuid AND"
                    " regexp_replace(raw_payload::text, '[^0-9]', '', 'g') LIKE '%3125550177%'"),
            "2"); // the stored copies of both events (the voicemail's call too) have it
  auto r = erase(app, "+13125550177");
  EXPECT_EQ(r["calls"], 0) << r;
  EXPECT_EQ(r["voicemails"], 0) << r;
  EXPECT_EQ(holding("SELECT transcript FROM voicemails WHERE app_id = $1::uuid"),
            "Please call me back at [redacted]. Thanks.");
  EXPECT_EQ(holding("SELECT count(*) FROM calls WHERE app_id = $1::uuid AND"
                    " regexp_replace(raw_payload::text, '[^0-9]', '', 'g') LIKE '%3125550177%'"),
            "0");
  EXPECT_EQ(holding("SELECT count(*) FROM calls WHERE app_id = $1::uuid"), "2");
  auto listed = internal_call(port(), "GET", "/internal/apps/" + app + "/voicemails");
  EXPECT_EQ(listed.body.find("555-0177"), std::string::npos) << listed.body;
}

TEST_F(data_test, retention_settings_are_validated_and_stored) {
  auto app = create_app_over_http(port(), "retention-settings");
  auto get = internal_call(port(), "GET", "/internal/apps/" + app + "/retention");
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(json::parse(get.body),
            json::parse(R"({"calls_days":365,"voicemails_archive_days":90,"messages_days":365,
                            "webhook_events_days":30})"));
  auto put = internal_call(port(), "PUT", "/internal/apps/" + app + "/retention",
                           R"({"calls_days": 30, "webhook_events_days": 7})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(json::parse(put.body),
            json::parse(R"({"calls_days":30,"voicemails_archive_days":90,"messages_days":365,
                            "webhook_events_days":7})"));
  for (const char* bad : {R"({"calls_days": 0})", R"({"calls_days": -1})", R"({"calls_days": "30"})",
                          R"({"messages_days": 1.5})", R"({})", R"({"calls_days": 100000})"}) {
    auto r = internal_call(port(), "PUT", "/internal/apps/" + app + "/retention", bad);
    EXPECT_EQ(r.status, 400) << bad << " " << r.body;
  }
  EXPECT_EQ(json::parse(internal_call(port(), "GET", "/internal/apps/" + app + "/retention").body)
              ["calls_days"], 30);
}

TEST_F(data_test, the_retention_job_removes_what_is_past_its_window_and_nothing_else) {
  auto app = create_app_over_http(port(), "retention-job");
  ASSERT_EQ(internal_call(port(), "PUT", "/internal/apps/" + app + "/retention",
                          R"({"calls_days": 30, "voicemails_archive_days": 5,
                              "messages_days": 10, "webhook_events_days": 7})").status, 200);
  ring(app, 8900001, "+15550000001");
  ring(app, 8900002, "+15550000002");
  auto vm = json::parse(fixture_text("15-seed-voicemail.received.json"));
  vm["dialpad_call_id"] = 8900003;
  ASSERT_EQ(post_signed_event(port(), app, vm.dump()).status, 200);
  ASSERT_TRUE(all_processed(app, 3));
  // Time, injected: one call past the window, one just inside it; old events.
  query_value(database_url(), "UPDATE calls SET started_at = now() - interval '31 days'"
              " WHERE app_id = $1::uuid AND dialpad_call_id = 8900001 RETURNING 1", {app});
  query_value(database_url(), "UPDATE calls SET started_at = now() - interval '29 days'"
              " WHERE app_id = $1::uuid AND dialpad_call_id = 8900002 RETURNING 1", {app});
  query_value(database_url(), "UPDATE calls SET started_at = now() - interval '1 day'"
              " WHERE app_id = $1::uuid AND dialpad_call_id = 8900003 RETURNING 1", {app});
  query_value(database_url(), "UPDATE voicemails SET received_at = now() - interval '6 days'"
              " WHERE app_id = $1::uuid RETURNING 1", {app});
  query_value(database_url(), "UPDATE webhook_events SET processed_at = now() - interval '8 days'"
              " WHERE app_id = $1::uuid AND dialpad_event_id LIKE 'evt_89000%_ring' RETURNING 1",
              {app});
  // Old but pending (its next attempt far away) and dead events are never removed.
  query_value(database_url(),
              "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format,"
              " received_at, next_attempt_at) VALUES ($1::uuid, 'old-pending', 'call.ring', '{}',"
              " 'seed', now() - interval '90 days', now() + interval '1 day'),"
              " ($1::uuid, 'old-dead', 'call.ring', '{}', 'seed', now() - interval '90 days',"
              " now() + interval '1 day') RETURNING 1", {app});
  query_value(database_url(), "UPDATE webhook_events SET state = 'dead', attempts = 8"
              " WHERE app_id = $1::uuid AND dialpad_event_id = 'old-dead' RETURNING 1", {app});
  query_value(database_url(),
              "INSERT INTO messages (app_id, dialpad_message_id, sent_at) VALUES"
              " ($1::uuid, 1, now() - interval '11 days'), ($1::uuid, 2, now() - interval '9 days')"
              " RETURNING 1", {app});

  // The voicemail's event, received nine and a half days ago (processed
  // now, so it stays): the frame kept for replays shows its call, and goes
  // a day before the oldest records may (messages_days 10).
  ASSERT_EQ(query_value(database_url(),
                        "UPDATE webhook_events SET received_at = now() - interval '9 days 12 hours'"
                        " WHERE app_id = $1::uuid AND dialpad_event_id = 'evt_5748039452590080_vm'"
                        " AND published IS NOT NULL RETURNING 1", {app}), "1");

  // A client's list, answered (and cached for API_RESPONSE_CACHE_MS) before the run.
  auto key = create_key_over_http(port(), app);
  auto list = [&] {
    auto r = http_request(port(), "GET", "/api/calls?limit=10", {{"x-app-api-key", key}});
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false)["data"].size();
  };
  EXPECT_EQ(list(), 3u);

  auto run = internal_call(port(), "POST", "/internal/retention/run");
  ASSERT_EQ(run.status, 200) << run.body;
  auto totals = json::parse(run.body, nullptr, false);
  EXPECT_GE(totals["calls"].get<int>(), 1) << totals;
  // Right after the run the list no longer shows the removed call (the
  // cached answer went with it).
  EXPECT_EQ(list(), 2u);

  EXPECT_EQ(count("SELECT count(*) FROM calls WHERE app_id = $1::uuid"
                  " AND dialpad_call_id = 8900001", {app}), "0");
  EXPECT_EQ(count("SELECT count(*) FROM calls WHERE app_id = $1::uuid"
                  " AND dialpad_call_id = 8900002", {app}), "1");
  EXPECT_EQ(count("SELECT count(*) FROM voicemails WHERE app_id = $1::uuid AND is_archived",
                  {app}), "1");
  EXPECT_EQ(count("SELECT string_agg(dialpad_message_id::text, ',') FROM messages"
                  " WHERE app_id = $1::uuid", {app}), "2");
  EXPECT_EQ(count("SELECT string_agg(dialpad_event_id, ',' ORDER BY dialpad_event_id)"
                  " FROM webhook_events WHERE app_id = $1::uuid", {app}),
            "evt_5748039452590080_vm,old-dead,old-pending");
  EXPECT_EQ(count("SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                  " AND published IS NOT NULL", {app}), "0");
  // Recorded as the system's doing, with the counts.
  auto audit = json::parse(internal_call(port(), "GET", "/internal/audit?app_id=" + app).body);
  bool found = false;
  for (const auto& e : audit["data"])
    if (e["action"] == "retention.applied") {
      found = true;
      EXPECT_EQ(e["actor"], "system");
      EXPECT_EQ(e["details"]["calls"], 1);
      EXPECT_EQ(e["details"]["webhook_events"], 2);
      EXPECT_EQ(e["details"]["messages"], 1);
      EXPECT_EQ(e["details"]["voicemails_archived"], 1);
    }
  EXPECT_TRUE(found) << audit;

  // Again: nothing more to do for this app.
  auto calls_left = count("SELECT count(*) FROM calls WHERE app_id = $1::uuid", {app});
  ASSERT_EQ(internal_call(port(), "POST", "/internal/retention/run").status, 200);
  EXPECT_EQ(count("SELECT count(*) FROM calls WHERE app_id = $1::uuid", {app}), calls_left);
}

TEST_F(data_test, retention_leaves_the_end_of_the_event_stream_never_one_with_holes) {
  // Six applied events, seq 1 to 6, whose processing times are not in seq
  // order (rounds take their numbers in commit order; a replay's copy keeps
  // its time): 1, 2, 4 and 5 past the window, 3 and 6 inside it. Removing
  // 4 and 5 would leave a hole that a replay `since=2` or a gap fill would
  // cross without a word: they stay until 3 goes.
  auto app = create_app_over_http(port(), "retention-stream");
  ASSERT_EQ(internal_call(port(), "PUT", "/internal/apps/" + app + "/retention",
                          R"({"webhook_events_days": 7})").status, 200);
  for (int i = 1; i <= 6; ++i) {
    ring(app, 8950000 + i, "+1555000100" + std::to_string(i));
    ASSERT_TRUE(all_processed(app, i));
  }
  ASSERT_EQ(count("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM webhook_events"
                  " WHERE app_id = $1::uuid", {app}), "1,2,3,4,5,6");
  query_value(database_url(), "UPDATE webhook_events SET processed_at = now() - interval '8 days'"
              " WHERE app_id = $1::uuid AND seq IN (1, 2, 4, 5) RETURNING 1", {app});
  // An old event that changed nothing (no seq) goes whatever the stream.
  query_value(database_url(),
              "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format,"
              " received_at, state, outcome, attempts, processed_at) VALUES ($1::uuid, 'old-unchanged',"
              " 'call.ring', '{}', 'seed', now() - interval '9 days', 'processed', 'unchanged', 1,"
              " now() - interval '9 days') RETURNING 1", {app});
  auto seqs = [&] {
    return count("SELECT coalesce(string_agg(coalesce(seq::text, dialpad_event_id), ','"
                 " ORDER BY seq NULLS LAST), '') FROM webhook_events WHERE app_id = $1::uuid", {app});
  };
  ASSERT_EQ(internal_call(port(), "POST", "/internal/retention/run").status, 200);
  EXPECT_EQ(seqs(), "3,4,5,6");
  // Once 3 is past the window too, 3, 4 and 5 go.
  query_value(database_url(), "UPDATE webhook_events SET processed_at = now() - interval '8 days'"
              " WHERE app_id = $1::uuid AND seq = 3 RETURNING 1", {app});
  ASSERT_EQ(internal_call(port(), "POST", "/internal/retention/run").status, 200);
  EXPECT_EQ(seqs(), "6");
  EXPECT_EQ(count("SELECT string_agg(details->>'webhook_events', ',' ORDER BY created_at)"
                  " FROM activity_audit_log WHERE app_id = $1::uuid AND action = 'retention.applied'",
                  {app}),
            "3,3");
}

TEST_F(data_test, the_audit_log_pages_and_refuses_changes) {
  auto app = create_app_over_http(port(), "audit");
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(internal_call(port(), "PATCH", "/internal/apps/" + app,
                            json{{"name", "audit " + std::to_string(i)}}.dump()).status, 200);
  auto first = internal_call(port(), "GET", "/internal/audit?limit=2&app_id=" + app);
  ASSERT_EQ(first.status, 200) << first.body;
  auto p1 = json::parse(first.body);
  ASSERT_EQ(p1["data"].size(), 2u);
  EXPECT_EQ(p1["has_more"], true);
  EXPECT_EQ(p1["data"][0]["action"], "app.updated");
  EXPECT_EQ(p1["data"][0]["details"]["name"], "audit 2");
  auto second = internal_call(port(), "GET", "/internal/audit?limit=2&app_id=" + app + "&cursor="
                                               + p1["next_cursor"].get<std::string>());
  auto p2 = json::parse(second.body);
  ASSERT_EQ(p2["data"].size(), 2u); // audit 0 and app.created
  EXPECT_EQ(p2["data"][1]["action"], "app.created");
  EXPECT_EQ(p2["has_more"], false);
  // A cursor is bound to its filter; a bad app id is 400; the whole log answers too.
  EXPECT_EQ(internal_call(port(), "GET", "/internal/audit?cursor="
                                           + p1["next_cursor"].get<std::string>()).status, 400);
  EXPECT_EQ(internal_call(port(), "GET", "/internal/audit?app_id=nope").status, 400);
  EXPECT_EQ(internal_call(port(), "GET", "/internal/audit?limit=1").status, 200);
  EXPECT_EQ(http_request(port(), "GET", "/internal/audit").status, 401);

  // Append-only, enforced by the database.
  EXPECT_ANY_THROW(query_value(database_url(), "UPDATE activity_audit_log SET action = 'x'"
                               " WHERE app_id = $1::uuid RETURNING 1", {app}));
  EXPECT_ANY_THROW(query_value(database_url(), "DELETE FROM activity_audit_log"
                               " WHERE app_id = $1::uuid RETURNING 1", {app}));
  EXPECT_EQ(count("SELECT count(*) FROM activity_audit_log WHERE app_id = $1::uuid", {app}), "4");
}

TEST_F(data_test, key_changes_and_replays_are_in_the_activity_log_with_their_request_id) {
  auto app = create_app_over_http(port(), "audited");
  auto first_key = create_key_over_http(port(), app);
  auto second_key = create_key_over_http(port(), app);
  ASSERT_EQ(internal_call(port(), "POST", "/internal/apps/" + app + "/api-key/revoke").status, 200);
  ring(app, 8700001, "+15550003333");
  ASSERT_TRUE(all_processed(app, 1));
  auto event = count("SELECT id FROM webhook_events WHERE app_id = $1::uuid", {app});
  auto replay = internal_call(port(), "POST", "/internal/events/" + event + "/replay", {},
                              {{"X-Request-Id", "replay-req-1"}});
  ASSERT_EQ(replay.status, 202) << replay.body;
  auto page = json::parse(internal_call(port(), "GET", "/internal/audit?app_id=" + app).body);
  std::vector<std::string> actions;
  for (const auto& e : page["data"])
    actions.push_back(e["action"]);
  EXPECT_EQ(actions, (std::vector<std::string>{"event.replayed", "api_key.revoked", "api_key.rotated",
                                               "api_key.created", "app.created"}))
    << page;
  EXPECT_EQ(page["data"][0]["request_id"], "replay-req-1");
  EXPECT_EQ(page["data"][0]["details"]["event_id"], event);
  EXPECT_EQ(page["data"][1]["details"]["old_key_hint"], page["data"][2]["details"]["new_key_hint"]);
  EXPECT_EQ(page.dump().find(first_key), std::string::npos);
  EXPECT_EQ(page.dump().find(second_key), std::string::npos);
}

TEST(retention_timer, runs_on_its_own_and_works_through_every_batch) {
  // Every second, in batches of two rows: five old messages take three
  // batches of one run, recorded once with the run's total.
  server_process s{{{"RETENTION_INTERVAL_SECONDS", "1"}, {"RETENTION_BATCH_SIZE", "2"}}};
  ASSERT_TRUE(s.start()) << s.output();
  auto app = create_app_over_http(s.port(), "retention-timer");
  query_value(database_url(),
              "INSERT INTO messages (app_id, dialpad_message_id, sent_at)"
              " SELECT $1::uuid, n, now() - interval '400 days' FROM generate_series(1, 5) n"
              " UNION ALL SELECT $1::uuid, 6, now() RETURNING 1", {app});
  EXPECT_TRUE(eventually([&] {
    return query_value(database_url(), "SELECT count(*) FROM messages WHERE app_id = $1::uuid",
                       {app}) == "1";
  }, 15s)) << "the periodic job did not remove the old messages";
  EXPECT_EQ(query_value(database_url(), "SELECT dialpad_message_id FROM messages"
                                        " WHERE app_id = $1::uuid", {app}), "6");
  EXPECT_EQ(query_value(database_url(),
                        "SELECT string_agg(details->>'messages', ',') FROM activity_audit_log"
                        " WHERE app_id = $1::uuid AND action = 'retention.applied'", {app}),
            "5");
  EXPECT_EQ(s.stop(SIGTERM), 0) << s.output();
}

TEST_F(data_test, erase_redacts_every_one_of_many_events_that_write_the_number) {
  // More events than one write-back statement takes (250): each is redacted.
  auto app = create_app_over_http(port(), "erase-many");
  query_value(database_url(),
              "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format,"
              " state, attempts, last_error) SELECT $1::uuid, 'many-' || g, 'call.ring',"
              " jsonb_build_object('event_type', 'call.ring', 'dialpad_call_id', 7700000 + g,"
              " 'from', CASE WHEN g % 2 = 0 THEN '+1 (702) 555-0143' ELSE '702.555.0143' END,"
              " 'to', '+14155550123', 'note', 'line ' || g),"
              " 'seed', 'dead', 8, 'test' FROM generate_series(1, 601) g RETURNING 1",
              {app});
  // Digits of the number spread over fields are no writing of it.
  query_value(database_url(),
              "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format,"
              " state, attempts, last_error) VALUES ($1::uuid, 'spread', 'call.ring',"
              " '{\"a\": \"70255\", \"b\": \"50143\"}', 'seed', 'dead', 8, 'test') RETURNING 1",
              {app});
  auto counts = erase(app, "+17025550143");
  EXPECT_EQ(counts["webhook_events_redacted"], 601) << counts;
  EXPECT_EQ(count("SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                  " AND redacted_at IS NOT NULL", {app}), "601");
  EXPECT_EQ(count("SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                  " AND payload->>'from' <> '[redacted]' AND dialpad_event_id LIKE 'many-%'", {app}),
            "0");
  // The rest of each payload is kept.
  EXPECT_EQ(count("SELECT payload->>'note' FROM webhook_events WHERE app_id = $1::uuid"
                  " AND dialpad_event_id = 'many-601'", {app}), "line 601");
  EXPECT_EQ(count("SELECT payload->>'a' FROM webhook_events WHERE app_id = $1::uuid"
                  " AND dialpad_event_id = 'spread'", {app}), "70255");
}

} // namespace
} // namespace cti::test
