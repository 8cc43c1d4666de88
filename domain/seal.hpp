#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cti {

/// First byte of a sealed value: the format version.
inline constexpr unsigned char seal_version = 0x01;
/// Bytes of the random AES-GCM nonce following the version byte.
inline constexpr std::size_t seal_nonce_bytes = 12;
/// Bytes of the GCM authentication tag ending a sealed value.
inline constexpr std::size_t seal_tag_bytes = 16;
/// Length of a sealed empty plaintext: the shortest valid sealed value.
inline constexpr std::size_t seal_overhead = 1 + seal_nonce_bytes + seal_tag_bytes;

/// Encrypts `plaintext` for storage at rest with AES-256-GCM (OpenSSL EVP)
/// under `key32`, authenticating `aad` (the owning app id) alongside it, so a
/// value copied to another app's row will not open. Returns the bytes
/// version 0x01 | 12-byte random nonce | ciphertext (as long as the
/// plaintext) | 16-byte tag.
///
/// Throws std::invalid_argument when `key32` is not exactly 32 bytes and
/// std::runtime_error when OpenSSL fails. Messages never contain the key or
/// the plaintext.
std::string seal(std::string_view key32, std::string_view plaintext, std::string_view aad);

/// The plaintext of a value made by `seal` with the same key and aad, or
/// nullopt when the version byte is unknown, `sealed` is shorter than
/// `seal_overhead`, the key is wrong (or not 32 bytes), `aad` differs, or any
/// byte was altered (the GCM tag fails). No unauthenticated plaintext is ever
/// returned. Never throws.
std::optional<std::string> open_sealed(std::string_view key32, std::string_view sealed,
                                       std::string_view aad);

} // namespace cti
