#include "domain/webhook_auth.hpp"

#include "domain/secure_random.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <climits>
#include <cstdint>
#include <utility>

#include <nlohmann/json.hpp>

namespace cti {

namespace {

constexpr std::size_t digest_size = 32;
using digest = std::array<unsigned char, digest_size>;

constexpr std::string_view ascii_whitespace = " \t\n\r\f\v";

std::string_view trim(std::string_view s) {
  auto first = s.find_first_not_of(ascii_whitespace);
  if (first == std::string_view::npos)
    return {};
  auto last = s.find_last_not_of(ascii_whitespace);
  return s.substr(first, last - first + 1);
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

/// Non-empty and only the 64 base64url symbols (no padding).
bool is_base64url_segment(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (base64url_value(c) < 0)
      return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// True when `s` equals the lowercase `lower` ignoring ASCII case.
bool lowercase_equals(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size())
    return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i])
      return false;
  }
  return true;
}

bool hmac_sha256(std::string_view key, std::string_view data, digest& out) {
  if (key.size() > static_cast<std::size_t>(INT_MAX))
    return false;
  // OpenSSL may treat a null pointer as "no key" even with length 0, so an
  // empty view always points at a real (unused) byte.
  static const unsigned char none = 0;
  const void* k = key.empty() ? &none : static_cast<const void*>(key.data());
  const auto* d = data.empty() ? &none : reinterpret_cast<const unsigned char*>(data.data());
  unsigned int len = 0;
  return HMAC(EVP_sha256(), k, static_cast<int>(key.size()), d, data.size(), out.data(), &len)
             != nullptr
         && len == digest_size;
}

/// The three segments of a compact JWS, when the text has exactly two dots.
struct jws_parts {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input; ///< header + "." + payload, as received.
};

std::optional<jws_parts> split_jws(std::string_view s) {
  auto first = s.find('.');
  if (first == std::string_view::npos)
    return std::nullopt;
  auto second = s.find('.', first + 1);
  if (second == std::string_view::npos || s.find('.', second + 1) != std::string_view::npos)
    return std::nullopt;
  return jws_parts{s.substr(0, first), s.substr(first + 1, second - first - 1),
                   s.substr(second + 1), s.substr(0, second)};
}

jwt_check rejected(const char* why) {
  jwt_check r;
  r.error = why;
  return r;
}

} // namespace

std::optional<std::string> base64url_decode(std::string_view in) {
  if (!in.empty() && in.back() == '=') {
    if (in.size() % 4 != 0)
      return std::nullopt;
    // "xx==" or "xxx=": a third '=' (or one earlier on) is left in place and
    // then rejected below as a character that is not a symbol.
    in.remove_suffix(1);
    if (in.back() == '=')
      in.remove_suffix(1);
  }
  if (in.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3 + 2);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    int v = base64url_value(c);
    if (v < 0)
      return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xffu));
      buffer &= (1u << bits) - 1;
    }
  }
  // Unused low bits must be zero, otherwise two spellings decode alike and a
  // signature segment could be altered without changing the signature.
  if (buffer != 0)
    return std::nullopt;
  return out;
}

std::string base64url_encode(std::string_view in) {
  static constexpr char symbols[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(symbols[(buffer >> bits) & 0x3fu]);
    }
    buffer &= (1u << bits) - 1;
  }
  if (bits > 0)
    out.push_back(symbols[(buffer << (6 - bits)) & 0x3fu]);
  return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  digest mac{};
  if (!hmac_sha256(key, data, mac))
    return {};
  return to_hex(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

bool verify_hex_signature(std::string_view body, std::string_view secret,
                          std::string_view hex_signature) {
  if (secret.empty())
    return false;
  auto sig = trim(hex_signature);
  constexpr std::string_view prefix = "sha256=";
  if (sig.size() >= prefix.size() && lowercase_equals(sig.substr(0, prefix.size()), prefix))
    sig.remove_prefix(prefix.size());
  // Only the format of the attacker's own input decides these early exits;
  // nothing about the expected digest leaks before the constant-time compare.
  if (sig.size() != 2 * digest_size)
    return false;
  digest given{};
  for (std::size_t i = 0; i < digest_size; ++i) {
    int hi = hex_value(sig[2 * i]);
    int lo = hex_value(sig[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    given[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  digest expected{};
  if (!hmac_sha256(secret, body, expected))
    return false;
  return CRYPTO_memcmp(given.data(), expected.data(), digest_size) == 0;
}

jwt_check verify_hs256_jwt(std::string_view token, std::string_view secret) {
  if (secret.empty())
    return rejected("no webhook secret configured");
  auto parts = split_jws(trim(token));
  if (!parts)
    return rejected("token must have exactly three segments");
  if (parts->header.empty() || parts->payload.empty() || parts->signature.empty())
    return rejected("token has an empty segment");
  if (!is_base64url_segment(parts->header) || !is_base64url_segment(parts->payload)
      || !is_base64url_segment(parts->signature))
    return rejected("token segment is not base64url");
  auto header = base64url_decode(parts->header);
  auto payload = base64url_decode(parts->payload);
  auto signature = base64url_decode(parts->signature);
  if (!header || !payload || !signature)
    return rejected("token segment is not base64url");
  if (signature->size() != digest_size)
    return rejected("signature must be 32 bytes");
  auto h = nlohmann::json::parse(*header, nullptr, false);
  if (h.is_discarded() || !h.is_object())
    return rejected("token header is not a JSON object");
  // The algorithm is pinned: trusting the header's choice is how "none" and
  // algorithm-confusion forgeries get in.
  auto alg = h.find("alg");
  if (alg == h.end() || !alg->is_string() || alg->get_ref<const std::string&>() != "HS256")
    return rejected("token algorithm must be HS256");
  auto typ = h.find("typ");
  if (typ != h.end() && !typ->is_string())
    return rejected("token typ must be a string");
  if (h.contains("crit"))
    return rejected("token uses unsupported critical extensions");
  digest expected{};
  if (!hmac_sha256(secret, parts->signing_input, expected))
    return rejected("signature could not be computed");
  if (CRYPTO_memcmp(signature->data(), expected.data(), digest_size) != 0)
    return rejected("token signature mismatch");
  jwt_check r;
  r.ok = true;
  r.payload = std::move(*payload);
  return r;
}

std::string_view jwt_token_text(std::string_view body) {
  return trim(body);
}

bool looks_like_jwt(std::string_view body) {
  auto parts = split_jws(trim(body));
  return parts && is_base64url_segment(parts->header) && is_base64url_segment(parts->payload)
         && is_base64url_segment(parts->signature);
}

} // namespace cti
