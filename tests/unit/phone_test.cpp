#include "domain/phone.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <utility>
#include <vector>

using cti::normalize_phone;

TEST(phone, normalizes_numbers_for_comparison) {
  std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"(415) 555-0123", "4155550123"},
      {"+1 415.555.0123", "+14155550123"},
      {"+1 (415) 555-0123", "+14155550123"},
      {"", ""},
      {"+14155550123", "+14155550123"},
      {"4155550123", "4155550123"},
      {" - . ( ) ", ""},
      {"+44 20 7946 0958", "+442079460958"},
      {"555-0123 ext 7", "5550123ext7"}, // letters are kept as is
      {"1+2", "1+2"},                    // a '+' that is not leading is kept too
  };
  for (const auto& [in, out] : cases)
    EXPECT_EQ(normalize_phone(in), out) << in;
}

TEST(phone, keeps_country_code_differences) {
  EXPECT_NE(normalize_phone("+1 415 555 0123"), normalize_phone("415 555 0123"));
}
