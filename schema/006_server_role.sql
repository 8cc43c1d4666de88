-- 006_server_role.sql: the server may connect as a role that owns nothing.
--
-- Migrations run as the tables' owner (MIGRATION_DATABASE_URL); the server
-- itself can connect (DATABASE_URL) as any login role that is a member of
-- `cti_app`. That role may read and write rows but not change the schema
-- (no DROP, ALTER, TRUNCATE, no CREATE in the schema), and row-level
-- security binds it:
--   * `server_unbound` lets members of cti_app see every app's rows, for the
--     work that spans tenants (ingest, queue pollers, retention, refreshers);
--   * a request made with an app's key switches to `cti_tenant` (granted to
--     cti_app below), where only `tenant_isolation` applies: that app's rows.
-- A deployment that keeps one role for both keeps working as before.
--
-- Creating the role needs CREATEROLE (or a superuser). A migrating role
-- without it gets a warning; the DBA then creates `cti_app NOLOGIN`, grants
-- it `cti_tenant` and runs this file's grants (scripts/pg.sh grant-server
-- does the role part for the embedded cluster).

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cti_app') THEN
    BEGIN
      CREATE ROLE cti_app NOLOGIN;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING 'cannot create role cti_app (needs CREATEROLE): the server must connect as the tables'' owner';
    END;
  END IF;
END $$;

DO $$
DECLARE
  t text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cti_app') THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cti_tenant')
     AND NOT pg_has_role('cti_app', 'cti_tenant', 'MEMBER') THEN
    BEGIN
      GRANT cti_tenant TO cti_app;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE WARNING 'cannot grant cti_tenant to cti_app: requests of a non-owner server role cannot bind row-level security';
    END;
  END IF;
  -- Rows, not schema. Tables added by later migrations get the same rights
  -- through the default privileges of the migrating role.
  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO cti_app;
  GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO cti_app;
  ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO cti_app;
  ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO cti_app;
  -- The migration ledger is the owner's.
  REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM cti_app;
  FOREACH t IN ARRAY ARRAY['calls', 'voicemails', 'messages', 'dialpad_user_mappings',
                           'dialpad_users', 'webhook_events', 'activity_audit_log',
                           'api_key_audit_log']
  LOOP
    EXECUTE format('CREATE POLICY server_unbound ON %I TO cti_app USING (true) WITH CHECK (true)', t);
  END LOOP;
END $$;
