#include "domain/csv.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

using cti::append_csv_field;
using cti::append_csv_row_end;

namespace {

std::string field(std::string_view v) {
  std::string out;
  append_csv_field(out, v);
  return out;
}

} // namespace

TEST(Csv, plain_value_is_unquoted) {
  EXPECT_EQ(field("hello world"), "hello world");
  EXPECT_EQ(field("call_123"), "call_123");
  EXPECT_EQ(field("it's"), "it's");
}

TEST(Csv, comma_is_quoted) {
  EXPECT_EQ(field("a,b"), "\"a,b\"");
}

TEST(Csv, quotes_are_doubled_inside_quotes) {
  EXPECT_EQ(field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(field("\""), "\"\"\"\"");
}

TEST(Csv, cr_and_lf_are_quoted) {
  EXPECT_EQ(field("a\nb"), "\"a\nb\"");
  EXPECT_EQ(field("a\rb"), "\"a\rb\"");
  EXPECT_EQ(field("a\r\nb"), "\"a\r\nb\"");
}

TEST(Csv, empty_value_is_empty_field) {
  EXPECT_EQ(field(""), "");
}

TEST(Csv, formula_prefixes_are_defused_and_quoted) {
  EXPECT_EQ(field("=1+1"), "\"'=1+1\"");
  EXPECT_EQ(field("@x"), "\"'@x\"");
  EXPECT_EQ(field("\tx"), "\"'\tx\"");
  EXPECT_EQ(field("\rx"), "\"'\rx\"");
  EXPECT_EQ(field("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
}

TEST(Csv, phone_numbers_and_signed_numbers_are_untouched) {
  EXPECT_EQ(field("+15551234567"), "+15551234567");
  EXPECT_EQ(field("-3"), "-3");
  EXPECT_EQ(field("-3.25"), "-3.25");
  EXPECT_EQ(field("+1 (555) 123-4567"), "+1 (555) 123-4567");
  EXPECT_EQ(field("15551234567"), "15551234567");
}

TEST(Csv, plus_and_minus_formulas_are_defused) {
  EXPECT_EQ(field("+SUM(A1)"), "\"'+SUM(A1)\"");
  EXPECT_EQ(field("-1+cmd|x"), "\"'-1+cmd|x\"");
  EXPECT_EQ(field("-1+cmd|' /C calc'!A0"), "\"'-1+cmd|' /C calc'!A0\"");
  EXPECT_EQ(field("-1+cmd|x,y"), "\"'-1+cmd|x,y\"");
  EXPECT_EQ(field("+"), "\"'+\"");
  EXPECT_EQ(field("-"), "\"'-\"");
  EXPECT_EQ(field("+-1"), "\"'+-1\"");
  EXPECT_EQ(field("-(1)"), "\"'-(1)\"");
}

TEST(Csv, formula_characters_later_in_the_value_are_left_alone) {
  EXPECT_EQ(field("a=b"), "a=b");
  EXPECT_EQ(field("user@example.com"), "user@example.com");
}

TEST(Csv, row_end_is_crlf) {
  std::string out;
  append_csv_field(out, "a");
  out += ',';
  append_csv_field(out, "b,c");
  append_csv_row_end(out);
  EXPECT_EQ(out, "a,\"b,c\"\r\n");
}
