#include "domain/log.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

TEST(log, masks_whole_api_keys_wherever_they_appear) {
  cti::log::init(cti::log::level::off, true, {});
  std::string key = "raw_" + std::string(64, 'a');
  EXPECT_EQ(cti::log::redact("/ws&api_key=" + key), "/ws&api_key=raw_[REDACTED]");
  EXPECT_EQ(cti::log::redact(key + key), "raw_[REDACTED]raw_[REDACTED]");
  // A hint or a shorter run is no key.
  EXPECT_EQ(cti::log::redact("raw_abcd...6789"), "raw_abcd...6789");
  EXPECT_EQ(cti::log::redact("raw_" + std::string(63, 'b')), "raw_" + std::string(63, 'b'));
}

TEST(log, json_lines_stay_valid_utf8_json_whatever_the_bytes) {
  std::string hostile = "/\xff\xfe\"x\\\x01\x7f\xc3\xa9\xed\xa0\x80";
  auto line = "{" + cti::log::format_line(true, "request", {{"path", hostile}}) + "}";
  auto j = nlohmann::json::parse(line, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << line;
  // Bad bytes (and a surrogate's encoding) become U+FFFD; valid é is kept.
  EXPECT_EQ(j["path"], "/\ufffd\ufffd\"x\\\u0001\u007f\u00e9\ufffd\ufffd\ufffd");
  EXPECT_EQ(j["msg"], "request");
}

TEST(log, unicode_line_breaks_are_escaped_in_both_formats) {
  const std::string breaks = "/a\u0085b\u2028c\u2029d\u00e9";
  auto json_line = cti::log::format_line(true, "request", {{"path", breaks}});
  EXPECT_NE(json_line.find(R"(/a\u0085b\u2028c\u2029d)"), std::string::npos) << json_line;
  auto j = nlohmann::json::parse("{" + json_line + "}", nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json_line;
  EXPECT_EQ(j["path"], breaks); // the same value, read back
  auto text_line = cti::log::format_line(false, "request", {{"path", breaks}});
  EXPECT_EQ(text_line, "request path=\"/a\\u0085b\\u2028c\\u2029d\u00e9\"");
}

TEST(log, text_lines_quote_what_is_not_plain_ascii) {
  EXPECT_EQ(cti::log::format_line(false, "m", {{"k", "plain/value"}}), "m k=plain/value");
  EXPECT_EQ(cti::log::format_line(false, "m", {{"k", "a b"}}), "m k=\"a b\"");
  EXPECT_EQ(cti::log::format_line(false, "m", {{"k", "\xff"}}), "m k=\"\ufffd\"");
  EXPECT_EQ(cti::log::format_line(false, "m", {{"k", ""}}), "m k=\"\"");
}

TEST(log, each_write_ends_at_the_end_of_a_line) {
  using cti::log::whole_lines_prefix;
  const std::string a(100, 'a'), b(50, 'b');
  const std::string two = a + "\n" + b + "\n";
  // Everything fits: all of it.
  EXPECT_EQ(whole_lines_prefix(two, 4096), two.size());
  EXPECT_EQ(whole_lines_prefix(two, two.size()), two.size());
  // One byte short: the first line only, never part of the second.
  EXPECT_EQ(whole_lines_prefix(two, two.size() - 1), a.size() + 1);
  EXPECT_EQ(whole_lines_prefix(two, a.size() + 1), a.size() + 1);
  // A first line longer than the bound goes out whole, by itself.
  EXPECT_EQ(whole_lines_prefix(two, 10), a.size() + 1);
  EXPECT_EQ(whole_lines_prefix(a + "\n", 10), a.size() + 1);
  EXPECT_EQ(whole_lines_prefix("", 10), 0u);
}
