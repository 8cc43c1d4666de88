-- 003_drop_pending_due_index.sql: the pollers claim through
-- webhook_events_pending_idx (received_at, id) alone; the index on
-- next_attempt_at served no query, cost a write on every ingest and every
-- processed event, and gave the planner a bad alternative for the claim
-- (scan every due event, then sort) while the queue's statistics were stale.

DROP INDEX webhook_events_pending_due_idx;
