#include "net/ws_session.hpp"

// One WebSocket connection after the upgrade, on its connection's
// io_context (one thread):
//
//   accept ──► read loop (client frames: {"type":"ping"} → pong; anything
//   else → close 1008; > 64 KiB → 1009 and invalid UTF-8 → 1007 by Beast)
//      ▲
//   tenant ──frames──► ws_session actor ──send_text──► bounded queue ──► write
//                                                      (full: close 1013)
//
// The queue is bounded in frames (WS_MAX_QUEUED_MESSAGES) and bytes
// (WS_MAX_QUEUED_BYTES); see too_slow. Once it is at its bound, a timer
// checks the write in progress, so a client that stops reading after a
// burst (a replay) is let go within moments, not at the heartbeat; a
// closing connection keeps only the frame being written.
//
// Heartbeat: a ping every WS_HEARTBEAT_SECONDS; a connection from which
// nothing (no pong, no frame) came for two pings running is closed (1001)
// when the next would be due, i.e. a ping unanswered for two intervals
// (API.md "closes a connection that has not answered within two intervals").

#include <algorithm>
#include <deque>
#include <type_traits>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <nlohmann/json.hpp>

#include "actors/node_context.hpp"
#include "actors/ws_session.hpp"
#include "actors/ws_stream.hpp"
#include "domain/json_limits.hpp"
#include "domain/log.hpp"

namespace cti::net {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;

namespace {

/// Largest client frame (API.md: over 64 KiB closes with 1009).
constexpr std::size_t max_client_frame = 64 * 1024;
/// A write the socket has not taken for this long means the client is not
/// reading.
constexpr auto slow_write = std::chrono::milliseconds{250};
/// Live events that may arrive at once (a few pollers' rounds, a gap
/// fill), at least: part of the hard bound, see too_slow. With larger
/// rounds (EVENT_BATCH_MAX) it is every poller's largest round.
constexpr std::size_t burst_events = 1024;
/// After the client's close frame: how long its end of the TCP connection
/// may stay open before the socket is dropped.
constexpr auto teardown_wait = std::chrono::milliseconds{2000};
/// Client pings held back until the stream's head is out; more than these
/// before it get no answer (a client has no reason to send more).
constexpr int max_deferred_pongs = 16;

template <class Stream>
class ws_session : public ws_sink,
                   public connection,
                   public std::enable_shared_from_this<ws_session<Stream>> {
public:
  ws_session(Stream&& stream, std::shared_ptr<server_shared> shared,
             std::string app_id, ws_filter filter, std::chrono::milliseconds max_age)
    : ws_(std::move(stream)),
      max_age_timer_(ws_.get_executor()),
      heartbeat_timer_(ws_.get_executor()),
      stall_timer_(ws_.get_executor()),
      max_age_(max_age),
      shared_(std::move(shared)),
      app_id_(std::move(app_id)),
      filter_(std::move(filter)) {
    shared_->ctx->stats->connection_opened();
    // What may come at once to a client that reads: a replay
    // (WS_REPLAY_MAX frames) and a moment's live events.
    const auto& cfg = shared_->ctx->cfg;
    const auto rounds = static_cast<std::size_t>(cfg.event_pollers)
                        * static_cast<std::size_t>(std::max(cfg.event_batch_size, cfg.event_batch_max));
    limits_.frames = static_cast<std::size_t>(cfg.ws_max_queued_messages);
    limits_.bytes = cfg.ws_max_queued_bytes;
    limits_.burst = static_cast<std::size_t>(cfg.ws_replay_max) + std::max(burst_events, rounds);
    limits_.stall = slow_write;
  }

  ~ws_session() override {
    shared_->remove(this);
    shared_->ctx->stats->connection_closed();
    if (counted_)
      shared_->ctx->ws->closed(app_id_);
    if (actor_)
      stop_ws_session(actor_);
  }

  void run(http::request<http::string_body> req) {
    shared_->add(this, this->weak_from_this());
    const auto& cfg = shared_->ctx->cfg;
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::seconds{10};
    // The heartbeat is ours (Beast's keep-alive closes one interval after
    // its only ping); the handshake timeout also bounds the closing one.
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
    heartbeat_ = std::chrono::seconds{cfg.ws_heartbeat_seconds};
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      heard_ = true;
      if (kind == websocket::frame_type::close)
        peer_closed();
    });
    ws_.read_message_max(max_client_frame);
    // The 101 carries the request's id like every other answer (the HTTP
    // session put it on the request before handing the connection over).
    std::string request_id{req["X-Request-Id"]};
    // Over TLS it says HTTPS only, as every other answer does (the 101
    // lacked it until the twenty-eighth session).
    ws_.set_option(websocket::stream_base::decorator([request_id](websocket::response_type& res) {
      res.set(http::field::server, "cti-server");
      if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>)
        res.set(http::field::strict_transport_security, "max-age=31536000");
      if (!request_id.empty())
        res.set("X-Request-Id", request_id);
    }));
    ws_.async_accept(req, beast::bind_front_handler(&ws_session::on_accept, this->shared_from_this()));
  }

  // -- ws_sink (any thread) ------------------------------------------------------

  /// Posts to the connection's thread, unless the server is being torn
  /// down (server_shared::post).
  template <class Handler>
  void post_here(Handler&& h) {
    shared_->post(ws_.get_executor(), std::forward<Handler>(h));
  }

  void send_text(std::shared_ptr<const std::string> frame) override {
    post_here([self = this->shared_from_this(), frame = std::move(frame)]() mutable {
      if (is_head_end(*frame))
        self->head_done();
      else
        self->enqueue(std::move(frame));
    });
  }

  void close(uint16_t code, std::string reason) override {
    post_here([self = this->shared_from_this(), code, reason = std::move(reason)] {
      self->start_close(code, reason);
    });
  }

  // -- connection (any thread) ------------------------------------------------------

  void begin_shutdown() override { close(1001, "server shutting down"); }

