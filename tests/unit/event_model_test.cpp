#include "domain/event_model.hpp"
#include "domain/phone.hpp"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fixture_files.hpp"
#include <nlohmann/json.hpp>

#include "domain/crypto.hpp"

using nlohmann::json;

namespace {

using cti::test::fixtures_dir;

/// Parses one fixture; a missing or invalid file fails the test and gives a discarded value.
json load_fixture(const std::string& name) {
  auto path = fixtures_dir() / name;
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "fixture missing: " << path;
    return json(json::value_t::discarded);
  }
  std::stringstream text;
  text << in.rdbuf();
  auto j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded())
    ADD_FAILURE() << "fixture is not JSON: " << path;
  return j;
}

/// Epoch milliseconds as a timestamp.
cti::timestamp ms(int64_t v) {
  return cti::timestamp{std::chrono::milliseconds{v}};
}

json parse(const char* text) {
  return json::parse(text, nullptr, false);
}

} // namespace

// --- fixtures are present ------------------------------------------------------

TEST(event_model, fixture_directory_holds_all_fifteen_payloads) {
  auto dir = fixtures_dir();
  ASSERT_FALSE(dir.empty()) << "no fixture directory: define CTI_FIXTURES_DIR";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    count += entry.path().extension() == ".json";
  EXPECT_EQ(count, 15) << dir;
}

// --- event type ------------------------------------------------------------------

TEST(event_model, derives_the_type_of_every_dialpad_state) {
  const std::vector<std::pair<const char*, const char*>> table{
    {"calling", "call.ring"},
    {"ringing", "call.ring"},
    {"preanswer", "call.ring"},
    {"queued", "call.ring"},
    {"connected", "call.started"},
    {"hold", "call.held"},
    {"parked", "call.held"},
    {"hangup", "call.ended"},
    {"missed", "call.missed"},
    {"blocked", "call.rejected"},
    {"voicemail", "voicemail.received"},
    {"voicemail_uploaded", "voicemail.received"},
    {"transcription", "voicemail.received"},
    {"recording", "call.recording.completed"},
    {"admin_recording", "call.recording.completed"},
    {"merged", "call.updated"},
    {"call_transcription", "call.updated"},
    {"recap_summary", "call.updated"},
    {"recap_action_items", "call.updated"},
    {"csat", "call.updated"},
    {"postcall", "call.updated"},
    {"brand_new_state", "call.updated"},
  };
  for (const auto& [state, type] : table) {
    json payload{{"call_id", 5635304278851584}, {"state", state}, {"event_timestamp", 1}};
    EXPECT_FALSE(cti::is_seed_payload(payload)) << state;
    EXPECT_EQ(cti::derive_event_type(payload), type) << state;
    auto ev = cti::extract_event(payload);
    EXPECT_EQ(ev.event_type, type) << state;
    EXPECT_EQ(ev.dialpad_state, state);
    EXPECT_FALSE(ev.seed);
  }
}

TEST(event_model, matches_states_exactly_as_dialpad_sends_them) {
  // Dialpad sends lowercase states; anything else is an unknown state.
  EXPECT_EQ(cti::derive_event_type(json{{"call_id", 1}, {"state", "Connected"}}), "call.updated");
  EXPECT_EQ(cti::derive_event_type(json{{"call_id", 1}, {"state", " hangup"}}), "call.updated");
  // A state without a call id still names the type.
  EXPECT_EQ(cti::derive_event_type(json{{"state", "hangup"}}), "call.ended");
}

TEST(event_model, a_state_that_is_not_a_non_empty_string_counts_as_none) {
  EXPECT_EQ(cti::derive_event_type(json{{"call_id", 1}, {"state", ""}}), "call.updated");
  EXPECT_EQ(cti::derive_event_type(json{{"call_id", 1}, {"state", 3}}), "call.updated");
  EXPECT_EQ(cti::derive_event_type(json{{"call_id", 1}, {"state", nullptr}}), "call.updated");
  EXPECT_EQ(cti::derive_event_type(json{{"state", json::array()}}), "unknown");
  EXPECT_FALSE(cti::extract_event(json{{"call_id", 1}, {"state", ""}}).dialpad_state);
}

TEST(event_model, without_state_it_is_call_updated_with_a_call_id_else_unknown) {
  EXPECT_EQ(cti::derive_event_type(json{{"call_id", 5}}), "call.updated");
  EXPECT_EQ(cti::derive_event_type(json{{"call_id", "5"}}), "call.updated");
  EXPECT_EQ(cti::derive_event_type(json{{"call_id", "five"}}), "unknown");
  EXPECT_EQ(cti::derive_event_type(json{{"call_id", nullptr}}), "unknown");
  EXPECT_EQ(cti::derive_event_type(json::object()), "unknown");
}

TEST(event_model, non_object_payloads_are_unknown_and_never_throw) {
  for (const json& j : {json::array({1, 2}), json("call.ring"), json(nullptr), json(42), json(true),
                        json(json::value_t::discarded)}) {
    EXPECT_FALSE(cti::is_seed_payload(j));
    EXPECT_EQ(cti::derive_event_type(j), "unknown");
    EXPECT_FALSE(cti::payload_org_id(j));
    auto ev = cti::extract_event(j);
    EXPECT_EQ(ev.event_type, "unknown");
    EXPECT_FALSE(ev.dialpad_call_id);
    EXPECT_EQ(cti::derive_event_id(j, "abc"), cti::sha256_hex("abc"));
  }
}

TEST(event_model, sms_payload_type_follows_the_direction) {
  auto inbound = load_fixture("12-sms-inbound.json");
  ASSERT_TRUE(inbound.is_object());
  EXPECT_EQ(cti::derive_event_type(inbound), "sms.received");
  auto outbound = inbound;
  outbound["direction"] = "outbound";
  EXPECT_EQ(cti::derive_event_type(outbound), "sms.sent");
  outbound["direction"] = " Outgoing ";
  EXPECT_EQ(cti::derive_event_type(outbound), "sms.sent");
  auto in = inbound;
  in["direction"] = "IN";
  EXPECT_EQ(cti::derive_event_type(in), "sms.received");
}

TEST(event_model, sms_shape_needs_id_from_number_direction_and_no_state) {
  auto base = load_fixture("12-sms-inbound.json");
  ASSERT_TRUE(base.is_object());
  auto sideways = base;
  sideways["direction"] = "sideways";
  EXPECT_EQ(cti::derive_event_type(sideways), "unknown");
  auto no_from = base;
  no_from.erase("from_number");
  EXPECT_EQ(cti::derive_event_type(no_from), "unknown");
  auto text_id = base;
  text_id["id"] = "msg-1";
  EXPECT_EQ(cti::derive_event_type(text_id), "unknown");
  auto string_id = base;
  string_id["id"] = "6403122935373824";
  EXPECT_EQ(cti::derive_event_type(string_id), "sms.received");
  auto with_state = base;
  with_state["state"] = "hangup";
  EXPECT_EQ(cti::derive_event_type(with_state), "call.ended");
  // Not an SMS but carrying a call id: an update of that call.
  auto with_call = sideways;
  with_call["call_id"] = 9;
  EXPECT_EQ(cti::derive_event_type(with_call), "call.updated");
}

