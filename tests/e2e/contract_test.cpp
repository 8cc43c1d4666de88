// The contract's exact shapes through the built binary: the call, voicemail
// and message objects' fields and their order, the list envelope's default
// and bounds, every webhook answer's headers and error body, the key's
// format and its hash's cost, the call context's bound and replacement,
// the active-calls list. The twenty-ninth session's black-box audits found
// each of these behaving as API.md says but asserted by no test.

#include <cstdint>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/api_helpers.hpp"
#include "tests/e2e/server_process.hpp"
#include "tests/e2e/shared_server.hpp"
#include "tests/e2e/webhook_signing.hpp"
#include "tests/integration/test_db.hpp"

using namespace std::chrono_literals;
using cti::test::http_reply;
using cti::test::http_request;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

const std::vector<std::string> call_fields{
  "id", "dialpad_call_id", "direction", "from_number", "to_number", "status",
  "dialpad_user_id", "crm_user_id", "started_at", "answered_at", "ended_at",
  "duration_seconds", "recording_url", "has_voicemail", "crm_context", "created_at",
  "updated_at"};
const std::vector<std::string> voicemail_fields{
  "id", "dialpad_call_id", "from_number", "to_number", "dialpad_user_id", "crm_user_id",
  "recording_url", "transcript", "duration_seconds", "received_at", "is_archived",
  "callback_status", "crm_task_id", "created_at"};
const std::vector<std::string> message_fields{
  "id", "dialpad_message_id", "direction", "from_number", "to_number", "text",
  "dialpad_user_id", "crm_user_id", "sent_at", "created_at"};

const std::string json_type = "application/json; charset=utf-8";

std::vector<std::string> keys_of(const ojson& o) {
  std::vector<std::string> keys;
  if (o.is_object())
    for (const auto& [k, v] : o.items())
      keys.push_back(k);
  return keys;
}

bool is_timestamp(const ojson& v) {
  static const std::regex re{R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)"};
  return v.is_string() && std::regex_match(v.get<std::string>(), re);
}

bool is_uuid(const ojson& v) {
  static const std::regex re{R"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"};
  return v.is_string() && std::regex_match(v.get<std::string>(), re);
}

ojson ordered(const http_reply& r) {
  auto j = ojson::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.status << " " << r.body.substr(0, 300);
  return j;
}

class contract_test : public cti::test::shared_server_test<contract_test> {
public:
  static std::map<std::string, std::string> server_env() {
    return {{"API_KEY_BCRYPT_COST", "4"}};
  }

protected:
  static http_reply internal(const std::string& method, const std::string& target,
                             const std::string& body = {}) {
    return cti::test::internal_call(server->port(), method, target, body);
  }

  static http_reply app_call(const std::string& key, const std::string& method,
                             const std::string& target, const std::string& body = {}) {
    return cti::test::app_call(server->port(), key, method, target, body);
  }

  static http_reply post_event(const std::string& app, const json& event) {
    return cti::test::post_signed_event(server->port(), app, event.dump());
  }

  /// Waits until `app`'s queue is empty (every event processed).
  static bool drained(const std::string& app) {
    return cti::test::queue_drained(server->port(), app, 20s);
  }

  static std::pair<std::string, std::string> new_tenant() {
    auto app = cti::test::create_app_over_http(server->port());
    return {app, cti::test::create_key_over_http(server->port(), app)};
  }
};

json seed(const std::string& type, const std::string& id, int64_t call, const std::string& ts) {
  return {{"event_type", type}, {"event_id", id}, {"call_id", call}, {"direction", "inbound"},
          {"from_number", "+15551234567"}, {"to_number", "+15559876543"},
          {"user_id", 987654}, {"timestamp", ts}};
}

