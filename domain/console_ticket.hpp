#pragma once

// Tickets for the operator console's WebSocket view of an app.
//
// A browser cannot put an `Authorization` header on a WebSocket upgrade,
// and the internal secret must never travel in a URL. So the console asks
// for a ticket (`POST /internal/console/stream-ticket`, with the bearer)
// and opens `/internal/console/stream?ticket=…`. A ticket names one app,
// expires after a short time and is signed with a key derived from
// INTERNAL_API_SECRET: any node of the cluster can check it, none stores it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cti {

/// How long a ticket opens the stream after it was issued.
inline constexpr int64_t console_ticket_lifetime_ms = 30'000;
/// Clock difference between the node that issued a ticket and the node
/// that checks it (behind a load balancer) that is tolerated.
inline constexpr int64_t console_ticket_skew_ms = 60'000;
/// How long a view opened with a ticket stays open; the console then opens
/// a new one (a leaked ticket gives no lasting access).
inline constexpr int64_t console_view_max_age_ms = 15 * 60'000;

/// `ct1.<app_id>.<expires_ms>.<nonce>.<signature>` (URL-safe characters only).
std::string make_console_ticket(std::string_view secret, std::string_view app_id,
                                int64_t expires_ms, std::string_view nonce_hex);

/// The app the ticket was issued for, when its signature holds under
/// `secret` and it has not expired at `now_ms`; nullopt otherwise. An
/// expiry further ahead than a lifetime plus the tolerated skew is refused.
std::optional<std::string> verify_console_ticket(std::string_view secret, std::string_view ticket,
                                                 int64_t now_ms);

} // namespace cti