TEST(event_model, seed_type_field_wins_in_the_order_event_type_type_event) {
  EXPECT_EQ(cti::derive_event_type(json{{"event_type", "call.ring"}, {"type", "x"}, {"event", "y"}}),
            "call.ring");
  EXPECT_EQ(cti::derive_event_type(json{{"type", "call.held"}, {"event", "y"}}), "call.held");
  EXPECT_EQ(cti::derive_event_type(json{{"event", "call.ended"}}), "call.ended");
  // The seed type wins over a Dialpad state.
  EXPECT_EQ(cti::derive_event_type(json{{"event_type", "call.missed"}, {"state", "connected"}}),
            "call.missed");
  // Unknown seed types are kept as given (the processor ignores them).
  EXPECT_EQ(cti::derive_event_type(json{{"event_type", "call.transferred"}}), "call.transferred");
  for (const char* key : {"event_type", "type", "event"})
    EXPECT_TRUE(cti::is_seed_payload(json{{key, "call.ring"}})) << key;
}

TEST(event_model, a_type_field_counts_only_as_a_non_empty_string) {
  EXPECT_FALSE(cti::is_seed_payload(json{{"event_type", ""}}));
  EXPECT_FALSE(cti::is_seed_payload(json{{"event_type", 3}}));
  EXPECT_FALSE(cti::is_seed_payload(json{{"type", nullptr}}));
  EXPECT_FALSE(cti::is_seed_payload(json{{"event", json::object()}}));
  EXPECT_EQ(cti::derive_event_type(json{{"event_type", ""}, {"type", "call.ring"}}), "call.ring");
  EXPECT_EQ(cti::derive_event_type(json{{"event_type", 7}, {"state", "hangup"}, {"call_id", 1}}),
            "call.ended");
}

// --- identity ----------------------------------------------------------------------

TEST(event_model, seed_identity_takes_event_id_then_dialpad_event_id_then_id) {
  const std::string raw = "{}";
  json all{{"event_type", "call.ring"}, {"event_id", "e1"}, {"dialpad_event_id", "d1"}, {"id", "i1"}};
  EXPECT_EQ(cti::derive_event_id(all, raw), "e1");
  all.erase("event_id");
  EXPECT_EQ(cti::derive_event_id(all, raw), "d1");
  all.erase("dialpad_event_id");
  EXPECT_EQ(cti::derive_event_id(all, raw), "i1");
}

TEST(event_model, seed_identity_writes_numbers_in_decimal) {
  EXPECT_EQ(cti::derive_event_id(json{{"type", "call.ring"}, {"id", 5635304278851584}}, "x"),
            "5635304278851584");
  EXPECT_EQ(cti::derive_event_id(json{{"type", "call.ring"}, {"event_id", -7}}, "x"), "-7");
  EXPECT_EQ(cti::derive_event_id(json{{"type", "call.ring"}, {"dialpad_event_id", 0}}, "x"), "0");
}

TEST(event_model, seed_identity_skips_empty_and_non_scalar_ids) {
  json payload{{"event_type", "call.ring"}, {"event_id", ""}, {"dialpad_event_id", json::object()},
               {"id", "i9"}};
  EXPECT_EQ(cti::derive_event_id(payload, "x"), "i9");
  json floats{{"event_type", "call.ring"}, {"event_id", 1.5}, {"id", true}};
  EXPECT_EQ(cti::derive_event_id(floats, "raw"), cti::sha256_hex("raw"));
}

TEST(event_model, seed_without_id_hashes_the_raw_body_even_with_call_fields) {
  const std::string raw = R"({"event_type":"call.ring","call_id":1,"state":"ringing"})";
  auto payload = json::parse(raw, nullptr, false);
  EXPECT_EQ(cti::derive_event_id(payload, raw), cti::sha256_hex(raw));
}

TEST(event_model, seed_fixture_identity_is_its_dialpad_event_id) {
  for (const auto& [file, id] : std::vector<std::pair<std::string, std::string>>{
         {"13-seed-call.ring.json", "evt_5635304278851584_ring"},
         {"14-seed-call.ended.json", "evt_5635304278851584_ended"},
         {"15-seed-voicemail.received.json", "evt_5748039452590080_vm"}}) {
    auto payload = load_fixture(file);
    ASSERT_TRUE(payload.is_object()) << file;
    EXPECT_EQ(cti::derive_event_id(payload, "ignored"), id) << file;
  }
}

TEST(event_model, dialpad_call_identity_is_call_id_state_and_event_timestamp) {
  auto payload = load_fixture("01-call-inbound-ringing.json");
  ASSERT_TRUE(payload.is_object());
  EXPECT_EQ(cti::derive_event_id(payload, "raw"), "call:5635304278851584:ringing:1769596200420");
  // The known-answer JWT payload of the fixtures README.
  auto jwt_payload =
    parse(R"({"call_id":5635304278851584,"state":"ringing","event_timestamp":1769596200420})");
  EXPECT_EQ(cti::derive_event_id(jwt_payload, "token"),
            "call:5635304278851584:ringing:1769596200420");
}

TEST(event_model, dialpad_call_identity_of_every_call_fixture_is_distinct) {
  std::vector<std::string> ids;
  for (const char* file :
       {"01-call-inbound-ringing.json", "02-call-inbound-connected.json",
        "03-call-inbound-hold.json", "04-call-inbound-connected-after-hold.json",
        "05-call-inbound-hangup.json", "06-call-inbound-recording.json",
        "07-call-outbound-calling.json", "08-call-inbound-missed.json",
        "09-call-inbound-voicemail.json", "10-call-inbound-voicemail-uploaded.json",
        "11-call-inbound-voicemail-transcription.json"}) {
    auto payload = load_fixture(file);
    ASSERT_TRUE(payload.is_object()) << file;
    auto id = cti::derive_event_id(payload, "raw");
    EXPECT_TRUE(id.starts_with("call:")) << file << ": " << id;
    for (const auto& other : ids)
      EXPECT_NE(id, other) << file;
    ids.push_back(id);
  }
}

TEST(event_model, dialpad_call_identity_with_a_missing_part_is_the_hash_of_the_body) {
  // A template with an empty part would give two different events one
  // identity, and the second would be acknowledged as a repeat and dropped.
  EXPECT_EQ(cti::derive_event_id(json{{"call_id", 1}, {"event_timestamp", 5}}, "r"),
            cti::sha256_hex("r"));
  EXPECT_EQ(cti::derive_event_id(json{{"call_id", 1}, {"state", "hold"}}, "r"), cti::sha256_hex("r"));
  EXPECT_EQ(cti::derive_event_id(json{{"call_id", 1}, {"state", ""}, {"event_timestamp", 5}}, "r"),
            cti::sha256_hex("r"));
  EXPECT_EQ(cti::derive_event_id(json{{"call_id", "42"}, {"state", "hold"}, {"event_timestamp", "7"}},
                                 "r"),
            "call:42:hold:7");
  EXPECT_EQ(cti::derive_event_id(json{{"call_id", 1}, {"state", "hold"}, {"event_timestamp", "x"}},
                                 "r"),
            cti::sha256_hex("r"));
  // Two transcriptions of one call without a timestamp stay two events.
  json first{{"call_id", 1200}, {"state", "call_transcription"}, {"transcription_text", "first"}};
  json second{{"call_id", 1200}, {"state", "call_transcription"}, {"transcription_text", "second"}};
  EXPECT_NE(cti::derive_event_id(first, first.dump()), cti::derive_event_id(second, second.dump()));
}

