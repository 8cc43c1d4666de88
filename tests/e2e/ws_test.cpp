// The WebSocket push through the built binary, with a real client: auth
// before the upgrade, welcome, contiguous seq, filters, ping, limits,
// closing on key rotation and app disable, isolation between apps.

#include <csignal>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/server_process.hpp"
#include "tests/e2e/webhook_signing.hpp"
#include "tests/e2e/ws_client.hpp"
#include "tests/integration/test_db.hpp"

using namespace std::chrono_literals;
using cti::test::http_reply;
using cti::test::http_request;
using cti::test::server_process;
using cti::test::ws_client;
using json = nlohmann::json;

namespace {

const std::string secret = "e2e-webhook-secret";
const std::string bearer = "Bearer e2e-internal-secret-0123456789";

class ws_test : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    server = new server_process{{{"API_KEY_BCRYPT_COST", "4"}, {"WS_MAX_QUEUED_MESSAGES", "64"}}};
    ASSERT_TRUE(server->start()) << server->output();
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server->stop(SIGTERM), 0) << server->output();
    delete server;
    server = nullptr;
  }

  static http_reply internal(const std::string& method, const std::string& target,
                             const std::string& body = {}) {
    std::map<std::string, std::string> h{{"Authorization", bearer}};
    if (!body.empty())
      h.emplace("Content-Type", "application/json");
    return http_request(server->port(), method, target, h, body);
  }

  static std::string new_app() {
    auto r = internal("POST", "/internal/apps", R"({"name":"ws"})");
    return json::parse(r.body)["id"].get<std::string>();
  }

  static std::string new_key(const std::string& app) {
    auto r = internal("POST", "/internal/apps/" + app + "/api-key");
    return json::parse(r.body)["api_key"].get<std::string>();
  }

  static int post(const std::string& app, const json& event) {
    auto body = event.dump();
    return http_request(server->port(), "POST", "/webhooks/dialpad/" + app,
                        {{"Content-Type", "application/json"},
                         {"X-Dialpad-Signature", cti::test::seed_signature(secret, body)}},
                        body)
      .status;
  }

  static std::unique_ptr<ws_client> connect(const std::string& query,
                                            std::map<std::string, std::string> headers = {}) {
    return std::make_unique<ws_client>(server->port(), "/ws" + query, headers);
  }

  /// The next frame as JSON (fails the test after 5 s).
  static json next(ws_client& c) {
    auto f = c.read(5s);
    EXPECT_TRUE(f.has_value()) << "no frame; close code "
                               << (c.close_code() ? std::to_string(*c.close_code()) : "none");
    return f ? json::parse(*f) : json();
  }

  static server_process* server;
};

server_process* ws_test::server = nullptr;

json ring(const std::string& id, int64_t call, int64_t user) {
  return {{"event_type", "call.ring"}, {"event_id", id}, {"call_id", call},
          {"direction", "inbound"}, {"from_number", "+15550001000"},
          {"to_number", "+15550002000"}, {"user_id", user},
          {"timestamp", "2026-01-28T10:00:00Z"}};
}

json step(const std::string& type, const std::string& id, int64_t call, const std::string& ts) {
  return {{"event_type", type}, {"event_id", id}, {"call_id", call}, {"timestamp", ts}};
}

TEST_F(ws_test, keys_are_checked_before_the_upgrade) {
  auto app = new_app();
  auto key = new_key(app);
  auto none = connect("");
  EXPECT_FALSE(none->open());
  EXPECT_EQ(none->status(), 401);
  auto wrong = connect("?api_key=raw_" + std::string(64, 'a'));
  EXPECT_EQ(wrong->status(), 401);
  auto bad_filter = connect("?api_key=" + key + "&since=-1");
  EXPECT_EQ(bad_filter->status(), 400);
  ASSERT_EQ(internal("PATCH", "/internal/apps/" + app, R"({"is_active":false})").status, 200);
  auto disabled = connect("?api_key=" + key);
  EXPECT_EQ(disabled->status(), 403);
  ASSERT_EQ(internal("PATCH", "/internal/apps/" + app, R"({"is_active":true})").status, 200);
  // The header works as well as the query parameter.
  auto by_header = connect("", {{"x-app-api-key", key}});
  EXPECT_TRUE(by_header->open());
  // A plain GET (no upgrade) is a 400.
  EXPECT_EQ(http_request(server->port(), "GET", "/ws?api_key=" + key).status, 400);
}

