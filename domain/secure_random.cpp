#include "domain/secure_random.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

namespace cti {

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  auto* data = reinterpret_cast<unsigned char*>(out.data());
  std::size_t done = 0;
  // RAND_bytes takes an int length, so large requests go in chunks.
  while (done < n) {
    auto chunk = std::min<std::size_t>(n - done, INT_MAX);
    if (RAND_bytes(data + done, static_cast<int>(chunk)) != 1) {
      // Carrying on with predictable bytes would silently weaken every key
      // and token built from them; stopping is the only safe answer.
      std::fputs("fatal: OpenSSL RAND_bytes failed; aborting\n", stderr);
      std::abort();
    }
    done += chunk;
  }
  return out;
}

std::string random_hex(std::size_t n_bytes) {
  return to_hex(random_bytes(n_bytes));
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0x0f]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0)
    return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = value(hex[i]);
    int lo = value(hex[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

} // namespace cti
