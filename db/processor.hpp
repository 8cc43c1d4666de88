#pragma once

// One processing round, in one transaction (ARCHITECTURE.md rule 3):
//
//   BEGIN
//   claim ≤ batch_size due events        FOR UPDATE SKIP LOCKED, received_at order
//   try-lock each event's call/message   pg_try_advisory_xact_lock; an event whose
//                                        call another poller holds is left for later
//   SAVEPOINT batch
//     load the rows the events touch     one locking read per table
//     run the handlers, in order         in memory (db/event_handlers)
//     write the rows that changed        one statement per table
//   RELEASE                              (a failure: ROLLBACK TO batch, then the
//                                        events one by one, each in its own
//                                        savepoint; a failing one gets attempts+1,
//                                        backoff or dead, without spoiling the rest)
//   per app, in app-id order: last_seq += n   (the app row lock orders the stream)
//   mark processed: outcome, processed_at, attempts+1, seq
//   COMMIT  →  only now are the applied events published
//
// A crash before COMMIT leaves every claimed event pending for another
// poller; handlers are idempotent, so re-running them is harmless. Lock
// order keeps concurrent pollers free of deadlocks: calls and messages are
// owned through the try-locks (never waited for), shared Dialpad-user rows
// and app rows are locked in key order.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "actors/messages.hpp"
#include "db/statements.hpp"

namespace pqxx {
class connection_base;
} // namespace pqxx

namespace cti::db {

struct handler_result;

/// What an applied event's subscribers were sent, kept with the event
/// (`webhook_events.published`) so that a replay or a gap filling sends
/// the same: `{"t": published name, "at": event time (epoch µs), "c": call,
/// "v": voicemail, "m": message}`, each record as the event left it (its
/// JSON text as is) or null.
std::string published_snapshot(const handler_result& r);

/// Sets `ev`'s name, time and records from a stored snapshot. False (and
/// `ev` untouched) when `text` is not one: an event applied before
/// snapshots were kept, rebuilt from the records as they are now.
bool read_published_snapshot(std::string_view text, applied_event& ev);

/// Runs one round on `conn`. Throws what libpqxx throws for the connection
/// or the commit (nothing is then acknowledged); handler failures are
/// recorded on their events, never thrown. `refresh_plans` drops the plans
/// `conn` has cached first (the DB worker asks for it once per
/// plan_refresh_interval).
process_report process_batch(pqxx::connection_base& conn, const process_settings& settings,
                             bool refresh_plans = true);

/// What a round sets first (SET LOCAL): generic plans, cached per
/// connection, made under guards that leave the planner nothing but index
/// probes and nested loops — no sequential or bitmap scan, no hash or merge
/// join, no sort (the claim must walk the pending index in order and stop
/// after the batch), and no JIT (the guards' penalty costs would trigger
/// it). Every statement of a round is a lookup by a unique key or an
/// ordered walk of the pending queue, so these plans stay right however
/// stale the statistics are; only the index chosen for a table that was
/// empty when planned can be wrong, which plan_refresh_interval bounds.
const std::string& processing_plan_settings();

/// How long a connection keeps the round's cached plans.
inline constexpr std::chrono::milliseconds plan_refresh_interval{1000};

/// The advisory-lock key class and key (two-int form) under which a round
/// owns the call or message `serial` ("<app>|c|<call id>" or
/// "<app>|m|<message id>", see db/event_handlers.hpp) while applying it.
inline constexpr int32_t serial_lock_class = 0x43544945; // "CTIE"
int32_t serial_lock_key(const std::string& serial);

/// The advisory-lock key class under which a round holds, shared, each app
/// whose events it applies (key: serial_lock_key of the app id), and an
/// erase holds its app exclusively: a round never waits for it (it
/// try-locks and leaves that app's events for a later round), and an
/// erase waits only for the rounds under way, so the two never deadlock.
inline constexpr int32_t app_lock_class = 0x43544141; // "CTAA"

/// The prepared statements of the processor.
std::vector<prepared_statement> processor_statements();

} // namespace cti::db
