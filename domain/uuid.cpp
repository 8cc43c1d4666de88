#include "domain/uuid.hpp"

#include <cctype>
#include <cstring>

#include "domain/secure_random.hpp"
#include "domain/validation.hpp"

namespace cti {

namespace {

/// 16 random bytes from a per-thread pool of OpenSSL's generator (4 KiB
/// at a time: one call per 256 ids instead of one per id).
void random16(unsigned char (&b)[16]) {
  thread_local std::string pool;
  thread_local std::size_t used = 0;
  if (used + 16 > pool.size()) {
    pool = random_bytes(4096);
    used = 0;
  }
  std::memcpy(b, pool.data() + used, sizeof b);
  std::memset(pool.data() + used, 0, sizeof b); // an id handed out is not kept
  used += sizeof b;
}

/// `b` as canonical lowercase text, `version` and the RFC variant set.
std::string uuid_text(unsigned char (&b)[16], unsigned version) {
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | (version << 4));
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(36, '-');
  std::size_t o = 0;
  for (std::size_t i = 0; i < sizeof b; ++i) {
    if (o == 8 || o == 13 || o == 18 || o == 23)
      ++o; // the dashes
    out[o++] = digits[b[i] >> 4];
    out[o++] = digits[b[i] & 0x0f];
  }
  return out;
}

} // namespace

std::string new_uuid() {
  // Every request takes one (its X-Request-Id).
  unsigned char b[16];
  random16(b);
  return uuid_text(b, 4);
}

std::string new_uuid_v7(int64_t unix_ms) {
  unsigned char b[16];
  random16(b);
  auto ms = static_cast<uint64_t>(unix_ms < 0 ? 0 : unix_ms);
  for (int i = 0; i < 6; ++i)
    b[i] = static_cast<unsigned char>(ms >> (40 - 8 * i));
  return uuid_text(b, 7);
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36)
    return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-')
        return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

std::string lowercase_uuid(std::string_view id) { return ascii_lower(id); }

} // namespace cti
