#include "domain/request_stats.hpp"

namespace cti {

void request_stats::record(unsigned status, std::chrono::microseconds duration,
                           clock::time_point at, int route) {
  total_.fetch_add(1, std::memory_order_relaxed);
  if (route >= 0 && static_cast<std::size_t>(route) < max_routes)
    by_route_[static_cast<std::size_t>(route)].observe(duration);
  auto sec = second_of(at);
  std::lock_guard<std::mutex> guard{mtx_};
  auto& b = buckets_[static_cast<std::size_t>(sec % window_seconds)];
  if (b.second != sec)
    b = bucket{sec, 0, 0, 0};
  ++b.requests;
  if (status >= 500)
    ++b.errors;
  b.micros += static_cast<uint64_t>(duration.count() > 0 ? duration.count() : 0);
}

request_stats::summary request_stats::snapshot(clock::time_point at) const {
  summary s;
  s.total_requests = total_.load(std::memory_order_relaxed);
  s.active_connections = active_connections();
  auto now = second_of(at);
  uint64_t micros = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& b : buckets_) {
      if (b.second < 0 || b.second > now || now - b.second >= window_seconds)
        continue;
      s.window_requests += b.requests;
      s.window_errors += b.errors;
      micros += b.micros;
    }
  }
  if (s.window_requests > 0) {
    s.error_rate = static_cast<double>(s.window_errors) / static_cast<double>(s.window_requests);
    s.avg_response_time_ms = static_cast<double>(micros) / 1000.0
                             / static_cast<double>(s.window_requests);
  }
  return s;
}

} // namespace cti
