#include "domain/webhook_auth.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/secure_random.hpp"
#include "domain/webhook_intake.hpp"

using cti::base64url_decode;
using cti::base64url_encode;
using cti::hmac_sha256_hex;
using cti::looks_like_jwt;
using cti::verify_hex_signature;
using cti::verify_hs256_jwt;

namespace {

// Known-answer vectors from tests/fixtures/dialpad/README.md.
constexpr std::string_view jwt_secret = "test_secret";
constexpr std::string_view jwt_vector =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJjYWxsX2lkIjo1NjM1MzA0Mjc4ODUxNTg0LCJzdGF0ZSI6InJpbmdpbmciLCJldmVudF90aW1lc3RhbXAiOjE3Njk1OTYyMDA0MjB9."
    "5TWm1XvluKM0IFx4l7iyBm_sGJrex0eEd5hEiR7nqqM";
constexpr std::string_view jwt_payload =
    R"({"call_id":5635304278851584,"state":"ringing","event_timestamp":1769596200420})";

constexpr std::string_view seed_secret = "seed_secret";
constexpr std::string_view seed_body =
    R"({"event_type":"call.ring","dialpad_event_id":"evt_5635304278851584_ring","dialpad_call_id":5635304278851584,"direction":"inbound","from":"+17025550143","to":"+14155550123","user_id":5171365938069504,"timestamp":"2026-01-28T10:30:00Z"})";
constexpr std::string_view seed_signature =
    "b6a313f154dadf909ed4d6ec4c74d271f20102d6824b89e2306053a70402f342";

struct segments {
  std::string header;
  std::string payload;
  std::string signature;
};

segments split(std::string_view token) {
  auto a = token.find('.');
  auto b = token.find('.', a + 1);
  return {std::string(token.substr(0, a)), std::string(token.substr(a + 1, b - a - 1)),
          std::string(token.substr(b + 1))};
}

std::string raw_hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

/// A compact JWS over the given header and payload JSON, signed with `md`.
std::string make_token(std::string_view header_json, std::string_view payload_json,
                       std::string_view secret, const EVP_MD* md = EVP_sha256()) {
  auto input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  return input + "." + base64url_encode(raw_hmac(md, secret, input));
}

} // namespace

// --- JWT ------------------------------------------------------------------

TEST(webhook_auth, readme_jwt_vector_verifies_and_yields_exact_payload) {
  auto r = verify_hs256_jwt(jwt_vector, jwt_secret);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.payload, jwt_payload);
  EXPECT_TRUE(r.error.empty());
  EXPECT_TRUE(looks_like_jwt(jwt_vector));
}

TEST(webhook_auth, jwt_built_here_matches_readme_vector) {
  EXPECT_EQ(make_token(R"({"alg":"HS256","typ":"JWT"})", jwt_payload, jwt_secret), jwt_vector);
}

TEST(webhook_auth, any_single_changed_payload_character_fails) {
  const auto parts = split(jwt_vector);
  const std::string prefix = parts.header + ".";
  for (std::size_t i = 0; i < parts.payload.size(); ++i) {
    for (char replacement : {'A', 'B', '-', '_', '0'}) {
      if (parts.payload[i] == replacement)
        continue;
      auto payload = parts.payload;
      payload[i] = replacement;
      auto token = prefix + payload + "." + parts.signature;
      EXPECT_FALSE(verify_hs256_jwt(token, jwt_secret).ok) << "position " << i << " -> " << replacement;
    }
  }
}

