#include "net/ws_handshake.hpp"

#include <gtest/gtest.h>

using cti::net::check_ws_handshake;

namespace {
// RFC 6455 §1.3's sample nonce.
constexpr const char* nonce = "dGhlIHNhbXBsZSBub25jZQ==";
} // namespace

TEST(ws_handshake, a_correct_handshake_passes) {
  EXPECT_FALSE(check_ws_handshake(11, "Upgrade", nonce, "13"));
  EXPECT_FALSE(check_ws_handshake(11, "keep-alive, Upgrade", nonce, "13"));
  EXPECT_FALSE(check_ws_handshake(11, " upgrade ", nonce, "13"));
}

TEST(ws_handshake, each_missing_or_wrong_part_is_named) {
  struct row {
    unsigned http;
    const char* connection;
    const char* key;
    const char* version;
    uint16_t status;
    const char* names;
  };
  const row table[] = {
    {10, "Upgrade", nonce, "13", 400, "HTTP/1.1"},
    {11, "", nonce, "13", 400, "Connection"},
    {11, "keep-alive", nonce, "13", 400, "Connection"},
    {11, "upgrades", nonce, "13", 400, "Connection"},
    {11, "Upgrade", "", "13", 400, "Sec-WebSocket-Key is missing"},
    {11, "Upgrade", "short", "13", 400, "16 bytes"},
    {11, "Upgrade", "dGhlIHNhbXBsZSBub25jZQ=", "13", 400, "16 bytes"},
    {11, "Upgrade", "dGhlIHNhbXBsZSBub25jZQ==x", "13", 400, "16 bytes"},
    {11, "Upgrade", "dGhlIHNhbXBsZSBub25jZR==", "13", 400, "16 bytes"}, // stray low bits
    {11, "Upgrade", "dGhlIHNhbXBsZSBub25j-Q==", "13", 400, "16 bytes"}, // base64url, not base64
    {11, "Upgrade", nonce, "", 400, "Sec-WebSocket-Version is missing"},
    {11, "Upgrade", nonce, "8", 426, "must be 13"},
    {11, "Upgrade", nonce, "13, 8", 426, "must be 13"},
  };
  for (const auto& r : table) {
    auto p = check_ws_handshake(r.http, r.connection, r.key, r.version);
    ASSERT_TRUE(p) << r.connection << " / " << r.key << " / " << r.version;
    EXPECT_EQ(p->status, r.status) << r.key << " / " << r.version;
    EXPECT_NE(p->message.find(r.names), std::string::npos) << p->message;
  }
}
