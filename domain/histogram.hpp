#pragma once

// A latency histogram with fixed buckets, updated lock-free from any thread,
// rendered as a Prometheus histogram.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace cti {

class latency_histogram {
public:
  /// Upper bounds of the buckets, in seconds (then +Inf).
  static constexpr std::array<double, 14> bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01,  0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1.0,   2.5,   5.0,   10.0};

  struct snapshot {
    std::array<uint64_t, bounds.size() + 1> cumulative{}; ///< Per bound, then +Inf.
    uint64_t count = 0;
    double sum_seconds = 0;
  };

  void observe(std::chrono::microseconds d) noexcept {
    auto us = d.count() < 0 ? 0 : d.count();
    double s = static_cast<double>(us) / 1e6;
    std::size_t i = 0;
    while (i < bounds.size() && s > bounds[i])
      ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(static_cast<uint64_t>(us), std::memory_order_relaxed);
  }

  snapshot read() const noexcept {
    snapshot out;
    uint64_t running = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      running += buckets_[i].load(std::memory_order_relaxed);
      out.cumulative[i] = running;
    }
    out.count = running;
    out.sum_seconds = static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6;
    return out;
  }

private:
  std::array<std::atomic<uint64_t>, bounds.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_us_{0};
};

} // namespace cti
