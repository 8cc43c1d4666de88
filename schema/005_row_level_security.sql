-- 005_row_level_security.sql: tenant isolation enforced by PostgreSQL too.
--
-- Every tenant table gets a policy: a row is visible (and may be written)
-- only when its app_id is the transaction's `cti.app_id` setting. Policies
-- do not bind the tables' owner (nor superusers), so the server's own
-- cross-tenant work (queue pollers, retention, migrations) runs as it did.
-- Requests made with an app's API key run their transaction as role
-- `cti_tenant`, which owns nothing, after `SET LOCAL ROLE cti_tenant` and
-- `set_config('cti.app_id', <the app>, true)`: a query of such a request
-- that forgot (or forged) its app filter still sees only that app's rows.
--
-- Creating the role needs CREATEROLE (or a superuser). A deployment whose
-- migrating role lacks it creates `cti_tenant` itself and grants it to the
-- server's role (scripts/pg.sh ensure-role does both for the embedded
-- cluster); until then the server logs that database-side isolation is off.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cti_tenant') THEN
    BEGIN
      CREATE ROLE cti_tenant NOLOGIN;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING 'cannot create role cti_tenant (needs CREATEROLE): row-level security stays unused';
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cti_tenant')
     AND NOT pg_has_role(current_user, 'cti_tenant', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT cti_tenant TO %I', current_user);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING 'cannot grant cti_tenant to %: row-level security stays unused', current_user;
    END;
  END IF;
END $$;

DO $$
DECLARE
  t text;
  has_role boolean := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cti_tenant');
BEGIN
  FOREACH t IN ARRAY ARRAY['calls', 'voicemails', 'messages', 'dialpad_user_mappings',
                           'dialpad_users', 'webhook_events', 'activity_audit_log',
                           'api_key_audit_log']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I'
                   ' USING (app_id = NULLIF(current_setting(''cti.app_id'', true), '''')::uuid)'
                   ' WITH CHECK (app_id = NULLIF(current_setting(''cti.app_id'', true), '''')::uuid)', t);
    IF has_role THEN
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO cti_tenant', t);
    END IF;
  END LOOP;
  IF has_role THEN
    -- Apps are not a tenant table (an app's request reads its own row by id);
    -- a request takes its stream numbers from it.
    GRANT SELECT, UPDATE ON apps TO cti_tenant;
  END IF;
END $$;
