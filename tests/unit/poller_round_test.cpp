// How a queue poller sizes its rounds (actors/queue_poller.hpp).

#include <gtest/gtest.h>

#include "actors/queue_poller.hpp"

using cti::next_round_size;

TEST(poller_round, a_full_claim_doubles_the_next_round_up_to_the_largest) {
  EXPECT_EQ(next_round_size(50, 50, 50, 500), 100u);
  EXPECT_EQ(next_round_size(100, 100, 50, 500), 200u);
  EXPECT_EQ(next_round_size(200, 200, 50, 500), 400u);
  EXPECT_EQ(next_round_size(400, 400, 50, 500), 500u);
  EXPECT_EQ(next_round_size(500, 500, 50, 500), 500u);
}

TEST(poller_round, a_claim_that_was_not_full_goes_back_to_the_base) {
  EXPECT_EQ(next_round_size(50, 49, 50, 500), 50u);
  EXPECT_EQ(next_round_size(400, 399, 50, 500), 50u);
  EXPECT_EQ(next_round_size(400, 0, 50, 500), 50u);
}

TEST(poller_round, no_growth_when_the_largest_is_not_above_the_base) {
  EXPECT_EQ(next_round_size(50, 50, 50, 50), 50u);
  EXPECT_EQ(next_round_size(1000, 1000, 1000, 500), 1000u);
  EXPECT_EQ(next_round_size(1, 1, 1, 1), 1u);
}

TEST(poller_round, growth_never_overflows) {
  EXPECT_EQ(next_round_size(4'000'000'000u, 4'000'000'000u, 1, 4'294'967'295u), 4'294'967'295u);
  EXPECT_EQ(next_round_size(1, 1, 1, 10000), 2u);
}
