-- 008_drop_raw_payload_gin.sql: no GIN index on calls.raw_payload.
--
-- It served ad-hoc containment queries (raw_payload @> '{...}') that no
-- endpoint makes, and it was the dearest write of event processing: every
-- status change rewrites raw_payload, so every processed call event added a
-- GIN entry per key and value of the payload, and the pending list's
-- cleanup ran inside a poller's round now and then (300-500 ms rounds in a
-- drain). An operator who needs such queries can create it again; the
-- processor never reads it.
DROP INDEX IF EXISTS calls_raw_payload_gin_idx;
