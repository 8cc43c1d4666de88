// Webhook ingestion through the built binary: signatures, tenant routing,
// limits, durability. Signatures are computed here with OpenSSL directly, an
// oracle independent of the server's own code.

#include <csignal>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/fixture_files.hpp"
#include <nlohmann/json.hpp>
#include <openssl/hmac.h>

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
using cti::test::b64url;
using cti::test::hex;
using cti::test::hmac_raw;
using cti::test::jwt;

namespace {

const std::string secret = "e2e-webhook-secret"; // server_process's DIALPAD_WEBHOOK_SECRET

std::string fixture(const std::string& name) {
  return cti::test::fixture_text(name);
}

/// One server for the suite, with a small webhook body limit.
class webhook_test : public cti::test::shared_server_test<webhook_test> {
public:
  static std::map<std::string, std::string> server_env() {
    return {{"WEBHOOK_MAX_BODY_BYTES", "65536"}};
  }

protected:
  static http_reply post(const std::string& target, const std::string& body,
                         std::map<std::string, std::string> headers = {}) {
    headers.emplace("Content-Type", "application/json");
    return http_request(server->port(), "POST", target, headers, body);
  }

  static http_reply post_seed(const std::string& target, const std::string& body,
                              std::map<std::string, std::string> headers = {}) {
    headers.emplace("X-Dialpad-Signature", hex(hmac_raw(secret, body)));
    return post(target, body, std::move(headers));
  }

  static std::string url() { return cti::test::database_url(); }

  static std::string count_events(const std::string& app) {
    return cti::test::query_value(url(), "SELECT count(*) FROM webhook_events WHERE app_id = $1",
                                  {app});
  }

};

/// An org id no other test run has registered (the test database may be reused).
int64_t fresh_org_id() {
  static std::mt19937_64 rng{std::random_device{}()};
  return static_cast<int64_t>(1'000'000'000 + rng() % 8'000'000'000'000ULL);
}

std::string error_of(const http_reply& r) {
  auto j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : "<" + r.body + ">";
}

} // namespace

TEST_F(webhook_test, a_signed_seed_event_is_stored_before_the_200) {
  auto app = cti::test::create_app(url());
  auto body = fixture("13-seed-call.ring.json");
  auto r = post_seed("/webhooks/dialpad/" + app, body);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["received"], true);
  EXPECT_EQ(j["duplicate"], false);
  ASSERT_TRUE(j["event_id"].is_string());
  // Durable before the answer: the row is there as soon as we look.
  auto id = j["event_id"].get<std::string>();
  EXPECT_EQ(cti::test::query_value(url(),
                                   "SELECT dialpad_event_id || '|' || event_type || '|' || format"
                                   " FROM webhook_events WHERE id = $1",
                                   {id}),
            "evt_5635304278851584_ring|call.ring|seed");
}

TEST_F(webhook_test, a_repeat_delivery_is_a_duplicate_with_the_first_id) {
  auto app = cti::test::create_app(url());
  auto body = fixture("14-seed-call.ended.json");
  auto first = post_seed("/webhooks/dialpad/" + app, body);
  auto second = post_seed("/webhooks/dialpad/" + app, body);
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(second.status, 200);
  EXPECT_EQ(json::parse(second.body)["duplicate"], true);
  EXPECT_EQ(json::parse(second.body)["event_id"], json::parse(first.body)["event_id"]);
  EXPECT_EQ(count_events(app), "1");
}

