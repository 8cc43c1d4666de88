-- 012_crm_context_as_written.sql: calls.crm_context keeps the CRM's object
-- as it was written.
--
-- jsonb orders an object's keys by length, then bytes; the call object and
-- the CSV export (API.md: "an object field (crm_context) as compact JSON")
-- then showed {"stage":…,"deal_id":…} for {"deal_id":…,"stage":…}. The
-- column now holds the compact JSON text of the PATCH body's object, keys in
-- the client's order; the CHECK still refuses anything but an object.
-- (json, which also keeps the text, has no equality operator, and the
-- set_updated_at trigger compares whole rows.)
--
-- Changing the column's type rewrites the table and its indexes once, under
-- an exclusive lock: on a large installation, run this migration while the
-- nodes are stopped (as 009). The CHECK is added NOT VALID and validated
-- after, which only reads.

ALTER TABLE calls DROP CONSTRAINT calls_crm_context_check;
ALTER TABLE calls ALTER COLUMN crm_context TYPE text USING crm_context::text;
ALTER TABLE calls ADD CONSTRAINT calls_crm_context_check
    CHECK (crm_context IS NULL OR jsonb_typeof(crm_context::jsonb) = 'object') NOT VALID;
ALTER TABLE calls VALIDATE CONSTRAINT calls_crm_context_check;
COMMENT ON COLUMN calls.crm_context IS
    'Compact JSON text of the object attached by the CRM (PATCH /api/calls/{id}), keys in the order written; NULL when cleared.';
