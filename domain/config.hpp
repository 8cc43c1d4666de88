#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cti {

/// Deployment mode: `production` refuses to start without its secrets.
enum class run_mode { production, development };

/// Log line format.
enum class log_format { json, text };

/// One Dialpad OAuth environment (sandbox or production).
struct dialpad_env_config {
  std::string client_id;
  std::string client_secret;
  std::string base_url;
  std::string redirect_uri;
};

/// Everything the server reads from its environment, validated.
///
/// Every field is documented, with its variable and default, in
/// `config/cti-server.env.example`.
struct config {
  run_mode mode = run_mode::production;       ///< CTI_ENV
  uint16_t port = 4000;                       ///< PORT
  std::string database_url;                   ///< DATABASE_URL, or built from DB_*
  /// MIGRATION_DATABASE_URL: the tables' owner, used only to apply
  /// migrations (at start-up and by `cti-server migrate`); empty means
  /// DATABASE_URL migrates too. See migration_conninfo().
  std::string migration_database_url;
  int db_pool_min = 2;                        ///< DB_POOL_MIN
  int db_pool_max = 10;                       ///< DB_POOL_MAX
  std::string log_level = "info";             ///< LOG_LEVEL: trace|debug|info|warn|error|critical|off
  log_format log_fmt = log_format::json;      ///< LOG_FORMAT
  std::string internal_api_secret;            ///< INTERNAL_API_SECRET
  std::string dialpad_webhook_secret;         ///< DIALPAD_WEBHOOK_SECRET
  std::string database_encryption_key;        ///< DATABASE_ENCRYPTION_KEY (raw 32 bytes once decoded)
  dialpad_env_config dialpad_sandbox;         ///< DIALPAD_SANDBOX_*
  dialpad_env_config dialpad_production;      ///< DIALPAD_PROD_*
  std::string dialpad_scopes = "calls:list recordings_export offline_access"; ///< DIALPAD_SCOPES
  std::string tls_cert_file;                  ///< TLS_CERT_FILE
  std::string tls_key_file;                   ///< TLS_KEY_FILE
  std::vector<std::string> cors_allowed_origins; ///< CORS_ALLOWED_ORIGINS (comma list)
  int event_poll_interval_ms = 5000;          ///< EVENT_POLL_INTERVAL_MS
  int event_batch_size = 50;                  ///< EVENT_BATCH_SIZE
  int event_batch_max = 500;                  ///< EVENT_BATCH_MAX (rounds while a backlog lasts)
  int event_max_attempts = 8;                 ///< EVENT_MAX_ATTEMPTS
  int event_pollers = 2;                      ///< EVENT_POLLERS (queue pollers on this node)
  std::size_t webhook_max_body_bytes = 5 * 1024 * 1024; ///< WEBHOOK_MAX_BODY_BYTES
  int ws_heartbeat_seconds = 30;              ///< WS_HEARTBEAT_SECONDS
  int ws_max_queued_messages = 1024;          ///< WS_MAX_QUEUED_MESSAGES
  std::size_t ws_max_queued_bytes = 8u << 20;  ///< WS_MAX_QUEUED_BYTES
  int ws_replay_max = 1000;                   ///< WS_REPLAY_MAX
  int api_key_bcrypt_cost = 10;               ///< API_KEY_BCRYPT_COST (4..15)
  int refresh_margin_seconds = 300;           ///< REFRESH_MARGIN
  int dialpad_timeout_ms = 10000;             ///< DIALPAD_TIMEOUT_MS (one call to Dialpad, connect to last byte)
  int refresh_retry_base_ms = 30000;          ///< REFRESH_RETRY_BASE_MS (first retry after a failed refresh)
  int dialpad_reconcile_seconds = 60;         ///< DIALPAD_RECONCILE_SECONDS (reread of connected accounts)
  int retention_interval_seconds = 3600;      ///< RETENTION_INTERVAL_SECONDS (0: only on demand)
  int retention_batch_size = 1000;            ///< RETENTION_BATCH_SIZE rows per statement and transaction
  int auth_failures_per_minute = 300;         ///< AUTH_FAILURES_PER_MINUTE per client IP (0: off)
  int api_rate_limit_per_minute = 0;          ///< API_RATE_LIMIT_PER_MINUTE per app (0: off)
  int webhook_rate_limit_per_minute = 600000; ///< WEBHOOK_RATE_LIMIT_PER_MINUTE per app per node (0: off)
  int ingest_max_delay_us = 1000;             ///< INGEST_MAX_DELAY_US
  int ingest_max_batch = 256;                 ///< INGEST_MAX_BATCH
  int ingest_max_in_flight = 1;               ///< INGEST_MAX_IN_FLIGHT (batches committing at once)
  /// INGEST_MAX_CONNECTIONS: database connections ingest holds at most
  /// (default: half of DB_POOL_MAX, at least 1).
  int ingest_max_connections = 0;
  int max_connections = 10000;                ///< MAX_CONNECTIONS
  int shutdown_grace_seconds = 10;            ///< SHUTDOWN_GRACE_SECONDS
  std::string node_name;                      ///< NODE_NAME (default hostname-pid)
  std::optional<uint16_t> cluster_port;       ///< CLUSTER_PORT (clustering off when unset)
  std::vector<std::string> cluster_seeds;     ///< CLUSTER_SEEDS (host:port comma list)
  std::string cluster_advertise_host;         ///< CLUSTER_ADVERTISE_HOST (default: the host name)
  std::string cluster_bind;                   ///< CLUSTER_BIND (default: all interfaces)
  int cluster_heartbeat_ms = 2000;            ///< CLUSTER_HEARTBEAT_MS (stale after 3 missed)
  std::string cluster_tls_cert_file;          ///< CLUSTER_TLS_CERT_FILE (with KEY and CA: TLS links)
  std::string cluster_tls_key_file;           ///< CLUSTER_TLS_KEY_FILE
  std::string cluster_tls_ca_file;            ///< CLUSTER_TLS_CA_FILE (peers' certificates must chain to it)
  int http_threads = 0;                       ///< HTTP_THREADS (0: one per core)
  /// SCHEDULER_THREADS: CAF scheduler workers (0: one per core, at least 2).
  int scheduler_threads = 0;
  std::size_t http_max_body_bytes = 1024 * 1024; ///< HTTP_MAX_BODY_BYTES (non-webhook requests)
  int http_header_timeout_seconds = 10;       ///< HTTP_HEADER_TIMEOUT_SECONDS (slow-client limit)
  int http_idle_timeout_seconds = 60;         ///< HTTP_IDLE_TIMEOUT_SECONDS (keep-alive idle)
  int db_pool_wait_ms = 2000;                 ///< DB_POOL_WAIT_MS (bounded wait for a free connection)
  int db_pool_max_waiting = 1000;             ///< DB_POOL_MAX_WAITING (queue bound; past it: unavailable)
  int api_response_cache_ms = 1000;           ///< API_RESPONSE_CACHE_MS (call list / call reads; 0: off)
  std::vector<std::string> generated_secrets; ///< Secrets generated in development mode (variable names)