TEST_F(contract_test, objects_carry_exactly_the_contract_fields_in_order) {
  auto [app, key] = new_tenant();
  ASSERT_EQ(internal("POST", "/internal/apps/" + app + "/users/map",
                     R"({"dialpad_user_id":987654,"crm_user_id":"user_abc"})").status,
            200);
  constexpr int64_t big = std::numeric_limits<int64_t>::max();
  ASSERT_EQ(post_event(app, seed("call.ring", "c-1", big, "2026-01-28T10:30:00.123Z")).status, 200);
  ASSERT_EQ(post_event(app, seed("call.started", "c-2", big, "2026-01-28T10:30:05Z")).status, 200);
  auto ended = seed("call.ended", "c-3", big, "2026-01-28T10:30:47Z");
  ended["duration"] = 42;
  ASSERT_EQ(post_event(app, ended).status, 200);
  ASSERT_EQ(post_event(app, {{"event_type", "voicemail.received"}, {"event_id", "vm-1"},
                             {"call_id", 8001}, {"from_number", "+15551230000"},
                             {"to_number", "+15559870000"}, {"user_id", 987654},
                             {"recording_url", "https://x/vm.mp3"}, {"transcript", "call me"},
                             {"duration", 12}, {"timestamp", "2026-01-28T13:00:00Z"}})
              .status,
            200);
  ASSERT_EQ(post_event(app, {{"event_type", "sms.received"}, {"event_id", "sms-1"},
                             {"message_id", 9001}, {"from_number", "+15551230000"},
                             {"to_number", "+15559870000"}, {"text", "hello"},
                             {"direction", "inbound"}, {"user_id", 987654},
                             {"timestamp", "2026-01-28T13:05:00Z"}})
              .status,
            200);
  ASSERT_TRUE(drained(app));

  // The call, by its Dialpad id: 64-bit ids come back exact, as numbers.
  auto got = app_call(key, "GET", "/api/calls/" + std::to_string(big));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.headers["content-type"], json_type);
  EXPECT_NE(got.body.find("\"dialpad_call_id\":9223372036854775807"), std::string::npos) << got.body;
  auto call = ordered(got);
  EXPECT_EQ(keys_of(call), call_fields) << got.body;
  EXPECT_TRUE(is_uuid(call["id"])) << call["id"];
  EXPECT_EQ(call["dialpad_call_id"].get<int64_t>(), big);
  EXPECT_EQ(call["direction"], "inbound");
  EXPECT_EQ(call["from_number"], "+15551234567");
  EXPECT_EQ(call["to_number"], "+15559876543");
  EXPECT_EQ(call["status"], "ended");
  EXPECT_EQ(call["dialpad_user_id"], 987654);
  EXPECT_EQ(call["crm_user_id"], "user_abc");
  EXPECT_EQ(call["started_at"], "2026-01-28T10:30:00.123Z");
  EXPECT_EQ(call["answered_at"], "2026-01-28T10:30:05.000Z");
  EXPECT_EQ(call["ended_at"], "2026-01-28T10:30:47.000Z");
  EXPECT_EQ(call["duration_seconds"], 42);
  EXPECT_TRUE(call["recording_url"].is_null());
  EXPECT_EQ(call["has_voicemail"], false);
  EXPECT_TRUE(call["crm_context"].is_null());
  EXPECT_TRUE(is_timestamp(call["created_at"])) << call["created_at"];
  EXPECT_TRUE(is_timestamp(call["updated_at"])) << call["updated_at"];

  // The same objects in the list (the envelope's keys in their order), in
  // the NDJSON export line for line, and named by the CSV header row.
  auto list_reply = app_call(key, "GET", "/api/calls");
  ASSERT_EQ(list_reply.status, 200);
  auto list = ordered(list_reply);
  EXPECT_EQ(keys_of(list), (std::vector<std::string>{"data", "next_cursor", "has_more"}));
  ASSERT_EQ(list["data"].size(), 2u) << list_reply.body;
  for (const auto& c : list["data"])
    EXPECT_EQ(keys_of(c), call_fields);
  EXPECT_EQ(list["data"][1], call); // started earlier than the voicemail's call
  auto nd = app_call(key, "GET", "/api/calls/export?format=ndjson");
  ASSERT_EQ(nd.status, 200);
  EXPECT_EQ(nd.headers["content-type"].rfind("application/x-ndjson", 0), 0u) << nd.headers["content-type"];
  std::istringstream lines{nd.body};
  std::vector<ojson> exported;
  for (std::string line; std::getline(lines, line);)
    exported.push_back(ojson::parse(line));
  ASSERT_EQ(exported.size(), 2u) << nd.body;
  EXPECT_EQ(exported[0], list["data"][0]);
  EXPECT_EQ(exported[1], list["data"][1]);
  auto csv = app_call(key, "GET", "/api/calls/export");
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(csv.headers["content-type"], "text/csv; charset=utf-8");
  std::string header;
  for (const auto& f : call_fields)
    header += (header.empty() ? "" : ",") + f;
  EXPECT_EQ(csv.body.substr(0, header.size() + 2), header + "\r\n");

  auto vms = app_call(key, "GET", "/api/voicemails");
  ASSERT_EQ(vms.status, 200);
  auto vm = ordered(vms)["data"][0];
  EXPECT_EQ(keys_of(vm), voicemail_fields) << vms.body;
  EXPECT_TRUE(is_uuid(vm["id"]));
  EXPECT_EQ(vm["dialpad_call_id"], 8001);
  EXPECT_EQ(vm["dialpad_user_id"], 987654);
  EXPECT_EQ(vm["crm_user_id"], "user_abc");
  EXPECT_EQ(vm["recording_url"], "https://x/vm.mp3");
  EXPECT_EQ(vm["duration_seconds"], 12);
  EXPECT_EQ(vm["received_at"], "2026-01-28T13:00:00.000Z");
  EXPECT_EQ(vm["is_archived"], false);
  EXPECT_EQ(vm["callback_status"], "pending");
  EXPECT_TRUE(vm["crm_task_id"].is_null());
  EXPECT_TRUE(is_timestamp(vm["created_at"]));
  auto one_vm = app_call(key, "GET", "/api/voicemails/" + vm["id"].get<std::string>());
  ASSERT_EQ(one_vm.status, 200);
  EXPECT_EQ(ordered(one_vm), vm); // a single resource is the object itself

  auto msgs = app_call(key, "GET", "/api/messages");
  ASSERT_EQ(msgs.status, 200);
  auto msg = ordered(msgs)["data"][0];
  EXPECT_EQ(keys_of(msg), message_fields) << msgs.body;
  EXPECT_TRUE(is_uuid(msg["id"]));
  EXPECT_TRUE(msg["dialpad_message_id"].is_number_integer());
  EXPECT_EQ(msg["dialpad_message_id"], 9001);
  EXPECT_EQ(msg["direction"], "inbound");
  EXPECT_EQ(msg["text"], "hello");
  EXPECT_EQ(msg["dialpad_user_id"], 987654);
  EXPECT_EQ(msg["crm_user_id"], "user_abc");
  EXPECT_EQ(msg["sent_at"], "2026-01-28T13:05:00.000Z");
  EXPECT_TRUE(is_timestamp(msg["created_at"]));
}

