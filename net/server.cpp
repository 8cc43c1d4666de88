#include "net/server.hpp"

#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include "actors/node_context.hpp"
#include "domain/internal_failures.hpp"
#include "domain/log.hpp"
#include "net/http_session.hpp"

namespace cti::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// Accepts connections and starts a session for each on one of the
/// io_contexts, in turn. Each io_context is run by one thread, so a
/// session's handlers never run at once without a strand: posting to a
/// session is one queue operation, not two.
class listener : public std::enable_shared_from_this<listener> {
public:
  listener(std::vector<asio::io_context*> contexts, std::shared_ptr<server_shared> shared)
    : contexts_(std::move(contexts)), acceptor_(*contexts_.front()), shared_(std::move(shared)) {
  }

  std::string open(uint16_t port) {
    boost::system::error_code ec;
    tcp::endpoint ep{tcp::v4(), port};
    acceptor_.open(ep.protocol(), ec);
    if (!ec)
      acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec)
      acceptor_.bind(ep, ec);
    if (!ec)
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return "cannot listen on port " + std::to_string(port) + ": " + ec.message();
    port_ = acceptor_.local_endpoint().port();
    return {};
  }

  uint16_t port() const {
    return port_;
  }

  void run() {
    do_accept();
  }

  void stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      boost::system::error_code ec;
      self->acceptor_.close(ec);
    });
  }

private:
  void do_accept() {
    auto& target = *contexts_[next_++ % contexts_.size()];
    acceptor_.async_accept(target.get_executor(),
                           boost::beast::bind_front_handler(&listener::on_accept,
                                                            shared_from_this()));
  }

  void on_accept(boost::system::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open())
      return;
    if (ec) {
      // Out of descriptors (EMFILE/ENFILE) or another resource: the pending
      // connection stays in the backlog, so accepting again at once would
      // spin. Pause, and say so at most once a second.
      auto now = std::chrono::steady_clock::now();
      if (now - last_accept_warning_ > std::chrono::seconds{1}) {
        last_accept_warning_ = now;
        log::warn("accept failed, pausing", {{"error", ec.message()}});
      }
      backoff_.expires_after(std::chrono::milliseconds{50});
      backoff_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
        if (!wait_ec)
          self->do_accept();
      });
      return;
    } else if (shared_->ctx->stats->active_connections() >= shared_->ctx->cfg.max_connections) {
      // Over MAX_CONNECTIONS: refuse at once rather than queue unbounded work.
      // Said at most once a second with the count since, not once per
      // connection (a burst would flood the log).
      ++refused_since_warning_;
      auto now = std::chrono::steady_clock::now();
      if (now - last_refusal_warning_ > std::chrono::seconds{1}) {
        last_refusal_warning_ = now;
        log::warn("connections refused: MAX_CONNECTIONS reached",
                  {{"refused", std::to_string(refused_since_warning_)}});
        refused_since_warning_ = 0;
      }
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      start_http_session(std::move(socket), shared_);
    }
    do_accept();
  }

  std::vector<asio::io_context*> contexts_;
  std::size_t next_ = 0; ///< The context the next connection goes to.
  tcp::acceptor acceptor_;
  asio::steady_timer backoff_{*contexts_.front()};
  std::chrono::steady_clock::time_point last_accept_warning_{};
  std::chrono::steady_clock::time_point last_refusal_warning_{};
  uint64_t refused_since_warning_ = 0; ///< Refusals not yet in a warning line.
  std::shared_ptr<server_shared> shared_;
  uint16_t port_ = 0;
};

} // namespace

struct server::impl {
  impl(caf::actor_system& sys, std::shared_ptr<const node_context> ctx)
    : threads_count(ctx->cfg.http_threads > 0
                      ? ctx->cfg.http_threads
                      : std::max(1u, std::thread::hardware_concurrency())),
      shared(std::make_shared<server_shared>(sys, std::move(ctx))) {
    for (int i = 0; i < threads_count; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
      // A context without a connection yet must not return from run().
      work.push_back(asio::make_work_guard(*contexts.back()));
    }
  }

  int threads_count;
  /// One per asio thread (see listener).
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::shared_ptr<server_shared> shared;
  std::shared_ptr<listener> acceptor;
  std::vector<std::thread> threads;
  bool stopped = false;
};

