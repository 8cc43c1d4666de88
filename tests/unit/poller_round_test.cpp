// How a queue poller sizes its rounds (actors/queue_poller.hpp).

#include <gtest/gtest.h>

#include "actors/queue_poller.hpp"

using cti::next_round_size;
using cti::round_outcome;

namespace {

/// A round that asked for `asked`, took `taken` of `claimed`, each payload
/// `bytes_each` long.
round_outcome round(uint32_t asked, uint32_t taken, uint32_t failed = 0, uint64_t bytes_each = 1000,
                    uint32_t claimed = 0) {
  if (claimed == 0)
    claimed = taken;
  return {asked, taken, failed, bytes_each * claimed, claimed};
}

} // namespace

TEST(poller_round, a_full_round_doubles_the_next_one_up_to_the_largest) {
  EXPECT_EQ(next_round_size(round(50, 50), 50, 500), 100u);
  EXPECT_EQ(next_round_size(round(100, 100), 50, 500), 200u);
  EXPECT_EQ(next_round_size(round(200, 200), 50, 500), 400u);
  EXPECT_EQ(next_round_size(round(400, 400), 50, 500), 500u);
  EXPECT_EQ(next_round_size(round(500, 500), 50, 500), 500u);
}

TEST(poller_round, a_round_that_was_not_full_goes_back_to_the_base) {
  EXPECT_EQ(next_round_size(round(50, 49), 50, 500), 50u);
  EXPECT_EQ(next_round_size(round(400, 399), 50, 500), 50u);
  EXPECT_EQ(next_round_size(round(400, 0), 50, 500), 50u);
}

TEST(poller_round, events_left_for_later_do_not_count_as_a_full_round) {
  // 400 claimed, 10 of them held for another poller's calls.
  EXPECT_EQ(next_round_size(round(400, 390, 0, 1000, 400), 50, 500), 50u);
  // Every claimed event held back: no growth.
  EXPECT_EQ(next_round_size(round(50, 0, 0, 1000, 50), 50, 500), 50u);
}

TEST(poller_round, a_round_with_a_failure_goes_back_to_the_base) {
  EXPECT_EQ(next_round_size(round(200, 200, 1), 50, 500), 50u);
}

TEST(poller_round, large_payloads_keep_rounds_within_the_byte_budget) {
  // 64 KiB each: 16 MiB hold 256 of them.
  EXPECT_EQ(next_round_size(round(200, 200, 0, 64 * 1024), 50, 500), 256u);
  // 1 MiB each: never below the base.
  EXPECT_EQ(next_round_size(round(50, 50, 0, 1024 * 1024), 50, 500), 50u);
  // Small payloads: the largest.
  EXPECT_EQ(next_round_size(round(400, 400, 0, 2000), 50, 500), 500u);
}

TEST(poller_round, no_growth_when_the_largest_is_not_above_the_base) {
  EXPECT_EQ(next_round_size(round(50, 50), 50, 50), 50u);
  EXPECT_EQ(next_round_size(round(1000, 1000), 1000, 500), 1000u);
  EXPECT_EQ(next_round_size(round(1, 1), 1, 1), 1u);
}

TEST(poller_round, growth_never_overflows) {
  EXPECT_EQ(next_round_size(round(4'000'000'000u, 4'000'000'000u, 0, 0), 1, 4'294'967'295u),
            4'294'967'295u);
  EXPECT_EQ(next_round_size(round(1, 1), 1, 10000), 2u);
}
