#pragma once

#include <string>
#include <string_view>

namespace cti {

/// Lowercase hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

/// Compares two secrets in time independent of their contents: both sides
/// are hashed first, so neither a differing byte nor a differing length
/// shortens the comparison.
bool constant_time_equals(std::string_view a, std::string_view b);

} // namespace cti
