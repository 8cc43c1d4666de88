-- 009_calls_live_column.sql: a call's status can change without new index
-- entries.
--
-- calls_app_live_started_idx (GET /api/calls/active) had `status` in its
-- predicate, and PostgreSQL can update a row in place (a HOT update: no new
-- entry in any of the table's eight indexes) only when no indexed column
-- and no column of an index predicate changes. So every processed call
-- event rewrote the call's entries in all eight indexes. The predicate now
-- reads `live`, a stored column derived from `status` that changes only
-- when a call leaves ringing/active/held: ringing → active → held → active
-- are in-place updates, and only the end of the call writes index entries.
-- The fill factor leaves room on each page for those new row versions.
--
-- Adding a stored generated column rewrites the table once (under an
-- exclusive lock): on a large installation, run this migration while the
-- nodes are stopped.
ALTER TABLE calls
    ADD COLUMN live boolean GENERATED ALWAYS AS (status IN ('ringing', 'active', 'held')) STORED;
DROP INDEX calls_app_live_started_idx;
CREATE INDEX calls_app_live_started_idx ON calls (app_id, started_at DESC, id DESC) WHERE live;
ALTER TABLE calls SET (fillfactor = 70);