TEST_F(ws_test, welcome_then_events_in_contiguous_seq_order) {
  auto app = new_app();
  auto key = new_key(app);
  auto c = connect("?api_key=" + key);
  ASSERT_TRUE(c->open()) << c->status();
  auto welcome = next(*c);
  EXPECT_EQ(welcome["type"], "welcome");
  EXPECT_EQ(welcome["app_id"], app);
  EXPECT_EQ(welcome["node"], "e2e-node");
  EXPECT_EQ(welcome["seq"], 0);
  ASSERT_EQ(internal("POST", "/internal/apps/" + app + "/users/map",
                     R"({"dialpad_user_id":77,"crm_user_id":"agent_77"})").status, 200);

  // 40 calls × ring, started, ended: 120 events, several per call.
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(post(app, ring("r-" + std::to_string(i), 1000 + i, 77)), 200);
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(post(app, step("call.started", "s-" + std::to_string(i), 1000 + i, "2026-01-28T10:00:05Z")), 200);
  for (int i = 0; i < 40; ++i)
    ASSERT_EQ(post(app, step("call.ended", "e-" + std::to_string(i), 1000 + i, "2026-01-28T10:01:00Z")), 200);
  std::map<int64_t, std::vector<std::string>> per_call;
  for (int64_t seq = 1; seq <= 120; ++seq) {
    auto f = next(*c);
    ASSERT_EQ(f["type"], "event") << f.dump();
    ASSERT_EQ(f["seq"], seq) << f.dump();
    per_call[f["call_id"].get<int64_t>()].push_back(f["event"].get<std::string>());
    EXPECT_EQ(f["target_crm_user"], "agent_77");
    EXPECT_EQ(f["user_id"], 77);
    EXPECT_TRUE(f["call"].is_object());
    EXPECT_EQ(f["call"]["dialpad_call_id"], f["call_id"]);
    EXPECT_TRUE(f["timestamp"].is_string());
  }
  ASSERT_EQ(per_call.size(), 40u);
  for (const auto& [call, events] : per_call)
    EXPECT_EQ(events, (std::vector<std::string>{"call.ring", "call.started", "call.ended"})) << call;

  // A new connection starts after the last seq.
  auto c2 = connect("?api_key=" + key);
  EXPECT_EQ(next(*c2)["seq"], 120);
}