server::server(caf::actor_system& sys, std::shared_ptr<const node_context> ctx)
  : impl_(std::make_unique<impl>(sys, std::move(ctx))) {
}

server::~server() {
  if (!impl_->stopped)
    shutdown(std::chrono::milliseconds{0});
  // Actors may still answer sessions (an ingester dropping its waiting
  // webhooks as the node stops): from here on such answers go nowhere,
  // rather than into an io_context being destroyed.
  impl_->shared->close_posts();
}

namespace {

/// The server's TLS context: TLS 1.2 and 1.3 only, forward-secret AEAD
/// ciphers for 1.2, the certificate chain and key from the files.
tls_problem load_tls(const config& cfg, std::shared_ptr<asio::ssl::context>& out) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2
                   | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1
                   | asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx->native_handle(),
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  // An encrypted key is not read with a passphrase we do not have: without
  // this callback OpenSSL would prompt on the terminal and wait.
  ctx->set_password_callback(
    [](std::size_t, asio::ssl::context::password_purpose) { return std::string{}; });
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cfg.tls_cert_file, ec);
  if (ec)
    return {"TLS_CERT_FILE", "cannot load TLS_CERT_FILE: " + ec.message()};
  ctx->use_private_key_file(cfg.tls_key_file, asio::ssl::context::pem, ec);
  if (ec)
    return {"TLS_KEY_FILE", "cannot load TLS_KEY_FILE: " + ec.message()};
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return {"TLS_KEY_FILE", "TLS_KEY_FILE does not match TLS_CERT_FILE"};
  out = std::move(ctx);
  return {};
}

/// Runs `ioc` until it is stopped. An exception out of a handler (a bug in
/// a connection's code) must not end the process (std::terminate, every
/// connection and WebSocket gone): it is logged and the thread runs the
/// context again. It costs the connection whose handler threw: its chain of
/// operations ended there, so it is released and closed once its last
/// pending timer, if any, has fired.
void run_context(asio::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return; // stopped
    } catch (const std::exception& e) {
      count_internal_failure(failure_site::connection);
      log::error("an exception escaped a connection's handler; that connection is dropped",
                 {{"error", e.what()}});
    } catch (...) {
      count_internal_failure(failure_site::connection);
      log::error("an exception escaped a connection's handler; that connection is dropped",
                 {{"error", "unknown exception"}});
    }
  }
}

} // namespace

tls_problem check_tls_files(const config& cfg) {
  if (cfg.tls_cert_file.empty())
    return {};
  std::shared_ptr<asio::ssl::context> unused;
  return load_tls(cfg, unused);
}

std::string server::start() {
  auto& d = *impl_;
  const auto& cfg = d.shared->ctx->cfg;
  if (!cfg.tls_cert_file.empty())
    if (auto problem = load_tls(cfg, d.shared->tls); !problem.variable.empty())
      return problem.message;
  std::vector<asio::io_context*> contexts;
  for (auto& c : d.contexts)
    contexts.push_back(c.get());
  d.acceptor = std::make_shared<listener>(std::move(contexts), d.shared);
  if (auto err = d.acceptor->open(d.shared->ctx->cfg.port); !err.empty())
    return err;
  d.acceptor->run();
  for (auto& c : d.contexts)
    d.threads.emplace_back([ioc = c.get()] { run_context(*ioc); });
  return {};
}

uint16_t server::port() const {
  return impl_->acceptor ? impl_->acceptor->port() : 0;
}

void server::shutdown(std::chrono::milliseconds grace) {
  auto& d = *impl_;
  if (d.stopped)
    return;
  d.stopped = true;
  d.shared->shutting_down.store(true);
  if (d.acceptor)
    d.acceptor->stop();
  d.shared->shutdown_all();
  // The owning thread (main) waits here; asio threads keep serving the
  // in-flight requests until they are done or the grace period ends.
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (d.shared->size() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  if (auto left = d.shared->size(); left > 0)
    log::warn("closing connections still open after the grace period",
              {{"connections", std::to_string(left)}});
  for (auto& c : d.contexts)
    c->stop();
  for (auto& t : d.threads)
    t.join();
  d.threads.clear();
}

} // namespace cti::net
