#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

namespace cti {
struct config;
struct node_context;
} // namespace cti

namespace cti::net {

/// Why TLS_CERT_FILE / TLS_KEY_FILE cannot serve: the variable to blame
/// and the message; both empty when they load and match.
struct tls_problem {
  std::string variable;
  std::string message;
};

/// Loads TLS_CERT_FILE / TLS_KEY_FILE as the server will (when set).
/// Start-up runs it with the configuration checks, so an unreadable file is
/// an invalid configuration (exit 2) found before anything else starts.
tls_problem check_tls_files(const config& cfg);

/// The Beast frontend: an acceptor and HTTP sessions on asio threads, one
/// io_context per thread (HTTP_THREADS), each connection on one of them in
/// turn. No asio thread ever waits: requests go to actors, answers are
/// posted back to the connection's io_context.
class server {
public:
  server(caf::actor_system& sys, std::shared_ptr<const node_context> ctx);
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds PORT (0: any free port) on all interfaces and starts the asio
  /// threads. Returns an error text, empty on success.
  std::string start();

  /// The bound port (after a successful `start`).
  uint16_t port() const;

  /// Graceful stop, like Seastar's gate: stop accepting, close idle
  /// keep-alive connections, let in-flight requests finish (their responses
  /// carry `Connection: close`), wait at most `grace`, then stop the threads.
  /// Called from the thread that owns the server (main), which may wait.
  void shutdown(std::chrono::milliseconds grace);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace cti::net
