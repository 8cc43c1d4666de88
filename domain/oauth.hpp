#pragma once

// The pure parts of Dialpad OAuth 2.0: PKCE (RFC 7636, S256), the state, the
// authorize redirect, reading token answers, and the refresh schedule.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/config.hpp"

namespace cti {

/// A PKCE verifier and its S256 challenge.
struct pkce_pair {
  std::string verifier;   ///< base64url of 32 random bytes (43 characters).
  std::string challenge;  ///< base64url(SHA-256(verifier)), no padding.
};

/// base64url(SHA-256(verifier)) without padding (RFC 7636 §4.2, S256).
std::string pkce_challenge(std::string_view verifier);

/// A fresh verifier from the CSPRNG and its challenge.
pkce_pair new_pkce();

/// A fresh authorization `state`: base64url of 32 random bytes.
std::string new_oauth_state();

/// `{base}/oauth2/authorize?response_type=code&client_id=…&redirect_uri=…&scope=…
/// &state=…&code_challenge=…&code_challenge_method=S256`.
std::string authorize_url(const dialpad_env_config& env, const std::string& scope,
                          const std::string& state, const std::string& challenge);

/// What Dialpad's `/oauth2/token` answered.
struct token_answer {
  bool ok = false;                 ///< A 2xx carrying an access token.
  std::string access_token;
  std::string refresh_token;       ///< Empty when Dialpad sent none.
  int64_t expires_in = 0;          ///< Seconds; 0 when absent.
  std::vector<std::string> scopes; ///< From the space-separated `scope`.
  std::string error;               ///< OAuth `error` code, or `http_<status>`.
  /// True when retrying cannot help: the grant itself was refused
  /// (`invalid_grant`). A refused client is a configuration fault, retried.
  bool permanent = false;
};

/// Longest token lifetime believed (a year): a larger `expires_in` is cut.
inline constexpr int64_t max_token_lifetime_seconds = 365LL * 24 * 3600;

/// Reads a token endpoint answer (status and JSON body). Never throws.
token_answer parse_token_answer(int status, std::string_view body);

/// Splits a space-separated scope string.
std::vector<std::string> split_scopes(std::string_view scope);

/// Delay before refresh attempt `failures + 1` after `failures` failed ones
/// in a row: `base`, 2·base, 4·base … capped at 15 minutes (30 s, 1 m, 2 m …
/// with the default base), spread by `jitter` in [0, 1) over ±20 %.
std::chrono::milliseconds refresh_retry_delay(int failures, std::chrono::milliseconds base,
                                              double jitter);

/// When a token issued at `now` that expires at `expires` is first
/// refreshed: `margin` before it expires; a token that lives no longer than
/// the margin (a short-lived grant, or a margin set high), halfway through
/// its life and not within a second of `now`, so that refreshes never run
/// back to back.
std::chrono::system_clock::time_point first_refresh_at(std::chrono::system_clock::time_point now,
                                                       std::chrono::system_clock::time_point expires,
                                                       std::chrono::seconds margin);

/// The longest a refresh is put off after a failure.
inline constexpr std::chrono::minutes refresh_retry_cap{15};

} // namespace cti
