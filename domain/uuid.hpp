#pragma once

#include <string>
#include <string_view>

namespace cti {

/// A random (version 4) UUID in canonical lowercase form.
std::string new_uuid();

/// True when `s` is a canonical UUID (8-4-4-4-12 hex digits, either case).
bool is_uuid(std::string_view s);

/// `id` (a UUID as `is_uuid` accepts it) in the lowercase form the database
/// and every answer use.
std::string lowercase_uuid(std::string_view id);

} // namespace cti
