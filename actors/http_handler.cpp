#include "actors/http_handler.hpp"

#include "actors/http_handler_state.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/node_context.hpp"
#include "db/api_repo.hpp"
#include "domain/api_key.hpp"
#include "domain/pagination.hpp"
#include "domain/auth.hpp"
#include "domain/exception_text.hpp"
#include "domain/json_limits.hpp"
#include "domain/log.hpp"
#include "domain/metrics.hpp"
#include "domain/time_format.hpp"
#include "domain/uuid.hpp"
#include "domain/validation.hpp"

namespace cti {

namespace {

/// How old the queue counts in /metrics may be.
constexpr auto queue_refresh = std::chrono::seconds{1};

/// How long /health waits for the pool before calling the database unreachable.
constexpr auto health_timeout = std::chrono::milliseconds{1500};

void handle_health(handler_ptr self, const api_request& req) {
  auto serial = req.serial;
  auto answer = [self, serial](bool ok) {
    nlohmann::ordered_json body = { // API.md's order
      {"status", ok ? "healthy" : "unhealthy"},
      {"timestamp", format_rfc3339(now_utc())},
      {"checks", {{"database", ok ? "ok" : "unreachable"}}},
    };
    auto resp = api_response::json(serial, ok ? 200 : 503, body.dump());
    if (!ok)
      resp.headers.push_back({"Retry-After", "5"});
    reply(self, std::move(resp));
  };
  self->request(self->state.ctx->pool, health_timeout, health_atom_v)
    .then([answer](bool ok) { answer(ok); }, [answer](caf::error&) { answer(false); });
}

bool wants_prometheus(const api_request& req) {
  if (auto f = req.query_param("format"))
    return *f == "prometheus";
  auto accept = req.header("accept");
  if (accept == nullptr)
    return false;
  // Media types are case-insensitive (RFC 9110 8.3.1).
  auto lower = ascii_lower(*accept);
  return lower.find("text/plain") != std::string::npos
         && lower.find("application/json") == std::string::npos;
}

void handle_metrics(handler_ptr self, const api_request& req) {
  if (!check_internal(self, req))
    return;
  if (auto f = req.query_param("format"); f && *f != "json" && *f != "prometheus") {
    reply_bad_request(self, req, "format must be json or prometheus");
    return;
  }
  auto serial = req.serial;
  bool prometheus = wants_prometheus(req);
  auto render = [self, serial, prometheus](pool_stats ps) {
    const auto& c = *self->state.ctx;
    auto s = c.stats->snapshot();
    metrics_snapshot m;
    m.uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                                     - c.started).count();
    m.memory_usage_mb = resident_memory_mb();
    m.active_connections = s.active_connections;
    m.total_requests = s.total_requests;
    m.error_rate = s.error_rate;
    m.avg_response_time_ms = s.avg_response_time_ms;
    m.pool.idle = ps.idle;
    m.pool.active = ps.active;
    m.pool.waiting = ps.waiting;
    if (c.processing) {
      auto q = c.processing->queue();
      m.events.processed_last_minute = c.processing->processed_last_minute();
      m.events.error_count = c.processing->error_count();
      m.events.avg_processing_time_ms = c.processing->avg_processing_time_ms();
      m.events.queue_length = q.pending;
      m.events.dead = q.dead;
    }
    m.websocket.connections = static_cast<uint64_t>(std::max<int64_t>(0, c.ws->connections()));
    m.websocket.messages_sent = c.ws->messages_sent();
    m.websocket.dropped_slow_consumers = c.ws->dropped_slow_consumers();
    m.auth.bcrypt_verifications = c.tenants->bcrypt_verifications.load();
    m.auth.key_cache_hits = c.tenants->key_cache_hits.load();
    m.dialpad.refreshes = c.dialpad_figures->refreshes.load();
    m.dialpad.refresh_failures = c.dialpad_figures->refresh_failures.load();
    m.internal_failures = internal_failures();
    auto cl = c.cluster->get();
    m.cluster.enabled = cl.enabled;
    m.cluster.peers = cl.peers;
    m.cluster.messages_sent = cl.messages_sent;
    m.cluster.messages_received = cl.messages_received;
    m.cluster.links_lost = cl.links_lost;
    if (c.processing) {
      m.event_rounds = c.processing->round_durations();
      m.event_latency = c.processing->event_latencies();
      m.webhook_ingest = c.processing->ingest_latencies();
    }
    for (int r = 0; r < static_cast<int>(request_stats::max_routes); ++r) {
      auto h = c.stats->route_durations(static_cast<std::size_t>(r)).read();
      if (h.count == 0)
        continue;
      m.routes.push_back({r < endpoint_count ? endpoint_name(static_cast<endpoint>(r))
                                             : "unmatched",
                          h});
    }
    m.node = c.node_name;
    api_response resp;
    resp.serial = serial;
    if (prometheus) {
      resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
      resp.body = render_metrics_prometheus(m);
    } else {
      resp.body = render_metrics_json(m);
    }
    reply(self, std::move(resp));
  };
  // Queue counts come from the database, at most once a second per node;
  // when it cannot answer, the last known figures are shown.
  auto with_queue = [self, render](pool_stats ps) {
    const auto& proc = self->state.ctx->processing;
    if (!proc || std::chrono::steady_clock::now() - proc->queue().at < queue_refresh) {
      render(ps);
      return;
    }
    self->request(self->state.ctx->pool, std::chrono::seconds{1}, queue_atom_v)
      .then(
        [self, render, ps](queue_stats q) {
          self->state.ctx->processing->record_queue(q.pending, q.dead);
          render(ps);
        },
        [render, ps](caf::error&) { render(ps); });
  };
  self->request(self->state.ctx->pool, std::chrono::seconds{1}, stats_atom_v)
    .then([with_queue](pool_stats ps) { with_queue(ps); },
          [with_queue](caf::error&) { with_queue(pool_stats{}); });
}

} // namespace

