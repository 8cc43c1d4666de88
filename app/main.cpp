// cti-server: read the configuration, apply migrations, start the actor
// system, the DB pool and the HTTP frontend, and stop gracefully on
// SIGTERM/SIGINT.

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <pthread.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>

#include <algorithm>

#include <pqxx/pqxx>

#include "actors/cluster.hpp"
#include "actors/dialpad.hpp"
#include "app/cli.hpp"
#include "actors/hasher.hpp"
#include "actors/ingester.hpp"
#include "actors/messages.hpp"
#include "actors/node_guard.hpp"
#include "actors/node_context.hpp"
#include "actors/queue_poller.hpp"
#include "actors/retention.hpp"
#include "actors/tenant_registry.hpp"
#include "db/event_handlers.hpp"
#include "db/api_repo.hpp"
#include "db/listener.hpp"
#include "db/migrator.hpp"
#include "db/pool.hpp"
#include "domain/config.hpp"
#include "domain/log.hpp"
#include "domain/pagination.hpp"
#include "domain/webhook_auth.hpp"
#include "net/http_client.hpp"
#include "net/server.hpp"

namespace {

constexpr const char* usage = R"(Usage: cti-server [--config FILE] [--help] [--version] [COMMAND...]

CTI Server bridges Dialpad telephony events to your systems over HTTP and
WebSocket. Configuration comes from environment variables; --config FILE
provides defaults (KEY=VALUE lines) that the environment overrides. Every
variable is documented in config/cti-server.env.example.

Options:
  --config FILE   read default settings from FILE
  --help          show this text and exit
  --version       print the version and exit

Signals: SIGTERM or SIGINT stop accepting connections, finish in-flight
requests (up to SHUTDOWN_GRACE_SECONDS) and exit 0.

)";

/// How long start-up keeps trying to reach Postgres before giving up.
constexpr auto startup_db_deadline = std::chrono::seconds{30};

std::string host_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0)
    std::snprintf(host, sizeof host, "node");
  return host;
}

std::string default_node_name() {
  return host_name() + "-" + std::to_string(getpid());
}

enum class startup_db { ready, failed, stopped };

