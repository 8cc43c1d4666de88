#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cti {

/// A random (version 4) UUID in canonical lowercase form.
std::string new_uuid();

/// A time-ordered (version 7, RFC 9562) UUID: `unix_ms` in its first 48
/// bits, then random bits. Ids made in time order land at the right edge
/// of a B-tree index instead of on a random page of it.
std::string new_uuid_v7(int64_t unix_ms);

/// True when `s` is a canonical UUID (8-4-4-4-12 hex digits, either case).
bool is_uuid(std::string_view s);

/// `id` (a UUID as `is_uuid` accepts it) in the lowercase form the database
/// and every answer use.
std::string lowercase_uuid(std::string_view id);

} // namespace cti
