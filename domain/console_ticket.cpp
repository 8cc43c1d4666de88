#include "domain/console_ticket.hpp"

#include <charconv>
#include <vector>

#include "domain/crypto.hpp"
#include "domain/uuid.hpp"
#include "domain/webhook_auth.hpp"

namespace cti {

namespace {

constexpr std::string_view version = "ct1";

/// The ticket key: the secret itself signs nothing but bearer checks.
std::string ticket_key(std::string_view secret) {
  return hmac_sha256_hex(secret, "cti-server console stream ticket v1");
}

std::vector<std::string_view> split_dots(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    auto dot = s.find('.');
    out.push_back(s.substr(0, dot));
    if (dot == std::string_view::npos)
      return out;
    s.remove_prefix(dot + 1);
  }
}

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return !s.empty();
}

} // namespace

std::string make_console_ticket(std::string_view secret, std::string_view app_id,
                                int64_t expires_ms, std::string_view nonce_hex) {
  std::string body{version};
  body += '.';
  body += app_id;
  body += '.';
  body += std::to_string(expires_ms);
  body += '.';
  body += nonce_hex;
  auto sig = hmac_sha256_hex(ticket_key(secret), body);
  return body + "." + sig;
}

std::optional<std::string> verify_console_ticket(std::string_view secret, std::string_view ticket,
                                                 int64_t now_ms) {
  if (ticket.size() > 256)
    return std::nullopt;
  auto parts = split_dots(ticket);
  if (parts.size() != 5 || parts[0] != version || !is_uuid(parts[1]) || !is_lower_hex(parts[3])
      || parts[3].size() > 64 || parts[4].size() != 64)
    return std::nullopt;
  int64_t expires = 0;
  auto [end, ec] = std::from_chars(parts[2].data(), parts[2].data() + parts[2].size(), expires);
  if (ec != std::errc{} || end != parts[2].data() + parts[2].size() || parts[2].empty())
    return std::nullopt;
  auto body = ticket.substr(0, ticket.size() - parts[4].size() - 1);
  if (!constant_time_equals(hmac_sha256_hex(ticket_key(secret), body), parts[4]))
    return std::nullopt;
  if (now_ms >= expires || expires - now_ms > console_ticket_lifetime_ms + console_ticket_skew_ms)
    return std::nullopt;
  return std::string{parts[1]};
}

} // namespace cti