TEST_F(contract_test, lists_default_to_50_and_take_a_limit_of_1_to_500) {
  auto [app, key] = new_tenant();
  for (int i = 0; i < 55; ++i) {
    char ts[32];
    std::snprintf(ts, sizeof ts, "2026-01-28T10:%02d:00Z", i);
    ASSERT_EQ(post_event(app, seed("call.ring", "r-" + std::to_string(i), 100 + i, ts)).status, 200);
  }
  ASSERT_TRUE(drained(app));

  for (std::string path : {"/api/calls", "/api/calls/active"}) {
    auto first = app_call(key, "GET", path);
    ASSERT_EQ(first.status, 200) << path;
    auto page = ordered(first);
    ASSERT_EQ(page["data"].size(), 50u) << path;
    EXPECT_EQ(page["has_more"], true) << path;
    ASSERT_TRUE(page["next_cursor"].is_string()) << path;
    // Newest first: the call that rang last leads.
    EXPECT_EQ(page["data"][0]["dialpad_call_id"], 154) << path;
    auto rest = ordered(app_call(key, "GET", path + "?cursor=" + page["next_cursor"].get<std::string>()));
    ASSERT_EQ(rest["data"].size(), 5u) << path;
    EXPECT_EQ(rest["has_more"], false) << path;
    EXPECT_TRUE(rest["next_cursor"].is_null()) << path;
    EXPECT_EQ(rest["data"][4]["dialpad_call_id"], 100) << path;

    auto all = ordered(app_call(key, "GET", path + "?limit=500"));
    EXPECT_EQ(all["data"].size(), 55u) << path;
    EXPECT_EQ(all["has_more"], false) << path;
    EXPECT_EQ(ordered(app_call(key, "GET", path + "?limit=1"))["data"].size(), 1u) << path;
  }
  for (std::string path : {"/api/calls", "/api/calls/active", "/api/voicemails", "/api/messages"}) {
    for (std::string bad : {"0", "501", "-1", "1.5", "x"}) {
      auto r = app_call(key, "GET", path + "?limit=" + bad);
      EXPECT_EQ(r.status, 400) << path << " limit=" << bad;
      auto err = ordered(r);
      EXPECT_EQ(keys_of(err), (std::vector<std::string>{"error", "message"})) << r.body;
      EXPECT_EQ(err["error"], "bad_request") << r.body;
      EXPECT_NE(err["message"].get<std::string>().find("limit"), std::string::npos) << r.body;
    }
  }
}

