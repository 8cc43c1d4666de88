#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "domain/histogram.hpp"
#include "domain/internal_failures.hpp"

namespace cti {

/// Every figure `/metrics` reports, as of one moment on one node.
struct metrics_snapshot {
  double uptime_seconds = 0;
  double memory_usage_mb = 0;
  int64_t active_connections = 0;
  uint64_t total_requests = 0;
  double error_rate = 0;
  double avg_response_time_ms = 0;
  struct {
    uint32_t idle = 0, active = 0, waiting = 0;
  } pool;
  struct {
    uint64_t processed_last_minute = 0, queue_length = 0, error_count = 0, dead = 0;
    double avg_processing_time_ms = 0;
  } events;
  struct {
    uint64_t connections = 0, messages_sent = 0, dropped_slow_consumers = 0;
  } websocket;
  struct {
    uint64_t bcrypt_verifications = 0, key_cache_hits = 0;
  } auth;
  std::string node;
  /// Response durations per route (routes with at least one response).
  struct route_figures {
    std::string route;
    latency_histogram::snapshot durations;
  };
  std::vector<route_figures> routes;
  /// Durations of the processing rounds that processed something.
  latency_histogram::snapshot event_rounds;
  /// Per event: arrival → processed (committed).
  latency_histogram::snapshot event_latency;
  /// Per acknowledged webhook: arrival → 200 (after the durable commit).
  latency_histogram::snapshot webhook_ingest;
  struct {
    uint64_t refreshes = 0, refresh_failures = 0;
  } dialpad;
  struct {
    bool enabled = false;
    uint64_t peers = 0, messages_sent = 0, messages_received = 0, links_lost = 0;
  } cluster;
  /// Internal failures the node carried on after.
  internal_failure_counts internal_failures;
};

/// The contract's JSON body for `/metrics`.
std::string render_metrics_json(const metrics_snapshot& m);

/// The same figures in the Prometheus text exposition format (`cti_` names).
std::string render_metrics_prometheus(const metrics_snapshot& m);

/// Resident memory of this process in MiB (0 when it cannot be read).
double resident_memory_mb();

} // namespace cti
