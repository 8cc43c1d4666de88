#include "domain/bcrypt.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

using cti::bcrypt_hash;
using cti::bcrypt_verify;

namespace {

// Cost 4 is the minimum: fast enough for unit tests.
constexpr int cost = 4;
const std::string secret = "raw_abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

} // namespace

TEST(Bcrypt, hash_is_2b_with_requested_cost) {
  auto h = bcrypt_hash(secret, cost);
  EXPECT_TRUE(h.starts_with("$2b$04$")) << h;
  EXPECT_EQ(h.size(), 60u);
  EXPECT_EQ(h.find(secret), std::string::npos);
}

TEST(Bcrypt, verify_accepts_the_right_secret) {
  auto h = bcrypt_hash(secret, cost);
  EXPECT_TRUE(bcrypt_verify(secret, h));
}

TEST(Bcrypt, verify_rejects_a_wrong_secret) {
  auto h = bcrypt_hash(secret, cost);
  std::string wrong = secret;
  wrong.back() = '0';
  EXPECT_FALSE(bcrypt_verify(wrong, h));
  EXPECT_FALSE(bcrypt_verify("", h));
  EXPECT_FALSE(bcrypt_verify(secret + "x", h));
}

TEST(Bcrypt, verify_rejects_garbage_and_empty_hash) {
  EXPECT_FALSE(bcrypt_verify(secret, ""));
  EXPECT_FALSE(bcrypt_verify(secret, "garbage"));
  EXPECT_FALSE(bcrypt_verify(secret, "*0"));
  EXPECT_FALSE(bcrypt_verify(secret, "$2b$04$"));
  EXPECT_FALSE(bcrypt_verify(secret, "$2b$99$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyzABC"));
  EXPECT_FALSE(bcrypt_verify("", ""));
}

TEST(Bcrypt, verify_rejects_altered_or_truncated_hash) {
  auto h = bcrypt_hash(secret, cost);
  // libxcrypt reads only the setting prefix, so a cut hash must still fail.
  EXPECT_FALSE(bcrypt_verify(secret, h.substr(0, 40)));
  EXPECT_FALSE(bcrypt_verify(secret, h.substr(0, 29)));
  EXPECT_FALSE(bcrypt_verify(secret, h + "x"));
  std::string flipped = h;
  flipped.back() = flipped.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(bcrypt_verify(secret, flipped));
  std::string with_nul = h;
  with_nul.push_back('\0');
  EXPECT_FALSE(bcrypt_verify(secret, with_nul));
}

TEST(Bcrypt, verify_refuses_non_bcrypt_schemes) {
  // crypt(3) would happily verify a traditional DES hash ("ab" salt), which
  // only looks at 8 characters of the secret; bcrypt_verify must not.
  EXPECT_FALSE(bcrypt_verify("secret", "abNANd1rDfiNc"));
  // The $2x$ variant (crypt_blowfish's sign-extension bug mode) is refused.
  auto h = bcrypt_hash(secret, cost);
  EXPECT_FALSE(bcrypt_verify(secret, "$2x$" + h.substr(4)));
}

TEST(Bcrypt, verify_rejects_secret_with_nul) {
  auto h = bcrypt_hash(secret, cost);
  std::string with_nul = secret + std::string(1, '\0') + "tail";
  EXPECT_FALSE(bcrypt_verify(with_nul, h));
}

TEST(Bcrypt, two_hashes_of_one_secret_differ_and_both_verify) {
  auto a = bcrypt_hash(secret, cost);
  auto b = bcrypt_hash(secret, cost);
  EXPECT_NE(a, b);
  EXPECT_TRUE(bcrypt_verify(secret, a));
  EXPECT_TRUE(bcrypt_verify(secret, b));
}

TEST(Bcrypt, empty_secret_hashes_and_verifies) {
  auto h = bcrypt_hash("", cost);
  EXPECT_TRUE(bcrypt_verify("", h));
  EXPECT_FALSE(bcrypt_verify("x", h));
}

TEST(Bcrypt, bad_cost_or_secret_throws_without_leaking) {
  EXPECT_THROW(bcrypt_hash(secret, 0), std::runtime_error); // libxcrypt: 0 = default
  EXPECT_THROW(bcrypt_hash(secret, 3), std::runtime_error);
  EXPECT_THROW(bcrypt_hash(secret, 32), std::runtime_error);
  EXPECT_THROW(bcrypt_hash(secret, -1), std::runtime_error);
  EXPECT_THROW(bcrypt_hash(std::string(512, 'a'), cost), std::runtime_error);
  try {
    bcrypt_hash(secret + std::string(1, '\0'), cost);
    FAIL() << "a secret with a NUL byte must not be hashed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "bcrypt failed");
  }
}