TEST(event_model, dialpad_event_without_call_id_hashes_the_raw_bytes) {
  EXPECT_EQ(cti::derive_event_id(json{{"state", "ringing"}, {"event_timestamp", 1}}, "token.text.sig"),
            cti::sha256_hex("token.text.sig"));
  EXPECT_EQ(cti::derive_event_id(json{{"call_id", "not-a-number"}}, "abc"), cti::sha256_hex("abc"));
}

TEST(event_model, sms_identity_is_id_message_status_and_event_timestamp) {
  auto payload = load_fixture("12-sms-inbound.json");
  ASSERT_TRUE(payload.is_object());
  EXPECT_EQ(cti::derive_event_id(payload, "raw"), "sms:6403122935373824:pending:1769605200700");
  auto without = [&](const char* key) {
    auto p = payload;
    p.erase(key);
    return cti::derive_event_id(p, "raw");
  };
  EXPECT_EQ(without("message_status"), cti::sha256_hex("raw"));
  EXPECT_EQ(without("event_timestamp"), cti::sha256_hex("raw"));
}

// A template longer than the 512 characters an identity may have (a state
// or status of hundreds of characters) is the hash too: until the
// twenty-eighth session such a webhook was refused with 400.
TEST(event_model, a_template_identity_past_512_characters_is_the_hash_of_the_body) {
  auto call = [](std::string state) {
    return json{{"call_id", 42}, {"state", std::move(state)}, {"event_timestamp", 7}};
  };
  // "call:42:" + state + ":7" is 10 characters beside the state.
  EXPECT_EQ(cti::derive_event_id(call(std::string(502, 's')), "r"),
            "call:42:" + std::string(502, 's') + ":7");
  EXPECT_EQ(cti::derive_event_id(call(std::string(503, 's')), "r"), cti::sha256_hex("r"));
  // Characters, not bytes: 502 two-byte characters still fit.
  std::string wide;
  for (int i = 0; i < 502; ++i)
    wide += "\xC3\xA9";
  EXPECT_EQ(cti::derive_event_id(call(wide), "r"), "call:42:" + wide + ":7");
  EXPECT_EQ(cti::derive_event_id(call(wide + "\xC3\xA9"), "r"), cti::sha256_hex("r"));
  auto sms = load_fixture("12-sms-inbound.json");
  ASSERT_TRUE(sms.is_object());
  sms["message_status"] = std::string(600, 'p');
  EXPECT_EQ(cti::derive_event_id(sms, "raw"), cti::sha256_hex("raw"));
}

