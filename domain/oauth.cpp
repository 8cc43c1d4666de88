#include "domain/oauth.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>
#include <openssl/sha.h>

#include "domain/secure_random.hpp"
#include "domain/url.hpp"
#include "domain/webhook_auth.hpp"

namespace cti {

std::string pkce_challenge(std::string_view verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest);
  return base64url_encode(
    std::string_view{reinterpret_cast<const char*>(digest), sizeof digest});
}

pkce_pair new_pkce() {
  pkce_pair p;
  p.verifier = base64url_encode(random_bytes(32));
  p.challenge = pkce_challenge(p.verifier);
  return p;
}

std::string new_oauth_state() {
  return base64url_encode(random_bytes(32));
}

std::string authorize_url(const dialpad_env_config& env, const std::string& scope,
                          const std::string& state, const std::string& challenge) {
  return env.base_url + "/oauth2/authorize?"
         + form_encode({{"response_type", "code"},
                        {"client_id", env.client_id},
                        {"redirect_uri", env.redirect_uri},
                        {"scope", scope},
                        {"state", state},
                        {"code_challenge", challenge},
                        {"code_challenge_method", "S256"}});
}

std::vector<std::string> split_scopes(std::string_view scope) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < scope.size()) {
    auto j = scope.find(' ', i);
    if (j == std::string_view::npos)
      j = scope.size();
    if (j > i)
      out.emplace_back(scope.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

token_answer parse_token_answer(int status, std::string_view body) {
  token_answer out;
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  auto text = [&](const char* name) -> std::string {
    if (!j.is_object())
      return {};
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
  };
  if (status >= 200 && status < 300) {
    out.access_token = text("access_token");
    out.refresh_token = text("refresh_token");
    if (j.is_object()) {
      auto e = j.find("expires_in");
      if (e != j.end() && e->is_number_integer())
        out.expires_in = std::max<int64_t>(0, e->get<int64_t>());
      else if (e != j.end() && e->is_string())
        out.expires_in = std::max<int64_t>(0, std::atoll(e->get<std::string>().c_str()));
    }
    out.expires_in = std::min<int64_t>(out.expires_in, max_token_lifetime_seconds);
    out.scopes = split_scopes(text("scope"));
    out.ok = !out.access_token.empty();
    if (!out.ok)
      out.error = "no_access_token";
    return out;
  }
  out.error = text("error");
  if (out.error.empty() || out.error.size() > 64
      || !std::all_of(out.error.begin(), out.error.end(),
                      [](unsigned char c) { return std::isalnum(c) || c == '_'; }))
    out.error = "http_" + std::to_string(status);
  // Only a refused grant is final: invalid_client / unauthorized_client say
  // our client credentials are wrong (a configuration fault to fix, after
  // which every tenant's refresh token works again). RFC 6749 sends
  // invalid_grant with 400; a server error that names it (5xx) is Dialpad
  // failing, retried with backoff like any other failure.
  out.permanent = out.error == "invalid_grant" && status >= 400 && status < 500;
  return out;
}

std::chrono::system_clock::time_point first_refresh_at(std::chrono::system_clock::time_point now,
                                                       std::chrono::system_clock::time_point expires,
                                                       std::chrono::seconds margin) {
  auto due = expires - margin;
  if (due > now)
    return due;
  auto half = now + (expires - now) / 2;
  return std::max(half, now + std::chrono::system_clock::duration{std::chrono::seconds{1}});
}

std::chrono::milliseconds refresh_retry_delay(int failures, std::chrono::milliseconds base,
                                              double jitter) {
  const double cap = std::chrono::duration<double, std::milli>(refresh_retry_cap).count();
  int exponent = std::clamp(failures - 1, 0, 30);
  double ms = std::min(static_cast<double>(base.count()) * std::pow(2.0, exponent), cap);
  double factor = 0.8 + 0.4 * std::clamp(jitter, 0.0, 0.999999);
  return std::chrono::milliseconds{static_cast<long long>(std::min(ms * factor, cap))};
}

} // namespace cti
