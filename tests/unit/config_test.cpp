#include "domain/config.hpp"

#include "domain/secure_random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

using namespace cti;

namespace {

const std::string hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// An environment that passes production checks.
env_map production_env() {
  return {
    {"INTERNAL_API_SECRET", "internal-secret-value"},
    {"DIALPAD_WEBHOOK_SECRET", "webhook-secret-value"},
    {"DATABASE_ENCRYPTION_KEY", hex_key},
  };
}

config load_ok(const env_map& env) {
  std::vector<config_error> errors;
  auto cfg = load_config(env, errors);
  EXPECT_TRUE(errors.empty()) << errors.front().variable << ": " << errors.front().message;
  return cfg;
}

std::vector<config_error> errors_for(env_map env) {
  std::vector<config_error> errors;
  load_config(env, errors);
  return errors;
}

/// Loads `production_env()` plus `name=value` and returns the errors.
std::vector<config_error> errors_with(const std::string& name, const std::string& value) {
  auto env = production_env();
  env[name] = value;
  return errors_for(env);
}

bool has_error_for(const std::vector<config_error>& errors, const std::string& variable) {
  return std::any_of(errors.begin(), errors.end(),
                     [&](const config_error& e) { return e.variable == variable; });
}

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

// -- defaults -----------------------------------------------------------------

TEST(config, applies_documented_defaults) {
  auto cfg = load_ok(production_env());
  EXPECT_EQ(cfg.mode, run_mode::production);
  EXPECT_FALSE(cfg.is_development());
  EXPECT_EQ(cfg.port, 4000);
  EXPECT_EQ(cfg.database_url, "host='localhost' port='5432' user='postgres' dbname='cti'");
  EXPECT_EQ(cfg.db_pool_min, 2);
  EXPECT_EQ(cfg.db_pool_max, 10);
  EXPECT_EQ(cfg.log_level, "info");
  EXPECT_EQ(cfg.log_fmt, log_format::json);
  EXPECT_EQ(cfg.dialpad_sandbox.base_url, "https://sandbox.dialpad.com");
  EXPECT_EQ(cfg.dialpad_production.base_url, "https://dialpad.com");
  EXPECT_EQ(cfg.dialpad_scopes, "calls:list recordings_export offline_access");
  EXPECT_TRUE(cfg.tls_cert_file.empty());
  EXPECT_TRUE(cfg.cors_allowed_origins.empty());
  EXPECT_EQ(cfg.event_poll_interval_ms, 5000);
  EXPECT_EQ(cfg.event_batch_size, 50);
  EXPECT_EQ(cfg.event_batch_max, 500);
  EXPECT_EQ(cfg.event_max_attempts, 8);
  EXPECT_EQ(cfg.webhook_max_body_bytes, 5u * 1024 * 1024);
  EXPECT_EQ(cfg.ws_heartbeat_seconds, 30);
  EXPECT_EQ(cfg.ws_max_queued_messages, 1024);
  EXPECT_EQ(cfg.ws_max_queued_bytes, 8u * 1024 * 1024);
  EXPECT_EQ(cfg.ws_replay_max, 1000);
  EXPECT_EQ(cfg.api_key_bcrypt_cost, 10);
  EXPECT_EQ(cfg.refresh_margin_seconds, 300);
  EXPECT_EQ(cfg.ingest_max_delay_us, 1000);
  EXPECT_EQ(cfg.ingest_max_batch, 256);
  EXPECT_EQ(cfg.ingest_max_in_flight, 1);
  EXPECT_EQ(cfg.ingest_max_connections, 5); // half of DB_POOL_MAX=10
  EXPECT_EQ(cfg.max_connections, 10000);
  EXPECT_EQ(cfg.shutdown_grace_seconds, 10);
  EXPECT_TRUE(cfg.node_name.empty());
  EXPECT_FALSE(cfg.cluster_port.has_value());
  EXPECT_TRUE(cfg.cluster_seeds.empty());
  EXPECT_EQ(cfg.http_threads, 0);
  EXPECT_EQ(cfg.scheduler_threads, 0);
  EXPECT_EQ(cfg.http_max_body_bytes, 1024u * 1024);
  EXPECT_EQ(cfg.http_header_timeout_seconds, 10);
  EXPECT_EQ(cfg.http_idle_timeout_seconds, 60);
  EXPECT_EQ(cfg.db_pool_wait_ms, 2000);
  EXPECT_EQ(cfg.db_pool_max_waiting, 1000);
  EXPECT_EQ(cfg.retention_batch_size, 1000);
  EXPECT_EQ(cfg.webhook_rate_limit_per_minute, 600000);
  EXPECT_TRUE(cfg.generated_secrets.empty());
}

TEST(config, treats_empty_values_as_unset) {
  auto env = production_env();
  env["PORT"] = "";
  env["LOG_LEVEL"] = "";
  env["DB_HOST"] = "";
  env["DIALPAD_SANDBOX_BASE_URL"] = "";
  auto cfg = load_ok(env);
  EXPECT_EQ(cfg.port, 4000);
  EXPECT_EQ(cfg.log_level, "info");
  EXPECT_EQ(cfg.dialpad_sandbox.base_url, "https://sandbox.dialpad.com");
  EXPECT_NE(cfg.database_url.find("host='localhost'"), std::string::npos);
}

TEST(config, reads_every_integer_variable) {
  auto env = production_env();
  env["PORT"] = "0";
  env["DB_POOL_MIN"] = "3";
  env["DB_POOL_MAX"] = "7";
  env["EVENT_POLL_INTERVAL_MS"] = "10";
  env["EVENT_BATCH_SIZE"] = "10000";
  env["EVENT_BATCH_MAX"] = "1";
  env["EVENT_MAX_ATTEMPTS"] = "100";
  env["WEBHOOK_MAX_BODY_BYTES"] = "100";
  env["WS_HEARTBEAT_SECONDS"] = "3600";
  env["WS_MAX_QUEUED_MESSAGES"] = "1";
  env["WS_MAX_QUEUED_BYTES"] = "1048576";
  env["WS_REPLAY_MAX"] = "0";
  env["API_KEY_BCRYPT_COST"] = "4";
  env["REFRESH_MARGIN"] = "86400";
  env["INGEST_MAX_DELAY_US"] = "0";
  env["INGEST_MAX_BATCH"] = "1";
  env["MAX_CONNECTIONS"] = "1000000";
  env["SHUTDOWN_GRACE_SECONDS"] = "0";
  env["HTTP_THREADS"] = "256";
  env["SCHEDULER_THREADS"] = "256";
  env["HTTP_MAX_BODY_BYTES"] = "1073741824";
  env["HTTP_HEADER_TIMEOUT_SECONDS"] = "1";
  env["HTTP_IDLE_TIMEOUT_SECONDS"] = "86400";
  env["DB_POOL_WAIT_MS"] = "600000";
  env["DB_POOL_MAX_WAITING"] = "0";
  env["CLUSTER_PORT"] = "65535";
  env["RETENTION_BATCH_SIZE"] = "1";
  env["WEBHOOK_RATE_LIMIT_PER_MINUTE"] = "0";
  auto cfg = load_ok(env);
  EXPECT_EQ(cfg.retention_batch_size, 1);
  EXPECT_EQ(cfg.webhook_rate_limit_per_minute, 0);
  EXPECT_EQ(cfg.port, 0);
  EXPECT_EQ(cfg.db_pool_min, 3);
  EXPECT_EQ(cfg.db_pool_max, 7);
  EXPECT_EQ(cfg.event_poll_interval_ms, 10);
  EXPECT_EQ(cfg.event_batch_size, 10000);
  EXPECT_EQ(cfg.event_batch_max, 1);
  EXPECT_EQ(cfg.event_max_attempts, 100);
  EXPECT_EQ(cfg.webhook_max_body_bytes, 100u);
  EXPECT_EQ(cfg.ws_heartbeat_seconds, 3600);
  EXPECT_EQ(cfg.ws_max_queued_messages, 1);
  EXPECT_EQ(cfg.ws_max_queued_bytes, 1048576u);
  EXPECT_EQ(cfg.ws_replay_max, 0);
  EXPECT_EQ(cfg.api_key_bcrypt_cost, 4);
  EXPECT_EQ(cfg.refresh_margin_seconds, 86400);
  EXPECT_EQ(cfg.ingest_max_delay_us, 0);
  EXPECT_EQ(cfg.ingest_max_batch, 1);
  EXPECT_EQ(cfg.max_connections, 1000000);
  EXPECT_EQ(cfg.shutdown_grace_seconds, 0);
  EXPECT_EQ(cfg.http_threads, 256);
  EXPECT_EQ(cfg.scheduler_threads, 256);
  EXPECT_EQ(cfg.http_max_body_bytes, 1073741824u);
  EXPECT_EQ(cfg.http_header_timeout_seconds, 1);
  EXPECT_EQ(cfg.http_idle_timeout_seconds, 86400);
  EXPECT_EQ(cfg.db_pool_wait_ms, 600000);
  EXPECT_EQ(cfg.db_pool_max_waiting, 0);
  EXPECT_EQ(cfg.cluster_port, std::optional<uint16_t>{65535});
}

// -- integers -----------------------------------------------------------------

TEST(config, rejects_port_with_trailing_garbage) {
  auto errors = errors_with("PORT", "4000abc");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].variable, "PORT");
  EXPECT_NE(errors[0].message.find("PORT"), std::string::npos);
  EXPECT_NE(errors[0].message.find("4000abc"), std::string::npos);
  EXPECT_NE(errors[0].message.find("0..65535"), std::string::npos);
}

