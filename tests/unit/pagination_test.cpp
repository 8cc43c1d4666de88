#include <gtest/gtest.h>

#include "domain/pagination.hpp"
#include "domain/webhook_auth.hpp"

namespace {

using cti::decode_cursor;
using cti::encode_cursor;
using cti::keyset;

const std::string id = "3d81a130-7c77-4390-9c89-fbbaee994aec";

TEST(Pagination, CursorRoundTripsWithinItsScope) {
  auto c = encode_cursor(keyset{1796122078913319, id}, "calls:app-a");
  auto k = decode_cursor(c, "calls:app-a");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->time_us, 1796122078913319);
  EXPECT_EQ(k->id, id);
  // Opaque: neither the id nor the time shows in the clear.
  EXPECT_EQ(c.find(id), std::string::npos);
}

TEST(Pagination, CursorOfAnotherListOrAppIsRefused) {
  auto c = encode_cursor(keyset{42, id}, "calls:app-a");
  EXPECT_FALSE(decode_cursor(c, "calls:app-b"));
  EXPECT_FALSE(decode_cursor(c, "voicemails:app-a"));
}

TEST(Pagination, TamperedCursorIsRefused) {
  auto c = encode_cursor(keyset{42, id}, "s");
  auto raw = *cti::base64url_decode(c);
  // Move the position: same MAC, another time.
  auto forged = raw;
  forged[0] = forged[0] == '4' ? '5' : '4';
  EXPECT_FALSE(decode_cursor(cti::base64url_encode(forged), "s"));
  // Flip a MAC character.
  auto bad_mac = raw;
  bad_mac.back() = bad_mac.back() == '0' ? '1' : '0';
  EXPECT_FALSE(decode_cursor(cti::base64url_encode(bad_mac), "s"));
  // A cursor without MAC (the old unsigned form) and garbage.
  EXPECT_FALSE(decode_cursor(cti::base64url_encode("42|" + id), "s"));
  EXPECT_FALSE(decode_cursor("not-base64!", "s"));
  EXPECT_FALSE(decode_cursor("", "s"));
  EXPECT_FALSE(decode_cursor(std::string(600, 'A'), "s"));
}

TEST(Pagination, CursorsDependOnTheKey) {
  auto c = encode_cursor(keyset{7, id}, "s");
  cti::set_cursor_key("another key entirely, 32 bytes..");
  EXPECT_FALSE(decode_cursor(c, "s"));
  auto d = encode_cursor(keyset{7, id}, "s");
  EXPECT_TRUE(decode_cursor(d, "s"));
}

TEST(Pagination, LimitIsValidated) {
  cti::page_request p;
  std::string err;
  std::string v;
  for (auto bad : {"0", "501", "-1", "x", "1.5"}) {
    v = bad;
    EXPECT_FALSE(cti::parse_page(&v, nullptr, "s", p, err)) << bad;
    EXPECT_NE(err.find("limit"), std::string::npos);
  }
  v = "500";
  EXPECT_TRUE(cti::parse_page(&v, nullptr, "s", p, err));
  EXPECT_EQ(p.limit, 500);
  EXPECT_TRUE(cti::parse_page(nullptr, nullptr, "s", p, err));
  EXPECT_EQ(p.limit, 50);
  v = ""; // `?limit=&cursor=` as API.md writes it: absent
  EXPECT_TRUE(cti::parse_page(&v, nullptr, "s", p, err));
  EXPECT_EQ(p.limit, 50);
  v = "garbage";
  EXPECT_FALSE(cti::parse_page(nullptr, &v, "s", p, err));
  EXPECT_NE(err.find("cursor"), std::string::npos);
}

} // namespace
