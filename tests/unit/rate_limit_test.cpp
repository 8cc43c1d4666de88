#include <gtest/gtest.h>

#include "domain/rate_limit.hpp"

namespace cti {
namespace {

using namespace std::chrono_literals;

TEST(WindowLimiter, BlocksPastTheLimitUntilTheWindowEndsPerKey) {
  window_limiter l{3, 60s};
  auto t0 = window_limiter::clock::now();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(l.admit("1.2.3.4", t0 + 1s), 0);
  EXPECT_EQ(l.admit("1.2.3.4", t0 + 2s), 59);
  EXPECT_EQ(l.admit("5.6.7.8", t0 + 2s), 0); // keys are apart
  EXPECT_EQ(l.admit("1.2.3.4", t0 + 62s), 0); // a new window
}

TEST(WindowLimiter, AdmitCountsOnlyWhatItLetsThrough) {
  window_limiter l{2, 10s};
  auto t0 = window_limiter::clock::now();
  EXPECT_EQ(l.admit("app", t0), 0);
  EXPECT_EQ(l.admit("app", t0), 0);
  EXPECT_EQ(l.admit("app", t0 + 3s), 7);
  EXPECT_EQ(l.admit("app", t0 + 9500ms), 1); // never 0 while blocked
  EXPECT_EQ(l.admit("app", t0 + 10s), 0);
}

TEST(WindowLimiter, ZeroMeansUnlimited) {
  window_limiter l{0, 60s};
  for (int i = 0; i < 1000; ++i)
    EXPECT_EQ(l.admit("x"), 0);
  EXPECT_FALSE(l.enabled());
}

} // namespace
} // namespace cti