TEST(webhook_auth, any_single_changed_header_or_signature_character_fails) {
  const auto parts = split(jwt_vector);
  for (std::size_t i = 0; i < parts.header.size(); ++i) {
    auto h = parts.header;
    h[i] = h[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(verify_hs256_jwt(h + "." + parts.payload + "." + parts.signature, jwt_secret).ok)
        << "header position " << i;
  }
  for (std::size_t i = 0; i < parts.signature.size(); ++i) {
    auto s = parts.signature;
    s[i] = s[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(verify_hs256_jwt(parts.header + "." + parts.payload + "." + s, jwt_secret).ok)
        << "signature position " << i;
  }
}

TEST(webhook_auth, jwt_with_wrong_or_empty_secret_fails) {
  for (std::string_view secret : {"wrong_secret", "test_secreT", "test_secret ", "test", ""}) {
    auto r = verify_hs256_jwt(jwt_vector, secret);
    EXPECT_FALSE(r.ok) << secret;
    EXPECT_FALSE(r.error.empty()) << secret;
  }
}

TEST(webhook_auth, alg_none_fails_with_any_signature) {
  auto input = base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(jwt_payload);
  std::vector<std::string> tokens = {
      input + ".",
      input,
      input + "." + base64url_encode(raw_hmac(EVP_sha256(), jwt_secret, input)),
      input + "." + split(jwt_vector).signature,
  };
  for (const auto& t : tokens)
    EXPECT_FALSE(verify_hs256_jwt(t, jwt_secret).ok) << t;
}

TEST(webhook_auth, only_exact_hs256_algorithm_verifies) {
  // Each header is signed correctly with HMAC-SHA256, so only the pinned
  // algorithm check can refuse it.
  for (std::string_view header : {R"({"alg":"hs256","typ":"JWT"})", R"({"alg":"HS512","typ":"JWT"})",
                                  R"({"alg":"HS256 ","typ":"JWT"})", R"({"alg":"RS256","typ":"JWT"})",
                                  R"({"alg":"none"})", R"({"typ":"JWT"})", R"({"alg":null})",
                                  R"({"alg":["HS256"]})", R"({"alg":"HS256","typ":1})",
                                  R"({"alg":"HS256","crit":["b64"],"b64":false})", R"(["HS256"])",
                                  R"("HS256")", "not json", "{}"}) {
    auto r = verify_hs256_jwt(make_token(header, jwt_payload, jwt_secret), jwt_secret);
    EXPECT_FALSE(r.ok) << header;
  }
  for (std::string_view header : {R"({"alg":"HS256"})", R"({"typ":"JWT","alg":"HS256"})",
                                  R"({"alg":"HS256","typ":"jwt","kid":"k1"})"}) {
    auto r = verify_hs256_jwt(make_token(header, jwt_payload, jwt_secret), jwt_secret);
    EXPECT_TRUE(r.ok) << header << ": " << r.error;
    EXPECT_EQ(r.payload, jwt_payload);
  }
}

TEST(webhook_auth, hs512_signed_token_fails) {
  auto token = make_token(R"({"alg":"HS512","typ":"JWT"})", jwt_payload, jwt_secret, EVP_sha512());
  ASSERT_EQ(split(token).signature.size(), 86u); // 64 bytes
  EXPECT_FALSE(verify_hs256_jwt(token, jwt_secret).ok);
  // The same 64-byte signature under an HS256 header fails too (wrong length).
  auto relabelled = split(jwt_vector).header + "." + split(jwt_vector).payload + "." + split(token).signature;
  EXPECT_FALSE(verify_hs256_jwt(relabelled, jwt_secret).ok);
}

TEST(webhook_auth, hs256_header_with_signature_over_other_header_fails) {
  const auto parts = split(jwt_vector);
  auto other_header = base64url_encode(R"({"alg":"HS256"})");
  ASSERT_NE(other_header, parts.header);
  EXPECT_FALSE(verify_hs256_jwt(other_header + "." + parts.payload + "." + parts.signature, jwt_secret).ok);
}

TEST(webhook_auth, jwt_with_other_than_three_segments_fails) {
  const auto parts = split(jwt_vector);
  std::vector<std::string> tokens = {
      parts.header + "." + parts.payload,
      parts.header + parts.payload + parts.signature,
      std::string(jwt_vector) + "." + parts.signature,
      std::string(jwt_vector) + ".",
      parts.header + "." + parts.payload + "." + parts.payload + "." + parts.signature,
  };
  for (const auto& t : tokens) {
    EXPECT_FALSE(verify_hs256_jwt(t, jwt_secret).ok) << t;
    EXPECT_FALSE(looks_like_jwt(t)) << t;
  }
}

TEST(webhook_auth, jwt_with_bad_base64url_characters_fails) {
  const auto parts = split(jwt_vector);
  for (char bad : {'+', '/', '*', ' ', '=', '\n', '\0'}) {
    for (int segment = 0; segment < 3; ++segment) {
      auto p = parts;
      auto& s = segment == 0 ? p.header : segment == 1 ? p.payload : p.signature;
      s[s.size() / 2] = bad;
      auto token = p.header + "." + p.payload + "." + p.signature;
      EXPECT_FALSE(verify_hs256_jwt(token, jwt_secret).ok) << "segment " << segment << " char " << int(bad);
      EXPECT_FALSE(looks_like_jwt(token)) << "segment " << segment << " char " << int(bad);
    }
  }
  // A padded signature segment is not compact JWS.
  EXPECT_FALSE(verify_hs256_jwt(std::string(jwt_vector) + "=", jwt_secret).ok);
}

TEST(webhook_auth, jwt_with_empty_segment_fails) {
  const auto parts = split(jwt_vector);
  std::vector<std::string> tokens = {
      "", "..", "." + parts.payload + "." + parts.signature, parts.header + ".." + parts.signature,
      parts.header + "." + parts.payload + ".",
  };
  for (const auto& t : tokens) {
    auto r = verify_hs256_jwt(t, jwt_secret);
    EXPECT_FALSE(r.ok) << t;
    EXPECT_FALSE(r.error.empty()) << t;
    EXPECT_FALSE(looks_like_jwt(t)) << t;
  }
}

TEST(webhook_auth, jwt_signature_must_decode_to_32_bytes) {
  const auto parts = split(jwt_vector);
  auto sig = *base64url_decode(parts.signature);
  ASSERT_EQ(sig.size(), 32u);
  for (const auto& s : {sig.substr(0, 31), sig + '\0', sig + sig}) {
    EXPECT_FALSE(verify_hs256_jwt(parts.header + "." + parts.payload + "." + base64url_encode(s), jwt_secret).ok);
  }
}

TEST(webhook_auth, jwt_surrounding_whitespace_is_ignored) {
  const std::string token(jwt_vector);
  for (const auto& t : {token + "\n", token + "\r\n", " " + token, "\t" + token + " \n"}) {
    auto r = verify_hs256_jwt(t, jwt_secret);
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.payload, jwt_payload);
    EXPECT_TRUE(looks_like_jwt(t));
  }
}

TEST(webhook_auth, jwt_errors_never_contain_secret_or_token) {
  const auto parts = split(jwt_vector);
  std::vector<std::string> tokens = {
      std::string(jwt_vector), "a.b", parts.header + ".*." + parts.signature,
      make_token(R"({"alg":"none"})", jwt_payload, jwt_secret), "e30.e30.e30"};
  for (const auto& t : tokens) {
    auto r = verify_hs256_jwt(t, "other_secret_value");
    ASSERT_FALSE(r.ok);
    EXPECT_EQ(r.error.find("other_secret_value"), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find(parts.payload), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find(parts.signature), std::string::npos) << r.error;
    EXPECT_EQ(r.error.find(parts.header), std::string::npos) << r.error;
  }
}

TEST(webhook_auth, plain_json_does_not_look_like_jwt) {
  for (std::string_view body : {std::string_view(seed_body), std::string_view("{}"), std::string_view(""),
                                std::string_view("a.b"), std::string_view("a.b.c d")})
    EXPECT_FALSE(looks_like_jwt(body)) << body;
  EXPECT_TRUE(looks_like_jwt("a.b.c"));
  EXPECT_TRUE(looks_like_jwt("A-_.0.z\n"));
}

// --- Seed signature -------------------------------------------------------

TEST(webhook_auth, seed_vector_verifies) {
  EXPECT_EQ(hmac_sha256_hex(seed_secret, seed_body), seed_signature);
  EXPECT_TRUE(verify_hex_signature(seed_body, seed_secret, seed_signature));
}

TEST(webhook_auth, seed_signature_accepts_uppercase_prefix_and_whitespace) {
  std::string upper(seed_signature);
  for (char& c : upper)
    if (c >= 'a' && c <= 'f')
      c = static_cast<char>(c - 'a' + 'A');
  const std::string sig(seed_signature);
  for (const auto& s : {upper, "sha256=" + sig, "SHA256=" + upper, "  " + sig + "\r\n", " sha256=" + sig + " "})
    EXPECT_TRUE(verify_hex_signature(seed_body, seed_secret, s)) << s;
}

TEST(webhook_auth, seed_signature_with_any_changed_hex_digit_fails) {
  const std::string sig(seed_signature);
  for (std::size_t i = 0; i < sig.size(); ++i) {
    auto s = sig;
    s[i] = s[i] == '0' ? '1' : '0';
    EXPECT_FALSE(verify_hex_signature(seed_body, seed_secret, s)) << i;
  }
}

TEST(webhook_auth, seed_signature_over_changed_body_fails) {
  const std::string body(seed_body);
  for (std::size_t i = 0; i < body.size(); i += 7) {
    auto b = body;
    b[i] = static_cast<char>(b[i] ^ 1);
    EXPECT_FALSE(verify_hex_signature(b, seed_secret, seed_signature)) << i;
  }
  EXPECT_FALSE(verify_hex_signature(body + "\n", seed_secret, seed_signature));
  EXPECT_FALSE(verify_hex_signature(body.substr(1), seed_secret, seed_signature));
}

TEST(webhook_auth, malformed_or_truncated_seed_signature_fails) {
  const std::string sig(seed_signature);
  std::vector<std::string> bad = {
      sig.substr(0, 63), sig.substr(0, 62), sig.substr(0, 32), "", sig + "0", sig + "00",
      "sha256:" + sig, "sha1=" + sig, "sha256=", sig.substr(0, 63) + "g", "0x" + sig.substr(2),
      sig.substr(0, 31) + " " + sig.substr(32),
  };
  for (const auto& s : bad)
    EXPECT_FALSE(verify_hex_signature(seed_body, seed_secret, s)) << s;
}

TEST(webhook_auth, empty_secret_never_verifies) {
  EXPECT_FALSE(verify_hex_signature(seed_body, "", hmac_sha256_hex("", seed_body)));
  EXPECT_FALSE(verify_hs256_jwt(make_token(R"({"alg":"HS256"})", jwt_payload, ""), "").ok);
}

// --- HMAC and base64url ---------------------------------------------------

TEST(webhook_auth, hmac_matches_rfc4231_test_case_2) {
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(webhook_auth, hmac_accepts_empty_key_and_data) {
  EXPECT_EQ(hmac_sha256_hex("", ""), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(webhook_auth, base64url_matches_rfc4648_vectors) {
  std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},           {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"},
      {std::string("\0", 1), "AA"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64url_encode(plain), encoded) << encoded;
    auto back = base64url_decode(encoded);
    ASSERT_TRUE(back) << encoded;
    EXPECT_EQ(*back, plain) << encoded;
  }
}

TEST(webhook_auth, base64url_accepts_padding_in_valid_positions) {
  std::vector<std::pair<std::string, std::string>> padded = {
      {"Zg==", "f"}, {"Zm8=", "fo"}, {"Zm9vYg==", "foob"}, {"Zm9vYmE=", "fooba"}, {"-_8=", "\xfb\xff"}};
  for (const auto& [encoded, plain] : padded) {
    auto back = base64url_decode(encoded);
    ASSERT_TRUE(back) << encoded;
    EXPECT_EQ(*back, plain) << encoded;
  }
}

TEST(webhook_auth, base64url_round_trips_random_bytes) {
  for (std::size_t n = 0; n <= 64; ++n) {
    for (int round = 0; round < 8; ++round) {
      auto bytes = cti::random_bytes(n);
      auto encoded = base64url_encode(bytes);
      EXPECT_EQ(encoded.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                std::string::npos);
      EXPECT_EQ(encoded.size(), (n * 4 + 2) / 3);
      auto back = base64url_decode(encoded);
      ASSERT_TRUE(back) << encoded;
      EXPECT_EQ(*back, bytes);
      while (encoded.size() % 4 != 0)
        encoded += '=';
      back = base64url_decode(encoded);
      ASSERT_TRUE(back) << encoded;
      EXPECT_EQ(*back, bytes);
    }
  }
}

TEST(webhook_auth, base64url_rejects_invalid_input) {
  for (std::string_view bad : {
           "A",        // impossible length
           "AAAAA",    // impossible length
           "Zg=",      // incomplete padding
           "Zg===",    // too much padding
           "Z===",     // three pad characters
           "====",     // padding only
           "=",        // padding only
           "Zg==Zg==", // padding in the middle
           "Z=g=",     // padding in the middle
           "Zm9v=",    // padding after a full quad
           "Zm9+",     // standard alphabet
           "Zm9/",     // standard alphabet
           "Zm*v",     // not base64
           "Zm v",     // space inside
           "Zm9v\n",   // newline
           "Zh",       // non-zero unused bits (canonical is "Zg")
           "Zm9=",     // non-zero unused bits (canonical is "Zm8=")
       })
    EXPECT_FALSE(base64url_decode(bad)) << bad;
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)));
}

