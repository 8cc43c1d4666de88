#include "domain/cors.hpp"

#include <algorithm>
#include <cctype>

namespace cti {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
              return std::tolower(x) == std::tolower(y);
            });
}

} // namespace

std::optional<std::string> cors_allow_origin(const std::vector<std::string>& allowed,
                                             std::string_view origin) {
  if (origin.empty() || origin.size() > 256 || origin == "null")
    return std::nullopt;
  for (const auto& entry : allowed) {
    if (entry == "*")
      return std::string{"*"};
    auto e = std::string_view{entry};
    while (!e.empty() && e.back() == '/')
      e.remove_suffix(1);
    if (iequals(e, origin))
      return std::string{origin};
  }
  return std::nullopt;
}

namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/// A port as an Origin header writes it: 1..65535, no leading zero.
std::optional<unsigned> origin_port(std::string_view p) {
  if (p.empty() || p.size() > 5 || p.front() == '0')
    return std::nullopt;
  unsigned n = 0;
  for (char c : p) {
    if (c < '0' || c > '9')
      return std::nullopt;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n <= 65535 ? std::optional{n} : std::nullopt;
}

} // namespace

bool is_cors_origin_entry(std::string_view entry) {
  if (entry == "*")
    return true;
  // Origins longer than this are never matched (cors_allow_origin).
  if (entry.size() > 256)
    return false;
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986): http(s),
  // and the schemes browser extensions and app shells send.
  auto sep = entry.find("://");
  if (sep == std::string_view::npos || sep == 0 || !is_alnum(entry[0])
      || (entry[0] >= '0' && entry[0] <= '9'))
    return false;
  auto scheme = entry.substr(0, sep);
  for (char c : scheme)
    if (!(is_alnum(c) || c == '+' || c == '-' || c == '.'))
      return false;
  auto rest = entry.substr(sep + 3);
  if (!rest.empty() && rest.back() == '/')
    rest.remove_suffix(1);
  if (rest.empty())
    return false;
  std::string_view host = rest;
  std::string_view port;
  if (rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close < 2)
      return false;
    host = rest.substr(1, close - 1);
    for (char c : host)
      if (!(is_hex(c) || c == ':' || c == '.'))
        return false;
    auto tail = rest.substr(close + 1);
    if (!tail.empty()) {
      if (tail.front() != ':')
        return false;
      port = tail.substr(1);
      if (port.empty())
        return false;
    }
  } else {
    auto colon = rest.find(':');
    if (colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
      if (port.empty())
        return false;
    }
    bool any = false;
    for (char c : host) {
      if (!(is_alnum(c) || c == '-' || c == '.' || c == '_'))
        return false;
      any = any || is_alnum(c);
    }
    if (!any)
      return false;
  }
  if (!port.empty()) {
    auto n = origin_port(port);
    if (!n)
      return false;
    // A browser leaves the scheme's default port out of Origin.
    if ((iequals(scheme, "http") && *n == 80) || (iequals(scheme, "https") && *n == 443))
      return false;
  }
  return true;
}

std::string cors_allow_headers(std::string_view requested) {
  static const std::string defaults =
    "Authorization, Content-Type, X-App-Api-Key, X-Api-Key, X-Request-Id";
  std::string out;
  std::size_t i = 0;
  while (i <= requested.size()) {
    auto j = requested.find(',', i);
    if (j == std::string_view::npos)
      j = requested.size();
    auto name = requested.substr(i, j - i);
    while (!name.empty() && name.front() == ' ')
      name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ')
      name.remove_suffix(1);
    if (!name.empty()) {
      bool token = name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
                     return std::isalnum(c) || c == '-' || c == '_';
                   });
      if (!token)
        return defaults;
      if (!out.empty())
        out += ", ";
      out += name;
    }
    i = j + 1;
  }
  return out.empty() ? defaults : out;
}

} // namespace cti
