#include <gtest/gtest.h>

#include "domain/oauth.hpp"
#include "domain/url.hpp"

namespace cti {
namespace {

TEST(Pkce, Rfc7636AppendixBVector) {
  // RFC 7636 Appendix B: the verifier made of the appendix's 32 octets and
  // the S256 challenge the RFC prints for it.
  EXPECT_EQ(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(Pkce, FreshPairsAreWellFormedAndDistinct) {
  auto a = new_pkce();
  auto b = new_pkce();
  EXPECT_EQ(a.verifier.size(), 43u); // 32 bytes, base64url without padding
  EXPECT_EQ(a.challenge, pkce_challenge(a.verifier));
  EXPECT_NE(a.verifier, b.verifier);
  EXPECT_EQ(a.verifier.find_first_not_of(
              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  auto s = new_oauth_state();
  EXPECT_EQ(s.size(), 43u);
  EXPECT_NE(s, new_oauth_state());
}

TEST(FormEncode, EncodesEverythingOutsideUnreserved) {
  EXPECT_EQ(form_encode({{"grant_type", "authorization_code"},
                         {"redirect_uri", "https://x.example/cb?a=1&b=2"},
                         {"scope", "calls:list offline_access"},
                         {"v", "a-b.c_d~e+f/g"}}),
            "grant_type=authorization_code&redirect_uri=https%3A%2F%2Fx.example%2Fcb%3Fa%3D1%26b%3D2"
            "&scope=calls%3Alist%20offline_access&v=a-b.c_d~e%2Bf%2Fg");
  EXPECT_EQ(percent_encode(std::string{"\xC3\xA9\x00", 3}), "%C3%A9%00");
  EXPECT_EQ(form_encode({}), "");
}

TEST(AuthorizeUrl, CarriesEveryParameter) {
  dialpad_env_config env{"cid", "secret", "https://sandbox.dialpad.com", "https://me.example/cb"};
  auto url = authorize_url(env, "calls:list offline_access", "st", "ch");
  EXPECT_EQ(url, "https://sandbox.dialpad.com/oauth2/authorize?response_type=code&client_id=cid"
                 "&redirect_uri=https%3A%2F%2Fme.example%2Fcb&scope=calls%3Alist%20offline_access"
                 "&state=st&code_challenge=ch&code_challenge_method=S256");
  EXPECT_EQ(url.find("secret"), std::string::npos);
}

TEST(ParseHttpUrl, Variants) {
  auto u = parse_http_url("https://dialpad.com");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "dialpad.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/");
  u = parse_http_url("HTTP://127.0.0.1:8080/oauth2/token?x=1#frag");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/oauth2/token?x=1");
  u = parse_http_url("http://[::1]:9/p");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9);
  for (const char* bad : {"ftp://x", "http://", "http://:80/", "http://h:0/", "http://h:65536/",
                          "http://h:/", "http://u@h/", "http://[::1/", "dialpad.com"})
    EXPECT_FALSE(parse_http_url(bad)) << bad;
}

TEST(Loopback, OnlyRealLoopbackHosts) {
  for (const char* h : {"localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]"})
    EXPECT_TRUE(is_loopback_host(h)) << h;
  for (const char* h : {"127.evil.com", "128.0.0.1", "127.0.0", "127.0.0.1.5", "127.0.0.256",
                        "", "example.com", "10.0.0.1", "127.0.0.-1"})
    EXPECT_FALSE(is_loopback_host(h)) << h;
}

TEST(TokenAnswer, Success) {
  auto a = parse_token_answer(200, R"({"access_token":"at","refresh_token":"rt","expires_in":3600,
                                      "token_type":"bearer","scope":"calls:list  offline_access"})");
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.access_token, "at");
  EXPECT_EQ(a.refresh_token, "rt");
  EXPECT_EQ(a.expires_in, 3600);
  EXPECT_EQ(a.scopes, (std::vector<std::string>{"calls:list", "offline_access"}));
  EXPECT_EQ(parse_token_answer(200, R"({"access_token":"at","expires_in":"60"})").expires_in, 60);
}

TEST(TokenAnswer, Failures) {
  auto a = parse_token_answer(400, R"({"error":"invalid_grant","error_description":"x"})");
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.error, "invalid_grant");
  EXPECT_TRUE(a.permanent);
  EXPECT_TRUE(parse_token_answer(401, R"({"error":"invalid_grant"})").permanent);
  // A server error naming invalid_grant is Dialpad failing: retried.
  a = parse_token_answer(500, R"({"error":"invalid_grant"})");
  EXPECT_FALSE(a.ok);
  EXPECT_FALSE(a.permanent);
  EXPECT_FALSE(parse_token_answer(503, R"({"error":"invalid_grant"})").permanent);
  a = parse_token_answer(500, "<html>oops</html>");
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.error, "http_500");
  EXPECT_FALSE(a.permanent);
  a = parse_token_answer(200, R"({"token_type":"bearer"})");
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(a.error, "no_access_token");
  // An error code that is not a plain word is not echoed.
  EXPECT_EQ(parse_token_answer(400, R"({"error":"<script>"})").error, "http_400");
  EXPECT_FALSE(parse_token_answer(401, R"({"error":"invalid_client"})").ok);
  EXPECT_FALSE(parse_token_answer(401, R"({"error":"invalid_client"})").permanent);
  EXPECT_EQ(parse_token_answer(200, R"({"access_token":"a","expires_in":99999999999})").expires_in,
            max_token_lifetime_seconds);
}

TEST(RefreshRetry, DoublesFromBaseAndCapsAtFifteenMinutes) {
  using std::chrono::milliseconds;
  const milliseconds base{30000};
  EXPECT_EQ(refresh_retry_delay(1, base, 0.5), milliseconds{30000});
  EXPECT_EQ(refresh_retry_delay(2, base, 0.5), milliseconds{60000});
  EXPECT_EQ(refresh_retry_delay(3, base, 0.5), milliseconds{120000});
  EXPECT_EQ(refresh_retry_delay(6, base, 0.5), milliseconds{900000});
  EXPECT_EQ(refresh_retry_delay(40, base, 0.5), milliseconds{900000});
  EXPECT_EQ(refresh_retry_delay(40, base, 0.99), milliseconds{900000}); // never past the cap
  EXPECT_EQ(refresh_retry_delay(1, base, 0.0), milliseconds{24000});
  EXPECT_LT(refresh_retry_delay(1, base, 0.999), milliseconds{36000});
}

TEST(FirstRefresh, AtTheMarginOrHalfwayForTokensShorterThanIt) {
  using namespace std::chrono;
  const auto now = system_clock::time_point{seconds{1'800'000'000}};
  // An hour-long token: 300 s before it expires.
  EXPECT_EQ(first_refresh_at(now, now + seconds{3600}, seconds{300}), now + seconds{3300});
  // Shorter than the margin: halfway (at expiry − margin it would be due
  // already, and again after every refresh).
  EXPECT_EQ(first_refresh_at(now, now + seconds{120}, seconds{300}), now + seconds{60});
  EXPECT_EQ(first_refresh_at(now, now + seconds{300}, seconds{300}), now + seconds{150});
  // Never within a second, even for a token that is (nearly) expired.
  EXPECT_EQ(first_refresh_at(now, now + milliseconds{500}, seconds{300}), now + seconds{1});
  EXPECT_EQ(first_refresh_at(now, now, seconds{300}), now + seconds{1});
  // No margin: at expiry.
  EXPECT_EQ(first_refresh_at(now, now + seconds{60}, seconds{0}), now + seconds{60});
}

} // namespace
} // namespace cti
