// The operator console through the binary: its files, the endpoints it
// uses, the WebSocket view opened with a ticket, and (when Chromium and
// the npm packages of tests/console are installed) the page itself driven
// by a headless browser (tests/console/console.test.mjs).

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/api_helpers.hpp"
#include "tests/e2e/server_process.hpp"
#include "tests/e2e/shared_server.hpp"
#include "tests/e2e/ws_client.hpp"
#include "tests/integration/test_db.hpp"

using namespace std::chrono_literals;
using cti::test::internal_call;
using cti::test::server_process;
using json = nlohmann::json;

namespace {

class console_test : public cti::test::shared_server_test<console_test> {
public:
  static std::map<std::string, std::string> server_env() {
    return {{"API_KEY_BCRYPT_COST", "4"},
            {"DIALPAD_PROD_CLIENT_ID", "console-client"},
            {"DIALPAD_PROD_CLIENT_SECRET", "console-client-secret"},
            {"DIALPAD_PROD_BASE_URL", "http://127.0.0.1:9"},
            {"DIALPAD_PROD_REDIRECT_URI", "http://127.0.0.1:9/callback"}};
  }
};

json body_of(const cti::test::http_reply& r) { return json::parse(r.body, nullptr, false); }

json console_app(uint16_t port, const std::string& app) {
  auto r = internal_call(port, "GET", "/internal/console/apps");
  EXPECT_EQ(r.status, 200) << r.body;
  auto all = body_of(r); // kept: a temporary's member would dangle in the loop
  for (const auto& a : all["data"])
    if (a["id"] == app)
      return a;
  return nullptr;
}

std::string ticket_for(uint16_t port, const std::string& app) {
  auto r = internal_call(port, "POST", "/internal/console/stream-ticket", json{{"app_id", app}}.dump());
  EXPECT_EQ(r.status, 200) << r.body;
  auto j = body_of(r);
  return j.is_object() && j["ticket"].is_string() ? j["ticket"].get<std::string>() : std::string{};
}

std::string ring(int64_t call_id) {
  return json{{"event_type", "call.ring"}, {"event_id", "console-ring-" + std::to_string(call_id)},
              {"call_id", call_id}, {"direction", "inbound"}, {"from_number", "+15550001111"},
              {"to_number", "+15550002222"}, {"timestamp", "2026-01-28T10:00:00Z"}}
    .dump();
}

/// The next frame of type `type` within `deadline` (other frames skipped).
json next_frame(cti::test::ws_client& ws, const std::string& type, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    auto f = ws.read(std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now()));
    if (!f)
      return nullptr;
    auto j = json::parse(*f, nullptr, false);
    if (j.is_object() && j["type"] == type)
      return j;
  }
  return nullptr;
}

} // namespace