TEST(event_model, hash_fallback_is_lowercase_hex_sha256_of_raw) {
  EXPECT_EQ(cti::derive_event_id(json::object(), "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(cti::derive_event_id(json{{"foo", 1}}, ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// --- direction ---------------------------------------------------------------------

TEST(event_model, normalizes_direction_variants) {
  const std::vector<std::pair<const char*, const char*>> table{
    {"inbound", "inbound"},   {"INBOUND", "inbound"},   {"Incoming", "inbound"},
    {"in", "inbound"},        {"IN", "inbound"},        {"\tin\n", "inbound"},
    {"outbound", "outbound"}, {"Outgoing", "outbound"}, {"out", "outbound"},
    {" out ", "outbound"},    {"OUT", "outbound"},
  };
  for (const auto& [raw, want] : table) {
    auto got = cti::normalize_direction(raw);
    ASSERT_TRUE(got) << '"' << raw << '"';
    EXPECT_EQ(*got, want) << '"' << raw << '"';
  }
  for (const char* bad : {"sideways", "", "   ", "inn", "o ut", "internal", "in-bound", "outbound."})
    EXPECT_FALSE(cti::normalize_direction(bad)) << '"' << bad << '"';
}

TEST(event_model, extracted_direction_is_normalized_or_absent) {
  EXPECT_EQ(cti::extract_event(json{{"call_id", 1}, {"direction", " INCOMING "}}).direction,
            "inbound");
  EXPECT_FALSE(cti::extract_event(json{{"call_id", 1}, {"direction", "sideways"}}).direction);
  EXPECT_FALSE(cti::extract_event(json{{"call_id", 1}, {"direction", 1}}).direction);
}

// --- json_int64 --------------------------------------------------------------------

TEST(event_model, json_int64_reads_numbers_and_numeric_strings) {
  const std::vector<std::pair<json, int64_t>> good{
    {json(123), 123},
    {json(-5), -5},
    {json(0), 0},
    {json(5635304278851584), 5635304278851584},
    {json(std::numeric_limits<int64_t>::max()), std::numeric_limits<int64_t>::max()},
    {json(std::numeric_limits<int64_t>::min()), std::numeric_limits<int64_t>::min()},
    {json(uint64_t{9223372036854775807ULL}), std::numeric_limits<int64_t>::max()},
    {json(5.0), 5},
    {json(-2.0), -2},
    {json("123"), 123},
    {json("-42"), -42},
    {json("0"), 0},
    {json("5635304278851584"), 5635304278851584},
    {json("9223372036854775807"), std::numeric_limits<int64_t>::max()},
    {json("-9223372036854775808"), std::numeric_limits<int64_t>::min()},
  };
  for (const auto& [v, want] : good) {
    auto got = cti::json_int64(v);
    ASSERT_TRUE(got) << v.dump();
    EXPECT_EQ(*got, want) << v.dump();
  }
}

TEST(event_model, json_int64_rejects_fractions_overflow_and_junk) {
  const std::vector<json> bad{
    json(5.5),
    json(-0.25),
    json(1e30),
    json(9223372036854775808.0),
    json(std::numeric_limits<double>::infinity()),
    json(std::nan("")),
    json(uint64_t{9223372036854775808ULL}),
    json(std::numeric_limits<uint64_t>::max()),
    json("9223372036854775808"),
    json("-9223372036854775809"),
    json("99999999999999999999"),
    json(""),
    json(" 1"),
    json("1 "),
    json("+1"),
    json("12a"),
    json("1.0"),
    json("0x10"),
    json("-"),
    json(true),
    json(false),
    json(nullptr),
    json::array({1}),
    json{{"id", 1}},
    json(json::value_t::discarded),
  };
  for (const auto& v : bad)
    EXPECT_FALSE(cti::json_int64(v)) << v.dump();
  // Parsed text goes through the same rules (unsigned and float storage).
  EXPECT_FALSE(cti::json_int64(parse("18446744073709551615")));
  EXPECT_EQ(cti::json_int64(parse("9223372036854775807")), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(cti::json_int64(parse("178800.0")), 178800);
  // A float past 2^53 cannot tell neighbouring integers apart: refused,
  // not read as another id (…993.0 would be …992).
  EXPECT_EQ(cti::json_int64(parse("9007199254740991.0")), 9007199254740991);
  EXPECT_EQ(cti::json_int64(parse("5635304278851584.0")), 5635304278851584);
  EXPECT_FALSE(cti::json_int64(parse("9007199254740992.0")));
  EXPECT_FALSE(cti::json_int64(parse("9007199254740993.0")));
  EXPECT_FALSE(cti::json_int64(parse("-9007199254740993.0")));
  EXPECT_FALSE(cti::json_int64(parse("-9223372036854775809")));
  EXPECT_FALSE(cti::json_int64(parse("-9223372036854776832")));
  // Integers in JSON integer syntax keep all 64 bits.
  EXPECT_EQ(cti::json_int64(parse("5635304278851584")), 5635304278851584);
}

// --- org id ------------------------------------------------------------------------

TEST(event_model, payload_org_id_takes_org_id_then_company_id) {
  EXPECT_EQ(cti::payload_org_id(json{{"org_id", 7}, {"company_id", 8}}), 7);
  EXPECT_EQ(cti::payload_org_id(json{{"company_id", "8"}}), 8);
  EXPECT_EQ(cti::payload_org_id(json{{"org_id", "junk"}, {"company_id", 9}}), 9);
  EXPECT_EQ(cti::payload_org_id(json{{"org_id", "5171365938069504"}}), 5171365938069504);
  EXPECT_FALSE(cti::payload_org_id(json{{"org_id", nullptr}}));
  EXPECT_FALSE(cti::payload_org_id(json{{"org_id", 1.5}}));
  EXPECT_FALSE(cti::payload_org_id(json::object()));
  EXPECT_EQ(cti::extract_event(json{{"call_id", 1}, {"company_id", 3}}).org_id, 3);
}

// --- extraction of every fixture ------------------------------------------------------

namespace {

/// What every call fixture of call A (01–06) shares.
void expect_call_a(const cti::event_data& ev) {
  EXPECT_FALSE(ev.seed);
  EXPECT_EQ(ev.dialpad_call_id, 5635304278851584);
  EXPECT_EQ(ev.direction, "inbound");
  EXPECT_EQ(ev.from_number, "+17025550143");
  EXPECT_EQ(ev.to_number, "+14155550123");
  EXPECT_EQ(ev.dialpad_user_id, 5171365938069504);
  EXPECT_EQ(ev.user_name, "Jordan Rivera");
  EXPECT_EQ(ev.user_email, "jordan.rivera@example.com");
  EXPECT_EQ(ev.user_phone, "+14155550123");
  EXPECT_EQ(ev.user_office_id, 5716039329251328);
  EXPECT_EQ(ev.date_started, ms(1769596200000));
  EXPECT_FALSE(ev.voicemail_url);
  EXPECT_FALSE(ev.transcript);
  EXPECT_FALSE(ev.voicemail_duration_seconds);
  EXPECT_FALSE(ev.message_id);
  EXPECT_FALSE(ev.text);
  EXPECT_FALSE(ev.message_status);
  EXPECT_FALSE(ev.org_id);
}

/// What every fixture of call C (08–11) shares.
void expect_call_c(const cti::event_data& ev) {
  EXPECT_FALSE(ev.seed);
  EXPECT_EQ(ev.dialpad_call_id, 5748039452590080);
  EXPECT_EQ(ev.direction, "inbound");
  EXPECT_EQ(ev.from_number, "+13125550177");
  EXPECT_EQ(ev.to_number, "+14155550123");
  EXPECT_EQ(ev.dialpad_user_id, 5171365938069504);
  EXPECT_EQ(ev.date_started, ms(1769603400000));
  EXPECT_FALSE(ev.date_connected);
  EXPECT_FALSE(ev.recording_url);
}

cti::event_data fixture_event(const std::string& name) {
  return cti::extract_event(load_fixture(name));
}

const char* const transcript_c =
  "Hi Jordan, this is Sam Patel from Northwind. I'm calling about the invoice we discussed last "
  "week. Please call me back at 312-555-0177. Thanks.";

} // namespace

TEST(event_model, extracts_fixture_01_inbound_ringing) {
  auto ev = fixture_event("01-call-inbound-ringing.json");
  expect_call_a(ev);
  EXPECT_EQ(ev.event_type, "call.ring");
  EXPECT_EQ(ev.dialpad_state, "ringing");
  EXPECT_EQ(ev.event_time, ms(1769596200420));
  EXPECT_FALSE(ev.date_connected);
  EXPECT_FALSE(ev.date_ended);
  EXPECT_FALSE(ev.duration_seconds);
  EXPECT_FALSE(ev.recording_url);
}

TEST(event_model, extracts_fixture_02_connected) {
  auto ev = fixture_event("02-call-inbound-connected.json");
  expect_call_a(ev);
  EXPECT_EQ(ev.event_type, "call.started");
  EXPECT_EQ(ev.dialpad_state, "connected");
  EXPECT_EQ(ev.event_time, ms(1769596206350));
  EXPECT_EQ(ev.date_connected, ms(1769596206200));
  EXPECT_FALSE(ev.date_ended);
  EXPECT_FALSE(ev.duration_seconds);
}

TEST(event_model, extracts_fixture_03_hold) {
  auto ev = fixture_event("03-call-inbound-hold.json");
  expect_call_a(ev);
  EXPECT_EQ(ev.event_type, "call.held");
  EXPECT_EQ(ev.event_time, ms(1769596265100));
  EXPECT_EQ(ev.date_connected, ms(1769596206200));
}

TEST(event_model, extracts_fixture_04_connected_after_hold_as_call_started) {
  auto ev = fixture_event("04-call-inbound-connected-after-hold.json");
  expect_call_a(ev);
  EXPECT_EQ(ev.event_type, "call.started");
  EXPECT_EQ(ev.event_time, ms(1769596295200));
}

TEST(event_model, extracts_fixture_05_hangup_with_duration_in_seconds) {
  auto ev = fixture_event("05-call-inbound-hangup.json");
  expect_call_a(ev);
  EXPECT_EQ(ev.event_type, "call.ended");
  EXPECT_EQ(ev.event_time, ms(1769596385120));
  EXPECT_EQ(ev.date_connected, ms(1769596206200));
  EXPECT_EQ(ev.date_ended, ms(1769596385000));
  EXPECT_EQ(ev.duration_seconds, 179); // 178800.0 ms
  EXPECT_FALSE(ev.recording_url);      // recording_details is still empty
}

TEST(event_model, extracts_fixture_06_recording_url_from_recording_details) {
  auto ev = fixture_event("06-call-inbound-recording.json");
  expect_call_a(ev);
  EXPECT_EQ(ev.event_type, "call.recording.completed");
  EXPECT_EQ(ev.event_time, ms(1769596416500));
  EXPECT_EQ(ev.recording_url, "https://dialpad.com/blob/adminrecording/4808113440145408.mp3");
  EXPECT_EQ(ev.duration_seconds, 179);
}

TEST(event_model, extracts_fixture_07_outbound_numbers_reversed) {
  auto ev = fixture_event("07-call-outbound-calling.json");
  EXPECT_EQ(ev.event_type, "call.ring");
  EXPECT_EQ(ev.dialpad_state, "calling");
  EXPECT_EQ(ev.dialpad_call_id, 6199154384437248);
  EXPECT_EQ(ev.direction, "outbound");
  EXPECT_EQ(ev.from_number, "+14155550123"); // internal
  EXPECT_EQ(ev.to_number, "+12065550188");   // external
  EXPECT_EQ(ev.dialpad_user_id, 5171365938069504);
  EXPECT_EQ(ev.date_started, ms(1769599800000));
  EXPECT_EQ(ev.event_time, ms(1769599800090));
}

TEST(event_model, extracts_fixture_08_missed) {
  auto ev = fixture_event("08-call-inbound-missed.json");
  expect_call_c(ev);
  EXPECT_EQ(ev.event_type, "call.missed");
  EXPECT_EQ(ev.event_time, ms(1769603425300));
  EXPECT_FALSE(ev.date_ended);
  EXPECT_FALSE(ev.duration_seconds);
}

TEST(event_model, extracts_fixture_09_voicemail_without_link_yet) {
  auto ev = fixture_event("09-call-inbound-voicemail.json");
  expect_call_c(ev);
  EXPECT_EQ(ev.event_type, "voicemail.received");
  EXPECT_EQ(ev.event_time, ms(1769603425600));
  EXPECT_FALSE(ev.voicemail_url);
  EXPECT_FALSE(ev.transcript);
  EXPECT_FALSE(ev.voicemail_duration_seconds);
}

TEST(event_model, extracts_fixture_10_voicemail_link_and_length) {
  auto ev = fixture_event("10-call-inbound-voicemail-uploaded.json");
  expect_call_c(ev);
  EXPECT_EQ(ev.event_type, "voicemail.received");
  EXPECT_EQ(ev.dialpad_state, "voicemail_uploaded");
  EXPECT_EQ(ev.voicemail_url, "https://dialpad.com/blob/voicemail/5139273818587136.mp3");
  EXPECT_EQ(ev.voicemail_duration_seconds, 32); // 31800 ms
  EXPECT_EQ(ev.duration_seconds, 0);            // the call's own duration, 0.0 ms
  EXPECT_EQ(ev.date_ended, ms(1769603461000));
  EXPECT_FALSE(ev.transcript);
}

TEST(event_model, extracts_fixture_11_transcript) {
  auto ev = fixture_event("11-call-inbound-voicemail-transcription.json");
  expect_call_c(ev);
  EXPECT_EQ(ev.event_type, "voicemail.received");
  EXPECT_EQ(ev.dialpad_state, "transcription");
  EXPECT_EQ(ev.transcript, transcript_c);
  EXPECT_EQ(ev.voicemail_url, "https://dialpad.com/blob/voicemail/5139273818587136.mp3");
  EXPECT_EQ(ev.event_time, ms(1769603480800));
}

TEST(event_model, extracts_fixture_12_sms_with_array_to_number) {
  auto ev = fixture_event("12-sms-inbound.json");
  EXPECT_EQ(ev.event_type, "sms.received");
  EXPECT_FALSE(ev.seed);
  EXPECT_FALSE(ev.dialpad_state);
  EXPECT_FALSE(ev.dialpad_call_id);
  EXPECT_EQ(ev.message_id, 6403122935373824);
  EXPECT_EQ(ev.direction, "inbound");
  EXPECT_EQ(ev.from_number, "+13125550177");
  EXPECT_EQ(ev.to_number, "+14155550123");
  EXPECT_EQ(ev.text, "Did you get my voicemail? Call me when you can.");
  EXPECT_EQ(ev.message_status, "pending");
  EXPECT_EQ(ev.event_time, ms(1769605200700));
  EXPECT_EQ(ev.dialpad_user_id, 5171365938069504);
  EXPECT_EQ(ev.user_name, "Jordan Rivera");
  EXPECT_EQ(ev.user_phone, "+14155550123"); // target.phone_number
  EXPECT_FALSE(ev.user_email);
}

TEST(event_model, extracts_fixture_13_seed_ring) {
  auto ev = fixture_event("13-seed-call.ring.json");
  EXPECT_TRUE(ev.seed);
  EXPECT_EQ(ev.event_type, "call.ring");
  EXPECT_FALSE(ev.dialpad_state);
  EXPECT_EQ(ev.dialpad_call_id, 5635304278851584);
  EXPECT_EQ(ev.direction, "inbound");
  EXPECT_EQ(ev.from_number, "+17025550143");
  EXPECT_EQ(ev.to_number, "+14155550123");
  EXPECT_EQ(ev.dialpad_user_id, 5171365938069504);
  EXPECT_EQ(ev.event_time, ms(1769596200000)); // 2026-01-28T10:30:00Z
  EXPECT_FALSE(ev.date_started);
  EXPECT_FALSE(ev.user_name);
}

TEST(event_model, extracts_fixture_14_seed_ended_with_seconds) {
  auto ev = fixture_event("14-seed-call.ended.json");
  EXPECT_TRUE(ev.seed);
  EXPECT_EQ(ev.event_type, "call.ended");
  EXPECT_EQ(ev.dialpad_call_id, 5635304278851584);
  EXPECT_EQ(ev.duration_seconds, 179);
  EXPECT_EQ(ev.event_time, ms(1769596385000)); // 2026-01-28T10:33:05Z
  EXPECT_FALSE(ev.date_ended);                 // seed `ended_at` is not read
}

TEST(event_model, extracts_fixture_15_seed_voicemail) {
  auto ev = fixture_event("15-seed-voicemail.received.json");
  EXPECT_TRUE(ev.seed);
  EXPECT_EQ(ev.event_type, "voicemail.received");
  EXPECT_EQ(ev.dialpad_call_id, 5748039452590080);
  EXPECT_EQ(ev.from_number, "+13125550177");
  EXPECT_EQ(ev.to_number, "+14155550123");
  EXPECT_EQ(ev.dialpad_user_id, 5171365938069504);
  EXPECT_EQ(ev.voicemail_url, "https://dialpad.com/blob/voicemail/5139273818587136.mp3");
  EXPECT_EQ(ev.transcript, transcript_c);
  EXPECT_EQ(ev.voicemail_duration_seconds, 32);
  // The seed voicemail's recording and duration are the voicemail's, not the call's.
  EXPECT_FALSE(ev.recording_url);
  EXPECT_FALSE(ev.duration_seconds);
  EXPECT_EQ(ev.event_time, ms(1769603465000)); // 2026-01-28T12:31:05Z
}

// --- extraction rules ------------------------------------------------------------------

TEST(event_model, dialpad_duration_ms_rounds_half_up_to_seconds) {
  const std::vector<std::pair<json, std::optional<int>>> table{
    {json(0), 0},          {json(499), 0},        {json(500), 1},
    {json(1499), 1},       {json(1500), 2},       {json(2500), 3},
    {json(178800.0), 179}, {json(1499.9), 1},     {json(1500.0), 2},
    {json(0.0), 0},        {json(-1), std::nullopt}, {json(-0.5), std::nullopt},
    {json("1500"), std::nullopt}, {json(nullptr), std::nullopt}, {json(true), std::nullopt},
    {json(1e300), std::nullopt},
    {json(uint64_t{18446744073709551615ULL}), std::nullopt},
  };
  for (const auto& [duration, want] : table) {
    auto ev = cti::extract_event(json{{"call_id", 1}, {"state", "hangup"}, {"duration", duration}});
    EXPECT_EQ(ev.duration_seconds, want) << duration.dump();
  }
}

TEST(event_model, seed_duration_is_seconds_rounded_half_up) {
  const std::vector<std::pair<json, std::optional<int>>> table{
    {json(179), 179}, {json(0), 0}, {json(2.5), 3}, {json(2.4), 2},
    {json(-1), std::nullopt}, {json("5"), std::nullopt}, {json(nullptr), std::nullopt},
  };
  for (const auto& [duration, want] : table) {
    auto ev = cti::extract_event(json{{"event_type", "call.ended"}, {"duration", duration}});
    EXPECT_EQ(ev.duration_seconds, want) << duration.dump();
  }
}

TEST(event_model, epoch_milliseconds_accept_integers_strings_and_floats_in_range) {
  const std::vector<std::pair<json, std::optional<cti::timestamp>>> table{
    {json(1769596200420), ms(1769596200420)},
    {json("1769596200420"), ms(1769596200420)},
    {json(1769596200420.0), ms(1769596200420)},
    // Times are kept in whole milliseconds, as they are served.
    {json(1769596200420.5), ms(1769596200420)},
    {json(1769596200420.999), ms(1769596200420)},
    // 0 is "not set", not 1970.
    {json(0), std::nullopt},
    {json("0"), std::nullopt},
    {json(0.5), std::nullopt},
    {json(1), ms(1)},
    {json(253402300799999), ms(253402300799999)},
    {json(253402300800000), std::nullopt},
    {json(-1), std::nullopt},
    {json("yesterday"), std::nullopt},
    {json("2026-01-28T10:30:00Z"), std::nullopt},
    {json(nullptr), std::nullopt},
    {json(std::numeric_limits<double>::infinity()), std::nullopt},
  };
  for (const auto& [value, want] : table) {
    auto ev = cti::extract_event(
      json{{"call_id", 1}, {"state", "hangup"}, {"event_timestamp", value}, {"date_ended", value}});
    EXPECT_EQ(ev.event_time, want) << value.dump();
    EXPECT_EQ(ev.date_ended, want) << value.dump();
  }
}

TEST(event_model, seed_rfc3339_time_outside_the_epoch_ms_range_is_not_read) {
  // The bounds of epoch milliseconds (1970 to the end of 9999, UTC), also when
  // an offset moves the time across them.
  const std::vector<std::pair<const char*, std::optional<cti::timestamp>>> table{
    {"1970-01-01T00:00:00Z", ms(0)},
    {"9999-12-31T23:59:59.999Z", ms(253402300799999)},
    // Digits past the millisecond are dropped: they are never served.
    {"2026-02-05T10:00:00.123876Z", ms(1770285600123)},
    {"9999-12-31T23:59:59.999+01:00", ms(253402300799999 - 3600000)},
    {"1969-12-31T23:59:59.999Z", std::nullopt},
    {"0000-01-01T00:00:00Z", std::nullopt},
    {"0001-01-01T00:00:00Z", std::nullopt},
    {"9999-12-31T23:59:59-01:00", std::nullopt}, // year 10000 in UTC
    {"1970-01-01T00:30:00+01:00", std::nullopt},
  };
  for (const auto& [text, want] : table) {
    auto ev = cti::extract_event(json{{"type", "call.ring"}, {"timestamp", text}});
    EXPECT_EQ(ev.event_time, want) << text;
    // ... and the seed's epoch milliseconds are read instead.
    auto with_ms = cti::extract_event(
      json{{"type", "call.ring"}, {"timestamp", text}, {"event_timestamp", 1769596200420}});
    EXPECT_EQ(with_ms.event_time, want ? want : ms(1769596200420)) << text;
  }
}

TEST(event_model, seed_time_is_rfc3339_timestamp_else_event_timestamp) {
  EXPECT_EQ(cti::extract_event(json{{"type", "call.ring"}, {"timestamp", "2026-01-28T10:30:00.5Z"}})
              .event_time,
            ms(1769596200500));
  EXPECT_EQ(cti::extract_event(json{{"type", "call.ring"}, {"event_timestamp", 1769596200420}})
              .event_time,
            ms(1769596200420));
  // An unreadable timestamp falls back to event_timestamp.
  EXPECT_EQ(cti::extract_event(json{{"type", "call.ring"},
                                    {"timestamp", "soon"},
                                    {"event_timestamp", 1769596200420}})
              .event_time,
            ms(1769596200420));
  EXPECT_FALSE(cti::extract_event(json{{"type", "call.ring"}, {"timestamp", 1769596200420}})
                 .event_time);
  // Dialpad payloads use only event_timestamp.
  EXPECT_FALSE(
    cti::extract_event(json{{"call_id", 1}, {"timestamp", "2026-01-28T10:30:00Z"}}).event_time);
}

TEST(event_model, a_time_given_but_unreadable_is_named_and_absent) {
  struct row {
    json payload;
    const char* unreadable; ///< "" when nothing is to be noted
  };
  const std::vector<row> table{
    // Seed: RFC 3339 `timestamp`, else epoch-ms `event_timestamp`.
    {{{"type", "call.ring"}, {"timestamp", "yesterday"}}, "timestamp"},
    {{{"type", "call.ring"}, {"timestamp", 1769596200420}}, "timestamp"},
    {{{"type", "call.ring"}, {"timestamp", "0000-01-01T00:00:00Z"}}, "timestamp"},
    {{{"type", "call.ring"}, {"timestamp", "soon"}, {"event_timestamp", 1769596200420}},
     "timestamp"},
    {{{"type", "call.ring"}, {"event_timestamp", "soon"}}, "event_timestamp"},
    {{{"type", "call.ring"}, {"event_timestamp", -5}}, "event_timestamp"},
    {{{"type", "call.ring"}, {"event_timestamp", json::object()}}, "event_timestamp"},
    // "Not known": null, "" and 0.
    {{{"type", "call.ring"}, {"timestamp", nullptr}, {"event_timestamp", 0}}, ""},
    {{{"type", "call.ring"}, {"timestamp", ""}, {"event_timestamp", ""}}, ""},
    {{{"type", "call.ring"}, {"event_timestamp", 0.0}}, ""},
    {{{"type", "call.ring"}, {"event_timestamp", "0"}}, ""},
    {{{"type", "call.ring"}, {"timestamp", "2026-01-28T10:30:00Z"}}, ""},
    {{{"type", "call.ring"}}, ""},
    // Dialpad: the first unreadable of its epoch-ms fields.
    {{{"call_id", 1}, {"state", "hangup"}, {"date_connected", "x"}, {"date_ended", "y"}},
     "date_connected"},
    {{{"call_id", 1}, {"state", "hangup"}, {"event_timestamp", 1e300}}, "event_timestamp"},
    {{{"call_id", 1}, {"state", "hangup"}, {"date_started", 0}, {"date_ended", nullptr}}, ""},
  };
  for (const auto& [payload, unreadable] : table) {
    auto ev = cti::extract_event(payload);
    EXPECT_EQ(ev.unreadable_time, unreadable) << payload.dump();
  }
  // What was unreadable is absent, not guessed.
  auto ev = cti::extract_event(
    json{{"call_id", 1}, {"state", "hangup"}, {"date_connected", "x"}, {"date_ended", 1769596200420}});
  EXPECT_FALSE(ev.date_connected);
  EXPECT_EQ(ev.date_ended, ms(1769596200420));
}

TEST(event_model, seed_call_id_alternatives_in_order) {
  EXPECT_EQ(cti::extract_event(json{{"type", "call.ring"}, {"dialpad_call_id", 1}, {"call_id", 2}})
              .dialpad_call_id,
            1);
  EXPECT_EQ(cti::extract_event(json{{"type", "call.ring"}, {"call_id", "2"}}).dialpad_call_id, 2);
  EXPECT_EQ(cti::extract_event(json{{"type", "call.ring"}, {"call", {{"id", 3}}}}).dialpad_call_id,
            3);
  EXPECT_EQ(cti::extract_event(json{{"type", "call.ring"}, {"dialpad_call_id", "x"}, {"call_id", 4}})
              .dialpad_call_id,
            4);
  EXPECT_FALSE(cti::extract_event(json{{"type", "call.ring"}, {"call", 3}}).dialpad_call_id);
}

TEST(event_model, seed_numbers_and_user_alternatives) {
  auto a = cti::extract_event(json{{"type", "call.ring"},
                                   {"from_number", "+1"},
                                   {"from", "+2"},
                                   {"to_number", "+3"},
                                   {"to", "+4"},
                                   {"dialpad_user_id", 5},
                                   {"user_id", 6}});
  EXPECT_EQ(a.from_number, "+1");
  EXPECT_EQ(a.to_number, "+3");
  EXPECT_EQ(a.dialpad_user_id, 5);
  auto b = cti::extract_event(json{{"type", "call.ring"}, {"from", "+2"}, {"to", "+4"}, {"user_id", "6"}});
  EXPECT_EQ(b.from_number, "+2");
  EXPECT_EQ(b.to_number, "+4");
  EXPECT_EQ(b.dialpad_user_id, 6);
  auto c = cti::extract_event(
    json{{"type", "call.ring"}, {"target", {{"id", 7}, {"type", "user"}, {"name", "Ann"}}}});
  EXPECT_EQ(c.dialpad_user_id, 7);
  EXPECT_EQ(c.user_name, "Ann");
  auto d = cti::extract_event(json{{"type", "call.ring"}, {"target", {{"id", 7}, {"type", "office"}}}});
  EXPECT_FALSE(d.dialpad_user_id);
}

TEST(event_model, an_erased_number_is_no_number) {
  // The erase endpoint writes "[redacted]" into stored payloads; a replay
  // of such an event must not store that text as a phone number.
  auto seed = cti::extract_event(
    json{{"type", "call.ring"}, {"from", "[redacted]"}, {"to_number", "[redacted]"}, {"to", "+4"}});
  EXPECT_FALSE(seed.from_number);
  EXPECT_EQ(seed.to_number, "+4");
  auto payload = load_fixture("01-call-inbound-ringing.json");
  ASSERT_TRUE(payload.is_object());
  payload["external_number"] = "[redacted]";
  auto dialpad = cti::extract_event(payload);
  EXPECT_FALSE(dialpad.from_number);
  EXPECT_TRUE(dialpad.to_number);
  // The user beside an erased number: its name, phone and email too.
  EXPECT_TRUE(dialpad.user_name);
  payload["target"]["name"] = "[redacted]";
  payload["target"]["phone"] = "[redacted]";
  payload["target"]["email"] = "[redacted]";
  auto user = cti::extract_event(payload);
  EXPECT_TRUE(user.dialpad_user_id);
  EXPECT_FALSE(user.user_name);
  EXPECT_FALSE(user.user_phone);
  EXPECT_FALSE(user.user_email);
}

TEST(event_model, dialpad_user_only_from_a_user_target) {
  auto payload = load_fixture("01-call-inbound-ringing.json");
  ASSERT_TRUE(payload.is_object());
  payload["target"]["type"] = "department";
  auto ev = cti::extract_event(payload);
  EXPECT_FALSE(ev.dialpad_user_id);
  EXPECT_FALSE(ev.user_name);
  EXPECT_FALSE(ev.user_office_id);
  payload["target"] = "user";
  EXPECT_FALSE(cti::extract_event(payload).dialpad_user_id);
}

TEST(event_model, dialpad_numbers_need_a_known_direction) {
  auto payload = load_fixture("01-call-inbound-ringing.json");
  ASSERT_TRUE(payload.is_object());
  payload["direction"] = "sideways";
  auto ev = cti::extract_event(payload);
  EXPECT_FALSE(ev.direction);
  EXPECT_FALSE(ev.from_number);
  EXPECT_FALSE(ev.to_number);
  payload["direction"] = "Incoming";
  ev = cti::extract_event(payload);
  EXPECT_EQ(ev.from_number, "+17025550143");
  EXPECT_EQ(ev.to_number, "+14155550123");
}

TEST(event_model, recording_url_skips_voicemail_entries_and_falls_back) {
  json payload{{"call_id", 1},
               {"state", "recording"},
               {"recording_url", "https://r/fallback.mp3"},
               {"recording_details",
                {{{"recording_type", "voicemail"}, {"url", "https://r/vm.mp3"}},
                 {{"recording_type", "callrecording"}, {"url", ""}},
                 {{"recording_type", "callrecording"}, {"url", "https://r/call.mp3"}}}}};
  EXPECT_EQ(cti::extract_event(payload).recording_url, "https://r/call.mp3");
  payload["recording_details"] = json::array();
  EXPECT_EQ(cti::extract_event(payload).recording_url, "https://r/fallback.mp3");
  payload["recording_details"] = json{{"url", "https://r/not-an-array.mp3"}};
  EXPECT_EQ(cti::extract_event(payload).recording_url, "https://r/fallback.mp3");
  // `type` stands in for `recording_type`.
  payload["recording_details"] = json::array({json{{"type", "voicemail"}, {"url", "https://r/vm"}}});
  auto ev = cti::extract_event(payload);
  EXPECT_EQ(ev.recording_url, "https://r/fallback.mp3");
  EXPECT_EQ(ev.voicemail_url, "https://r/vm");
}

TEST(event_model, voicemail_link_wins_over_the_voicemail_recording_entry) {
  json payload{{"call_id", 1},
               {"state", "voicemail_uploaded"},
               {"voicemail_link", "https://v/link.mp3"},
               {"recording_details",
                {{{"recording_type", "voicemail"}, {"url", "https://v/entry.mp3"}, {"duration", 1500}}}}};
  auto ev = cti::extract_event(payload);
  EXPECT_EQ(ev.voicemail_url, "https://v/link.mp3");
  EXPECT_EQ(ev.voicemail_duration_seconds, 2);
  payload["voicemail_link"] = nullptr;
  EXPECT_EQ(cti::extract_event(payload).voicemail_url, "https://v/entry.mp3");
}

TEST(event_model, seed_voicemail_alternatives) {
  auto a = cti::extract_event(json{{"event_type", "voicemail.received"},
                                   {"voicemail_link", "https://v/a"},
                                   {"transcription_text", "hello"}});
  EXPECT_EQ(a.voicemail_url, "https://v/a");
  EXPECT_EQ(a.transcript, "hello");
  auto b = cti::extract_event(json{{"event_type", "voicemail.received"},
                                   {"recording_url", "https://v/b"},
                                   {"voicemail_link", "https://v/a"}});
  EXPECT_EQ(b.voicemail_url, "https://v/b");
  // Other seed types keep recording_url for the call.
  auto c = cti::extract_event(json{{"event_type", "call.recording.completed"}, {"recording_url", "https://r"}});
  EXPECT_EQ(c.recording_url, "https://r");
  EXPECT_FALSE(c.voicemail_url);
}

TEST(event_model, sms_to_number_takes_the_first_array_element) {
  auto payload = load_fixture("12-sms-inbound.json");
  ASSERT_TRUE(payload.is_object());
  payload["to_number"] = json::array({"+1", "+2"});
  EXPECT_EQ(cti::extract_event(payload).to_number, "+1");
  payload["to_number"] = "+3";
  EXPECT_EQ(cti::extract_event(payload).to_number, "+3");
  payload["to_number"] = json::array();
  EXPECT_FALSE(cti::extract_event(payload).to_number);
  payload["to_number"] = json::array({5, "+4"});
  EXPECT_FALSE(cti::extract_event(payload).to_number);
}

TEST(event_model, message_id_is_read_only_for_sms_events) {
  auto sms = cti::extract_event(json{{"event_type", "sms.received"}, {"id", 55}, {"text", ""}});
  EXPECT_EQ(sms.message_id, 55);
  EXPECT_EQ(sms.text, ""); // an empty text is a real message
  auto both = cti::extract_event(json{{"event_type", "sms.sent"}, {"message_id", "66"}, {"id", "evt"}});
  EXPECT_EQ(both.message_id, 66);
  auto call = cti::extract_event(json{{"event_type", "call.ring"}, {"id", 5}});
  EXPECT_FALSE(call.message_id);
}

TEST(event_model, empty_strings_are_absent) {
  auto ev = cti::extract_event(json{{"event_type", "call.ring"},
                                    {"from", ""},
                                    {"to", ""},
                                    {"recording_url", ""},
                                    {"transcript", ""},
                                    {"direction", ""}});
  EXPECT_FALSE(ev.from_number);
  EXPECT_FALSE(ev.to_number);
  EXPECT_FALSE(ev.recording_url);
  EXPECT_FALSE(ev.transcript);
  EXPECT_FALSE(ev.direction);
}

TEST(event_model, wrong_types_are_absent_and_never_throw) {
  json payload{{"call_id", true},
               {"state", "hangup"},
               {"direction", 5},
               {"external_number", 7},
               {"internal_number", json::array()},
               {"target", "x"},
               {"event_timestamp", "abc"},
               {"date_started", json::object()},
               {"date_connected", false},
               {"date_ended", json::array({1})},
               {"duration", "10"},
               {"recording_details", json::object()},
               {"recording_url", 3},
               {"voicemail_link", json::array()},
               {"transcription_text", 1},
               {"text", 2},
               {"message_status", nullptr},
               {"org_id", json::object()}};
  auto ev = cti::extract_event(payload);
  EXPECT_EQ(ev.event_type, "call.ended");
  EXPECT_FALSE(ev.dialpad_call_id);
  EXPECT_FALSE(ev.direction);
  EXPECT_FALSE(ev.from_number);
  EXPECT_FALSE(ev.to_number);
  EXPECT_FALSE(ev.dialpad_user_id);
  EXPECT_FALSE(ev.event_time);
  EXPECT_FALSE(ev.date_started);
  EXPECT_FALSE(ev.date_connected);
  EXPECT_FALSE(ev.date_ended);
  EXPECT_FALSE(ev.duration_seconds);
  EXPECT_FALSE(ev.recording_url);
  EXPECT_FALSE(ev.voicemail_url);
  EXPECT_FALSE(ev.transcript);
  EXPECT_FALSE(ev.text);
  EXPECT_FALSE(ev.message_status);
  EXPECT_FALSE(ev.org_id);
  EXPECT_EQ(cti::derive_event_id(payload, "raw"), cti::sha256_hex("raw"));
}

TEST(event_model, a_seed_sms_without_direction_takes_it_from_its_type) {
  EXPECT_EQ(cti::extract_event(json{{"event_type", "sms.received"}, {"message_id", 1}}).direction,
            "inbound");
  EXPECT_EQ(cti::extract_event(json{{"event_type", "sms.sent"}, {"message_id", 1}}).direction,
            "outbound");
  for (const json& none : {json(nullptr), json(""), json(5)})
    EXPECT_EQ(cti::extract_event(json{{"event_type", "sms.sent"}, {"direction", none}}).direction,
              "outbound")
      << none.dump();
  // A direction field decides, even one that is not understood (null, warned).
  EXPECT_EQ(cti::extract_event(json{{"event_type", "sms.sent"}, {"direction", "in"}}).direction,
            "inbound");
  auto odd = cti::extract_event(json{{"event_type", "sms.sent"}, {"direction", "sideways"}});
  EXPECT_FALSE(odd.direction);
  EXPECT_TRUE(odd.direction_unknown);
  // Calls are not guessed.
  EXPECT_FALSE(cti::extract_event(json{{"event_type", "call.ring"}, {"call_id", 1}}).direction);
  // A direction that is no string is not understood (warned), unless the
  // type gave one; null and "" are no direction at all.
  for (const json& odd_type : {json(5), json(true), json::array({"inbound"}), json::object()}) {
    auto call = cti::extract_event(json{{"event_type", "call.ring"}, {"call_id", 1},
                                        {"direction", odd_type}});
    EXPECT_FALSE(call.direction) << odd_type.dump();
    EXPECT_TRUE(call.direction_unknown) << odd_type.dump();
  }
  EXPECT_FALSE(cti::extract_event(json{{"event_type", "sms.sent"}, {"direction", 5}}).direction_unknown);
  for (const json& none : {json(nullptr), json("")})
    EXPECT_FALSE(cti::extract_event(json{{"event_type", "call.ring"}, {"call_id", 1},
                                         {"direction", none}})
                   .direction_unknown)
      << none.dump();
}

TEST(event_model, a_number_longer_than_any_phone_number_is_no_number) {
  auto with_from = [](const std::string& from) {
    return cti::extract_event(json{{"type", "call.ring"}, {"call_id", 1}, {"direction", "inbound"},
                                   {"from", from}, {"to", "+15550001111"}});
  };
  std::string longest = "+" + std::string(cti::max_phone_length - 1, '7');
  EXPECT_EQ(with_from(longest).from_number, longest);
  // One more, or kilobytes of it (which no B-tree index row can hold):
  // null, and the rest of the event still counts.
  EXPECT_FALSE(with_from(longest + "7").from_number);
  auto huge = with_from(std::string(3000, '5'));
  EXPECT_FALSE(huge.from_number);
  EXPECT_EQ(huge.to_number, "+15550001111");
  EXPECT_EQ(huge.event_type, "call.ring");
}
