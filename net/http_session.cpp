#include "net/http_session.hpp"

// One HTTP/1.1 connection, on its io_context's one thread (Beast
// chat-multi's shape, without the strand: see net/server.cpp):
//
//   wait for first byte ──► read header ──► route, check limits ──► read body
//        ▲  (idle timeout)    (header timeout)   │ 404/405/413 local   │
//        │                                       ▼                     ▼
//   write done ◄── write response ◄── actor answers via sink ◄── submit to actor
//   (keep-alive)                       (or request timeout → 503)
//
// Exactly one request is in flight per connection: the next read starts
// after the response is written, so responses stay in order.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <functional>
#include <optional>
#include <stdexcept>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "actors/http_handler.hpp"
#include "actors/node_context.hpp"
#include "domain/auth.hpp"
#include "domain/cors.hpp"
#include "domain/log.hpp"
#include "domain/rate_limit.hpp"
#include "domain/uuid.hpp"
#include "net/error_response.hpp"
#include "net/router.hpp"
#include "net/tcp_progress.hpp"
#include "net/ws_handshake.hpp"
#include "net/ws_session.hpp"

namespace cti::net {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// Longest an actor may take to answer before the client gets a 503.
constexpr auto request_timeout = std::chrono::seconds{30};

/// Tests only (CTI_TEST_SESSION_FAIL_PATH): a request for this path throws
/// on the asio thread, as a bug in the connection's code would (server.cpp
/// keeps the thread running). Empty: none.
const std::string& failing_path() {
  static const std::string path = [] {
    const char* v = std::getenv("CTI_TEST_SESSION_FAIL_PATH");
    return v != nullptr ? std::string{v} : std::string{};
  }();
  return path;
}
constexpr auto webhook_timeout = std::chrono::milliseconds{4500};
/// Longest a response write may take (a client that stops reading).
constexpr auto write_timeout = std::chrono::seconds{30};
/// Largest request header block.
constexpr std::uint32_t header_limit = 16 * 1024;

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (unsigned char c : id)
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':'))
      return false;
  return true;
}

std::string lowercase(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// One HTTP connection over `Stream`: beast::tcp_stream, or
/// beast::ssl_stream<beast::tcp_stream> when TLS is on.
template <class Stream>
class http_session : public session_sink,
                     public connection,
                     public std::enable_shared_from_this<http_session<Stream>> {
public:
  static constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

  /// `extra`: the TLS context for the TLS variant.
  template <class... Extra>
  http_session(tcp::socket&& socket, std::shared_ptr<server_shared> shared, Extra&... extra)
    : stream_(std::move(socket), extra...),
      shared_(std::move(shared)),
      timer_(stream_.get_executor()) {
    beast::error_code ec;
    auto ep = lowest().socket().remote_endpoint(ec);
    if (!ec)
      remote_ = ep.address().to_string();
    shared_->ctx->stats->connection_opened();
  }

  ~http_session() override {
    shared_->remove(this);
    shared_->ctx->stats->connection_closed();
    if (handler_)
      stop_http_handler(handler_);
  }

  void run() {
    shared_->add(this, this->weak_from_this());
    if constexpr (is_tls) {
      // The handshake gets the header timeout; a client that never
      // completes it is cut like a slow one.
      lowest().expires_after(std::chrono::seconds{cfg().http_header_timeout_seconds});
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) {
                                  log::debug("TLS handshake failed", {{"error", ec.message()}});
                                  self->do_close();
                                  return;
                                }
                                self->do_wait_request();
                              });
    } else {
      asio::dispatch(stream_.get_executor(),
                     beast::bind_front_handler(&http_session::do_wait_request,
                                               this->shared_from_this()));
    }
  }

  // -- session_sink (any thread) ----------------------------------------------
  //
  // These post to the timer's executor, not the stream's: after an upgrade
  // the stream has been moved into the WebSocket session, and a moved-from
  // TLS stream has no executor left to ask (a late answer to an earlier
  // request may still arrive then). And not once the server is being torn
  // down (server_shared::post).

  template <class Handler>
  void post_here(Handler&& h) {
    shared_->post(timer_.get_executor(), std::forward<Handler>(h));
  }

  void deliver(api_response resp) override {
    post_here([self = this->shared_from_this(), resp = std::move(resp)]() mutable {
      self->on_deliver(std::move(resp));
    });
  }

  void close(uint16_t) override {
    post_here([self = this->shared_from_this()] { self->do_close(); });
  }

  void begin_stream(api_response head) override {
    post_here([self = this->shared_from_this(), head = std::move(head)]() mutable {
      self->on_begin_stream(std::move(head));
    });
  }

  void write_chunk(stream_chunk chunk, std::function<void(bool)> on_written) override {
    post_here([self = this->shared_from_this(), chunk = std::move(chunk),
               cb = std::move(on_written)]() mutable {
      if (chunk.serial != self->serial_) {
        if (cb)
          cb(false);
        return;
      }
      self->chunks_.push_back({std::move(chunk), std::move(cb)});
      self->pump_chunks();
    });
  }

  // -- connection (any thread) -------------------------------------------------

  void begin_shutdown() override {
    post_here([self = this->shared_from_this()] {
      // Idle keep-alive connections close now; the others after their
      // response (keep_alive is off once shutting_down is set).
      // A connection whose next request has begun to arrive (bytes in the
      // socket, not yet read) is in flight, not idle.
      // Bytes of a request may still be on their way (sent just before the
      // signal): an idle connection gets a moment before it is closed.
      auto idle = [](http_session& s) {
        beast::error_code ec;
        return s.phase_ == phase::idle && s.buffer_.size() == 0
               && s.lowest().socket().available(ec) == 0;
      };
      if (!idle(*self))
        return;
      self->timer_.expires_after(std::chrono::milliseconds{50});
      self->timer_.async_wait([self, idle](beast::error_code ec) {
        if (!ec && idle(*self))
          self->do_close();
      });
    });
  }

