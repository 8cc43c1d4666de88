#include "domain/uuid.hpp"

#include <cctype>
#include <cstring>

#include "domain/secure_random.hpp"
#include "domain/validation.hpp"

namespace cti {

std::string new_uuid() {
  // Every request takes one (its X-Request-Id): the bytes come from
  // OpenSSL's generator 4 KiB at a time per thread, one call per 256 ids
  // instead of one per id, and the text is written in place.
  thread_local std::string pool;
  thread_local std::size_t used = 0;
  if (used + 16 > pool.size()) {
    pool = random_bytes(4096);
    used = 0;
  }
  unsigned char b[16];
  std::memcpy(b, pool.data() + used, sizeof b);
  std::memset(pool.data() + used, 0, sizeof b); // an id handed out is not kept
  used += sizeof b;
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
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
