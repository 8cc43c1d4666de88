#include "domain/api_key.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

using cti::api_key_fingerprint;
using cti::api_key_hint;
using cti::api_key_id;
using cti::generate_api_key;
using cti::is_api_key_format;

namespace {

constexpr std::string_view known_key =
    "raw_abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

} // namespace

TEST(ApiKey, generated_key_has_the_documented_format) {
  auto key = generate_api_key();
  EXPECT_EQ(key.size(), 68u);
  EXPECT_TRUE(key.starts_with("raw_"));
  EXPECT_TRUE(is_api_key_format(key)) << "generated key must pass its own format check";
}

TEST(ApiKey, two_generated_keys_differ) {
  EXPECT_NE(generate_api_key(), generate_api_key());
}

TEST(ApiKey, format_accepts_lowercase_hex_of_exact_length) {
  EXPECT_TRUE(is_api_key_format(known_key));
  EXPECT_TRUE(is_api_key_format("raw_" + std::string(64, '0')));
  EXPECT_TRUE(is_api_key_format("raw_" + std::string(64, 'f')));
}

TEST(ApiKey, format_rejects_uppercase_hex) {
  std::string key(known_key);
  key[4] = 'A';
  EXPECT_FALSE(is_api_key_format(key));
  EXPECT_FALSE(is_api_key_format("raw_" + std::string(64, 'F')));
}

TEST(ApiKey, format_rejects_wrong_length) {
  EXPECT_FALSE(is_api_key_format(""));
  EXPECT_FALSE(is_api_key_format("raw_"));
  EXPECT_FALSE(is_api_key_format(known_key.substr(0, known_key.size() - 1)));
  EXPECT_FALSE(is_api_key_format(std::string(known_key) + "0"));
  EXPECT_FALSE(is_api_key_format(std::string(known_key) + "\n"));
}

TEST(ApiKey, format_rejects_wrong_prefix) {
  std::string hex(known_key.substr(4));
  EXPECT_FALSE(is_api_key_format("RAW_" + hex));
  EXPECT_FALSE(is_api_key_format("raw-" + hex));
  EXPECT_FALSE(is_api_key_format("key_" + hex));
  EXPECT_FALSE(is_api_key_format(" raw_" + hex.substr(1)));
  EXPECT_FALSE(is_api_key_format(hex + "abcd")); // 68 chars, no prefix
}

TEST(ApiKey, format_rejects_non_hex) {
  for (char bad : {'g', 'z', 'G', ' ', '-', '_', '\0', '\xff'}) {
    std::string key(known_key);
    key[40] = bad;
    EXPECT_FALSE(is_api_key_format(key)) << "char code " << int(static_cast<unsigned char>(bad));
  }
}

TEST(ApiKey, hint_of_known_key) {
  EXPECT_EQ(api_key_hint(known_key), "raw_abcd...6789");
}

TEST(ApiKey, key_id_of_known_key_is_first_16_hex) {
  EXPECT_EQ(api_key_id(known_key), "abcdef0123456789");
}

TEST(ApiKey, fingerprint_is_sha256_hex_and_not_the_key) {
  auto fp = api_key_fingerprint(known_key);
  ASSERT_EQ(fp.size(), 64u);
  for (char c : fp)
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << fp;
  EXPECT_NE(fp, known_key.substr(4));
  EXPECT_EQ(fp.find(known_key.substr(4, 16)), std::string::npos);
  EXPECT_EQ(fp, api_key_fingerprint(known_key)); // deterministic
  EXPECT_NE(fp, api_key_fingerprint(generate_api_key()));
  // SHA-256("") known answer: the fingerprint is plain SHA-256 of the key.
  EXPECT_EQ(api_key_fingerprint(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
