#include "domain/metrics.hpp"

#include <cstdio>
#include <fstream>
#include <utility>

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace cti {

std::string render_metrics_json(const metrics_snapshot& m) {
  // In API.md's order; the figures it does not name follow `node`.
  nlohmann::ordered_json j = {
    {"uptime_seconds", m.uptime_seconds},
    {"memory_usage_mb", m.memory_usage_mb},
    {"active_connections", m.active_connections},
    {"total_requests", m.total_requests},
    {"error_rate", m.error_rate},
    {"avg_response_time_ms", m.avg_response_time_ms},
    {"database_connection_pool",
     {{"idle", m.pool.idle}, {"active", m.pool.active}, {"waiting", m.pool.waiting}}},
    {"event_processor",
     {{"processed_last_minute", m.events.processed_last_minute},
      {"queue_length", m.events.queue_length},
      {"error_count", m.events.error_count},
      {"avg_processing_time_ms", m.events.avg_processing_time_ms},
      {"dead", m.events.dead}}},
    {"websocket",
     {{"connections", m.websocket.connections},
      {"messages_sent", m.websocket.messages_sent},
      {"dropped_slow_consumers", m.websocket.dropped_slow_consumers}}},
    {"node", m.node},
    {"auth",
     {{"bcrypt_verifications", m.auth.bcrypt_verifications},
      {"key_cache_hits", m.auth.key_cache_hits}}},
    {"cluster",
     {{"enabled", m.cluster.enabled},
      {"peers", m.cluster.peers},
      {"messages_sent", m.cluster.messages_sent},
      {"messages_received", m.cluster.messages_received},
      {"links_lost", m.cluster.links_lost}}},
    {"internal_failures",
     {{"queue_poller", m.internal_failures.queue_poller},
      {"http_handler", m.internal_failures.http_handler},
      {"connection", m.internal_failures.connection},
      {"tenant", m.internal_failures.tenant}}},
  };
  return j.dump();
}

namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

/// The `# HELP` and `# TYPE` lines of a metric family.
void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void metric(std::string& out, const char* name, const char* type, const char* help,
            double value, const std::string& labels) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  family(out, name, type, help);
  out += name;
  out += labels;
  out += ' ';
  out += buf;
  out += '\n';
}

void histogram(std::string& out, const char* name, const char* help, const std::string& labels,
               const latency_histogram::snapshot& h, bool header) {
  char buf[64];
  if (header)
    family(out, name, "histogram", help);
  for (std::size_t i = 0; i <= latency_histogram::bounds.size(); ++i) {
    out += name;
    out += "_bucket{";
    out += labels;
    out += labels.empty() ? "le=\"" : ",le=\"";
    if (i < latency_histogram::bounds.size()) {
      std::snprintf(buf, sizeof buf, "%g", latency_histogram::bounds[i]);
      out += buf;
    } else {
      out += "+Inf";
    }
    std::snprintf(buf, sizeof buf, "\"} %llu\n", static_cast<unsigned long long>(h.cumulative[i]));
    out += buf;
  }
  std::snprintf(buf, sizeof buf, "%.9g", h.sum_seconds);
  out += name;
  out += "_sum{" + labels + "} " + buf + "\n";
  out += name;
  out += "_count{" + labels + "} " + std::to_string(h.count) + "\n";
}

} // namespace