TEST_F(contract_test, webhook_answers_are_json_and_carry_the_request_id) {
  auto [app, key] = new_tenant();
  auto post = [&](const std::string& target, const std::string& body,
                  std::map<std::string, std::string> headers, const std::string& request_id) {
    headers.emplace("X-Request-Id", request_id);
    auto r = http_request(server->port(), "POST", target, headers, body);
    EXPECT_EQ(r.headers["content-type"], json_type) << request_id;
    EXPECT_EQ(r.headers["x-request-id"], request_id);
    return r;
  };
  auto signed_headers = [](const std::string& body) {
    return std::map<std::string, std::string>{
      {"Content-Type", "application/json"},
      {"X-Dialpad-Signature", cti::test::seed_signature(cti::test::e2e_webhook_secret, body)}};
  };
  auto error_of = [](const http_reply& r) {
    auto j = ordered(r);
    EXPECT_EQ(keys_of(j), (std::vector<std::string>{"error", "message"})) << r.body;
    return j["error"];
  };
  const std::string path = "/webhooks/dialpad/" + app;
  auto body = seed("call.ring", "wh-1", 777, "2026-01-28T10:30:00Z").dump();

  auto ok = post(path, body, signed_headers(body), "wh-ok");
  ASSERT_EQ(ok.status, 200) << ok.body;
  auto first = ordered(ok);
  EXPECT_EQ(keys_of(first), (std::vector<std::string>{"received", "event_id", "duplicate"}));
  EXPECT_EQ(first["received"], true);
  EXPECT_TRUE(is_uuid(first["event_id"]));
  EXPECT_EQ(first["duplicate"], false);
  auto again = ordered(post(path, body, signed_headers(body), "wh-again"));
  EXPECT_EQ(again["event_id"], first["event_id"]);
  EXPECT_EQ(again["duplicate"], true);

  auto bad_sig = post(path, body, {{"Content-Type", "application/json"}, {"X-Dialpad-Signature", std::string(64, '0')}},
                      "wh-401");
  EXPECT_EQ(bad_sig.status, 401);
  EXPECT_EQ(error_of(bad_sig), "unauthorized");

  auto unknown = post("/webhooks/dialpad/00000000-0000-4000-8000-000000000000", body, signed_headers(body),
                      "wh-404");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(error_of(unknown), "not_found");

  auto xml = post(path, "<call/>", {{"Content-Type", "application/xml"}}, "wh-415");
  EXPECT_EQ(xml.status, 415);
  EXPECT_EQ(error_of(xml), "unsupported_media_type");

  auto not_json = post(path, "{\"event_type\":", signed_headers("{\"event_type\":"), "wh-400");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(error_of(not_json), "invalid_json");

  // WEBHOOK_MAX_BODY_BYTES defaults to 5 MiB: a signed body of exactly that
  // size is taken, one byte more is 413.
  constexpr std::size_t limit = 5 * 1024 * 1024;
  json pad{{"event_type", "x.padding"}, {"event_id", "pad-1"}, {"pad", ""}};
  auto padded = pad.dump();
  pad["pad"] = std::string(limit - padded.size(), 'a');
  padded = pad.dump();
  ASSERT_EQ(padded.size(), limit);
  auto at_limit = post(path, padded, signed_headers(padded), "wh-5mib");
  EXPECT_EQ(at_limit.status, 200) << at_limit.body;
  pad["event_id"] = "pad-2";
  pad["pad"] = pad["pad"].get<std::string>() + "a";
  padded = pad.dump();
  auto over = post(path, padded, signed_headers(padded), "wh-413");
  EXPECT_EQ(over.status, 413);
  EXPECT_EQ(error_of(over), "payload_too_large");
  // Nothing refused was stored: the two accepted events only.
  EXPECT_EQ(cti::test::query_value(cti::test::database_url(),
                                   "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid", {app}),
            "2");
}

