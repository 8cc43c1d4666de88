#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "domain/redact.hpp"
#include "tests/fixture_files.hpp"

namespace cti {
namespace {

using json = nlohmann::json;

TEST(Redact, PhoneMatchesItsSpellings) {
  EXPECT_TRUE(phone_matches("+17025550143", "+17025550143"));
  EXPECT_TRUE(phone_matches("+1 (702) 555-0143", "+17025550143"));
  EXPECT_TRUE(phone_matches("(702) 555-0143", "+17025550143"));  // national form
  EXPECT_TRUE(phone_matches("702.555.0143", "+17025550143"));
  EXPECT_TRUE(phone_matches("17025550143", "+17025550143"));
  EXPECT_FALSE(phone_matches("+17025550144", "+17025550143"));
  EXPECT_FALSE(phone_matches("555-0143", "+17025550143"));       // too short to be sure
  EXPECT_FALSE(phone_matches("call 7025550143", "+17025550143")); // not a bare number
  EXPECT_FALSE(phone_matches("+447025550143", "+17025550143"));
  // With its own country code a number must match whole: +70 25550143 is
  // another number, not the national form of +1 702 555 0143.
  EXPECT_FALSE(phone_matches("+7025550143", "+17025550143"));
  EXPECT_FALSE(phone_matches(" +7025550143", "+17025550143"));
  // The national form is North American only: the last 10 digits of a
  // Mexico City number are a New Jersey number.
  EXPECT_FALSE(phone_matches("551-234-5678", "+525512345678"));
  EXPECT_FALSE(phone_matches("25512345678", "+525512345678"));
  EXPECT_TRUE(phone_matches("525512345678", "+525512345678"));
  EXPECT_FALSE(phone_matches("911", "911"  "0"));
  EXPECT_FALSE(phone_matches("anything", ""));
  // Padded with separators past 64 bytes it is still the number (which an
  // event stores, normalized, as +17025550143); 65 digits are no number.
  EXPECT_TRUE(phone_matches("+1 (702)" + std::string(60, ' ') + "555-0143", "+17025550143"));
  EXPECT_FALSE(phone_matches(std::string(65, '7'), std::string(65, '7')));
}

TEST(Redact, DialpadCallPayloadLosesTheNumberAndTheContactName) {
  auto payload = json::parse(test::fixture_text("05-call-inbound-hangup.json"));
  ASSERT_TRUE(redact_phone(payload, "+17025550143"));
  EXPECT_EQ(payload["external_number"], "[redacted]");
  EXPECT_EQ(payload["contact"]["phone"], "[redacted]");
  EXPECT_EQ(payload["contact"]["name"], "[redacted]");
  // The other party stays.
  EXPECT_EQ(payload["internal_number"], "+14155550123");
  EXPECT_EQ(payload["target"]["phone"], "+14155550123");
  EXPECT_EQ(payload["target"]["name"], "Jordan Rivera");
  EXPECT_EQ(payload.dump().find("7025550143"), std::string::npos);
  EXPECT_EQ(payload.dump().find("555-0143"), std::string::npos);
  // Nothing left to do the second time.
  EXPECT_FALSE(redact_phone(payload, "+17025550143"));
}

TEST(Redact, SeedPayloadAndArrays) {
  auto payload = json::parse(R"({"event_type":"call.ring","from_number":"+1 702 555 0143",
    "caller_name":"Pat Doe","to_number":"+14155550123",
    "sms":{"to":["+17025550143","+14155550999"],"name":"Group"}})");
  ASSERT_TRUE(redact_phone(payload, "+17025550143"));
  EXPECT_EQ(payload["from_number"], "[redacted]");
  EXPECT_EQ(payload["caller_name"], "[redacted]");
  EXPECT_EQ(payload["to_number"], "+14155550123");
  EXPECT_EQ(payload["sms"]["to"][0], "[redacted]");
  EXPECT_EQ(payload["sms"]["to"][1], "+14155550999");
  EXPECT_EQ(payload["sms"]["name"], "[redacted]");
  EXPECT_EQ(payload["event_type"], "call.ring");
}

TEST(Redact, UnrelatedPayloadIsUntouched) {
  auto payload = json::parse(R"({"from_number":"+14155550123","caller_name":"Sam","n":7025550143})");
  auto before = payload;
  EXPECT_FALSE(redact_phone(payload, "+17025550143"));
  EXPECT_EQ(payload, before);
}


TEST(Redact, NumbersAndNamesInsideFreeText) {
  auto payload = nlohmann::json::parse(R"({"contact":{"name":"Sam Patel","phone_number":"+13125550177"},
    "transcript":"Hi, this is Sam Patel. Call me back at 312-555-0177. Or (312) 555 0177, thanks.",
    "note":"order 4155550123 shipped"})");
  ASSERT_TRUE(redact_phone(payload, "+13125550177"));
  EXPECT_EQ(payload["contact"]["name"], "[redacted]");
  EXPECT_EQ(payload["transcript"],
            "Hi, this is [redacted]. Call me back at [redacted]. Or [redacted], thanks.");
  EXPECT_EQ(payload["note"], "order 4155550123 shipped");
}

TEST(Redact, SeedVoicemailFixture) {
  auto payload = nlohmann::json::parse(test::fixture_text("15-seed-voicemail.received.json"));
  ASSERT_TRUE(redact_phone(payload, "+13125550177"));
  EXPECT_EQ(payload["from"], "[redacted]");
  EXPECT_EQ(payload["to"], "+14155550123");
  EXPECT_EQ(payload["transcript"].get<std::string>().find("312-555-0177"), std::string::npos);
}

} // namespace
} // namespace cti
