#pragma once

#include <atomic>
#include <chrono>
#include <memory>
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
    if (it != by_key_.end() && it->second.expires > now)
      return it->second.auth;
    auto bad = bad_keys_.find(fingerprint);
    if (bad != bad_keys_.end() && bad->second > now)
      return app_auth{};
    return std::nullopt;
  }

  /// The entry for this fingerprint, expired or not (for revalidation).
  std::optional<key_entry> key_entry_of(const std::string& fingerprint) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto it = by_key_.find(fingerprint);
    if (it == by_key_.end())
      return std::nullopt;
    return it->second;
  }

  /// Stores the answer for a key. Refused keys live in a map of their own,
  /// so a flood of random keys cannot push the verified ones out (which
  /// would cost a bcrypt each to get back).
  void put_key(const std::string& fingerprint, key_entry e) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    if (!e.auth.valid) {
      if (bad_keys_.size() >= max_keys)
        bad_keys_.clear();
      bad_keys_[fingerprint] = e.expires;
      return;
    }
    if (by_key_.size() >= max_keys)
      by_key_.clear();
    by_key_[fingerprint] = std::move(e);
  }

  /// Forgets everything about app `id` (by id, by org, and its keys).
  void erase_app(const std::string& id) {
    bump(id);
    std::unique_lock<std::shared_mutex> guard{mtx_};
    by_id_.erase(id);
    // "No app for this org" answers go too: the change may be the
    // registration of that org.
    std::erase_if(by_org_, [&](const auto& kv) {
      return kv.second.info.id == id || !kv.second.info.found;
    });
    std::erase_if(by_key_, [&](const auto& kv) { return kv.second.auth.app_id == id; });
  }

  // -- rendered answers of the hot reads (call list, one call) -----------------
  //
  // Keyed by app and by the query's exact arguments. Every change to an
  // app's calls or mappings that this node hears of bumps the app's
  // generation (applied events from the pollers, a CRM context, mapping
  // changes, app changes), which drops its answers; an answer computed
  // while a bump happened is not stored. The lifetime bounds staleness for
  // changes made where this node cannot hear them (another node before the
  // cluster hub carries its events, a DBA).

  using body_ptr = std::shared_ptr<const std::string>;

  /// The app's current generation (read before running the query).
  uint64_t generation(const std::string& app) const {
    std::shared_lock<std::shared_mutex> guard{resp_mtx_};
    auto it = generations_.find(app);
    return (it == generations_.end() ? 0 : it->second) + epoch_;
  }

  /// A stored answer for `key` of `app`, unless expired.
  body_ptr find_response(const std::string& app, const std::string& key,
                         clock_type::time_point now = clock_type::now()) const {
    std::shared_lock<std::shared_mutex> guard{resp_mtx_};
    auto a = responses_.find(app);
    if (a == responses_.end())
      return nullptr;
    auto it = a->second.find(key);
    if (it == a->second.end() || it->second.expires <= now)
      return nullptr;
    return it->second.body;
  }

  /// Stores an answer computed at generation `gen` (dropped if the app
  /// changed meanwhile).
  void put_response(const std::string& app, const std::string& key, uint64_t gen, body_ptr body,
                    clock_type::time_point expires) {
    if (body->size() > max_response_bytes)
      return;
    std::unique_lock<std::shared_mutex> guard{resp_mtx_};
    auto g = generations_.find(app);
    if ((g == generations_.end() ? 0 : g->second) + epoch_ != gen)
      return;
    if (response_count_ >= max_responses || response_bytes_ + body->size() > max_total_bytes) {
      // Bounded: start over (the entries live a second anyway).
      responses_.clear();
      response_count_ = 0;
      response_bytes_ = 0;
    }
    auto& slot = responses_[app][key];
    if (slot.body) {
      response_bytes_ -= slot.body->size();
    } else {
      ++response_count_;
    }
    response_bytes_ += body->size();
    slot = {std::move(body), expires};
  }

  /// The app's data changed: forget its answers.
  void bump(const std::string& app) {
    std::unique_lock<std::shared_mutex> guard{resp_mtx_};
    ++generations_[app];
    if (auto a = responses_.find(app); a != responses_.end()) {
      response_count_ -= a->second.size();
      for (const auto& [k, e] : a->second)
        response_bytes_ -= e.body->size();
      responses_.erase(a);
    }
  }

  /// Every app's data may have changed (a retention run): forget all
  /// answers, and keep none computed meanwhile.
  void bump_all() {
    std::unique_lock<std::shared_mutex> guard{resp_mtx_};
    ++epoch_;
    responses_.clear();
    response_count_ = 0;
    response_bytes_ = 0;
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
  std::unordered_map<std::string, clock_type::time_point> bad_keys_;
  static constexpr std::size_t max_keys = 100000;

  struct response_entry {
    body_ptr body;
    clock_type::time_point expires;
  };
  mutable std::shared_mutex resp_mtx_;
  std::unordered_map<std::string, uint64_t> generations_;
  uint64_t epoch_ = 0;  ///< Added to every app's generation (bump_all).
  std::unordered_map<std::string, std::unordered_map<std::string, response_entry>> responses_;
  std::size_t response_count_ = 0;
  std::size_t response_bytes_ = 0;
  static constexpr std::size_t max_responses = 4096;
  static constexpr std::size_t max_total_bytes = 64 * 1024 * 1024;
  static constexpr std::size_t max_response_bytes = 512 * 1024;
};

} // namespace cti
