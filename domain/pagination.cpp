#include "domain/pagination.hpp"

#include <charconv>
#include <mutex>

#include <openssl/crypto.h>

#include "domain/secure_random.hpp"
#include "domain/webhook_auth.hpp"

namespace cti {

namespace {

/// Hex characters of the MAC kept in a cursor (16 bytes).
constexpr std::size_t mac_hex_length = 32;

template <class T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty())
    return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

std::string& key_storage() {
  static std::string key = random_bytes(32);
  return key;
}

std::string mac_of(std::string_view scope, std::string_view position) {
  std::string data;
  data.reserve(scope.size() + position.size() + 1);
  data.append(scope).append("|").append(position);
  return hmac_sha256_hex(key_storage(), data).substr(0, mac_hex_length);
}

} // namespace

void set_cursor_key(std::string key) {
  if (!key.empty())
    key_storage() = std::move(key);
}

std::string encode_cursor(const keyset& k, std::string_view scope) {
  std::string position = std::to_string(k.time_us) + "|" + k.id;
  auto mac = mac_of(scope, position);
  return base64url_encode(position + "|" + mac);
}

std::optional<keyset> decode_cursor(std::string_view cursor, std::string_view scope) {
  if (cursor.size() > 512)
    return std::nullopt;
  auto raw = base64url_decode(cursor);
  if (!raw || raw->size() < mac_hex_length + 4)
    return std::nullopt;
  auto last_bar = raw->rfind('|');
  if (last_bar == std::string::npos || raw->size() - last_bar - 1 != mac_hex_length)
    return std::nullopt;
  std::string_view position = std::string_view{*raw}.substr(0, last_bar);
  std::string_view mac = std::string_view{*raw}.substr(last_bar + 1);
  auto expected = mac_of(scope, position);
  if (CRYPTO_memcmp(expected.data(), mac.data(), mac_hex_length) != 0)
    return std::nullopt;
  auto bar = position.find('|');
  if (bar == std::string_view::npos || bar + 1 >= position.size())
    return std::nullopt;
  keyset k;
  if (!parse_number(position.substr(0, bar), k.time_us))
    return std::nullopt;
  k.id = std::string{position.substr(bar + 1)};
  if (k.id.size() > 128)
    return std::nullopt;
  return k;
}

bool parse_page(const std::string* limit, const std::string* cursor, std::string_view scope,
                page_request& out, std::string& error) {
  out = page_request{};
  if (limit != nullptr && !limit->empty()) {
    int n = 0;
    if (!parse_number(std::string_view{*limit}, n) || n < 1 || n > max_page_limit) {
      error = "limit must be an integer from 1 to " + std::to_string(max_page_limit);
      return false;
    }
    out.limit = n;
  }
  if (cursor != nullptr && !cursor->empty()) {
    out.after = decode_cursor(*cursor, scope);
    if (!out.after) {
      error = "cursor is not a cursor this server issued for this list";
      return false;
    }
  }
  return true;
}

} // namespace cti
