#include "domain/pagination.hpp"

#include <charconv>

#include "domain/webhook_auth.hpp"

namespace cti {

namespace {

template <class T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty())
    return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

} // namespace

std::string encode_cursor(const keyset& k) {
  return base64url_encode(std::to_string(k.time_us) + "|" + k.id);
}

std::optional<keyset> decode_cursor(std::string_view cursor) {
  auto raw = base64url_decode(cursor);
  if (!raw)
    return std::nullopt;
  auto bar = raw->find('|');
  if (bar == std::string::npos || bar + 1 >= raw->size())
    return std::nullopt;
  keyset k;
  if (!parse_number(std::string_view{*raw}.substr(0, bar), k.time_us))
    return std::nullopt;
  k.id = raw->substr(bar + 1);
  if (k.id.size() > 128)
    return std::nullopt;
  return k;
}

bool parse_page(const std::string* limit, const std::string* cursor, page_request& out,
                std::string& error) {
  out = page_request{};
  if (limit != nullptr) {
    int n = 0;
    if (!parse_number(std::string_view{*limit}, n) || n < 1 || n > max_page_limit) {
      error = "limit must be an integer from 1 to " + std::to_string(max_page_limit);
      return false;
    }
    out.limit = n;
  }
  if (cursor != nullptr && !cursor->empty()) {
    out.after = decode_cursor(*cursor);
    if (!out.after) {
      error = "cursor is not a cursor this server issued";
      return false;
    }
  }
  return true;
}

} // namespace cti
