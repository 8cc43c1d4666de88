#include "db/statements.hpp"

#include "db/calls_repo.hpp"
#include "db/events_repo.hpp"
#include "db/messages_repo.hpp"
#include "db/processor.hpp"

namespace cti::db {

namespace {

std::vector<prepared_statement> collect() {
  std::vector<prepared_statement> all = {
    {"health", "SELECT 1"},
    // events_repo
    // One statement, so that in autocommit it is one round trip and one
    // transaction. No NOTIFY in it: the worker wakes this node's pollers
    // itself once the batch has committed (see db/listener.hpp).
    // The batch's apps ($2) are locked first, once each, FOR KEY SHARE (what
    // a foreign key's check would take for every row; schema/014): an app
    // deleted meanwhile has no row to lock, its events are not inserted, and
    // the rows with a NULL id name the apps that were there.
    {"insert_events",
     "WITH a AS MATERIALIZED ("
     "  SELECT id FROM apps WHERE id = ANY($2::uuid[]) FOR KEY SHARE),"
     " ins AS ("
     "  INSERT INTO webhook_events"
     "   (id, app_id, dialpad_event_id, event_type, payload, format, received_at, serial,"
     "    payload_bytes)"
     "  SELECT (e->>'u')::uuid, (e->>'a')::uuid, e->>'i', e->>'t', e->'p', e->>'f',"
     "         to_timestamp((e->>'r')::float8 / 1000000), NULLIF(e->>'s', ''), (e->>'n')::int"
     "  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, ord)"
     "  WHERE (e->>'a')::uuid IN (SELECT id FROM a)"
     "  ORDER BY ord"
     "  ON CONFLICT (app_id, dialpad_event_id) DO NOTHING"
     "  RETURNING id, app_id, dialpad_event_id)"
     " SELECT id, app_id, dialpad_event_id FROM ins"
     " UNION ALL SELECT NULL, id, NULL FROM a"},
    {"event_id_by_key",
     "SELECT id FROM webhook_events WHERE app_id = $1::uuid AND dialpad_event_id = $2"},
    // apps_repo
    {"app_by_id",
     "SELECT a.id, a.is_active, c.allow_unsigned_webhooks,"
     " encode(c.webhook_secret_sealed, 'hex') AS webhook_secret_sealed"
     " FROM apps a LEFT JOIN dialpad_connections c ON c.app_id = a.id"
     " WHERE a.id = $1::uuid"},
    {"app_by_org",
     "SELECT a.id, a.is_active, c.allow_unsigned_webhooks,"
     " encode(c.webhook_secret_sealed, 'hex') AS webhook_secret_sealed"
     " FROM dialpad_connections c JOIN apps a ON a.id = c.app_id"
     " WHERE c.dialpad_org_id = $1"},
    {"app_by_key_id",
     "SELECT id, is_active, api_key_hash FROM apps WHERE api_key_id = $1"},
  };
  for (auto* group : {&calls_repo_statements, &events_repo_statements,
                      &messages_repo_statements, &processor_statements})
    for (auto& s : group())
      all.push_back(std::move(s));
  return all;
}

} // namespace

const std::vector<prepared_statement>& prepared_statements() {
  static const std::vector<prepared_statement> all = collect();
  return all;
}

} // namespace cti::db