// The wire format is read from the raw bytes (API.md, Webhooks).
TEST(webhook_wire, a_token_is_dialpads_format_even_with_a_signature_header) {
  using cti::classify_webhook;
  using cti::webhook_wire;
  const std::string token = "eyJhbGciOiJIUzI1NiJ9.eyJjYWxsX2lkIjoxfQ.c2ln";
  EXPECT_EQ(classify_webhook(false, token), webhook_wire::dialpad_jwt);
  EXPECT_EQ(classify_webhook(true, token), webhook_wire::dialpad_jwt);
  EXPECT_EQ(classify_webhook(true, "  " + token + "\r\n"), webhook_wire::dialpad_jwt);
  // Its text (what the hash identity covers) is the token without the blanks.
  EXPECT_EQ(cti::jwt_token_text("  " + token + "\r\n"), token);
  EXPECT_EQ(cti::jwt_token_text(token), token);
}

TEST(webhook_wire, with_a_signature_header_anything_but_a_token_is_the_seed_format) {
  using cti::classify_webhook;
  using cti::webhook_wire;
  EXPECT_EQ(classify_webhook(true, R"({"event_type":"call.ring"})"), webhook_wire::seed);
  EXPECT_EQ(classify_webhook(true, "not json"), webhook_wire::seed);
  EXPECT_EQ(classify_webhook(true, "[1,2]"), webhook_wire::seed);
  EXPECT_EQ(classify_webhook(true, "a.b"), webhook_wire::seed);      // one dot
  EXPECT_EQ(classify_webhook(true, "a.b.c.d"), webhook_wire::seed);  // three dots
  EXPECT_EQ(classify_webhook(true, "a+b.c.d"), webhook_wire::seed);  // not base64url
  EXPECT_EQ(classify_webhook(true, ""), webhook_wire::seed);
}

