// The bad-input catalogue (label `hostile`): hostile requests, each sent as
// raw bytes to the built binary with the answer it must get. After the whole
// table the server is healthy and the database holds exactly what it held
// before (every row here is refused or only reads).

#include <csignal>
#include <cstdio>
#include <functional>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/api_helpers.hpp"
#include "tests/e2e/server_process.hpp"
#include "tests/e2e/shared_server.hpp"
#include "tests/e2e/webhook_signing.hpp"
#include "tests/integration/test_db.hpp"

using namespace std::chrono_literals;
using cti::test::http_reply;
using cti::test::server_process;
using json = nlohmann::json;

namespace {

const std::string& secret = cti::test::e2e_webhook_secret;
const std::string& bearer = cti::test::e2e_bearer;

/// One request of the table: the bytes on the wire, the status they must
/// get, and the error code of the body when it is an error.
struct hostile_case {
  std::string name;
  std::string wire;
  int status;
  std::string error; ///< Expected `error` code; empty: not checked (or 2xx).
};

/// An HTTP/1.1 request with Host, Connection: close and a Content-Length
/// when there is a body; `headers` are raw "Name: value" lines.
std::string request(const std::string& method, const std::string& target,
                    const std::vector<std::string>& headers = {}, const std::string& body = {}) {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : headers)
    r += h + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

/// Counts of every table the requests could touch, and the newest audit ids.
std::string database_state(const std::string& db) {
  return cti::test::query_value(
    db,
    "SELECT concat_ws(',',"
    " (SELECT count(*) FROM apps), (SELECT max(updated_at) FROM apps),"
    " (SELECT count(*) FROM calls), (SELECT max(updated_at) FROM calls),"
    " (SELECT count(*) FROM voicemails), (SELECT count(*) FROM messages),"
    " (SELECT count(*) FROM webhook_events), (SELECT max(received_at) FROM webhook_events),"
    " (SELECT count(*) FROM dialpad_user_mappings), (SELECT count(*) FROM dialpad_connections),"
    " (SELECT count(*) FROM api_key_audit_log), (SELECT count(*) FROM activity_audit_log),"
    " (SELECT count(*) FROM oauth_states))");
}

class hostile_test : public cti::test::shared_server_test<hostile_test> {
public:
  static std::map<std::string, std::string> server_env() {
    return {{"API_KEY_BCRYPT_COST", "4"}};
  }

protected:
};

/// A chunk's size line: `text`'s length in hex.
static std::string hex_size(const std::string& text) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", text.size());
  return buf;
}

