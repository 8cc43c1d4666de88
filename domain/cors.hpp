#pragma once

// CORS per CORS_ALLOWED_ORIGINS: which origins a browser may call us from,
// and what a preflight is told.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cti {

/// The Access-Control-Allow-Origin value for a request from `origin`, or
/// nothing when that origin is not allowed. Entries match exactly (scheme,
/// host and port; case-insensitive); an entry `*` allows every origin and
/// is answered `*` (and no credentials are ever allowed with it: the API
/// authenticates with headers, never cookies).
std::optional<std::string> cors_allow_origin(const std::vector<std::string>& allowed,
                                             std::string_view origin);

/// True for an entry CORS_ALLOWED_ORIGINS accepts: `*`, or an origin as a
/// browser's Origin header could write it: `scheme://host[:port]` (http,
/// https, or another RFC 3986 scheme such as chrome-extension), a trailing
/// `/` tolerated; no path, query, user info or whitespace; a port 1..65535
/// without leading zeros and not the scheme's default (which browsers
/// leave out); an IPv6 host in brackets.
bool is_cors_origin_entry(std::string_view entry);

/// What a preflight may ask to send: the requested header names that are
/// plain tokens, else the headers the API reads.
std::string cors_allow_headers(std::string_view requested);

/// Headers every CORS answer lets the page read.
inline constexpr std::string_view cors_expose_headers = "X-Request-Id, Retry-After";

/// How long a browser may cache a preflight answer (seconds).
inline constexpr int cors_max_age_seconds = 600;

} // namespace cti
