// The operator console: its files (`GET /console…`, no credentials: they
// hold no data), the apps overview it lists (`GET /internal/console/apps`)
// and the tickets that open its WebSocket view of an app
// (`POST /internal/console/stream-ticket`). Everything with data behind it
// needs the internal bearer, which the page keeps in sessionStorage.

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/http_handler_state.hpp"
#include "domain/console_assets.hpp"
#include "domain/console_ticket.hpp"
#include "domain/secure_random.hpp"
#include "domain/time_format.hpp"
#include "domain/uuid.hpp"

namespace cti {

namespace {

/// The page runs only its own script and style, talks only to its own
/// origin, and is never framed.
constexpr const char* console_csp =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

} // namespace

void handle_console(handler_ptr self, const api_request& req) {
  const auto* asset = req.path_param("asset");
  const auto* file = find_console_asset(asset == nullptr ? "index.html" : std::string_view{*asset});
  if (file == nullptr) {
    reply(self, api_response::failure(req.serial, errc::not_found, "no such console file"));
    return;
  }
  api_response resp;
  resp.serial = req.serial;
  resp.status = 200;
  resp.content_type = std::string{file->content_type};
  resp.body = std::string{file->body};
  resp.headers.push_back({"Content-Security-Policy", console_csp});
  resp.headers.push_back({"X-Content-Type-Options", "nosniff"});
  resp.headers.push_back({"X-Frame-Options", "DENY"});
  resp.headers.push_back({"Referrer-Policy", "no-referrer"});
  // Revalidated on every load: an upgraded server serves its own console.
  resp.headers.push_back({"Cache-Control", "no-cache"});
  reply(self, std::move(resp));
}

void handle_console_apps(handler_ptr self, const api_request& req) {
  if (!check_internal(self, req))
    return;
  answer_query(self, req.serial, make_query(req, query_kind::console_apps, {}));
}

void handle_console_ticket(handler_ptr self, const api_request& req) {
  if (!check_internal(self, req))
    return;
  auto body = body_object(self, req);
  if (!body)
    return;
  auto it = body->find("app_id");
  if (it == body->end() || !it->is_string() || !is_uuid(it->get<std::string>())) {
    reply_bad_request(self, req, "app_id must be the app's id (a UUID)");
    return;
  }
  std::string app = lowercase_uuid(it->get<std::string>());
  auto serial = req.serial;
  // Only for an app that exists (404 otherwise, as everywhere).
  self->request(self->state.ctx->pool, std::chrono::seconds{10}, query_atom_v,
                make_query(req, query_kind::app_get, app))
    .then(
      [self, serial, app](db_answer& ans) {
        if (ans.status != 200) {
          reply(self, api_response::failure(serial, errc::not_found, "no such app"));
          return;
        }
        auto now = std::chrono::system_clock::now();
        auto expires_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            now.time_since_epoch()).count()
                          + console_ticket_lifetime_ms;
        nlohmann::ordered_json out;
        out["ticket"] = make_console_ticket(self->state.ctx->cfg.internal_api_secret, app,
                                            expires_ms, random_hex(8));
        out["app_id"] = app;
        out["expires_at"] = format_rfc3339(
          timestamp{std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::milliseconds{expires_ms})});
        auto resp = api_response::json(serial, 200, out.dump());
        resp.app_id = app;
        resp.headers.push_back({"Cache-Control", "no-store"});
        reply(self, std::move(resp));
      },
      [self, serial](caf::error& err) { reply_error(self, serial, err); });
}

} // namespace cti
