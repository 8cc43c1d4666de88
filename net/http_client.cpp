#include "net/http_client.hpp"

#include <deque>
#include <memory>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <caf/all.hpp>
#include <openssl/ssl.h>

#include "domain/url.hpp"

namespace cti::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;

/// Where an exchange failed, for `outbound_response::error`.
std::string error_word(const boost::system::error_code& ec, const char* stage) {
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted)
    return "timeout";
  return stage;
}

std::string host_header(const url_parts& u) {
  std::string h = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  if (u.port != (u.tls ? 443 : 80))
    h += ":" + std::to_string(u.port);
  return h;
}

/// The exchange itself, as one coroutine; `out` is filled as it goes.
template <class Stream>
awaitable<void> exchange(Stream& stream, http::request<http::string_body>& req,
                         const http_client_settings& settings, outbound_response& out) {
  auto [wec, wn] = co_await http::async_write(stream, req, asio::as_tuple(use_awaitable));
  (void)wn;
  if (wec) {
    out.error = error_word(wec, "io");
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(settings.max_response_bytes);
  parser.header_limit(64 * 1024);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(use_awaitable));
  (void)rn;
  if (rec) {
    out.error = error_word(rec, "io");
    co_return;
  }
  auto& res = parser.get();
  out.status = static_cast<uint16_t>(res.result_int());
  for (const auto& f : res) {
    std::string name{f.name_string()};
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers.push_back({std::move(name), std::string{f.value()}});
  }
  out.body = std::move(res.body());
}

awaitable<void> run(asio::io_context& ioc, ssl::context* tls, url_parts u,
                    http::request<http::string_body> req, std::chrono::milliseconds timeout,
                    const http_client_settings& settings, outbound_response& out) {
  // Name resolution: bounded by a timer that cancels it (the resolver is
  // shared with the timer's handler, which may run after this frame ends).
  auto resolver = std::make_shared<tcp::resolver>(ioc);
  asio::steady_timer guard{ioc};
  guard.expires_after(timeout);
  guard.async_wait([resolver](const boost::system::error_code& ec) {
    if (!ec)
      resolver->cancel();
  });
  auto [rec, endpoints] = co_await resolver->async_resolve(u.host, std::to_string(u.port),
                                                           asio::as_tuple(use_awaitable));
  guard.cancel();
  if (rec) {
    out.error = error_word(rec, "resolve");
    co_return;
  }
  beast::tcp_stream tcp_stream{ioc};
  // One deadline for everything that follows (connect, handshake, write, read).
  tcp_stream.expires_after(timeout);
  if (!tls) {
    auto [cec, ep] = co_await tcp_stream.async_connect(endpoints, asio::as_tuple(use_awaitable));
    (void)ep;
    if (cec) {
      out.error = error_word(cec, "connect");
      co_return;
    }
    co_await exchange(tcp_stream, req, settings, out);
    boost::system::error_code ignored;
    tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream{std::move(tcp_stream), *tls};
  // SNI, and the certificate must name the host.
  if (!SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str())) {
    out.error = "tls";
    co_return;
  }
  stream.set_verify_mode(ssl::verify_peer);
  stream.set_verify_callback(ssl::host_name_verification(u.host));
  auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(
    endpoints, asio::as_tuple(use_awaitable));
  (void)ep;
  if (cec) {
    out.error = error_word(cec, "connect");
    co_return;
  }
  auto [hec] = co_await stream.async_handshake(ssl::stream_base::client,
                                               asio::as_tuple(use_awaitable));
  if (hec) {
    out.error = error_word(hec, "tls");
    co_return;
  }
  co_await exchange(stream, req, settings, out);
  if (out.error.empty()) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds{1});
    co_await stream.async_shutdown(asio::as_tuple(use_awaitable)); // errors ignored
  }
}

ssl::context make_tls_context() {
  ssl::context ctx{ssl::context::tls_client};
  ctx.set_default_verify_paths();
  ctx.set_verify_mode(ssl::verify_peer);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  return ctx;
}

} // namespace

