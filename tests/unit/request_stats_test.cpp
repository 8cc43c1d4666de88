#include "domain/request_stats.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using cti::request_stats;

TEST(request_stats, counts_requests_and_errors_in_the_window) {
  request_stats s;
  auto t0 = request_stats::clock::time_point{} + 1000s;
  s.record(200, 2000us, t0);
  s.record(503, 4000us, t0 + 1s);
  s.record(404, 6000us, t0 + 2s);
  auto sum = s.snapshot(t0 + 3s);
  EXPECT_EQ(sum.total_requests, 3u);
  EXPECT_EQ(sum.window_requests, 3u);
  EXPECT_EQ(sum.window_errors, 1u);
  EXPECT_DOUBLE_EQ(sum.error_rate, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(sum.avg_response_time_ms, 4.0);
}

TEST(request_stats, forgets_responses_older_than_five_minutes) {
  request_stats s;
  auto t0 = request_stats::clock::time_point{} + 1000s;
  s.record(500, 1000us, t0);
  s.record(200, 1000us, t0 + 299s);
  auto inside = s.snapshot(t0 + 299s);
  EXPECT_EQ(inside.window_errors, 1u);
  auto later = s.snapshot(t0 + 300s);
  EXPECT_EQ(later.window_requests, 1u);
  EXPECT_EQ(later.window_errors, 0u);
  EXPECT_DOUBLE_EQ(later.error_rate, 0.0);
  EXPECT_EQ(later.total_requests, 2u); // the total never forgets
}

TEST(request_stats, reuses_a_bucket_after_the_window_wraps) {
  request_stats s;
  auto t0 = request_stats::clock::time_point{} + 1000s;
  s.record(500, 1000us, t0);
  s.record(200, 1000us, t0 + 300s); // same bucket index, new second
  auto sum = s.snapshot(t0 + 300s);
  EXPECT_EQ(sum.window_requests, 1u);
  EXPECT_EQ(sum.window_errors, 0u);
}

TEST(request_stats, no_requests_means_zero_rates) {
  request_stats s;
  auto sum = s.snapshot();
  EXPECT_EQ(sum.window_requests, 0u);
  EXPECT_DOUBLE_EQ(sum.error_rate, 0.0);
  EXPECT_DOUBLE_EQ(sum.avg_response_time_ms, 0.0);
}

TEST(request_stats, tracks_open_connections) {
  request_stats s;
  s.connection_opened();
  s.connection_opened();
  s.connection_closed();
  EXPECT_EQ(s.active_connections(), 1);
  EXPECT_EQ(s.snapshot().active_connections, 1);
}
