-- 013_event_payload_bytes.sql: each event's payload size as received
-- (bytes of the JSON text), written at ingest.
--
-- A processing round bounds what it loads by payload bytes (a claim of 500
-- events of the largest allowed body, WEBHOOK_MAX_BODY_BYTES, held 2.5 GB
-- in one round's memory). The stored jsonb's own size says little: TOAST
-- compresses it, and a repetitive body shrinks a hundredfold. Rows stored
-- before this migration have none; the claim counts their stored size.
--
-- A nullable column without a default: adding it rewrites nothing.

ALTER TABLE webhook_events ADD COLUMN payload_bytes integer;

COMMENT ON COLUMN webhook_events.payload_bytes IS
    'Size of the payload as received (JSON text bytes); NULL for events stored before migration 013.';