TEST(config, rejects_integers_that_are_not_whole_decimal_numbers) {
  for (const char* bad : {" 4000", "4000 ", "+4000", "0x10", "4.0", "abc", "-"})
    EXPECT_TRUE(has_error_for(errors_with("PORT", bad), "PORT")) << bad;
}

TEST(config, rejects_integer_overflow) {
  EXPECT_TRUE(has_error_for(errors_with("MAX_CONNECTIONS", "99999999999999999999999"),
                            "MAX_CONNECTIONS"));
  EXPECT_TRUE(has_error_for(errors_with("PORT", "65536"), "PORT"));
}

TEST(config, keeps_the_default_when_an_integer_is_bad) {
  auto env = production_env();
  env["PORT"] = "nope";
  std::vector<config_error> errors;
  auto cfg = load_config(env, errors);
  EXPECT_EQ(cfg.port, 4000);
}

TEST(config, rejects_each_integer_out_of_range_naming_its_variable) {
  const std::vector<std::pair<std::string, std::string>> cases = {
    {"PORT", "-1"},
    {"DB_POOL_MIN", "0"},
    {"DB_POOL_MAX", "1001"},
    {"EVENT_POLL_INTERVAL_MS", "9"},
    {"EVENT_BATCH_SIZE", "0"},
    {"EVENT_BATCH_SIZE", "10001"},
    {"EVENT_BATCH_MAX", "0"},
    {"EVENT_BATCH_MAX", "10001"},
    {"EVENT_MAX_ATTEMPTS", "101"},
    {"WEBHOOK_MAX_BODY_BYTES", "0"},
    {"WEBHOOK_MAX_BODY_BYTES", "1073741825"},
    {"WS_HEARTBEAT_SECONDS", "0"},
    {"WS_MAX_QUEUED_MESSAGES", "1000001"},
    {"WS_MAX_QUEUED_BYTES", "1048575"},
    {"WS_MAX_QUEUED_BYTES", "1073741825"},
    {"WS_REPLAY_MAX", "-1"},
    {"API_KEY_BCRYPT_COST", "3"},
    {"API_KEY_BCRYPT_COST", "32"},
    {"REFRESH_MARGIN", "86401"},
    {"INGEST_MAX_DELAY_US", "1000001"},
    {"INGEST_MAX_BATCH", "0"},
    {"INGEST_MAX_IN_FLIGHT", "0"},
    {"INGEST_MAX_CONNECTIONS", "0"},
    {"INGEST_MAX_CONNECTIONS", "1001"},
    {"MAX_CONNECTIONS", "0"},
    {"SHUTDOWN_GRACE_SECONDS", "3601"},
    {"HTTP_THREADS", "257"},
    {"SCHEDULER_THREADS", "257"},
    {"SCHEDULER_THREADS", "-1"},
    {"HTTP_MAX_BODY_BYTES", "100"},
    {"HTTP_HEADER_TIMEOUT_SECONDS", "0"},
    {"HTTP_IDLE_TIMEOUT_SECONDS", "86401"},
    {"DB_POOL_WAIT_MS", "0"},
    {"DB_POOL_MAX_WAITING", "1000001"},
    {"CLUSTER_PORT", "0"},
    {"DB_PORT", "70000"},
    {"RETENTION_BATCH_SIZE", "0"},
    {"RETENTION_BATCH_SIZE", "100001"},
    {"WEBHOOK_RATE_LIMIT_PER_MINUTE", "-1"},
  };
  for (const auto& [name, value] : cases) {
    auto errors = errors_with(name, value);
    ASSERT_EQ(errors.size(), 1u) << name << "=" << value;
    EXPECT_EQ(errors[0].variable, name);
    EXPECT_NE(errors[0].message.find(name), std::string::npos) << errors[0].message;
    EXPECT_NE(errors[0].message.find(value), std::string::npos) << errors[0].message;
  }
}