TEST_F(contract_test, keys_are_raw_and_64_lowercase_hex_hashed_at_the_configured_cost) {
  auto [app, key] = new_tenant();
  EXPECT_TRUE(std::regex_match(key, std::regex{"raw_[0-9a-f]{64}"})) << key.size();
  auto hash = cti::test::query_value(cti::test::database_url(),
                                     "SELECT api_key_hash FROM apps WHERE id = $1::uuid", {app});
  // API_KEY_BCRYPT_COST=4 for this suite (the default, 10, is a unit test's).
  EXPECT_EQ(hash.rfind("$2b$04$", 0), 0u);
  EXPECT_EQ(hash.find(key), std::string::npos);
  // The plain key is never shown again.
  for (const auto& target : std::vector<std::string>{
         "/internal/apps/" + app, "/internal/apps?limit=500", "/internal/apps/" + app + "/api-key/status",
         "/internal/apps/" + app + "/api-key/audit"}) {
    auto r = internal("GET", target);
    EXPECT_EQ(r.status, 200) << target;
    EXPECT_EQ(r.body.find(key.substr(4)), std::string::npos) << target;
  }
}

TEST_F(contract_test, call_context_is_replaced_whole_and_bounded_at_16_KiB_compact) {
  auto [app, key] = new_tenant();
  ASSERT_EQ(post_event(app, seed("call.ring", "ctx-1", 4242, "2026-01-28T10:30:00Z")).status, 200);
  ASSERT_TRUE(drained(app));
  const std::string target = "/api/calls/4242";

  auto a = app_call(key, "PATCH", target, R"({"crm_context":{"a":1,"b":2}})");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(keys_of(ordered(a)), call_fields);
  auto b = app_call(key, "PATCH", target, R"({"crm_context":{"c":3}})");
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(json::parse(b.body)["crm_context"], json::parse(R"({"c":3})"));
  EXPECT_EQ(json::parse(app_call(key, "GET", target).body)["crm_context"], json::parse(R"({"c":3})"));

  // 16 KiB of compact JSON: {"k":"…"} is 8 bytes around the text.
  constexpr std::size_t bound = 16 * 1024;
  auto context = [](std::size_t compact_size) {
    return json{{"k", std::string(compact_size - 8, 'x')}};
  };
  ASSERT_EQ(context(bound).dump().size(), bound);
  auto at = app_call(key, "PATCH", target, json{{"crm_context", context(bound)}}.dump());
  EXPECT_EQ(at.status, 200) << at.body.substr(0, 200);
  auto past = app_call(key, "PATCH", target, json{{"crm_context", context(bound + 1)}}.dump());
  EXPECT_EQ(past.status, 413);
  EXPECT_EQ(json::parse(past.body)["error"], "payload_too_large");
  // The bound is on the compact form: blanks around it do not count.
  auto pretty = json{{"crm_context", context(bound)}}.dump(8);
  ASSERT_GT(pretty.size(), bound + 16);
  EXPECT_EQ(app_call(key, "PATCH", target, pretty).status, 200);
  EXPECT_EQ(json::parse(app_call(key, "GET", target).body)["crm_context"], context(bound));

  auto cleared = app_call(key, "PATCH", target, R"({"crm_context":null})");
  ASSERT_EQ(cleared.status, 200);
  EXPECT_TRUE(json::parse(cleared.body)["crm_context"].is_null());
  EXPECT_EQ(app_call(key, "PATCH", "/api/calls/00000000-0000-4000-8000-000000000000",
                     R"({"crm_context":{}})").status,
            404);
  EXPECT_EQ(app_call(key, "PATCH", "/api/calls/4243", R"({"crm_context":{}})").status, 404);
}

