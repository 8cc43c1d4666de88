// OAuth with Dialpad (API.md "OAuth with Dialpad"): the connect redirect
// with PKCE and a single-use state, and the callback that exchanges the
// code, seals the tokens and starts the connection's refresher.

#include <nlohmann/json.hpp>

#include <caf/all.hpp>

#include "actors/dialpad.hpp"
#include "actors/http_handler_state.hpp"
#include "domain/crypto.hpp"
#include "domain/log.hpp"
#include "domain/oauth.hpp"
#include "domain/seal.hpp"
#include "domain/secure_random.hpp"
#include "domain/url.hpp"
#include "domain/uuid.hpp"
#include "domain/validation.hpp"
#include "net/error_response.hpp"

namespace cti {

namespace {

using json = nlohmann::json;

bool accepts(const api_request& req, std::string_view type) {
  const auto* accept = req.header("accept");
  if (accept == nullptr)
    return false;
  // Media types are case-insensitive (RFC 9110 8.3.1); `type` is lowercase.
  return ascii_lower(*accept).find(type) != std::string::npos;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string page(const std::string& title, const std::string& text) {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>" + html_escape(title) + "</title></head>"
         "<body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\">"
         "<h1>" + html_escape(title) + "</h1><p>" + html_escape(text) + "</p></body></html>\n";
}

/// A refusal of the callback: the contract's JSON error, or a page for a
/// browser (a client whose Accept names text/html).
void callback_failure(handler_ptr self, const api_request& req, errc code,
                      const std::string& message, const std::string& app = {}) {
  auto resp = api_response::failure(req.serial, code, message);
  resp.app_id = app;
  if (accepts(req, "text/html")) {
    // Status and headers (Retry-After on a 503) as the JSON error has them.
    net::render_error(resp);
    resp.content_type = "text/html; charset=utf-8";
    resp.body = page("Dialpad was not connected", message);
  }
  reply(self, std::move(resp));
}

/// Starts an authorization for `app`: stores the state's hash and the PKCE
/// verifier, then redirects to Dialpad.
void start_authorization(handler_ptr self, const api_request& req, const std::string& app,
                         const std::string& environment) {
  const auto& cfg = self->state.ctx->cfg;
  const auto& env = dialpad_env(cfg, environment);
  auto pkce = new_pkce();
  auto state = new_oauth_state();
  json args = {{"state_hash", sha256_hex(state)},
               {"environment", environment},
               {"code_verifier", pkce.verifier}};
  auto location = authorize_url(env, cfg.dialpad_scopes, state, pkce.challenge);
  auto serial = req.serial;
  // `redirect=false` (the operator console, whose fetch cannot follow a
  // redirect it needs to open in a window): 200 with the same body.
  const auto* redirect = req.query_param("redirect");
  bool as_json = redirect != nullptr && *redirect == "false";
  self->request(self->state.ctx->pool, std::chrono::seconds{10}, query_atom_v,
                make_query(req, query_kind::oauth_state_create, app, args))
    .then(
      [self, serial, app, location, as_json](db_answer&) {
        api_response resp;
        resp.serial = serial;
        resp.status = as_json ? 200 : 302;
        resp.app_id = app;
        if (!as_json)
          resp.headers.push_back({"Location", location});
        resp.headers.push_back({"Cache-Control", "no-store"});
        resp.body = json{{"location", location}}.dump();
        reply(self, std::move(resp));
      },
      [self, serial, app](caf::error& err) {
        auto resp = api_response::failure(serial, errc_of(err), message_of(err));
        resp.app_id = app;
        reply(self, std::move(resp));
      });
}

/// Revokes at Dialpad the grant a callback obtained and then could not
/// keep (the company lookup failed, or the company is another app's): the
/// tokens were never stored, so nobody would ever use or revoke them, and a
/// retried connect would leave one more live grant behind each time. Best
/// effort, logged.
void revoke_unkept(handler_ptr self, const std::string& app, const std::string& environment,
                   const std::string& access_token, const std::string& request_id) {
  call_dialpad(self, self->state.ctx->http, self->state.ctx->cfg,
               deauthorize_request(dialpad_env(self->state.ctx->cfg, environment), access_token),
               [app, request_id](outbound_response& res) {
        if (res.error.empty() && res.status >= 200 && res.status < 300)
          log::info("Dialpad grant revoked: the callback could not keep it",
                    {{"app_id", app}, {"request_id", request_id}});
        else
          log::warn("Dialpad did not confirm the revocation of a grant the callback could not keep",
                    {{"app_id", app}, {"request_id", request_id},
                     {"error", res.error.empty() ? "http_" + std::to_string(res.status)
                                                 : res.error}});
      });
}

/// The last step of the callback: the tokens are good and the company is
/// known; store them sealed and start the refresher.
void store_connection(handler_ptr self, const api_request& req, const std::string& app,
                      const std::string& environment, const token_answer& tokens,
                      int64_t company_id) {
  const auto& key = self->state.ctx->cfg.database_encryption_key;
  auto expires = std::chrono::system_clock::now()
                 + std::chrono::seconds{tokens.expires_in > 0 ? tokens.expires_in : 3600};
  json args = {{"environment", environment},
               {"dialpad_org_id", company_id},
               {"access_sealed", to_hex(seal(key, tokens.access_token, app))},
               {"expires_at_us", std::chrono::duration_cast<std::chrono::microseconds>(
                                   expires.time_since_epoch()).count()},
               // A token that lives shorter than REFRESH_MARGIN is first
               // refreshed halfway through its life, not at once.
               {"next_refresh_at_us",
                std::chrono::duration_cast<std::chrono::microseconds>(
                  first_refresh_at(std::chrono::system_clock::now(), expires,
                                   std::chrono::seconds{self->state.ctx->cfg.refresh_margin_seconds})
                    .time_since_epoch())
                  .count()},
               // Without a `scope` in the answer the requested scopes were
               // granted (RFC 6749 5.1).
               {"scopes", tokens.scopes.empty() ? split_scopes(self->state.ctx->cfg.dialpad_scopes)
                                                : tokens.scopes}};
  if (!tokens.refresh_token.empty())
    args["refresh_sealed"] = to_hex(seal(key, tokens.refresh_token, app));
  bool wants_json = accepts(req, "application/json");
  auto serial = req.serial;
  self->request(self->state.ctx->pool, std::chrono::seconds{10}, query_atom_v,
                make_query(req, query_kind::dialpad_connect, app, args))
    .then(
      [self, serial, app, wants_json, req](db_answer&) {
        log::info("Dialpad account connected", {{"app_id", app}, {"request_id", req.request_id}});
        self->send(self->state.ctx->dialpad, start_atom_v, app);
        // The org id routes webhooks: the registry forgets what it knew.
        auto finish = [self, serial, app, wants_json] {
          api_response resp;
          resp.serial = serial;
          resp.app_id = app;
          if (wants_json) {
            resp.body = json{{"connected", true}, {"app_id", app}}.dump();
          } else {
            resp.content_type = "text/html; charset=utf-8";
            resp.body = page("Dialpad connected",
                             "The Dialpad account is now connected. You can close this window.");
          }
          reply(self, std::move(resp));
        };
        self->request(self->state.ctx->registry, std::chrono::seconds{5}, invalidate_atom_v, app)
          .then([finish](bool) { finish(); }, [finish](caf::error&) { finish(); });
      },
      [self, req, app, environment, access = tokens.access_token](caf::error& err) {
        auto code = errc_of(err);
        // Nothing was stored when the company is another app's (or the app
        // is gone). Not after a timeout or a lost connection: the row may
        // have been written.
        if (code == errc::conflict || code == errc::not_found)
          revoke_unkept(self, app, environment, access, req.request_id);
        callback_failure(self, req, code, message_of(err), app);
      });
}

/// Asks Dialpad which company the new token belongs to.
void fetch_company(handler_ptr self, const api_request& req, const std::string& app,
                   const std::string& environment, token_answer tokens) {
  const auto& env = dialpad_env(self->state.ctx->cfg, environment);
  outbound_request out;
  out.url = env.base_url + "/api/v2/company";
  out.headers.push_back({"Authorization", "Bearer " + tokens.access_token});
  call_dialpad(self, self->state.ctx->http, self->state.ctx->cfg, std::move(out),
               [self, req, app, environment, tokens](outbound_response& res) {
        auto j = json::parse(res.body, nullptr, false);
        std::optional<int64_t> id;
        if (res.error.empty() && res.status == 200 && j.is_object() && j.contains("id"))
          id = json_dialpad_id(j["id"]);
        if (!id) {
          log::warn("Dialpad company lookup failed",
                    {{"app_id", app}, {"request_id", req.request_id},
                     {"error", res.error.empty() ? "http_" + std::to_string(res.status)
                                                 : res.error}});
          revoke_unkept(self, app, environment, tokens.access_token, req.request_id);
          callback_failure(self, req, errc::upstream_failed,
                           "Dialpad did not tell which company the account belongs to", app);
          return;
        }
        store_connection(self, req, app, environment, tokens, *id);
      });
}

/// Exchanges the authorization code (with the PKCE verifier) for tokens.
void exchange_code(handler_ptr self, const api_request& req, const std::string& app,
                   const std::string& environment, const std::string& verifier,
                   const std::string& code) {
  const auto& env = dialpad_env(self->state.ctx->cfg, environment);
  outbound_request out;
  out.method = "POST";
  out.url = env.base_url + "/oauth2/token";
  out.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  out.body = form_encode({{"grant_type", "authorization_code"},
                          {"code", code},
                          {"redirect_uri", env.redirect_uri},
                          {"client_id", env.client_id},
                          {"client_secret", env.client_secret},
                          {"code_verifier", verifier}});
  call_dialpad(self, self->state.ctx->http, self->state.ctx->cfg, std::move(out),
               [self, req, app, environment](outbound_response& res) {
        token_answer tokens;
        if (res.error.empty())
          tokens = parse_token_answer(res.status, res.body);
        else
          tokens.error = res.error;
        if (!tokens.ok) {
          log::warn("Dialpad refused the authorization code",
                    {{"app_id", app}, {"error", tokens.error}, {"request_id", req.request_id}});
          callback_failure(self, req, errc::upstream_failed,
                           "Dialpad did not accept the authorization (" + tokens.error + ")", app);
          return;
        }
        fetch_company(self, req, app, environment, std::move(tokens));
      });
}

} // namespace

void handle_oauth_connect(handler_ptr self, const api_request& req) {
  auto proceed = [self, req](const std::string& caller_app) {
    const auto* raw = req.query_param("app_id");
    if (raw == nullptr || !is_uuid(*raw)) {
      reply_bad_request(self, req, "app_id must be the app's id (a UUID)");
      return;
    }
    std::string app = lowercase_uuid(*raw);
    if (!caller_app.empty() && caller_app != app) {
      reply(self, api_response::failure(req.serial, errc::forbidden,
                                        "the API key belongs to another app"));
      return;
    }
    const auto* env_raw = req.query_param("environment");
    std::string environment = env_raw == nullptr || env_raw->empty() ? "production" : *env_raw;
    if (environment != "production" && environment != "sandbox") {
      reply_bad_request(self, req, "environment must be sandbox or production");
      return;
    }
    if (const auto* redirect = req.query_param("redirect");
        redirect != nullptr && *redirect != "true" && *redirect != "false") {
      reply_bad_request(self, req, "redirect must be true or false");
      return;
    }
    const auto& env = dialpad_env(self->state.ctx->cfg, environment);
    if (env.client_id.empty() || env.redirect_uri.empty()) {
      std::string prefix = environment == "sandbox" ? "DIALPAD_SANDBOX_" : "DIALPAD_PROD_";
      reply_bad_request(self, req, "Dialpad " + environment + " OAuth is not configured ("
                                     + prefix + "CLIENT_ID and " + prefix + "REDIRECT_URI)");
      return;
    }
    start_authorization(self, req, app, environment);
  };
  // The internal bearer, or the key of that same app.
  if (req.header("authorization") != nullptr) {
    if (check_internal(self, req))
      proceed({});
    return;
  }
  with_app(self, req, [proceed](const std::string& app) { proceed(app); });
}

void handle_oauth_callback(handler_ptr self, const api_request& req) {
  const auto* state = req.query_param("state");
  if (state == nullptr || state->empty() || state->size() > 512) {
    callback_failure(self, req, errc::bad_request, "the state parameter is missing");
    return;
  }
  self->request(self->state.ctx->pool, std::chrono::seconds{10}, query_atom_v,
                make_query(req, query_kind::oauth_state_consume, {}, json::object(),
                           sha256_hex(*state)))
    .then(
      [self, req](db_answer& ans) {
        auto j = json::parse(ans.body, nullptr, false);
        if (!j.is_object()) {
          callback_failure(self, req, errc::internal, "unexpected answer");
          return;
        }
        auto app = j.value("app_id", "");
        if (!j.value("fresh", false)) {
          callback_failure(self, req, errc::bad_request,
                           "the authorization expired; start again", app);
          return;
        }
        if (const auto* error = req.query_param("error")) {
          bool plain = !error->empty() && error->size() <= 64
                       && error->find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos;
          callback_failure(self, req, errc::bad_request,
                           "Dialpad did not grant access ("
                             + (plain ? *error : std::string{"error"}) + ")",
                           app);
          return;
        }
        const auto* code = req.query_param("code");
        if (code == nullptr || code->empty() || code->size() > 2048) {
          callback_failure(self, req, errc::bad_request, "the code parameter is missing", app);
          return;
        }
        exchange_code(self, req, app, j.value("environment", "production"),
                      j.value("code_verifier", ""), *code);
      },
      [self, req](caf::error& err) {
        if (errc_of(err) == errc::bad_request)
          callback_failure(self, req, errc::bad_request,
                           "unknown or already used authorization state");
        else
          callback_failure(self, req, errc_of(err), message_of(err));
      });
}

} // namespace cti
