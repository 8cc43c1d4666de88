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