/// Applies the migrations, waiting out a database that is not reachable yet
/// (up to startup_db_deadline). A stop signal (blocked, so it waits in
/// `stop_signals`) ends the wait at once: `stopped`.
startup_db apply_migrations(const std::string& conninfo, const sigset_t& stop_signals) {
  auto deadline = std::chrono::steady_clock::now() + startup_db_deadline;
  auto backoff = std::chrono::milliseconds{200};
  for (;;) {
    auto res = cti::db::run_migrations(conninfo, cti::db::embedded_migrations());
    if (res.ok) {
      for (const auto& name : res.applied)
        cti::log::info("migration applied", {{"file", name}});
      for (const auto& name : res.unknown)
        cti::log::warn("database has a migration this binary does not know (newer binary ran?)",
                       {{"file", name}});
      return startup_db::ready;
    }
    // Only connection failures are worth waiting out; a bad migration is final.
    bool transient = res.error.rfind("cannot connect", 0) == 0;
    if (!transient || std::chrono::steady_clock::now() + backoff > deadline) {
      cti::log::error("cannot apply database migrations", {{"error", res.error}});
      return startup_db::failed;
    }
    cti::log::warn("database not reachable yet, retrying", {{"error", res.error}});
    auto wait_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(backoff).count();
    timespec wait{static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
    if (int sig = sigtimedwait(&stop_signals, nullptr, &wait); sig > 0) {
      cti::log::info("shutting down before start-up finished",
                     {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      return startup_db::stopped;
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds{2000});
  }
}

/// Whether this node may join the cluster under its NODE_NAME.
enum class name_check { free, taken, stopped, failed };

/// A cluster node refuses to start under a NODE_NAME that a live node
/// heartbeats under (two nodes with one name would take turns writing the
/// row the others link by). A fresh row may also be this node's own, left
/// by a run that just ended without leaving the table (killed): a live
/// node beats again within a heartbeat, so the row is read once more one
/// heartbeat (and a second) later, and only a heartbeat that moved counts.
name_check check_node_name(const cti::config& cfg, const sigset_t& stop_signals) {
  struct row {
    std::string host;
    int64_t port = 0;
    int64_t age_ms = 0;
    std::string heartbeat_at;
  };
  auto read = [&](pqxx::connection& c) -> std::optional<row> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_params(
      "SELECT host, port, (extract(epoch FROM now() - heartbeat_at) * 1000)::bigint,"
      " heartbeat_at::text FROM cluster_nodes WHERE name = $1",
      cfg.node_name);
    if (r.empty())
      return std::nullopt;
    return row{r[0][0].as<std::string>(), r[0][1].as<int64_t>(), r[0][2].as<int64_t>(),
               r[0][3].as<std::string>()};
  };
  try {
    pqxx::connection c{cfg.database_url};
    auto first = read(c);
    if (!first || first->age_ms >= 3 * int64_t{cfg.cluster_heartbeat_ms})
      return name_check::free;
    cti::log::info("cluster: a node of this name beat recently; waiting a heartbeat to see whether it lives",
                   {{"node", cfg.node_name}, {"age_ms", std::to_string(first->age_ms)}});
    auto wait_ns = int64_t{cfg.cluster_heartbeat_ms + 1000} * 1'000'000;
    timespec wait{static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
    if (int sig = sigtimedwait(&stop_signals, nullptr, &wait); sig > 0) {
      cti::log::info("shutting down before start-up finished",
                     {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      return name_check::stopped;
    }
    auto second = read(c);
    if (!second || second->heartbeat_at == first->heartbeat_at)
      return name_check::free;
    cti::log::error("NODE_NAME is in use by a live node of the cluster; give each node its own name",
                    {{"node", cfg.node_name},
                     {"live_node", second->host + ":" + std::to_string(second->port)}});
    return name_check::taken;
  } catch (const std::exception& e) {
    cti::log::error("cannot read the cluster's nodes", {{"error", e.what()}});
    return name_check::failed;
  }
}

/// Loads CAF's network layer (and its OpenSSL transport when the
/// CLUSTER_TLS_* files are given) for the cluster.
void configure_cluster(caf::actor_system_config& caf_cfg, const cti::config& cfg) {
  caf_cfg.load<caf::io::middleman>();
  // A peer that stops answering (hung, or cut off without a reset) is
  // declared gone after three heartbeats.
  caf_cfg.set("middleman.heartbeat-interval",
              caf::timespan{std::chrono::milliseconds{std::max(50, cfg.cluster_heartbeat_ms / 2)}});
  caf_cfg.set("middleman.connection-timeout",
              caf::timespan{std::chrono::milliseconds{3 * cfg.cluster_heartbeat_ms}});
  if (!cfg.cluster_tls_cert_file.empty()) {
    caf_cfg.load<caf::openssl::manager>();
    caf_cfg.openssl_certificate = cfg.cluster_tls_cert_file;
    caf_cfg.openssl_key = cfg.cluster_tls_key_file;
    caf_cfg.openssl_cafile = cfg.cluster_tls_ca_file;
  }
}

/// Spawns the cluster hub, publishes it on CLUSTER_PORT and hands it to the
/// registry; false (logged) when the port cannot be bound.
bool start_cluster(caf::actor_system& sys, const cti::config& cfg, cti::node_context& ctx,
                   cti::cluster_hub_actor& hub) {
  const bool tls = !cfg.cluster_tls_cert_file.empty();
  cti::cluster_settings cs;
  cs.node_name = cfg.node_name;
  cs.advertise_host = cfg.cluster_advertise_host.empty() ? host_name() : cfg.cluster_advertise_host;
  cs.port = *cfg.cluster_port;
  cs.seeds = cfg.cluster_seeds;
  cs.heartbeat = std::chrono::milliseconds{cfg.cluster_heartbeat_ms};
  if (const char* v = std::getenv("CTI_TEST_CLUSTER_PROTOCOL"))
    cs.protocol = static_cast<uint32_t>(std::atoi(v)); // tests only: a node of another version
  cs.drop_inbound = std::getenv("CTI_TEST_CLUSTER_DROP_INBOUND") != nullptr;
  cs.proof_key = cti::hmac_sha256_hex(cfg.internal_api_secret, "cti-cluster-key-v1");
  cs.tls = tls;
  cs.started_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  cs.pool = ctx.pool;
  cs.registry = ctx.registry;
  cs.view = ctx.cluster;
  cs.middleman = caf::actor_cast<caf::actor>(tls ? sys.openssl_manager().actor_handle()
                                                 : sys.middleman().actor_handle());
  hub = cti::spawn_cluster_hub(sys, cs);
  const char* bind = cfg.cluster_bind.empty() ? nullptr : cfg.cluster_bind.c_str();
  auto published = tls ? caf::openssl::publish(hub, cs.port, bind, true)
                       : sys.middleman().publish(hub, cs.port, bind, true);
  if (!published) {
    cti::log::error("cannot listen on CLUSTER_PORT",
                    {{"port", std::to_string(cs.port)}, {"error", sys.render(published.error())}});
    return false;
  }
  caf::anon_send(hub, caf::tick_atom_v); // listening: join (its first heartbeat)
  caf::anon_send(ctx.registry, cti::cluster_atom_v, hub);
  cti::log::info("cluster: listening", {{"port", std::to_string(cs.port)},
                                        {"advertise", cs.advertise_host},
                                        {"tls", tls ? "on" : "off"}});
  return true;
}

/// Refuses to start when DATABASE_ENCRYPTION_KEY cannot open the sealed
/// secrets and tokens already stored (garbage must never reach Dialpad).
/// With a key generated for development, only warns.
bool check_sealed_values(const cti::config& cfg) {
  std::vector<std::string> bad;
  try {
    pqxx::connection c{cfg.database_url};
    bad = cti::db::unreadable_sealed_values(c, cfg.database_encryption_key);
  } catch (const std::exception& e) {
    cti::log::error("cannot read the sealed values", {{"error", e.what()}});
    return false;
  }
  if (bad.empty())
    return true;
  bool generated = std::find(cfg.generated_secrets.begin(), cfg.generated_secrets.end(),
                             "DATABASE_ENCRYPTION_KEY") != cfg.generated_secrets.end();
  if (generated) {
    cti::log::warn("development mode: the generated DATABASE_ENCRYPTION_KEY cannot open the "
                   "sealed values stored earlier; those apps' secrets and tokens are unusable",
                   {{"first", bad.front()}});
    return true;
  }
  cti::log::error("DATABASE_ENCRYPTION_KEY cannot open the sealed values stored in the "
                  "database (a different key sealed them); refusing to start",
                  {{"first", bad.front()}, {"count", std::to_string(bad.size())}});
  return false;
}

/// Who ends the process: the normal end of main or the shutdown watchdog,
/// whichever takes the lock first (the other then does nothing).
struct exit_race {
  std::mutex m;
  bool main_finished = false; ///< The watchdog has nothing to do.
};

/// Set by the node guard when a core actor has ended: the node stops and
/// exits 70 (EX_SOFTWARE), even when the watchdog ends it.
std::atomic<bool> core_failed{false};
constexpr int core_failure_exit = 70;
exit_race& exiting() {
  static exit_race e;
  return e;
}

/// Bounds the whole shutdown to `limit` from the signal: whatever still runs
/// then (a database job waiting behind another session's lock, say) is
/// abandoned and the process exits 0. Nothing is lost by that: an unfinished
/// transaction rolls back (a claimed event returns to pending), and no
/// webhook was acknowledged before its commit.
void start_shutdown_watchdog(std::chrono::milliseconds limit) {
  std::thread{[limit] {
    std::this_thread::sleep_for(limit);
    std::lock_guard lock{exiting().m};
    if (exiting().main_finished)
      return;
    cti::log::error("shutdown: the grace period is over with work still running; exiting now"
                    " (unfinished transactions roll back)",
                    {{"grace_ms", std::to_string(limit.count())}});
    cti::log::shutdown();
    std::_Exit(core_failed.load() ? core_failure_exit : 0);
  }}.detach();
}

} // namespace

int main(int argc, char** argv) {
  // Block the stop signals in every thread (threads inherit the mask); main
  // alone receives them, with sigwait, after start-up.
  // An inherited "ignore" (nohup, `&` in a non-interactive shell) would
  // discard the signals before sigwait could see them: restore the defaults.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // SIGUSR1, raised by the node guard when a core actor has ended, also
  // ends the wait (core_failed says it was the guard).
  sigset_t wait_signals = stop_signals;
  sigaddset(&wait_signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &wait_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::string config_file;
  std::vector<std::string> command;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage << cti::cli::usage;
      return 0;
    }
    if (arg == "--version") {
      std::cout << "cti-server " << CTI_VERSION << "\n";
      return 0;
    }
    if (arg == "--config" && i + 1 < argc) {
      config_file = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_file = arg.substr(9);
    } else if (!command.empty() || (!arg.empty() && arg[0] != '-')) {
      command.push_back(arg); // a subcommand and its arguments
    } else {
      std::cerr << "cti-server: unknown argument '" << arg << "'\n\n" << usage;
      return 2;
    }
  }

  auto env = cti::process_environment();
  if (!config_file.empty()) {
    std::ifstream in{config_file};
    if (!in) {
      std::cerr << "cti-server: cannot read config file " << config_file << "\n";
      return 2;
    }
    std::stringstream text;
    text << in.rdbuf();
    // A line that is not an assignment is an error, not a warning: a typo
    // (`INTERNAL_API_SECRET secret`) would otherwise drop a setting quietly.
    if (auto bad = cti::merge_env_file(text.str(), env); !bad.empty()) {
      std::cerr << "cti-server: invalid config file:\n";
      for (int line : bad)
        std::cerr << "  " << config_file << ":" << line << ": not KEY=VALUE\n";
      return 2;
    }
  }
  std::vector<cti::config_error> errors;
  auto cfg = cti::load_config(env, errors);
  if (cti::cli::is_command(command)) {
    // A subcommand needs the database, not the server's secrets.
    errors = cti::cli::relevant_errors(command, errors);
    if (!errors.empty()) {
      std::cerr << "cti-server: invalid configuration:\n";
      for (const auto& e : errors)
        std::cerr << "  " << e.variable << ": " << e.message << "\n";
      return 2;
    }
    setenv("PGCONNECT_TIMEOUT", "5", 0);
    return cti::cli::run(command, cfg);
  }
  if (errors.empty())
    if (auto tls = cti::net::check_tls_files(cfg); !tls.variable.empty())
      errors.push_back({std::move(tls.variable), std::move(tls.message)});
  // The cluster link's files are read by CAF when the link starts; one that
  // cannot be read is found here, with the rest of the configuration.
  if (cfg.cluster_port)
    for (const auto& [variable, path] :
         {std::pair{"CLUSTER_TLS_CERT_FILE", &cfg.cluster_tls_cert_file},
          std::pair{"CLUSTER_TLS_KEY_FILE", &cfg.cluster_tls_key_file},
          std::pair{"CLUSTER_TLS_CA_FILE", &cfg.cluster_tls_ca_file}})
      if (!path->empty() && !std::ifstream{*path})
        errors.push_back({variable, std::string{"cannot read "} + variable + ": " + *path});
  if (!errors.empty()) {
    std::cerr << "cti-server: invalid configuration:\n";
    for (const auto& e : errors)
      std::cerr << "  " << e.variable << ": " << e.message << "\n";
    return 2;
  }
  if (cfg.node_name.empty())
    cfg.node_name = default_node_name();

  std::vector<std::string> secrets{cfg.internal_api_secret, cfg.dialpad_webhook_secret,
                                   cfg.database_encryption_key,
                                   cfg.dialpad_sandbox.client_secret,
                                   cfg.dialpad_production.client_secret};
  // Every secret as configured too (e.g. the encryption key's hex text, not
  // only its decoded bytes), and the password inside DATABASE_URL.
  for (const auto& name : cti::secret_variables())
    if (auto it = env.find(name); it != env.end() && !it->second.empty())
      secrets.push_back(it->second);
  for (const auto* url : {&cfg.database_url, &cfg.migration_database_url})
    if (auto pw = cti::conninfo_password(*url); !pw.empty())
      secrets.push_back(pw);
  cti::log::init(cti::log::parse_level(cfg.log_level),
                 cfg.log_fmt == cti::log_format::json, std::move(secrets));
  for (const auto& name : cfg.generated_secrets)
    cti::log::warn("development mode: generated a random secret; set it to use it",
                   {{"variable", name}});
  // The test hooks and benchmark switches are read where they act, from
  // the process environment; each one set is named here, whatever it is.
  for (const auto& [name, value] : cti::process_environment())
    if (name.starts_with("CTI_TEST_") || name.starts_with("CTI_BENCH_"))
      cti::log::warn("a test or benchmark switch is set; it is not for production",
                     {{"variable", name}});

  // libpq waits this long for a connection (a vanished server, not a refused one).
  setenv("PGCONNECT_TIMEOUT", "3", 0);

  switch (apply_migrations(cfg.migration_conninfo(), stop_signals)) {
    case startup_db::ready:
      break;
    case startup_db::failed:
      cti::log::shutdown();
      return 1;
    case startup_db::stopped:
      cti::log::shutdown();
      return 0;
  }
  if (!check_sealed_values(cfg)) {
    cti::log::shutdown();
    return 1;
  }
  if (cfg.cluster_port && std::getenv("CTI_TEST_SKIP_NODE_NAME_CHECK") == nullptr) {
    switch (check_node_name(cfg, stop_signals)) {
      case name_check::free:
        break;
      case name_check::taken:
        cti::log::shutdown();
        return 2;
      case name_check::failed:
        cti::log::shutdown();
        return 1;
      case name_check::stopped:
        cti::log::shutdown();
        return 0;
    }
  }

  caf::actor_system_config caf_cfg;
  cti::add_message_types(caf_cfg);
  caf_cfg.set("logger.console-verbosity", caf::atom("quiet"));
  caf_cfg.set("logger.file-verbosity", caf::atom("quiet"));
  // The sharing scheduler parks idle workers on a condition variable;
  // work stealing spins while polling for work, which on a small box takes
  // CPU from Postgres and the asio threads.
  caf_cfg.set("scheduler.policy", caf::atom("sharing"));
  // One worker per core (CAF's default is at least four): on two cores the
  // two extra workers only took turns with the others, each hand-over
  // between actors waking a thread that then waited for a core (docs/
  // DECISIONS.md). At least two, so one long message never stops them all.
  caf_cfg.set("scheduler.max-threads",
              static_cast<size_t>(cfg.scheduler_threads > 0
                                    ? cfg.scheduler_threads
                                    : std::max(2u, std::thread::hardware_concurrency())));
  const bool clustered = cfg.cluster_port.has_value();
  if (clustered)
    configure_cluster(caf_cfg, cfg);

  int exit_code = 0;
  {
    caf::actor_system sys{caf_cfg};
    auto ctx = std::make_shared<cti::node_context>();
    ctx->cfg = cfg;
    ctx->node_name = cfg.node_name;
    ctx->stats = std::make_shared<cti::request_stats>();
    ctx->auth_failures = std::make_shared<cti::window_limiter>(cfg.auth_failures_per_minute,
                                                               std::chrono::seconds{60});
    ctx->app_requests = std::make_shared<cti::window_limiter>(cfg.api_rate_limit_per_minute,
                                                              std::chrono::seconds{60});
    ctx->app_webhooks = std::make_shared<cti::window_limiter>(cfg.webhook_rate_limit_per_minute,
                                                              std::chrono::seconds{60});
    cti::db::pool_settings ps;
    ps.worker.conninfo = cfg.database_url;
    ps.worker.pids = std::make_shared<cti::db::backend_pids>();
    // Filled with the pollers below, before the HTTP server accepts a webhook.
    auto waker = std::make_shared<cti::db::poller_waker>();
    ps.worker.waker = waker;
    ps.worker.notify_other_nodes = clustered;
    ps.min_workers = static_cast<std::size_t>(cfg.db_pool_min);
    ps.max_workers = static_cast<std::size_t>(cfg.db_pool_max);
    ps.max_wait = std::chrono::milliseconds{cfg.db_pool_wait_ms};
    ps.max_waiting = static_cast<std::size_t>(cfg.db_pool_max_waiting);
    ctx->pool = cti::db::spawn_db_pool(sys, ps);
    cti::ingester_settings is;
    is.max_delay = std::chrono::microseconds{cfg.ingest_max_delay_us};
    is.max_batch = static_cast<std::size_t>(cfg.ingest_max_batch);
    is.max_in_flight = static_cast<std::size_t>(cfg.ingest_max_in_flight);
    is.max_connections = static_cast<std::size_t>(cfg.ingest_max_connections);
    if (const char* fail = std::getenv("CTI_TEST_INGESTER_FAIL_EVENT"))
      is.fail_on_event_id = fail; // tests only: see ingester_settings
    ctx->ingester = cti::spawn_ingester(sys, ctx->pool, is);
    cti::net::http_client_settings hs;
    hs.allow_plain_remote = cfg.is_development();
    hs.user_agent = std::string{"cti-server/"} + CTI_VERSION;
    ctx->http = cti::net::spawn_http_client(sys, hs);
    cti::dialpad_settings ds;
    ds.cfg = cfg;
    ds.node_name = cfg.node_name;
    ds.pool = ctx->pool;
    ds.ingester = ctx->ingester;
    ds.stats = ctx->dialpad_figures;
    ds.http = ctx->http;
    ds.refresh_retry_base = std::chrono::milliseconds{cfg.refresh_retry_base_ms};
    ctx->dialpad = cti::spawn_dialpad(sys, std::move(ds));
    cti::retention_settings rts;
    rts.pool = ctx->pool;
    rts.interval = std::chrono::seconds{cfg.retention_interval_seconds};
    rts.batch = cfg.retention_batch_size;
    ctx->tenants = std::make_shared<cti::tenant_cache>();
    rts.cache = ctx->tenants;
    ctx->retention = cti::spawn_retention(sys, rts);
    // bcrypt runs on its own threads (detached actors), never on a
    // scheduler or asio thread.
    for (int i = 0; i < 2; ++i)
      ctx->hashers.push_back(cti::spawn_hasher(sys, cfg.api_key_bcrypt_cost));
    // Cursors are signed with a key derived from the internal secret, so
    // every node of a cluster accepts the others' cursors.
    cti::set_cursor_key(cti::hmac_sha256_hex(cfg.internal_api_secret, "cti-cursor-key-v1"));
    cti::tenant_registry_settings rs;
    rs.encryption_key = cfg.database_encryption_key;
    rs.hashers = ctx->hashers;
    rs.node_name = cfg.node_name;
    rs.replay_max = cfg.ws_replay_max;
    rs.sinks = ctx->ws_sinks;
    rs.max_queued = static_cast<std::size_t>(cfg.ws_max_queued_messages);
    rs.dialpad = ctx->dialpad;
    if (const char* drop = std::getenv("CTI_TEST_DROP_PUBLISH_SEQ"))
      rs.drop_publish_seq = std::atoll(drop); // tests only: see tenant_registry_settings
    if (const char* wait = std::getenv("CTI_TEST_GAP_WAIT_MS"))
      rs.gap_wait = std::chrono::milliseconds{std::atoll(wait)}; // tests only, likewise
    if (const char* hold = std::getenv("CTI_TEST_REPLAY_HOLD_MS"))
      rs.replay_hold = std::chrono::milliseconds{std::atoll(hold)}; // tests only, likewise
    if (const char* fail = std::getenv("CTI_TEST_TENANT_FAIL_SEQ"))
      rs.fail_at_seq = std::atoll(fail); // tests only, likewise
    if (const char* hold = std::getenv("CTI_TEST_TENANT_FAIL_HOLD_MS"))
      rs.fail_hold = std::chrono::milliseconds{std::atoll(hold)}; // tests only, likewise
    if (const char* fail = std::getenv("CTI_TEST_TENANT_FAIL_SUBSCRIBES"))
      rs.fail_subscribes = std::make_shared<std::atomic<int>>(std::atoi(fail)); // likewise
    ctx->registry = cti::spawn_tenant_registry(sys, ctx->pool, ctx->tenants, rs);
    ctx->processing = std::make_shared<cti::processing_stats>();
    cti::poller_settings pls;
    pls.process.batch_size = static_cast<uint32_t>(cfg.event_batch_size);
    pls.max_batch_size = static_cast<uint32_t>(cfg.event_batch_max);
    pls.process.max_attempts = static_cast<uint32_t>(cfg.event_max_attempts);
    if (const char* type = std::getenv("CTI_TEST_FAIL_EVENT_TYPE")) {
      // Tests only (the fault e2e tests): every event of this type fails.
      cti::db::inject_handler_failure(type);
      cti::log::warn("test hook: every event of this type fails", {{"event_type", type}});
    }
    pls.interval = std::chrono::milliseconds{cfg.event_poll_interval_ms};
    if (const char* fail = std::getenv("CTI_TEST_POLLER_FAIL_SEQ"))
      pls.fail_at_seq = std::atoll(fail); // tests only: see poller_settings
    if (const char* age = std::getenv("CTI_TEST_POLLER_SETTLED_AGE_MS")) {
      // Tests only: a slow round can be held longer than the default age
      // without the scheduled rounds' taking its successors.
      pls.settled_age = std::chrono::milliseconds{std::atoll(age)};
      cti::log::warn("test hook: scheduled poller rounds take older events only",
                     {{"settled_age_ms", age}});
    }
    pls.wake_sibling = [w = std::weak_ptr<cti::db::poller_waker>{waker}] {
      if (auto p = w.lock())
        p->wake_idle();
    };
    // Spawns the poller for place i and puts it there with the waker (the
    // node guard calls it again to replace one that failed).
    auto spawn_poller = [&sys, ctx, pls, waker](std::size_t i) mutable {
      pls.busy = std::make_shared<std::atomic<int64_t>>(0);
      auto p =
        cti::spawn_queue_poller(sys, ctx->pool, ctx->registry, ctx->processing, pls, ctx->tenants);
      waker->replace(i, p, pls.busy);
      return p;
    };
    cti::node_guard_settings gs;
    for (int i = 0; i < cfg.event_pollers; ++i)
      gs.pollers.push_back(spawn_poller(static_cast<std::size_t>(i)));
    cti::db::listener_settings lst;
    lst.conninfo = cfg.database_url;
    lst.own = ps.worker.pids;
    lst.waker = waker;
    auto listener = cti::db::spawn_event_listener(sys, lst);

    cti::cluster_hub_actor hub;
    if (clustered && !start_cluster(sys, cfg, *ctx, hub))
      exit_code = 1;
    // The pollers are replaced when they fail; the node stops when any of
    // these ends (actors/node_guard.hpp).
    gs.spawn_poller = spawn_poller;
    gs.core = {{"db_pool", caf::actor_cast<caf::actor>(ctx->pool)},
               {"ingester", caf::actor_cast<caf::actor>(ctx->ingester)},
               {"tenant_registry", caf::actor_cast<caf::actor>(ctx->registry)},
               {"event_listener", caf::actor_cast<caf::actor>(listener)},
               {"dialpad", caf::actor_cast<caf::actor>(ctx->dialpad)},
               {"retention", caf::actor_cast<caf::actor>(ctx->retention)},
               {"http_client", caf::actor_cast<caf::actor>(ctx->http)}};
    for (auto& h : ctx->hashers)
      gs.core.emplace_back("hasher", caf::actor_cast<caf::actor>(h));
    if (hub)
      gs.core.emplace_back("cluster_hub", caf::actor_cast<caf::actor>(hub));
    gs.on_fatal = [](const std::string&) {
      core_failed.store(true);
      kill(getpid(), SIGUSR1);
    };
    auto guard = cti::spawn_node_guard(sys, std::move(gs));

    if (exit_code == 0) {
      cti::net::server srv{sys, ctx};
      if (auto err = srv.start(); !err.empty()) {
        cti::log::error("cannot start the HTTP server", {{"error", err}});
        exit_code = 1;
      } else {
        cti::log::info("listening", {{"port", std::to_string(srv.port())},
                                     {"node", ctx->node_name},
                                     {"version", CTI_VERSION}});
        int sig = 0;
        // A stray SIGUSR1 (not the guard's) does not stop the node.
        while (sigwait(&wait_signals, &sig) != 0 || (sig == SIGUSR1 && !core_failed.load()))
          sig = 0;
        if (core_failed.load()) {
          exit_code = core_failure_exit;
          cti::log::error("shutting down: a core actor has ended (see above)");
        } else {
          cti::log::info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
        }
        // SHUTDOWN_GRACE_SECONDS bounds it all (at least 1 s): in-flight
        // requests get the grace less up to a second, which is kept for the
        // actors to finish their current work (a processing batch) and stop.
        const std::chrono::milliseconds grace{std::max(1000, cfg.shutdown_grace_seconds * 1000)};
        start_shutdown_watchdog(grace);
        srv.shutdown(grace - std::min(std::chrono::milliseconds{1000}, grace / 2));
      }
    }
    if (hub) {
      // Leave the table so the peers stop trying at once.
      caf::scoped_actor leaver{sys};
      leaver->request(hub, std::chrono::seconds{3}, cti::stop_atom_v)
        .receive([](bool) {}, [](caf::error&) {});
      caf::anon_send_exit(hub, caf::exit_reason::user_shutdown);
    }
    // The guard first (it takes the pollers along): the ends below are the
    // shutdown's, not failures.
    caf::anon_send_exit(guard, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx->ingester, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx->dialpad, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx->retention, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx->http, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx->registry, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(ctx->pool, caf::exit_reason::user_shutdown);
    for (auto& h : ctx->hashers)
      caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  } // the actor system waits for every actor here
  std::lock_guard lock{exiting().m};
  exiting().main_finished = true;
  cti::log::info("stopped");
  cti::log::shutdown();
  return exit_code;
}
