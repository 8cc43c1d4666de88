#include <gtest/gtest.h>

#include "domain/cors.hpp"

namespace cti {
namespace {

TEST(Cors, OnlyListedOriginsExactly) {
  std::vector<std::string> allowed{"https://app.example.com", "http://localhost:3000/"};
  EXPECT_EQ(cors_allow_origin(allowed, "https://app.example.com"), "https://app.example.com");
  EXPECT_EQ(cors_allow_origin(allowed, "HTTPS://APP.example.com"), "HTTPS://APP.example.com");
  EXPECT_EQ(cors_allow_origin(allowed, "http://localhost:3000"), "http://localhost:3000");
  EXPECT_FALSE(cors_allow_origin(allowed, "https://app.example.com.evil.test"));
  EXPECT_FALSE(cors_allow_origin(allowed, "http://app.example.com"));
  EXPECT_FALSE(cors_allow_origin(allowed, "http://localhost:3001"));
  EXPECT_FALSE(cors_allow_origin(allowed, "null"));
  EXPECT_FALSE(cors_allow_origin(allowed, ""));
  EXPECT_FALSE(cors_allow_origin({}, "https://app.example.com"));
}

TEST(Cors, WildcardIsAnsweredAsWildcard) {
  EXPECT_EQ(cors_allow_origin({"*"}, "https://anything.test"), "*");
}

TEST(Cors, ConfiguredEntriesAreWildcardOrOrigins) {
  for (const char* ok : {"*", "https://crm.example.com", "http://localhost:3000",
                         "https://crm.example.com/", "HTTPS://CRM.example.com", "http://127.0.0.1:8080",
                         "http://[::1]:3000", "https://[2001:db8::1]", "http://my_svc.local:3000",
                         "chrome-extension://abcdefghijklmnopabcdefghijklmnop", "capacitor://localhost",
                         "https://crm.example.com:65535", "https://crm.example.com:80",
                         "http://crm.example.com:443"})
    EXPECT_TRUE(is_cors_origin_entry(ok)) << ok;
  for (const char* bad : {"notanorigin", "crm.example.com", "https://", "https:///", "://x",
                          "1http://x", "ht tp://x", "https://crm.example.com/app",
                          "https://crm.example.com:", "https://crm.example.com:99999",
                          "https://crm.example.com:65536", "https://crm.example.com:00443",
                          "https://crm.example.com:0", "https://crm.example.com:123456",
                          "https://crm.example.com:443", "http://crm.example.com:80",
                          "https://user@crm.example.com", "https://crm example.com",
                          "https://crm.example.com?x=1", "https://crm.example.com#x", "**",
                          "https://[::1", "https://[]", "https://[::1]x", "https://[zz]", "https://.",
                          "https://-", "null"})
    EXPECT_FALSE(is_cors_origin_entry(bad)) << bad;
  EXPECT_FALSE(is_cors_origin_entry("https://" + std::string(250, 'a')));
}

TEST(Cors, PreflightHeaders) {
  EXPECT_EQ(cors_allow_headers("x-app-api-key, content-type"), "x-app-api-key, content-type");
  EXPECT_EQ(cors_allow_headers(""), "Authorization, Content-Type, X-App-Api-Key, X-Api-Key, X-Request-Id");
  EXPECT_EQ(cors_allow_headers("x\r\nInjected: 1"),
            "Authorization, Content-Type, X-App-Api-Key, X-Api-Key, X-Request-Id");
}

} // namespace
} // namespace cti
