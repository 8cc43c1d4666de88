#include "domain/log.hpp"

#include <gtest/gtest.h>

TEST(log, redacts_every_configured_secret_wherever_it_appears) {
  cti::log::init(cti::log::level::off, true, {"hunter2-secret", "tok-abc-123"});
  EXPECT_EQ(cti::log::redact("key=hunter2-secret and hunter2-secret"),
            "key=[REDACTED] and [REDACTED]");
  EXPECT_EQ(cti::log::redact("Bearer tok-abc-123"), "Bearer [REDACTED]");
  EXPECT_EQ(cti::log::redact("nothing here"), "nothing here");
}

TEST(log, ignores_empty_or_tiny_secrets_that_would_mangle_every_line) {
  cti::log::init(cti::log::level::off, true, {"", "ab"});
  EXPECT_EQ(cti::log::redact("abc"), "abc");
}

TEST(log, parses_levels) {
  EXPECT_EQ(cti::log::parse_level("debug"), cti::log::level::debug);
  EXPECT_EQ(cti::log::parse_level("warning"), cti::log::level::warn);
  EXPECT_EQ(cti::log::parse_level("off"), cti::log::level::off);
  EXPECT_EQ(cti::log::parse_level("nonsense"), cti::log::level::info);
}

TEST(log, off_disables_every_level) {
  cti::log::init(cti::log::level::off, false, {});
  EXPECT_FALSE(cti::log::enabled(cti::log::level::error));
  cti::log::init(cti::log::level::warn, false, {});
  EXPECT_TRUE(cti::log::enabled(cti::log::level::error));
  EXPECT_FALSE(cti::log::enabled(cti::log::level::info));
  cti::log::init(cti::log::level::off, false, {});
}
