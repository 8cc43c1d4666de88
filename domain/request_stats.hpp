#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "domain/histogram.hpp"

namespace cti {

/// Node-wide HTTP figures for `/metrics`, shared by every connection.
///
/// Counters are cheap to update from any thread. The error rate and average
/// response time cover a sliding window of the last five minutes, kept as one
/// bucket per second.
class request_stats {
public:
  /// Length of the sliding window.
  static constexpr int window_seconds = 300;

  /// Clock used for the window; injectable for tests.
  using clock = std::chrono::steady_clock;

  /// Summary returned by `snapshot`.
  struct summary {
    uint64_t total_requests = 0;      ///< Since start.
    int64_t active_connections = 0;   ///< Open HTTP/WebSocket connections now.
    uint64_t window_requests = 0;     ///< Responses in the window.
    uint64_t window_errors = 0;       ///< Responses with status >= 500 in the window.
    double error_rate = 0;            ///< window_errors / window_requests (0 when none).
    double avg_response_time_ms = 0;  ///< Mean over the window.
  };

  /// Routes told apart in the duration histograms (route ids 0..max_routes-1).
  static constexpr std::size_t max_routes = 64;

  /// Records one finished response at time `at`; `route` (an id below
  /// max_routes, e.g. the endpoint's number) also feeds that route's
  /// duration histogram.
  void record(unsigned status, std::chrono::microseconds duration,
              clock::time_point at = clock::now(), int route = -1);

  /// The duration histogram of route `route`.
  const latency_histogram& route_durations(std::size_t route) const { return by_route_[route]; }

  /// A connection opened.
  void connection_opened() noexcept { active_connections_.fetch_add(1, std::memory_order_relaxed); }

  /// A connection closed.
  void connection_closed() noexcept { active_connections_.fetch_sub(1, std::memory_order_relaxed); }

  /// Open connections now.
  int64_t active_connections() const noexcept {
    return active_connections_.load(std::memory_order_relaxed);
  }

  /// Current figures, as of `at`.
  summary snapshot(clock::time_point at = clock::now()) const;

private:
  struct bucket {
    int64_t second = -1;
    uint64_t requests = 0;
    uint64_t errors = 0;
    uint64_t micros = 0;
  };

  static int64_t second_of(clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  }

  std::atomic<uint64_t> total_{0};
  std::atomic<int64_t> active_connections_{0};
  mutable std::mutex mtx_;
  std::array<bucket, window_seconds> buckets_{};
  std::array<latency_histogram, max_routes> by_route_{};
};

} // namespace cti