TEST_F(webhook_test, a_dialpad_jwt_event_is_verified_and_stored_with_a_derived_identity) {
  auto app = cti::test::create_app(url());
  auto payload = json::parse(fixture("01-call-inbound-ringing.json")).dump();
  auto r = post("/webhooks/dialpad/" + app, jwt(payload, secret),
                {{"Content-Type", "application/jwt"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto id = json::parse(r.body)["event_id"].get<std::string>();
  EXPECT_EQ(cti::test::query_value(url(),
                                   "SELECT dialpad_event_id || '|' || event_type || '|' || format"
                                   " FROM webhook_events WHERE id = $1",
                                   {id}),
            "call:5635304278851584:ringing:1769596200420|call.ring|dialpad_jwt");
  // The stored payload is the decoded event, not the token.
  EXPECT_EQ(cti::test::query_value(url(), "SELECT payload->>'state' FROM webhook_events WHERE id = $1",
                                   {id}),
            "ringing");
}

// An identity may have 512 characters (the column counts characters); a
// seed id past that is a 400, a derived one past it is the body's hash.
// Until the twenty-eighth session the intake counted bytes (300 'é' were
// refused) and a Dialpad event with a long state was refused.
TEST_F(webhook_test, identities_are_counted_in_characters_and_a_long_derived_one_is_hashed) {
  auto app = cti::test::create_app(url());
  std::string accented;
  for (int i = 0; i < 512; ++i)
    accented += "\xC3\xA9";
  auto seed = [](const std::string& id) {
    return json{{"event_type", "call.updated"}, {"event_id", id}, {"call_id", 7301}}.dump();
  };
  auto fits = post_seed("/webhooks/dialpad/" + app, seed(accented));
  EXPECT_EQ(fits.status, 200) << fits.body;
  auto past = post_seed("/webhooks/dialpad/" + app, seed(accented + "e"));
  EXPECT_EQ(past.status, 400) << past.body;
  EXPECT_EQ(error_of(past), "bad_request");
  auto token = jwt(json{{"call_id", 7302}, {"state", std::string(600, 's')}, {"event_timestamp", 1}}.dump(),
                   secret);
  auto derived = post("/webhooks/dialpad/" + app, token, {{"Content-Type", "application/jwt"}});
  ASSERT_EQ(derived.status, 200) << derived.body;
  EXPECT_EQ(cti::test::query_value(url(),
                                   "SELECT (dialpad_event_id = encode(sha256(convert_to($2, 'UTF8')), 'hex'))::text"
                                   " || '|' || event_type FROM webhook_events WHERE id = $1",
                                   {json::parse(derived.body)["event_id"].get<std::string>(), token}),
            "true|call.updated");
  EXPECT_EQ(count_events(app), "2");
}

TEST_F(webhook_test, the_hash_identity_of_a_token_ignores_the_blanks_around_it) {
  // No event id, call id or SMS shape: the identity is the SHA-256 of the
  // token text, the same with a trailing newline as without.
  auto app = cti::test::create_app(url());
  auto token = jwt(R"({"kind":"ping","n":)" + std::to_string(fresh_org_id()) + "}", secret);
  auto first = post("/webhooks/dialpad/" + app, token, {{"Content-Type", "application/jwt"}});
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_FALSE(json::parse(first.body)["duplicate"].get<bool>());
  auto again = post("/webhooks/dialpad/" + app, "\r\n" + token + "\n",
                    {{"Content-Type", "application/jwt"}});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(json::parse(again.body)["duplicate"].get<bool>()) << again.body;
  EXPECT_EQ(json::parse(again.body)["event_id"], json::parse(first.body)["event_id"]);
  EXPECT_EQ(count_events(app), "1");
}

TEST_F(webhook_test, a_token_is_read_as_a_token_even_with_a_signature_header) {
  // The format is told from the raw bytes: a stray X-Dialpad-Signature (here
  // even a valid HMAC of the token text) does not make a JWT "seed JSON".
  auto app = cti::test::create_app(url());
  auto payload = json::parse(fixture("02-call-inbound-connected.json")).dump();
  auto token = jwt(payload, secret);
  auto r = post("/webhooks/dialpad/" + app, token,
                {{"Content-Type", "application/jwt"}, {"X-Dialpad-Signature", hex(hmac_raw(secret, token))}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto id = json::parse(r.body)["event_id"].get<std::string>();
  EXPECT_EQ(cti::test::query_value(url(), "SELECT format FROM webhook_events WHERE id = $1", {id}),
            "dialpad_jwt");
  // And the token's own signature still decides.
  auto forged = post("/webhooks/dialpad/" + app, jwt(payload, "other-secret"),
                     {{"X-Dialpad-Signature", hex(hmac_raw(secret, jwt(payload, "other-secret")))}});
  EXPECT_EQ(forged.status, 401);
}

TEST_F(webhook_test, an_empty_or_null_id_is_no_id_not_a_bad_request) {
  // Only ids that cannot be one are refused (hostile_test); "no user" is fine.
  auto app = cti::test::create_app(url());
  auto a = post_seed("/webhooks/dialpad/" + app,
                     R"({"event_type":"call.ring","event_id":"w-empty-user","dialpad_call_id":7301,"user_id":""})");
  EXPECT_EQ(a.status, 200) << a.body;
  auto b = post_seed("/webhooks/dialpad/" + app,
                     R"({"event_type":"call.ring","event_id":"w-null-user","dialpad_call_id":7302,"user_id":null})");
  EXPECT_EQ(b.status, 200) << b.body;
  auto c = post_seed("/webhooks/dialpad/" + app,
                     R"({"event_type":"call.ring","event_id":"w-zero-call","dialpad_call_id":0})");
  EXPECT_EQ(c.status, 400) << c.body;
  EXPECT_NE(c.body.find("dialpad_call_id"), std::string::npos) << c.body;
  EXPECT_EQ(count_events(app), "2");
}

TEST_F(webhook_test, bad_signatures_are_401_and_store_nothing) {
  auto app = cti::test::create_app(url());
  auto body = fixture("13-seed-call.ring.json");
  auto wrong = post("/webhooks/dialpad/" + app, body,
                    {{"X-Dialpad-Signature", hex(hmac_raw("other-secret", body))}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(error_of(wrong), "unauthorized");
  auto payload = json::parse(fixture("01-call-inbound-ringing.json")).dump();
  auto bad_jwt = post("/webhooks/dialpad/" + app, jwt(payload, "other-secret"));
  EXPECT_EQ(bad_jwt.status, 401);
  auto none = post("/webhooks/dialpad/" + app,
                   b64url(R"({"alg":"none","typ":"JWT"})") + "." + b64url(payload) + ".");
  EXPECT_EQ(none.status, 401);
  auto unsigned_json = post("/webhooks/dialpad/" + app, payload);
  EXPECT_EQ(unsigned_json.status, 401);
  EXPECT_EQ(count_events(app), "0");
}

TEST_F(webhook_test, unsigned_json_is_accepted_only_where_the_connection_allows_it) {
  auto app = cti::test::create_app(url());
  cti::test::register_org(url(), app, fresh_org_id(), true);
  auto payload = json::parse(fixture("02-call-inbound-connected.json")).dump();
  auto r = post("/webhooks/dialpad/" + app, payload);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(cti::test::query_value(url(), "SELECT format FROM webhook_events WHERE id = $1",
                                   {json::parse(r.body)["event_id"].get<std::string>()}),
            "dialpad_json");
  // Declared JSON but not JSON: 400, not read as a token with a bad signature.
  for (const char* body : {"not json", "[1,2", ""}) {
    auto bad = post("/webhooks/dialpad/" + app, body);
    EXPECT_EQ(bad.status, 400) << body << ": " << bad.body;
    EXPECT_EQ(error_of(bad), "invalid_json") << body;
  }
  // Without a Content-Type the first byte decides: a token, unsigned here.
  auto token_like = http_request(server->port(), "POST", "/webhooks/dialpad/" + app, {}, "not json");
  EXPECT_EQ(token_like.status, 401) << token_like.body;
  EXPECT_EQ(count_events(app), "1");
}

// Routed by org id, unsigned JSON passes the signature check only for an
// app whose connection allows it. Without such an app the signature check,
// which comes before the org-id routing, answers: 401, not 404 or 403.
TEST_F(webhook_test, unsigned_json_routed_by_org_id_is_401_unless_its_app_allows_it) {
  auto payload = json::parse(fixture("02-call-inbound-connected.json"));
  payload.erase("org_id");
  payload.erase("company_id");
  auto with_org = [&](int64_t org) {
    return post("/webhooks/dialpad", payload.dump(), {{"x-dialpad-org-id", std::to_string(org)}});
  };
  auto nobody = post("/webhooks/dialpad", payload.dump());
  EXPECT_EQ(nobody.status, 401) << nobody.body;
  EXPECT_EQ(error_of(nobody), "unauthorized");
  EXPECT_EQ(with_org(fresh_org_id()).status, 401);
  auto strict = cti::test::create_app(url());
  auto strict_org = fresh_org_id();
  cti::test::register_org(url(), strict, strict_org, false);
  EXPECT_EQ(with_org(strict_org).status, 401);
  auto disabled_strict = cti::test::create_app(url(), "disabled strict", false);
  auto disabled_strict_org = fresh_org_id();
  cti::test::register_org(url(), disabled_strict, disabled_strict_org, false);
  EXPECT_EQ(with_org(disabled_strict_org).status, 401);
  auto disabled = cti::test::create_app(url(), "disabled lenient", false);
  auto disabled_org = fresh_org_id();
  cti::test::register_org(url(), disabled, disabled_org, true);
  EXPECT_EQ(with_org(disabled_org).status, 403);
  auto lenient = cti::test::create_app(url());
  auto lenient_org = fresh_org_id();
  cti::test::register_org(url(), lenient, lenient_org, true);
  auto ok = with_org(lenient_org);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(count_events(lenient), "1");
  // Unsigned and no JSON object, without an org-id header: no org id to
  // find an app that allows it, so the signature check answers (401), not
  // the JSON check after it (400).
  std::string deep = std::string(70, '[') + std::string(70, ']');
  for (const std::string& body : {std::string{"[1,2]"}, deep, std::string{"{\"a\":"}}) {
    auto r = post("/webhooks/dialpad", body);
    EXPECT_EQ(r.status, 401) << body << ": " << r.body;
  }
  // With the header, the app is known first: one that allows unsigned
  // webhooks answers a malformed body 400, as on its own path.
  for (const std::string& body : {std::string{"{\"a\":"}, std::string{"[1,2]"}, deep}) {
    auto r = post("/webhooks/dialpad", body, {{"x-dialpad-org-id", std::to_string(lenient_org)}});
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
    EXPECT_EQ(error_of(r), "invalid_json") << body;
    auto strict_r = post("/webhooks/dialpad", body, {{"x-dialpad-org-id", std::to_string(strict_org)}});
    EXPECT_EQ(strict_r.status, 401) << body << ": " << strict_r.body;
    // A disabled app that takes unsigned webhooks: the JSON's 400 comes
    // before the org-id tenant's 403.
    auto disabled_r = post("/webhooks/dialpad", body, {{"x-dialpad-org-id", std::to_string(disabled_org)}});
    EXPECT_EQ(disabled_r.status, 400) << body << ": " << disabled_r.body;
  }
  EXPECT_EQ(count_events(lenient), "1");
  for (const auto& a : {strict, disabled_strict, disabled})
    EXPECT_EQ(count_events(a), "0");
}

TEST_F(webhook_test, unknown_or_disabled_tenants_are_refused_before_the_signature) {
  auto body = fixture("13-seed-call.ring.json");
  // Unsigned on purpose: the tenant check answers first.
  EXPECT_EQ(post("/webhooks/dialpad/00000000-0000-4000-8000-000000000000", body).status, 404);
  EXPECT_EQ(post("/webhooks/dialpad/not-a-uuid", body).status, 404);
  auto disabled = cti::test::create_app(url(), "disabled", false);
  auto r = post_seed("/webhooks/dialpad/" + disabled, body);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(error_of(r), "forbidden");
  EXPECT_EQ(count_events(disabled), "0");
}

// An app deleted in the database while this node still has it cached (an
// operator's DELETE: the server itself never deletes apps). Its events go
// with it, its next webhook is 404 "unknown tenant" with nothing stored,
// and other apps' webhooks go on. (With the events' per-row foreign key the
// batch holding that webhook failed whole, 500 for every event in it.)
TEST_F(webhook_test, a_webhook_for_an_app_deleted_meanwhile_is_404_and_stores_nothing) {
  auto app = cti::test::create_app(url());
  auto other = cti::test::create_app(url());
  auto ring = [](const std::string& id, int64_t call) {
    return json{{"event_type", "call.ring"}, {"dialpad_event_id", id},
                {"dialpad_call_id", call}, {"direction", "inbound"}}.dump();
  };
  ASSERT_EQ(post_seed("/webhooks/dialpad/" + app, ring("gone-1", 9800001)).status, 200);
  ASSERT_EQ(count_events(app), "1");
  cti::test::query_value(url(), "DELETE FROM apps WHERE id = $1", {app});
  EXPECT_EQ(count_events(app), "0");
  auto r = post_seed("/webhooks/dialpad/" + app, ring("gone-2", 9800002));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(error_of(r), "not_found");
  EXPECT_EQ(count_events(app), "0");
  EXPECT_EQ(post_seed("/webhooks/dialpad/" + other, ring("kept-1", 9800003)).status, 200);
  EXPECT_EQ(count_events(other), "1");
}

TEST_F(webhook_test, routes_by_org_id_from_header_or_payload) {
  auto app = cti::test::create_app(url());
  auto org = fresh_org_id();
  cti::test::register_org(url(), app, org);
  auto body = fixture("13-seed-call.ring.json");
  auto by_header = post_seed("/webhooks/dialpad", body, {{"x-dialpad-org-id", std::to_string(org)}});
  ASSERT_EQ(by_header.status, 200) << by_header.body;
  auto with_company = json::parse(fixture("14-seed-call.ended.json"));
  with_company["company_id"] = org;
  auto by_payload = post_seed("/webhooks/dialpad", with_company.dump());
  ASSERT_EQ(by_payload.status, 200) << by_payload.body;
  EXPECT_EQ(count_events(app), "2");
  auto unknown = post_seed("/webhooks/dialpad", body, {{"x-dialpad-org-id", "99"}});
  EXPECT_EQ(unknown.status, 404);
  auto nobody = post_seed("/webhooks/dialpad", body);
  EXPECT_EQ(nobody.status, 404);
  // The header, when there is one, is the org id: one that names none is an
  // unknown tenant; the payload's org id stands in only for a missing header.
  for (const char* bad : {"abc", "+2002", "2002.0", "1,2", ""}) {
    auto r = post_seed("/webhooks/dialpad", with_company.dump(), {{"x-dialpad-org-id", bad}});
    EXPECT_EQ(r.status, 404) << "'" << bad << "': " << r.body;
    EXPECT_NE(r.body.find("x-dialpad-org-id"), std::string::npos) << r.body;
  }
  EXPECT_EQ(count_events(app), "2");
}

TEST_F(webhook_test, an_invalid_api_key_header_is_401) {
  auto r = post_seed("/webhooks/dialpad", fixture("13-seed-call.ring.json"),
                     {{"x-app-api-key", "raw_" + std::string(64, 'a')}});
  EXPECT_EQ(r.status, 401);
}

// The tenant from an app key header: `x-app-api-key`, or `x-api-key`, the
// app realm's other name (API.md "Authentication"); a key that is not
// valid is 401 under either name; an empty header counts as absent (then
// no tenant: 404). (Until the twenty-sixth session `x-api-key` was not
// read on webhooks: 404 "unknown tenant".)
TEST_F(webhook_test, an_app_key_header_names_the_tenant_under_either_name) {
  auto app = cti::test::create_app_over_http(server->port(), "keyed webhooks");
  auto key = cti::test::create_key_over_http(server->port(), app);
  ASSERT_FALSE(key.empty());
  auto event = [](const std::string& id) {
    auto e = json::parse(fixture("13-seed-call.ring.json"));
    e["dialpad_event_id"] = id;
    return e.dump();
  };
  auto by_app_key = post_seed("/webhooks/dialpad", event("kh-1"), {{"x-app-api-key", key}});
  EXPECT_EQ(by_app_key.status, 200) << by_app_key.body;
  auto by_api_key = post_seed("/webhooks/dialpad", event("kh-2"), {{"x-api-key", key}});
  EXPECT_EQ(by_api_key.status, 200) << by_api_key.body;
  auto wrong = post_seed("/webhooks/dialpad", event("kh-3"),
                         {{"x-api-key", "raw_" + std::string(64, 'b')}});
  EXPECT_EQ(wrong.status, 401) << wrong.body;
  auto empty = post_seed("/webhooks/dialpad", event("kh-4"), {{"x-app-api-key", ""}});
  EXPECT_EQ(empty.status, 404) << empty.body;
  EXPECT_EQ(count_events(app), "2");
}

TEST_F(webhook_test, limits_answer_in_the_contract_order) {
  auto app = cti::test::create_app(url());
  std::string big = R"({"event_type":"call.ring","pad":")" + std::string(70000, 'p') + "\"}";
  // 413 first, even unsigned and with a bad content type.
  auto too_big = post("/webhooks/dialpad/" + app, big, {{"Content-Type", "image/png"}});
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(error_of(too_big), "payload_too_large");
  // 415 before the tenant check.
  auto form = post("/webhooks/dialpad/not-a-uuid", "a=b",
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(form.status, 415);
  EXPECT_EQ(error_of(form), "unsupported_media_type");
  // Signed but not JSON: 400 invalid_json.
  auto not_json = post_seed("/webhooks/dialpad/" + app, "{not json");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(error_of(not_json), "invalid_json");
  auto array = post_seed("/webhooks/dialpad/" + app, "[1,2]");
  EXPECT_EQ(array.status, 400);
  // A byte order mark before good JSON: not JSON either (the parser would
  // skip it; PostgreSQL refused the stored text, a 400 bad_request).
  auto bom = post_seed("/webhooks/dialpad/" + app,
                       "\xEF\xBB\xBF{\"event_type\":\"call.updated\",\"event_id\":\"bom\"}");
  EXPECT_EQ(bom.status, 400) << bom.body;
  EXPECT_EQ(error_of(bom), "invalid_json") << bom.body;
  // Depth: 64 levels are fine, 65 are not.
  auto nest = [](int depth) {
    std::string s = R"({"event_type":"call.updated","event_id":"deep)" + std::to_string(depth)
                    + "\",\"x\":";
    for (int i = 1; i < depth; ++i)
      s += "[";
    s += "1";
    for (int i = 1; i < depth; ++i)
      s += "]";
    return s + "}";
  };
  EXPECT_EQ(post_seed("/webhooks/dialpad/" + app, nest(64)).status, 200);
  auto deep = post_seed("/webhooks/dialpad/" + app, nest(65));
  EXPECT_EQ(deep.status, 400);
  EXPECT_EQ(error_of(deep), "invalid_json");
  EXPECT_EQ(count_events(app), "1");
}

TEST_F(webhook_test, concurrent_deliveries_are_each_acknowledged_once) {
  auto app = cti::test::create_app(url());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        json ev = {{"event_type", "call.ring"},
                   {"event_id", "c-" + std::to_string(t) + "-" + std::to_string(i)},
                   {"dialpad_call_id", 1000 + i}};
        auto r = post_seed("/webhooks/dialpad/" + app, ev.dump());
        if (r.status == 200 && json::parse(r.body)["duplicate"] == false)
          ++ok;
      }
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(count_events(app), "200");
}

TEST(webhook_process_test, database_down_means_503_and_nothing_acknowledged) {
  server_process s;
  ASSERT_TRUE(s.start()) << s.output();
  auto app = cti::test::create_app(cti::test::database_url());
  auto send = [&](const std::string& id) {
    json ev = {{"event_type", "call.ring"}, {"event_id", id}, {"dialpad_call_id", 1}};
    auto body = ev.dump();
    return http_request(s.port(), "POST", "/webhooks/dialpad/" + app,
                        {{"Content-Type", "application/json"},
                         {"X-Dialpad-Signature", hex(hmac_raw(secret, body))}},
                        body);
  };
  ASSERT_EQ(send("before").status, 200); // also warms the tenant cache
  ASSERT_EQ(cti::test::run_env_command("CTI_TEST_PG_STOP"), 0);
  auto down = send("while-down");
  ASSERT_EQ(cti::test::run_env_command("CTI_TEST_PG_START"), 0);
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_EQ(error_of(down), "unavailable");
  EXPECT_FALSE(down.headers["retry-after"].empty());
  // Back without a restart of the server; Dialpad's retry succeeds once.
  int status = 0;
  for (auto until = std::chrono::steady_clock::now() + 10s;
       status != 200 && std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(50ms))
    status = send("while-down").status;
  EXPECT_EQ(status, 200);
  EXPECT_EQ(cti::test::query_value(cti::test::database_url(),
                                   "SELECT count(*) FROM webhook_events WHERE app_id = $1"
                                   " AND dialpad_event_id = 'while-down'",
                                   {app}),
            "1");
  // Processing resumed too: the event stored after the outage is applied.
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(cti::test::database_url(),
                                    "SELECT count(*) FROM webhook_events WHERE app_id = $1"
                                    " AND state = 'processed'",
                                    {app})
             == "2";
    },
    10s));
  EXPECT_EQ(s.stop(SIGTERM), 0);
}
