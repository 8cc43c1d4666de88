-- 011_call_mark_keeps_updated_at.sql: storing a call's ordering mark alone
-- does not stamp updated_at.
--
-- calls.last_event_at is the ordering rule's mark (API.md: an event older
-- than the call's last status change does not change the status). An event
-- that reports the status the call already has, with a later time, is
-- `unchanged` (nothing shown moves, nothing is pushed) but moves the mark;
-- the processor then writes only last_event_at, and updated_at must not
-- move either. The event processor's other writes set updated_at
-- themselves (the trigger does not fire for them), and no other writer
-- touches last_event_at, so for them the condition is the one of 002.

DROP TRIGGER calls_set_updated_at ON calls;
CREATE TRIGGER calls_set_updated_at
    BEFORE UPDATE ON calls
    FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at
          AND NEW.last_event_at IS NOT DISTINCT FROM OLD.last_event_at)
    EXECUTE FUNCTION set_updated_at();

COMMENT ON COLUMN calls.last_event_at IS
    'Ordering mark: the latest event time (event_timestamp / timestamp) among the applied status changes and the reports of the status the call already had; an older event does not change the status.';
