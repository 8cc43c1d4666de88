// The tenants, API keys and REST API through the built binary: every
// endpoint's happy path and its main refusals, tenant isolation by every
// path, key rotation taking effect at once, and one bcrypt per key.

#include <csignal>
#include <cstring>
#include <future>
#include <random>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

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
using cti::test::server_process;
using json = nlohmann::json;

namespace {

const std::string& secret = cti::test::e2e_webhook_secret;

class api_test : public cti::test::shared_server_test<api_test> {
public:
  static std::map<std::string, std::string> server_env() {
    return {{"API_KEY_BCRYPT_COST", "4"}};
  }

protected:
  static http_reply internal(const std::string& method, const std::string& target,
                             const std::string& body = {},
                             std::map<std::string, std::string> headers = {}) {
    return cti::test::internal_call(server->port(), method, target, body, std::move(headers));
  }

  static http_reply app_call(const std::string& key, const std::string& method,
                             const std::string& target, const std::string& body = {}) {
    return cti::test::app_call(server->port(), key, method, target, body);
  }

  static json body_of(const http_reply& r) {
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.body;
    return j;
  }

  /// The number of items a list answers for `target` (expects a 200).
  static std::size_t listed(const std::string& key, const std::string& target) {
    auto r = app_call(key, "GET", target);
    EXPECT_EQ(r.status, 200) << target << " " << r.body;
    return body_of(r)["data"].size();
  }

  /// A new app; returns its id.
  static std::string new_app(const std::string& name = "acme") {
    return cti::test::create_app_over_http(server->port(), name);
  }

  /// A fresh key for `app`.
  static std::string new_key(const std::string& app) {
    return cti::test::create_key_over_http(server->port(), app);
  }

  static http_reply post_event(const std::string& app, const json& event) {
    return cti::test::post_signed_event(server->port(), app, event.dump());
  }

