#include "app/cli.hpp"

#include <cstdio>
#include <iostream>

#include <pqxx/pqxx>

#include "db/api_repo.hpp"
#include "db/events_repo.hpp"
#include "db/migrator.hpp"
#include "db/processor.hpp"
#include "db/statements.hpp"
#include "domain/uuid.hpp"

namespace cti::cli {

const char* const usage = R"(Subcommands (run instead of the server, against DATABASE_URL):
  migrate                   apply pending migrations and exit
  events stats              events per app and type: pending, failed, dead
  events process --once     process the queue until it is empty (recovery)
  events replay <event-id>  re-queue one event (as POST /internal/events/{id}/replay)
)";

namespace {

std::unique_ptr<pqxx::connection> connect(const config& cfg) {
  auto conn = std::make_unique<pqxx::connection>(cfg.database_url);
  for (const auto& st : db::prepared_statements())
    conn->prepare(st.name, st.sql);
  return conn;
}

int migrate(const config& cfg) {
  auto res = db::run_migrations(cfg.migration_conninfo(), db::embedded_migrations());
  if (!res.ok) {
    std::cerr << "cti-server migrate: " << res.error << "\n";
    return 1;
  }
  for (const auto& name : res.applied)
    std::cout << "applied " << name << "\n";
  for (const auto& name : res.unknown)
    std::cout << "warning: the database has " << name << ", which this binary does not know\n";
  if (res.applied.empty())
    std::cout << "the schema is up to date\n";
  return 0;
}

int stats(const config& cfg) {
  auto conn = connect(cfg);
  pqxx::read_transaction tx{*conn};
  auto rows = tx.exec(
    "SELECT app_id, event_type,"
    " count(*) FILTER (WHERE state = 'pending' AND attempts = 0),"
    " count(*) FILTER (WHERE state = 'pending' AND attempts > 0),"
    " count(*) FILTER (WHERE state = 'dead')"
    " FROM webhook_events WHERE state <> 'processed'"
    " GROUP BY app_id, event_type ORDER BY app_id, event_type");
  std::printf("%-36s  %-28s %9s %9s %9s\n", "app_id", "event_type", "pending", "failed", "dead");
  long long total[3] = {0, 0, 0};
  for (const auto& r : rows) {
    long long n[3] = {r[2].as<long long>(), r[3].as<long long>(), r[4].as<long long>()};
    std::printf("%-36s  %-28s %9lld %9lld %9lld\n", r[0].c_str(), r[1].c_str(), n[0], n[1], n[2]);
    for (int i = 0; i < 3; ++i)
      total[i] += n[i];
  }
  std::printf("%-36s  %-28s %9lld %9lld %9lld\n", "total", "", total[0], total[1], total[2]);
  return 0;
}

int process_once(const config& cfg) {
  auto conn = connect(cfg);
  process_settings settings;
  settings.batch_size = static_cast<uint32_t>(cfg.event_batch_size);
  settings.max_attempts = static_cast<uint32_t>(cfg.event_max_attempts);
  uint64_t applied = 0, processed = 0, failed = 0, dead = 0;
  // Rounds until one claims nothing (events not yet due stay for later).
  for (int rounds = 0; rounds < 1000000; ++rounds) {
    auto report = db::process_batch(*conn, settings);
    if (report.claimed == 0)
      break;
    processed += report.claimed - report.deferred - report.failed;
    failed += report.failed;
    dead += report.dead;
    applied += report.applied.size();
    if (report.claimed == report.deferred)
      break; // everything left is held by a running server's poller
  }
  std::cout << "processed " << processed << " events (" << applied << " changed something), "
            << failed << " failed (" << dead << " now dead)\n";
  if (applied > 0)
    std::cout << "running servers deliver their stream numbers to WebSocket clients within a"
                 " few seconds (catch-up from the database)\n";
  return 0;
}

int replay(const config& cfg, const std::string& id) {
  if (!is_uuid(id)) {
    std::cerr << "cti-server events replay: '" << id << "' is not an event id (a UUID)\n";
    return 2;
  }
  auto conn = connect(cfg);
  pqxx::work tx{*conn};
  std::optional<cti::event_record> ev;
  try {
    ev = db::replay_event(tx, id, "cli");
  } catch (const db::api_error& refused) {
    std::cerr << "cti-server events replay: " << refused.message << "\n";
    return 1;
  }
  if (!ev) {
    std::cerr << "cti-server events replay: no event " << id << "\n";
    return 1;
  }
  tx.commit();
  std::cout << "event " << ev->id << " (" << ev->event_type << ") is pending again\n";
  return 0;
}

} // namespace

bool is_command(const std::vector<std::string>& words) {
  return !words.empty();
}

std::vector<config_error> relevant_errors(const std::vector<std::string>& words,
                                          const std::vector<config_error>& errors) {
  const bool migrate = !words.empty() && words.front() == "migrate";
  std::vector<config_error> out;
  for (const auto& e : errors)
    if (e.variable == "DATABASE_URL" || (migrate && e.variable == "MIGRATION_DATABASE_URL")
        || e.variable.rfind("DB_", 0) == 0 || e.variable.rfind("EVENT_", 0) == 0)
      out.push_back(e);
  return out;
}

int run(const std::vector<std::string>& words, const config& cfg) {
  try {
    if (words.size() == 1 && words[0] == "migrate")
      return migrate(cfg);
    if (words.size() == 2 && words[0] == "events" && words[1] == "stats")
      return stats(cfg);
    if (words.size() == 3 && words[0] == "events" && words[1] == "process" && words[2] == "--once")
      return process_once(cfg);
    if (words.size() == 3 && words[0] == "events" && words[1] == "replay")
      return replay(cfg, words[2]);
  } catch (const std::exception& e) {
    // libpqxx messages name the server, never the password.
    std::cerr << "cti-server: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "cti-server: unknown command";
  for (const auto& w : words)
    std::cerr << " " << w;
  std::cerr << "\n\n" << usage;
  return 2;
}

} // namespace cti::cli