const std::string& failing_request_id() {
  static const std::string id = [] {
    const char* v = std::getenv("CTI_TEST_HANDLER_FAIL_REQUEST_ID");
    return v != nullptr ? std::string{v} : std::string{};
  }();
  return id;
}

namespace {

http_handler_actor::behavior_type http_handler(handler_ptr self,
                                               std::shared_ptr<const node_context> ctx,
                                               std::weak_ptr<session_sink> sink) {
  self->state.ctx = std::move(ctx);
  self->state.sink = std::move(sink);
  // An exception in an endpoint's code (a bug) ends the handler; its
  // session answers the request 500 and closes (spawn_http_handler).
  self->set_exception_handler([](caf::scheduled_actor*, std::exception_ptr& eptr) -> caf::error {
    auto what = exception_text(eptr);
    count_internal_failure(failure_site::http_handler);
    log::error("an HTTP request failed on an internal error; it gets 500 and its connection"
               " is closed",
               {{"error", what}});
    return caf::sec::runtime_error;
  });
  return {
    [=](handle_atom, api_request& req) {
      if (!failing_request_id().empty() && req.request_id == failing_request_id())
        throw std::runtime_error("test hook: the handler fails on this request");
      switch (req.route) {
        case endpoint::root:
          reply(self, api_response::json(req.serial, 200,
                                         R"({"message":"CTI Server is running"})"));
          return;
        case endpoint::health:
          handle_health(self, req);
          return;
        case endpoint::metrics:
          handle_metrics(self, req);
          return;
        case endpoint::webhook:
        case endpoint::webhook_app:
          handle_webhook(self, std::move(req));
          return;
        case endpoint::app_events:
          handle_app_events(self, req);
          return;
        case endpoint::event:
          handle_event(self, req);
          return;
        case endpoint::event_replay:
          handle_event_replay(self, req);
          return;
        case endpoint::apps:
        case endpoint::app:
        case endpoint::app_dialpad:
        case endpoint::app_dialpad_sync:
        case endpoint::app_erase:
        case endpoint::app_retention:
        case endpoint::audit:
        case endpoint::retention_run:
        case endpoint::api_key:
        case endpoint::api_key_revoke:
        case endpoint::api_key_status:
        case endpoint::api_key_audit:
        case endpoint::user_map:
        case endpoint::user_batch_map:
        case endpoint::user_mappings:
        case endpoint::user_mapping_dialpad:
        case endpoint::user_mapping_crm:
        case endpoint::user_mapping:
        case endpoint::internal_voicemails:
        case endpoint::internal_voicemail:
          handle_internal_apps(self, req);
          return;
        case endpoint::calls:
        case endpoint::calls_active:
        case endpoint::calls_export:
        case endpoint::call:
        case endpoint::voicemails:
        case endpoint::voicemail:
        case endpoint::messages:
        case endpoint::screen_pop:
          handle_app_api(self, req);
          return;
        case endpoint::ws:
          handle_ws_upgrade(self, req);
          return;
        case endpoint::cluster:
          handle_cluster(self, req);
          break;
        case endpoint::ws_stats:
          handle_ws_stats(self, req);
          return;
        case endpoint::oauth_connect:
          handle_oauth_connect(self, req);
          return;
        case endpoint::oauth_callback:
          handle_oauth_callback(self, req);
          return;
        case endpoint::console:
          handle_console(self, req);
          return;
        case endpoint::console_apps:
          handle_console_apps(self, req);
          return;
        case endpoint::console_ticket:
          handle_console_ticket(self, req);
          return;
        case endpoint::console_stream:
          handle_console_stream(self, req);
          return;
      }
      reply(self, api_response::failure(req.serial, errc::not_found, "no such endpoint"));
    },
  };
}

} // namespace