private:
  enum class phase { idle, reading, processing, streaming, writing, closed };

  // -- reading -------------------------------------------------------------------

  void do_wait_request() {
    if (shared_->shutting_down.load()) {
      do_close();
      return;
    }
    phase_ = phase::idle;
    if (buffer_.size() > 0) { // pipelined bytes already here
      do_read_header();
      return;
    }
    lowest().expires_after(std::chrono::seconds{cfg().http_idle_timeout_seconds});
    stream_.async_read_some(buffer_.prepare(4096),
                            beast::bind_front_handler(&http_session::on_first_bytes,
                                                      this->shared_from_this()));
  }

  void on_first_bytes(beast::error_code ec, std::size_t n) {
    if (ec) {
      fail(ec, "wait");
      do_close();
      return;
    }
    buffer_.commit(n);
    do_read_header();
  }

  void do_read_header() {
    phase_ = phase::reading;
    started_ = std::chrono::steady_clock::now();
    // A new request: nothing of the previous one may leak into the answer or
    // the access line of an error found before this header is parsed.
    request_id_ = new_uuid();
    method_.clear();
    raw_path_.clear();
    raw_query_.clear();
    app_id_.clear();
    head_ = false;
    match_ = {};
    cors_origin_.reset();
    has_origin_ = false;
    parser_.emplace();
    parser_->header_limit(header_limit);
    parser_->body_limit(std::max(cfg().webhook_max_body_bytes, cfg().http_max_body_bytes));
    lowest().expires_after(std::chrono::seconds{cfg().http_header_timeout_seconds});
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&http_session::on_header,
                                                      this->shared_from_this()));
  }

  /// What the request's head says (method, target, CORS, request id,
  /// keep-alive, route): read once the header is parsed, or from what
  /// Beast had read when it refused the header.
  template <class Request>
  void take_head(const Request& req) {
    method_ = std::string{req.method_string()};
    auto target = std::string_view{req.target().data(), req.target().size()};
    // The absolute form ("http://host/path", RFC 9112 §3.2.2), which a
    // server must accept: the path and query are what route.
    std::string origin_form;
    for (std::string_view scheme : {"http://", "https://"}) {
      if (target.size() > scheme.size() && beast::iequals(target.substr(0, scheme.size()), scheme)) {
        auto rest = target.find_first_of("/?", scheme.size());
        if (rest == std::string_view::npos) {
          target = "/";
        } else if (target[rest] == '?') { // "http://host?x": an empty path is "/"
          origin_form = "/" + std::string{target.substr(rest)};
          target = origin_form;
        } else {
          target = target.substr(rest);
        }
        break;
      }
    }
    auto qpos = target.find('?');
    raw_path_ = std::string{target.substr(0, qpos)};
    raw_query_ = qpos == std::string_view::npos ? std::string{} : std::string{target.substr(qpos + 1)};
    auto origin = req[http::field::origin];
    cors_origin_ = cors_allow_origin(cfg().cors_allowed_origins, {origin.data(), origin.size()});
    has_origin_ = !origin.empty();
    auto preflight = req[http::field::access_control_request_method];
    preflight_method_ = method_ == "OPTIONS" ? std::string{preflight.data(), preflight.size()}
                                             : std::string{};
    preflight_headers_ = std::string{req[http::field::access_control_request_headers]};
    auto rid = req["X-Request-Id"];
    request_id_ = is_valid_request_id({rid.data(), rid.size()}) ? std::string{rid.data(), rid.size()} : new_uuid();
    keep_alive_ = req.keep_alive();
    http10_ = req.version() == 10;
    match_ = api_router().match(method_, raw_path_);
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) {
      on_read_error(ec);
      return;
    }
    auto& req = parser_->get();
    take_head(req);
    // The header section's fields, taken now: a chunked body's trailer adds
    // more (Beast files each next to a field of the same name), which must
    // not stand in for a header (RFC 9110 §6.5.1: credentials, signatures,
    // routing and the content type come from the header only).
    header_section_.clear();
    header_section_.reserve(16);
    for (const auto& f : req)
      header_section_.push_back({lowercase({f.name_string().data(), f.name_string().size()}),
                                 std::string{f.value()}});
    // Request smuggling: one framing only, and only the chunked coding, and
    // that only in HTTP/1.1 (RFC 9112 §6.1: HTTP/1.0 has no chunked
    // coding, a proxy would frame it otherwise). The body's end is
    // unknown, so the connection closes after the answer.
    if (req.count(http::field::transfer_encoding) > 0) {
      auto te = req[http::field::transfer_encoding];
      if (req.count(http::field::content_length) > 0 || req.count(http::field::transfer_encoding) > 1
          || !beast::iequals({te.data(), te.size()}, "chunked") || req.version() < 11) {
        drain_after_close_ = true; // the client may still be sending: answer, then drain
        respond_local(errc::bad_request, "conflicting or unsupported message framing", true);
        return;
      }
    }
    // RFC 9112 §3.2: more than one Host is a 400.
    if (req.count(http::field::host) > 1) {
      respond_local(errc::bad_request, "more than one Host header", true);
      return;
    }
    head_ = method_ == "HEAD";
    auto limit = is_webhook(match_.target) ? cfg().webhook_max_body_bytes
                                           : cfg().http_max_body_bytes;
    if (auto len = parser_->content_length(); len && *len > limit) {
      // Refuse before reading; the unread body makes the connection unusable,
      // so it is drained (bounded) after the answer and then closed.
      drain_after_close_ = true;
      respond_local(errc::payload_too_large,
                    "request body exceeds " + std::to_string(limit) + " bytes", true);
      return;
    }
    parser_->body_limit(limit);
    if (parser_->is_done()) {
      on_request();
      return;
    }
    auto expect = req[http::field::expect];
    if (beast::iequals({expect.data(), expect.size()}, "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *cont,
                        [self = this->shared_from_this(), cont](beast::error_code ec, std::size_t) {
                          if (ec) {
                            self->fail(ec, "continue");
                            self->do_close();
                            return;
                          }
                          self->do_read_body();
                        });
      return;
    }
    do_read_body();
  }

  void do_read_body() {
    lowest().expires_after(std::chrono::seconds{cfg().http_header_timeout_seconds});
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&http_session::on_body, this->shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) {
      on_read_error(ec);
      return;
    }
    on_request();
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      // Beast refused a Content-Length over both limits while finishing the
      // header (its fields are read): the answer and its log line still
      // name the request.
      if (auto& req = parser_->get(); !req.method_string().empty()) {
        take_head(req);
        head_ = method_ == "HEAD";
      }
      drain_after_close_ = true;
      respond_local(errc::payload_too_large, "request body too large", true);
    } else if (ec == http::error::header_limit) {
      respond_status(431, "bad_request", "request header fields too large");
    } else if (ec == http::error::end_of_stream || ec == http::error::partial_message
               || ec == beast::error::timeout || ec == asio::error::operation_aborted
               || ec == asio::error::connection_reset || ec == asio::error::eof
               || ec == asio::ssl::error::stream_truncated) {
      // The client went away (also midway through a request) or stalled:
      // nobody is listening for an answer, and there was no request to
      // count or to log as one.
      fail(ec, "read");
      do_close();
    } else {
      respond_local(errc::bad_request, "malformed HTTP request", true);
    }
  }

  // -- handing over ----------------------------------------------------------------

  /// `/internal` and everything under it is the internal realm (API.md
  /// "Authentication"): without the bearer, a path or method that does not
  /// exist there is `401` like one that does (not `404`/`405`, which would
  /// tell who has no credential which internal endpoints exist). A wrong
  /// bearer counts against AUTH_FAILURES_PER_MINUTE as on the endpoints
  /// (else this would be a way to guess the secret unbraked). True: go on
  /// (not that realm, or the bearer is right); false: answered.
  bool internal_realm_ok() {
    std::string_view path = raw_path_;
    if (path != "/internal" && path.substr(0, 10) != "/internal/")
      return true;
    const auto& req = parser_->get();
    std::optional<std::string> header;
    if (auto it = req.find(http::field::authorization); it != req.end())
      header.emplace(it->value());
    const auto& ctx = *shared_->ctx;
    if (internal_bearer_ok(header ? &*header : nullptr, ctx.cfg.internal_api_secret))
      return true;
    if (header && !header->empty() && ctx.auth_failures)
      if (auto wait = ctx.auth_failures->admit(remote_); wait > 0) {
        auto resp = make_error_response(serial_, errc::rate_limited,
                                        "too many failed authentication attempts");
        resp.headers.push_back({"Retry-After", std::to_string(wait)});
        send(std::move(resp), false);
        return false;
      }
    respond_local(errc::unauthorized, "missing or invalid bearer token", false);
    return false;
  }

  void on_request() {
    lowest().expires_never();
    phase_ = phase::processing;
    if (const auto& fail = failing_path(); !fail.empty() && raw_path_ == fail)
      throw std::runtime_error("test hook: the connection's handler fails on this path");
    if (!preflight_method_.empty() && has_origin_) {
      answer_preflight();
      return;
    }
    if (match_.result != route_match::kind::found && !internal_realm_ok())
      return; // answered 401 (or 429)
    if (match_.result == route_match::kind::not_found) {
      respond_local(errc::not_found, "no such endpoint: " + raw_path_, false);
      return;
    }
    if (match_.result == route_match::kind::method_not_allowed) {
      auto resp = api_response::json(
        serial_, 405, error_body("method_not_allowed", "method " + method_ + " not allowed here"));
      resp.headers.push_back({"Allow", match_.allow});
      send(std::move(resp), false);
      return;
    }
    auto& req = parser_->get();
    api_request r;
    r.serial = ++serial_;
    r.request_id = request_id_;
    r.method = match_.head_as_get ? "GET" : method_;
    if (!percent_decode(raw_path_, r.path))
      r.path = raw_path_;
    r.route = match_.target;
    r.path_params = std::move(match_.params);
    r.query = parse_query(raw_query_);
    r.headers = std::move(header_section_);
    header_section_.clear();
    r.body = std::move(req.body());
    r.remote_address = remote_;
    // Dialpad waits 5 s for a webhook's answer and retries only a 5xx: one
    // that is not stored by then (a hung database, a slow key check) gets
    // its 503 before Dialpad gives up; a late commit makes the retry a
    // duplicate. (Armed first: the fast path's checks count too.)
    bool webhook = match_.result == route_match::kind::found && is_webhook(match_.target);
    timer_.expires_after(webhook ? webhook_timeout : request_timeout);
    timer_.async_wait(beast::bind_front_handler(&http_session::on_request_timeout,
                                                this->shared_from_this(), serial_));
    fast_path_ = handle_webhook_in_session(*shared_->ctx, r, this->weak_from_this());
    if (!fast_path_) {
      if (!handler_)
        handler_ = spawn_http_handler(shared_->sys, shared_->ctx, this->weak_from_this());
      submit_request(handler_, std::move(r));
    }
  }

  void on_deliver(api_response resp) {
    if (resp.serial == handler_failed_serial || resp.serial == fast_path_failed_serial) {
      on_handler_failed(resp.serial == handler_failed_serial);
      return;
    }
    // Late answers (after a timeout) and answers to a closed connection are dropped.
    if (phase_ != phase::processing || resp.serial != serial_)
      return;
    timer_.cancel();
    if (resp.error == errc::none && resp.status == 101) {
      upgrade(std::move(resp));
      return;
    }
    if (resp.error != errc::none)
      render_error(resp);
    send(std::move(resp), false);
  }

  /// The handler ended on an exception: the request it was serving gets
  /// 500 at once (not a 503 at its timeout) and the connection closes; a
  /// stream it was producing is cut. Between requests, the next one gets a
  /// fresh handler.
  void on_handler_failed(bool handler_gone) {
    if (handler_gone) { // not for the webhook fast path: its handler, if any, lives on
      handler_ = nullptr;
      // The handler failed on an earlier request (answered at its timeout):
      // the request at hand is not the handler's.
      if (fast_path_)
        return;
    }
    if (phase_ == phase::processing) {
      timer_.cancel();
      respond_local(errc::internal, "internal error", true);
    } else if (phase_ == phase::streaming) {
      do_close();
    }
  }

  /// The handler authorized a WebSocket upgrade (its body: the app and the
  /// subscriber's filter): the connection leaves HTTP for good.
  void upgrade(api_response resp) {
    auto j = nlohmann::json::parse(resp.body, nullptr, false);
    if (!j.is_object() || !j.contains("app_id")) {
      respond_local(errc::internal, "upgrade failed", true);
      return;
    }
    const auto& req = parser_->get();
    auto header = [&req](http::field f) -> std::optional<std::string_view> {
      auto it = req.find(f);
      if (it == req.end())
        return std::nullopt;
      return std::string_view{it->value().data(), it->value().size()};
    };
    if (req.count(http::field::transfer_encoding) > 0 || req.payload_size().value_or(0) > 0) {
      // A handshake has no body (and so no trailer that could carry its
      // fields past the header section).
      send(api_response::json(serial_, 400,
                              error_body("bad_request", "a WebSocket upgrade has no body")),
           true);
      return;
    }
    if (head_) {
      // HEAD on /ws answers as GET would, but an upgrade is GET only
      // (RFC 6455 §4.1); refused here in JSON (and without a body, as any
      // HEAD answer), not by Beast in plain text.
      send(api_response::json(serial_, 400,
                              error_body("bad_request", "a WebSocket upgrade must be a GET request")),
           true);
      return;
    }
    if (auto bad = check_ws_handshake(req.version(), req.count(http::field::host) > 0,
                                      header(http::field::connection).value_or(""),
                                      header(http::field::sec_websocket_key),
                                      header(http::field::sec_websocket_version))) {
      // Answered here, in JSON: Beast's own refusal is plain text.
      auto refusal = api_response::json(serial_, bad->status, error_body("bad_request", bad->message));
      if (bad->status == 426)
        refusal.headers.push_back({"Sec-WebSocket-Version", "13"});
      send(std::move(refusal), true);
      return;
    }
    ws_filter f;
    f.crm_user_id = j.value("crm_user_id", std::string{});
    for (const auto& e : j.value("events", nlohmann::json::array()))
      f.events.push_back(e.get<std::string>());
    if (j.contains("authorized_at") && j["authorized_at"].is_number_integer())
      f.authorized_at = j["authorized_at"].get<int64_t>();
    f.internal = j.value("internal", false);
    f.key_id = j.value("key_id", std::string{});
    if (j.contains("since") && j["since"].is_number_integer()) {
      f.has_since = true;
      f.since = j["since"].get<int64_t>();
    }
    auto duration_ms = std::chrono::duration<double, std::milli>(
      std::chrono::steady_clock::now() - started_).count();
    shared_->ctx->stats->record(101, std::chrono::microseconds{
                                       static_cast<int64_t>(duration_ms * 1000)},
                                request_stats::clock::now(), route_id());
    log::info("websocket upgrade", {{"path", raw_path_},
                                    {"request_id", request_id_},
                                    {"app_id", j["app_id"].get<std::string>()}});
    phase_ = phase::closed;
    shared_->remove(this); // the WebSocket session registers itself
    std::chrono::milliseconds max_age{j.value("max_age_ms", int64_t{0})};
    parser_->get().set("X-Request-Id", request_id_); // echoed on the 101
    start_ws_session(std::move(stream_), parser_->release(), shared_,
                     j["app_id"].get<std::string>(), std::move(f), max_age);
  }

  void on_request_timeout(uint64_t serial, beast::error_code ec) {
    if (ec || phase_ != phase::processing || serial != serial_)
      return;
    log::warn("request timed out in its actor", {{"request_id", request_id_}});
    send(make_error_response(serial_, errc::timeout, "the request took too long"), false);
  }

  // -- streamed (chunked) responses ---------------------------------------------------

  void on_begin_stream(api_response head) {
    if (phase_ != phase::processing || head.serial != serial_)
      return;
    if (head_) {
      // HEAD: the headers only, as a plain answer; the producer's chunks
      // are refused (pump_chunks answers "stop" outside a stream). The GET
      // answer's length is not known in advance (it is chunked), so there
      // is no Content-Length.
      head.body.clear();
      head_of_stream_ = true;
      send(std::move(head), false);
      return;
    }
    timer_.cancel();
    phase_ = phase::streaming;
    status_ = head.status;
    app_id_ = std::move(head.app_id);
    stream_res_ = {};
    stream_res_.version(11);
    stream_res_.result(head.status);
    stream_res_.set(http::field::content_type, head.content_type);
    stream_res_.set("X-Request-Id", request_id_.empty() ? new_uuid() : request_id_);
    add_cors_headers(stream_res_);
    if constexpr (is_tls)
      stream_res_.set(http::field::strict_transport_security, "max-age=31536000");
    for (auto& h : head.headers)
      stream_res_.set(h.name, h.value);
    // HTTP/1.0 has no chunked coding (RFC 9112 §6.1): the body runs to the
    // end of the connection.
    stream_res_.chunked(!http10_);
    stream_res_.keep_alive(!http10_ && keep_alive_ && !shared_->shutting_down.load());
    serializer_.emplace(stream_res_);
    arm_stream_watchdog();
    chunk_writing_ = true;
    lowest().expires_after(write_timeout);
    http::async_write_header(stream_, *serializer_,
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                               self->on_chunk_written(ec, nullptr, false);
                             });
  }

  // While a stream waits for its producer no asio operation is pending, so
  // this timer keeps the session alive, and closes a stream whose producer
  // sent nothing more for one interval (30 s). While a chunk is being
  // written, it closes the stream only once its client acknowledged nothing
  // for four intervals: a slow reader is never cut, however long one chunk
  // takes (a socket becomes writable again only once about a third of its
  // send buffer drained: at a few KB/s, minutes), and a reader's progress
  // shows only as TCP window updates, one per segment size it read (64 KiB
  // on loopback).
  void arm_stream_watchdog(bool progressed = true) {
    if (progressed)
      stream_progress_at_ = std::chrono::steady_clock::now();
    stream_acked_ = tcp_bytes_acked(lowest().socket().native_handle());
    timer_.expires_after(shared_->stream_watchdog);
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->phase_ != phase::streaming)
        return;
      if (self->chunk_writing_) {
        auto acked = tcp_bytes_acked(self->lowest().socket().native_handle());
        bool moved = acked && self->stream_acked_ && *acked > *self->stream_acked_;
        if (moved
            || std::chrono::steady_clock::now() - self->stream_progress_at_
                 < 4 * self->shared_->stream_watchdog) {
          self->arm_stream_watchdog(moved);
          return;
        }
      }
      log::warn("streamed response stalled, closing", {{"request_id", self->request_id_}});
      self->do_close();
      self->pump_chunks();
    });
  }

  void pump_chunks() {
    if (phase_ != phase::streaming) {
      // The stream never started or is over: tell the producer to stop.
      while (!chunks_.empty()) {
        auto cb = std::move(chunks_.front().second);
        chunks_.pop_front();
        if (cb)
          cb(false);
      }
      return;
    }
    if (chunk_writing_ || chunks_.empty())
      return;
    chunk_writing_ = true;
    current_chunk_ = std::move(chunks_.front().first);
    auto cb = std::move(chunks_.front().second);
    chunks_.pop_front();
    auto shared_cb = std::make_shared<std::function<void(bool)>>(std::move(cb));
    bool last = current_chunk_.last;
    // No deadline on the write itself: the stream watchdog (armed when the
    // previous write ended) closes a stream whose client stopped reading.
    lowest().expires_never();
    auto after_data = [self = this->shared_from_this(), shared_cb, last](beast::error_code ec,
                                                                  std::size_t) {
      if (ec || !last) {
        self->on_chunk_written(ec, shared_cb, false);
        return;
      }
      if (self->http10_) { // no last chunk: the close ends the body
        self->on_chunk_written(ec, shared_cb, true);
        return;
      }
      asio::async_write(self->stream_, http::make_chunk_last(),
                        [self, shared_cb](beast::error_code ec2, std::size_t) {
                          self->on_chunk_written(ec2, shared_cb, true);
                        });
    };
    if (current_chunk_.data.empty())
      after_data(beast::error_code{}, 0);
    else if (http10_)
      asio::async_write(stream_, asio::buffer(current_chunk_.data), std::move(after_data));
    else
      asio::async_write(stream_, http::make_chunk(asio::buffer(current_chunk_.data)),
                        std::move(after_data));
  }

  void on_chunk_written(beast::error_code ec, std::shared_ptr<std::function<void(bool)>> cb,
                        bool finished) {
    chunk_writing_ = false;
    current_chunk_.data.clear();
    if (!ec && !finished && phase_ == phase::streaming)
      arm_stream_watchdog();
    if (ec) {
      if (cb && *cb)
        (*cb)(false);
      fail(ec, "write chunk");
      do_close(); // closed: pump_chunks answers later producers "stop"

      pump_chunks();
      return;
    }
    if (cb && *cb)
      (*cb)(true);
    if (finished) {
      phase_ = phase::writing;
      timer_.cancel();
      serializer_.reset();
      on_write(!stream_res_.keep_alive(), ec, 0);
      return;
    }
    pump_chunks();
  }

  /// A CORS preflight: 204 with what the origin may do, 403 for an origin
  /// that is not allowed, 404 / 405 as for the request it announces.
  void answer_preflight() {
    if (!cors_origin_) {
      respond_local(errc::forbidden, "origin not allowed", false);
      return;
    }
    auto announced = api_router().match(preflight_method_, raw_path_);
    if (announced.result == route_match::kind::not_found) {
      respond_local(errc::not_found, "no such endpoint: " + raw_path_, false);
      return;
    }
    api_response resp;
    resp.serial = serial_;
    resp.status = 204;
    resp.content_type.clear();
    resp.headers.push_back({"Access-Control-Allow-Methods",
                            announced.result == route_match::kind::method_not_allowed
                              ? announced.allow : preflight_method_});
    resp.headers.push_back({"Access-Control-Allow-Headers", cors_allow_headers(preflight_headers_)});
    resp.headers.push_back({"Access-Control-Max-Age", std::to_string(cors_max_age_seconds)});
    send(std::move(resp), false);
  }

  /// The metrics route of this request: its endpoint, or the last id for
  /// requests that matched none.
  int route_id() const {
    static_assert(endpoint_count < static_cast<int>(request_stats::max_routes),
                  "one route id is kept for unmatched requests");
    return match_.result == route_match::kind::found ? static_cast<int>(match_.target)
                                                     : static_cast<int>(request_stats::max_routes) - 1;
  }

  /// The CORS headers of every answer to an allowed origin. When the answer
  /// depends on the origin (named origins, with or without `*`), every answer says
  /// `Vary: Origin`, to an allowed origin or not, so that a shared cache
  /// never serves one origin's answer to another.
  template <class Response>
  void add_cors_headers(Response& res) {
    const auto& allowed = cfg().cors_allowed_origins;
    bool star_only = std::all_of(allowed.begin(), allowed.end(),
                                 [](const std::string& o) { return o == "*"; });
    if (!star_only) // (an empty list: no CORS at all)
      res.set(http::field::vary, "Origin");
    if (!cors_origin_)
      return;
    res.set(http::field::access_control_allow_origin, *cors_origin_);
    res.set(http::field::access_control_expose_headers, cors_expose_headers);
  }

  // -- writing ---------------------------------------------------------------------

  void respond_local(errc code, std::string message, bool close_after) {
    send(make_error_response(serial_, code, std::move(message)), close_after);
  }

  void respond_status(unsigned status, std::string_view code, std::string_view message) {
    auto resp = api_response::json(serial_, static_cast<uint16_t>(status), error_body(code, message));
    send(std::move(resp), true);
  }

  void send(api_response resp, bool close_after) {
    phase_ = phase::writing;
    status_ = resp.status;
    app_id_ = std::move(resp.app_id);
    res_ = {};
    res_.version(11);
    res_.result(resp.status);
    if (!resp.content_type.empty())
      res_.set(http::field::content_type, resp.content_type);
    res_.set("X-Request-Id", request_id_.empty() ? new_uuid() : request_id_);
    add_cors_headers(res_);
    if constexpr (is_tls)
      res_.set(http::field::strict_transport_security, "max-age=31536000");
    if (resp.status == 401)
      res_.set(http::field::www_authenticate, auth_challenge(raw_path_));
    for (auto& h : resp.headers)
      res_.set(h.name, h.value);
    res_.body() = std::move(resp.body);
    res_.keep_alive(keep_alive_ && !close_after && !shared_->shutting_down.load());
    // An HTTP/1.0 client assumes the connection closes unless told
    // otherwise (its keep_alive_ was true only if it asked for it).
    if (http10_ && res_.keep_alive())
      res_.set(http::field::connection, "keep-alive");
    res_.prepare_payload();
    // RFC 9110 §8.6: no Content-Length in a 204 or 304 (Beast sets 0).
    if (res_.result() == http::status::no_content || res_.result() == http::status::not_modified)
      res_.erase(http::field::content_length);
    if (head_)
      res_.body().clear(); // Content-Length stays that of the GET answer
    if (head_of_stream_) {
      res_.erase(http::field::content_length);
      head_of_stream_ = false;
    }
    lowest().expires_after(write_timeout);
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&http_session::on_write, this->shared_from_this(),
                                                !res_.keep_alive()));
  }

  void on_write(bool close_after, beast::error_code ec, std::size_t) {
    auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started_);
    shared_->ctx->stats->record(status_, elapsed, request_stats::clock::now(), route_id());
    if (log::enabled(log::level::info)) {
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.3f", static_cast<double>(elapsed.count()) / 1000.0);
      if (app_id_.empty())
        log::info("request", {{"method", method_},
                              {"path", raw_path_},
                              {"status", std::to_string(status_)},
                              {"duration_ms", ms},
                              {"request_id", request_id_}});
      else
        log::info("request", {{"method", method_},
                              {"path", raw_path_},
                              {"status", std::to_string(status_)},
                              {"duration_ms", ms},
                              {"request_id", request_id_},
                              {"app_id", app_id_}});
    }
    if (ec) {
      fail(ec, "write");
      do_close();
      return;
    }
    if (close_after && drain_after_close_) {
      do_drain();
      return;
    }
    if (close_after) {
      do_close();
      return;
    }
    do_wait_request();
  }

  // After an early 413 the client may still be sending its body. Closing with
  // unread data would reset the connection and could destroy the answer
  // before the client reads it, so read and discard for a bounded time first.
  void do_drain() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    drain_deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds{2};
    read_discard();
  }

  void read_discard() {
    lowest().expires_at(drain_deadline_);
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(64 * 1024),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) {
                                self->do_close();
                                return;
                              }
                              self->read_discard();
                            });
  }

  void do_close() {
    if (phase_ == phase::closed)
      return;
    if (phase_ == phase::streaming) {
      // A stream cut short still counts, and says so in the log.
      auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started_);
      shared_->ctx->stats->record(status_, elapsed, request_stats::clock::now(), route_id());
      log::warn("streamed response cut short", {{"method", method_},
                                                {"path", raw_path_},
                                                {"request_id", request_id_}});
    }
    phase_ = phase::closed;
    timer_.cancel();
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    lowest().cancel();
  }

  void fail(beast::error_code ec, const char* what) {
    // Aborts, time-outs and hang-ups are a client's right, not our failure.
    if (ec == asio::error::operation_aborted || ec == beast::error::timeout
        || ec == http::error::end_of_stream || ec == asio::error::eof
        || ec == http::error::partial_message || ec == asio::ssl::error::stream_truncated
        || ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
      return;
    log::debug("http session error", {{"op", what}, {"error", ec.message()}});
  }

  const config& cfg() const {
    return shared_->ctx->cfg;
  }

  beast::tcp_stream& lowest() {
    return beast::get_lowest_layer(stream_);
  }

  Stream stream_;
  /// What the client had acknowledged when the stream watchdog was armed.
  std::optional<uint64_t> stream_acked_;
  /// When the stream last moved (a chunk written, or the client acknowledged more).
  std::chrono::steady_clock::time_point stream_progress_at_{};
  beast::flat_buffer buffer_;
  std::shared_ptr<server_shared> shared_;
  asio::steady_timer timer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  http::response<http::empty_body> stream_res_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
  std::deque<std::pair<stream_chunk, std::function<void(bool)>>> chunks_;
  stream_chunk current_chunk_;
  bool chunk_writing_ = false;
  http_handler_actor handler_;
  std::string remote_;
  phase phase_ = phase::idle;
  uint64_t serial_ = 0;
  /// The request at hand went to the webhook fast path, not to the handler.
  bool fast_path_ = false;
  route_match match_;
  std::string method_, raw_path_, raw_query_, request_id_, app_id_;
  /// The header section's fields, lowercase names (not the trailer's).
  std::vector<name_value> header_section_;
  unsigned status_ = 0;
  bool keep_alive_ = true;
  bool http10_ = false; ///< The request was HTTP/1.0.
  bool head_ = false;
  bool head_of_stream_ = false; ///< The HEAD answer of a streamed (chunked) GET.
  std::optional<std::string> cors_origin_;   ///< Access-Control-Allow-Origin, when allowed.
  bool has_origin_ = false;
  std::string preflight_method_, preflight_headers_;
  bool drain_after_close_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

} // namespace

void start_http_session(tcp::socket socket, std::shared_ptr<server_shared> shared) {
  if (shared->tls) {
    auto& tls = *shared->tls;
    std::make_shared<http_session<beast::ssl_stream<beast::tcp_stream>>>(std::move(socket),
                                                                        std::move(shared), tls)
      ->run();
  } else {
    std::make_shared<http_session<beast::tcp_stream>>(std::move(socket), std::move(shared))->run();
  }
}

} // namespace cti::net
