#include "net/error_response.hpp"

#include <nlohmann/json.hpp>

namespace cti::net {

uint16_t status_of(errc code) {
  switch (code) {
    case errc::none: return 200;
    case errc::db_unavailable: return 503;
    case errc::conflict: return 409;
    case errc::not_found: return 404;
    case errc::bad_request: return 400;
    case errc::invalid_json: return 400;
    case errc::unauthorized: return 401;
    case errc::forbidden: return 403;
    case errc::payload_too_large: return 413;
    case errc::unsupported_media_type: return 415;
    case errc::rate_limited: return 429;
    case errc::timeout: return 503;
    case errc::upstream_failed: return 502;
    case errc::internal: return 500;
  }
  return 500;
}

std::string error_body(std::string_view code, std::string_view message) {
  nlohmann::json j = {{"error", code}, {"message", message}};
  // Replace invalid UTF-8 rather than throw: messages may quote client input.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void render_error(api_response& resp) {
  auto code = resp.error;
  resp.status = status_of(code);
  // A timeout waiting on another actor is, to the client, a brief outage.
  auto name = code == errc::timeout ? std::string{"unavailable"} : to_string(code);
  auto message = resp.error_message.empty() ? name : resp.error_message;
  resp.body = error_body(name, message);
  resp.content_type = "application/json; charset=utf-8";
  // A caller that knows the wait (a spent budget) has set its own.
  bool has_retry_after = false;
  for (const auto& header : resp.headers)
    has_retry_after = has_retry_after || header.name == "Retry-After";
  if ((code == errc::db_unavailable || code == errc::timeout) && !has_retry_after)
    resp.headers.push_back({"Retry-After", "5"});
  resp.error = errc::none;
  resp.error_message.clear();
}

api_response make_error_response(uint64_t serial, errc code, std::string message) {
  auto resp = api_response::failure(serial, code, std::move(message));
  render_error(resp);
  return resp;
}

std::string_view auth_challenge(std::string_view path) {
  auto under = [&](std::string_view root) {
    return path == root || (path.starts_with(root) && path.size() > root.size()
                            && path[root.size()] == '/');
  };
  static constexpr std::string_view internal = R"(Bearer realm="cti-internal")";
  static constexpr std::string_view app = R"(ApiKey realm="cti-app", header="x-app-api-key")";
  if (under("/api") || path == "/ws")
    return app;
  // A webhook's tenant may also be named by an app key.
  if (under("/webhooks"))
    return R"(Signature realm="dialpad-webhooks", ApiKey realm="cti-app", header="x-app-api-key")";
  // The OAuth start (and its alias) takes the internal bearer or the app's own key.
  if (under("/auth") || path == "/authorize")
    return R"(Bearer realm="cti-internal", ApiKey realm="cti-app", header="x-app-api-key")";
  return internal;
}

} // namespace cti::net
