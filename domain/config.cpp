#include "domain/config.hpp"
#include "domain/cors.hpp"
#include "domain/url.hpp"

#include <cctype>

#include "domain/secure_random.hpp"

#include <unistd.h> // environ

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <string_view>
#include <system_error>
#include <utility>

namespace cti {
namespace {

constexpr long long kib = 1024;
constexpr long long gib = 1024 * 1024 * 1024;

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && to_lower(s.substr(0, prefix.size())) == prefix;
}

bool is_secret(std::string_view name) {
  const auto& names = secret_variables();
  return std::find(names.begin(), names.end(), name) != names.end();
}

/// A non-secret value quoted for an error message: cut to a sane length and
/// with control bytes replaced, so a stray value cannot garble a log line.
std::string shown(std::string_view value) {
  constexpr std::size_t max_shown = 80;
  std::string out = "'";
  for (std::size_t i = 0; i < value.size() && i < max_shown; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : value[i]);
  }
  if (value.size() > max_shown)
    out += "...";
  out += "'";
  return out;
}

/// Parses the whole of `s` as a decimal integer (optional leading `-`).
std::optional<long long> parse_integer(std::string_view s) noexcept {
  if (s.empty())
    return std::nullopt;
  long long value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size())
    return std::nullopt;
  return value;
}

