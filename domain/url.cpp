#include "domain/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace cti {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

} // namespace

bool is_screen_pop_uri(std::string_view uri, std::size_t max) {
  if (uri.empty() || uri.size() > max)
    return false;
  for (unsigned char c : uri)
    if (c <= 0x20 || c == 0x7f)
      return false;
  auto colon = uri.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon + 1 == uri.size()
      || !std::isalpha(static_cast<unsigned char>(uri[0])))
    return false;
  auto scheme = uri.substr(0, colon);
  for (unsigned char c : scheme)
    if (!(std::isalnum(c) || c == '+' || c == '-' || c == '.'))
      return false;
  auto s = lower(scheme);
  return s != "javascript" && s != "vbscript" && s != "data";
}

bool is_loopback_host(std::string_view host) {
  auto l = lower(host);
  if (l == "localhost" || l == "[::1]" || l == "::1")
    return true;
  // 127.0.0.0/8 as a dotted quad.
  int parts = 0;
  std::string_view rest = host;
  while (true) {
    auto dot = rest.find('.');
    auto part = rest.substr(0, dot);
    if (part.empty() || part.size() > 3
        || !std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); }))
      return false;
    int v = 0;
    std::from_chars(part.data(), part.data() + part.size(), v);
    if (v > 255 || (parts == 0 && v != 127))
      return false;
    ++parts;
    if (dot == std::string_view::npos)
      break;
    rest.remove_prefix(dot + 1);
  }
  return parts == 4;
}

std::optional<url_parts> parse_http_url(std::string_view url) {
  url_parts out;
  std::string_view rest;
  if (starts_with_nocase(url, "https://")) {
    out.tls = true;
    out.port = 443;
    rest = url.substr(8);
  } else if (starts_with_nocase(url, "http://")) {
    out.port = 80;
    rest = url.substr(7);
  } else {
    return std::nullopt;
  }
  auto authority = rest.substr(0, rest.find_first_of("/?#"));
  auto tail = rest.substr(authority.size());
  if (authority.empty() || authority.find('@') != std::string_view::npos)
    return std::nullopt;
  std::string_view host = authority;
  std::string_view port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos || close < 2)
      return std::nullopt;
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return std::nullopt;
      port = after.substr(1);
    }
  } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty())
    return std::nullopt;
  if (!port.empty() || authority.back() == ':') {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (port.empty() || ec != std::errc{} || p != port.data() + port.size() || v == 0 || v > 65535)
      return std::nullopt;
    out.port = static_cast<uint16_t>(v);
  }
  out.host = std::string{host};
  tail = tail.substr(0, tail.find('#'));
  out.target = tail.empty() || tail.front() != '/' ? "/" + std::string{tail} : std::string{tail};
  return out;
}

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty())
      out += '&';
    out += percent_encode(name);
    out += '=';
    out += percent_encode(value);
  }
  return out;
}

} // namespace cti