TEST_F(contract_test, active_calls_are_the_ringing_active_and_held_ones) {
  auto [app, key] = new_tenant();
  auto at = [](int minute) {
    char ts[32];
    std::snprintf(ts, sizeof ts, "2026-01-28T11:%02d:00Z", minute);
    return std::string{ts};
  };
  // Calls 1..6 ring a minute apart; then 2 is answered, 3 answered and
  // held, 4 ends, 5 is missed, 6 rejected.
  for (int c = 1; c <= 6; ++c)
    ASSERT_EQ(post_event(app, seed("call.ring", "ring-" + std::to_string(c), c, at(c))).status, 200);
  ASSERT_EQ(post_event(app, seed("call.started", "s-2", 2, at(10))).status, 200);
  ASSERT_EQ(post_event(app, seed("call.started", "s-3", 3, at(10))).status, 200);
  ASSERT_EQ(post_event(app, seed("call.held", "h-3", 3, at(11))).status, 200);
  ASSERT_EQ(post_event(app, seed("call.ended", "e-4", 4, at(12))).status, 200);
  ASSERT_EQ(post_event(app, seed("call.missed", "m-5", 5, at(12))).status, 200);
  ASSERT_EQ(post_event(app, seed("call.rejected", "x-6", 6, at(12))).status, 200);
  ASSERT_TRUE(drained(app));

  auto ids = [&](const std::string& target) {
    std::vector<int64_t> out;
    auto r = app_call(key, "GET", target);
    EXPECT_EQ(r.status, 200) << target << " " << r.body;
    auto page = ordered(r);
    for (const auto& c : page["data"])
      out.push_back(c["dialpad_call_id"].get<int64_t>());
    return out;
  };
  EXPECT_EQ(ids("/api/calls/active"), (std::vector<int64_t>{3, 2, 1}));
  EXPECT_EQ(ids("/api/calls"), (std::vector<int64_t>{6, 5, 4, 3, 2, 1}));
  auto page = ordered(app_call(key, "GET", "/api/calls/active?limit=2"));
  EXPECT_EQ(page["data"].size(), 2u);
  EXPECT_EQ(page["has_more"], true);
  ASSERT_TRUE(page["next_cursor"].is_string());
  auto rest = ordered(
    app_call(key, "GET", "/api/calls/active?limit=2&cursor=" + page["next_cursor"].get<std::string>()));
  ASSERT_EQ(rest["data"].size(), 1u);
  EXPECT_EQ(rest["data"][0]["dialpad_call_id"], 1);
  EXPECT_EQ(rest["has_more"], false);
  // Another app sees none of them.
  auto other = new_tenant();
  EXPECT_EQ(ordered(app_call(other.second, "GET", "/api/calls/active"))["data"].size(), 0u);
}

} // namespace

