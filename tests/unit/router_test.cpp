#include "net/router.hpp"

#include <gtest/gtest.h>

using cti::endpoint;
using cti::net::route_match;
using cti::net::router;

namespace {

// Test endpoints reuse the real enum values; only their identity matters.
router sample() {
  router r;
  r.add("GET", "/", endpoint::root);
  r.add("GET", "/items/{id}", endpoint::health);
  r.add("PATCH", "/items/{id}", endpoint::metrics);
  r.add("GET", "/items/active", endpoint::metrics);
  r.add("POST", "/apps/{app_id}/keys/{key}", endpoint::root);
  return r;
}

} // namespace

TEST(router, matches_root) {
  auto m = sample().match("GET", "/");
  ASSERT_EQ(m.result, route_match::kind::found);
  EXPECT_EQ(m.target, endpoint::root);
  EXPECT_TRUE(m.params.empty());
}

TEST(router, captures_path_parameters) {
  auto m = sample().match("POST", "/apps/abc/keys/k1");
  ASSERT_EQ(m.result, route_match::kind::found);
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].name, "app_id");
  EXPECT_EQ(m.params[0].value, "abc");
  EXPECT_EQ(m.params[1].name, "key");
  EXPECT_EQ(m.params[1].value, "k1");
}

TEST(router, literal_segment_beats_capture_whatever_the_order) {
  auto m = sample().match("GET", "/items/active");
  ASSERT_EQ(m.result, route_match::kind::found);
  EXPECT_EQ(m.target, endpoint::metrics);
  EXPECT_TRUE(m.params.empty());
  auto other = sample().match("GET", "/items/42");
  ASSERT_EQ(other.result, route_match::kind::found);
  EXPECT_EQ(other.target, endpoint::health);
  EXPECT_EQ(other.params.at(0).value, "42");
}

TEST(router, answers_404_for_unknown_paths) {
  auto r = sample();
  EXPECT_EQ(r.match("GET", "/nope").result, route_match::kind::not_found);
  EXPECT_EQ(r.match("GET", "/items").result, route_match::kind::not_found);
  EXPECT_EQ(r.match("GET", "/items/1/extra").result, route_match::kind::not_found);
  EXPECT_EQ(r.match("GET", "/items/").result, route_match::kind::not_found);
  EXPECT_EQ(r.match("GET", "").result, route_match::kind::not_found);
  EXPECT_EQ(r.match("GET", "items/1").result, route_match::kind::not_found);
}

TEST(router, answers_405_with_allow_header) {
  auto m = sample().match("DELETE", "/items/7");
  ASSERT_EQ(m.result, route_match::kind::method_not_allowed);
  EXPECT_EQ(m.allow, "GET, HEAD, PATCH");
}

TEST(router, serves_head_through_the_get_route) {
  auto m = sample().match("HEAD", "/items/7");
  ASSERT_EQ(m.result, route_match::kind::found);
  EXPECT_TRUE(m.head_as_get);
  EXPECT_EQ(m.target, endpoint::health);
}

TEST(router, decodes_percent_escapes_in_parameters) {
  auto m = sample().match("GET", "/items/a%20b");
  ASSERT_EQ(m.result, route_match::kind::found);
  EXPECT_EQ(m.params.at(0).value, "a b");
  EXPECT_EQ(sample().match("GET", "/items/a%2").result, route_match::kind::not_found);
  EXPECT_EQ(sample().match("GET", "/items/%zz").result, route_match::kind::not_found);
}

TEST(router, api_router_knows_the_foundation_endpoints) {
  const auto& r = cti::net::api_router();
  EXPECT_EQ(r.match("GET", "/").target, endpoint::root);
  EXPECT_EQ(r.match("GET", "/health").target, endpoint::health);
  EXPECT_EQ(r.match("GET", "/metrics").target, endpoint::metrics);
  auto m = r.match("POST", "/health");
  EXPECT_EQ(m.result, route_match::kind::method_not_allowed);
  EXPECT_EQ(m.allow, "GET, HEAD");
}

TEST(router, parses_query_strings) {
  auto q = cti::net::parse_query("a=1&b=x%20y&c&&d=p+q&e=%zz");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0].name, "a");
  EXPECT_EQ(q[0].value, "1");
  EXPECT_EQ(q[1].value, "x y");
  EXPECT_EQ(q[2].name, "c");
  EXPECT_EQ(q[2].value, "");
  EXPECT_EQ(q[3].value, "p+q"); // '+' is literal: phone=+1555..., since=...+01:00
  EXPECT_EQ(q[4].value, "%zz"); // malformed escapes stay raw
}

TEST(router, head_is_refused_where_the_get_is_not_safe) {
  // The OAuth GETs store or spend a state: a HEAD must not do it for them.
  const auto& r = cti::net::api_router();
  for (const char* path : {"/auth/dialpad/connect", "/authorize", "/auth/dialpad/callback"}) {
    EXPECT_EQ(r.match("GET", path).result, route_match::kind::found) << path;
    auto m = r.match("HEAD", path);
    EXPECT_EQ(m.result, route_match::kind::method_not_allowed) << path;
    EXPECT_EQ(m.allow, "GET") << path;
    EXPECT_EQ(r.match("POST", path).allow, "GET") << path;
  }
  // Elsewhere HEAD still goes through the GET route.
  EXPECT_TRUE(r.match("HEAD", "/api/calls").head_as_get);
  EXPECT_EQ(r.match("POST", "/api/calls").allow, "GET, HEAD");
}
