#include "domain/seal.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "domain/secure_random.hpp"

namespace cti {

namespace {

constexpr std::size_t key_bytes = 32;

/// Largest piece handed to one EVP_CipherUpdate call: the length is an int,
/// and OpenSSL refuses lengths within a block size of INT_MAX.
constexpr std::size_t max_update_bytes = std::size_t{1} << 30;

struct cipher_ctx_deleter {
  void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};

using cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_deleter>;

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

unsigned char* bytes(std::string& s) {
  return reinterpret_cast<unsigned char*>(s.data());
}

/// Sets up `ctx` for AES-256-GCM in the given direction (1 encrypt, 0 decrypt).
bool init(EVP_CIPHER_CTX* ctx, int encrypt, std::string_view key, std::string_view nonce) {
  return EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), nullptr, nullptr, nullptr, encrypt) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce.size()),
                             nullptr) == 1 &&
         EVP_CipherInit_ex(ctx, nullptr, nullptr, bytes(key), bytes(nonce), encrypt) == 1;
}

/// Feeds `in` through EVP_CipherUpdate in int-sized chunks, writing to `out`
/// (null for associated data). GCM is a stream mode: output length equals
/// input length.
bool update(EVP_CIPHER_CTX* ctx, unsigned char* out, std::string_view in) {
  std::size_t done = 0;
  while (done < in.size()) {
    auto chunk = std::min(in.size() - done, max_update_bytes);
    int len = 0;
    if (EVP_CipherUpdate(ctx, out != nullptr ? out + done : nullptr, &len, bytes(in) + done,
                         static_cast<int>(chunk)) != 1 ||
        static_cast<std::size_t>(len) != chunk)
      return false;
    done += chunk;
  }
  return true;
}

} // namespace

std::string seal(std::string_view key32, std::string_view plaintext, std::string_view aad) {
  if (key32.size() != key_bytes)
    throw std::invalid_argument("seal: key must be 32 bytes");

  auto nonce = random_bytes(seal_nonce_bytes);
  std::string out;
  out.reserve(seal_overhead + plaintext.size());
  out.push_back(static_cast<char>(seal_version));
  out += nonce;
  out.resize(1 + seal_nonce_bytes + plaintext.size() + seal_tag_bytes);
  unsigned char* ct = bytes(out) + 1 + seal_nonce_bytes;

  cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
  int final_len = 0;
  if (!ctx || !init(ctx.get(), 1, key32, nonce) || !update(ctx.get(), nullptr, aad) ||
      !update(ctx.get(), ct, plaintext) ||
      EVP_EncryptFinal_ex(ctx.get(), ct + plaintext.size(), &final_len) != 1 ||
      final_len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(seal_tag_bytes),
                          ct + plaintext.size()) != 1)
    throw std::runtime_error("seal: encryption failed");
  return out;
}

std::optional<std::string> open_sealed(std::string_view key32, std::string_view sealed,
                                       std::string_view aad) {
  if (key32.size() != key_bytes || sealed.size() < seal_overhead ||
      static_cast<unsigned char>(sealed[0]) != seal_version)
    return std::nullopt;
  auto nonce = sealed.substr(1, seal_nonce_bytes);
  auto ciphertext = sealed.substr(1 + seal_nonce_bytes, sealed.size() - seal_overhead);
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer; copy the tag out.
  unsigned char tag[seal_tag_bytes];
  std::copy_n(bytes(sealed) + sealed.size() - seal_tag_bytes, seal_tag_bytes, tag);

  try {
    std::string plain(ciphertext.size(), '\0');
    cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
    int final_len = 0;
    bool ok = ctx && init(ctx.get(), 0, key32, nonce) && update(ctx.get(), nullptr, aad) &&
              update(ctx.get(), bytes(plain), ciphertext) &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG,
                                  static_cast<int>(seal_tag_bytes), tag) == 1 &&
              EVP_DecryptFinal_ex(ctx.get(), bytes(plain) + plain.size(), &final_len) == 1 &&
              final_len == 0;
    if (!ok) {
      // Never leave unauthenticated plaintext lying around in freed memory.
      OPENSSL_cleanse(plain.data(), plain.size());
      return std::nullopt;
    }
    return plain;
  } catch (...) {
    // Only allocation can throw here; the contract is "never throws".
    return std::nullopt;
  }
}

} // namespace cti
