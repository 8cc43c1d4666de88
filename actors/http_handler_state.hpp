#pragma once

// Internal to the HTTP handler's files (http_handler.cpp and the endpoint
// groups it dispatches to): the handler's state and shared helpers.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "actors/messages.hpp"
#include "actors/node_context.hpp"

namespace cti {

/// One connection's view of the node.
struct http_handler_state {
  static inline const char* name = "http_handler";
  std::shared_ptr<const node_context> ctx;
  std::weak_ptr<session_sink> sink;
};

/// The handler's self pointer, as endpoint functions receive it.
using handler_ptr = http_handler_actor::stateful_pointer<http_handler_state>;

/// Sends `resp` to the client (dropped when the connection is gone).
void reply(handler_ptr self, api_response resp);

/// Answers `err` (a failed request to another actor) with its mapped status.
void reply_error(handler_ptr self, uint64_t serial, const caf::error& err);

/// Answers a wrong (present but invalid) credential from `remote`: 401 with
/// `message`, counted against the address; 429 (with Retry-After) instead
/// while the address is past AUTH_FAILURES_PER_MINUTE. A right credential
/// never comes here, so it is never braked.
void refuse_credential(handler_ptr self, uint64_t serial, const std::string& remote,
                       std::string message);

/// True when `req` carries the internal bearer; otherwise answers 401.
bool check_internal(handler_ptr self, const api_request& req);

/// The `{name}` path parameter when it is a UUID (lowercased); else answers
/// 404 "no such <what>".
std::optional<std::string> uuid_param(handler_ptr self, const api_request& req,
                                      std::string_view name, const char* what);

/// Answers 400 bad_request with `message`.
void reply_bad_request(handler_ptr self, const api_request& req, std::string message);

/// The request body as a JSON object; otherwise answers 415 (a content type
/// that is not JSON) or 400 invalid_json and returns nothing.
std::optional<nlohmann::json> body_object(handler_ptr self, const api_request& req);

/// A REST query for the pool: `args` (validated) as JSON text, the
/// request id for audit rows.
db_query make_query(const api_request& req, query_kind kind, std::string app_id,
                    const nlohmann::json& args, std::string target = {});

/// The same, without arguments.
db_query make_query(const api_request& req, query_kind kind, std::string app_id);

/// Validates the voicemail list's filters (dialpad_user_id, crm_user_id,
/// since, until, callback_status) from the query into `args`; false after
/// answering 400 naming the first bad one. (The app API's and the internal
/// API's lists take the same; defined in app_api.cpp.)
bool read_voicemail_filters(handler_ptr self, const api_request& req, nlohmann::json& args);

/// Reads `limit` and `cursor` (signed for list `kind` of `app_id`) into
/// `args` (`limit`, `after_us`, `after_id`); answers 400 naming the
/// parameter and returns false on a bad value.
bool page_args(handler_ptr self, const api_request& req, query_kind kind,
               const std::string& app_id, nlohmann::json& args);

/// Authenticates the app key of `req` (x-app-api-key, else x-api-key):
/// 401 when missing or wrong, 403 when the app is disabled; otherwise runs
/// `next` with the app id. One bcrypt per key per node; repeat requests are
/// served from the tenant cache without an actor round trip.
void with_app(handler_ptr self, const api_request& req,
              std::function<void(const std::string& app_id)> next);

/// The app key header of `req`: `x-app-api-key`, else `x-api-key`; an
/// empty header counts as absent (it must not hide the other). Null: none.
const std::string* app_key_header(const api_request& req);

/// Like `with_app`, with the key given (e.g. the `api_key` query parameter
/// of `/ws`); null: missing.
void with_app_key(handler_ptr self, const api_request& req, const std::string* key,
                  std::function<void(const std::string& app_id)> next);

/// Runs `q` on the pool and answers its status and body (publishing what it
/// applied to the app's stream); `app_id` is logged with the request.
void answer_query(handler_ptr self, uint64_t serial, db_query q, std::string app_id = {});

/// Like `answer_query`, but first lets `then` see the answer (to invalidate
/// caches before the client hears of the change).
void answer_query_then(handler_ptr self, uint64_t serial, db_query q,
                       std::function<void(db_answer&, std::function<void()>)> then);

/// `POST /webhooks/dialpad` and `POST /webhooks/dialpad/{app_id}`.
void handle_webhook(handler_ptr self, api_request&& req);

/// `GET /internal/apps/{app_id}/events`.
void handle_app_events(handler_ptr self, const api_request& req);

/// `GET /internal/events/{event_id}`.
void handle_event(handler_ptr self, const api_request& req);

/// `POST /internal/events/{event_id}/replay`.
void handle_event_replay(handler_ptr self, const api_request& req);

/// `/internal/apps…` (apps, Dialpad connection, API keys, user mappings,
/// voicemails): every internal endpoint of issue 4.
void handle_internal_apps(handler_ptr self, const api_request& req);

/// `/api/*` (calls, voicemails, messages, export, screen pop).
void handle_app_api(handler_ptr self, const api_request& req);

/// `GET /ws`: checks the key and the filters before the upgrade (401, 403,
/// 400), then answers 101 for the session to take the connection over.
void handle_ws_upgrade(handler_ptr self, const api_request& req);

/// `GET /internal/console/stream?ticket=…`: the console's WebSocket view of
/// one app (a ticket instead of the app's key; 401 without a valid one).
void handle_console_stream(handler_ptr self, const api_request& req);

/// `GET /console…` (the console's files), `GET /internal/console/apps`,
/// `POST /internal/console/stream-ticket`.
void handle_console(handler_ptr self, const api_request& req);
void handle_console_apps(handler_ptr self, const api_request& req);
void handle_console_ticket(handler_ptr self, const api_request& req);

/// `GET /internal/monitoring/websocket/stats`.
void handle_ws_stats(handler_ptr self, const api_request& req);
void handle_cluster(handler_ptr self, const api_request& req);

/// `GET /auth/dialpad/connect` (and `/authorize`): 302 to Dialpad.
void handle_oauth_connect(handler_ptr self, const api_request& req);

/// `GET /auth/dialpad/callback`: code exchange, sealed tokens, refresher.
void handle_oauth_callback(handler_ptr self, const api_request& req);

} // namespace cti