TEST(config, rejects_pool_max_below_pool_min) {
  auto env = production_env();
  env["DB_POOL_MIN"] = "8";
  env["DB_POOL_MAX"] = "4";
  auto errors = errors_for(env);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].variable, "DB_POOL_MAX");
}

TEST(config, raises_the_default_pool_max_to_an_explicit_pool_min) {
  auto env = production_env();
  env["DB_POOL_MIN"] = "20";
  auto cfg = load_ok(env);
  EXPECT_EQ(cfg.db_pool_min, 20);
  EXPECT_EQ(cfg.db_pool_max, 20);
}

TEST(config, ingest_takes_half_the_pool_unless_told_otherwise) {
  auto env = production_env();
  env["DB_POOL_MAX"] = "7";
  EXPECT_EQ(load_ok(env).ingest_max_connections, 3);
  env["DB_POOL_MIN"] = "1";
  env["DB_POOL_MAX"] = "1";
  EXPECT_EQ(load_ok(env).ingest_max_connections, 1);
  env["INGEST_MAX_CONNECTIONS"] = "9";
  EXPECT_EQ(load_ok(env).ingest_max_connections, 9);
}

// -- enumerations -------------------------------------------------------------

TEST(config, accepts_run_modes_case_insensitively) {
  auto env = production_env();
  env["CTI_ENV"] = "Development";
  EXPECT_TRUE(load_ok(env).is_development());
  env["CTI_ENV"] = "PRODUCTION";
  EXPECT_FALSE(load_ok(env).is_development());
}