std::optional<std::string> uuid_param(handler_ptr self, const api_request& req,
                                      std::string_view name, const char* what) {
  const auto* v = req.path_param(name);
  if (v == nullptr || !is_uuid(*v)) {
    reply(self, api_response::failure(req.serial, errc::not_found, std::string{"no such "} + what));
    return std::nullopt;
  }
  return lowercase_uuid(*v);
}

db_query make_query(const api_request& req, query_kind kind, std::string app_id,
                    const nlohmann::json& args, std::string target) {
  db_query q;
  q.kind = kind;
  q.app_id = std::move(app_id);
  q.target = std::move(target);
  q.args = args.dump();
  q.request_id = req.request_id;
  return q;
}

db_query make_query(const api_request& req, query_kind kind, std::string app_id) {
  return make_query(req, kind, std::move(app_id), nlohmann::json::object());
}

bool page_args(handler_ptr self, const api_request& req, query_kind kind,
               const std::string& app_id, nlohmann::json& args) {
  page_request page;
  std::string error;
  if (!parse_page(req.query_param("limit"), req.query_param("cursor"),
                  db::cursor_scope(kind, app_id), page, error)) {
    reply_bad_request(self, req, std::move(error));
    return false;
  }
  if (page.after && !is_uuid(page.after->id)) {
    reply_bad_request(self, req, "cursor is not a cursor this server issued for this list");
    return false;
  }
  args["limit"] = page.limit;
  if (page.after) {
    args["after_us"] = page.after->time_us;
    args["after_id"] = page.after->id;
  }
  return true;
}

void reply_bad_request(handler_ptr self, const api_request& req, std::string message) {
  reply(self, api_response::failure(req.serial, errc::bad_request, std::move(message)));
}

std::optional<nlohmann::json> body_object(handler_ptr self, const api_request& req) {
  if (const auto* ct = req.header("content-type")) {
    auto lower = ascii_lower(*ct);
    auto semi = lower.find(';');
    auto type = lower.substr(0, semi);
    while (!type.empty() && type.back() == ' ')
      type.pop_back();
    // JSON, and the types tools send JSON under by default (curl's form
    // type, text/plain); anything else (XML, multipart, ...) is refused.
    if (!type.empty() && type != "application/json" && !(type.size() > 5 && type.ends_with("+json"))
        && type != "text/plain" && type != "application/x-www-form-urlencoded") {
      reply(self, api_response::failure(req.serial, errc::unsupported_media_type,
                                        "Content-Type must be application/json"));
      return std::nullopt;
    }
  }
  auto parsed = parse_untrusted_json(req.body);
  if (parsed.fault != json_fault::none) {
    reply(self, api_response::failure(req.serial, errc::invalid_json, describe(parsed.fault)));
    return std::nullopt;
  }
  if (!parsed.value.is_object()) {
    reply(self, api_response::failure(req.serial, errc::invalid_json,
                                      "body must be a JSON object"));
    return std::nullopt;
  }
  return std::move(parsed.value);
}

