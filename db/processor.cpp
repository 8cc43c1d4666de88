#include "db/processor.hpp"

#include <algorithm>
#include <map>
#include <random>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "db/event_handlers.hpp"
#include "domain/retry.hpp"

namespace cti::db {

namespace {

/// Longest `last_error` kept.
constexpr std::size_t max_error_length = 1000;

double jitter() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>{0.0, 1.0}(rng);
}

/// SQLSTATEs that mean the connection or the transaction as a whole is
/// gone: those abort the round instead of failing one event.
bool is_fatal(const pqxx::sql_error& e) {
  const auto& s = e.sqlstate();
  return s.rfind("08", 0) == 0 || s.rfind("57P", 0) == 0 || s == "25P02";
}

struct done {
  std::string id;
  std::string app_id;
  handler_result result;
  int64_t seq = 0;
};

} // namespace

std::vector<prepared_statement> processor_statements() {
  return {
    {"events_claim",
     "SELECT id, app_id, event_type, payload::text, attempts FROM webhook_events"
     " WHERE state = 'pending' AND next_attempt_at <= now()"
     " ORDER BY received_at, id LIMIT $1 FOR UPDATE SKIP LOCKED"},
    {"events_mark_processed",
     "UPDATE webhook_events AS w SET state = 'processed', outcome = x.o, processed_at = now(),"
     " attempts = w.attempts + 1, last_error = NULL, seq = COALESCE(x.s, w.seq)"
     " FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, o text, s bigint) WHERE w.id = x.id"},
    {"event_mark_failed",
     "UPDATE webhook_events SET attempts = attempts + 1, last_error = $2,"
     " next_attempt_at = now() + $3::bigint * interval '1 millisecond',"
     " state = CASE WHEN attempts + 1 >= $4 THEN 'dead' ELSE 'pending' END"
     " WHERE id = $1::uuid RETURNING state"},
    {"app_take_seq",
     "UPDATE apps SET last_seq = last_seq + $2 WHERE id = $1::uuid RETURNING last_seq"},
  };
}

process_report process_batch(pqxx::connection_base& conn, const process_settings& settings) {
  process_report report;
  pqxx::work tx{conn};
  auto claimed = tx.exec_prepared("events_claim", settings.batch_size);
  report.claimed = static_cast<uint32_t>(claimed.size());
  if (claimed.empty())
    return report; // the read-only transaction just ends
  auto now = now_utc();
  std::vector<done> finished;
  finished.reserve(claimed.size());
  for (const auto& row : claimed) {
    stored_event ev;
    ev.id = row[0].as<std::string>();
    ev.app_id = row[1].as<std::string>();
    ev.event_type = row[2].as<std::string>();
    ev.payload = nlohmann::json::parse(row[3].c_str(), nullptr, false);
    auto attempts = row[4].as<int>();
    tx.exec("SAVEPOINT event");
    try {
      auto data = extract_event(ev.payload);
      data.event_type = ev.event_type; // the type stored at ingest is authoritative
      auto handler = find_handler(ev.event_type);
      done d{ev.id, ev.app_id, handler ? handler(tx, ev, data, now) : handler_result{}, 0};
      tx.exec("RELEASE SAVEPOINT event");
      finished.push_back(std::move(d));
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::in_doubt_error&) {
      throw;
    } catch (const pqxx::sql_error& e) {
      if (is_fatal(e))
        throw;
      tx.exec("ROLLBACK TO SAVEPOINT event");
      ++report.failed;
      std::string error = "handler failed: SQLSTATE " + e.sqlstate() + ": " + e.what();
      auto state = tx.exec_prepared1("event_mark_failed", ev.id,
                                     error.substr(0, max_error_length),
                                     retry_delay(attempts + 1, jitter()).count(),
                                     settings.max_attempts)[0].as<std::string>();
      report.dead += state == "dead" ? 1 : 0;
    } catch (const std::exception& e) {
      tx.exec("ROLLBACK TO SAVEPOINT event");
      ++report.failed;
      std::string error = std::string{"handler failed: "} + e.what();
      auto state = tx.exec_prepared1("event_mark_failed", ev.id,
                                     error.substr(0, max_error_length),
                                     retry_delay(attempts + 1, jitter()).count(),
                                     settings.max_attempts)[0].as<std::string>();
      report.dead += state == "dead" ? 1 : 0;
    }
  }
  // Stream numbers: per app, in app-id order (a fixed lock order, so two
  // pollers never deadlock on app rows), contiguous in processing order.
  std::map<std::string, std::vector<done*>> applied_by_app;
  for (auto& d : finished)
    if (d.result.outcome == event_outcome::applied)
      applied_by_app[d.app_id].push_back(&d);
  for (auto& [app, events] : applied_by_app) {
    auto last = tx.exec_prepared1("app_take_seq", app, static_cast<int64_t>(events.size()))[0]
                  .as<int64_t>();
    auto first = last - static_cast<int64_t>(events.size()) + 1;
    for (std::size_t i = 0; i < events.size(); ++i)
      events[i]->seq = first + static_cast<int64_t>(i);
  }
  if (!finished.empty()) {
    nlohmann::json marks = nlohmann::json::array();
    for (const auto& d : finished) {
      nlohmann::json m = {{"id", d.id}, {"o", std::string{to_string(d.result.outcome)}}};
      m["s"] = d.seq > 0 ? nlohmann::json(d.seq) : nlohmann::json(nullptr);
      marks.push_back(std::move(m));
    }
    tx.exec_prepared("events_mark_processed", marks.dump());
  }
  tx.commit();
  for (auto& [app, events] : applied_by_app) {
    for (auto* d : events) {
      applied_event a;
      a.app_id = d->app_id;
      a.seq = d->seq;
      a.event_id = d->id;
      a.event_type = d->result.published_type;
      a.occurred_at_us = d->result.occurred_at_us;
      a.call_json = std::move(d->result.call_json);
      a.voicemail_json = std::move(d->result.voicemail_json);
      a.message_json = std::move(d->result.message_json);
      report.applied.push_back(std::move(a));
    }
  }
  return report;
}

} // namespace cti::db
