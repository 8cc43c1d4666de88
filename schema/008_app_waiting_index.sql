-- 008_app_waiting_index.sql: which apps have events waiting in the queue.
--
-- The ingest transaction applies a webhook itself, before its 200, when
-- nothing of its app waits in the queue ahead of it (db/processor.hpp,
-- ingest_and_apply); otherwise the event is stored pending behind the
-- others. "Waiting" is a never attempted pending event (a failed one waiting
-- for its retry does not hold its app back, as it does not hold back a
-- poller). Only events that go through the queue are ever in this index,
-- so it stays small while the ingest applies events itself.
CREATE INDEX webhook_events_app_waiting_idx ON webhook_events (app_id)
    WHERE state = 'pending' AND attempts = 0;
