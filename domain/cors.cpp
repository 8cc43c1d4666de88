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

bool is_cors_origin_entry(std::string_view entry) {
  if (entry == "*")
    return true;
  std::string_view rest;
  for (std::string_view scheme : {"http://", "https://"})
    if (entry.size() > scheme.size() && iequals(entry.substr(0, scheme.size()), scheme))
      rest = entry.substr(scheme.size());
  if (!rest.empty() && rest.back() == '/')
    rest.remove_suffix(1);
  if (rest.empty() || rest.size() > 262)
    return false;
  std::string_view host = rest;
  std::string_view port;
  bool bracketed = rest.front() == '[';
  auto end = bracketed ? rest.find(']') : rest.rfind(':');
  if (bracketed && end == std::string_view::npos)
    return false;
  if (bracketed)
    ++end; // past the ']'
  if (end != std::string_view::npos && end < rest.size()) {
    host = rest.substr(0, end);
    auto tail = rest.substr(end);
    if (tail.front() != ':' || tail.size() < 2 || tail.size() > 6)
      return false;
    port = tail.substr(1);
  }
  for (char c : port)
    if (c < '0' || c > '9')
      return false;
  if (host.empty() || (bracketed && host.size() < 3))
    return false;
  for (char c : bracketed ? host.substr(1, host.size() - 2) : host) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!(alnum || c == '.' || (bracketed ? c == ':' : c == '-')))
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
