#pragma once

// List pagination as API.md describes it: `limit` (default 50, 1..500) and an
// opaque `cursor` taken from the previous page's `next_cursor`. Lists are
// keyset-paginated on (time DESC, id DESC), so a cursor is the last row's
// time and id. Its text is base64url("<epoch µs>|<id>|<mac>"), where mac is
// the first 16 bytes (hex) of HMAC-SHA256(cursor key, scope|time|id) and the
// scope names the list (e.g. "calls:<app id>"): a client can neither forge
// a position nor move a cursor into another app's list.

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

/// Sets the process-wide key that signs cursors (call once at start-up,
/// before any request; every node of a cluster must use the same key).
/// Until called, a random key is used (cursors then live as long as the
/// process).
void set_cursor_key(std::string key);

/// The opaque text of `k` within list `scope`.
std::string encode_cursor(const keyset& k, std::string_view scope);

/// The keyset inside `cursor`; nullopt when it is not one of ours for `scope`.
std::optional<keyset> decode_cursor(std::string_view cursor, std::string_view scope);

/// Reads `limit` and `cursor` (either may be null: absent) for list `scope`.
/// On a bad value answers false and sets `error` to a message naming the
/// parameter.
bool parse_page(const std::string* limit, const std::string* cursor, std::string_view scope,
                page_request& out, std::string& error);

} // namespace cti