namespace {

TEST_F(contract_test, health_and_metrics_answer_in_the_contracts_order) {
  auto health = http_request(server->port(), "GET", "/health");
  ASSERT_EQ(health.status, 200);
  EXPECT_EQ(health.headers["content-type"], json_type);
  auto h = ordered(health);
  EXPECT_EQ(keys_of(h), (std::vector<std::string>{"status", "timestamp", "checks"})) << health.body;
  EXPECT_EQ(h["status"], "healthy");
  EXPECT_TRUE(is_timestamp(h["timestamp"])) << health.body;
  EXPECT_EQ(h["checks"], ojson::parse(R"({"database":"ok"})"));
  auto root = ordered(http_request(server->port(), "GET", "/"));
  EXPECT_EQ(root, ojson::parse(R"({"message":"CTI Server is running"})"));

  auto metrics = internal("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], json_type);
  auto m = ordered(metrics);
  // API.md's fields first, in its order (figures it does not name follow).
  const std::vector<std::string> named{
    "uptime_seconds", "memory_usage_mb", "active_connections", "total_requests", "error_rate",
    "avg_response_time_ms", "database_connection_pool", "event_processor", "websocket", "node"};
  auto keys = keys_of(m);
  ASSERT_GE(keys.size(), named.size()) << metrics.body;
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + named.size()), named) << metrics.body;
  EXPECT_EQ(keys_of(m["database_connection_pool"]), (std::vector<std::string>{"idle", "active", "waiting"}));
  EXPECT_EQ(keys_of(m["event_processor"]),
            (std::vector<std::string>{"processed_last_minute", "queue_length", "error_count",
                                      "avg_processing_time_ms", "dead"}));
  EXPECT_EQ(keys_of(m["websocket"]),
            (std::vector<std::string>{"connections", "messages_sent", "dropped_slow_consumers"}));
  EXPECT_TRUE(m["node"].is_string());
}

} // namespace

namespace {

/// RFC 4180 records of `text` (CRLF line ends, quoted fields may hold
/// commas, quotes doubled, CR and LF).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      ++i;
    } else {
      field += c;
    }
  }
  EXPECT_TRUE(row.empty() && field.empty() && !quoted) << "the CSV does not end with CRLF";
  return rows;
}

TEST_F(contract_test, csv_rows_are_the_listed_call_objects_field_for_field) {
  auto [app, key] = new_tenant();
  ASSERT_EQ(internal("POST", "/internal/apps/" + app + "/users/map",
                     R"({"dialpad_user_id":987654,"crm_user_id":"agent \"one\", two"})").status,
            200);
  ASSERT_EQ(post_event(app, seed("call.ring", "csv-1", 501, "2026-01-28T09:00:00.250Z")).status, 200);
  ASSERT_EQ(post_event(app, seed("call.started", "csv-2", 501, "2026-01-28T09:00:04Z")).status, 200);
  auto recorded = seed("call.recording.completed", "csv-3", 501, "2026-01-28T09:02:00Z");
  recorded["recording_url"] = "https://x/r.mp3?a=1,2&b=\"q\"";
  ASSERT_EQ(post_event(app, recorded).status, 200);
  auto unmapped = seed("call.ring", "csv-4", 502, "2026-01-28T09:05:00Z");
  unmapped.erase("user_id");
  ASSERT_EQ(post_event(app, unmapped).status, 200);
  ASSERT_TRUE(drained(app));
  ASSERT_EQ(app_call(key, "PATCH", "/api/calls/501", R"({"crm_context":{"deal":"a,b","n":1}})").status, 200);

  auto list = ordered(app_call(key, "GET", "/api/calls"));
  auto csv = app_call(key, "GET", "/api/calls/export");
  ASSERT_EQ(csv.status, 200);
  auto rows = parse_csv(csv.body);
  ASSERT_EQ(rows.size(), 3u) << csv.body;
  EXPECT_EQ(rows[0], call_fields);
  ASSERT_EQ(list["data"].size(), 2u);
  for (std::size_t r = 0; r < 2; ++r) {
    const auto& call = list["data"][r];
    ASSERT_EQ(rows[r + 1].size(), call_fields.size()) << csv.body;
    for (std::size_t f = 0; f < call_fields.size(); ++f) {
      const auto& v = call[call_fields[f]];
      std::string want = v.is_null() ? "" : v.is_string() ? v.get<std::string>() : v.dump();
      EXPECT_EQ(rows[r + 1][f], want) << "row " << r << " " << call_fields[f];
    }
  }
  // The fields this test is about, as they came out.
  EXPECT_EQ(list["data"][1]["crm_user_id"], "agent \"one\", two");
  EXPECT_EQ(list["data"][1]["recording_url"], "https://x/r.mp3?a=1,2&b=\"q\"");
  EXPECT_EQ(list["data"][1]["crm_context"], ojson::parse(R"({"deal":"a,b","n":1})"));
  EXPECT_TRUE(list["data"][0]["dialpad_user_id"].is_null());
}

} // namespace
