-- 014_event_app_check_per_batch.sql: an event's app is checked once per
-- batch, not once per row.
--
-- The foreign key webhook_events.app_id → apps ran its check for every
-- inserted row: a query that locks the app's row FOR KEY SHARE, about a
-- third of the ingest insert's time (docs/BENCHMARKS.md, thirty-second and
-- thirty-third sessions). Every batch of the ingester carries events of a
-- handful of apps, so the check moves into the writers, one lock per app:
--
--   * the ingest insert (db/statements.cpp, insert_events) locks the rows
--     of the batch's apps FOR KEY SHARE in the same statement and inserts
--     only the events whose app it locked; the others are answered as for
--     an unknown tenant;
--   * the other writers hold the app's row already: a replay's copy
--     (event_lock_for_replay, FOR KEY SHARE) and a stream event written by
--     PATCH /api/calls/{id} (UPDATE apps SET last_seq, a stronger lock).
--
-- Deleting an app still deletes its events, now by the trigger below. A
-- writer's lock makes the DELETE wait until the writer commits, and the
-- trigger's own DELETE (a fresh snapshot, as the cascade's) then sees the
-- new events; a writer that comes after the DELETE finds no app row and
-- writes nothing. The trigger runs as the table's owner, as the foreign
-- key's cascade did, so row-level security does not hide rows from it. It
-- refuses a DELETE of apps in a REPEATABLE READ or SERIALIZABLE
-- transaction: its snapshot would miss the events of a writer the DELETE
-- waited for (the key's cascade raised a serialization failure there). The
-- same goes for a change of an app's id.
-- TRUNCATE apps CASCADE empties webhook_events too; an app's id cannot
-- change while it has events (the key refused that as well).

ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_app_fkey;

CREATE FUNCTION webhook_events_follow_apps_delete() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  -- Under a transaction snapshot the DELETE below would miss events
  -- committed by a writer the app's DELETE waited for.
  IF current_setting('transaction_isolation') <> 'read committed'
     AND EXISTS (SELECT 1 FROM gone) THEN
    RAISE EXCEPTION 'delete apps in a READ COMMITTED transaction (their events go with them)'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  DELETE FROM public.webhook_events WHERE app_id IN (SELECT id FROM gone);
  RETURN NULL;
END $$;

CREATE TRIGGER apps_delete_events AFTER DELETE ON apps
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_follow_apps_delete();

CREATE FUNCTION webhook_events_follow_apps_truncate() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  TRUNCATE public.webhook_events;
  RETURN NULL;
END $$;

CREATE TRIGGER apps_truncate_events AFTER TRUNCATE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_follow_apps_truncate();

CREATE FUNCTION webhook_events_keep_app_id() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  -- As for a DELETE: a transaction snapshot could miss a writer's events.
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'change an app''s id in a READ COMMITTED transaction'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF EXISTS (SELECT 1 FROM public.webhook_events WHERE app_id = OLD.id) THEN
    RAISE EXCEPTION 'app % still has events', OLD.id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER apps_keep_id_with_events BEFORE UPDATE OF id ON apps
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION webhook_events_keep_app_id();

REVOKE ALL ON FUNCTION webhook_events_follow_apps_delete() FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook_events_follow_apps_truncate() FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook_events_keep_app_id() FROM PUBLIC;
