#include "domain/console_ticket.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace {

constexpr const char* secret = "internal-secret-of-the-test";
constexpr const char* app = "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b";
constexpr int64_t now = 1'800'000'000'000;

std::string fresh() {
  return cti::make_console_ticket(secret, app, now + cti::console_ticket_lifetime_ms, "00112233aabbccdd");
}

} // namespace

TEST(console_ticket, a_fresh_ticket_names_its_app) {
  auto t = fresh();
  EXPECT_EQ(cti::verify_console_ticket(secret, t, now), std::optional<std::string>{app});
  EXPECT_EQ(cti::verify_console_ticket(secret, t, now + cti::console_ticket_lifetime_ms - 1),
            std::optional<std::string>{app});
  // Only URL-safe characters, and the secret is not in it.
  EXPECT_EQ(t.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-."), std::string::npos) << t;
  EXPECT_EQ(t.find(secret), std::string::npos);
}

TEST(console_ticket, expires_at_its_time_and_a_far_future_one_is_refused) {
  auto t = fresh();
  EXPECT_FALSE(cti::verify_console_ticket(secret, t, now + cti::console_ticket_lifetime_ms));
  EXPECT_FALSE(cti::verify_console_ticket(secret, t, now + 10 * cti::console_ticket_lifetime_ms));
  // Signed, but valid for longer than a ticket ever is: not one we issued.
  auto long_lived = cti::make_console_ticket(
    secret, app, now + cti::console_ticket_lifetime_ms + cti::console_ticket_skew_ms + 1, "00");
  EXPECT_FALSE(cti::verify_console_ticket(secret, long_lived, now));
}

TEST(console_ticket, a_checking_node_whose_clock_is_behind_still_accepts_it) {
  // Issued by a node 20 s ahead of this one (another node behind a load
  // balancer): still good here.
  auto t = cti::make_console_ticket(secret, app, now + 20'000 + cti::console_ticket_lifetime_ms, "ab");
  EXPECT_EQ(cti::verify_console_ticket(secret, t, now), std::optional<std::string>{app});
}

TEST(console_ticket, another_secret_or_any_changed_part_is_refused) {
  auto t = fresh();
  EXPECT_FALSE(cti::verify_console_ticket("another-secret", t, now));
  // Each character changed in turn (a different app, expiry, nonce or signature).
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '.' || t[i] == '-')
      continue;
    auto bad = t;
    bad[i] = bad[i] == '1' ? '2' : '1';
    EXPECT_FALSE(cti::verify_console_ticket(secret, bad, now)) << "position " << i << ": " << bad;
  }
  // A ticket opens its own app's stream only.
  auto other = cti::make_console_ticket(secret, "00000000-0000-4000-8000-000000000000",
                                        now + 1000, "00");
  EXPECT_EQ(cti::verify_console_ticket(secret, other, now),
            std::optional<std::string>{"00000000-0000-4000-8000-000000000000"});
}

TEST(console_ticket, malformed_tickets_are_refused) {
  const std::string a{app};
  for (const std::string& bad : std::vector<std::string>{
         "", ".", "....", "ct1", "ct2." + std::string{app} + ".1.00.", "ct1.not-a-uuid.1.00.ab",
        "ct1." + std::string{app} + ".x.00." + std::string(64, 'a'),
        "ct1." + std::string{app} + "..00." + std::string(64, 'a'),
        "ct1." + std::string{app} + ".1800000001000.ZZ." + std::string(64, 'a'),
        "ct1." + std::string{app} + ".1800000001000.00." + std::string(63, 'a'),
        "ct1." + std::string{app} + ".1800000001000.00." + std::string(64, 'a') + ".extra",
        std::string(5000, 'a')})
    EXPECT_FALSE(cti::verify_console_ticket(secret, bad, now)) << bad;
}
