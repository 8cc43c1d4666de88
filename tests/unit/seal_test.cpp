#include "domain/seal.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "domain/secure_random.hpp"

using cti::open_sealed;
using cti::seal;

namespace {

const std::string key = cti::random_bytes(32);
constexpr std::string_view aad = "app_7f3c9a";
constexpr std::string_view secret = "whsec_the_dialpad_webhook_secret_0123456789";

} // namespace

TEST(Seal, round_trip) {
  auto sealed = seal(key, secret, aad);
  EXPECT_EQ(sealed.size(), cti::seal_overhead + secret.size());
  EXPECT_EQ(static_cast<unsigned char>(sealed[0]), 0x01);
  auto opened = open_sealed(key, sealed, aad);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(*opened, secret);
}

TEST(Seal, round_trip_of_empty_and_binary_plaintext_and_empty_aad) {
  auto empty = seal(key, "", aad);
  EXPECT_EQ(empty.size(), cti::seal_overhead);
  ASSERT_TRUE(open_sealed(key, empty, aad).has_value());
  EXPECT_EQ(*open_sealed(key, empty, aad), "");

  std::string binary("\0\x01\xff\0zz", 6);
  auto sealed = seal(key, binary, "");
  EXPECT_EQ(open_sealed(key, sealed, ""), binary);
  EXPECT_EQ(open_sealed(key, sealed, aad), std::nullopt);
}

TEST(Seal, wrong_key_gives_nullopt) {
  auto sealed = seal(key, secret, aad);
  auto other = cti::random_bytes(32);
  EXPECT_EQ(open_sealed(other, sealed, aad), std::nullopt);
  EXPECT_EQ(open_sealed(key.substr(0, 31), sealed, aad), std::nullopt); // bad length: no throw
  EXPECT_EQ(open_sealed("", sealed, aad), std::nullopt);
}

TEST(Seal, wrong_aad_gives_nullopt) {
  auto sealed = seal(key, secret, aad);
  EXPECT_EQ(open_sealed(key, sealed, "app_other"), std::nullopt);
  EXPECT_EQ(open_sealed(key, sealed, ""), std::nullopt);
  EXPECT_EQ(open_sealed(key, sealed, std::string(aad) + "x"), std::nullopt);
}

TEST(Seal, flipped_byte_anywhere_gives_nullopt) {
  auto sealed = seal(key, secret, aad);
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80}) {
      auto tampered = sealed;
      tampered[i] = static_cast<char>(tampered[i] ^ mask);
      EXPECT_EQ(open_sealed(key, tampered, aad), std::nullopt) << "byte " << i;
    }
  }
}

TEST(Seal, truncated_or_extended_gives_nullopt) {
  auto sealed = seal(key, secret, aad);
  for (std::size_t n = 0; n < sealed.size(); ++n)
    EXPECT_EQ(open_sealed(key, sealed.substr(0, n), aad), std::nullopt) << "length " << n;
  EXPECT_EQ(open_sealed(key, sealed + "x", aad), std::nullopt);
}

TEST(Seal, unknown_version_gives_nullopt) {
  auto sealed = seal(key, secret, aad);
  for (int v : {0x00, 0x02, 0xff}) {
    auto other = sealed;
    other[0] = static_cast<char>(v);
    EXPECT_EQ(open_sealed(key, other, aad), std::nullopt) << "version " << v;
  }
}

TEST(Seal, two_seals_of_same_plaintext_differ) {
  auto a = seal(key, secret, aad);
  auto b = seal(key, secret, aad);
  EXPECT_NE(a, b);
  EXPECT_NE(a.substr(1, cti::seal_nonce_bytes), b.substr(1, cti::seal_nonce_bytes));
  EXPECT_EQ(open_sealed(key, a, aad), open_sealed(key, b, aad));
}

TEST(Seal, ciphertext_does_not_contain_plaintext) {
  auto sealed = seal(key, secret, aad);
  EXPECT_EQ(sealed.find(secret), std::string::npos);
  EXPECT_EQ(sealed.find(secret.substr(0, 8)), std::string::npos);
  EXPECT_EQ(sealed.find(aad), std::string::npos); // aad is authenticated, not stored
}

TEST(Seal, bad_key_length_throws_invalid_argument) {
  EXPECT_THROW(seal("", secret, aad), std::invalid_argument);
  EXPECT_THROW(seal(key.substr(0, 31), secret, aad), std::invalid_argument);
  EXPECT_THROW(seal(key + "x", secret, aad), std::invalid_argument);
  try {
    seal(key.substr(0, 16), secret, aad);
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos);
  }
}
