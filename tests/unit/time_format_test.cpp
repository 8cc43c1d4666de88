#include "domain/time_format.hpp"

#include <gtest/gtest.h>

using cti::format_rfc3339;
using cti::parse_rfc3339;
using cti::timestamp;

TEST(time_format, formats_utc_with_milliseconds) {
  timestamp t{std::chrono::microseconds{1769596200420123LL}};
  EXPECT_EQ(format_rfc3339(t), "2026-01-28T10:30:00.420Z");
  EXPECT_EQ(format_rfc3339(timestamp{}), "1970-01-01T00:00:00.000Z");
}

TEST(time_format, parses_zulu_offsets_and_fractions) {
  auto a = parse_rfc3339("2026-01-28T10:30:00Z");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->time_since_epoch().count(), 1769596200000000LL);
  auto b = parse_rfc3339("2026-01-28T12:30:00.5+02:00");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->time_since_epoch().count(), 1769596200500000LL);
  auto c = parse_rfc3339("2026-01-28 10:30:00.123456789z");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->time_since_epoch().count(), 1769596200123456LL);
}

TEST(time_format, a_range_bound_rounds_digits_past_the_microsecond_up) {
  auto us = [](const char* text, bool up) {
    auto t = parse_rfc3339(text, up);
    return t ? t->time_since_epoch().count() : -1;
  };
  EXPECT_EQ(us("2026-01-28T10:30:00.0000009Z", false), 1769596200000000LL);
  EXPECT_EQ(us("2026-01-28T10:30:00.0000009Z", true), 1769596200000001LL);
  EXPECT_EQ(us("2026-01-28T10:30:00.123456001Z", true), 1769596200123457LL);
  // Zeros past the microsecond, or none, change nothing.
  EXPECT_EQ(us("2026-01-28T10:30:00.123456000Z", true), 1769596200123456LL);
  EXPECT_EQ(us("2026-01-28T10:30:00.1Z", true), 1769596200100000LL);
  EXPECT_EQ(us("2026-01-28T10:30:00Z", true), 1769596200000000LL);
  // Rounding carries into the second.
  EXPECT_EQ(us("2026-01-28T10:30:00.9999995Z", true), 1769596201000000LL);
  // RFC 3339 sets no limit on the fraction's digits.
  EXPECT_EQ(us("2026-01-28T10:30:00.0000000001Z", true), 1769596200000001LL);
  EXPECT_EQ(us("2026-01-28T10:30:00.1234560000000Z", false), 1769596200123456LL);
}

TEST(time_format, round_trips_its_own_output) {
  timestamp t{std::chrono::microseconds{1700000000123000LL}};
  auto back = parse_rfc3339(format_rfc3339(t));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, t);
}

TEST(time_format, rejects_malformed_values) {
  for (const char* bad : {"", "2026-01-28", "2026-01-28T10:30:00", "2026-13-01T00:00:00Z",
                          "2026-02-30T00:00:00Z", "2026-01-28T24:00:00Z",
                          "2026-01-28T10:30:00.Z", "2026-01-28T10:30:00Zjunk",
                          "2026-01-28T10:30:00+2:00", "yesterday"})
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
}

TEST(time_format, accepts_leap_day_only_in_leap_years) {
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2025-02-29T00:00:00Z"));
}

TEST(time_format, parses_postgres_timestamptz_text) {
  auto t = cti::parse_pg_timestamptz("2026-01-28 10:30:00.123456+00");
  ASSERT_TRUE(t);
  EXPECT_EQ(cti::format_rfc3339(*t), "2026-01-28T10:30:00.123Z");
  EXPECT_EQ(t->time_since_epoch().count() % 1000000, 123456);
  auto whole = cti::parse_pg_timestamptz("2026-01-28 10:30:00+00");
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->time_since_epoch().count() % 1000000, 0);
  // Offsets are applied (a session in another time zone).
  auto east = cti::parse_pg_timestamptz("2026-01-28 12:30:00.5+02");
  ASSERT_TRUE(east);
  EXPECT_EQ(cti::format_rfc3339(*east), "2026-01-28T10:30:00.500Z");
  auto odd = cti::parse_pg_timestamptz("2026-01-28 05:00:00-05:30");
  ASSERT_TRUE(odd);
  EXPECT_EQ(cti::format_rfc3339(*odd), "2026-01-28T10:30:00.000Z");
  EXPECT_EQ(*cti::parse_pg_timestamptz("1970-01-01 00:00:00+00"),
            cti::timestamp{std::chrono::microseconds{0}});
  for (auto bad : {"", "infinity", "2026-01-28T10:30:00Z", "2026-01-28 10:30:00", "2026-13-28 10:30:00+00",
                   "2026-01-28 10:30:00.+00", "2026-01-28 10:30:00+00 BC"})
    EXPECT_FALSE(cti::parse_pg_timestamptz(bad)) << bad;
}