void refuse_credential(handler_ptr self, uint64_t serial, const std::string& remote,
                       std::string message) {
  const auto& limiter = self->state.ctx->auth_failures;
  // Counted unless the address is braked already (one step, one lock).
  if (limiter)
    if (auto wait = limiter->admit(remote); wait > 0) {
      auto resp = api_response::failure(serial, errc::rate_limited,
                                        "too many failed authentication attempts");
      resp.headers.push_back({"Retry-After", std::to_string(wait)});
      reply(self, std::move(resp));
      return;
    }
  reply(self, api_response::failure(serial, errc::unauthorized, std::move(message)));
}

const std::string* app_key_header(const api_request& req) {
  for (const char* name : {"x-app-api-key", "x-api-key"})
    if (const auto* key = req.header(name); key != nullptr && !key->empty())
      return key;
  return nullptr;
}

void with_app(handler_ptr self, const api_request& req,
              std::function<void(const std::string& app_id)> next) {
  with_app_key(self, req, app_key_header(req), std::move(next));
}

void with_app_key(handler_ptr self, const api_request& req, const std::string* key,
                  std::function<void(const std::string& app_id)> next) {
  auto serial = req.serial;
  if (key == nullptr || key->empty()) {
    reply(self, api_response::failure(serial, errc::unauthorized, "missing API key"));
    return;
  }
  if (!is_api_key_format(*key)) {
    refuse_credential(self, serial, req.remote_address, "invalid API key");
    return;
  }
  auto decide = [self, serial, remote = req.remote_address,
                 next = std::move(next)](const app_auth& auth) {
    if (!auth.valid) {
      refuse_credential(self, serial, remote, "invalid API key");
      return;
    }
    if (!auth.is_active) {
      auto resp = api_response::failure(serial, errc::forbidden, "app is disabled");
      resp.app_id = auth.app_id;
      reply(self, std::move(resp));
      return;
    }
    if (const auto& budget = self->state.ctx->app_requests; budget && budget->enabled()) {
      if (auto wait = budget->admit(auth.app_id); wait > 0) {
        auto resp = api_response::failure(serial, errc::rate_limited,
                                          "the app's request budget is spent for this minute");
        resp.app_id = auth.app_id;
        resp.headers.push_back({"Retry-After", std::to_string(wait)});
        reply(self, std::move(resp));
        return;
      }
    }
    next(auth.app_id);
  };
  const auto& tenants = self->state.ctx->tenants;
  if (auto hit = tenants->find_key(api_key_fingerprint(*key))) {
    ++tenants->key_cache_hits;
    decide(*hit);
    return;
  }
  self->request(self->state.ctx->registry, std::chrono::seconds{20}, auth_atom_v, *key)
    .then([decide](app_auth& auth) { decide(auth); },
          [self, serial](caf::error& err) {
            auto code = errc_of(err);
            reply(self, api_response::failure(
                          serial, code == errc::internal ? errc::internal : errc::db_unavailable,
                          code == errc::internal ? "key check failed" : "database unavailable"));
          });
}

/// The hot reads whose answers are cached per app.
bool cacheable(query_kind k) {
  return k == query_kind::calls_list || k == query_kind::call_get;
}

/// Queries that change an app's calls or mappings: cached answers go first.
bool changes_app_data(query_kind k) {
  switch (k) {
    case query_kind::call_patch: case query_kind::map_one: case query_kind::map_batch:
    case query_kind::mapping_delete: case query_kind::app_patch: case query_kind::erase:
    case query_kind::voicemail_delete: // its call's has_voicemail
      return true;
    default:
      return false;
  }
}

