#include "domain/call_status.hpp"

#include <array>
#include <string>

#include <gtest/gtest.h>

using cti::call_status;

namespace {

constexpr std::array<call_status, 7> all_statuses{
  call_status::ringing, call_status::active,   call_status::held,      call_status::ended,
  call_status::missed,  call_status::rejected, call_status::voicemail,
};

// API.md "Status transitions"; rows are `from`, columns `to`, both in the
// order of all_statuses. 1 = allowed.
constexpr int expected_allowed[7][7] = {
  //             ring  act  held  end  miss  rej  vm
  /* ringing   */ {1,   1,   1,    1,   1,    1,   1},
  /* active    */ {0,   1,   1,    1,   0,    0,   1},
  /* held      */ {0,   1,   1,    1,   0,    0,   0},
  /* ended     */ {0,   0,   0,    1,   0,    0,   0},
  /* missed    */ {0,   0,   0,    0,   1,    0,   0},
  /* rejected  */ {0,   0,   0,    0,   0,    1,   0},
  /* voicemail */ {0,   0,   0,    1,   1,    0,   1},
};

} // namespace

TEST(call_status, allows_exactly_the_documented_transitions) {
  for (std::size_t f = 0; f < all_statuses.size(); ++f)
    for (std::size_t t = 0; t < all_statuses.size(); ++t)
      EXPECT_EQ(cti::transition_allowed(all_statuses[f], all_statuses[t]),
                expected_allowed[f][t] == 1)
        << cti::to_string(all_statuses[f]) << " -> " << cti::to_string(all_statuses[t]);
}

TEST(call_status, always_allows_the_same_status_again) {
  for (auto s : all_statuses)
    EXPECT_TRUE(cti::transition_allowed(s, s)) << cti::to_string(s);
}

TEST(call_status, terminal_statuses_accept_only_themselves) {
  for (auto from : all_statuses) {
    if (!cti::is_terminal(from))
      continue;
    for (auto to : all_statuses)
      EXPECT_EQ(cti::transition_allowed(from, to), from == to)
        << cti::to_string(from) << " -> " << cti::to_string(to);
  }
}

TEST(call_status, names_round_trip) {
  const std::array<std::string, 7> names{"ringing", "active",   "held",     "ended",
                                         "missed",  "rejected", "voicemail"};
  for (std::size_t i = 0; i < all_statuses.size(); ++i) {
    EXPECT_EQ(cti::to_string(all_statuses[i]), names[i]);
    auto parsed = cti::parse_call_status(names[i]);
    ASSERT_TRUE(parsed) << names[i];
    EXPECT_EQ(*parsed, all_statuses[i]);
  }
}

TEST(call_status, parse_rejects_unknown_names) {
  for (const char* bad : {"", "Ringing", "ACTIVE", " held", "ended ", "ring", "hold", "answered"})
    EXPECT_FALSE(cti::parse_call_status(bad)) << '"' << bad << '"';
}

TEST(call_status, terminal_means_ended_missed_or_rejected) {
  for (auto s : all_statuses)
    EXPECT_EQ(cti::is_terminal(s), s == call_status::ended || s == call_status::missed
                                       || s == call_status::rejected)
      << cti::to_string(s);
}

TEST(call_status, live_means_ringing_active_or_held) {
  for (auto s : all_statuses)
    EXPECT_EQ(cti::is_live(s), s == call_status::ringing || s == call_status::active
                                   || s == call_status::held)
      << cti::to_string(s);
}

TEST(call_status, voicemail_is_neither_live_nor_terminal) {
  EXPECT_FALSE(cti::is_live(call_status::voicemail));
  EXPECT_FALSE(cti::is_terminal(call_status::voicemail));
}
