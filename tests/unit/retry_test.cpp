#include <gtest/gtest.h>

#include "domain/retry.hpp"

namespace cti {
namespace {

using std::chrono::milliseconds;

// A failed event waits 1 s, 2 s, 4 s, … (jitter 0.5 is the middle: no
// spread), ±20 % with the jitter, and never more than an hour.
TEST(RetryDelay, DoublesFromOneSecond) {
  EXPECT_EQ(retry_delay(1, 0.5), milliseconds{1000});
  EXPECT_EQ(retry_delay(2, 0.5), milliseconds{2000});
  EXPECT_EQ(retry_delay(3, 0.5), milliseconds{4000});
  EXPECT_EQ(retry_delay(11, 0.5), milliseconds{1024000});
  // Attempts below one count as the first (a replayed event starts again).
  EXPECT_EQ(retry_delay(0, 0.5), milliseconds{1000});
  EXPECT_EQ(retry_delay(-3, 0.5), milliseconds{1000});
}

TEST(RetryDelay, JitterSpreadsByTwentyPercent) {
  EXPECT_EQ(retry_delay(1, 0.0), milliseconds{800});
  EXPECT_LT(retry_delay(1, 0.999), milliseconds{1200});
  EXPECT_GE(retry_delay(1, 0.999), milliseconds{1199});
  // Out-of-range jitter is clamped, never a negative or huge delay.
  EXPECT_EQ(retry_delay(1, -5.0), milliseconds{800});
  EXPECT_LT(retry_delay(1, 7.0), milliseconds{1200});
}

TEST(RetryDelay, NeverMoreThanAnHourWhateverTheJitter) {
  constexpr milliseconds hour{3600 * 1000};
  EXPECT_EQ(retry_delay(13, 0.5), milliseconds{3600 * 1000}); // 4096 s capped
  EXPECT_EQ(retry_delay(1000, 0.5), hour);
  // Until the twenty-fifth session the cap came before the jitter, so a
  // late attempt could wait up to 72 minutes.
  EXPECT_EQ(retry_delay(40, 0.999), hour);
  EXPECT_EQ(retry_delay(40, 0.0), milliseconds{2880 * 1000}); // 80 % of the cap
}

} // namespace
} // namespace cti
