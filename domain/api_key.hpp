#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cti {

/// Prefix every API key starts with.
inline constexpr std::string_view api_key_prefix = "raw_";
/// Number of lowercase hex characters after the prefix.
inline constexpr std::size_t api_key_hex_chars = 64;
/// Number of hex characters (after the prefix) forming the key id.
inline constexpr std::size_t api_key_id_chars = 16;

/// A fresh API key: "raw_" followed by 64 lowercase hex characters (32 bytes
/// from the CSPRNG, see `random_hex`).
std::string generate_api_key();

/// True when `key` is exactly "raw_" followed by 64 characters of [0-9a-f]
/// (lowercase only; uppercase hex is refused so every key has one spelling).
bool is_api_key_format(std::string_view key);

/// A short, non-secret reminder of a key for display: "raw_" + the first 4
/// hex characters + "..." + the last 4 (e.g. "raw_abcd...6789").
/// Precondition: `is_api_key_format(key)`.
std::string api_key_hint(std::string_view key);

/// The non-secret, indexed id of a key: the first 16 hex characters after
/// "raw_". Used to find the stored hash; never sufficient to authenticate.
/// Precondition: `is_api_key_format(key)`.
std::string api_key_id(std::string_view key);

/// Lowercase hex SHA-256 of the whole key (64 characters): the key of the
/// in-memory verification cache, so the key itself is never kept as a map key.
std::string api_key_fingerprint(std::string_view key);

} // namespace cti