private:
  void on_accept(beast::error_code ec) {
    if (ec) {
      log::debug("websocket handshake failed", {{"error", ec.message()}});
      return;
    }
    open_ = true;
    counted_ = true;
    shared_->ctx->ws->opened(app_id_);
    if (closing_) {
      // Asked to close (shutdown) during the handshake.
      arm_heartbeat(close_deadline());
      send_close();
      return;
    }
    actor_ = spawn_ws_session(shared_->sys, shared_->ctx, this->weak_from_this(), app_id_, filter_);
    arm_heartbeat(heartbeat_);
    if (max_age_.count() > 0) {
      max_age_timer_.expires_after(max_age_);
      max_age_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
        if (!ec)
          self->start_close(1000, "view expired, open a new one");
      });
    }
    if (shared_->shutting_down.load()) {
      start_close(1001, "server shutting down");
      return;
    }
    do_read();
  }

  void do_read() {
    ws_.async_read(buffer_, beast::bind_front_handler(&ws_session::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) {
      // Closed by the peer, a timeout (no pong), a protocol error Beast
      // already answered with its close code (1009 too big, 1007 bad
      // UTF-8), or our own close: in every case the connection is done.
      open_ = false;
      cancel_timers(); // (they hold the session alive)
      return;
    }
    heard_ = true;
    if (!ws_.got_text()) {
      buffer_.consume(buffer_.size());
      start_close(1003, "binary frames are not supported");
      return;
    }
    auto text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    // Read as every client's JSON is (depth first, a key named twice
    // refused): `{"type":"ping","type":"x"}` is no ping.
    auto parsed = parse_untrusted_json(text);
    const auto& j = parsed.value;
    if (parsed.fault == json_fault::none && j.is_object() && j.contains("type")
        && j["type"] == "ping") {
      // The stream's head (welcome, replay_truncated) goes first.
      if (head_done_)
        enqueue(pong_frame());
      else if (deferred_pongs_ < max_deferred_pongs)
        ++deferred_pongs_;
    } else {
      start_close(1008, "expected {\"type\":\"ping\"}");
      return;
    }
    do_read();
  }

  static std::shared_ptr<const std::string> pong_frame() {
    static const auto pong = std::make_shared<const std::string>(R"({"type":"pong"})");
    return pong;
  }

  /// The stream's head is queued: the pongs held back go after it.
  void head_done() {
    head_done_ = true;
    for (; deferred_pongs_ > 0; --deferred_pongs_)
      enqueue(pong_frame());
  }

  /// The heartbeat timer, which is also the closing deadline once a close
  /// began. A tick already queued when the timer is set again is stale:
  /// the generation tells.
  void arm_heartbeat(std::chrono::milliseconds after) {
    heartbeat_timer_.expires_after(after);
    heartbeat_timer_.async_wait(
      [self = this->shared_from_this(), gen = ++heartbeat_gen_](beast::error_code ec) {
        if (!ec && gen == self->heartbeat_gen_)
          self->on_heartbeat();
      });
  }

  /// The client started a close (its close frame came while we read): Beast
  /// answers it and then waits for the client to end the TCP connection. A
  /// client that keeps its socket open after the handshake held the
  /// session (and its place in the counts) until the heartbeat gave up on
  /// it; it now has `teardown_wait`. (The answer to a close we started is
  /// read by Beast's close operation, which calls no control callback: that
  /// close, teardown included, is bounded by the handshake timeout.)
  void peer_closed() {
    closing_ = true;
    close_sent_ = true; // Beast answers the client's close itself
    drop_queue();
    arm_heartbeat(teardown_wait);
  }

  /// How long a close may take (waiting behind a write or ping, then the
  /// close handshake) before the socket is dropped: two intervals, so a
  /// client that reads late still finds why it was closed (1013), and one
  /// that never reads holds nothing for good (Beast bounds the handshake
  /// only once the close frame is out). Shutdown stops the connections
  /// still open after its grace period.
  std::chrono::milliseconds close_deadline() const { return 2 * heartbeat_; }

  /// Every interval: a ping; after two pings running with nothing heard
  /// back, the client is taken for gone. Once closing: the close did not
  /// finish in time, the socket goes.
  void on_heartbeat() {
    if (!open_)
      return;
    if (closing_) {
      drop_socket();
      return;
    }
    if (heard_)
      missed_ = 0;
    else if (pinged_)
      ++missed_;
    heard_ = false;
    if (missed_ >= 2) {
      if (writing_ || ping_in_flight_)
        drop_socket(); // a write the client does not take: it is gone
      else
        start_close(1001, "no pong within two heartbeat intervals");
      return;
    }
    if (!ping_in_flight_) {
      ping_in_flight_ = true;
      pinged_ = true;
      ws_.async_ping({}, [self = this->shared_from_this()](beast::error_code) {
        self->ping_in_flight_ = false;
      });
    }
    arm_heartbeat(heartbeat_);
  }

  /// Closes the TCP connection under the WebSocket: every pending read and
  /// write ends with an error, which finishes the session.
  void drop_socket() {
    open_ = false;
    cancel_timers();
    beast::error_code ec;
    auto& lowest = beast::get_lowest_layer(ws_);
    if constexpr (requires { lowest.socket(); })
      lowest.socket().close(ec);
    else
      lowest.close(ec);
  }

  void cancel_timers() {
    max_age_timer_.cancel();
    heartbeat_timer_.cancel();
    stall_timer_.cancel();
  }

  send_queue_state queue_state() const {
    return {queue_.size(), queued_bytes_, writing_,
            writing_ ? std::chrono::steady_clock::now() - write_started_
                     : std::chrono::steady_clock::duration{}};
  }

  /// Drops what waits in the queue: all of it, or when a frame is being
  /// written (it cannot be cut), all but that one.
  void drop_queue() {
    const std::size_t keep = writing_ && !queue_.empty() ? 1 : 0;
    while (queue_.size() > keep) {
      queued_bytes_ -= queue_.back()->size();
      queue_.pop_back();
    }
  }

  void enqueue(std::shared_ptr<const std::string> frame) {
    if (!open_ || closing_)
      return;
    // Too slow: the queue is at its bound *and* the socket has not taken
    // the frame in writing for a while. A burst (a replay, a catch-up
    // read) fills the queue for a moment even on a fast client; it drains
    // at once.
    if (too_slow(queue_state(), limits_)) {
      // A client that cannot keep up is let go; the others never wait for it.
      start_close(1013, "client too slow");
      return;
    }
    queued_bytes_ += frame->size();
    queue_.push_back(std::move(frame));
    if (!writing_)
      do_write();
    // (No clock read here: this runs for every frame of a fan-out.)
    if (!stall_armed_ && at_soft_bound({queue_.size(), queued_bytes_}, limits_))
      arm_stall(limits_.stall);
  }

  /// The queue is at its bound: checks, `after` from now, whether the
  /// write in progress has been stuck for the stall time (no more frames
  /// need come for that to be noticed), and again until the queue is below
  /// its bound. Armed only when no wait is pending (or from the wait's own
  /// handler), so a wait is never overtaken; one cancelled by a close
  /// finds the connection closing.
  void arm_stall(std::chrono::steady_clock::duration after) {
    stall_armed_ = true;
    stall_timer_.expires_after(after);
    stall_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      self->stall_armed_ = false;
      if (!ec)
        self->on_stall_check();
    });
  }

  void on_stall_check() {
    if (!open_ || closing_)
      return;
    auto q = queue_state();
    if (!at_soft_bound(q, limits_))
      return; // drained below its bound: the next time it is there re-arms
    if (too_slow(q, limits_)) {
      start_close(1013, "client too slow");
      return;
    }
    // The write in progress (a queue at its bound is never idle) is not
    // older than the stall time: look again just after it would be stuck.
    arm_stall(limits_.stall - q.writing_for + std::chrono::milliseconds{1});
  }

  void do_write() {
    writing_ = true;
    write_started_ = std::chrono::steady_clock::now();
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()),
                    beast::bind_front_handler(&ws_session::on_write, this->shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) {
      open_ = false;
      drop_queue();
      cancel_timers();
      return;
    }
    shared_->ctx->ws->sent();
    queued_bytes_ -= queue_.front()->size();
    queue_.pop_front();
    if (closing_) {
      drop_queue();
      if (!close_sent_)
        send_close();
      return;
    }
    if (!queue_.empty())
      do_write();
  }

  void start_close(uint16_t code, const std::string& reason) {
    if (closing_)
      return;
    closing_ = true;
    if (code == 1013) {
      // Too slow: its send queue is full, or (the tenant's close) more live
      // events arrived during its replay than the queue holds. Counted once.
      shared_->ctx->ws->dropped_slow_consumer();
      log::warn("websocket client too slow, closing",
                {{"app_id", app_id_},
                 {"reason", reason},
                 {"queued_frames", std::to_string(queue_.size())},
                 {"queued_bytes", std::to_string(queued_bytes_)}});
    }
    close_reason_ = websocket::close_reason{static_cast<websocket::close_code>(code), reason};
    if (!open_) {
      // Not accepted yet (or already gone): nothing to say goodbye to.
      return;
    }
    // What is being written finishes first (a frame cannot be cut); the
    // rest of the queue is dropped now (a client that does not read must
    // not hold it until the deadline). A close that has not finished by
    // the deadline (a write or ping the client does not take, no close
    // answer) drops the socket (on_heartbeat).
    arm_heartbeat(close_deadline());
    stall_timer_.cancel();
    drop_queue();
    if (!writing_)
      send_close();
  }

  void send_close() {
    close_sent_ = true;
    max_age_timer_.cancel();
    stall_timer_.cancel();
    ws_.async_close(close_reason_, [self = this->shared_from_this()](beast::error_code) {
      self->open_ = false;
      self->heartbeat_timer_.cancel();
    });
  }

  websocket::stream<Stream> ws_;
  asio::steady_timer max_age_timer_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer stall_timer_;      ///< Armed while the queue is at its bound.
  std::chrono::seconds heartbeat_{30};
  std::chrono::milliseconds max_age_;
  beast::flat_buffer buffer_;
  std::shared_ptr<server_shared> shared_;
  std::string app_id_;
  ws_filter filter_;
  ws_session_actor actor_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::size_t queued_bytes_ = 0;        ///< The bytes of the frames in queue_.
  send_queue_limits limits_;
  bool stall_armed_ = false;             ///< A stall check is pending.
  websocket::close_reason close_reason_;
  bool open_ = false;
  bool counted_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool close_sent_ = false;
  bool head_done_ = false;      ///< The welcome (and replay_truncated) are queued.
  int deferred_pongs_ = 0;      ///< Pings answered once the head is out.
  bool heard_ = false;          ///< A frame came since the last heartbeat tick.
  bool pinged_ = false;         ///< A ping went out at the last tick.
  bool ping_in_flight_ = false;
  int missed_ = 0;              ///< Pings running that nothing answered.
  uint64_t heartbeat_gen_ = 0;  ///< Which arming of the heartbeat timer is current.
  std::chrono::steady_clock::time_point write_started_{};
};

} // namespace

void start_ws_session(beast::tcp_stream&& stream, http::request<http::string_body> req,
                      std::shared_ptr<server_shared> shared, std::string app_id,
                      ws_filter filter, std::chrono::milliseconds max_age) {
  // The bare socket: the WebSocket stream keeps its own timeouts, and
  // tcp_stream's layer (its timer bookkeeping on every write) would only
  // add work to each frame of a fan-out.
  auto s = std::make_shared<ws_session<beast::tcp_stream::socket_type>>(
    stream.release_socket(), std::move(shared), std::move(app_id), std::move(filter), max_age);
  s->run(std::move(req));
}

void start_ws_session(beast::ssl_stream<beast::tcp_stream>&& stream,
                      http::request<http::string_body> req, std::shared_ptr<server_shared> shared,
                      std::string app_id, ws_filter filter, std::chrono::milliseconds max_age) {
  auto s = std::make_shared<ws_session<beast::ssl_stream<beast::tcp_stream>>>(
    std::move(stream), std::move(shared), std::move(app_id), std::move(filter), max_age);
  s->run(std::move(req));
}

} // namespace cti::net
