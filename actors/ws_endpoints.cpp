// `GET /ws` before the upgrade, and the WebSocket monitoring endpoint.

#include <cstdlib>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/http_handler_state.hpp"
#include "domain/api_key.hpp"
#include "domain/console_ticket.hpp"
#include "domain/time_format.hpp"
#include "domain/validation.hpp"

namespace cti {

namespace {

/// An `events` item: 1..128 characters of [A-Za-z0-9._*-].
bool is_event_glob(std::string_view g) {
  if (g.empty() || g.size() > 128)
    return false;
  for (unsigned char c : g)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '*' || c == '-'))
      return false;
  return true;
}

/// Checks the upgrade and the subscription's query (`crm_user_id`,
/// `events`, `since`) into `accepted`; answers 400 and returns false on a
/// bad one.
bool upgrade_filters(handler_ptr self, const api_request& req, nlohmann::json& accepted) {
  const auto* upgrade = req.header("upgrade");
  if (upgrade == nullptr || ascii_lower(*upgrade) != "websocket") {
    reply_bad_request(self, req, "a WebSocket upgrade is required here (Upgrade: websocket)");
    return false;
  }
  if (const auto* crm = req.query_param("crm_user_id"); crm != nullptr && !crm->empty()) {
    if (!is_valid_label(*crm, max_crm_id_length)) {
      reply_bad_request(self, req, "crm_user_id must be a non-blank string of at most 255 characters");
      return false;
    }
    accepted["crm_user_id"] = *crm;
  }
  if (const auto* ev = req.query_param("events"); ev != nullptr && !ev->empty()) {
    nlohmann::json globs = nlohmann::json::array();
    std::string_view rest = *ev;
    while (true) {
      auto comma = rest.find(',');
      auto item = rest.substr(0, comma);
      // Blanks around an item are the list's, not the name's
      // (`call.ring, call.ended`), as in the calls' status list.
      while (!item.empty() && item.front() == ' ')
        item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ')
        item.remove_suffix(1);
      if (!is_event_glob(item)) {
        reply_bad_request(self, req, "events must be a comma list of event names or globs (e.g. call.*)");
        return false;
      }
      globs.push_back(std::string{item});
      if (comma == std::string_view::npos)
        break;
      rest.remove_prefix(comma + 1);
    }
    accepted["events"] = globs;
  }
  if (const auto* since = req.query_param("since"); since != nullptr && !since->empty()) {
    auto n = parse_int64(*since);
    if (!n || *n < 0) {
      reply_bad_request(self, req, "since must be a non-negative integer (a seq)");
      return false;
    }
    accepted["since"] = *n;
  }
  return true;
}

/// The key a WebSocket upgrade presents: query `api_key`, else a header
/// (an empty one counts as absent).
const std::string* presented_key(const api_request& req) {
  const auto* key = req.query_param("api_key");
  if (key == nullptr || key->empty())
    key = app_key_header(req);
  return key;
}

} // namespace

void handle_ws_upgrade(handler_ptr self, const api_request& req) {
  // The key first: a bad key is 401 whatever else is wrong with the request.
  with_app_key(self, req, presented_key(req), [self, req](const std::string& app_id) {
    auto authorized_at = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count();
    nlohmann::json accepted = nlohmann::json::object();
    if (!upgrade_filters(self, req, accepted))
      return;
    accepted["app_id"] = app_id;
    accepted["authorized_at"] = authorized_at;
    if (const auto* key = presented_key(req))
      accepted["key_id"] = api_key_id(*key);
    api_response resp;
    resp.serial = req.serial;
    resp.status = 101; // the session takes the connection over (net/ws_session)
    resp.app_id = app_id;
    resp.body = accepted.dump();
    reply(self, std::move(resp));
  });
}

void handle_console_stream(handler_ptr self, const api_request& req) {
  const auto* ticket = req.query_param("ticket");
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  auto app_id = ticket == nullptr
                  ? std::nullopt
                  : verify_console_ticket(self->state.ctx->cfg.internal_api_secret, *ticket, now_ms);
  if (!app_id) {
    const std::string message = "missing, invalid or expired stream ticket";
    if (ticket != nullptr && !ticket->empty())
      refuse_credential(self, req.serial, req.remote_address, message);
    else
      reply(self, api_response::failure(req.serial, errc::unauthorized, message));
    return;
  }
  nlohmann::json accepted = nlohmann::json::object();
  if (!upgrade_filters(self, req, accepted))
    return;
  accepted["app_id"] = *app_id;
  accepted["internal"] = true;
  // Closed after this long (the page opens a new view with a new ticket).
  // Tests shorten it.
  static const int64_t max_age_ms = [] {
    const char* v = std::getenv("CTI_TEST_CONSOLE_VIEW_MAX_MS");
    auto n = v == nullptr ? std::nullopt : parse_int64(v);
    return n && *n > 0 ? *n : console_view_max_age_ms;
  }();
  accepted["max_age_ms"] = max_age_ms;
  api_response resp;
  resp.serial = req.serial;
  resp.status = 101;
  resp.app_id = *app_id;
  resp.body = accepted.dump();
  reply(self, std::move(resp));
}

void handle_ws_stats(handler_ptr self, const api_request& req) {
  if (!check_internal(self, req))
    return;
  const auto& ctx = *self->state.ctx;
  nlohmann::ordered_json body;
  body["node"] = ctx.node_name;
  body["total"] = std::max<int64_t>(0, ctx.ws->connections());
  nlohmann::ordered_json apps = nlohmann::ordered_json::object();
  for (const auto& [app, n] : ctx.ws->per_app())
    apps[app] = n;
  body["apps"] = apps;
  reply(self, api_response::json(req.serial, 200, body.dump()));
}

void handle_cluster(handler_ptr self, const api_request& req) {
  if (!check_internal(self, req))
    return;
  const auto& ctx = *self->state.ctx;
  auto view = ctx.cluster->get();
  auto when = [](int64_t us) -> nlohmann::ordered_json {
    if (us <= 0)
      return nullptr;
    return format_rfc3339(timestamp{std::chrono::microseconds{us}});
  };
  nlohmann::ordered_json body;
  body["node"] = ctx.node_name;
  body["enabled"] = view.enabled;
  body["protocol"] = cluster_protocol_version;
  if (view.enabled) {
    body["port"] = view.port;
    body["tls"] = view.tls;
    body["heartbeat_ms"] = view.heartbeat_ms;
    body["database_ok"] = view.database_ok;
  }
  body["peers"] = view.peers;
  nlohmann::ordered_json nodes = nlohmann::ordered_json::array();
  for (const auto& n : view.nodes) {
    nlohmann::ordered_json o;
    o["name"] = n.name;
    o["host"] = n.host;
    o["port"] = n.port;
    o["protocol"] = n.protocol;
    o["status"] = n.status;
    o["started_at"] = when(n.started_at_us);
    o["heartbeat_at"] = when(n.heartbeat_at_us);
    o["heartbeat_age_ms"] = n.heartbeat_age_ms;
    o["link_since"] = when(n.link_since_us);
    if (!n.last_error.empty())
      o["last_error"] = n.last_error;
    nodes.push_back(std::move(o));
  }
  body["nodes"] = nodes;
  body["messages"] = {{"sent", view.messages_sent},
                      {"received", view.messages_received},
                      {"refused", view.messages_refused}};
  body["links_lost"] = view.links_lost;
  body["peers_refused"] = view.peers_refused;
  reply(self, api_response::json(req.serial, 200, body.dump()));
}

} // namespace cti
