-- 002_updated_at_trigger_when.sql: fire the updated_at trigger of calls and
-- voicemails only when the writer did not set updated_at itself.
--
-- The event processor writes whole batches of changed rows and sets
-- updated_at = now() itself; evaluating the plpgsql trigger (a whole-row
-- comparison) for each of those rows cost about a third of the write. A
-- WHEN condition is evaluated without calling the function at all. Writers
-- that leave updated_at alone (e.g. a CRM context update) still get the
-- trigger's "stamp only on a real change" behaviour.

DROP TRIGGER calls_set_updated_at ON calls;
CREATE TRIGGER calls_set_updated_at
    BEFORE UPDATE ON calls
    FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION set_updated_at();

DROP TRIGGER voicemails_set_updated_at ON voicemails;
CREATE TRIGGER voicemails_set_updated_at
    BEFORE UPDATE ON voicemails
    FOR EACH ROW
    WHEN (NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at)
    EXECUTE FUNCTION set_updated_at();