void answer_query_then(handler_ptr self, uint64_t serial, db_query q,
                       std::function<void(db_answer&, std::function<void()>)> then) {
  auto app_id = q.app_id;
  const auto& tenants = self->state.ctx->tenants;
  std::string cache_key;
  uint64_t generation = 0;
  auto ttl = std::chrono::milliseconds{self->state.ctx->cfg.api_response_cache_ms};
  if (!then && ttl.count() > 0 && cacheable(q.kind) && !app_id.empty()) {
    cache_key.reserve(q.args.size() + q.target.size() + 8);
    cache_key.append(std::to_string(static_cast<int>(q.kind))).append("|").append(q.target)
      .append("|").append(q.args);
    if (auto hit = tenants->find_response(app_id, cache_key)) {
      api_response resp;
      resp.serial = serial;
      resp.app_id = app_id;
      resp.body = *hit;
      reply(self, std::move(resp));
      return;
    }
    generation = tenants->generation(app_id);
  }
  bool changes = changes_app_data(q.kind);
  auto kind = q.kind;
  // No timeout of our own: the pool bounds the wait for a connection and
  // each job's run, and the session answers 503 if a request outlives its
  // deadline; a timeout here would cost a trip through the actor clock
  // per request.
  self->request(self->state.ctx->pool, caf::infinite, query_atom_v, std::move(q))
    .then(
      [self, serial, app_id, then, cache_key, generation, changes, ttl, kind](db_answer& ans) {
        const auto& tenants = self->state.ctx->tenants;
        if (changes && !app_id.empty()) {
          tenants->bump(app_id); // before the client hears of the change
          // The peers drop their cached answers too (the registry's
          // "mappings changed" message does that on every node). A call
          // change reaches them as a published event; these do not.
          if (kind == query_kind::map_one || kind == query_kind::map_batch
              || kind == query_kind::mapping_delete || kind == query_kind::erase
              || kind == query_kind::voicemail_delete)
            self->send(self->state.ctx->registry, mappings_atom_v, app_id);
        }
        for (auto& ev : ans.applied)
          self->send(self->state.ctx->registry, caf::publish_atom_v, ev);
        if (!cache_key.empty() && ans.status == 200)
          tenants->put_response(app_id, cache_key, generation,
                                std::make_shared<const std::string>(ans.body),
                                tenant_cache::clock_type::now() + ttl);
        auto shared = std::make_shared<db_answer>(std::move(ans));
        auto finish = [self, serial, app_id, shared] {
          api_response resp;
          resp.serial = serial;
          resp.status = shared->status;
          resp.app_id = app_id;
          if (shared->status == 204)
            resp.content_type.clear();
          else
            resp.body = std::move(shared->body);
          reply(self, std::move(resp));
        };
        if (then)
          then(*shared, finish);
        else
          finish();
      },
      [self, serial, app_id](caf::error& err) {
        auto resp = api_response::failure(serial, errc_of(err), message_of(err));
        resp.app_id = app_id;
        reply(self, std::move(resp));
      });
}

void answer_query(handler_ptr self, uint64_t serial, db_query q, std::string app_id) {
  if (!app_id.empty() && q.app_id.empty())
    q.app_id = app_id;
  answer_query_then(self, serial, std::move(q), {});
}

void reply_error(handler_ptr self, uint64_t serial, const caf::error& err) {
  reply(self, api_response::failure(serial, errc_of(err), message_of(err)));
}

bool check_internal(handler_ptr self, const api_request& req) {
  const auto* header = req.header("authorization");
  if (internal_bearer_ok(header, self->state.ctx->cfg.internal_api_secret))
    return true;
  if (header != nullptr && !header->empty())
    refuse_credential(self, req.serial, req.remote_address, "missing or invalid bearer token");
  else
    reply(self, api_response::failure(req.serial, errc::unauthorized,
                                      "missing or invalid bearer token"));
  return false;
}

void reply(handler_ptr self, api_response resp) {
  // The client may have gone meanwhile: then the answer is dropped.
  if (auto sink = self->state.sink.lock())
    sink->deliver(std::move(resp));
}

http_handler_actor spawn_http_handler(caf::actor_system& sys,
                                      std::shared_ptr<const node_context> ctx,
                                      std::weak_ptr<session_sink> sink) {
  auto handler = sys.spawn(http_handler, std::move(ctx), sink);
  handler->attach_functor([sink](const caf::error& reason) {
    if (!reason || reason == caf::exit_reason::user_shutdown)
      return; // stopped with its connection
    if (auto s = sink.lock())
      s->deliver(api_response::failure(handler_failed_serial, errc::internal, "internal error"));
  });
  return handler;
}

void submit_request(const http_handler_actor& handler, api_request req) {
  caf::anon_send(handler, handle_atom_v, std::move(req));
}

void stop_http_handler(const http_handler_actor& handler) {
  caf::anon_send_exit(handler, caf::exit_reason::user_shutdown);
}

} // namespace cti
