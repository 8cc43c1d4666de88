#pragma once

// List pagination as API.md describes it: `limit` (default 50, 1..500) and an
// opaque `cursor` taken from the previous page's `next_cursor`. Lists are
// keyset-paginated on (time DESC, id DESC), so a cursor is the last row's
// time and id, base64url-encoded ("<epoch µs>|<id>"): stable while new rows
// arrive, and meaningless to the client.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cti {

/// The position after which the next page starts.
struct keyset {
  int64_t time_us = 0;  ///< The last row's sort time, epoch microseconds.
  std::string id;       ///< The last row's id (tie breaker).
};

/// A validated page request.
struct page_request {
  int limit = 50;                ///< Rows per page, 1..500.
  std::optional<keyset> after;   ///< Start after this row (none: first page).
};

/// Default and largest page sizes.
inline constexpr int default_page_limit = 50;
inline constexpr int max_page_limit = 500;

/// The opaque text of `k`.
std::string encode_cursor(const keyset& k);

/// The keyset inside `cursor`; nullopt when it is not one of ours.
std::optional<keyset> decode_cursor(std::string_view cursor);

/// Reads `limit` and `cursor` (either may be null: absent). On a bad value
/// answers false and sets `error` to a message naming the parameter.
bool parse_page(const std::string* limit, const std::string* cursor, page_request& out,
                std::string& error);

} // namespace cti
