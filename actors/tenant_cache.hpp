#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "actors/messages.hpp"

namespace cti {

/// Read-mostly cache of app lookups, shared by every request handler on the
/// node. Hits are served under a shared lock without any actor round trip;
/// the tenant registry actor fills it (one database load per key however
/// many requests miss at once) and empties it on invalidation.
class tenant_cache {
public:
  using clock_type = std::chrono::steady_clock;

  /// The cached app with this id, unless missing or expired.
  std::optional<app_info> find_by_id(const std::string& id, clock_type::time_point now = clock_type::now()) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto it = by_id_.find(id);
    if (it == by_id_.end() || it->second.expires <= now)
      return std::nullopt;
    return it->second.info;
  }

  /// The cached app registered for this org, unless missing or expired.
  std::optional<app_info> find_by_org(int64_t org, clock_type::time_point now = clock_type::now()) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto it = by_org_.find(org);
    if (it == by_org_.end() || it->second.expires <= now)
      return std::nullopt;
    return it->second.info;
  }

  /// Stores a lookup by id until `expires`.
  void put_id(const std::string& id, app_info info, clock_type::time_point expires) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    by_id_[id] = {std::move(info), expires};
  }

  /// Stores a lookup by org until `expires`.
  void put_org(int64_t org, app_info info, clock_type::time_point expires) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    by_org_[org] = {std::move(info), expires};
  }

  /// A verified (or refused) API key, by the SHA-256 fingerprint of the key.
  struct key_entry {
    app_auth auth;
    std::string hash;   ///< The bcrypt hash it was verified against (empty: refused).
    clock_type::time_point expires;
  };

  /// The cached answer for the key with this fingerprint, unless expired.
  std::optional<app_auth> find_key(const std::string& fingerprint,
                                   clock_type::time_point now = clock_type::now()) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto it = by_key_.find(fingerprint);
    if (it == by_key_.end() || it->second.expires <= now)
      return std::nullopt;
    return it->second.auth;
  }

  /// The entry for this fingerprint, expired or not (for revalidation).
  std::optional<key_entry> key_entry_of(const std::string& fingerprint) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto it = by_key_.find(fingerprint);
    if (it == by_key_.end())
      return std::nullopt;
    return it->second;
  }

  /// Stores the answer for a key.
  void put_key(const std::string& fingerprint, key_entry e) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    if (by_key_.size() >= max_keys)
      by_key_.clear(); // bounded: a flood of random keys cannot grow it without end
    by_key_[fingerprint] = std::move(e);
  }

  /// Forgets everything about app `id` (by id, by org, and its keys).
  void erase_app(const std::string& id) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    by_id_.erase(id);
    std::erase_if(by_org_, [&](const auto& kv) { return kv.second.info.id == id; });
    std::erase_if(by_key_, [&](const auto& kv) { return kv.second.auth.app_id == id; });
  }

  /// bcrypt verifications run on this node (the benchmark shows one per key).
  std::atomic<uint64_t> bcrypt_verifications{0};
  /// Key checks answered from memory.
  std::atomic<uint64_t> key_cache_hits{0};

private:
  struct entry {
    app_info info;
    clock_type::time_point expires;
  };
  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, entry> by_id_;
  std::unordered_map<int64_t, entry> by_org_;
  std::unordered_map<std::string, key_entry> by_key_;
  static constexpr std::size_t max_keys = 100000;
};

} // namespace cti