TEST(config, rejects_abbreviated_run_modes) {
  for (const char* bad : {"dev", "prod", "staging"}) {
    auto errors = errors_with("CTI_ENV", bad);
    ASSERT_EQ(errors.size(), 1u) << bad;
    EXPECT_EQ(errors[0].variable, "CTI_ENV");
  }
}

TEST(config, normalizes_log_level) {
  auto env = production_env();
  env["LOG_LEVEL"] = "WARNING";
  EXPECT_EQ(load_ok(env).log_level, "warn");
  env["LOG_LEVEL"] = "Debug";
  EXPECT_EQ(load_ok(env).log_level, "debug");
  env["LOG_LEVEL"] = "off";
  EXPECT_EQ(load_ok(env).log_level, "off");
}

TEST(config, rejects_unknown_log_level_and_format) {
  EXPECT_TRUE(has_error_for(errors_with("LOG_LEVEL", "verbose"), "LOG_LEVEL"));
  EXPECT_TRUE(has_error_for(errors_with("LOG_FORMAT", "xml"), "LOG_FORMAT"));
  auto env = production_env();
  env["LOG_FORMAT"] = "TEXT";
  EXPECT_EQ(load_ok(env).log_fmt, log_format::text);
}

// -- several errors at once ---------------------------------------------------

TEST(config, collects_every_error_instead_of_stopping_at_the_first) {
  env_map env = {
    {"PORT", "x"},
    {"LOG_LEVEL", "loud"},
    {"LOG_FORMAT", "yaml"},
    {"EVENT_BATCH_SIZE", "0"},
    {"TLS_CERT_FILE", "/etc/cti/cert.pem"},
  };
  auto errors = errors_for(env);
  for (const char* name : {"PORT", "LOG_LEVEL", "LOG_FORMAT", "EVENT_BATCH_SIZE", "TLS_KEY_FILE",
                           "INTERNAL_API_SECRET", "DIALPAD_WEBHOOK_SECRET",
                           "DATABASE_ENCRYPTION_KEY"})
    EXPECT_TRUE(has_error_for(errors, name)) << name;
  EXPECT_EQ(errors.size(), 8u);
}

// -- secrets ------------------------------------------------------------------

TEST(config, production_requires_the_three_secrets) {
  auto errors = errors_for({});
  ASSERT_EQ(errors.size(), 3u);
  for (const char* name : {"INTERNAL_API_SECRET", "DIALPAD_WEBHOOK_SECRET", "DATABASE_ENCRYPTION_KEY"}) {
    auto it = std::find_if(errors.begin(), errors.end(),
                           [&](const config_error& e) { return e.variable == name; });
    ASSERT_NE(it, errors.end()) << name;
    EXPECT_NE(it->message.find("is required in production (CTI_ENV=production)"), std::string::npos);
    EXPECT_NE(it->message.find(name), std::string::npos);
  }
}

TEST(config, a_blank_secret_is_refused_in_any_mode_without_echoing_it) {
  for (const char* mode : {"production", "development"}) {
    auto errors = errors_for({{"CTI_ENV", mode},
                              {"INTERNAL_API_SECRET", "   "},
                              {"DIALPAD_WEBHOOK_SECRET", " \t "},
                              {"DATABASE_ENCRYPTION_KEY", std::string(64, 'a')}});
    ASSERT_EQ(errors.size(), 2u) << mode;
    for (const char* name : {"INTERNAL_API_SECRET", "DIALPAD_WEBHOOK_SECRET"})
      EXPECT_TRUE(has_error_for(errors, name)) << mode << " " << name;
    for (const auto& e : errors)
      EXPECT_NE(e.message.find("must not be blank"), std::string::npos) << e.message;
  }
}

