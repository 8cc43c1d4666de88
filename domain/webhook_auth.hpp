#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cti {

/// Decodes base64url (RFC 4648 §5). Padding '=' is accepted only in valid
/// positions: one or two '=' ending a length that is a multiple of four.
/// Any other character, an impossible length (4n + 1 symbols), or non-zero
/// unused bits in the last symbol (a non-canonical spelling) gives nullopt,
/// so every byte string has exactly one accepted encoding.
std::optional<std::string> base64url_decode(std::string_view in);

/// Encodes base64url without padding.
std::string base64url_encode(std::string_view in);

/// Lowercase hex HMAC-SHA256(key, data) (OpenSSL HMAC). Empty only if OpenSSL
/// itself fails (or the key is longer than INT_MAX bytes).
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

/// True when `hex_signature` (hex digits in either case; surrounding whitespace
/// ignored; an optional "sha256=" prefix, in any case, accepted) equals
/// HMAC-SHA256(secret, body). Constant time (CRYPTO_memcmp on equal-length
/// digests); an empty secret never verifies.
bool verify_hex_signature(std::string_view body, std::string_view secret,
                          std::string_view hex_signature);

/// Outcome of checking a compact JWS/JWT.
struct jwt_check {
  bool ok = false;     ///< Signature valid and algorithm HS256.
  std::string payload; ///< The decoded payload bytes (JSON text, not parsed) when ok.
  std::string error;   ///< Short reason when not ok (never contains the secret or the token).
};

/// Verifies an HS256 compact JWS: exactly three segments, each non-empty valid
/// base64url without padding (RFC 7515 omits it; the signature segment must
/// decode to exactly 32 bytes); the header must be a JSON object whose "alg"
/// is exactly "HS256" (we pin the algorithm: "none", "HS512", "hs256", missing
/// alg → not ok); "typ" if present must be a string; a "crit" header is
/// refused (we implement no extensions, RFC 7515 §4.1.11). The signature is
/// HMAC-SHA256(secret, header_b64 + "." + payload_b64) compared in constant
/// time. Leading/trailing ASCII whitespace (e.g. a trailing newline) of
/// `token` is ignored. An empty secret never verifies.
jwt_check verify_hs256_jwt(std::string_view token, std::string_view secret);

/// True when `body` (whitespace-trimmed) has the shape of a compact JWS: three
/// non-empty segments of base64url characters separated by two dots, nothing else.
bool looks_like_jwt(std::string_view body);

/// The token text of a JWT body: the body without the ASCII whitespace
/// around it, as verify_hs256_jwt reads it.
std::string_view jwt_token_text(std::string_view body);

} // namespace cti
