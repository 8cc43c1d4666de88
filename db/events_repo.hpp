#pragma once

#include <vector>

#include "actors/messages.hpp"

namespace pqxx {
class transaction_base;
} // namespace pqxx

namespace cti::db {

/// Stores `items` in `webhook_events` with one statement:
/// `INSERT … ON CONFLICT (app_id, dialpad_event_id) DO NOTHING RETURNING`
/// plus one `pg_notify('cti_events')` when anything new was stored (Postgres
/// delivers it on commit). Run it in a `pqxx::nontransaction` and the
/// statement is its own transaction: when it returns, the rows are
/// committed. Answers one result per item, in order: the new row's id, or
/// the existing row's id with `duplicate = true` (also for an item repeated
/// within the batch). Throws what libpqxx throws.
std::vector<ingest_result> insert_events(pqxx::transaction_base& tx,
                                         const std::vector<ingest_item>& items);

/// The channel the ingester notifies and the LISTEN connection waits on.
inline constexpr const char* events_channel = "cti_events";

} // namespace cti::db
