#include "net/ws_handshake.hpp"

#include <gtest/gtest.h>

using cti::net::check_ws_handshake;

namespace {
// RFC 6455 §1.3's sample nonce.
constexpr const char* nonce = "dGhlIHNhbXBsZSBub25jZQ==";
} // namespace

TEST(ws_handshake, a_correct_handshake_passes) {
  EXPECT_FALSE(check_ws_handshake(11, true, "Upgrade", nonce, "13"));
  EXPECT_FALSE(check_ws_handshake(11, true, "keep-alive, Upgrade", nonce, "13"));
  EXPECT_FALSE(check_ws_handshake(11, true, " upgrade ", nonce, "13"));
  EXPECT_FALSE(check_ws_handshake(11, true, "Upgrade", "AAAAAAAAAAAAAAAAAAAAAA==", "13"));
  EXPECT_FALSE(check_ws_handshake(11, true, "Upgrade", "+/+/+/+/+/+/+/+/+/+/+w==", "13"));
}

TEST(ws_handshake, each_missing_or_wrong_part_is_named) {
  struct row {
    unsigned http;
    bool host;
    const char* connection;
    std::optional<std::string_view> key;
    std::optional<std::string_view> version;
    uint16_t status;
    const char* names;
  };
  const row table[] = {
    {10, true, "Upgrade", nonce, "13", 400, "HTTP/1.1"},
    {11, false, "Upgrade", nonce, "13", 400, "Host"},
    {11, true, "", nonce, "13", 400, "Connection"},
    {11, true, "keep-alive", nonce, "13", 400, "Connection"},
    {11, true, "upgrades", nonce, "13", 400, "Connection"},
    {11, true, "Upgrade", std::nullopt, "13", 400, "Sec-WebSocket-Key is missing"},
    {11, true, "Upgrade", "dGhlIHNhbXBsZSBub25jZQ==x", "13", 400, "16 bytes"},
    // RFC 6455 §4.2.1: the base64 of 16 bytes, nothing else (until the
    // twentieth session any key of at most 24 characters passed, as in Beast).
    {11, true, "Upgrade", "", "13", 400, "16 bytes"},
    {11, true, "Upgrade", "short", "13", 400, "16 bytes"},
    {11, true, "Upgrade", "not-base64-at-all!!!!!==", "13", 400, "16 bytes"},
    {11, true, "Upgrade", "dGhlIHNhbXBsZSBub25jZQ", "13", 400, "16 bytes"},   // no padding
    {11, true, "Upgrade", "dGhlIHNhbXBsZSBub25jZQ=x", "13", 400, "16 bytes"},
    {11, true, "Upgrade", "dGhlIHNhbXBsZSBub25jZXk=", "13", 400, "16 bytes"}, // 17 bytes
    {11, true, "Upgrade", "xxxxxxxxxxxxxxxxxxxxxxxx", "13", 400, "16 bytes"},
    {11, true, "Upgrade", nonce, std::nullopt, 400, "Sec-WebSocket-Version is missing"},
    {11, true, "Upgrade", nonce, "8", 426, "must be 13"},
    {11, true, "Upgrade", nonce, "13, 8", 426, "must be 13"},
  };
  for (const auto& r : table) {
    auto p = check_ws_handshake(r.http, r.host, r.connection, r.key, r.version);
    ASSERT_TRUE(p) << r.connection << " / " << r.key.value_or("-") << " / " << r.version.value_or("-");
    EXPECT_EQ(p->status, r.status) << r.key.value_or("-") << " / " << r.version.value_or("-");
    EXPECT_NE(p->message.find(r.names), std::string::npos) << p->message;
  }
}
