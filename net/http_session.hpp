#pragma once

// Internal to net/: shared between the listener (server.cpp) and the HTTP
// sessions. Includes Boost.Asio, so only net/*.cpp include it.

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <caf/fwd.hpp>

namespace cti {
struct node_context;
} // namespace cti

namespace boost::asio::ssl {
class context;
}

namespace cti::net {

/// A connection that can be asked to wind down.
class connection {
public:
  virtual ~connection() = default;
  /// Thread-safe: close at once when idle, else after the current response.
  virtual void begin_shutdown() = 0;
};

/// State every session of one server shares.
struct server_shared {
  caf::actor_system& sys;
  std::shared_ptr<const node_context> ctx;
  std::atomic<bool> shutting_down{false};
  /// TLS_CERT_FILE / TLS_KEY_FILE loaded: every connection speaks TLS
  /// (HTTPS, WSS). Null: plain HTTP.
  std::shared_ptr<boost::asio::ssl::context> tls;

  /// How long a streamed answer may go without progress: its producer
  /// sending nothing more, or its client acknowledging nothing more (30 s;
  /// tests shorten it with CTI_TEST_STREAM_WATCHDOG_MS).
  std::chrono::milliseconds stream_watchdog{30000};

  server_shared(caf::actor_system& s, std::shared_ptr<const node_context> c)
    : sys(s), ctx(std::move(c)) {
    if (const char* v = std::getenv("CTI_TEST_STREAM_WATCHDOG_MS"); v && std::atoll(v) > 0)
      stream_watchdog = std::chrono::milliseconds{std::atoll(v)};
  }

  /// Registers a live connection.
  void add(connection* key, std::weak_ptr<connection> c) {
    std::lock_guard<std::mutex> guard{mtx_};
    live_.emplace(key, std::move(c));
  }

  /// Forgets a connection (from its destructor).
  void remove(connection* key) {
    std::lock_guard<std::mutex> guard{mtx_};
    live_.erase(key);
  }

  /// Number of live connections.
  std::size_t size() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return live_.size();
  }

  /// Asks every live connection to wind down.
  void shutdown_all() {
    std::vector<std::shared_ptr<connection>> xs;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      for (auto& [key, weak] : live_)
        if (auto c = weak.lock())
          xs.push_back(std::move(c));
    }
    for (auto& c : xs)
      c->begin_shutdown();
  }

  /// Posts `h` to a connection's executor `ex` (from any thread), unless
  /// the server's io_contexts are being destroyed: actors answer from their
  /// own threads and may do so while the server is torn down (an ingester
  /// dropping its waiting webhooks at shutdown). A post to a stopped
  /// context is fine (the handler is dropped with it); one into a context
  /// under destruction is not.
  template <class Executor, class Handler>
  void post(const Executor& ex, Handler&& h) {
    std::shared_lock<std::shared_mutex> lock{posts_mtx_};
    if (!posts_closed_)
      boost::asio::post(ex, std::forward<Handler>(h));
  }

  /// From here on `post` posts nothing (before the contexts
  /// are destroyed; waits for the posts under way).
  void close_posts() {
    std::unique_lock<std::shared_mutex> lock{posts_mtx_};
    posts_closed_ = true;
  }

private:
  mutable std::mutex mtx_;
  std::unordered_map<connection*, std::weak_ptr<connection>> live_;
  std::shared_mutex posts_mtx_;
  bool posts_closed_ = false;
};

/// Starts an HTTP session on `socket` (whose io_context one thread runs: its
/// handlers never run at once).
void start_http_session(boost::asio::ip::tcp::socket socket,
                        std::shared_ptr<server_shared> shared);

} // namespace cti::net