TEST(webhook_wire, without_a_header_the_first_byte_decides) {
  using cti::classify_webhook;
  using cti::webhook_wire;
  EXPECT_EQ(classify_webhook(false, " \n{\"call_id\":1}"), webhook_wire::dialpad_json);
  EXPECT_EQ(classify_webhook(false, "not json"), webhook_wire::dialpad_jwt);
  EXPECT_EQ(classify_webhook(false, ""), webhook_wire::dialpad_jwt);
}

TEST(webhook_wire, without_a_header_a_json_content_type_declares_json_unless_the_body_is_a_token) {
  using cti::classify_webhook;
  using cti::webhook_wire;
  const std::string json_type = "Application/JSON; charset=utf-8";
  const std::string problem_json = "application/problem+json";
  const std::string text = "text/plain";
  // Malformed JSON declared JSON is JSON (a 400 later), not a token.
  EXPECT_EQ(classify_webhook(false, "not json", &json_type), webhook_wire::dialpad_json);
  EXPECT_EQ(classify_webhook(false, "[1,2]", &problem_json), webhook_wire::dialpad_json);
  EXPECT_EQ(classify_webhook(false, "", &json_type), webhook_wire::dialpad_json);
  // A token stays a token whatever it is declared as.
  auto token = make_token(R"({"alg":"HS256","typ":"JWT"})", R"({"call_id":1})", "s");
  EXPECT_EQ(classify_webhook(false, token, &json_type), webhook_wire::dialpad_jwt);
  // Other types: the first byte, as without one.
  EXPECT_EQ(classify_webhook(false, "not json", &text), webhook_wire::dialpad_jwt);
  EXPECT_EQ(classify_webhook(false, "{\"a\":1}", &text), webhook_wire::dialpad_json);
  // With a signature header the type plays no part.
  EXPECT_EQ(classify_webhook(true, "not json", &json_type), webhook_wire::seed);
}

TEST(webhook_intake, content_types_json_jwt_jose_and_text_are_accepted) {
  auto ok = [](const char* type) {
    std::string t{type};
    return cti::is_acceptable_webhook_content_type(&t);
  };
  EXPECT_TRUE(cti::is_acceptable_webhook_content_type(nullptr));
  for (const char* type : {"application/json", "application/json; charset=utf-8",
                           "application/vnd.dialpad+json", "application/jwt", "application/jose",
                           "Application/JOSE", "text/plain", ""})
    EXPECT_TRUE(ok(type)) << type;
  for (const char* type : {"application/xml", "application/x-www-form-urlencoded",
                           "multipart/form-data", "application/octet-stream", "*/*",
                           "application/jose+xml"})
    EXPECT_FALSE(ok(type)) << type;
}
