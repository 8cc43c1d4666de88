#pragma once

// Counts of this process's internal failures: exceptions (bugs, memory)
// that ended a part of the node, which then carried on without it (a queue
// poller replaced, an HTTP request answered 500, a connection dropped, an
// app's stream restarted). Each is logged at error level where it happens;
// these counts are for `/metrics`, to alert on.

#include <atomic>
#include <cstdint>

namespace cti {

/// Where an internal failure happened.
enum class failure_site { queue_poller, http_handler, connection, tenant };

/// Since the process started, per site.
struct internal_failure_counts {
  uint64_t queue_poller = 0, http_handler = 0, connection = 0, tenant = 0;
};

namespace detail {
inline std::atomic<uint64_t> internal_failures[4];
} // namespace detail

/// Counts one failure at `site` (thread-safe).
inline void count_internal_failure(failure_site site) {
  detail::internal_failures[static_cast<int>(site)].fetch_add(1, std::memory_order_relaxed);
}

/// The counts so far.
inline internal_failure_counts internal_failures() {
  auto at = [](failure_site s) {
    return detail::internal_failures[static_cast<int>(s)].load(std::memory_order_relaxed);
  };
  return {at(failure_site::queue_poller), at(failure_site::http_handler),
          at(failure_site::connection), at(failure_site::tenant)};
}

} // namespace cti