  /// Waits until `app`'s queue is empty (every event processed).
  static bool drained(const std::string& app) {
    return cti::test::queue_drained(server->port(), app);
  }

};

json ring(const std::string& id, int64_t call, const std::string& from, int64_t user,
          const std::string& ts) {
  return {{"event_type", "call.ring"}, {"event_id", id}, {"call_id", call},
          {"direction", "inbound"}, {"from_number", from}, {"to_number", "+15559876543"},
          {"user_id", user}, {"timestamp", ts}};
}

TEST_F(api_test, apps_are_created_listed_read_and_patched) {
  auto r = internal("POST", "/internal/apps", R"({"name":"Acme Corp"})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto app = body_of(r);
  EXPECT_EQ(app["name"], "Acme Corp");
  EXPECT_EQ(app["is_active"], true);
  EXPECT_TRUE(app["created_at"].is_string());
  auto id = app["id"].get<std::string>();

  auto got = internal("GET", "/internal/apps/" + id);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(body_of(got), app);

  auto patched = internal("PATCH", "/internal/apps/" + id, R"({"name":"Acme 2","is_active":false})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(body_of(patched)["name"], "Acme 2");
  EXPECT_EQ(body_of(patched)["is_active"], false);

  // An app may be created disabled (the field was ignored until the
  // twenty-eighth session); its keys are then refused with 403.
  auto off = internal("POST", "/internal/apps", R"({"name":"Dormant","is_active":false})");
  ASSERT_EQ(off.status, 201) << off.body;
  EXPECT_EQ(body_of(off)["is_active"], false);
  auto off_id = body_of(off)["id"].get<std::string>();
  EXPECT_EQ(body_of(internal("GET", "/internal/apps/" + off_id))["is_active"], false);
  auto off_key = new_key(off_id);
  EXPECT_EQ(http_request(server->port(), "GET", "/api/calls", {{"x-app-api-key", off_key}}).status,
            403);
  EXPECT_EQ(body_of(internal("POST", "/internal/apps", R"({"name":"Awake","is_active":true})"))
              ["is_active"],
            true);

  // The list holds it, newest first, paginated.
  auto list = internal("GET", "/internal/apps?limit=500");
  ASSERT_EQ(list.status, 200);
  bool found = false;
  auto listed = body_of(list);
  for (const auto& a : listed["data"])
    found = found || a.at("id").get<std::string>() == id;
  EXPECT_TRUE(found) << list.body.size() << " " << list.body.substr(0, 300);
}

TEST_F(api_test, app_input_is_validated) {
  EXPECT_EQ(internal("POST", "/internal/apps", "{}").status, 400);
  EXPECT_EQ(internal("POST", "/internal/apps", R"({"name":"   "})").status, 400);
  EXPECT_EQ(internal("POST", "/internal/apps", R"({"name":42})").status, 400);
  EXPECT_EQ(internal("POST", "/internal/apps", json{{"name", std::string(201, 'x')}}.dump()).status, 400);
  EXPECT_EQ(internal("POST", "/internal/apps", json{{"name", std::string(200, 'x')}}.dump()).status, 201);
  auto bad = internal("POST", "/internal/apps", "{not json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(body_of(bad)["error"], "invalid_json");
  // Unknown fields are ignored; wrong types are not.
  EXPECT_EQ(internal("POST", "/internal/apps", R"({"name":"x","colour":"red"})").status, 201);
  auto id = new_app();
  EXPECT_EQ(internal("PATCH", "/internal/apps/" + id, R"({"is_active":"no"})").status, 400);
  EXPECT_EQ(internal("POST", "/internal/apps", R"({"name":"x","is_active":"no"})").status, 400);
  EXPECT_EQ(internal("POST", "/internal/apps", R"({"name":"x","is_active":null})").status, 400);
  // null clears nothing: neither field can be empty.
  EXPECT_EQ(internal("PATCH", "/internal/apps/" + id, R"({"is_active":null})").status, 400);
  EXPECT_EQ(internal("PATCH", "/internal/apps/" + id, R"({"name":null})").status, 400);
  EXPECT_EQ(internal("GET", "/internal/apps/00000000-0000-4000-8000-000000000000").status, 404);
  EXPECT_EQ(internal("GET", "/internal/apps/not-a-uuid").status, 404);
  EXPECT_EQ(internal("GET", "/internal/apps?limit=501").status, 400);
  // The internal realm needs the bearer.
  EXPECT_EQ(http_request(server->port(), "GET", "/internal/apps").status, 401);
  EXPECT_EQ(http_request(server->port(), "GET", "/internal/apps", {{"Authorization", "Bearer nope"}}).status, 401);
  // RFC 9110: a 401 says what it asks for.
  EXPECT_EQ(http_request(server->port(), "GET", "/internal/apps").headers["www-authenticate"],
            R"(Bearer realm="cti-internal")");
}

TEST_F(api_test, api_key_lifecycle_with_audit) {
  auto app = new_app();
  auto st0 = body_of(internal("GET", "/internal/apps/" + app + "/api-key/status"));
  EXPECT_EQ(st0["has_key"], false);

  auto c = internal("POST", "/internal/apps/" + app + "/api-key", {}, {{"X-Request-Id", "req-create-1"}});
  ASSERT_EQ(c.status, 201) << c.body;
  auto created = body_of(c);
  auto key1 = created["api_key"].get<std::string>();
  ASSERT_EQ(key1.size(), 68u);
  EXPECT_EQ(key1.rfind("raw_", 0), 0u);
  EXPECT_EQ(created["key_hint"], "raw_" + key1.substr(4, 4) + "..." + key1.substr(64, 4));
  EXPECT_EQ(created["rotated"], false);
  EXPECT_EQ(app_call(key1, "GET", "/api/calls").status, 200);

  // Rotation: the old key stops working at once, the new one works.
  auto rot = internal("POST", "/internal/apps/" + app + "/api-key", {}, {{"X-Request-Id", "req-rotate-1"}});
  ASSERT_EQ(rot.status, 201);
  EXPECT_EQ(body_of(rot)["rotated"], true);
  auto key2 = body_of(rot)["api_key"].get<std::string>();
  EXPECT_NE(key1, key2);
  EXPECT_EQ(app_call(key1, "GET", "/api/calls").status, 401);
  EXPECT_EQ(app_call(key2, "GET", "/api/calls").status, 200);

  auto st = body_of(internal("GET", "/internal/apps/" + app + "/api-key/status"));
  EXPECT_EQ(st["has_key"], true);
  EXPECT_EQ(st["key_hint"], body_of(rot)["key_hint"]);
  EXPECT_TRUE(st["rotated_at"].is_string());
  // The status never shows the key or its hash.
  EXPECT_EQ(st.dump().find(key2.substr(4)), std::string::npos);
  EXPECT_EQ(st.dump().find("$2b$"), std::string::npos);

  auto rev = internal("POST", "/internal/apps/" + app + "/api-key/revoke", {}, {{"X-Request-Id", "req-revoke-1"}});
  ASSERT_EQ(rev.status, 200);
  EXPECT_EQ(body_of(rev), json({{"revoked", true}}));
  EXPECT_EQ(app_call(key2, "GET", "/api/calls").status, 401);
  EXPECT_EQ(body_of(internal("GET", "/internal/apps/" + app + "/api-key/status"))["has_key"], false);
  // Revoking again (a retry) is the same answer and changes nothing; it is
  // recorded, as every key operation is, without an old hint.
  auto twice = internal("POST", "/internal/apps/" + app + "/api-key/revoke", {},
                        {{"X-Request-Id", "req-revoke-2"}});
  EXPECT_EQ(twice.status, 200) << twice.body;
  EXPECT_EQ(body_of(twice), json({{"revoked", true}}));
  EXPECT_EQ(internal("POST", "/internal/apps/00000000-0000-4000-8000-000000000000/api-key/revoke").status,
            404);

  // After a revoke a new key is a creation again.
  auto again = internal("POST", "/internal/apps/" + app + "/api-key");
  EXPECT_EQ(body_of(again)["rotated"], false);

  auto audit = body_of(internal("GET", "/internal/apps/" + app + "/api-key/audit"));
  ASSERT_EQ(audit["data"].size(), 5u) << audit.dump();
  EXPECT_EQ(audit["data"][0]["action"], "created");
  EXPECT_EQ(audit["data"][1]["action"], "revoked");
  EXPECT_EQ(audit["data"][1]["request_id"], "req-revoke-2");
  EXPECT_TRUE(audit["data"][1]["old_key_hint"].is_null());
  EXPECT_TRUE(audit["data"][1]["new_key_hint"].is_null());
  EXPECT_EQ(audit["data"][2]["action"], "revoked");
  EXPECT_EQ(audit["data"][2]["request_id"], "req-revoke-1");
  EXPECT_EQ(audit["data"][2]["old_key_hint"], body_of(rot)["key_hint"]);
  EXPECT_TRUE(audit["data"][2]["new_key_hint"].is_null());
  EXPECT_EQ(audit["data"][3]["action"], "rotated");
  EXPECT_EQ(audit["data"][3]["old_key_hint"], created["key_hint"]);
  EXPECT_EQ(audit["data"][3]["request_id"], "req-rotate-1");
  EXPECT_EQ(audit["data"][4]["action"], "created");
  EXPECT_EQ(audit["data"][4]["request_id"], "req-create-1");
  EXPECT_EQ(internal("POST", "/internal/apps/00000000-0000-4000-8000-000000000000/api-key").status, 404);
}

TEST_F(api_test, app_keys_answer_401_and_disabled_apps_403) {
  auto app = new_app();
  auto key = new_key(app);
  auto missing = http_request(server->port(), "GET", "/api/calls");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.headers["www-authenticate"], R"(ApiKey realm="cti-app", header="x-app-api-key")");
  EXPECT_EQ(app_call("raw_abc", "GET", "/api/calls").status, 401);
  EXPECT_EQ(app_call("raw_" + std::string(64, '0'), "GET", "/api/calls").status, 401);
  // Same key id (first 16 hex), different key: the one candidate's bcrypt refuses it.
  auto forged = key.substr(0, 20) + std::string(48, key[60] == 'a' ? 'b' : 'a');
  EXPECT_EQ(app_call(forged, "GET", "/api/calls").status, 401);
  // x-api-key is accepted too.
  EXPECT_EQ(http_request(server->port(), "GET", "/api/calls", {{"x-api-key", key}}).status, 200);
  // An empty x-app-api-key is no key: it does not hide x-api-key; a wrong
  // one is the key presented.
  EXPECT_EQ(http_request(server->port(), "GET", "/api/calls", {{"x-app-api-key", ""}, {"x-api-key", key}})
              .status,
            200);
  EXPECT_EQ(http_request(server->port(), "GET", "/api/calls",
                         {{"x-app-api-key", "raw_" + std::string(64, '0')}, {"x-api-key", key}})
              .status,
            401);

  ASSERT_EQ(internal("PATCH", "/internal/apps/" + app, R"({"is_active":false})").status, 200);
  auto r = app_call(key, "GET", "/api/calls");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(body_of(r)["error"], "forbidden");
  // Its webhooks are refused too.
  EXPECT_EQ(post_event(app, ring("dis-1", 1, "+1555", 1, "2026-01-28T10:00:00Z")).status, 403);
  ASSERT_EQ(internal("PATCH", "/internal/apps/" + app, R"({"is_active":true})").status, 200);
  EXPECT_EQ(app_call(key, "GET", "/api/calls").status, 200);
}

TEST_F(api_test, one_bcrypt_per_key_per_node) {
  auto metrics = [] { return body_of(internal("GET", "/metrics"))["auth"]; };
  auto app = new_app();
  auto key = new_key(app);
  auto before = metrics()["bcrypt_verifications"].get<uint64_t>();
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(app_call(key, "GET", "/api/calls?limit=1").status, 200);
  auto after = metrics();
  EXPECT_EQ(after["bcrypt_verifications"].get<uint64_t>() - before, 1u);
  EXPECT_GE(after["key_cache_hits"].get<uint64_t>(), 29u);
}

TEST_F(api_test, dialpad_connection_registration) {
  auto a = new_app();
  auto b = new_app();
  EXPECT_EQ(internal("GET", "/internal/apps/" + a + "/dialpad").status, 404);
  EXPECT_EQ(internal("PUT", "/internal/apps/" + a + "/dialpad", R"({"environment":"sandbox"})").status, 400);
  EXPECT_EQ(internal("PUT", "/internal/apps/" + a + "/dialpad", R"({"dialpad_org_id":"x"})").status, 400);
  EXPECT_EQ(internal("PUT", "/internal/apps/" + a + "/dialpad",
                     R"({"dialpad_org_id":1,"environment":"staging"})").status, 400);
  int64_t org = 5000000 + static_cast<int64_t>(std::random_device{}() % 100000000);
  auto put = internal("PUT", "/internal/apps/" + a + "/dialpad",
                      json{{"dialpad_org_id", std::to_string(org)}, {"environment", "sandbox"},
                           {"webhook_secret", "app-own-secret-xyz"}}.dump());
  ASSERT_EQ(put.status, 200) << put.body;
  auto conn = body_of(put);
  EXPECT_EQ(conn["dialpad_org_id"], org);
  EXPECT_EQ(conn["environment"], "sandbox");
  EXPECT_EQ(conn["status"], "registered");
  EXPECT_EQ(conn["has_webhook_secret"], true);
  EXPECT_EQ(conn["allow_unsigned_webhooks"], false);
  EXPECT_EQ(conn["scopes"], json::array());
  EXPECT_TRUE(conn["expires_at"].is_null());
  EXPECT_TRUE(conn["sync"].is_null());
  EXPECT_EQ(put.body.find("app-own-secret-xyz"), std::string::npos);
  // The secret is stored sealed: not in the clear in the database either.
  EXPECT_EQ(cti::test::query_value(cti::test::database_url(),
                                   "SELECT position('app-own-secret-xyz' in encode(webhook_secret_sealed, 'escape'))"
                                   " FROM dialpad_connections WHERE app_id = $1::uuid", {a}),
            "0");

  // Another app cannot take the org.
  auto clash = internal("PUT", "/internal/apps/" + b + "/dialpad", json{{"dialpad_org_id", org}}.dump());
  EXPECT_EQ(clash.status, 409);
  EXPECT_EQ(body_of(clash)["error"], "conflict");

  // Webhooks for the app verify with its own secret now.
  auto body = ring("own-secret-1", 77, "+15551112222", 1, "2026-01-28T10:00:00Z").dump();
  auto with = [&](const std::string& s) {
    return http_request(server->port(), "POST", "/webhooks/dialpad/" + a,
                        {{"Content-Type", "application/json"},
                         {"X-Dialpad-Signature", cti::test::seed_signature(s, body)}},
                        body);
  };
  EXPECT_EQ(with(secret).status, 401);
  EXPECT_EQ(with("app-own-secret-xyz").status, 200);

  // A partial PUT keeps the rest.
  auto put2 = internal("PUT", "/internal/apps/" + a + "/dialpad", R"({"allow_unsigned_webhooks":true})");
  ASSERT_EQ(put2.status, 200);
  EXPECT_EQ(body_of(put2)["dialpad_org_id"], org);
  EXPECT_EQ(body_of(put2)["has_webhook_secret"], true);
  EXPECT_EQ(body_of(put2)["allow_unsigned_webhooks"], true);

  auto del = internal("DELETE", "/internal/apps/" + a + "/dialpad");
  EXPECT_EQ(del.status, 204);
  // RFC 9110 §8.6: a 204 carries no Content-Length.
  EXPECT_FALSE(del.headers.contains("content-length"));
  EXPECT_TRUE(del.body.empty());
  EXPECT_TRUE(del.body.empty());
  EXPECT_EQ(internal("GET", "/internal/apps/" + a + "/dialpad").status, 404);
  EXPECT_EQ(internal("DELETE", "/internal/apps/" + a + "/dialpad").status, 404);
  // The org is free again.
  EXPECT_EQ(internal("PUT", "/internal/apps/" + b + "/dialpad", json{{"dialpad_org_id", org}}.dump()).status, 200);
}

TEST_F(api_test, user_mappings) {
  auto app = new_app();
  auto base = "/internal/apps/" + app + "/users";
  auto m = internal("POST", base + "/map", R"({"dialpad_user_id":"111","crm_user_id":"crm_a"})");
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(body_of(m)["dialpad_user_id"], 111);
  EXPECT_EQ(body_of(m)["crm_user_id"], "crm_a");
  // Upsert: the same Dialpad user maps elsewhere, same row.
  auto m2 = internal("POST", base + "/map", R"({"dialpad_user_id":111,"crm_user_id":"crm_b"})");
  EXPECT_EQ(body_of(m2)["id"], body_of(m)["id"]);
  EXPECT_EQ(body_of(m2)["crm_user_id"], "crm_b");
  EXPECT_EQ(internal("POST", base + "/map", R"({"dialpad_user_id":-1,"crm_user_id":"x"})").status, 400);
  EXPECT_EQ(internal("POST", base + "/map", json{{"dialpad_user_id", 1}, {"crm_user_id", std::string(256, 'c')}}.dump()).status, 400);

  // Batch: one bad entry refuses all, naming its index.
  auto bad = internal("POST", base + "/batch-map",
                      R"({"mappings":[{"dialpad_user_id":201,"crm_user_id":"x"},{"dialpad_user_id":202}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(body_of(bad)["message"].get<std::string>().find("mappings[1]"), std::string::npos);
  auto not_object = internal("POST", base + "/batch-map",
                             R"({"mappings":[{"dialpad_user_id":201,"crm_user_id":"x"},5]})");
  EXPECT_EQ(not_object.status, 400);
  EXPECT_EQ(body_of(not_object)["message"], "mappings[1] must be an object");
  EXPECT_EQ(internal("GET", base + "/mappings/dialpad/201").status, 404);
  EXPECT_EQ(internal("POST", base + "/batch-map", R"({"mappings":[]})").status, 400);
  json many = json::array();
  for (int i = 0; i < 1001; ++i)
    many.push_back({{"dialpad_user_id", 1000 + i}, {"crm_user_id", "c"}});
  EXPECT_EQ(internal("POST", base + "/batch-map", json{{"mappings", many}}.dump()).status, 400);

  auto ok = internal("POST", base + "/batch-map",
                     R"({"mappings":[{"dialpad_user_id":201,"crm_user_id":"shared"},{"dialpad_user_id":202,"crm_user_id":"shared"}]})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(body_of(ok)["upserted"], 2);

  auto by_crm = body_of(internal("GET", base + "/mappings/crm/shared"));
  EXPECT_EQ(by_crm["data"].size(), 2u);
  EXPECT_EQ(body_of(internal("GET", base + "/mappings/crm/nobody"))["data"].size(), 0u);
  auto one = internal("GET", base + "/mappings/dialpad/202");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(body_of(one)["crm_user_id"], "shared");

  // All three, two pages.
  auto p1 = body_of(internal("GET", base + "/mappings?limit=2"));
  ASSERT_EQ(p1["data"].size(), 2u);
  ASSERT_TRUE(p1["has_more"].get<bool>());
  auto p2 = body_of(internal("GET", base + "/mappings?limit=2&cursor=" + p1["next_cursor"].get<std::string>()));
  EXPECT_EQ(p2["data"].size(), 1u);
  EXPECT_FALSE(p2["has_more"].get<bool>());

  auto del = internal("DELETE", base + "/mappings/" + body_of(one)["id"].get<std::string>());
  EXPECT_EQ(del.status, 204);
  EXPECT_EQ(internal("GET", base + "/mappings/dialpad/202").status, 404);
  EXPECT_EQ(internal("DELETE", base + "/mappings/" + body_of(one)["id"].get<std::string>()).status, 404);
}

// Two batches naming the same users in opposite orders, at once: each
// writes its rows in one order (by Dialpad user id), so neither deadlocks
// and both answer 200. (Before, one of the two got a deadlock: 500.)
TEST_F(api_test, concurrent_batch_maps_of_the_same_users_both_succeed) {
  auto app = new_app();
  auto path = "/internal/apps/" + app + "/users/batch-map";
  auto batch = [](bool up, const std::string& crm) {
    json list = json::array();
    for (int i = 0; i < 200; ++i)
      list.push_back({{"dialpad_user_id", up ? 100 + i : 299 - i}, {"crm_user_id", crm}});
    return json{{"mappings", list}}.dump();
  };
  ASSERT_EQ(internal("POST", path, batch(true, "first")).status, 200);
  for (int round = 0; round < 3; ++round) {
    auto up = std::async(std::launch::async, [&] { return internal("POST", path, batch(true, "up")); });
    auto down = std::async(std::launch::async, [&] { return internal("POST", path, batch(false, "down")); });
    auto a = up.get();
    auto b = down.get();
    EXPECT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(b.status, 200) << b.body;
  }
}

TEST_F(api_test, calls_are_listed_filtered_paginated_and_isolated) {
  auto a = new_app();
  auto b = new_app();
  auto ka = new_key(a);
  auto kb = new_key(b);
  ASSERT_EQ(internal("POST", "/internal/apps/" + a + "/users/map",
                     R"({"dialpad_user_id":900,"crm_user_id":"agent_9"})").status, 200);
  for (int i = 0; i < 7; ++i) {
    auto ts = "2026-01-28T10:0" + std::to_string(i) + ":00Z";
    ASSERT_EQ(post_event(a, ring("a-" + std::to_string(i), 5000 + i,
                                 i % 2 ? "+1 (555) 000-0001" : "+15550000002", i < 3 ? 900 : 901, ts)).status,
              200);
  }
  ASSERT_EQ(post_event(b, ring("b-0", 5000, "+15550000001", 900, "2026-01-28T10:00:00Z")).status, 200);
  ASSERT_EQ(post_event(a, {{"event_type", "call.ended"}, {"event_id", "a-end"}, {"call_id", 5006},
                           {"timestamp", "2026-01-28T10:30:00Z"}}).status, 200);
  ASSERT_TRUE(drained(a));
  ASSERT_TRUE(drained(b));

  auto all = body_of(app_call(ka, "GET", "/api/calls"));
  ASSERT_EQ(all["data"].size(), 7u);
  EXPECT_FALSE(all["has_more"].get<bool>());
  EXPECT_EQ(all["data"][0]["dialpad_call_id"], 5006); // newest first
  EXPECT_EQ(all["data"][0]["status"], "ended");
  EXPECT_EQ(all["data"][6]["crm_user_id"], "agent_9"); // from the mapping, at read time
  EXPECT_TRUE(all["data"][0]["crm_user_id"].is_null());

  // Pagination walks every call once.
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto r = app_call(ka, "GET", "/api/calls?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    auto page = body_of(r);
    for (const auto& c : page["data"])
      EXPECT_TRUE(seen.insert(c["id"].get<std::string>()).second);
    cursor = page["next_cursor"].is_null() ? "" : page["next_cursor"].get<std::string>();
    EXPECT_EQ(page["has_more"].get<bool>(), !cursor.empty());
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_EQ(pages, 3);

  // Filters.
  auto count = [&](const std::string& q) { return listed(ka, "/api/calls?" + q); };
  EXPECT_EQ(count("status=ended"), 1u);
  EXPECT_EQ(count("status=ringing,ended"), 7u);
  EXPECT_EQ(count("phone=%2B1555-000-0001"), 3u);
  EXPECT_EQ(count("from_number=%2B15550000002"), 4u);
  EXPECT_EQ(count("to_number=%2B15559876543"), 7u);
  EXPECT_EQ(count("dialpad_user_id=901"), 4u);
  EXPECT_EQ(count("crm_user_id=agent_9"), 3u);
  EXPECT_EQ(count("direction=inbound"), 7u);
  EXPECT_EQ(count("since=2026-01-28T10:02:00Z&until=2026-01-28T10:04:00Z"), 2u);
  // A bound finer than the microsecond rounds up: since excludes the call at
  // 10:02:00.000, until includes the one at 10:03:00.000.
  auto fine = body_of(app_call(
    ka, "GET", "/api/calls?since=2026-01-28T10:02:00.0000009Z&until=2026-01-28T10:03:00.0000001Z"));
  ASSERT_EQ(fine["data"].size(), 1u);
  EXPECT_EQ(fine["data"][0]["dialpad_call_id"], 5003);
  EXPECT_EQ(count("unknown_param=1"), 7u);
  EXPECT_EQ(body_of(app_call(ka, "GET", "/api/calls/active"))["data"].size(), 6u);

  // Bad values name the parameter.
  for (const auto& q : {"status=flying", "direction=sideways", "limit=0", "limit=x", "since=yesterday",
                        "until=2026-13-01T00:00:00Z", "dialpad_user_id=abc", "cursor=zzz", "phone=abc",
                        "phone=%2B", "from_number=hello%20world", "to_number=123abc"}) {
    auto r = app_call(ka, "GET", std::string{"/api/calls?"} + q);
    EXPECT_EQ(r.status, 400) << q;
    auto name = std::string{q}.substr(0, std::string{q}.find('='));
    EXPECT_NE(body_of(r)["message"].get<std::string>().find(name), std::string::npos) << q;
  }

  // Isolation: B sees only its own call, and none of A's by any path.
  auto bl = body_of(app_call(kb, "GET", "/api/calls"));
  ASSERT_EQ(bl["data"].size(), 1u);
  auto a_call = all["data"][0]["id"].get<std::string>();
  EXPECT_EQ(app_call(kb, "GET", "/api/calls/" + a_call).status, 404);
  EXPECT_EQ(app_call(kb, "GET", "/api/calls/5006").status, 404);
  EXPECT_EQ(app_call(kb, "PATCH", "/api/calls/" + a_call, R"({"crm_context":{"x":1}})").status, 404);
  auto a_page = body_of(app_call(ka, "GET", "/api/calls?limit=1"));
  EXPECT_EQ(app_call(kb, "GET", "/api/calls?cursor=" + a_page["next_cursor"].get<std::string>()).status, 400);
  EXPECT_EQ(body_of(app_call(kb, "GET", "/api/calls?crm_user_id=agent_9"))["data"].size(), 0u);

  // One call, by UUID and by Dialpad id.
  auto by_uuid = app_call(ka, "GET", "/api/calls/" + a_call);
  ASSERT_EQ(by_uuid.status, 200);
  EXPECT_EQ(body_of(by_uuid), all["data"][0]);
  EXPECT_EQ(body_of(app_call(ka, "GET", "/api/calls/5006")), all["data"][0]);
  EXPECT_EQ(app_call(ka, "GET", "/api/calls/999999").status, 404);
  EXPECT_EQ(app_call(ka, "GET", "/api/calls/not-an-id").status, 404);
  auto fields = body_of(by_uuid);
  for (const char* f : {"id", "dialpad_call_id", "direction", "from_number", "to_number", "status",
                        "dialpad_user_id", "crm_user_id", "started_at", "answered_at", "ended_at",
                        "duration_seconds", "recording_url", "has_voicemail", "crm_context",
                        "created_at", "updated_at"})
    EXPECT_TRUE(fields.contains(f)) << f;
}

TEST_F(api_test, crm_context_is_attached_and_joins_the_stream) {
  auto app = new_app();
  auto key = new_key(app);
  ASSERT_EQ(post_event(app, ring("ctx-1", 6001, "+15550000009", 1, "2026-01-28T11:00:00Z")).status, 200);
  ASSERT_TRUE(drained(app));
  // Read first (so a cached answer exists), then change: reads see the change at once.
  ASSERT_TRUE(body_of(app_call(key, "GET", "/api/calls/6001"))["crm_context"].is_null());
  ASSERT_TRUE(body_of(app_call(key, "GET", "/api/calls"))["data"][0]["crm_user_id"].is_null());
  ASSERT_EQ(internal("POST", "/internal/apps/" + app + "/users/map",
                     R"({"dialpad_user_id":1,"crm_user_id":"late_mapping"})").status, 200);
  EXPECT_EQ(body_of(app_call(key, "GET", "/api/calls"))["data"][0]["crm_user_id"], "late_mapping");
  auto r = app_call(key, "PATCH", "/api/calls/6001", R"({"crm_context":{"ticket":"T-42","n":[1,2]}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["crm_context"], json({{"ticket", "T-42"}, {"n", {1, 2}}}));
  // Written compact, as the rest of the answer (not jsonb's spaced text),
  // keys in the order the client wrote them (not sorted, not by length).
  EXPECT_NE(r.body.find(R"("crm_context":{"ticket":"T-42","n":[1,2]})"), std::string::npos) << r.body;
  EXPECT_NE(app_call(key, "GET", "/api/calls/6001").body.find(R"({"ticket":"T-42","n":[1,2]})"),
            std::string::npos);
  EXPECT_EQ(body_of(app_call(key, "GET", "/api/calls/6001"))["crm_context"]["ticket"], "T-42");
  EXPECT_EQ(body_of(app_call(key, "GET", "/api/calls"))["data"][0]["crm_context"]["ticket"], "T-42");
  // It took the next seq as call.context_updated.
  auto events = body_of(internal("GET", "/internal/apps/" + app + "/events"));
  ASSERT_GE(events["data"].size(), 2u);
  EXPECT_EQ(events["data"][0]["event_type"], "call.context_updated");
  EXPECT_EQ(events["data"][0]["seq"], events["data"][1]["seq"].get<int64_t>() + 1);

  EXPECT_EQ(app_call(key, "PATCH", "/api/calls/6001", R"({"crm_context":"text"})").status, 400);
  EXPECT_EQ(app_call(key, "PATCH", "/api/calls/6001", R"({})").status, 400);
  auto big = json{{"crm_context", {{"blob", std::string(17000, 'x')}}}}.dump();
  auto too_big = app_call(key, "PATCH", "/api/calls/6001", big);
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(body_of(too_big)["error"], "payload_too_large");
  auto cleared = app_call(key, "PATCH", "/api/calls/6001", R"({"crm_context":null})");
  ASSERT_EQ(cleared.status, 200);
  EXPECT_TRUE(body_of(cleared)["crm_context"].is_null());
  // A new event for the call shows on the next read once processed.
  ASSERT_EQ(post_event(app, {{"event_type", "call.ended"}, {"event_id", "ctx-2"}, {"call_id", 6001},
                             {"timestamp", "2026-01-28T11:05:00Z"}}).status, 200);
  EXPECT_TRUE(cti::test::eventually(
    [&] { return body_of(app_call(key, "GET", "/api/calls/6001"))["status"] == "ended"; }, 5s));
}

TEST_F(api_test, export_streams_csv_and_ndjson) {
  auto app = new_app();
  auto key = new_key(app);
  ASSERT_EQ(post_event(app, ring("ex-1", 7001, "=cmd|' /C calc'!A0", 1, "2026-01-28T12:00:00Z")).status, 200);
  ASSERT_EQ(post_event(app, ring("ex-2", 7002, "+15550000003", 1, "2026-01-28T12:01:00Z")).status, 200);
  ASSERT_TRUE(drained(app));
  ASSERT_EQ(app_call(key, "PATCH", "/api/calls/7002",
                     R"({"crm_context": {"zeta": "b,c", "deal_id": 1, "a": {"y": 2, "x": 1}}})")
              .status,
            200);

  auto csv = app_call(key, "GET", "/api/calls/export");
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_EQ(csv.headers["content-type"], "text/csv; charset=utf-8");
  EXPECT_EQ(csv.headers["transfer-encoding"], "chunked");
  auto first_crlf = csv.body.find("\r\n");
  EXPECT_EQ(csv.body.substr(0, first_crlf),
            "id,dialpad_call_id,direction,from_number,to_number,status,dialpad_user_id,"
            "crm_user_id,started_at,answered_at,ended_at,duration_seconds,recording_url,"
            "has_voicemail,crm_context,created_at,updated_at");
  // Newest first; an object as quoted compact JSON; a formula defused.
  auto row1 = csv.body.find("7002,inbound,+15550000003");
  // (Stored numbers are normalized: the spaces are gone.)
  auto row2 = csv.body.find("7001,inbound,\"'=cmd|'/Ccalc'!A0\"");
  EXPECT_NE(row1, std::string::npos) << csv.body;
  EXPECT_NE(row2, std::string::npos) << csv.body;
  EXPECT_LT(row1, row2);
  // The client's key order, compact.
  EXPECT_NE(csv.body.find(R"("{""zeta"":""b,c"",""deal_id"":1,""a"":{""y"":2,""x"":1}}")"),
            std::string::npos)
    << csv.body;
  EXPECT_EQ(csv.body.substr(csv.body.size() - 2), "\r\n");

  auto nd = app_call(key, "GET", "/api/calls/export?format=ndjson&since=2026-01-28T12:01:00Z");
  ASSERT_EQ(nd.status, 200);
  EXPECT_EQ(nd.headers["content-type"], "application/x-ndjson");
  ASSERT_FALSE(nd.body.empty());
  auto line = json::parse(nd.body.substr(0, nd.body.find('\n')));
  EXPECT_EQ(line["dialpad_call_id"], 7002);
  EXPECT_EQ(std::count(nd.body.begin(), nd.body.end(), '\n'), 1);

  EXPECT_EQ(app_call(key, "GET", "/api/calls/export?format=xml").status, 400);
  EXPECT_EQ(http_request(server->port(), "GET", "/api/calls/export").status, 401);
}

TEST_F(api_test, voicemails_and_messages) {
  auto app = new_app();
  auto key = new_key(app);
  ASSERT_EQ(internal("POST", "/internal/apps/" + app + "/users/map",
                     R"({"dialpad_user_id":555,"crm_user_id":"vm_agent"})").status, 200);
  ASSERT_EQ(post_event(app, {{"event_type", "voicemail.received"}, {"event_id", "vm-1"},
                             {"call_id", 8001}, {"from_number", "+15551230000"},
                             {"to_number", "+15559870000"}, {"user_id", 555},
                             {"recording_url", "https://x/vm.mp3"}, {"transcript", "call me"},
                             {"duration", 12}, {"timestamp", "2026-01-28T13:00:00Z"}}).status,
            200);
  ASSERT_EQ(post_event(app, {{"event_type", "sms.received"}, {"event_id", "sms-1"},
                             {"message_id", 9001}, {"from_number", "+15551230000"},
                             {"to_number", "+15559870000"}, {"text", "hello"},
                             {"direction", "inbound"}, {"user_id", 555},
                             {"timestamp", "2026-01-28T13:05:00Z"}}).status,
            200);
  ASSERT_TRUE(drained(app));

  auto vms = body_of(app_call(key, "GET", "/api/voicemails"));
  ASSERT_EQ(vms["data"].size(), 1u) << vms.dump();
  auto vm = vms["data"][0];
  EXPECT_EQ(vm["dialpad_call_id"], 8001);
  EXPECT_EQ(vm["transcript"], "call me");
  EXPECT_EQ(vm["crm_user_id"], "vm_agent");
  EXPECT_EQ(vm["callback_status"], "pending");
  EXPECT_TRUE(vm["crm_task_id"].is_null());
  auto id = vm["id"].get<std::string>();
  EXPECT_EQ(body_of(app_call(key, "GET", "/api/voicemails?callback_status=pending"))["data"].size(), 1u);
  EXPECT_EQ(app_call(key, "GET", "/api/voicemails?callback_status=later").status, 400);

  auto p = app_call(key, "PATCH", "/api/voicemails/" + id, R"({"callback_status":"in_progress","crm_task_id":"TASK-1"})");
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(body_of(p)["callback_status"], "in_progress");
  EXPECT_EQ(body_of(p)["crm_task_id"], "TASK-1");
  EXPECT_EQ(body_of(app_call(key, "GET", "/api/voicemails?callback_status=pending"))["data"].size(), 0u);
  EXPECT_EQ(app_call(key, "PATCH", "/api/voicemails/" + id, R"({"callback_status":"maybe"})").status, 400);
  // A numeric task id is kept as its decimal text; other types are refused.
  auto numeric = app_call(key, "PATCH", "/api/voicemails/" + id, R"({"crm_task_id":12345})");
  ASSERT_EQ(numeric.status, 200) << numeric.body;
  EXPECT_EQ(body_of(numeric)["crm_task_id"], "12345");
  for (const auto* bad : {R"({"crm_task_id":1.5})", R"({"crm_task_id":true})", R"({"crm_task_id":" "})",
                          R"({"crm_task_id":["a"]})"})
    EXPECT_EQ(app_call(key, "PATCH", "/api/voicemails/" + id, bad).status, 400) << bad;
  EXPECT_EQ(body_of(app_call(key, "GET", "/api/voicemails/" + id))["crm_task_id"], "12345");
  EXPECT_EQ(app_call(key, "GET", "/api/voicemails/" + id).status, 200);

  auto msgs = body_of(app_call(key, "GET", "/api/messages"));
  ASSERT_EQ(msgs["data"].size(), 1u) << msgs.dump();
  EXPECT_EQ(msgs["data"][0]["dialpad_message_id"], 9001);
  EXPECT_EQ(msgs["data"][0]["text"], "hello");
  EXPECT_EQ(msgs["data"][0]["crm_user_id"], "vm_agent");
  EXPECT_EQ(app_call(key, "GET", "/api/messages?phone=abc").status, 400);
  // Message filters beyond the contract's list, each able to exclude.
  auto msg_count = [&](const std::string& q) { return listed(key, "/api/messages?" + q); };
  EXPECT_EQ(msg_count("crm_user_id=vm_agent"), 1u);
  EXPECT_EQ(msg_count("crm_user_id=someone_else"), 0u);
  EXPECT_EQ(msg_count("from_number=%2B15551230000"), 1u);
  EXPECT_EQ(msg_count("from_number=%2B15559870000"), 0u);
  EXPECT_EQ(msg_count("to_number=%2B15559870000"), 1u);
  EXPECT_EQ(msg_count("to_number=%2B15551230000"), 0u);

  // Another app's key sees none of it.
  auto other = new_key(new_app());
  EXPECT_EQ(app_call(other, "GET", "/api/voicemails/" + id).status, 404);
  EXPECT_EQ(body_of(app_call(other, "GET", "/api/messages"))["data"].size(), 0u);

  // Internal view and delete.
  auto ilist = body_of(internal("GET", "/internal/apps/" + app + "/voicemails"));
  EXPECT_EQ(ilist["data"].size(), 1u);
  // ... with the app list's filters (ignored, bad values included, until
  // the thirty-first session).
  auto internal_count = [&](const std::string& q) {
    return body_of(internal("GET", "/internal/apps/" + app + "/voicemails?" + q))["data"].size();
  };
  EXPECT_EQ(internal_count("callback_status=in_progress"), 1u);
  EXPECT_EQ(internal_count("callback_status=pending"), 0u);
  EXPECT_EQ(internal_count("crm_user_id=vm_agent"), 1u);
  EXPECT_EQ(internal_count("crm_user_id=someone_else"), 0u);
  EXPECT_EQ(internal_count("until=2000-01-01T00:00:00Z"), 0u);
  for (const auto* bad : {"callback_status=later", "since=bad", "dialpad_user_id=x"}) {
    auto r = internal("GET", "/internal/apps/" + app + "/voicemails?" + std::string{bad});
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(body_of(r)["error"], "bad_request") << bad;
  }
  EXPECT_EQ(internal("GET", "/internal/apps/" + app + "/voicemails/" + id).status, 200);
  // The frames kept for WebSocket replays show it, until it is deleted.
  auto frames_showing = [&] {
    return cti::test::query_value(cti::test::database_url(),
                                  "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                                  " AND strpos(published, $2) > 0",
                                  {app, id});
  };
  EXPECT_NE(frames_showing(), "0");
  auto call_has_voicemail = [&] {
    return cti::test::query_value(cti::test::database_url(),
                                  "SELECT has_voicemail FROM calls WHERE app_id = $1::uuid"
                                  " AND dialpad_call_id = 8001",
                                  {app});
  };
  EXPECT_EQ(call_has_voicemail(), "t");
  // Read through the API first: a cached answer must not outlive the delete.
  EXPECT_EQ(body_of(app_call(key, "GET", "/api/calls/8001"))["has_voicemail"], true);
  EXPECT_EQ(internal("DELETE", "/internal/apps/" + app + "/voicemails/" + id).status, 204);
  EXPECT_EQ(frames_showing(), "0");
  // Its call has no voicemail any more, in the database and in the API.
  EXPECT_EQ(call_has_voicemail(), "f");
  EXPECT_EQ(body_of(app_call(key, "GET", "/api/calls/8001"))["has_voicemail"], false);
  EXPECT_EQ(internal("GET", "/internal/apps/" + app + "/voicemails/" + id).status, 404);
  EXPECT_EQ(app_call(key, "GET", "/api/voicemails/" + id).status, 404);
}

TEST_F(api_test, screen_pop_without_a_connected_account_is_409) {
  auto key = new_key(new_app());
  auto r = app_call(key, "POST", "/api/screen-pop", R"({"dialpad_user_id":1,"screen_pop_uri":"https://crm/x"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(app_call(key, "POST", "/api/screen-pop", R"({"screen_pop_uri":"https://crm/x"})").status, 400);
  // A URI that is no URI is refused before the account is looked at.
  for (const auto* uri : {R"("")", R"("   ")", R"("not a uri")", R"("https://x\n")",
                          R"("https://exa mple.com")", R"x("javascript:alert(1)")x", R"("x")",
                          R"(":nothing")", R"("1http://x")", R"(42)"}) {
    auto bad = app_call(key, "POST", "/api/screen-pop",
                        std::string{R"({"dialpad_user_id":1,"screen_pop_uri":)"} + uri + "}");
    EXPECT_EQ(bad.status, 400) << uri;
    EXPECT_NE(bad.body.find("screen_pop_uri"), std::string::npos) << bad.body;
  }
  EXPECT_EQ(app_call(key, "POST", "/api/screen-pop",
                     R"({"dialpad_user_id":1,"screen_pop_uri":"salesforce:lead/00Q1"})")
              .status,
            409);
}

TEST_F(api_test, webhook_routed_by_app_key_header) {
  auto app = new_app();
  auto key = new_key(app);
  auto body = ring("by-key-1", 9101, "+15550001111", 1, "2026-01-28T14:00:00Z").dump();
  auto send = [&](const std::string& k) {
    return http_request(server->port(), "POST", "/webhooks/dialpad",
                        {{"Content-Type", "application/json"},
                         {"x-app-api-key", k},
                         {"X-Dialpad-Signature", cti::test::seed_signature(secret, body)}},
                        body);
  };
  EXPECT_EQ(send("raw_" + std::string(64, 'f')).status, 401);
  auto ok = send(key);
  ASSERT_EQ(ok.status, 200) << ok.body;
  ASSERT_TRUE(drained(app));
  EXPECT_EQ(app_call(key, "GET", "/api/calls/9101").status, 200);
}

} // namespace

namespace {

TEST_F(api_test, org_registered_after_an_unknown_org_webhook_routes_at_once) {
  auto app = new_app();
  int64_t org = 200000000 + static_cast<int64_t>(std::random_device{}() % 100000000);
  auto body = json{{"event_type", "call.ring"}, {"event_id", "org-late-1"}, {"call_id", 9301},
                   {"org_id", org}, {"timestamp", "2026-01-28T15:00:00Z"}}.dump();
  auto send = [&] {
    return http_request(server->port(), "POST", "/webhooks/dialpad",
                        {{"Content-Type", "application/json"},
                         {"X-Dialpad-Signature", cti::test::seed_signature(secret, body)}},
                        body);
  };
  EXPECT_EQ(send().status, 404); // no app has this org yet
  ASSERT_EQ(internal("PUT", "/internal/apps/" + app + "/dialpad",
                     json{{"dialpad_org_id", org}}.dump()).status, 200);
  auto r = send();
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(api_test, literal_plus_and_bad_text_in_query_strings) {
  auto app = new_app();
  auto key = new_key(app);
  ASSERT_EQ(post_event(app, ring("plus-1", 9401, "+15557770000", 1, "2026-01-28T16:00:00Z")).status, 200);
  ASSERT_TRUE(drained(app));
  // '+' unencoded, as clients write phone numbers and offsets.
  auto r = app_call(key, "GET", "/api/calls?phone=+15557770000");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r)["data"].size(), 1u);
  auto offset = app_call(key, "GET", "/api/calls?since=2026-01-28T16:30:00+01:00");
  ASSERT_EQ(offset.status, 200) << offset.body;
  EXPECT_EQ(body_of(offset)["data"].size(), 1u); // 15:30Z <= 16:00Z
  // Text that is not UTF-8, or a NUL, is a 400 naming the parameter, not a 500.
  auto bad = app_call(key, "GET", "/api/calls?crm_user_id=%FF%FE");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(body_of(bad)["message"].get<std::string>().find("crm_user_id"), std::string::npos);
  EXPECT_EQ(app_call(key, "GET", "/api/calls?phone=%FF1").status, 400);
  EXPECT_EQ(app_call(key, "PATCH", "/api/calls/9401", R"({"crm_context":{"a":"x\u0000y"}})").status, 400);
  // An empty limit is no limit (API.md writes `?limit=&cursor=`).
  EXPECT_EQ(app_call(key, "GET", "/api/calls?limit=&cursor=").status, 200);
  // Any parameter given empty counts as absent (API.md's export template
  // is `?format=csv|ndjson&since=&until=`).
  auto empty = app_call(key, "GET", "/api/calls?status=&direction=&phone=&crm_user_id=&since=&until=");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(body_of(empty)["data"].size(), body_of(app_call(key, "GET", "/api/calls"))["data"].size());
  EXPECT_EQ(app_call(key, "GET", "/api/calls/export?format=csv&since=&until=").status, 200);
  // A form-encoded number: '%2B' is the number's plus, each '+' a space.
  auto form = app_call(key, "GET", "/api/calls?phone=%2B1+555+777+0000");
  ASSERT_EQ(form.status, 200) << form.body;
  EXPECT_EQ(body_of(form)["data"].size(), 1u);
  EXPECT_EQ(body_of(app_call(key, "GET", "/api/calls?phone=%2B1+(555)+777-0000"))["data"].size(), 1u);
}

TEST_F(api_test, head_of_the_export_sends_headers_only) {
  auto key = new_key(new_app());
  cti::test::raw_connection c{server->port()};
  ASSERT_TRUE(c.write("HEAD /api/calls/export HTTP/1.1\r\nHost: x\r\nx-app-api-key: " + key + "\r\n\r\n"));
  auto r = c.read_response(std::chrono::seconds{5}, true);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.headers["content-type"], "text/csv; charset=utf-8");
  // The GET answer is chunked (its length is not known in advance): no
  // Content-Length claims a length it does not have.
  EXPECT_EQ(r.headers.count("content-length"), 0u);
  // The connection is still usable: nothing but headers was sent.
  ASSERT_TRUE(c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto next = c.read_response(std::chrono::seconds{5});
  EXPECT_EQ(next.status, 200) << next.error;
  EXPECT_EQ(next.body, R"({"message":"CTI Server is running"})");
}

/// An HTTP/1.0 export of `key`'s calls read by a client with a small
/// receive buffer: once the first bytes arrived it reads nothing for
/// `pause`, or, when `trickle` is set, 16 KB every 200 ms for that long;
/// then it reads at full speed to the close (within `deadline`). Answers
/// the CSV lines received.
std::size_t export_lines_read_slowly(uint16_t port, const std::string& key,
                                     std::chrono::milliseconds pause, bool trickle,
                                     std::chrono::milliseconds deadline) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  // A small receive buffer: what the kernel holds on this side does not
  // depend on the host's autotuning.
  int rcvbuf = 65536;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
    if (fd >= 0)
      ::close(fd);
    return 0;
  }
  auto req = "GET /api/calls/export HTTP/1.0\r\nx-app-api-key: " + key + "\r\n\r\n";
  EXPECT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string data;
  char buf[65536];
  auto read_some = [&](std::size_t most) {
    auto n = ::recv(fd, buf, std::min(most, sizeof buf), MSG_DONTWAIT);
    if (n > 0)
      data.append(buf, static_cast<std::size_t>(n));
    return n;
  };
  bool slowed = false;
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    if (read_some(sizeof buf) <= 0)
      break;
    if (!slowed) {
      slowed = true;
      // The behaviour under test: a client that reads nothing, or very
      // little, for a while (the server's buffers fill, its writes wait);
      // the sleeps are its pace, not a synchronisation.
      auto until = std::chrono::steady_clock::now() + pause;
      if (!trickle) {
        std::this_thread::sleep_until(until);
      } else {
        while (std::chrono::steady_clock::now() < until) {
          for (std::size_t got = 0; got < 16384;) {
            auto n = read_some(16384 - got);
            if (n <= 0)
              break;
            got += static_cast<std::size_t>(n);
          }
          std::this_thread::sleep_for(std::chrono::milliseconds{200});
        }
      }
      end = std::chrono::steady_clock::now() + deadline;
    }
  }
  ::close(fd);
  auto head_end = data.find("\r\n\r\n");
  if (head_end == std::string::npos)
    return 0;
  std::size_t lines = 0;
  for (auto at = data.find("\r\n", head_end + 4); at != std::string::npos; at = data.find("\r\n", at + 2))
    ++lines;
  return lines;
}

TEST(export_stream, a_reader_that_pauses_gets_everything_and_one_that_stops_is_cut) {
  // Each interval of the stream watchdog is 1 s here (30 s in production):
  // a write may wait on a reader without progress for four. One interval is
  // also how long the exporter may take for its next page (about 1 MB of
  // CSV here): shorter made the test fail on a loaded machine.
  server_process s{{{"CTI_TEST_STREAM_WATCHDOG_MS", "1000"}}};
  ASSERT_TRUE(s.start()) << s.output();
  auto app = cti::test::create_app_over_http(s.port(), "slow export");
  auto key = cti::test::create_key_over_http(s.port(), app);
  // About 11 MB of CSV (2 KB of CRM context a call): more than the kernel
  // buffers on both sides hold (4 MB at most for the server's), written
  // faster than the pause lasts, so the server's writes wait while the
  // client pauses.
  constexpr int calls = 5000;
  cti::test::query_value(cti::test::database_url(),
                         "INSERT INTO calls (app_id, dialpad_call_id, status, direction, from_number,"
                         " to_number, started_at, crm_context) SELECT $1::uuid, n, 'ended', 'inbound',"
                         " '+15550001111', '+15550002222', now() - n * interval '1 second',"
                         " '{\"note\":\"' || repeat('x', 2000) || '\"}' FROM generate_series(1, $2) n"
                         " RETURNING 1",
                         {app, std::to_string(calls)});
  // A pause of 2.5 s: longer than one interval (until the seventeenth
  // session a write waiting that long cut the stream), shorter than four.
  EXPECT_EQ(export_lines_read_slowly(s.port(), key, 2500ms, false, 60s), calls + 1u) << s.output();
  // A reader that keeps reading a little (80 KB/s) for 6 s, six
  // intervals: one write of the server waits on it for most of that time
  // (a chunk is 500 calls, about 1 MB here), and it is kept, as its kernel
  // keeps acknowledging.
  EXPECT_EQ(export_lines_read_slowly(s.port(), key, 6s, true, 60s), calls + 1u) << s.output();
  EXPECT_EQ(s.output().find("streamed response stalled"), std::string::npos);
  // A client that stops reading for longer than four intervals is cut:
  // reading again, it finds only what the kernel buffers held.
  EXPECT_LT(export_lines_read_slowly(s.port(), key, 7s, false, 60s), calls + 1u);
  EXPECT_NE(s.output().find("streamed response stalled"), std::string::npos);
  EXPECT_EQ(s.stop(SIGTERM), 0);
}

TEST_F(api_test, an_http_1_0_export_is_not_chunked_and_ends_with_the_connection) {
  auto key = new_key(new_app());
  cti::test::raw_connection c{server->port()};
  ASSERT_TRUE(c.write("GET /api/calls/export HTTP/1.0\r\nConnection: keep-alive\r\nx-app-api-key: "
                      + key + "\r\n\r\n"));
  // HTTP/1.0 has no chunked coding: the body runs to the close.
  auto raw = c.read_until_closed(std::chrono::seconds{10});
  ASSERT_FALSE(raw.empty()) << "the connection stayed open";
  auto split = raw.find("\r\n\r\n");
  ASSERT_NE(split, std::string::npos) << raw;
  auto head = raw.substr(0, split);
  auto body = raw.substr(split + 4);
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(head.find("chunked"), std::string::npos) << head;
  EXPECT_EQ(body.rfind("id,", 0), 0u) << body; // the CSV header row, as it is
}

} // namespace
