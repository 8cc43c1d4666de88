#pragma once

// Fixed-window counters per key (a client IP, an app id), thread-safe: the
// brute-force brake on credentials and the per-app request budget.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cti {

class window_limiter {
public:
  using clock = std::chrono::steady_clock;

  /// At most `limit` events per key per `window`; a limit of 0 never limits.
  window_limiter(int64_t limit, std::chrono::seconds window);

  /// Counts one event of `key` if its budget allows; else answers the
  /// seconds until it does (and counts nothing). 0: admitted.
  int64_t admit(std::string_view key, clock::time_point now = clock::now());

  bool enabled() const noexcept { return limit_ > 0; }

private:
  struct slot {
    clock::time_point start;
    int64_t count = 0;
  };
  slot& current(std::string_view key, clock::time_point now);
  int64_t wait(const slot& s, clock::time_point now) const;

  int64_t limit_;
  std::chrono::seconds window_;
  std::mutex mu_;
  std::unordered_map<std::string, slot> slots_;
};

} // namespace cti
