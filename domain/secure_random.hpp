#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cti {

/// Returns `n` bytes from OpenSSL's CSPRNG (`RAND_bytes`). Aborts the process
/// if the generator fails: it never returns weak bytes.
std::string random_bytes(std::size_t n);

/// Returns `n_bytes` random bytes as lowercase hex (`2 * n_bytes` characters).
std::string random_hex(std::size_t n_bytes);

/// Encodes `bytes` as lowercase hex.
std::string to_hex(std::string_view bytes);

/// Decodes hex (either case); nullopt for an odd length or a non-hex digit.
std::optional<std::string> from_hex(std::string_view hex);

} // namespace cti
