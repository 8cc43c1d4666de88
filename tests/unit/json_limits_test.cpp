#include "domain/json_limits.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

using cti::json_depth;

TEST(json_limits, measures_depth_as_api_md_counts_it) {
  std::vector<std::pair<std::string_view, int>> cases = {
      {"", 0},
      {"7", 0},
      {"\"text\"", 0},
      {"true", 0},
      {"null", 0},
      {"{}", 1},
      {"[]", 1},
      {R"({"a":1})", 1},
      {"[[1]]", 2},
      {R"({"a":{"b":{}}})", 3},
      {R"({"a":[{"b":[]}]})", 4},
      {R"([1,[2],[[3]],4])", 3},
      {R"({"a":[1],"b":[[2]],"c":{}})", 3},
      {" \n{ \"a\" : [ ] }\n", 2},
  };
  for (const auto& [text, depth] : cases)
    EXPECT_EQ(json_depth(text, 64), depth) << text;
}

TEST(json_limits, ignores_brackets_inside_strings) {
  std::vector<std::pair<std::string_view, int>> cases = {
      {R"({"a":"[[[{{{"})", 1},
      {R"({"[[[":"}}}]]]","b":[1]})", 2},
      {R"(["]]]]", ["{"]])", 2},
      {R"("[[[[")", 0},
  };
  for (const auto& [text, depth] : cases)
    EXPECT_EQ(json_depth(text, 64), depth) << text;
}

TEST(json_limits, handles_escapes_inside_strings) {
  std::vector<std::pair<std::string_view, int>> cases = {
      {R"({"a":"\"[[","b":[1]})", 2},        // escaped quote does not end the string
      {R"({"a":"\\","b":[[1]]})", 3},        // escaped backslash, then the real closing quote
      {R"({"a":"\\\"[[[","b":1})", 1},       // backslash pair then escaped quote
      {R"({"a":"\u005b\/[","b":[]})", 2},   // other escapes are just characters
  };
  for (const auto& [text, depth] : cases)
    EXPECT_EQ(json_depth(text, 64), depth) << text;
}

TEST(json_limits, returns_depth_at_limit_and_limit_plus_one_past_it) {
  EXPECT_EQ(json_depth("[[[]]]", 3), 3);
  EXPECT_EQ(json_depth("[[[[]]]]", 3), 4);
  EXPECT_EQ(json_depth("[[[[[[[[[[]]]]]]]]]]", 3), 4);
  EXPECT_EQ(json_depth("[]", 0), 1);
  EXPECT_EQ(json_depth("7", 0), 0);
}

TEST(json_limits, does_not_validate_json) {
  EXPECT_EQ(json_depth("]]]}}}[", 64), 1); // stray closers never go below 0
  EXPECT_EQ(json_depth("[[[", 64), 3);     // unclosed
  EXPECT_EQ(json_depth(R"(["[[[)", 64), 1); // unterminated string hides the rest
}

TEST(json_limits, stops_early_on_very_deep_input_without_recursing) {
  constexpr std::size_t n = 100000;
  const std::string deep = std::string(n, '[') + std::string(n, ']');
  const std::string deep_objects = [] {
    std::string s;
    for (std::size_t i = 0; i < n; ++i)
      s += R"({"a":)";
    s += "1";
    s += std::string(n, '}');
    return s;
  }();
  EXPECT_EQ(json_depth(deep, 64), 65);
  EXPECT_EQ(json_depth(deep_objects, 64), 65);
  // Measuring the whole input iterates over it; a recursive scanner would
  // overflow the stack here.
  EXPECT_EQ(json_depth(deep, 1000000), static_cast<int>(n));
  EXPECT_EQ(json_depth(deep_objects, 1000000), static_cast<int>(n));
}

TEST(json_limits, a_key_named_twice_in_any_object_discards_the_document) {
  bool duplicate = false;
  EXPECT_TRUE(cti::parse_json_unique_keys(R"({"a":1,"a":2})", &duplicate).is_discarded());
  EXPECT_TRUE(duplicate);
  // Escapes are decoded before the comparison; nesting does not hide it.
  EXPECT_TRUE(cti::parse_json_unique_keys(R"({"a":1,"\u0061":2})").is_discarded());
  EXPECT_TRUE(cti::parse_json_unique_keys(R"({"x":[{"b":{"c":1,"c":1}}]})").is_discarded());
  // The same key in sibling or nested objects is fine.
  auto ok = cti::parse_json_unique_keys(R"({"a":{"a":1},"b":[{"a":1},{"a":2}]})", &duplicate);
  ASSERT_FALSE(ok.is_discarded());
  EXPECT_FALSE(duplicate);
  EXPECT_EQ(ok["b"][1]["a"], 2);
  // A syntax error is not called a duplicate.
  EXPECT_TRUE(cti::parse_json_unique_keys(R"({"a":1,"a")", &duplicate).is_discarded());
  EXPECT_FALSE(duplicate);
  EXPECT_EQ(cti::parse_json_unique_keys("[1,2]").size(), 2u);
}

TEST(json_limits, untrusted_json_is_read_depth_first_then_with_unique_keys) {
  using cti::json_fault;
  EXPECT_EQ(cti::parse_untrusted_json(R"({"a":[1]})").fault, cti::json_fault::none);
  EXPECT_EQ(cti::parse_untrusted_json(R"({"a":[1]})").value["a"][0], 1);
  EXPECT_EQ(cti::parse_untrusted_json(std::string(65, '[') + std::string(65, ']')).fault,
            json_fault::too_deep);
  EXPECT_EQ(cti::parse_untrusted_json(std::string(64, '[') + std::string(64, ']')).fault,
            json_fault::none);
  // A bomb far past the limit is refused without parsing (no recursion).
  EXPECT_EQ(cti::parse_untrusted_json(std::string(1'000'000, '[')).fault, json_fault::too_deep);
  EXPECT_EQ(cti::parse_untrusted_json("{nope").fault, json_fault::not_json);
  EXPECT_EQ(cti::parse_untrusted_json(R"({"k":1,"k":2})").fault, json_fault::duplicate_key);
  EXPECT_STREQ(cti::describe(json_fault::too_deep), "JSON nested deeper than 64 levels");
  EXPECT_STREQ(cti::describe(json_fault::none), "");
}

// A UTF-8 byte order mark before the document is refused as not JSON
// (a webhook's 400 invalid_json), not skipped.
TEST(json_limits, a_byte_order_mark_is_not_json) {
  auto r = cti::parse_untrusted_json("\xEF\xBB\xBF{\"a\":1}");
  EXPECT_EQ(r.fault, cti::json_fault::not_json);
  EXPECT_TRUE(r.value.is_discarded());
  EXPECT_EQ(cti::parse_untrusted_json("{\"a\":\"\xEF\xBB\xBF\"}").fault, cti::json_fault::none);
}

// nlohmann's lexer takes a NUL byte for the end of input; a raw NUL
// anywhere is not JSON, so nothing after one can hide (a client's
// `{"type":"ping"}\0junk` is not a ping, a body `{...}\0junk` not an object).
TEST(json_limits, a_raw_nul_byte_anywhere_is_not_json) {
  using namespace std::string_literals;
  for (const auto& text : {"{\"a\":1}\0junk"s, "{\"a\":1}\0"s, "\0{\"a\":1}"s,
                           "{\"a\":\"x\0y\"}"s, "[1,\0 2]"s}) {
    bool duplicate = true;
    EXPECT_TRUE(cti::parse_json_unique_keys(text, &duplicate).is_discarded()) << text.size();
    EXPECT_FALSE(duplicate);
    EXPECT_EQ(cti::parse_untrusted_json(text).fault, cti::json_fault::not_json) << text.size();
  }
  // The escaped form stays a string with a NUL in it (callers that store
  // text refuse that on their own).
  auto escaped = cti::parse_untrusted_json(R"({"a":"x\u0000y"})");
  EXPECT_EQ(escaped.fault, cti::json_fault::none);
  EXPECT_EQ(escaped.value["a"].get<std::string>().size(), 3u);
}