// A node name or OAuth scope list of blanks says nothing (it showed as
// "node":"   " in the log and the WebSocket welcome, and went to Dialpad
// as scope=%20%20%20 until the twenty-sixth session): refused; empty is
// unset, the default.
TEST(config, a_blank_node_name_or_scope_list_is_refused_and_empty_is_the_default) {
  auto errors = errors_for({{"CTI_ENV", "development"}, {"NODE_NAME", "   "},
                            {"DIALPAD_SCOPES", " \t"}});
  ASSERT_EQ(errors.size(), 2u);
  for (const char* name : {"NODE_NAME", "DIALPAD_SCOPES"})
    EXPECT_TRUE(has_error_for(errors, name)) << name;
  for (const auto& e : errors)
    EXPECT_NE(e.message.find("must not be blank"), std::string::npos) << e.message;
  auto cfg = load_ok({{"CTI_ENV", "development"}, {"NODE_NAME", ""}, {"DIALPAD_SCOPES", ""}});
  EXPECT_TRUE(cfg.node_name.empty()); // main fills in hostname-pid
  EXPECT_EQ(cfg.dialpad_scopes, config{}.dialpad_scopes);
}

TEST(config, development_generates_missing_secrets_and_lists_them) {
  auto cfg = load_ok({{"CTI_ENV", "development"}});
  EXPECT_TRUE(cfg.is_development());
  EXPECT_EQ(cfg.internal_api_secret.size(), 64u);
  EXPECT_EQ(cfg.dialpad_webhook_secret.size(), 64u);
  EXPECT_EQ(cfg.database_encryption_key.size(), 32u);
  EXPECT_NE(cfg.internal_api_secret, cfg.dialpad_webhook_secret);
  ASSERT_EQ(cfg.generated_secrets.size(), 3u);
  EXPECT_TRUE(contains(cfg.generated_secrets, "INTERNAL_API_SECRET"));
  EXPECT_TRUE(contains(cfg.generated_secrets, "DIALPAD_WEBHOOK_SECRET"));
  EXPECT_TRUE(contains(cfg.generated_secrets, "DATABASE_ENCRYPTION_KEY"));
  // A second start generates different values.
  auto again = load_ok({{"CTI_ENV", "development"}});
  EXPECT_NE(cfg.internal_api_secret, again.internal_api_secret);
  EXPECT_NE(cfg.database_encryption_key, again.database_encryption_key);
}

TEST(config, development_keeps_secrets_that_are_given) {
  auto env = production_env();
  env["CTI_ENV"] = "development";
  env.erase("DIALPAD_WEBHOOK_SECRET");
  auto cfg = load_ok(env);
  EXPECT_EQ(cfg.internal_api_secret, "internal-secret-value");
  EXPECT_EQ(cfg.generated_secrets, std::vector<std::string>{"DIALPAD_WEBHOOK_SECRET"});
}

TEST(config, decodes_a_hex_encryption_key) {
  auto env = production_env();
  env["DATABASE_ENCRYPTION_KEY"] = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";
  auto cfg = load_ok(env);
  ASSERT_EQ(cfg.database_encryption_key.size(), 32u);
  EXPECT_EQ(to_hex(cfg.database_encryption_key), hex_key);
}

TEST(config, decodes_a_base64_encryption_key_in_both_alphabets) {
  // 32 bytes 0xfb..., chosen so the encodings use `+/` or `-_`.
  const std::string raw(32, '\xfb');
  const std::string standard = "+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=";
  const std::string url_safe = "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s";
  for (const auto& encoded : {standard, url_safe}) {
    auto env = production_env();
    env["DATABASE_ENCRYPTION_KEY"] = encoded;
    EXPECT_EQ(load_ok(env).database_encryption_key, raw) << encoded;
  }
}

TEST(config, rejects_an_encryption_key_of_the_wrong_length) {
  for (const std::string& bad : {
         hex_key.substr(0, 62),                                 // 31 bytes of hex
         hex_key + "00",                                        // 33 bytes of hex
         std::string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="), // 31 bytes base64
         std::string("not a key at all"),
         std::string("+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7-_s="), // mixed alphabets
       }) {
    auto errors = errors_with("DATABASE_ENCRYPTION_KEY", bad);
    ASSERT_EQ(errors.size(), 1u) << bad;
    EXPECT_EQ(errors[0].variable, "DATABASE_ENCRYPTION_KEY");
  }
}

TEST(config, error_for_a_bad_secret_does_not_contain_its_value) {
  const std::string key_value = "supersecret-not-a-valid-key-QWERTY";
  auto errors = errors_with("DATABASE_ENCRYPTION_KEY", key_value);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message.find(key_value), std::string::npos);
  EXPECT_EQ(errors[0].message.find("QWERTY"), std::string::npos);

  const std::string url_value = "mysql://admin:hunter2@db";
  errors = errors_with("DATABASE_URL", url_value);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].variable, "DATABASE_URL");
  EXPECT_EQ(errors[0].message.find("hunter2"), std::string::npos);
}

