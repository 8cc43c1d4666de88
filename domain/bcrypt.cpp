#include "domain/bcrypt.hpp"

#include <crypt.h>

#include <openssl/crypto.h>

#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

#include "domain/secure_random.hpp"

namespace cti {

namespace {

/// Number of random salt bytes bcrypt consumes (128 bits).
constexpr int salt_bytes = 16;

/// Frees a crypt_data after wiping it: its `input` field holds the secret
/// and `output` the hash.
struct crypt_data_deleter {
  void operator()(crypt_data* d) const noexcept {
    OPENSSL_cleanse(d, sizeof(crypt_data));
    delete d;
  }
};

using crypt_data_ptr = std::unique_ptr<crypt_data, crypt_data_deleter>;

/// A zeroed crypt_data on the heap (it is 32 KiB: too big for the stack).
/// Null when allocation fails.
crypt_data_ptr new_crypt_data() noexcept {
  // Value-initialisation zeroes every field, including `initialized`, as
  // libxcrypt requires before the first call.
  return crypt_data_ptr(new (std::nothrow) crypt_data{});
}

/// Copies `secret` NUL-terminated into `d->input` (so the only copy of the
/// secret libxcrypt sees is wiped with `d`). False when it does not fit or
/// contains a NUL byte, which crypt(3) would read as the end of the secret.
bool load_secret(crypt_data& d, std::string_view secret) noexcept {
  if (secret.size() >= sizeof d.input || secret.find('\0') != std::string_view::npos)
    return false;
  std::memcpy(d.input, secret.data(), secret.size());
  d.input[secret.size()] = '\0';
  return true;
}

/// True when libxcrypt produced a hash rather than reporting failure.
bool crypt_ok(const char* out) noexcept {
  return out != nullptr && out[0] != '*';
}

/// True when `hash` names a bcrypt variant we verify.
bool is_bcrypt_prefix(std::string_view hash) noexcept {
  return hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$");
}

} // namespace

std::string bcrypt_hash(std::string_view secret, int cost) {
  if (cost < bcrypt_min_cost || cost > bcrypt_max_cost)
    throw std::runtime_error("bcrypt failed");
  auto data = new_crypt_data();
  if (!data || !load_secret(*data, secret))
    throw std::runtime_error("bcrypt failed");

  auto salt = random_bytes(salt_bytes);
  const char* setting =
      crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), salt.data(), salt_bytes,
                       data->setting, static_cast<int>(sizeof data->setting));
  OPENSSL_cleanse(salt.data(), salt.size());
  if (!crypt_ok(setting))
    throw std::runtime_error("bcrypt failed");

  const char* out =
      crypt_rn(data->input, data->setting, data.get(), static_cast<int>(sizeof(crypt_data)));
  if (!crypt_ok(out))
    throw std::runtime_error("bcrypt failed");
  return std::string(out);
}

bool bcrypt_verify(std::string_view secret, const std::string& hash) {
  if (!is_bcrypt_prefix(hash) || hash.find('\0') != std::string::npos)
    return false;
  auto data = new_crypt_data();
  if (!data || hash.size() >= sizeof data->setting || !load_secret(*data, secret))
    return false;
  std::memcpy(data->setting, hash.data(), hash.size());
  data->setting[hash.size()] = '\0';

  const char* out =
      crypt_rn(data->input, data->setting, data.get(), static_cast<int>(sizeof(crypt_data)));
  if (!crypt_ok(out))
    return false;
  // libxcrypt reads only the setting prefix of `hash` (a truncated hash still
  // yields a full result), so the lengths must match before comparing.
  std::size_t n = std::strlen(out);
  return n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
}

} // namespace cti
