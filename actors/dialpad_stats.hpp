#pragma once

#include <atomic>
#include <cstdint>

namespace cti {

/// Node-wide Dialpad token figures for `/metrics` (thread-safe).
struct dialpad_stats {
  std::atomic<uint64_t> refreshes{0};        ///< New pairs stored by this node.
  std::atomic<uint64_t> refresh_failures{0}; ///< Failed refresh attempts of this node.
};

} // namespace cti
