#pragma once

#include <string>
#include <string_view>

namespace cti {

/// Lowest bcrypt cost accepted by `bcrypt_hash` (libxcrypt's minimum).
inline constexpr int bcrypt_min_cost = 4;
/// Highest bcrypt cost accepted by `bcrypt_hash` (libxcrypt's maximum).
inline constexpr int bcrypt_max_cost = 31;

/// A new "$2b$" bcrypt hash of `secret` (60 characters, e.g. "$2b$10$..."),
/// computed by libxcrypt with a 16-byte salt from the CSPRNG. `cost` is the
/// base-2 logarithm of the work factor, in [bcrypt_min_cost, bcrypt_max_cost].
///
/// bcrypt reads at most the first 72 bytes of `secret`; longer secrets that
/// share those 72 bytes hash alike (API keys are 68 bytes, so are unaffected).
///
/// Throws std::runtime_error("bcrypt failed") when libxcrypt fails, when
/// `cost` is out of range (libxcrypt would silently read 0 as its default
/// cost) or when `secret` contains a NUL byte or is 512 bytes or longer
/// (crypt(3) takes C strings up to 511 bytes; hashing a silently cut secret
/// would be worse than refusing). The message never includes the secret.
std::string bcrypt_hash(std::string_view secret, int cost);

/// True when `hash` is a bcrypt hash ("$2a$", "$2b$" or "$2y$"; the buggy
/// "$2x$" variant is refused) and recomputing it from `secret` gives exactly
/// `hash`, compared with CRYPTO_memcmp. Any other hash scheme (crypt(3) would
/// otherwise accept e.g. an 8-character-limited DES "hash"), a malformed or
/// empty hash, a secret containing a NUL byte, or a libxcrypt failure gives
/// false. Never throws.
bool bcrypt_verify(std::string_view secret, const std::string& hash);

} // namespace cti
