#pragma once

// A fake Dialpad for end-to-end tests: a plain-HTTP server on 127.0.0.1 that
// plays OAuth 2.0 (authorization code with PKCE, refresh with rotation,
// deauthorize) and a few /api/v2 endpoints, and records every request so the
// test can inspect what the server under test sent. Written independently of
// the server's own code (OpenSSL and Boost.Beast only).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cti::test {

/// One request the fake received.
struct fake_request {
  std::string method;                         ///< "GET", "POST", ...
  std::string path;                           ///< The target without its query.
  std::map<std::string, std::string> query;   ///< Decoded query parameters.
  std::map<std::string, std::string> form;    ///< Decoded urlencoded body (empty otherwise).
  std::map<std::string, std::string> headers; ///< Keyed by lowercase name.
  std::string body;                           ///< The raw body.
};

/// How the token endpoint answers one kind of grant.
enum class token_mode {
  ok,           ///< Validates the grant and issues tokens.
  fail_500,     ///< 500 {"error":"server_error"}.
  timeout,      ///< Holds the request unanswered (30 s or until destroyed), then closes.
  invalid_grant ///< 400 {"error":"invalid_grant", ...}.
};

/// The fake Dialpad server; serves on its own threads until destroyed.
class fake_dialpad {
public:
  /// Binds 127.0.0.1 on a free port and starts serving.
  fake_dialpad();
  /// Stops promptly: closes every connection (releasing held requests) and
  /// joins every thread.
  ~fake_dialpad();
  fake_dialpad(const fake_dialpad&) = delete;
  fake_dialpad& operator=(const fake_dialpad&) = delete;

  /// The port the fake listens on.
  uint16_t port() const;
  /// "http://127.0.0.1:<port>".
  std::string base_url() const;
  /// The only client_id the fake accepts.
  std::string client_id() const { return "fake-client-id"; }
  /// The only client_secret the fake accepts.
  std::string client_secret() const { return "fake-client-secret"; }

  /// The redirect_uri the authorize URL and the code exchange must carry.
  void set_redirect_uri(std::string uri);
  /// expires_in (seconds) of tokens issued from now on; default 3600.
  void set_expires_in(int seconds);
  /// `scope` of token answers from now on; empty leaves it out.
  void set_scope(std::string scope);
  /// Whether token answers carry a refresh_token (no offline_access); default true.
  void set_issue_refresh_tokens(bool issue);
  /// Behaviour of grant_type=authorization_code; default ok.
  void set_code_mode(token_mode m);
  /// Behaviour of grant_type=refresh_token; default ok.
  void set_refresh_mode(token_mode m);
  /// The id GET /api/v2/company answers; default 777001.
  void set_company_id(int64_t id);
  /// The status GET /api/v2/company answers; default 200 (with the id).
  void set_company_status(int status);
  /// The status POST /api/v2/users/{id}/screenpop answers; default 200.
  void set_screenpop_status(int status);
  /// The pages GET /api/v2/call serves (each a JSON array text, served
  /// verbatim as "items"); when `first_answer_429`, the next call request
  /// that passes the bearer check gets 429 with Retry-After: 1 instead.
  void set_call_pages(std::vector<std::string> pages_json_items, bool first_answer_429);

  /// Plays the user approving access in the browser: checks the authorize
  /// URL our server redirected to and returns a fresh single-use code bound
  /// to its code_challenge and redirect_uri, or "" with `*error` set.
  std::string approve(const std::string& authorize_url, std::string* error = nullptr);

  /// Every request so far, in arrival order.
  std::vector<fake_request> requests() const;
  /// How many requests so far had this method and path.
  int count(const std::string& method, const std::string& path) const;
  /// The newest access token issued, "" if none.
  std::string current_access_token() const;
  /// The newest refresh token issued (the only one still valid), "" if none.
  std::string current_refresh_token() const;
  /// Successful refresh_token grants so far.
  int refresh_grants() const;

  /// Polls `pred` every 10 ms until it is true or `deadline` passed;
  /// returns its last value.
  static bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds deadline);

private:
  struct impl;
  std::unique_ptr<impl> d_;
};

} // namespace cti::test
