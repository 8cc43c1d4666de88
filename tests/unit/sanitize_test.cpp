#include "domain/sanitize.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/json_limits.hpp"

using cti::sanitize_payload;
using json = nlohmann::json;

namespace {

/// An object of `n` keys k00, k01, ... with integer values.
json object_with_keys(int n) {
  json o = json::object();
  for (int i = 0; i < n; ++i) {
    std::string key = "k" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    o[key] = i;
  }
  return o;
}

json array_of(int n) {
  json a = json::array();
  for (int i = 0; i < n; ++i)
    a.push_back(i);
  return a;
}

/// `levels` nested objects {"a":{"a":...{"leaf":1}}}; the outermost is level 1.
json nested_objects(int levels) {
  json v = json{{"leaf", 1}};
  for (int i = 1; i < levels; ++i)
    v = json{{"a", std::move(v)}};
  return v;
}

} // namespace

TEST(sanitize, keeps_strings_up_to_500_characters) {
  const std::string s500(500, 'x');
  EXPECT_EQ(sanitize_payload(json{{"s", s500}}), json({{"s", s500}}));
  EXPECT_EQ(sanitize_payload(json{{"s", ""}}), json({{"s", ""}}));
}

TEST(sanitize, truncates_strings_over_500_characters_with_marker) {
  const std::string s501(501, 'x');
  EXPECT_EQ(sanitize_payload(json{{"s", s501}})["s"], std::string(500, 'x') + "[truncated]");
  EXPECT_EQ(sanitize_payload(json{{"s", std::string(100000, 'y')}})["s"], std::string(500, 'y') + "[truncated]");
}

TEST(sanitize, counts_utf8_characters_and_never_splits_a_sequence) {
  const std::string e = "\xc3\xa9";         // é, 2 bytes
  const std::string euro = "\xe2\x82\xac";  // €, 3 bytes
  const std::string emoji = "\xf0\x9f\x93\x9e"; // 📞, 4 bytes
  std::string s500;
  for (int i = 0; i < 500; ++i)
    s500 += i % 3 == 0 ? e : i % 3 == 1 ? euro : emoji;
  EXPECT_EQ(sanitize_payload(json{{"s", s500}})["s"], s500); // 500 characters, ~1500 bytes
  EXPECT_EQ(sanitize_payload(json{{"s", s500 + emoji}})["s"], s500 + "[truncated]");
  // 499 ASCII then a 4-byte character straddling byte 500: kept whole.
  std::string mixed = std::string(499, 'a') + emoji + "bc";
  EXPECT_EQ(sanitize_payload(json{{"s", mixed}})["s"], std::string(499, 'a') + emoji + "[truncated]");
  // The result is valid UTF-8 (dump throws on invalid sequences by default).
  EXPECT_NO_THROW((void)sanitize_payload(json{{"s", s500 + s500}}).dump());
}

TEST(sanitize, bounds_strings_that_are_not_valid_utf8) {
  std::string junk(2000, '\x80'); // stray continuation bytes count one each
  auto out = sanitize_payload(json{{"s", junk}})["s"].get<std::string>();
  EXPECT_EQ(out, std::string(500, '\x80') + "[truncated]");
}

TEST(sanitize, keeps_arrays_up_to_10_items) {
  EXPECT_EQ(sanitize_payload(json{{"a", array_of(10)}}), json({{"a", array_of(10)}}));
  EXPECT_EQ(sanitize_payload(json{{"a", json::array()}}), json({{"a", json::array()}}));
}

TEST(sanitize, cuts_arrays_over_10_items_with_count_marker) {
  auto expected = array_of(10);
  expected.push_back("[truncated 1 more]");
  EXPECT_EQ(sanitize_payload(json{{"a", array_of(11)}})["a"], expected);
  expected.back() = "[truncated 990 more]";
  EXPECT_EQ(sanitize_payload(json{{"a", array_of(1000)}})["a"], expected);
}

TEST(sanitize, keeps_objects_up_to_20_keys) {
  EXPECT_EQ(sanitize_payload(object_with_keys(20)), object_with_keys(20));
  EXPECT_EQ(sanitize_payload(json{{"o", object_with_keys(20)}}), json({{"o", object_with_keys(20)}}));
  EXPECT_EQ(sanitize_payload(json::object()), json::object());
}

TEST(sanitize, replaces_objects_over_20_keys_with_summary) {
  const json summary = {{"_truncated", true},
                        {"sample_keys", {"k00", "k01", "k02", "k03", "k04"}},
                        {"total_keys", 21}};
  EXPECT_EQ(sanitize_payload(object_with_keys(21)), summary);
  EXPECT_EQ(sanitize_payload(json{{"o", object_with_keys(21)}}), json({{"o", summary}}));
}

TEST(sanitize, sample_keys_follow_iteration_order_which_is_sorted) {
  json o = object_with_keys(19);
  o["zz"] = 1;
  o["aa"] = 1;
  auto out = sanitize_payload(o);
  EXPECT_EQ(out["sample_keys"], json({"aa", "k00", "k01", "k02", "k03"}));
  EXPECT_EQ(out["total_keys"], 21);
}

