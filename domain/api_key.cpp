#include "domain/api_key.hpp"

#include <string>

#include "domain/crypto.hpp"
#include "domain/secure_random.hpp"

namespace cti {

namespace {

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/// The part after the prefix; empty (rather than throwing) for a too-short key.
std::string_view hex_part(std::string_view key) {
  return key.size() >= api_key_prefix.size() ? key.substr(api_key_prefix.size())
                                             : std::string_view{};
}

} // namespace

std::string generate_api_key() {
  return std::string(api_key_prefix) + random_hex(api_key_hex_chars / 2);
}

bool is_api_key_format(std::string_view key) {
  if (key.size() != api_key_prefix.size() + api_key_hex_chars ||
      !key.starts_with(api_key_prefix))
    return false;
  for (char c : key.substr(api_key_prefix.size()))
    if (!is_lower_hex(c))
      return false;
  return true;
}

std::string api_key_hint(std::string_view key) {
  auto hex = hex_part(key);
  std::string out(api_key_prefix);
  out += hex.substr(0, 4);
  out += "...";
  out += hex.substr(hex.size() >= 4 ? hex.size() - 4 : 0);
  return out;
}

std::string api_key_id(std::string_view key) {
  return std::string(hex_part(key).substr(0, api_key_id_chars));
}

std::string api_key_fingerprint(std::string_view key) {
  return sha256_hex(key);
}

} // namespace cti
