#pragma once

// Absolute http(s) URLs as the outbound HTTP client needs them, and the
// application/x-www-form-urlencoded encoding of OAuth requests.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cti {

/// The parts of `scheme://host[:port][/path][?query]` a client connects with.
struct url_parts {
  bool tls = false;    ///< https
  std::string host;    ///< Without brackets for IPv6 literals.
  uint16_t port = 0;   ///< Explicit, or 443 / 80.
  std::string target;  ///< Path and query, at least "/".
};

/// Parses an absolute http:// or https:// URL (no userinfo, no fragment
/// needed). nullopt for anything else or an invalid port.
std::optional<url_parts> parse_http_url(std::string_view url);

/// True for `localhost`, a dotted-quad `127.x.y.z`, and `::1` (with or
/// without brackets). A name like `127.evil.com` is not loopback.
bool is_loopback_host(std::string_view host);

/// A URI Dialpad can be asked to open (screen pop): at most `max` bytes, an
/// RFC 3986 scheme followed by `:` and at least one more character, no
/// whitespace or control character anywhere, and not a script scheme
/// (`javascript:`, `vbscript:`, `data:`).
bool is_screen_pop_uri(std::string_view uri, std::size_t max = 2048);

/// Percent-encodes every byte outside RFC 3986's unreserved set
/// (`A-Z a-z 0-9 - . _ ~`), uppercase hex.
std::string percent_encode(std::string_view s);

/// `name=value&...` with both sides percent-encoded (a space as `%20`,
/// which every form decoder accepts).
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

} // namespace cti
