#pragma once

// Signing webhooks the way Dialpad (and the seed) do, written independently
// of the server's own verification code in domain/: hex HMAC-SHA256 for the
// seed's X-Dialpad-Signature, compact HS256 JWS for Dialpad's own format.

#include <string>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace cti::test {

inline std::string hmac_raw(const std::string& key, const std::string& data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string{reinterpret_cast<char*>(out), len};
}

inline std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

inline std::string b64url(const std::string& in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += tbl[v >> 6 & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += tbl[v >> 6 & 63];
  }
  return out;
}

inline std::string jwt(const std::string& payload, const std::string& key,
                const std::string& header = R"({"alg":"HS256","typ":"JWT"})") {
  auto signing_input = b64url(header) + "." + b64url(payload);
  return signing_input + "." + b64url(hmac_raw(key, signing_input));
}

/// X-Dialpad-Signature for `body`.
inline std::string seed_signature(const std::string& key, const std::string& body) {
  return hex(hmac_raw(key, body));
}

} // namespace cti::test
