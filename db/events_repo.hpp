#pragma once

#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "db/statements.hpp"
#include "domain/api_objects.hpp"
#include "domain/pagination.hpp"

namespace pqxx {
class transaction_base;
} // namespace pqxx

namespace cti::db {

/// Stores `items` in `webhook_events` with one statement: the batch's app
/// rows locked `FOR KEY SHARE`, then
/// `INSERT … ON CONFLICT (app_id, dialpad_event_id) DO NOTHING RETURNING`.
/// Run it in a `pqxx::nontransaction` and the statement is its own
/// transaction: when it returns, the rows are committed. Answers one result
/// per item, in order: the new row's id, the existing row's id with
/// `duplicate = true` (also for an item repeated within the batch), or
/// `app_gone` when its app no longer exists (nothing stored for it). Throws
/// what libpqxx throws.
std::vector<ingest_result> insert_events(pqxx::transaction_base& tx,
                                         const std::vector<ingest_item>& items);

/// What `GET /internal/apps/{id}/events` asks for.
struct event_filter {
  std::string app_id;
  /// pending | failed | processed | dead (API states); none: all.
  std::optional<std::string> state;
  page_request page;
};

/// One page of events, newest first.
struct event_page {
  std::vector<event_record> rows;
  std::optional<keyset> next;  ///< Set when more rows follow.
};

/// True for the API's event states: pending, failed, processed, dead.
bool is_event_state(const std::string& s);

/// The app's events matching `f`, newest first (received_at, id), keyset-paginated.
event_page list_events(pqxx::transaction_base& tx, const event_filter& f);

/// One event with its payload; nullopt when there is none with this id.
std::optional<event_record> find_event(pqxx::transaction_base& tx, const std::string& id);

/// Re-queues one event: pending, due now, attempts and error cleared (so its
/// API state is `pending`), outcome and processed_at cleared; its seq is
/// kept until it is applied again. Wakes the pollers on commit. nullopt when
/// there is no such event.
/// Re-queues one event and records it in the activity audit log (`actor`:
/// `internal` for the API, `cli` for the operator subcommand).
std::optional<event_record> replay_event(pqxx::transaction_base& tx, const std::string& id,
                                         const std::string& actor = "internal",
                                         const std::string& request_id = {});

/// Pending (incl. retrying) and dead events across apps.
queue_stats queue_counts(pqxx::transaction_base& tx);

/// The prepared statements of this repository.
std::vector<prepared_statement> events_repo_statements();

/// The channel the ingester notifies and the LISTEN connection waits on.
inline constexpr const char* events_channel = "cti_events";

/// The payload of a notification that asks the pollers to claim from the
/// oldest pending event (sent by a replay; new events send an empty one).
inline constexpr const char* rescan_payload = "rescan";

} // namespace cti::db