TEST_F(console_test, the_page_and_its_files_are_served_without_credentials_with_a_strict_policy) {
  auto page = cti::test::http_request(port(), "GET", "/console");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>CTI Server console</title>"), std::string::npos);
  const auto& csp = page.headers["content-security-policy"];
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(page.headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(page.headers["x-frame-options"], "DENY");

  auto js = cti::test::http_request(port(), "GET", "/console/console.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.headers["content-type"], "text/javascript; charset=utf-8");
  EXPECT_NE(js.body.find("sessionStorage"), std::string::npos);
  // No secret, no data and nothing from elsewhere in what anyone may fetch.
  EXPECT_EQ(js.body.find("e2e-internal-secret"), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);

  auto css = cti::test::http_request(port(), "GET", "/console/console.css");
  ASSERT_EQ(css.status, 200);
  EXPECT_EQ(css.headers["content-type"], "text/css; charset=utf-8");

  EXPECT_EQ(cti::test::http_request(port(), "GET", "/console/nope.js").status, 404);
  EXPECT_EQ(cti::test::http_request(port(), "GET", "/console/..%2Fconsole.js").status, 404);
  EXPECT_EQ(cti::test::http_request(port(), "POST", "/console").status, 405);
}

TEST_F(console_test, the_apps_list_shows_key_dialpad_and_queue_state_to_the_bearer_only) {
  EXPECT_EQ(cti::test::http_request(port(), "GET", "/internal/console/apps").status, 401);
  EXPECT_EQ(cti::test::http_request(port(), "GET", "/internal/console/apps",
                                    {{"Authorization", "Bearer wrong"}})
              .status,
            401);
  auto app = cti::test::create_app_over_http(port(), "console-apps");
  auto a = console_app(port(), app);
  ASSERT_TRUE(a.is_object());
  EXPECT_EQ(a["name"], "console-apps");
  EXPECT_EQ(a["is_active"], true);
  EXPECT_EQ(a["api_key"]["has_key"], false);
  EXPECT_TRUE(a["api_key"]["key_hint"].is_null());
  EXPECT_TRUE(a["dialpad"].is_null());
  EXPECT_EQ(a["events"], (json{{"last_seq", 0}, {"pending", 0}, {"failed", 0}, {"dead", 0}}));

  auto key = cti::test::create_key_over_http(port(), app);
  auto rotated = body_of(internal_call(port(), "POST", "/internal/apps/" + app + "/api-key"));
  // Org ids are unique across apps: one no earlier run of this test used.
  const int64_t org = 700'000'000 + std::random_device{}() % 100'000'000;
  ASSERT_EQ(internal_call(port(), "PUT", "/internal/apps/" + app + "/dialpad",
                          json{{"dialpad_org_id", org}, {"environment", "sandbox"}}.dump())
              .status,
            200);
  ASSERT_EQ(cti::test::post_signed_event(port(), app, ring(8'100'001)).status, 200);
  const auto db = cti::test::database_url();
  // One dead event, made so directly: the console counts what the table holds.
  cti::test::query_value(db,
                         "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload,"
                         " format, state, attempts, last_error) VALUES ($1::uuid, 'console-dead',"
                         " 'call.held', '{}', 'seed', 'dead', 8, 'boom') RETURNING 1",
                         {app});
  ASSERT_TRUE(cti::test::eventually(
    [&] { return console_app(port(), app)["events"]["last_seq"] == 1; }, 10s, 50ms));
  a = console_app(port(), app);
  EXPECT_EQ(a["api_key"]["has_key"], true);
  EXPECT_EQ(a["api_key"]["key_hint"], rotated["key_hint"]);
  EXPECT_TRUE(a["api_key"]["rotated_at"].is_string());
  EXPECT_EQ(a["dialpad"], (json{{"status", "registered"}, {"environment", "sandbox"},
                                {"dialpad_org_id", org}}));
  EXPECT_EQ(a["events"]["dead"], 1);
  EXPECT_EQ(a["events"]["pending"], 0);
  // At most 1000 apps, and a flag when there are more.
  auto all = body_of(internal_call(port(), "GET", "/internal/console/apps"));
  auto total = std::stoll(cti::test::query_value(db, "SELECT count(*) FROM apps"));
  EXPECT_EQ(all["data"].size(), static_cast<std::size_t>(std::min<long long>(total, 1000)));
  EXPECT_EQ(all["truncated"], total > 1000);
  // Never a secret: no key hash, no sealed value, not the key itself.
  auto raw = internal_call(port(), "GET", "/internal/console/apps").body;
  EXPECT_EQ(raw.find(key), std::string::npos);
  EXPECT_EQ(raw.find(rotated["api_key"].get<std::string>()), std::string::npos);
  EXPECT_EQ(raw.find("$2"), std::string::npos); // a bcrypt hash
  EXPECT_EQ(raw.find("sealed"), std::string::npos);
}

TEST_F(console_test, a_stream_ticket_needs_the_bearer_and_an_existing_app) {
  auto app = cti::test::create_app_over_http(port(), "console-ticket");
  EXPECT_EQ(cti::test::http_request(port(), "POST", "/internal/console/stream-ticket",
                                    {{"Content-Type", "application/json"}},
                                    json{{"app_id", app}}.dump())
              .status,
            401);
  EXPECT_EQ(internal_call(port(), "POST", "/internal/console/stream-ticket", "{}").status, 400);
  EXPECT_EQ(internal_call(port(), "POST", "/internal/console/stream-ticket",
                          json{{"app_id", "not-a-uuid"}}.dump())
              .status,
            400);
  EXPECT_EQ(internal_call(port(), "POST", "/internal/console/stream-ticket", "{not json").status, 400);
  EXPECT_EQ(internal_call(port(), "POST", "/internal/console/stream-ticket",
                          json{{"app_id", "00000000-0000-4000-8000-000000000000"}}.dump())
              .status,
            404);
  auto r = internal_call(port(), "POST", "/internal/console/stream-ticket", json{{"app_id", app}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["cache-control"], "no-store");
  auto j = body_of(r);
  EXPECT_EQ(j["app_id"], app);
  EXPECT_TRUE(j["expires_at"].is_string());
  auto ticket = j["ticket"].get<std::string>();
  EXPECT_EQ(ticket.find("e2e-internal-secret"), std::string::npos);
}

TEST_F(console_test, the_stream_view_needs_a_valid_ticket_and_outlives_a_key_rotation) {
  auto app = cti::test::create_app_over_http(port(), "console-stream");
  auto key = cti::test::create_key_over_http(port(), app);
  {
    cti::test::ws_client none{port(), "/internal/console/stream"};
    EXPECT_FALSE(none.open());
    EXPECT_EQ(none.status(), 401);
  }
  auto ticket = ticket_for(port(), app);
  {
    auto forged = ticket;
    forged[forged.size() - 1] = forged.back() == '0' ? '1' : '0';
    cti::test::ws_client bad{port(), "/internal/console/stream?ticket=" + forged};
    EXPECT_FALSE(bad.open());
    EXPECT_EQ(bad.status(), 401);
    // The internal secret itself is not a ticket.
    cti::test::ws_client secret{port(), "/internal/console/stream?ticket=e2e-internal-secret-0123456789"};
    EXPECT_EQ(secret.status(), 401);
  }
  cti::test::ws_client view{port(), "/internal/console/stream?ticket=" + ticket};
  ASSERT_TRUE(view.open()) << view.status() << " " << view.refusal_body();
  cti::test::ws_client client{port(), "/ws?api_key=" + key};
  ASSERT_TRUE(client.open());
  auto welcome = next_frame(view, "welcome", 5s);
  ASSERT_TRUE(welcome.is_object());
  EXPECT_EQ(welcome["app_id"], app);
  ASSERT_TRUE(next_frame(client, "welcome", 5s).is_object());

  ASSERT_EQ(cti::test::post_signed_event(port(), app, ring(8'200'001)).status, 200);
  auto ev = next_frame(view, "event", 10s);
  ASSERT_TRUE(ev.is_object());
  EXPECT_EQ(ev["call_id"], 8'200'001);
  EXPECT_EQ(ev["status"], "ringing");
  EXPECT_EQ(ev["seq"], 1);
  ASSERT_TRUE(next_frame(client, "event", 10s).is_object());

  // Rotating the key closes the sessions opened with it, not the console's.
  ASSERT_EQ(internal_call(port(), "POST", "/internal/apps/" + app + "/api-key").status, 201);
  EXPECT_FALSE(next_frame(client, "event", 5s).is_object());
  EXPECT_EQ(client.close_code(), std::optional<uint16_t>{1008});
  ASSERT_EQ(cti::test::post_signed_event(port(), app, ring(8'200'002)).status, 200);
  ev = next_frame(view, "event", 10s);
  ASSERT_TRUE(ev.is_object());
  EXPECT_EQ(ev["call_id"], 8'200'002);
  EXPECT_EQ(ev["seq"], 2);
}

TEST(console_stream, a_view_closes_after_its_maximum_age_and_wrong_tickets_are_braked) {
  server_process server{{{"API_KEY_BCRYPT_COST", "4"},
                         {"CTI_TEST_CONSOLE_VIEW_MAX_MS", "700"},
                         {"AUTH_FAILURES_PER_MINUTE", "3"}}};
  ASSERT_TRUE(server.start()) << server.output();
  auto app = cti::test::create_app_over_http(server.port(), "console-max-age");
  auto key = cti::test::create_key_over_http(server.port(), app);
  auto view_ptr = std::make_unique<cti::test::ws_client>(
    server.port(), "/internal/console/stream?ticket=" + ticket_for(server.port(), app));
  auto& view = *view_ptr;
  ASSERT_TRUE(view.open());
  // (Gone before the server stops: a client that does not read would hold
  // the shutdown's close handshake.)
  auto client_ptr = std::make_unique<cti::test::ws_client>(server.port(), "/ws?api_key=" + key);
  auto& client = *client_ptr;
  ASSERT_TRUE(client.open());
  ASSERT_TRUE(next_frame(view, "welcome", 5s).is_object());
  ASSERT_TRUE(next_frame(client, "welcome", 5s).is_object());
  // The view goes by itself (a leaked ticket gives no lasting access)...
  EXPECT_FALSE(next_frame(view, "event", 10s).is_object());
  EXPECT_EQ(view.close_code(), std::optional<uint16_t>{1000});
  EXPECT_NE(view.close_reason().find("expired"), std::string::npos) << view.close_reason();
  // ... an app's own session does not.
  EXPECT_FALSE(client.close_code().has_value());
  ASSERT_EQ(cti::test::post_signed_event(server.port(), app, ring(8'400'001)).status, 200);
  EXPECT_TRUE(next_frame(client, "event", 10s).is_object());

  // Wrong tickets count as wrong credentials: past the limit, 429; a valid
  // ticket still opens its view.
  auto valid = ticket_for(server.port(), app);
  for (int i = 0; i < 3; ++i) {
    cti::test::ws_client bad{server.port(), "/internal/console/stream?ticket=ct1.x." + std::to_string(i)};
    EXPECT_EQ(bad.status(), 401);
  }
  cti::test::ws_client braked{server.port(), "/internal/console/stream?ticket=ct1.x.3"};
  EXPECT_EQ(braked.status(), 429);
  auto still_ptr = std::make_unique<cti::test::ws_client>(
    server.port(), "/internal/console/stream?ticket=" + valid);
  EXPECT_TRUE(still_ptr->open());
  EXPECT_TRUE(next_frame(*still_ptr, "welcome", 5s).is_object());
  still_ptr.reset();
  client_ptr.reset();
  view_ptr.reset();
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.output();
}

TEST_F(console_test, connect_dialpad_can_answer_the_authorize_address_instead_of_redirecting) {
  auto app = cti::test::create_app_over_http(port(), "console-oauth");
  auto plain = internal_call(port(), "GET", "/auth/dialpad/connect?app_id=" + app);
  EXPECT_EQ(plain.status, 302);
  EXPECT_EQ(plain.headers["location"].rfind("http://127.0.0.1:9/oauth2/authorize?", 0), 0u)
    << plain.headers["location"];
  auto r = internal_call(port(), "GET", "/auth/dialpad/connect?app_id=" + app + "&redirect=false");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.count("location"), 0u);
  auto location = body_of(r)["location"].get<std::string>();
  EXPECT_EQ(location.rfind("http://127.0.0.1:9/oauth2/authorize?", 0), 0u) << location;
  EXPECT_NE(location.find("code_challenge_method=S256"), std::string::npos);
}

// The page in a real browser: tests/console/console.test.mjs drives it with
// playwright-core and Debian's chromium. Skipped (with the reason) where
// either is missing; scripts/test.sh installs both.
TEST(console_browser, sign_in_apps_rotate_live_stream_and_replay_in_chromium) {
  const char* dir = std::getenv("CTI_TEST_CONSOLE_DIR");
  const char* chromium = std::getenv("CTI_TEST_CHROMIUM");
  if (dir == nullptr || chromium == nullptr)
    GTEST_SKIP() << "chromium or tests/console/node_modules missing (scripts/test.sh installs them)";
  // Prepared by test.sh: whatever is missing now is a failure, not a skip.
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path{dir} / "node_modules" / "playwright-core"))
    << dir;
  ASSERT_TRUE(std::filesystem::exists(chromium)) << chromium;
  server_process server{{{"API_KEY_BCRYPT_COST", "4"},
                         // Short-lived views: the page must reopen them unnoticed.
                         {"CTI_TEST_CONSOLE_VIEW_MAX_MS", "3000"},
                         {"DIALPAD_PROD_CLIENT_ID", "console-client"},
                         {"DIALPAD_PROD_CLIENT_SECRET", "console-client-secret"},
                         {"DIALPAD_PROD_BASE_URL", "http://127.0.0.1:9"},
                         {"DIALPAD_PROD_REDIRECT_URI", "http://127.0.0.1:9/callback"}}};
  ASSERT_TRUE(server.start()) << server.output();
  auto app = cti::test::create_app_over_http(server.port(), "Browser Test Co");
  auto key = cti::test::create_key_over_http(server.port(), app);
  // A dead event to replay: a delivered ring, processed, then marked dead
  // (as if every attempt had failed).
  ASSERT_EQ(cti::test::post_signed_event(server.port(), app, ring(8'300'001)).status, 200);
  const auto db = cti::test::database_url();
  std::string dead;
  ASSERT_TRUE(cti::test::eventually(
    [&] {
      dead = cti::test::query_value(db,
                                    "UPDATE webhook_events SET state = 'dead', attempts = 8,"
                                    " processed_at = NULL, outcome = NULL,"
                                    " last_error = 'handler failed: injected by the console test'"
                                    " WHERE app_id = $1::uuid AND state = 'processed' RETURNING id",
                                    {app});
      return !dead.empty();
    },
    10s, 50ms));
  auto screens = std::string{std::getenv("CTI_TEST_SCREENSHOTS") ? std::getenv("CTI_TEST_SCREENSHOTS")
                                                                : "console-screens"};
  std::filesystem::create_directories(screens);
  std::string cmd = "env CONSOLE_URL=http://127.0.0.1:" + std::to_string(server.port())
                    + " INTERNAL_SECRET=e2e-internal-secret-0123456789"
                    + " WEBHOOK_SECRET=" + cti::test::e2e_webhook_secret + " APP_ID=" + app
                    + " APP_NAME='Browser Test Co' OLD_KEY=" + key + " DEAD_EVENT_ID=" + dead
                    + " CHROMIUM='" + chromium + "' SCREENSHOTS='" + screens + "'"
                    + " node '" + dir + "/console.test.mjs' 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  while (auto n = fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  int rc = pclose(p);
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << out;
  std::cout << out;
  // What the browser did, seen from the database.
  EXPECT_EQ(cti::test::query_value(db, "SELECT state FROM webhook_events WHERE id = $1::uuid", {dead}),
            "processed");
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.output();
}
