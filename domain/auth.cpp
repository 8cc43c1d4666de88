#include "domain/auth.hpp"

#include <cctype>

#include "domain/crypto.hpp"

namespace cti {

std::string_view bearer_token(std::string_view v) {
  constexpr std::string_view scheme = "bearer";
  if (v.size() <= scheme.size() || v[scheme.size()] != ' ')
    return {};
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != scheme[i])
      return {};
  v.remove_prefix(scheme.size());
  while (!v.empty() && v.front() == ' ')
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  return v;
}

bool internal_bearer_ok(const std::string* authorization, const std::string& secret) {
  if (authorization == nullptr || secret.empty())
    return false;
  auto token = bearer_token(*authorization);
  // Always compare, even when the header is malformed, so timing tells nothing.
  bool ok = constant_time_equals(token, secret);
  return ok && !token.empty();
}

} // namespace cti