TEST(config, lists_the_secret_variables) {
  const auto& names = secret_variables();
  for (const char* name : {"INTERNAL_API_SECRET", "DIALPAD_WEBHOOK_SECRET", "DATABASE_ENCRYPTION_KEY",
                           "DB_PASSWORD", "DATABASE_URL", "MIGRATION_DATABASE_URL",
                           "DIALPAD_SANDBOX_CLIENT_SECRET", "DIALPAD_PROD_CLIENT_SECRET"})
    EXPECT_TRUE(contains(names, name)) << name;
  EXPECT_EQ(names.size(), 8u);
}

// -- database -----------------------------------------------------------------

TEST(config, uses_database_url_as_is) {
  auto env = production_env();
  env["DATABASE_URL"] = "postgresql://cti:pw@db.internal:6432/cti?sslmode=require";
  env["DB_HOST"] = "ignored";
  EXPECT_EQ(load_ok(env).database_url, env["DATABASE_URL"]);
  env["DATABASE_URL"] = "postgres://db/cti";
  EXPECT_EQ(load_ok(env).database_url, "postgres://db/cti");
  env["DATABASE_URL"] = "host=db dbname=cti";
  EXPECT_EQ(load_ok(env).database_url, "host=db dbname=cti");
}

TEST(config, migrates_through_migration_database_url_when_given) {
  auto env = production_env();
  env["DATABASE_URL"] = "postgresql://cti_server:pw@db/cti";
  EXPECT_EQ(load_ok(env).migration_conninfo(), "postgresql://cti_server:pw@db/cti");
  env["MIGRATION_DATABASE_URL"] = "postgresql://cti_owner:pw2@db/cti";
  auto cfg = load_ok(env);
  EXPECT_EQ(cfg.database_url, "postgresql://cti_server:pw@db/cti");
  EXPECT_EQ(cfg.migration_conninfo(), "postgresql://cti_owner:pw2@db/cti");

  auto errors = errors_with("MIGRATION_DATABASE_URL", "mysql://owner:hunter2@db");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].variable, "MIGRATION_DATABASE_URL");
  EXPECT_EQ(errors[0].message.find("hunter2"), std::string::npos);
}

TEST(config, rejects_a_database_url_that_is_neither_uri_nor_conninfo) {
  auto errors = errors_with("DATABASE_URL", "db.internal");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].variable, "DATABASE_URL");
}

TEST(config, builds_conninfo_from_db_variables) {
  auto env = production_env();
  env["DB_HOST"] = "db.internal";
  env["DB_PORT"] = "6432";
  env["DB_USER"] = "cti_app";
  env["DB_PASSWORD"] = "pw";
  env["DB_NAME"] = "cti_prod";
  EXPECT_EQ(load_ok(env).database_url,
            "host='db.internal' port='6432' user='cti_app' password='pw' dbname='cti_prod'");
}

TEST(config, quotes_conninfo_values_per_libpq_rules) {
  auto env = production_env();
  env["DB_PASSWORD"] = R"(it's a \ pass word)";
  env["DB_NAME"] = "my db";
  EXPECT_EQ(load_ok(env).database_url,
            R"(host='localhost' port='5432' user='postgres' password='it\'s a \\ pass word' dbname='my db')");
}

TEST(config, rejects_a_bad_db_port) {
  auto errors = errors_with("DB_PORT", "54x");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].variable, "DB_PORT");
}

// -- TLS, lists, cluster ------------------------------------------------------

TEST(config, requires_tls_cert_and_key_together) {
  auto only_cert = errors_with("TLS_CERT_FILE", "/etc/cti/cert.pem");
  ASSERT_EQ(only_cert.size(), 1u);
  EXPECT_EQ(only_cert[0].variable, "TLS_KEY_FILE");
  auto only_key = errors_with("TLS_KEY_FILE", "/etc/cti/key.pem");
  ASSERT_EQ(only_key.size(), 1u);
  EXPECT_EQ(only_key[0].variable, "TLS_CERT_FILE");
  auto env = production_env();
  env["TLS_CERT_FILE"] = "/etc/cti/cert.pem";
  env["TLS_KEY_FILE"] = "/etc/cti/key.pem";
  auto cfg = load_ok(env);
  EXPECT_EQ(cfg.tls_cert_file, "/etc/cti/cert.pem");
  EXPECT_EQ(cfg.tls_key_file, "/etc/cti/key.pem");
}

TEST(config, splits_cors_origins_trimming_and_dropping_empties) {
  auto env = production_env();
  env["CORS_ALLOWED_ORIGINS"] = " https://a.example ,,https://b.example, ";
  EXPECT_EQ(load_ok(env).cors_allowed_origins,
            (std::vector<std::string>{"https://a.example", "https://b.example"}));
}

