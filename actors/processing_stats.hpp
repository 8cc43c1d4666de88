#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "domain/histogram.hpp"

namespace cti {

/// Node-wide event-processing figures for `/metrics` (thread-safe).
class processing_stats {
public:
  using clock_type = std::chrono::steady_clock;

  /// Records one finished round that processed `events` events in `took`.
  void record_round(uint32_t events, uint32_t failures, std::chrono::microseconds took,
                    clock_type::time_point at = clock_type::now()) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto sec = std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
    auto& b = buckets_[static_cast<std::size_t>(sec % 60)];
    if (b.second != sec)
      b = {sec, 0};
    b.events += events;
    errors_ += failures;
    if (events + failures > 0)
      rounds_.observe(took);
    if (events > 0) {
      total_events_ += events;
      total_micros_ += static_cast<uint64_t>(took.count());
    }
  }

  /// Events processed over the last 60 seconds.
  uint64_t processed_last_minute(clock_type::time_point at = clock_type::now()) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto now = std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
    uint64_t sum = 0;
    for (const auto& b : buckets_)
      if (b.second >= 0 && now - b.second < 60 && b.second <= now)
        sum += b.events;
    return sum;
  }

  /// Handler failures since start.
  uint64_t error_count() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return errors_;
  }

  /// Mean processing time per event since start, in ms (round time / events).
  double avg_processing_time_ms() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return total_events_ == 0 ? 0.0
                              : static_cast<double>(total_micros_) / 1000.0
                                  / static_cast<double>(total_events_);
  }

  /// The last queue counts read from the database, and when (for /metrics,
  /// so that scrapes do not each count the queue).
  struct queue_figures {
    uint64_t pending = 0;
    uint64_t dead = 0;
    clock_type::time_point at{};
  };

  /// Stores fresh queue counts.
  void record_queue(uint64_t pending, uint64_t dead, clock_type::time_point at = clock_type::now()) {
    std::lock_guard<std::mutex> guard{mtx_};
    queue_ = {pending, dead, at};
  }

  /// The last queue counts.
  queue_figures queue() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return queue_;
  }

  /// Durations of the rounds that processed something.
  latency_histogram::snapshot round_durations() const { return rounds_.read(); }

  /// One event processed (committed) `waited` after it arrived.
  void record_event_latency(std::chrono::microseconds waited) noexcept { latency_.observe(waited); }
  /// Arrival → processed, per event.
  latency_histogram::snapshot event_latencies() const { return latency_.read(); }

  /// One webhook acknowledged (200) `took` after it arrived: the durable
  /// ingest latency, commit included.
  void record_ingest(std::chrono::microseconds took) noexcept { ingest_.observe(took); }
  latency_histogram::snapshot ingest_latencies() const { return ingest_.read(); }

private:
  struct bucket {
    int64_t second = -1;
    uint64_t events = 0;
  };
  mutable std::mutex mtx_;
  std::array<bucket, 60> buckets_{};
  uint64_t errors_ = 0;
  uint64_t total_events_ = 0;
  uint64_t total_micros_ = 0;
  queue_figures queue_;
  latency_histogram rounds_;
  latency_histogram latency_;
  latency_histogram ingest_;
};

} // namespace cti
