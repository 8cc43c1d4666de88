// Random UUIDs: canonical version-4 text, never repeated, from every thread;
// time-ordered version-7 ones for ingested events.

#include "domain/uuid.hpp"

#include <cstdio>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

TEST(uuid, new_ones_are_canonical_version_4) {
  // More than one 4 KiB draw of random bytes per thread (256 ids each).
  for (int i = 0; i < 1000; ++i) {
    auto u = cti::new_uuid();
    ASSERT_TRUE(cti::is_uuid(u)) << u;
    ASSERT_EQ(u.size(), 36u);
    EXPECT_EQ(u[8], '-');
    EXPECT_EQ(u[13], '-');
    EXPECT_EQ(u[18], '-');
    EXPECT_EQ(u[23], '-');
    EXPECT_EQ(u[14], '4') << u;                                      // version
    EXPECT_NE(std::string{"89ab"}.find(u[19]), std::string::npos) << u; // variant 10xx
    for (char c : u)
      EXPECT_TRUE(c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << u;
  }
}

TEST(uuid, never_repeat_within_or_across_threads) {
  std::set<std::string> seen;
  std::mutex m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < 2000; ++i)
        mine.push_back(cti::new_uuid());
      std::lock_guard lock{m};
      seen.insert(mine.begin(), mine.end());
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(seen.size(), 8000u);
}

TEST(uuid, version_7_carries_its_millisecond_first_and_sorts_by_it) {
  // 2026-12-05T07:00:00.123Z: 0x01a24500a5fb.
  const int64_t ms = 1796454000123;
  auto u = cti::new_uuid_v7(ms);
  ASSERT_TRUE(cti::is_uuid(u)) << u;
  char hex[16];
  std::snprintf(hex, sizeof hex, "%012llx", static_cast<unsigned long long>(ms));
  EXPECT_EQ(u.substr(0, 8) + u.substr(9, 4), std::string{hex}) << u;
  EXPECT_EQ(u[14], '7') << u;                                      // version
  EXPECT_NE(std::string{"89ab"}.find(u[19]), std::string::npos) << u; // variant 10xx
  // Later milliseconds sort after earlier ones as text (the index order of
  // a uuid column is its bytes' order, which the text's order follows);
  // within one millisecond the random bits still differ.
  std::set<std::string> same_ms;
  std::string prev = cti::new_uuid_v7(ms - 1);
  for (int i = 0; i < 1000; ++i) {
    auto next = cti::new_uuid_v7(ms + i);
    EXPECT_LT(prev, next) << i;
    prev = next;
    same_ms.insert(cti::new_uuid_v7(ms));
  }
  EXPECT_EQ(same_ms.size(), 1000u);
  // A time before 1970 (none is made) is clamped, not wrapped.
  EXPECT_EQ(cti::new_uuid_v7(-5).substr(0, 13), "00000000-0000");
}

TEST(uuid, is_uuid_takes_either_case_and_refuses_the_rest) {
  EXPECT_TRUE(cti::is_uuid("123e4567-e89b-42d3-a456-426614174000"));
  EXPECT_TRUE(cti::is_uuid("123E4567-E89B-42D3-A456-426614174000"));
  EXPECT_FALSE(cti::is_uuid("123e4567e89b42d3a456426614174000"));
  EXPECT_FALSE(cti::is_uuid("123e4567-e89b-42d3-a456-42661417400g"));
  EXPECT_FALSE(cti::is_uuid("123e4567-e89b-42d3-a456-4266141740000"));
  EXPECT_FALSE(cti::is_uuid(""));
}

} // namespace