TEST(sanitize, keeps_nesting_up_to_5_levels) {
  EXPECT_EQ(cti::json_depth(nested_objects(5).dump(), 64), 5);
  EXPECT_EQ(sanitize_payload(nested_objects(5)), nested_objects(5));
  // Arrays count as levels too: [[[[[1]]]]] inside nothing is depth 5.
  json arrays = json::array({json::array({json::array({json::array({json::array({1})})})})});
  EXPECT_EQ(sanitize_payload(arrays), arrays);
}

TEST(sanitize, replaces_containers_beyond_level_5_with_marker) {
  auto out = sanitize_payload(nested_objects(6));
  EXPECT_EQ(out, json::parse(R"({"a":{"a":{"a":{"a":{"a":"[max depth]"}}}}})"));
  EXPECT_EQ(cti::json_depth(out.dump(), 64), 5);
  // Scalars at level 5 stay; a level-6 array is cut the same way.
  json mixed = json::parse(R"({"a":{"b":{"c":{"d":{"n":1,"s":"x","arr":[1],"obj":{}}}}}})");
  EXPECT_EQ(sanitize_payload(mixed),
            json::parse(R"({"a":{"b":{"c":{"d":{"n":1,"s":"x","arr":"[max depth]","obj":"[max depth]"}}}}})"));
  // Far deeper input is cut at the same place.
  EXPECT_EQ(sanitize_payload(nested_objects(200)),
            json::parse(R"({"a":{"a":{"a":{"a":{"a":"[max depth]"}}}}})"));
}

TEST(sanitize, removes_binary_looking_keys) {
  const std::string s500(500, 'Q');
  const std::string s501(501, 'Q');
  json in = {
      {"audio_data", "short"},    {"file_data", 42},          {"Audio_Data", nullptr},
      {"image_base64", s501},     {"blob_data", s501},        {"THUMB_BASE64", s501},
      {"small_base64", s500},     {"small_data", s500},       {"number_data", 12345},
      {"metadata", s501},         {"data", s501},             {"keep", "yes"},
  };
  json expected = {
      {"small_base64", s500},
      {"small_data", s500},
      {"number_data", 12345},
      {"metadata", s500 + "[truncated]"},
      {"data", s500 + "[truncated]"},
      {"keep", "yes"},
  };
  EXPECT_EQ(sanitize_payload(in), expected);
}

TEST(sanitize, removes_binary_keys_at_every_level_and_inside_arrays) {
  json in = json::parse(R"({"recording_details":[{"url":"u","audio_data":"AAAA"}],"x":{"file_data":"b","y":1}})");
  EXPECT_EQ(sanitize_payload(in), json::parse(R"({"recording_details":[{"url":"u"}],"x":{"y":1}})"));
}

TEST(sanitize, removes_json_binary_values) {
  json in = {{"raw", json::binary({1, 2, 3})}, {"list", json::array({json::binary({4}), 5})}};
  EXPECT_EQ(sanitize_payload(in), json::parse(R"({"list":["[binary]",5]})"));
}

TEST(sanitize, counts_object_keys_after_removing_binary_ones) {
  json o = object_with_keys(20);
  o["audio_data"] = "x";
  EXPECT_EQ(sanitize_payload(o), object_with_keys(20));
  o["zz"] = 1;
  auto out = sanitize_payload(o);
  EXPECT_EQ(out["_truncated"], true);
  EXPECT_EQ(out["total_keys"], 21);
  EXPECT_EQ(out["sample_keys"], json({"k00", "k01", "k02", "k03", "k04"}));
}

TEST(sanitize, truncates_long_keys_like_strings) {
  json in = {{std::string(501, 'k'), 1}};
  EXPECT_EQ(sanitize_payload(in), json({{std::string(500, 'k') + "[truncated]", 1}}));
}

TEST(sanitize, applies_rules_inside_arrays_and_to_kept_items_only) {
  json in = json::array();
  for (int i = 0; i < 12; ++i)
    in.push_back(std::string(501, 'z'));
  auto out = sanitize_payload(in);
  ASSERT_EQ(out.size(), 11u);
  EXPECT_EQ(out[0], std::string(500, 'z') + "[truncated]");
  EXPECT_EQ(out[10], "[truncated 2 more]");
}

TEST(sanitize, accepts_input_that_is_not_an_object) {
  EXPECT_EQ(sanitize_payload(json(nullptr)), json(nullptr));
  EXPECT_EQ(sanitize_payload(json(7)), json(7));
  EXPECT_EQ(sanitize_payload(json(-2.5)), json(-2.5));
  EXPECT_EQ(sanitize_payload(json(true)), json(true));
  EXPECT_EQ(sanitize_payload(json("short")), json("short"));
  EXPECT_EQ(sanitize_payload(json(std::string(501, 's'))), json(std::string(500, 's') + "[truncated]"));
  EXPECT_EQ(sanitize_payload(array_of(3)), array_of(3));
  EXPECT_EQ(sanitize_payload(json::parse("not json", nullptr, false)), json(nullptr));
}

TEST(sanitize, does_not_modify_its_input) {
  json in = {{"s", std::string(600, 'x')}, {"audio_data", "x"}, {"a", array_of(20)}};
  const json copy = in;
  (void)sanitize_payload(in);
  EXPECT_EQ(in, copy);
}