TEST(config, rejects_cors_entries_that_no_origin_could_match) {
  auto env = production_env();
  env["CORS_ALLOWED_ORIGINS"] = "https://a.example, notanorigin, https://b.example/app";
  std::vector<config_error> errors;
  load_config(env, errors);
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors)
    EXPECT_EQ(e.variable, "CORS_ALLOWED_ORIGINS");
  EXPECT_NE(errors[0].message.find("'notanorigin'"), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[1].message.find("'https://b.example/app'"), std::string::npos) << errors[1].message;
}

TEST(config, parses_cluster_seeds) {
  auto env = production_env();
  env["CLUSTER_SEEDS"] = "node-a:4001, 10.0.0.2:4001 ,, [::1]:4002";
  EXPECT_EQ(load_ok(env).cluster_seeds,
            (std::vector<std::string>{"node-a:4001", "10.0.0.2:4001", "[::1]:4002"}));
}

TEST(config, rejects_each_bad_cluster_seed) {
  auto env = production_env();
  env["CLUSTER_SEEDS"] = "good:4001,nohost,:4001,host:0,host:65536,host:x,::1:4001";
  auto errors = errors_for(env);
  EXPECT_EQ(errors.size(), 6u);
  for (const auto& e : errors)
    EXPECT_EQ(e.variable, "CLUSTER_SEEDS");
  EXPECT_NE(errors[0].message.find("nohost"), std::string::npos);
}

TEST(config, takes_node_name_as_is) {
  auto env = production_env();
  env["NODE_NAME"] = "cti-1";
  EXPECT_EQ(load_ok(env).node_name, "cti-1");
}

// -- Dialpad ------------------------------------------------------------------

TEST(config, reads_dialpad_environments) {
  auto env = production_env();
  env["DIALPAD_SANDBOX_CLIENT_ID"] = "sandbox-id";
  env["DIALPAD_SANDBOX_CLIENT_SECRET"] = "sandbox-secret";
  env["DIALPAD_SANDBOX_REDIRECT_URI"] = "https://cti.example/oauth/callback";
  env["DIALPAD_PROD_CLIENT_ID"] = "prod-id";
  env["DIALPAD_PROD_CLIENT_SECRET"] = "prod-secret";
  env["DIALPAD_PROD_BASE_URL"] = "https://dialpad.example/";
  env["DIALPAD_SCOPES"] = "calls:list";
  auto cfg = load_ok(env);
  EXPECT_EQ(cfg.dialpad_sandbox.client_id, "sandbox-id");
  EXPECT_EQ(cfg.dialpad_sandbox.client_secret, "sandbox-secret");
  EXPECT_EQ(cfg.dialpad_sandbox.redirect_uri, "https://cti.example/oauth/callback");
  EXPECT_EQ(cfg.dialpad_production.client_id, "prod-id");
  EXPECT_EQ(cfg.dialpad_production.base_url, "https://dialpad.example");
  EXPECT_EQ(cfg.dialpad_scopes, "calls:list");
}

TEST(config, requires_dialpad_client_id_and_secret_together) {
  auto errors = errors_with("DIALPAD_PROD_CLIENT_ID", "prod-id");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].variable, "DIALPAD_PROD_CLIENT_SECRET");
}

TEST(config, allows_plain_http_dialpad_only_to_loopback_in_production) {
  auto env = production_env();
  env["DIALPAD_SANDBOX_BASE_URL"] = "http://127.0.0.1:9000";
  env["DIALPAD_PROD_BASE_URL"] = "http://localhost:9001/";
  auto cfg = load_ok(env);
  EXPECT_EQ(cfg.dialpad_sandbox.base_url, "http://127.0.0.1:9000");
  EXPECT_EQ(cfg.dialpad_production.base_url, "http://localhost:9001");
  for (const char* remote : {"http://dialpad.com", "http://127.evil.example", "http://10.0.0.1"}) {
    auto errors = errors_with("DIALPAD_PROD_BASE_URL", remote);
    ASSERT_EQ(errors.size(), 1u) << remote;
    EXPECT_EQ(errors[0].variable, "DIALPAD_PROD_BASE_URL");
  }
}

TEST(config, allows_plain_http_dialpad_anywhere_in_development) {
  auto env = production_env();
  env["CTI_ENV"] = "development";
  env["DIALPAD_SANDBOX_BASE_URL"] = "http://fake-dialpad:9000";
  EXPECT_EQ(load_ok(env).dialpad_sandbox.base_url, "http://fake-dialpad:9000");
}