/// Parses a TCP port in 1..65535.
std::optional<uint16_t> parse_port(std::string_view s) noexcept {
  auto v = parse_integer(s);
  if (!v || *v < 1 || *v > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(*v);
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<std::string> decode_hex(std::string_view s) {
  if (s.size() % 2 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(s.size() / 2);
  for (std::size_t i = 0; i < s.size(); i += 2) {
    int hi = hex_digit(s[i]);
    int lo = hex_digit(s[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

/// Decodes standard (`+/`) or URL-safe (`-_`) base64, padded or not. Rejects
/// mixed alphabets and non-zero trailing bits, so each key has one spelling.
std::optional<std::string> decode_base64(std::string_view s) {
  auto padded = s.find('=');
  if (padded != std::string_view::npos) {
    // Padding: one or two `=` at the very end of a whole number of quads.
    auto pad = s.substr(padded);
    if (pad.size() > 2 || pad.find_first_not_of('=') != std::string_view::npos || s.size() % 4 != 0)
      return std::nullopt;
    s = s.substr(0, padded);
  }
  bool standard = false;
  bool url_safe = false;
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : s) {
    int v = -1;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '/') {
      standard = true;
      v = c == '+' ? 62 : 63;
    } else if (c == '-' || c == '_') {
      url_safe = true;
      v = c == '-' ? 62 : 63;
    }
    if (v < 0 || (standard && url_safe))
      return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  // Leftover bits: 6 means a dangling character, anything else must be zero.
  if (bits >= 6 || (buffer & ((1u << bits) - 1)) != 0)
    return std::nullopt;
  return out;
}

/// Quotes a libpq keyword/value conninfo value: single quotes, with `'` and
/// `\` backslash-escaped.
std::string conninfo_quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\')
      out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

/// Splits a comma list, trimming items and dropping empty ones.
std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  while (true) {
    auto comma = s.find(',');
    auto item = trim(s.substr(0, comma));
    if (!item.empty())
      out.emplace_back(item);
    if (comma == std::string_view::npos)
      break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

/// True for `host:port` or `[v6-address]:port`, with port 1..65535.
bool is_host_port(std::string_view s) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || !parse_port(s.substr(colon + 1)))
    return false;
  auto host = s.substr(0, colon);
  if (std::any_of(host.begin(), host.end(), is_space))
    return false;
  if (host.front() == '[')
    return host.size() > 2 && host.back() == ']';
  return host.find_first_of(":[]") == std::string_view::npos;
}

/// Reads variables from the environment and collects the problems found.
class reader {
public:
  reader(const env_map& env, std::vector<config_error>& errors) : env_(env), errors_(errors) {}

  /// The value of `name`; unset and empty are the same.
  std::optional<std::string> get(const std::string& name) const {
    auto it = env_.find(name);
    if (it == env_.end() || it->second.empty())
      return std::nullopt;
    return it->second;
  }

  /// True when `name` is set (not empty).
  bool has(const std::string& name) const { return get(name).has_value(); }

  /// Records one problem with `variable`.
  void fail(const std::string& variable, std::string message) {
    errors_.push_back(config_error{variable, std::move(message)});
  }

  /// Reads an integer in `lo..hi` into `field`; keeps the default otherwise.
  /// Returns true when the variable was set and valid.
  template <class T>
  bool read_int(const std::string& name, T& field, long long lo, long long hi) {
    auto raw = get(name);
    if (!raw)
      return false;
    auto v = parse_integer(*raw);
    if (!v || *v < lo || *v > hi) {
      auto msg = name + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
      if (!is_secret(name))
        msg += ", got " + shown(*raw);
      fail(name, std::move(msg));
      return false;
    }
    field = static_cast<T>(*v);
    return true;
  }

  /// Reads a plain string, keeping `field` (its default) when unset.
  void read_string(const std::string& name, std::string& field) {
    if (auto raw = get(name))
      field = std::move(*raw);
  }

  /// The value of `name` when it says something; blanks only fail (empty
  /// is unset: nothing, and no error).
  std::optional<std::string> get_nonblank(const std::string& name) {
    auto raw = get(name);
    if (raw && raw->find_first_not_of(" \t\r\n") == std::string::npos) {
      fail(name, name + " must not be blank");
      return std::nullopt;
    }
    return raw;
  }

  /// Reads a string that must say something (get_nonblank), keeping
  /// `field` (its default) when unset.
  void read_nonblank(const std::string& name, std::string& field) {
    if (auto raw = get_nonblank(name))
      field = std::move(*raw);
  }

private:
  const env_map& env_;
  std::vector<config_error>& errors_;
};

void read_mode(reader& r, config& cfg) {
  auto raw = r.get("CTI_ENV");
  if (!raw)
    return;
  auto v = to_lower(*raw);
  if (v == "production")
    cfg.mode = run_mode::production;
  else if (v == "development")
    cfg.mode = run_mode::development;
  else
    r.fail("CTI_ENV", "CTI_ENV must be production or development, got " + shown(*raw));
}

void read_logging(reader& r, config& cfg) {
  if (auto raw = r.get("LOG_LEVEL")) {
    static constexpr std::array<std::string_view, 8> levels = {
      "trace", "debug", "info", "warn", "warning", "error", "critical", "off"};
    auto v = to_lower(*raw);
    if (std::find(levels.begin(), levels.end(), v) == levels.end())
      r.fail("LOG_LEVEL", "LOG_LEVEL must be one of trace|debug|info|warn|error|critical|off, got "
                            + shown(*raw));
    else
      cfg.log_level = v == "warning" ? "warn" : v;
  }
  if (auto raw = r.get("LOG_FORMAT")) {
    auto v = to_lower(*raw);
    if (v == "json")
      cfg.log_fmt = log_format::json;
    else if (v == "text")
      cfg.log_fmt = log_format::text;
    else
      r.fail("LOG_FORMAT", "LOG_FORMAT must be json or text, got " + shown(*raw));
  }
}

/// A libpq connection string: a postgresql:// (or postgres://) URI or
/// key=value pairs. It may embed a password, so a message never repeats it.
void read_conninfo(reader& r, const std::string& name, std::string& out) {
  auto url = r.get(name);
  if (!url)
    return;
  if (url->rfind("postgresql://", 0) == 0 || url->rfind("postgres://", 0) == 0
      || url->find('=') != std::string::npos)
    out = std::move(*url);
  else
    r.fail(name, name + " must be a postgresql:// (or postgres://) URI "
                        "or a libpq key=value string");
}

void read_database(reader& r, config& cfg) {
  if (r.get("DATABASE_URL")) {
    read_conninfo(r, "DATABASE_URL", cfg.database_url);
  } else {
    std::string host = "localhost";
    std::string user = "postgres";
    std::string name = "cti";
    uint16_t port = 5432;
    r.read_string("DB_HOST", host);
    r.read_int("DB_PORT", port, 1, 65535);
    r.read_string("DB_USER", user);
    r.read_string("DB_NAME", name);
    auto password = r.get("DB_PASSWORD");
    auto& out = cfg.database_url;
    out = "host=" + conninfo_quote(host) + " port=" + conninfo_quote(std::to_string(port))
          + " user=" + conninfo_quote(user);
    if (password)
      out += " password=" + conninfo_quote(*password);
    out += " dbname=" + conninfo_quote(name);
  }
  read_conninfo(r, "MIGRATION_DATABASE_URL", cfg.migration_database_url);
  bool min_bad = r.get("DB_POOL_MIN") && !r.read_int("DB_POOL_MIN", cfg.db_pool_min, 1, 1000);
  bool max_given = r.get("DB_POOL_MAX").has_value();
  bool max_bad = max_given && !r.read_int("DB_POOL_MAX", cfg.db_pool_max, 1, 1000);
  // A malformed bound has already been reported; comparing it again would
  // only add a confusing second error.
  if (cfg.db_pool_max < cfg.db_pool_min && !min_bad && !max_bad) {
    // Raising only the minimum should not trip over the default maximum.
    if (!max_given)
      cfg.db_pool_max = cfg.db_pool_min;
    else
      r.fail("DB_POOL_MAX", "DB_POOL_MAX (" + std::to_string(cfg.db_pool_max)
                              + ") must be >= DB_POOL_MIN (" + std::to_string(cfg.db_pool_min) + ")");
  }
  r.read_int("DB_POOL_WAIT_MS", cfg.db_pool_wait_ms, 1, 600000);
  r.read_int("API_RESPONSE_CACHE_MS", cfg.api_response_cache_ms, 0, 60000);
  r.read_int("DB_POOL_MAX_WAITING", cfg.db_pool_max_waiting, 0, 1000000);
}

/// Reads a required secret; in development a missing one is generated.
void read_secret(reader& r, config& cfg, const std::string& name, std::string& field) {
  // Blanks only are refused: no client could ever present them (a bearer
  // token or a signature key of spaces), so the server would run unusable.
  if (r.has(name)) {
    if (auto raw = r.get_nonblank(name))
      field = std::move(*raw);
  } else if (cfg.is_development()) {
    field = random_hex(32);
    cfg.generated_secrets.push_back(name);
  } else {
    r.fail(name, name + " is required in production (CTI_ENV=production)");
  }
}

void read_encryption_key(reader& r, config& cfg) {
  const std::string name = "DATABASE_ENCRYPTION_KEY";
  auto raw = r.get(name);
  if (!raw) {
    if (cfg.is_development()) {
      cfg.database_encryption_key = random_bytes(32);
      cfg.generated_secrets.push_back(name);
    } else {
      r.fail(name, name + " is required in production (CTI_ENV=production)");
    }
    return;
  }
  auto key = raw->size() == 64 ? decode_hex(*raw) : decode_base64(*raw);
  if (key && key->size() == 32)
    cfg.database_encryption_key = std::move(*key);
  else
    r.fail(name, name + " must be 64 hex characters or base64 (standard or URL-safe) "
                        "of exactly 32 bytes");
}

/// Checks that a Dialpad base URL is one the HTTP client can call (the same
/// parser) and, in production, that plain HTTP only goes to a loopback host
/// (a local fake in tests).
void check_base_url(reader& r, const config& cfg, const std::string& name, std::string& url) {
  auto parts = parse_http_url(url);
  if (!parts) {
    r.fail(name, name + " must be an http:// or https:// URL, got " + shown(url));
  } else if (!parts->tls && !cfg.is_development() && !is_loopback_host(parts->host)) {
    r.fail(name, name + " must use https:// in production unless it points at a loopback "
                        "host, got " + shown(url));
  }
  // Callers append paths, so drop trailing slashes once here.
  while (url.size() > 1 && url.back() == '/')
    url.pop_back();
}

void read_dialpad(reader& r, const config& cfg, const std::string& prefix,
                  std::string default_base, dialpad_env_config& out) {
  const auto id_var = prefix + "CLIENT_ID";
  const auto secret_var = prefix + "CLIENT_SECRET";
  const auto base_var = prefix + "BASE_URL";
  const auto redirect_var = prefix + "REDIRECT_URI";
  r.read_string(id_var, out.client_id);
  r.read_string(secret_var, out.client_secret);
  out.base_url = std::move(default_base);
  r.read_string(base_var, out.base_url);
  r.read_string(redirect_var, out.redirect_uri);
  if (!out.client_id.empty() && out.client_secret.empty())
    r.fail(secret_var, secret_var + " is required when " + id_var + " is set");
  if (out.client_id.empty() && !out.client_secret.empty())
    r.fail(id_var, id_var + " is required when " + secret_var + " is set");
  check_base_url(r, cfg, base_var, out.base_url);
  if (!out.redirect_uri.empty() && !starts_with_nocase(out.redirect_uri, "https://")
      && !starts_with_nocase(out.redirect_uri, "http://"))
    r.fail(redirect_var, redirect_var + " must be an http:// or https:// URL, got "
                           + shown(out.redirect_uri));
}

void read_tls(reader& r, config& cfg) {
  r.read_string("TLS_CERT_FILE", cfg.tls_cert_file);
  r.read_string("TLS_KEY_FILE", cfg.tls_key_file);
  if (!cfg.tls_cert_file.empty() && cfg.tls_key_file.empty())
    r.fail("TLS_KEY_FILE", "TLS_KEY_FILE is required when TLS_CERT_FILE is set");
  if (cfg.tls_cert_file.empty() && !cfg.tls_key_file.empty())
    r.fail("TLS_CERT_FILE", "TLS_CERT_FILE is required when TLS_KEY_FILE is set");
}

void read_cluster(reader& r, config& cfg) {
  r.read_nonblank("NODE_NAME", cfg.node_name);
  uint16_t port = 0;
  if (r.read_int("CLUSTER_PORT", port, 1, 65535))
    cfg.cluster_port = port;
  if (auto raw = r.get("CLUSTER_SEEDS")) {
    for (auto& seed : split_list(*raw)) {
      if (is_host_port(seed))
        cfg.cluster_seeds.push_back(std::move(seed));
      else
        r.fail("CLUSTER_SEEDS", "CLUSTER_SEEDS entry " + shown(seed)
                                  + " must be host:port with port 1..65535");
    }
  }
  r.read_string("CLUSTER_ADVERTISE_HOST", cfg.cluster_advertise_host);
  r.read_string("CLUSTER_BIND", cfg.cluster_bind);
  r.read_int("CLUSTER_HEARTBEAT_MS", cfg.cluster_heartbeat_ms, 100, 60000);
  r.read_string("CLUSTER_TLS_CERT_FILE", cfg.cluster_tls_cert_file);
  r.read_string("CLUSTER_TLS_KEY_FILE", cfg.cluster_tls_key_file);
  r.read_string("CLUSTER_TLS_CA_FILE", cfg.cluster_tls_ca_file);
  bool cert = !cfg.cluster_tls_cert_file.empty();
  bool key = !cfg.cluster_tls_key_file.empty();
  bool ca = !cfg.cluster_tls_ca_file.empty();
  if ((cert || key || ca) && !(cert && key && ca))
    r.fail(!cert ? "CLUSTER_TLS_CERT_FILE" : !key ? "CLUSTER_TLS_KEY_FILE" : "CLUSTER_TLS_CA_FILE",
           "CLUSTER_TLS_CERT_FILE, CLUSTER_TLS_KEY_FILE and CLUSTER_TLS_CA_FILE go together"
           " (node links are mutually authenticated)");
}

/// Parses one env-file line. Returns false when the line is malformed; an
/// empty `key` means there was nothing to read (blank line or comment).
bool parse_env_line(std::string_view line, std::string& key, std::string& value) {
  key.clear();
  value.clear();
  line = trim(line);
  if (line.empty() || line.front() == '#')
    return true;
  if (line.size() > 7 && line.substr(0, 6) == "export" && is_space(line[6]))
    line = trim(line.substr(7));
  auto eq = line.find('=');
  if (eq == std::string_view::npos)
    return false;
  auto name = trim(line.substr(0, eq));
  auto ident_char = [](char c) {
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')
      || !std::all_of(name.begin(), name.end(), ident_char))
    return false;
  auto rest = trim(line.substr(eq + 1));
  std::string parsed;
  if (!rest.empty() && (rest.front() == '\'' || rest.front() == '"')) {
    char quote = rest.front();
    std::size_t i = 1;
    bool closed = false;
    for (; i < rest.size(); ++i) {
      char c = rest[i];
      if (c == quote) {
        closed = true;
        break;
      }
      // Double quotes understand \" \\ and \n; single quotes are literal.
      if (quote == '"' && c == '\\' && i + 1 < rest.size()) {
        char next = rest[i + 1];
        if (next == '"' || next == '\\' || next == 'n') {
          parsed.push_back(next == 'n' ? '\n' : next);
          ++i;
          continue;
        }
      }
      parsed.push_back(c);
    }
    if (!closed)
      return false;
    auto after = trim(rest.substr(i + 1));
    if (!after.empty() && after.front() != '#')
      return false;
  } else {
    // An unquoted value ends at an inline ` #` comment.
    for (std::size_t i = 1; i < rest.size(); ++i) {
      if (rest[i] == '#' && is_space(rest[i - 1])) {
        rest = trim(rest.substr(0, i));
        break;
      }
    }
    parsed = std::string(rest);
  }
  key = std::string(name);
  value = std::move(parsed);
  return true;
}

} // namespace

config load_config(const env_map& env, std::vector<config_error>& errors) {
  config cfg;
  reader r{env, errors};
  // The mode comes first: it decides how missing secrets are treated.
  read_mode(r, cfg);
  r.read_int("PORT", cfg.port, 0, 65535);
  read_database(r, cfg);
  read_logging(r, cfg);
  read_secret(r, cfg, "INTERNAL_API_SECRET", cfg.internal_api_secret);
  read_secret(r, cfg, "DIALPAD_WEBHOOK_SECRET", cfg.dialpad_webhook_secret);
  read_encryption_key(r, cfg);
  read_dialpad(r, cfg, "DIALPAD_SANDBOX_", "https://sandbox.dialpad.com", cfg.dialpad_sandbox);
  read_dialpad(r, cfg, "DIALPAD_PROD_", "https://dialpad.com", cfg.dialpad_production);
  r.read_nonblank("DIALPAD_SCOPES", cfg.dialpad_scopes);
  read_tls(r, cfg);
  if (auto raw = r.get("CORS_ALLOWED_ORIGINS")) {
    cfg.cors_allowed_origins = split_list(*raw);
    for (const auto& entry : cfg.cors_allowed_origins)
      if (!is_cors_origin_entry(entry))
        r.fail("CORS_ALLOWED_ORIGINS",
               "CORS_ALLOWED_ORIGINS entries are * or origins like https://crm.example.com"
               " (scheme, host, optional port; no path), got " + shown(entry));
  }
  r.read_int("EVENT_POLL_INTERVAL_MS", cfg.event_poll_interval_ms, 10, 86400000);
  r.read_int("EVENT_BATCH_SIZE", cfg.event_batch_size, 1, 10000);
  r.read_int("EVENT_BATCH_MAX", cfg.event_batch_max, 1, 10000);
  r.read_int("EVENT_MAX_ATTEMPTS", cfg.event_max_attempts, 1, 100);
  r.read_int("WEBHOOK_MAX_BODY_BYTES", cfg.webhook_max_body_bytes, 1, gib);
  r.read_int("WS_HEARTBEAT_SECONDS", cfg.ws_heartbeat_seconds, 1, 3600);
  r.read_int("WS_MAX_QUEUED_MESSAGES", cfg.ws_max_queued_messages, 1, 1000000);
  r.read_int("WS_MAX_QUEUED_BYTES", cfg.ws_max_queued_bytes, 1024 * 1024, gib);
  r.read_int("WS_REPLAY_MAX", cfg.ws_replay_max, 0, 1000000);
  r.read_int("API_KEY_BCRYPT_COST", cfg.api_key_bcrypt_cost, 4, 15);
  r.read_int("REFRESH_MARGIN", cfg.refresh_margin_seconds, 0, 86400);
  r.read_int("REFRESH_RETRY_BASE_MS", cfg.refresh_retry_base_ms, 100, 900000);
  r.read_int("DIALPAD_RECONCILE_SECONDS", cfg.dialpad_reconcile_seconds, 1, 86400);
  r.read_int("DIALPAD_TIMEOUT_MS", cfg.dialpad_timeout_ms, 100, 120000);
  r.read_int("RETENTION_INTERVAL_SECONDS", cfg.retention_interval_seconds, 0, 7 * 86400);
  r.read_int("RETENTION_BATCH_SIZE", cfg.retention_batch_size, 1, 100000);
  r.read_int("AUTH_FAILURES_PER_MINUTE", cfg.auth_failures_per_minute, 0, 1000000);
  r.read_int("API_RATE_LIMIT_PER_MINUTE", cfg.api_rate_limit_per_minute, 0, 100000000);
  r.read_int("WEBHOOK_RATE_LIMIT_PER_MINUTE", cfg.webhook_rate_limit_per_minute, 0, 1000000000);
  r.read_int("INGEST_MAX_DELAY_US", cfg.ingest_max_delay_us, 0, 1000000);
  r.read_int("INGEST_MAX_BATCH", cfg.ingest_max_batch, 1, 10000);
  r.read_int("INGEST_MAX_IN_FLIGHT", cfg.ingest_max_in_flight, 1, 64);
  cfg.ingest_max_connections = std::max(1, cfg.db_pool_max / 2);
  r.read_int("INGEST_MAX_CONNECTIONS", cfg.ingest_max_connections, 1, 1000);
  r.read_int("EVENT_POLLERS", cfg.event_pollers, 1, 64);
  r.read_int("MAX_CONNECTIONS", cfg.max_connections, 1, 1000000);
  r.read_int("SHUTDOWN_GRACE_SECONDS", cfg.shutdown_grace_seconds, 0, 3600);
  read_cluster(r, cfg);
  r.read_int("HTTP_THREADS", cfg.http_threads, 0, 256);
  r.read_int("SCHEDULER_THREADS", cfg.scheduler_threads, 0, 256);
  r.read_int("HTTP_MAX_BODY_BYTES", cfg.http_max_body_bytes, kib, gib);
  r.read_int("HTTP_HEADER_TIMEOUT_SECONDS", cfg.http_header_timeout_seconds, 1, 3600);
  r.read_int("HTTP_IDLE_TIMEOUT_SECONDS", cfg.http_idle_timeout_seconds, 1, 86400);
  return cfg;
}

std::vector<int> merge_env_file(const std::string& text, env_map& out) {
  std::vector<int> bad_lines;
  // Within the file the last assignment wins; the file never overrides `out`.
  env_map from_file;
  std::string_view rest = text;
  if (rest.substr(0, 3) == "\xEF\xBB\xBF") // UTF-8 byte order mark
    rest.remove_prefix(3);
  std::string key;
  std::string value;
  int line_no = 0;
  while (!rest.empty()) {
    ++line_no;
    auto nl = rest.find('\n');
    auto line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (!parse_env_line(line, key, value))
      bad_lines.push_back(line_no);
    else if (!key.empty())
      from_file[key] = value;
  }
  for (auto& [k, v] : from_file)
    out.emplace(k, std::move(v));
  return bad_lines;
}

env_map process_environment() {
  env_map out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view kv = *entry;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0)
      continue;
    out.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

std::string conninfo_password(std::string_view conninfo) {
  auto scheme = conninfo.find("://");
  if (scheme != std::string_view::npos) {
    auto rest = conninfo.substr(scheme + 3);
    auto at = rest.find('@');
    auto slash = rest.find('/');
    if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at))
      return {};
    auto userinfo = rest.substr(0, at);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos)
      return {};
    auto raw = userinfo.substr(colon + 1);
    std::string out;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '%' && i + 2 < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i + 1]))
          && std::isxdigit(static_cast<unsigned char>(raw[i + 2]))) {
        out += static_cast<char>(std::stoi(std::string{raw.substr(i + 1, 2)}, nullptr, 16));
        i += 2;
      } else {
        out += raw[i];
      }
    }
    return out;
  }
  // keyword=value form
  std::size_t pos = 0;
  while ((pos = conninfo.find("password", pos)) != std::string_view::npos) {
    bool at_word_start = pos == 0 || std::isspace(static_cast<unsigned char>(conninfo[pos - 1]));
    auto eq = conninfo.find_first_not_of(' ', pos + 8);
    if (!at_word_start || eq == std::string_view::npos || conninfo[eq] != '=') {
      pos += 8;
      continue;
    }
    auto v = conninfo.find_first_not_of(' ', eq + 1);
    if (v == std::string_view::npos)
      return {};
    std::string out;
    if (conninfo[v] == '\'') {
      for (auto i = v + 1; i < conninfo.size() && conninfo[i] != '\''; ++i) {
        if (conninfo[i] == '\\' && i + 1 < conninfo.size())
          ++i;
        out += conninfo[i];
      }
    } else {
      auto end = conninfo.find(' ', v);
      out = std::string{conninfo.substr(v, end == std::string_view::npos ? end : end - v)};
    }
    return out;
  }
  return {};
}

const std::vector<std::string>& secret_variables() {
  static const std::vector<std::string> names = {
    "INTERNAL_API_SECRET",           "DIALPAD_WEBHOOK_SECRET",     "DATABASE_ENCRYPTION_KEY",
    "DB_PASSWORD",                   "DATABASE_URL",               "MIGRATION_DATABASE_URL",
    "DIALPAD_SANDBOX_CLIENT_SECRET",
    "DIALPAD_PROD_CLIENT_SECRET",
  };
  return names;
}

} // namespace cti
