-- 007_event_serial.sql: events of one call are applied in arrival order.
--
-- `serial` names what an event is about (`<app>|c|<call id>`, or
-- `<app>|m|<message id>` for SMS), set at ingest. A poller applies an event
-- only when no earlier, never attempted event with the same serial is still
-- pending (another poller holds it, or has not committed it yet); otherwise
-- the event waits for a later round. Without this, a poller that claimed a
-- call's `call.ended` could take the call's lock before the poller holding
-- its `call.started`, and apply the end first. Rows stored before this
-- migration have no serial and are not ordered this way.
ALTER TABLE webhook_events ADD COLUMN serial text;

CREATE INDEX webhook_events_pending_serial_idx
    ON webhook_events (serial, received_at, id)
    WHERE state = 'pending' AND serial IS NOT NULL;