TEST(config, rejects_a_dialpad_base_url_that_is_not_http) {
  auto errors = errors_with("DIALPAD_SANDBOX_BASE_URL", "ftp://sandbox.dialpad.com");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].variable, "DIALPAD_SANDBOX_BASE_URL");
}

// -- env files ----------------------------------------------------------------

TEST(config, merge_env_file_reads_assignments_comments_export_and_quotes) {
  const std::string text = "# CTI Server\n"
                           "\n"
                           "PORT=4100\n"
                           "export LOG_LEVEL=debug\n"
                           "  DB_HOST = db.internal  \n"
                           "DB_NAME='my db' # trailing comment\n"
                           "DB_PASSWORD=\"p#ss \\\"x\\\" \\\\ \"\n"
                           "DB_USER=cti # inline comment\n"
                           "CORS_ALLOWED_ORIGINS=a#b\r\n"
                           "EMPTY=\n"
                           "NODE_NAME='it''s'";
  env_map out;
  auto bad = merge_env_file(text, out);
  EXPECT_EQ(bad, std::vector<int>{11});
  EXPECT_EQ(out["PORT"], "4100");
  EXPECT_EQ(out["LOG_LEVEL"], "debug");
  EXPECT_EQ(out["DB_HOST"], "db.internal");
  EXPECT_EQ(out["DB_NAME"], "my db");
  EXPECT_EQ(out["DB_PASSWORD"], "p#ss \"x\" \\ ");
  EXPECT_EQ(out["DB_USER"], "cti");
  EXPECT_EQ(out["CORS_ALLOWED_ORIGINS"], "a#b");
  EXPECT_EQ(out["EMPTY"], "");
  EXPECT_EQ(out.count("NODE_NAME"), 0u);
}

TEST(config, merge_env_file_reports_bad_lines_by_number) {
  const std::string text = "PORT=1\n"
                           "just words\n"
                           "1BAD=x\n"
                           "BAD-NAME=x\n"
                           "=x\n"
                           "OPEN='unterminated\n"
                           "JUNK=\"x\" y\n"
                           "OK=2\n";
  env_map out;
  EXPECT_EQ(merge_env_file(text, out), (std::vector<int>{2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(out, (env_map{{"PORT", "1"}, {"OK", "2"}}));
}

TEST(config, merge_env_file_does_not_override_existing_keys) {
  env_map out = {{"PORT", "5000"}, {"LOG_LEVEL", ""}};
  auto bad = merge_env_file("PORT=4100\nLOG_LEVEL=debug\nLOG_FORMAT=text\nLOG_FORMAT=json\n", out);
  EXPECT_TRUE(bad.empty());
  EXPECT_EQ(out["PORT"], "5000");
  EXPECT_EQ(out["LOG_LEVEL"], "");
  // Within the file, the last assignment wins.
  EXPECT_EQ(out["LOG_FORMAT"], "json");
}

TEST(config, merge_env_file_output_feeds_load_config) {
  env_map env = production_env();
  env["PORT"] = "5000";
  merge_env_file("PORT=4100\nLOG_FORMAT=text\n", env);
  auto cfg = load_ok(env);
  EXPECT_EQ(cfg.port, 5000);
  EXPECT_EQ(cfg.log_fmt, log_format::text);
}

TEST(config, finds_the_password_in_either_connection_string_form) {
  EXPECT_EQ(conninfo_password("postgresql://cti:s3cr%40t@db:5432/cti"), "s3cr@t");
  EXPECT_EQ(conninfo_password("postgres://cti@db/cti"), "");
  EXPECT_EQ(conninfo_password("postgresql://db:5432/cti"), "");
  EXPECT_EQ(conninfo_password("host=db user=cti password=hunter2 dbname=cti"), "hunter2");
  EXPECT_EQ(conninfo_password("host=db password = 'a b\\'c' dbname=cti"), "a b'c");
  EXPECT_EQ(conninfo_password("host=db passwordless=1"), "");
}

TEST(config, process_environment_sees_set_variables) {
  ASSERT_EQ(setenv("CTI_CONFIG_TEST_VAR", "a=b", 1), 0);
  auto env = process_environment();
  EXPECT_EQ(env["CTI_CONFIG_TEST_VAR"], "a=b");
  unsetenv("CTI_CONFIG_TEST_VAR");
}

// -- secure_random ------------------------------------------------------------

TEST(config, secure_random_returns_the_requested_sizes) {
  EXPECT_EQ(random_bytes(0).size(), 0u);
  EXPECT_EQ(random_bytes(32).size(), 32u);
  auto hex = random_hex(16);
  EXPECT_EQ(hex.size(), 32u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(random_hex(16), random_hex(16));
  EXPECT_EQ(to_hex(std::string("\x00\x7f\xff", 3)), "007fff");
}