TEST_F(hostile_test, the_catalogue_of_bad_requests_gets_its_answers_and_changes_nothing) {
  // Two tenants, each with a call; a's key drives the app API.
  auto a = cti::test::create_app_over_http(port(), "hostile-a");
  auto b = cti::test::create_app_over_http(port(), "hostile-b");
  auto key = cti::test::create_key_over_http(port(), a);
  auto ring = [](const std::string& id, int64_t call) {
    return json{{"event_type", "call.ring"}, {"event_id", id}, {"call_id", call},
                {"direction", "inbound"}, {"from_number", "+15550001000"},
                {"to_number", "+15550002000"}, {"timestamp", "2026-01-28T10:00:00Z"}}
      .dump();
  };
  ASSERT_EQ(cti::test::post_signed_event(port(), a, ring("h-a", 7001)).status, 200);
  ASSERT_EQ(cti::test::post_signed_event(port(), b, ring("h-b", 7002)).status, 200);
  const auto db = cti::test::database_url();
  ASSERT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(db, "SELECT count(*) FROM calls WHERE dialpad_call_id IN"
                                        " (7001, 7002) AND app_id IN ($1::uuid, $2::uuid)",
                                    {a, b})
             == "2";
    },
    10s, 20ms));
  auto b_call = cti::test::query_value(db, "SELECT id FROM calls WHERE app_id = $1::uuid", {b});
  const auto before = database_state(db);

  const std::string auth = "Authorization: " + bearer;
  const std::string app_key = "x-app-api-key: " + key;
  const std::string json_type = "Content-Type: application/json";
  auto signed_webhook = [&](const std::string& body, const std::string& content_type =
                                                         "application/json") {
    return request("POST", "/webhooks/dialpad/" + a,
                   {"Content-Type: " + content_type,
                    "X-Dialpad-Signature: " + cti::test::seed_signature(secret, body)},
                   body);
  };
  auto jwt_webhook = [&](const std::string& token) {
    return request("POST", "/webhooks/dialpad/" + a, {"Content-Type: application/jwt"}, token);
  };
  auto map_user = [&](const std::string& body) {
    return request("POST", "/internal/apps/" + a + "/users/map", {auth, json_type}, body);
  };
  auto calls_query = [&](const std::string& query) {
    return request("GET", "/api/calls?" + query, {app_key});
  };
  const std::string event = ring("h-new", 7003);
  const std::string header_b64 = cti::test::b64url(R"({"alg":"HS256","typ":"JWT"})");
  const std::string payload_b64 = cti::test::b64url(event);

  const std::vector<hostile_case> table{
    // -- malformed HTTP --------------------------------------------------------
    {"garbage request line", "GARBAGE\r\n\r\n", 400, "bad_request"},
    {"request line without a version", "GET /\r\n\r\n", 400, "bad_request"},
    {"unknown HTTP version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "bad_request"},
    {"header line without a colon", "GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400,
     "bad_request"},
    {"space before the header colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "bad_request"},
    {"NUL byte in a header value",
     std::string("GET / HTTP/1.1\r\nHost: x\r\nX-A: a") + '\0' + "b\r\n\r\n", 400, "bad_request"},
    {"control bytes in the target", "GET /\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"},
    {"non-numeric Content-Length",
     "POST /internal/apps HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n", 400, "bad_request"},
    {"negative Content-Length",
     "POST /internal/apps HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400, "bad_request"},
    {"two different Content-Lengths",
     "POST /internal/apps HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
     400, "bad_request"},
    {"bad chunk size",
     "POST /internal/apps HTTP/1.1\r\nHost: x\r\n" + auth
       + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
     400, "bad_request"},
    {"chunked in HTTP/1.0 (no such coding there)",
     "POST /internal/apps HTTP/1.0\r\nHost: x\r\n" + auth
       + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
         "c\r\n{\"name\":\"t\"}\r\n0\r\n\r\n",
     400, "bad_request"},
    {"two Host headers", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "bad_request"},
    // A chunked body's trailer is no header: no credential comes from it.
    {"the internal bearer in a trailer",
     "POST /internal/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     "Transfer-Encoding: chunked\r\n\r\nc\r\n{\"name\":\"t\"}\r\n0\r\n" + auth + "\r\n\r\n",
     401, "unauthorized"},
    {"an app key in a trailer",
     "GET /api/calls HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + app_key
       + "\r\n\r\n",
     401, "unauthorized"},
    {"a webhook signature in a trailer",
     "POST /webhooks/dialpad/" + a + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     "Transfer-Encoding: chunked\r\n\r\n" + hex_size(event) + "\r\n" + event + "\r\n0\r\n"
     "X-Dialpad-Signature: " + cti::test::seed_signature(secret, event) + "\r\n\r\n",
     401, "unauthorized"},
    // Beast files a trailer field next to a header of the same name: the
    // header section must still be the request's headers, all of them.
    {"a trailer field named like a header pushes no header out",
     "GET /api/calls HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + app_key
       + "\r\n\r\n0\r\nHost: y\r\n\r\n",
     200, ""},
    {"a header of 64 KiB", request("GET", "/", {"X-Big: " + std::string(64 * 1024, 'a')}), 431, ""},
    {"a target of 64 KiB", request("GET", "/api/calls?phone=" + std::string(64 * 1024, '1'), {app_key}),
     431, ""},
    // -- paths and ids ---------------------------------------------------------
    {"dot-dot segments towards the internal API", request("GET", "/api/calls/../../internal/apps",
                                                          {app_key}),
     404, "not_found"},
    {"encoded traversal in an id", request("GET", "/api/calls/..%2f..%2finternal%2fapps", {app_key}),
     404, "not_found"},
    {"traversal in an internal app id", request("GET", "/internal/apps/..%2F..%2Fetc%2Fpasswd", {auth}),
     404, "not_found"},
    {"another tenant's call by id", request("GET", "/api/calls/" + b_call, {app_key}), 404,
     "not_found"},
    {"a Dialpad id past 64 bits", request("GET", "/api/calls/99999999999999999999999", {app_key}), 404,
     "not_found"},
    {"SQL in an event id", request("GET", "/internal/events/1'%20OR%20'1'='1", {auth}), 404,
     "not_found"},
    {"NUL in an event id", request("GET", "/internal/events/%00", {auth}), 404, "not_found"},
    {"a webhook for an app id that is not a UUID",
     request("POST", "/webhooks/dialpad/'%3BDROP%20TABLE%20apps", {json_type}, event), 404,
     "not_found"},
    // -- credentials -----------------------------------------------------------
    {"empty bearer", request("GET", "/internal/apps", {"Authorization: Bearer "}), 401,
     "unauthorized"},
    {"basic instead of bearer", request("GET", "/internal/apps", {"Authorization: Basic YTpi"}), 401,
     "unauthorized"},
    {"bearer with a suffix", request("GET", "/internal/apps", {auth + "x"}), 401, "unauthorized"},
    {"key of the right shape, not issued",
     request("GET", "/api/calls", {"x-app-api-key: raw_" + std::string(64, 'f')}), 401,
     "unauthorized"},
    {"key with SQL", request("GET", "/api/calls", {"x-app-api-key: raw_' OR '1'='1"}), 401,
     "unauthorized"},
    {"key of 8 KiB", request("GET", "/api/calls", {"x-app-api-key: raw_" + std::string(8000, 'a')}),
     401, "unauthorized"},
    // -- JSON bodies -----------------------------------------------------------
    {"invalid UTF-8 in a JSON string",
     request("POST", "/internal/apps", {auth, json_type}, "{\"name\":\"\xff\xfe\"}"), 400,
     "invalid_json"},
    {"overlong UTF-8 encoding of '/'",
     request("POST", "/internal/apps", {auth, json_type}, "{\"name\":\"\xc0\xaf\"}"), 400,
     "invalid_json"},
    {"a raw NUL byte in the body",
     request("POST", "/internal/apps", {auth, json_type}, std::string("{\"name\":\"a") + '\0' + "\"}"), 400,
     "invalid_json"},
    // nlohmann's parser reads a NUL as the end of input: this was a 201
    // until the twenty-eighth session.
    {"a NUL byte and text after the object",
     request("POST", "/internal/apps", {auth, json_type}, std::string("{\"name\":\"a\"}") + '\0' + "junk"),
     400, "invalid_json"},
    {"an escaped NUL in a name",
     request("POST", "/internal/apps", {auth, json_type}, R"({"name":"a\u0000b"})"), 400,
     "bad_request"},
    {"duplicate keys", request("POST", "/internal/apps", {auth, json_type}, R"({"name":"x","name":"y"})"),
     400, "invalid_json"},
    {"a depth bomb", request("POST", "/internal/apps", {auth, json_type}, nested(100000)), 400,
     "invalid_json"},
    {"a JSON array where an object belongs",
     request("POST", "/internal/apps", {auth, json_type}, R"(["name"])"), 400, "invalid_json"},
    {"a number no double holds",
     map_user(R"({"dialpad_user_id":1e400,"crm_user_id":"u"})"),
     400, "invalid_json"},
    {"a Dialpad user of 2^64",
     map_user(R"({"dialpad_user_id":18446744073709551616,"crm_user_id":"u"})"),
     400, "bad_request"},
    {"a Dialpad user id as a string past 64 bits",
     map_user(R"({"dialpad_user_id":"99999999999999999999","crm_user_id":"u"})"),
     400, "bad_request"},
    {"a negative Dialpad user", map_user(R"({"dialpad_user_id":-1,"crm_user_id":"u"})"),
     400, "bad_request"},
    {"a fractional Dialpad user",
     map_user(R"({"dialpad_user_id":1.5,"crm_user_id":"u"})"),
     400, "bad_request"},
    {"a context that is a string",
     request("PATCH", "/api/calls/7001", {app_key, json_type}, R"({"crm_context":"x"})"), 400,
     "bad_request"},
    {"a context over 16 KiB",
     request("PATCH", "/api/calls/7001", {app_key, json_type},
             json{{"crm_context", {{"n", std::string(17000, 'x')}}}}.dump()),
     413, "payload_too_large"},
    {"retention of zero days",
     request("PUT", "/internal/apps/" + a + "/retention", {auth, json_type},
             R"({"calls_days":0,"voicemails_archive_days":1,"messages_days":1,"webhook_events_days":1})"),
     400, "bad_request"},
    {"erase with SQL for a number",
     request("POST", "/internal/apps/" + a + "/erase", {auth, json_type},
             R"({"phone_number":"'; DELETE FROM calls; --"})"),
     400, "bad_request"},
    // -- query strings ---------------------------------------------------------
    {"SQL in status", calls_query("status=ended'%20OR%201=1--"), 400, "bad_request"},
    {"SQL in direction", calls_query("direction=inbound'--"), 400, "bad_request"},
    {"SQL in since", calls_query("since=2026-01-01'%3B--"), 400, "bad_request"},
    {"SQL in a Dialpad user filter", calls_query("dialpad_user_id=1%20OR%201=1"), 400, "bad_request"},
    {"SQL in limit", calls_query("limit=1;DROP%20TABLE%20calls"), 400, "bad_request"},
    {"SQL in phone is no phone number", calls_query("phone='%20OR%20'1'='1"), 400, "bad_request"},
    {"SQL in crm_user_id matches nothing", calls_query("crm_user_id='%20OR%20'1'='1"), 200, ""},
    {"invalid UTF-8 in a filter", calls_query("crm_user_id=%ff%fe"), 400, "bad_request"},
    // (A '%' not followed by two hex digits is taken literally, as URL
    // parsers in browsers do: a filter that matches nothing.)
    {"a broken percent escape", calls_query("crm_user_id=%zz"), 200, ""},
    {"limit zero", calls_query("limit=0"), 400, "bad_request"},
    {"limit past 500", calls_query("limit=501"), 400, "bad_request"},
    {"an impossible date", calls_query("since=2026-13-45T25:61:00Z"), 400, "bad_request"},
    {"a forged cursor", calls_query("cursor=eyJ0IjoxLCJpZCI6IngifQ"), 400, "bad_request"},
    {"a cursor with SQL", calls_query("cursor='%20OR%201=1--"), 400, "bad_request"},
    {"an unknown status", request("GET", "/internal/apps/" + a + "/events?state=dead'--", {auth}), 400,
     "bad_request"},
    // -- webhooks --------------------------------------------------------------
    {"a webhook signed with another secret",
     request("POST", "/webhooks/dialpad/" + a,
             {json_type, "X-Dialpad-Signature: " + cti::test::seed_signature("wrong", event)}, event),
     401, "unauthorized"},
    {"a signature that is not hex",
     request("POST", "/webhooks/dialpad/" + a, {json_type, "X-Dialpad-Signature: zz-not-hex"}, event),
     401, "unauthorized"},
    {"a webhook as an image", signed_webhook(event, "image/png"), 415, "unsupported_media_type"},
    {"a signed depth bomb", signed_webhook(nested(100)), 400, "invalid_json"},
    {"a signed event naming a key twice",
     signed_webhook(R"({"event_type":"call.ring","event_id":"h-dup","call_id":7006,"call_id":7007})"),
     400, "invalid_json"},
    {"a signed body that is not JSON", signed_webhook("not json"), 400, "invalid_json"},
    {"a signed event with a NUL byte and text after it",
     signed_webhook(std::string(R"({"event_type":"call.ring","event_id":"h-nul2","call_id":7008})") + '\0'
                    + "junk"),
     400, "invalid_json"},
    {"a signed escaped NUL", signed_webhook(R"({"event_type":"call.ring","event_id":"h-nul","call_id":7004,"from_number":"a\u0000b"})"),
     400, "invalid_json"},
    {"a signed body with invalid UTF-8",
     signed_webhook("{\"event_type\":\"call.ring\",\"event_id\":\"h-utf\",\"call_id\":7005,\"x\":\"\xff\"}"),
     400, "invalid_json"},
    {"JWT with alg none",
     jwt_webhook(cti::test::b64url(R"({"alg":"none","typ":"JWT"})") + "." + payload_b64 + "."), 401,
     "unauthorized"},
    {"JWT with alg HS512",
     jwt_webhook(cti::test::jwt(event, secret, R"({"alg":"HS512","typ":"JWT"})")), 401,
     "unauthorized"},
    {"JWT with two segments", jwt_webhook(header_b64 + "." + payload_b64), 401, "unauthorized"},
    {"JWT with four segments", jwt_webhook(cti::test::jwt(event, secret) + ".x"), 401, "unauthorized"},
    {"JWT with padded base64", jwt_webhook(header_b64 + "==." + payload_b64 + ".abc="), 401,
     "unauthorized"},
    {"JWT with standard base64 characters", jwt_webhook(header_b64 + "." + payload_b64 + ".a+b/c"), 401,
     "unauthorized"},
    {"JWT of empty segments", jwt_webhook(".."), 401, "unauthorized"},
    {"JWT signed with another secret", jwt_webhook(cti::test::jwt(event, "wrong")), 401,
     "unauthorized"},
    {"JWT with the signature of another payload",
     jwt_webhook(header_b64 + "." + payload_b64 + "."
                 + cti::test::jwt(ring("other", 1), secret).substr(
                   cti::test::jwt(ring("other", 1), secret).rfind('.') + 1)),
     401, "unauthorized"},
    {"signed JWT whose payload is not JSON", jwt_webhook(cti::test::jwt("not json", secret)), 400,
     "invalid_json"},
    // Ids that are no Dialpad id: refused, not stored and then ignored.
    {"a webhook call id past 64 bits",
     signed_webhook(R"({"event_type":"call.ring","event_id":"h-big","dialpad_call_id":99999999999999999999})"),
     400, "bad_request"},
    {"a webhook call id that is text",
     signed_webhook(R"({"event_type":"call.ring","event_id":"h-text","dialpad_call_id":"abc"})"), 400,
     "bad_request"},
    {"a negative Dialpad call id", jwt_webhook(cti::test::jwt(R"({"call_id":-5,"state":"ringing"})", secret)),
     400, "bad_request"},
    {"a webhook user id that is fractional",
     signed_webhook(R"({"event_type":"call.ring","event_id":"h-frac","dialpad_call_id":7010,"user_id":1.5})"),
     400, "bad_request"},
    {"a seed SMS message id that is negative",
     signed_webhook(R"({"event_type":"sms.received","event_id":"h-sms-neg","message_id":-3,"text":"x"})"),
     400, "bad_request"},
    {"a seed SMS message id that is text",
     signed_webhook(R"({"event_type":"sms.received","event_id":"h-sms-text","message_id":"abc"})"),
     400, "bad_request"},
    {"a seed SMS id (no message_id) that is zero",
     signed_webhook(R"({"event_type":"sms.sent","event_id":"h-sms-zero","id":0})"), 400, "bad_request"},
    {"a webhook user id past 64 bits",
     signed_webhook(R"({"event_type":"call.ring","event_id":"h-bigu","dialpad_call_id":7011,"user_id":"99999999999999999999"})"),
     400, "bad_request"},
  };
  ASSERT_GE(table.size(), 40u);

  for (const auto& c : table) {
    SCOPED_TRACE(c.name);
    cti::test::raw_connection conn{port()};
    ASSERT_TRUE(conn.write(c.wire));
    auto r = conn.read_response(10s);
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.status, c.status) << r.body;
    if (r.status >= 400) {
      auto j = json::parse(r.body, nullptr, false);
      ASSERT_TRUE(j.is_object() && j.contains("error") && j.contains("message")) << r.body;
      if (!c.error.empty()) {
        EXPECT_EQ(j["error"], c.error) << r.body;
      }
      // No secret in any answer.
      EXPECT_EQ(r.body.find(secret), std::string::npos);
      EXPECT_EQ(r.body.find("e2e-internal-secret"), std::string::npos);
      EXPECT_EQ(r.body.find(key), std::string::npos);
    }
  }

  // Healthy, and nothing changed.
  auto health = cti::test::http_request(port(), "GET", "/health");
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(database_state(db), before);
  auto list = cti::test::http_request(port(), "GET", "/api/calls", {{"x-app-api-key", key}});
  ASSERT_EQ(list.status, 200);
  auto j = json::parse(list.body);
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["dialpad_call_id"], 7001);
}

} // namespace
