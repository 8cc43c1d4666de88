#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "domain/validation.hpp"

namespace {

using nlohmann::json;

TEST(Validation, Int64TextIsStrict) {
  EXPECT_EQ(cti::parse_int64("42"), 42);
  EXPECT_EQ(cti::parse_int64("-7"), -7);
  EXPECT_EQ(cti::parse_int64("9223372036854775807"), INT64_MAX);
  for (auto bad : {"", "9223372036854775808", "1.0", "0x10", " 1", "1 ", "+1", "abc"})
    EXPECT_FALSE(cti::parse_int64(bad)) << bad;
}

TEST(Validation, DialpadIdsArePositive) {
  EXPECT_EQ(cti::parse_dialpad_id("123"), 123);
  EXPECT_FALSE(cti::parse_dialpad_id("0"));
  EXPECT_FALSE(cti::parse_dialpad_id("-3"));
  EXPECT_EQ(cti::json_dialpad_id(json(5)), 5);
  EXPECT_EQ(cti::json_dialpad_id(json("6")), 6);
  EXPECT_FALSE(cti::json_dialpad_id(json(0)));
  EXPECT_FALSE(cti::json_dialpad_id(json(-1)));
  EXPECT_FALSE(cti::json_dialpad_id(json(1.5)));
  EXPECT_FALSE(cti::json_dialpad_id(json(true)));
  EXPECT_FALSE(cti::json_dialpad_id(json("x")));
  EXPECT_FALSE(cti::json_dialpad_id(json(nullptr)));
  EXPECT_FALSE(cti::json_dialpad_id(json(uint64_t{18446744073709551615ull})));
}

TEST(Validation, LabelsCountCharactersNotBytes) {
  EXPECT_TRUE(cti::is_valid_label("a", 200));
  EXPECT_TRUE(cti::is_valid_label(std::string(200, 'x'), 200));
  EXPECT_FALSE(cti::is_valid_label(std::string(201, 'x'), 200));
  std::string e_acute = "\xc3\xa9"; // é: 2 bytes, 1 character
  std::string two_hundred;
  for (int i = 0; i < 200; ++i)
    two_hundred += e_acute;
  EXPECT_TRUE(cti::is_valid_label(two_hundred, 200));
  EXPECT_FALSE(cti::is_valid_label("", 200));
  EXPECT_FALSE(cti::is_valid_label("  \t", 200));
  EXPECT_FALSE(cti::is_valid_label("\xff", 200));       // not UTF-8
  EXPECT_FALSE(cti::is_valid_label("\xc0\xaf", 200));   // overlong
  EXPECT_FALSE(cti::is_valid_label("\xed\xa0\x80", 200)); // surrogate
  EXPECT_FALSE(cti::is_valid_label(std::string("a\0b", 3), 200));
}

TEST(Validation, StatusListsAndEnums) {
  auto l = cti::parse_status_list("ringing,active, held");
  ASSERT_TRUE(l);
  EXPECT_EQ(*l, (std::vector<std::string>{"ringing", "active", "held"}));
  EXPECT_FALSE(cti::parse_status_list(""));
  EXPECT_FALSE(cti::parse_status_list("ringing,"));
  EXPECT_FALSE(cti::parse_status_list("flying"));
  EXPECT_TRUE(cti::is_direction("inbound"));
  EXPECT_FALSE(cti::is_direction("in"));
  EXPECT_TRUE(cti::is_callback_status("in_progress"));
  EXPECT_FALSE(cti::is_callback_status("later"));
}

} // namespace

TEST(validation, utf8_text_prefix_never_cuts_a_sequence_and_replaces_bad_bytes) {
  EXPECT_EQ(cti::utf8_text_prefix("abc", 10), "abc");
  EXPECT_EQ(cti::utf8_text_prefix("abc", 2), "ab");
  // "é" is two bytes: a cut through it drops it whole.
  EXPECT_EQ(cti::utf8_text_prefix("a\xC3\xA9" "b", 2), "a");
  EXPECT_EQ(cti::utf8_text_prefix("a\xC3\xA9" "b", 3), "a\xC3\xA9");
  // A four-byte emoji cut anywhere inside is dropped.
  for (std::size_t max = 1; max < 4; ++max)
    EXPECT_EQ(cti::utf8_text_prefix("\xF0\x9F\x98\x80", max), "") << max;
  EXPECT_EQ(cti::utf8_text_prefix("\xF0\x9F\x98\x80", 4), "\xF0\x9F\x98\x80");
  // Invalid bytes and NUL become '?'.
  EXPECT_EQ(cti::utf8_text_prefix(std::string_view{"a\xFF\0" "b\xC3", 5}, 10), "a??b?");
  EXPECT_EQ(cti::utf8_text_prefix("", 10), "");
}
