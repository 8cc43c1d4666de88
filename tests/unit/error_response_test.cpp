#include "net/error_response.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using cti::errc;

TEST(error_response, maps_every_code_to_its_status) {
  EXPECT_EQ(cti::net::status_of(errc::bad_request), 400);
  EXPECT_EQ(cti::net::status_of(errc::invalid_json), 400);
  EXPECT_EQ(cti::net::status_of(errc::unauthorized), 401);
  EXPECT_EQ(cti::net::status_of(errc::forbidden), 403);
  EXPECT_EQ(cti::net::status_of(errc::not_found), 404);
  EXPECT_EQ(cti::net::status_of(errc::conflict), 409);
  EXPECT_EQ(cti::net::status_of(errc::payload_too_large), 413);
  EXPECT_EQ(cti::net::status_of(errc::unsupported_media_type), 415);
  EXPECT_EQ(cti::net::status_of(errc::rate_limited), 429);
  EXPECT_EQ(cti::net::status_of(errc::internal), 500);
  EXPECT_EQ(cti::net::status_of(errc::upstream_failed), 502);
  EXPECT_EQ(cti::net::status_of(errc::db_unavailable), 503);
  EXPECT_EQ(cti::net::status_of(errc::timeout), 503);
}

TEST(error_response, body_has_exactly_error_and_message) {
  auto resp = cti::net::make_error_response(7, errc::not_found, "no such call");
  EXPECT_EQ(resp.status, 404);
  EXPECT_EQ(resp.serial, 7u);
  EXPECT_EQ(resp.content_type, "application/json; charset=utf-8");
  auto j = nlohmann::json::parse(resp.body);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(j["error"], "not_found");
  EXPECT_EQ(j["message"], "no such call");
}

TEST(error_response, unavailable_carries_retry_after) {
  auto resp = cti::net::make_error_response(1, errc::db_unavailable, "");
  EXPECT_EQ(resp.status, 503);
  EXPECT_EQ(nlohmann::json::parse(resp.body)["error"], "unavailable");
  bool has_retry_after = false;
  for (const auto& h : resp.headers)
    has_retry_after |= h.name == "Retry-After" && !h.value.empty();
  EXPECT_TRUE(has_retry_after);
}

TEST(error_response, timeout_is_reported_as_unavailable) {
  auto resp = cti::net::make_error_response(1, errc::timeout, "slow");
  EXPECT_EQ(nlohmann::json::parse(resp.body)["error"], "unavailable");
}

TEST(error_response, client_errors_carry_no_retry_after) {
  auto resp = cti::net::make_error_response(1, errc::bad_request, "limit must be 1..500");
  EXPECT_TRUE(resp.headers.empty());
  EXPECT_EQ(nlohmann::json::parse(resp.body)["error"], "bad_request");
}

TEST(error_response, escapes_and_survives_invalid_utf8_in_messages) {
  auto body = cti::net::error_body("bad_request", std::string{"quote \" and \xff byte"});
  auto j = nlohmann::json::parse(body, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_NE(j["message"].get<std::string>().find("quote \""), std::string::npos);
}

TEST(error_response, a_401_challenge_names_the_realm_that_guards_the_path) {
  const std::string internal = R"(Bearer realm="cti-internal")";
  const std::string app = R"(ApiKey realm="cti-app", header="x-app-api-key")";
  EXPECT_EQ(cti::net::auth_challenge("/internal/apps"), internal);
  EXPECT_EQ(cti::net::auth_challenge("/internal"), internal);
  EXPECT_EQ(cti::net::auth_challenge("/metrics"), internal);
  EXPECT_EQ(cti::net::auth_challenge("/api/calls/42"), app);
  EXPECT_EQ(cti::net::auth_challenge("/api"), app);
  EXPECT_EQ(cti::net::auth_challenge("/ws"), app);
  EXPECT_EQ(cti::net::auth_challenge("/webhooks/dialpad/x"),
            R"(Signature realm="dialpad-webhooks", )" + app);
  EXPECT_EQ(cti::net::auth_challenge("/auth/dialpad/connect"), internal + ", " + app);
  EXPECT_EQ(cti::net::auth_challenge("/authorize"), internal + ", " + app);
  // A prefix is a whole segment: "/apix" is not under "/api".
  EXPECT_EQ(cti::net::auth_challenge("/apix"), internal);
}