TEST_F(ws_test, ping_filters_and_isolation) {
  auto a = new_app();
  auto b = new_app();
  auto ka = new_key(a);
  auto kb = new_key(b);
  ASSERT_EQ(internal("POST", "/internal/apps/" + a + "/users/map",
                     R"({"dialpad_user_id":1,"crm_user_id":"alice"})").status, 200);
  ASSERT_EQ(internal("POST", "/internal/apps/" + a + "/users/map",
                     R"({"dialpad_user_id":2,"crm_user_id":"bob"})").status, 200);
  auto all = connect("?api_key=" + ka);
  auto rings = connect("?api_key=" + ka + "&events=call.r*");
  auto alice = connect("?api_key=" + ka + "&crm_user_id=alice");
  auto other = connect("?api_key=" + kb);
  for (auto* c : {all.get(), rings.get(), alice.get(), other.get()})
    ASSERT_EQ(next(*c)["type"], "welcome");

  ASSERT_TRUE(all->send(R"({"type":"ping"})"));
  EXPECT_EQ(next(*all), json({{"type", "pong"}}));

  ASSERT_EQ(post(a, ring("f-1", 501, 1)), 200);                                     // alice's
  ASSERT_EQ(post(a, ring("f-2", 502, 2)), 200);                                     // bob's
  ASSERT_EQ(post(a, ring("f-3", 503, 3)), 200);                                     // nobody's (unmapped)
  ASSERT_EQ(post(a, step("call.started", "f-4", 501, "2026-01-28T10:00:09Z")), 200); // alice's
  ASSERT_EQ(post(b, ring("f-b", 501, 1)), 200);                                     // app B

  for (int i = 1; i <= 4; ++i)
    EXPECT_EQ(next(*all)["seq"], i);
  // events=call.r*: the three rings only.
  EXPECT_EQ(next(*rings)["call_id"], 501);
  EXPECT_EQ(next(*rings)["call_id"], 502);
  EXPECT_EQ(next(*rings)["call_id"], 503);
  // crm_user_id=alice: alice's and the untargeted one, not bob's.
  EXPECT_EQ(next(*alice)["call_id"], 501);
  EXPECT_EQ(next(*alice)["call_id"], 503);
  auto fourth = next(*alice);
  EXPECT_EQ(fourth["call_id"], 501);
  EXPECT_EQ(fourth["event"], "call.started");
  // App B's client got exactly B's event, with B's own seq.
  auto fb = next(*other);
  EXPECT_EQ(fb["seq"], 1);
  EXPECT_EQ(fb["call"]["dialpad_call_id"], 501);
  // The filtered clients saw nothing else: a ping is answered next.
  ASSERT_TRUE(rings->send(R"({"type":"ping"})"));
  EXPECT_EQ(next(*rings)["type"], "pong");
  ASSERT_TRUE(other->send(R"({"type":"ping"})"));
  EXPECT_EQ(next(*other)["type"], "pong");

  auto stats = json::parse(internal("GET", "/internal/monitoring/websocket/stats").body);
  EXPECT_EQ(stats["node"], "e2e-node");
  EXPECT_EQ(stats["apps"][a], 3);
  EXPECT_EQ(stats["apps"][b], 1);
  EXPECT_GE(stats["total"].get<int>(), 4);
  auto metrics = json::parse(internal("GET", "/metrics").body);
  EXPECT_GE(metrics["websocket"]["connections"].get<int>(), 4);
  EXPECT_GE(metrics["websocket"]["messages_sent"].get<int>(), 12);
}

TEST_F(ws_test, bad_client_frames_close_with_their_codes) {
  auto key = new_key(new_app());
  auto unknown = connect("?api_key=" + key);
  ASSERT_EQ(next(*unknown)["type"], "welcome");
  ASSERT_TRUE(unknown->send(R"({"type":"subscribe"})"));
  EXPECT_FALSE(unknown->read(5s));
  EXPECT_EQ(unknown->close_code(), 1008);

  auto not_json = connect("?api_key=" + key);
  ASSERT_EQ(next(*not_json)["type"], "welcome");
  ASSERT_TRUE(not_json->send("hello"));
  EXPECT_FALSE(not_json->read(5s));
  EXPECT_EQ(not_json->close_code(), 1008);

  auto big = connect("?api_key=" + key);
  ASSERT_EQ(next(*big)["type"], "welcome");
  ASSERT_TRUE(big->send(R"({"type":"ping","pad":")" + std::string(70 * 1024, 'x') + "\"}"));
  EXPECT_FALSE(big->read(5s));
  EXPECT_EQ(big->close_code(), 1009);

  auto utf8 = connect("?api_key=" + key);
  ASSERT_EQ(next(*utf8)["type"], "welcome");
  ASSERT_TRUE(utf8->send("{\"type\":\"ping\",\"x\":\"\xff\xfe\"}"));
  EXPECT_FALSE(utf8->read(5s));
  EXPECT_EQ(utf8->close_code(), 1007);
}

TEST_F(ws_test, key_rotation_and_disabling_close_sessions) {
  auto app = new_app();
  auto key = new_key(app);
  auto c = connect("?api_key=" + key);
  ASSERT_EQ(next(*c)["type"], "welcome");
  ASSERT_EQ(internal("POST", "/internal/apps/" + app + "/api-key").status, 201);
  EXPECT_FALSE(c->read(5s));
  EXPECT_EQ(c->close_code(), 1008);
  EXPECT_EQ(c->close_reason(), "key revoked");

  auto fresh = new_key(app); // rotate again: a key we know
  auto d = connect("?api_key=" + fresh);
  ASSERT_EQ(next(*d)["type"], "welcome");
  ASSERT_EQ(internal("PATCH", "/internal/apps/" + app, R"({"is_active":false})").status, 200);
  EXPECT_FALSE(d->read(5s));
  EXPECT_EQ(d->close_code(), 1008);
  EXPECT_EQ(d->close_reason(), "app disabled");
}

} // namespace
