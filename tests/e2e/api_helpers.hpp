#pragma once

// Calls the e2e suites share against a server_process: the internal API
// with its bearer, tenants and keys created over HTTP, signed webhooks.

#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/server_process.hpp"
#include "tests/e2e/webhook_signing.hpp"
#include "tests/integration/test_db.hpp"

namespace cti::test {

/// server_process's DIALPAD_WEBHOOK_SECRET and INTERNAL_API_SECRET.
inline const std::string e2e_webhook_secret = "e2e-webhook-secret";
inline const std::string e2e_bearer = "Bearer e2e-internal-secret-0123456789";

/// An internal API call (bearer set; JSON content type when there is a body).
inline http_reply internal_call(uint16_t port, const std::string& method,
                                const std::string& target, const std::string& body = {},
                                std::map<std::string, std::string> headers = {}) {
  headers.emplace("Authorization", e2e_bearer);
  if (!body.empty())
    headers.emplace("Content-Type", "application/json");
  return http_request(port, method, target, headers, body);
}

/// An app API call with `key` (JSON content type when there is a body).
inline http_reply app_call(uint16_t port, const std::string& key, const std::string& method,
                           const std::string& target, const std::string& body = {}) {
  std::map<std::string, std::string> headers{{"x-app-api-key", key}};
  if (!body.empty())
    headers.emplace("Content-Type", "application/json");
  return http_request(port, method, target, headers, body);
}

/// A new app, created over HTTP; its id.
inline std::string create_app_over_http(uint16_t port, const std::string& name = "acme") {
  auto r = internal_call(port, "POST", "/internal/apps", nlohmann::json{{"name", name}}.dump());
  EXPECT_EQ(r.status, 201) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j["id"].is_string() ? j["id"].get<std::string>() : std::string{};
}

/// A new API key for `app`, created over HTTP (the plain key).
inline std::string create_key_over_http(uint16_t port, const std::string& app) {
  auto r = internal_call(port, "POST", "/internal/apps/" + app + "/api-key");
  EXPECT_EQ(r.status, 201) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() && j["api_key"].is_string() ? j["api_key"].get<std::string>() : std::string{};
}

/// A seed-format webhook for `app`, signed with the server's secret.
inline http_reply post_signed_event(uint16_t port, const std::string& app, const std::string& body) {
  return http_request(port, "POST", "/webhooks/dialpad/" + app,
                      {{"Content-Type", "application/json"},
                       {"X-Dialpad-Signature", seed_signature(e2e_webhook_secret, body)}},
                      body);
}

/// True once `app`'s queue holds no pending event (asked over the internal
/// API) within `deadline`.
inline bool queue_drained(uint16_t port, const std::string& app,
                          std::chrono::milliseconds deadline = std::chrono::seconds{10}) {
  return eventually(
    [&] {
      auto r = internal_call(port, "GET", "/internal/apps/" + app + "/events?state=pending");
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      return r.status == 200 && j.is_object() && j["data"].empty();
    },
    deadline);
}

} // namespace cti::test