std::string render_metrics_prometheus(const metrics_snapshot& m) {
  std::string out;
  std::string l = "{node=\"" + escape_label(m.node) + "\"}";
  auto d = [](auto v) { return static_cast<double>(v); };
  metric(out, "cti_uptime_seconds", "gauge", "Seconds since the node started.", m.uptime_seconds, l);
  metric(out, "cti_memory_usage_mb", "gauge", "Resident memory in MiB.", m.memory_usage_mb, l);
  metric(out, "cti_active_connections", "gauge", "Open HTTP and WebSocket connections.", d(m.active_connections), l);
  metric(out, "cti_requests_total", "counter", "HTTP responses sent since start.", d(m.total_requests), l);
  metric(out, "cti_error_rate", "gauge", "Fraction of responses with status >= 500 over the last 5 minutes.", m.error_rate, l);
  metric(out, "cti_avg_response_time_ms", "gauge", "Mean response time over the last 5 minutes.", m.avg_response_time_ms, l);
  metric(out, "cti_db_pool_idle", "gauge", "Idle database connections.", d(m.pool.idle), l);
  metric(out, "cti_db_pool_active", "gauge", "Database connections running a job.", d(m.pool.active), l);
  metric(out, "cti_db_pool_waiting", "gauge", "Jobs waiting for a database connection.", d(m.pool.waiting), l);
  metric(out, "cti_events_processed_last_minute", "gauge", "Webhook events processed in the last minute.", d(m.events.processed_last_minute), l);
  metric(out, "cti_events_queue_length", "gauge", "Webhook events waiting to be processed.", d(m.events.queue_length), l);
  metric(out, "cti_events_errors_total", "counter", "Failed event processing attempts.", d(m.events.error_count), l);
  metric(out, "cti_events_avg_processing_time_ms", "gauge", "Mean event processing time.", m.events.avg_processing_time_ms, l);
  metric(out, "cti_events_dead", "gauge", "Events that exhausted their attempts.", d(m.events.dead), l);
  metric(out, "cti_websocket_connections", "gauge", "Open WebSocket connections.", d(m.websocket.connections), l);
  metric(out, "cti_websocket_messages_sent_total", "counter", "WebSocket frames sent.", d(m.websocket.messages_sent), l);
  metric(out, "cti_websocket_dropped_slow_consumers_total", "counter", "WebSocket clients closed for not keeping up.", d(m.websocket.dropped_slow_consumers), l);
  metric(out, "cti_auth_bcrypt_verifications_total", "counter", "API key bcrypt verifications run on this node.", d(m.auth.bcrypt_verifications), l);
  metric(out, "cti_auth_key_cache_hits_total", "counter", "API key checks answered from the node's cache.", d(m.auth.key_cache_hits), l);
  metric(out, "cti_dialpad_token_refreshes_total", "counter", "Dialpad token refreshes stored by this node.", d(m.dialpad.refreshes), l);
  metric(out, "cti_dialpad_token_refresh_failures_total", "counter", "Dialpad token refreshes that failed on this node.", d(m.dialpad.refresh_failures), l);
  metric(out, "cti_cluster_peers", "gauge", "Peer nodes linked to this node (0 when clustering is off).", d(m.cluster.peers), l);
  metric(out, "cti_cluster_messages_sent_total", "counter", "Messages this node handed to its peers.", d(m.cluster.messages_sent), l);
  metric(out, "cti_cluster_messages_received_total", "counter", "Messages from peers delivered on this node.", d(m.cluster.messages_received), l);
  metric(out, "cti_cluster_links_lost_total", "counter", "Peer links this node lost.", d(m.cluster.links_lost), l);
  std::string node_label = "node=\"" + escape_label(m.node) + "\"";
  family(out, "cti_internal_failures_total", "counter",
         "Internal failures (exceptions) the node carried on after, by component.");
  const std::pair<const char*, uint64_t> failures[] = {
    {"queue_poller", m.internal_failures.queue_poller},
    {"http_handler", m.internal_failures.http_handler},
    {"connection", m.internal_failures.connection},
    {"tenant", m.internal_failures.tenant}};
  for (const auto& [component, count] : failures)
    out += "cti_internal_failures_total{" + node_label + ",component=\"" + component + "\"} "
           + std::to_string(count) + "\n";
  histogram(out, "cti_event_batch_duration_seconds",
            "Duration of the processing rounds (claim, apply, commit) that processed events.",
            node_label, m.event_rounds, true);
  histogram(out, "cti_event_processing_latency_seconds",
            "Per event, from its arrival to the commit that processed it.",
            node_label, m.event_latency, true);
  histogram(out, "cti_webhook_ingest_duration_seconds",
            "Per acknowledged webhook, from its arrival to the durable commit behind its 200.",
            node_label, m.webhook_ingest, true);
  bool first = true;
  for (const auto& r : m.routes) {
    histogram(out, "cti_http_request_duration_seconds",
              "HTTP response durations by route (webhook routes: the durable ingest latency).",
              node_label + ",route=\"" + escape_label(r.route) + "\"", r.durations, first);
    first = false;
  }
  return out;
}

double resident_memory_mb() {
  // /proc/self/statm: size resident shared ... in pages. A procfs read never
  // blocks on disk.
  std::ifstream in{"/proc/self/statm"};
  long size = 0, resident = 0;
  if (!(in >> size >> resident))
    return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE))
         / (1024.0 * 1024.0);
}

} // namespace cti