outbound_response perform_http(const outbound_request& r, const http_client_settings& settings) {
  outbound_response out;
  auto u = parse_http_url(r.url);
  if (!u || (!u->tls && !settings.allow_plain_remote && !is_loopback_host(u->host))) {
    out.error = "refused_url";
    return out;
  }
  http::request<http::string_body> req;
  req.method(http::string_to_verb(r.method));
  if (req.method() == http::verb::unknown) {
    out.error = "refused_url";
    return out;
  }
  req.target(u->target);
  req.version(11);
  req.set(http::field::host, host_header(*u));
  req.set(http::field::user_agent, settings.user_agent);
  req.set(http::field::accept, "application/json");
  req.set(http::field::connection, "close");
  for (const auto& h : r.headers)
    req.set(h.name, h.value);
  req.body() = r.body;
  if (!r.body.empty() || req.method() == http::verb::post || req.method() == http::verb::put)
    req.prepare_payload();

  thread_local std::optional<ssl::context> tls;
  if (u->tls && !tls)
    tls.emplace(make_tls_context());
  asio::io_context ioc{1};
  auto timeout = std::chrono::milliseconds{std::max<int32_t>(r.timeout_ms, 1)};
  bool done = false;
  asio::co_spawn(ioc, run(ioc, u->tls ? &*tls : nullptr, *u, std::move(req), timeout, settings, out),
                 [&done, &out](std::exception_ptr e) {
                   done = true;
                   if (e && out.error.empty() && out.status == 0)
                     out.error = "io";
                 });
  // Every operation carries the deadline; this bound only guards against a
  // bug leaving one without.
  ioc.run_for(timeout + std::chrono::seconds{2});
  if (!done) {
    ioc.stop();
    out = outbound_response{};
    out.error = "timeout";
  }
  return out;
}

namespace {

struct worker_state {
  static inline const char* name = "http_client_worker";
};

/// A call waiting for a free worker.
struct waiting_call {
  outbound_request req;
  caf::typed_response_promise<outbound_response> promise;
  std::chrono::steady_clock::time_point deadline; ///< Past it, it is not sent at all.
};

struct front_state {
  static inline const char* name = "http_client";
  std::vector<http_client_actor> idle;
  std::deque<waiting_call> waiting;
};

using front_ptr = http_client_actor::stateful_pointer<front_state>;

/// Hands waiting calls to idle workers. A call that waited past its own
/// timeout is answered `timeout` and never sent: its caller has given up,
/// and a late exchange could act at Dialpad unseen (e.g. rotate a refresh
/// token whose answer nobody stores).
void dispatch_calls(front_ptr self) {
  auto& st = self->state;
  while (!st.idle.empty() && !st.waiting.empty()) {
    auto call = std::move(st.waiting.front());
    st.waiting.pop_front();
    if (std::chrono::steady_clock::now() >= call.deadline) {
      outbound_response late;
      late.error = "timeout";
      call.promise.deliver(std::move(late));
      continue;
    }
    // The exchange gets what is left of the call's time, so it ends before
    // its caller stops waiting.
    call.req.timeout_ms = static_cast<int32_t>(std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(
           call.deadline - std::chrono::steady_clock::now()).count()));
    auto worker = st.idle.back();
    st.idle.pop_back();
    self->request(worker, caf::infinite, http_call_atom_v, std::move(call.req))
      .then(
        [self, worker, rp = call.promise](outbound_response& res) mutable {
          rp.deliver(std::move(res));
          self->state.idle.push_back(worker);
          dispatch_calls(self);
        },
        [self, worker, rp = call.promise](caf::error&) mutable {
          outbound_response res;
          res.error = "io";
          rp.deliver(std::move(res));
          self->state.idle.push_back(worker);
          dispatch_calls(self);
        });
  }
}

} // namespace

http_client_actor spawn_http_client(caf::actor_system& sys, http_client_settings settings) {
  auto worker = [settings](http_client_actor::stateful_pointer<worker_state>)
    -> http_client_actor::behavior_type {
    return {
      [settings](http_call_atom, const outbound_request& req) {
        // Blocking is fine: this detached actor owns its thread.
        return perform_http(req, settings);
      },
    };
  };
  std::vector<http_client_actor> workers;
  for (std::size_t i = 0; i < std::max<std::size_t>(settings.workers, 1); ++i)
    workers.push_back(sys.spawn<caf::detached>(worker));
  auto front = [](front_ptr self,
                  std::vector<http_client_actor> ws) -> http_client_actor::behavior_type {
    self->state.idle = std::move(ws);
    for (auto& w : self->state.idle)
      self->link_to(w);
    return {
      [self](http_call_atom, outbound_request& req) -> caf::result<outbound_response> {
        auto rp = self->make_response_promise<outbound_response>();
        auto deadline = std::chrono::steady_clock::now()
                        + std::chrono::milliseconds{std::max<int32_t>(req.timeout_ms, 1)};
        self->state.waiting.push_back({std::move(req), rp, deadline});
        dispatch_calls(self);
        return rp;
      },
    };
  };
  return sys.spawn(front, std::move(workers));
}

} // namespace cti::net
