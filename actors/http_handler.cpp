#include "actors/http_handler.hpp"

#include "actors/http_handler_state.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/node_context.hpp"
#include "domain/auth.hpp"
#include "domain/metrics.hpp"
#include "domain/time_format.hpp"

namespace cti {

namespace {

/// How long /health waits for the pool before calling the database unreachable.
constexpr auto health_timeout = std::chrono::milliseconds{1500};

void handle_health(handler_ptr self, const api_request& req) {
  auto serial = req.serial;
  auto answer = [self, serial](bool ok) {
    nlohmann::json body = {
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
  return accept != nullptr && accept->find("text/plain") != std::string::npos
         && accept->find("application/json") == std::string::npos;
}

void handle_metrics(handler_ptr self, const api_request& req) {
  const auto& ctx = *self->state.ctx;
  if (!internal_bearer_ok(req.header("authorization"), ctx.cfg.internal_api_secret)) {
    reply(self, api_response::failure(req.serial, errc::unauthorized,
                                      "missing or invalid bearer token"));
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
  self->request(self->state.ctx->pool, std::chrono::seconds{1}, stats_atom_v)
    .then([render](pool_stats ps) { render(ps); },
          [render](caf::error&) { render(pool_stats{}); });
}

http_handler_actor::behavior_type http_handler(handler_ptr self,
                                               std::shared_ptr<const node_context> ctx,
                                               std::weak_ptr<session_sink> sink) {
  self->state.ctx = std::move(ctx);
  self->state.sink = std::move(sink);
  return {
    [=](handle_atom, api_request& req) {
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
      }
      reply(self, api_response::failure(req.serial, errc::not_found, "no such endpoint"));
    },
  };
}

} // namespace

void reply(handler_ptr self, api_response resp) {
  // The client may have gone meanwhile: then the answer is dropped.
  if (auto sink = self->state.sink.lock())
    sink->deliver(std::move(resp));
}

http_handler_actor spawn_http_handler(caf::actor_system& sys,
                                      std::shared_ptr<const node_context> ctx,
                                      std::weak_ptr<session_sink> sink) {
  return sys.spawn(http_handler, std::move(ctx), std::move(sink));
}

void submit_request(const http_handler_actor& handler, api_request req) {
  caf::anon_send(handler, handle_atom_v, std::move(req));
}

void stop_http_handler(const http_handler_actor& handler) {
  caf::anon_send_exit(handler, caf::exit_reason::user_shutdown);
}

} // namespace cti