  /// True in development mode (`CTI_ENV=development`).
  bool is_development() const noexcept { return mode == run_mode::development; }

  /// The connection that applies migrations: MIGRATION_DATABASE_URL, else DATABASE_URL.
  const std::string& migration_conninfo() const noexcept {
    return migration_database_url.empty() ? database_url : migration_database_url;
  }
};

/// One problem found while reading the configuration.
struct config_error {
  std::string variable; ///< The variable at fault, e.g. `PORT`.
  std::string message;  ///< What is wrong with it (never its value when it is a secret).
};

/// Environment-like key/value view used as input.
using env_map = std::map<std::string, std::string>;

/// Reads and validates the configuration from `env`. Appends every problem
/// found to `errors` (it does not stop at the first) and returns the config
/// with defaults wherever a value was missing or bad.
config load_config(const env_map& env, std::vector<config_error>& errors);

/// Reads `KEY=VALUE` lines (blank lines and `#` comments ignored, optional
/// `export ` prefix, optional single or double quotes around the value) from
/// `text` into `out`, without overriding keys already in `out`. Returns the
/// 1-based numbers of lines it could not parse.
std::vector<int> merge_env_file(const std::string& text, env_map& out);

/// Snapshot of the process environment.
env_map process_environment();

/// The names of the variables that hold secrets (for redaction).
const std::vector<std::string>& secret_variables();

/// The password inside a PostgreSQL connection string: the URL form
/// (`postgresql://user:pass@host/db`, percent-decoded) or the keyword form
/// (`... password=pass ...`, optionally single-quoted); empty when none.
std::string conninfo_password(std::string_view conninfo);

} // namespace cti
