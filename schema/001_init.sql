-- 001_init.sql: the complete initial schema of CTI Server (PostgreSQL 15).
--
-- Applied by the migrator inside one transaction and recorded by it in
-- schema_migrations (which this file does not create). Plain statements only:
-- no BEGIN/COMMIT, no CONCURRENTLY, no psql meta-commands.
--
-- Conventions:
--   * our ids are uuid (gen_random_uuid()); Dialpad ids are bigint;
--   * every time is timestamptz;
--   * every app-owned row references apps(id) ON DELETE CASCADE, except the
--     append-only activity_audit_log, which must outlive its app;
--   * list indexes end in (<time> DESC, id DESC) to serve keyset pagination
--     "newest first, ties by id descending" (API.md);
--   * phone numbers are stored already normalized (spaces, dots, dashes and
--     parentheses removed, leading + kept), so filters are plain equality;
--   * constraints and indexes are named <table>_<what>_{key,fkey,check,idx}.
--
-- Row-level security comes in a later migration.

-- ---------------------------------------------------------------------------
-- Shared trigger functions
-- ---------------------------------------------------------------------------

-- Stamps updated_at on a real change. A no-op UPDATE (for example an
-- ON CONFLICT DO UPDATE that writes the same values) keeps the old stamp, and
-- a caller that sets updated_at itself wins. Every column of a table using it
-- must have an equality operator (jsonb yes, json no).
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD
       AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION set_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at = now() when the row really changed and the caller did not set updated_at.';

-- Refuses UPDATE, DELETE and TRUNCATE on append-only tables.
CREATE FUNCTION refuse_append_only_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

COMMENT ON FUNCTION refuse_append_only_change() IS
    'Trigger that raises on UPDATE/DELETE/TRUNCATE of an append-only table.';

-- ---------------------------------------------------------------------------
-- apps: tenants, their API key, their stream counter, their retention
-- ---------------------------------------------------------------------------

CREATE TABLE apps (
    id                                 uuid        NOT NULL DEFAULT gen_random_uuid(),
    name                               text        NOT NULL,
    is_active                          boolean     NOT NULL DEFAULT true,

    -- API key: only a bcrypt hash is stored. api_key_id is a non-secret key
    -- id / prefix carried by the key, indexed, so one row is the single
    -- candidate and one bcrypt verification decides. NULL when no key.
    api_key_id                         text,
    api_key_hash                       text,
    api_key_hint                       text,
    api_key_created_at                 timestamptz,
    api_key_rotated_at                 timestamptz,
    api_key_revoked_at                 timestamptz,

    -- WebSocket stream: the last seq assigned to this app (0 = none yet).
    last_seq                           bigint      NOT NULL DEFAULT 0,

    -- Retention (PUT /internal/apps/{id}/retention).
    retention_calls_days               integer     NOT NULL DEFAULT 365,
    retention_voicemails_archive_days  integer     NOT NULL DEFAULT 90,
    retention_messages_days            integer     NOT NULL DEFAULT 365,
    retention_webhook_events_days      integer     NOT NULL DEFAULT 30,

    created_at                         timestamptz NOT NULL DEFAULT now(),
    updated_at                         timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT apps_pkey PRIMARY KEY (id),
    CONSTRAINT apps_api_key_id_key UNIQUE (api_key_id),
    CONSTRAINT apps_name_check CHECK (btrim(name) <> ''),
    CONSTRAINT apps_api_key_id_check CHECK (api_key_id IS NULL OR api_key_id <> ''),
    CONSTRAINT apps_api_key_pair_check CHECK ((api_key_id IS NULL) = (api_key_hash IS NULL)),
    CONSTRAINT apps_api_key_hint_check
        CHECK (api_key_hint IS NULL OR api_key_hint ~ '^raw_[0-9a-f]{4}\.\.\.[0-9a-f]{4}$'),
    CONSTRAINT apps_last_seq_check CHECK (last_seq >= 0),
    CONSTRAINT apps_retention_calls_days_check CHECK (retention_calls_days > 0),
    CONSTRAINT apps_retention_voicemails_archive_days_check CHECK (retention_voicemails_archive_days > 0),
    CONSTRAINT apps_retention_messages_days_check CHECK (retention_messages_days > 0),
    CONSTRAINT apps_retention_webhook_events_days_check CHECK (retention_webhook_events_days > 0)
);

-- GET /internal/apps, newest first.
CREATE INDEX apps_created_idx ON apps (created_at DESC, id DESC);

-- Listed columns only: the hot "UPDATE apps SET last_seq = last_seq + n"
-- that assigns stream numbers must not fire a trigger nor touch updated_at.
-- A column added to apps later must be added to this list.
CREATE TRIGGER apps_set_updated_at
    BEFORE UPDATE OF name, is_active,
                     api_key_id, api_key_hash, api_key_hint,
                     api_key_created_at, api_key_rotated_at, api_key_revoked_at,
                     retention_calls_days, retention_voicemails_archive_days,
                     retention_messages_days, retention_webhook_events_days
    ON apps
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE apps IS
    'Tenants: name, active flag, API key (bcrypt hash + indexed non-secret key id + hint), WebSocket stream counter, retention settings.';
COMMENT ON COLUMN apps.api_key_id IS
    'Non-secret key id / prefix taken from the API key; unique, used to find the one candidate row before one bcrypt check. NULL when the app has no key.';
COMMENT ON COLUMN apps.api_key_hash IS 'bcrypt hash of the whole API key; NULL when no key (never created or revoked).';
COMMENT ON COLUMN apps.api_key_hint IS 'raw_abcd...6789: first 4 and last 4 hex of the key.';
COMMENT ON COLUMN apps.last_seq IS
    'Last WebSocket seq assigned to the app; advanced under this row''s lock in the poller transaction (UPDATE ... SET last_seq = last_seq + n RETURNING last_seq).';

-- ---------------------------------------------------------------------------
-- api_key_audit_log
-- ---------------------------------------------------------------------------

CREATE TABLE api_key_audit_log (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    app_id        uuid        NOT NULL,
    action        text        NOT NULL,
    old_key_hint  text,
    new_key_hint  text,
    performed_at  timestamptz NOT NULL DEFAULT now(),
    request_id    text,

    CONSTRAINT api_key_audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT api_key_audit_log_app_fkey FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE,
    CONSTRAINT api_key_audit_log_action_check CHECK (action IN ('created', 'rotated', 'revoked')),
    CONSTRAINT api_key_audit_log_hints_check CHECK (
        (action = 'created' AND new_key_hint IS NOT NULL)
        OR (action = 'rotated' AND old_key_hint IS NOT NULL AND new_key_hint IS NOT NULL)
        OR (action = 'revoked' AND new_key_hint IS NULL))
);

CREATE INDEX api_key_audit_log_app_performed_idx
    ON api_key_audit_log (app_id, performed_at DESC, id DESC);

COMMENT ON TABLE api_key_audit_log IS
    'One row per API key creation, rotation or revocation, with old/new hints and the request id.';

-- ---------------------------------------------------------------------------
-- dialpad_connections: one per app; webhook routing, OAuth tokens, sync job
-- ---------------------------------------------------------------------------

CREATE TABLE dialpad_connections (
    app_id                   uuid        NOT NULL,
    dialpad_org_id           bigint,
    environment              text        NOT NULL,
    status                   text        NOT NULL DEFAULT 'registered',

    -- Webhooks. Secrets and tokens are AES-256-GCM sealed (domain/ layout).
    webhook_secret_sealed    bytea,
    allow_unsigned_webhooks  boolean     NOT NULL DEFAULT false,

    -- OAuth tokens.
    access_token_sealed      bytea,
    refresh_token_sealed     bytea,
    expires_at               timestamptz,
    scopes                   text[]      NOT NULL DEFAULT '{}',

    -- Historical call import (POST /internal/apps/{id}/dialpad/sync).
    sync_job_id              uuid,
    sync_state               text,
    sync_calls_imported      integer     NOT NULL DEFAULT 0,
    sync_error               text,
    sync_started_at          timestamptz,
    sync_finished_at         timestamptz,

    -- Token refresher bookkeeping.
    last_refresh_at          timestamptz,
    refresh_failures         integer     NOT NULL DEFAULT 0,
    next_refresh_at          timestamptz,

    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT dialpad_connections_pkey PRIMARY KEY (app_id),
    CONSTRAINT dialpad_connections_app_fkey FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE,
    CONSTRAINT dialpad_connections_org_key UNIQUE (dialpad_org_id),
    CONSTRAINT dialpad_connections_environment_check CHECK (environment IN ('sandbox', 'production')),
    CONSTRAINT dialpad_connections_status_check CHECK (status IN ('registered', 'connected', 'needs_reauth')),
    CONSTRAINT dialpad_connections_connected_check
        CHECK (status <> 'connected' OR access_token_sealed IS NOT NULL),
    CONSTRAINT dialpad_connections_sync_state_check
        CHECK (sync_state IS NULL OR sync_state IN ('running', 'done', 'failed')),
    CONSTRAINT dialpad_connections_sync_job_check CHECK ((sync_job_id IS NULL) = (sync_state IS NULL)),
    CONSTRAINT dialpad_connections_sync_calls_imported_check CHECK (sync_calls_imported >= 0),
    CONSTRAINT dialpad_connections_refresh_failures_check CHECK (refresh_failures >= 0)
);

CREATE TRIGGER dialpad_connections_set_updated_at
    BEFORE UPDATE ON dialpad_connections
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE dialpad_connections IS
    'An app''s Dialpad account (one per app): org id for webhook routing, sealed webhook secret and OAuth tokens, sync job progress, refresh bookkeeping.';
COMMENT ON COLUMN dialpad_connections.dialpad_org_id IS
    'Dialpad company id; unique across apps (webhook routing by org id). Set by PUT .../dialpad or by the OAuth callback (GET /api/v2/company).';
COMMENT ON COLUMN dialpad_connections.webhook_secret_sealed IS 'AES-256-GCM sealed webhook secret; NULL = use DIALPAD_WEBHOOK_SECRET.';
COMMENT ON COLUMN dialpad_connections.access_token_sealed IS 'AES-256-GCM sealed OAuth access token; NULL without tokens.';
COMMENT ON COLUMN dialpad_connections.refresh_token_sealed IS 'AES-256-GCM sealed OAuth refresh token (rotated by every refresh).';

-- ---------------------------------------------------------------------------
-- oauth_states: single-use OAuth state + PKCE verifier (10 minutes)
-- ---------------------------------------------------------------------------

CREATE TABLE oauth_states (
    state_hash     text        NOT NULL,
    app_id         uuid        NOT NULL,
    environment    text        NOT NULL,
    code_verifier  text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    consumed_at    timestamptz,

    CONSTRAINT oauth_states_pkey PRIMARY KEY (state_hash),
    CONSTRAINT oauth_states_app_fkey FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE,
    CONSTRAINT oauth_states_state_hash_check CHECK (state_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT oauth_states_environment_check CHECK (environment IN ('sandbox', 'production')),
    CONSTRAINT oauth_states_code_verifier_check CHECK (char_length(code_verifier) BETWEEN 43 AND 128),
    CONSTRAINT oauth_states_expiry_check CHECK (expires_at > created_at)
);

CREATE INDEX oauth_states_app_idx ON oauth_states (app_id);
CREATE INDEX oauth_states_expires_idx ON oauth_states (expires_at);

COMMENT ON TABLE oauth_states IS
    'Pending OAuth authorizations: SHA-256 of the state (never the state itself), the app, environment and PKCE verifier; consumed by the first callback.';
COMMENT ON COLUMN oauth_states.state_hash IS 'Lowercase hex SHA-256 of the state sent to Dialpad.';

-- ---------------------------------------------------------------------------
-- dialpad_users and dialpad_user_mappings
-- ---------------------------------------------------------------------------

CREATE TABLE dialpad_users (
    app_id           uuid        NOT NULL,
    dialpad_user_id  bigint      NOT NULL,
    email            text,
    name             text,
    phone            text,
    office_id        bigint,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT dialpad_users_pkey PRIMARY KEY (app_id, dialpad_user_id),
    CONSTRAINT dialpad_users_app_fkey FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE
);

COMMENT ON TABLE dialpad_users IS
    'Dialpad users seen in an app''s events (from the event target), with first/last sighting.';

CREATE TABLE dialpad_user_mappings (
    id               uuid        NOT NULL DEFAULT gen_random_uuid(),
    app_id           uuid        NOT NULL,
    dialpad_user_id  bigint      NOT NULL,
    crm_user_id      text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT dialpad_user_mappings_pkey PRIMARY KEY (id),
    CONSTRAINT dialpad_user_mappings_app_fkey FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE,
    CONSTRAINT dialpad_user_mappings_app_user_key UNIQUE (app_id, dialpad_user_id),
    -- Bounded because it is indexed (a btree entry must stay well under 2.7 kB).
    CONSTRAINT dialpad_user_mappings_crm_user_id_check
        CHECK (btrim(crm_user_id) <> '' AND char_length(crm_user_id) <= 255)
);

CREATE INDEX dialpad_user_mappings_app_crm_user_idx
    ON dialpad_user_mappings (app_id, crm_user_id);
CREATE INDEX dialpad_user_mappings_app_created_idx
    ON dialpad_user_mappings (app_id, created_at DESC, id DESC);

CREATE TRIGGER dialpad_user_mappings_set_updated_at
    BEFORE UPDATE ON dialpad_user_mappings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE dialpad_user_mappings IS
    'Dialpad user -> CRM user, per app (several Dialpad users may map to one CRM user). Applied at read time.';

-- ---------------------------------------------------------------------------
-- calls
-- ---------------------------------------------------------------------------

CREATE TABLE calls (
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    app_id            uuid        NOT NULL,
    dialpad_call_id   bigint      NOT NULL,
    direction         text,
    from_number       text,
    to_number         text,
    status            text        NOT NULL,
    dialpad_user_id   bigint,
    started_at        timestamptz NOT NULL,
    answered_at       timestamptz,
    ended_at          timestamptz,
    duration_seconds  integer,
    recording_url     text,
    has_voicemail     boolean     NOT NULL DEFAULT false,
    crm_context       jsonb,
    raw_payload       jsonb,
    last_event_at     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT calls_pkey PRIMARY KEY (id),
    CONSTRAINT calls_app_fkey FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE,
    CONSTRAINT calls_app_dialpad_call_key UNIQUE (app_id, dialpad_call_id),
    -- Target of voicemails' same-app foreign key.
    CONSTRAINT calls_app_id_key UNIQUE (app_id, id),
    CONSTRAINT calls_direction_check CHECK (direction IS NULL OR direction IN ('inbound', 'outbound')),
    CONSTRAINT calls_status_check
        CHECK (status IN ('ringing', 'active', 'held', 'ended', 'missed', 'rejected', 'voicemail')),
    CONSTRAINT calls_duration_check CHECK (duration_seconds IS NULL OR duration_seconds >= 0),
    CONSTRAINT calls_crm_context_check CHECK (crm_context IS NULL OR jsonb_typeof(crm_context) = 'object')
);

-- GET /api/calls (no filter, since/until, retention, export).
CREATE INDEX calls_app_started_idx ON calls (app_id, started_at DESC, id DESC);
-- GET /api/calls/active.
CREATE INDEX calls_app_live_started_idx ON calls (app_id, started_at DESC, id DESC)
    WHERE status IN ('ringing', 'active', 'held');
-- Filters from_number / to_number / phone (BitmapOr of both) / dialpad_user_id
-- (and crm_user_id, resolved to dialpad_user_ids through the mappings).
CREATE INDEX calls_app_from_started_idx ON calls (app_id, from_number, started_at DESC, id DESC);
CREATE INDEX calls_app_to_started_idx ON calls (app_id, to_number, started_at DESC, id DESC);
CREATE INDEX calls_app_user_started_idx ON calls (app_id, dialpad_user_id, started_at DESC, id DESC);
-- Ad-hoc containment queries on the sanitized payload (raw_payload @> '{...}').
CREATE INDEX calls_raw_payload_gin_idx ON calls USING gin (raw_payload jsonb_path_ops);

CREATE TRIGGER calls_set_updated_at
    BEFORE UPDATE ON calls
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE calls IS
    'One row per (app, Dialpad call): status machine result, numbers, user, times, recording, CRM context, sanitized last payload.';
COMMENT ON COLUMN calls.status IS
    'ringing|active|held|voicemail are live-ish; ended|missed|rejected are terminal (the status machine lives in domain/).';
COMMENT ON COLUMN calls.last_event_at IS
    'Event time (event_timestamp / timestamp) of the last applied status change; an older event does not change the status.';
COMMENT ON COLUMN calls.crm_context IS 'JSON object attached by the CRM (PATCH /api/calls/{id}); NULL when cleared.';
COMMENT ON COLUMN calls.raw_payload IS 'Sanitized copy of the last event payload (the full event stays in webhook_events.payload).';

-- ---------------------------------------------------------------------------
-- voicemails
-- ---------------------------------------------------------------------------

CREATE TABLE voicemails (
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    app_id            uuid        NOT NULL,
    call_id           uuid,
    dialpad_call_id   bigint,
    from_number       text,
    to_number         text,
    dialpad_user_id   bigint,
    recording_url     text,
    transcript        text,
    duration_seconds  integer,
    received_at       timestamptz NOT NULL,
    is_archived       boolean     NOT NULL DEFAULT false,
    callback_status   text        NOT NULL DEFAULT 'pending',
    crm_task_id       text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT voicemails_pkey PRIMARY KEY (id),
    CONSTRAINT voicemails_app_fkey FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE,
    -- The call must belong to the same app; deleting the call keeps the
    -- voicemail and clears only call_id (PG15 column list).
    CONSTRAINT voicemails_call_fkey FOREIGN KEY (app_id, call_id)
        REFERENCES calls (app_id, id) ON DELETE SET NULL (call_id),
    -- Plain constraint (NULLs are distinct) so that
    -- ON CONFLICT (app_id, dialpad_call_id) works without a WHERE clause.
    CONSTRAINT voicemails_app_dialpad_call_key UNIQUE (app_id, dialpad_call_id),
    CONSTRAINT voicemails_duration_check CHECK (duration_seconds IS NULL OR duration_seconds >= 0),
    CONSTRAINT voicemails_callback_status_check CHECK (callback_status IN ('pending', 'in_progress', 'done'))
);

CREATE INDEX voicemails_app_received_idx ON voicemails (app_id, received_at DESC, id DESC);
-- Callback work list: GET /api/voicemails?callback_status=pending.
CREATE INDEX voicemails_app_callback_received_idx
    ON voicemails (app_id, callback_status, received_at DESC, id DESC);
CREATE INDEX voicemails_app_user_received_idx
    ON voicemails (app_id, dialpad_user_id, received_at DESC, id DESC);
-- Serves the foreign key when calls are deleted (erase, retention).
CREATE INDEX voicemails_call_idx ON voicemails (call_id) WHERE call_id IS NOT NULL;

CREATE TRIGGER voicemails_set_updated_at
    BEFORE UPDATE ON voicemails
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE voicemails IS
    'One voicemail per (app, Dialpad call), created or enriched by voicemail events; tracks the CRM callback.';

-- ---------------------------------------------------------------------------
-- messages
-- ---------------------------------------------------------------------------

CREATE TABLE messages (
    id                  uuid        NOT NULL DEFAULT gen_random_uuid(),
    app_id              uuid        NOT NULL,
    dialpad_message_id  bigint      NOT NULL,
    direction           text,
    from_number         text,
    to_number           text,
    text                text,
    dialpad_user_id     bigint,
    sent_at             timestamptz NOT NULL,
    raw_payload         jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT messages_pkey PRIMARY KEY (id),
    CONSTRAINT messages_app_fkey FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE,
    CONSTRAINT messages_app_dialpad_message_key UNIQUE (app_id, dialpad_message_id),
    CONSTRAINT messages_direction_check CHECK (direction IS NULL OR direction IN ('inbound', 'outbound'))
);

CREATE INDEX messages_app_sent_idx ON messages (app_id, sent_at DESC, id DESC);

COMMENT ON TABLE messages IS
    'SMS records, one per (app, Dialpad message id); to_number is the first recipient.';

-- ---------------------------------------------------------------------------
-- webhook_events: the durable queue and the app's event stream
-- ---------------------------------------------------------------------------
--
-- State model (one column, `state`):
--
--   ingest ──► pending ──(claimed, applied in a savepoint)──► processed (outcome set)
--                │  ▲
--   handler fails│  │ attempts < EVENT_MAX_ATTEMPTS: attempts+1, last_error,
--                ▼  │ next_attempt_at = now() + backoff
--              (retry)
--                │ attempts reach EVENT_MAX_ATTEMPTS
--                ▼
--               dead
--
--   API state `failed` is derived, not stored: state = 'pending' AND attempts > 0.
--   Replay sets state = 'pending', outcome = NULL, processed_at = NULL,
--   next_attempt_at = now(); it keeps seq (the stream history is immutable).

CREATE TABLE webhook_events (
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    app_id            uuid        NOT NULL,
    dialpad_event_id  text        NOT NULL,
    event_type        text        NOT NULL,
    payload           jsonb       NOT NULL,
    format            text        NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    state             text        NOT NULL DEFAULT 'pending',
    processed_at      timestamptz,
    outcome           text,
    attempts          integer     NOT NULL DEFAULT 0,
    last_error        text,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    seq               bigint,
    redacted_at       timestamptz,

    CONSTRAINT webhook_events_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_events_app_fkey FOREIGN KEY (app_id) REFERENCES apps (id) ON DELETE CASCADE,
    CONSTRAINT webhook_events_app_event_key UNIQUE (app_id, dialpad_event_id),
    -- Bounded because it is indexed: the ingester must refuse (or hash) longer
    -- ids before the batch insert, or one bad row fails the whole group commit.
    CONSTRAINT webhook_events_dialpad_event_id_check CHECK (char_length(dialpad_event_id) BETWEEN 1 AND 512),
    CONSTRAINT webhook_events_event_type_check CHECK (char_length(event_type) BETWEEN 1 AND 128),
    CONSTRAINT webhook_events_format_check
        CHECK (format IN ('dialpad_jwt', 'dialpad_json', 'seed', 'dialpad_sync', 'internal')),
    CONSTRAINT webhook_events_state_check CHECK (state IN ('pending', 'processed', 'dead')),
    CONSTRAINT webhook_events_outcome_check
        CHECK (outcome IS NULL OR outcome IN ('applied', 'unchanged', 'rejected_transition', 'ignored')),
    CONSTRAINT webhook_events_processed_at_check CHECK ((state = 'processed') = (processed_at IS NOT NULL)),
    CONSTRAINT webhook_events_processed_outcome_check CHECK ((state = 'processed') = (outcome IS NOT NULL)),
    CONSTRAINT webhook_events_attempts_check CHECK (attempts >= 0),
    CONSTRAINT webhook_events_dead_check CHECK (state <> 'dead' OR attempts > 0),
    CONSTRAINT webhook_events_seq_check CHECK (seq IS NULL OR seq > 0)
);

-- Stream numbers are unique per app; also serves WebSocket replay and gap
-- filling: WHERE app_id = $1 AND seq > $2 ORDER BY seq.
CREATE UNIQUE INDEX webhook_events_app_seq_key ON webhook_events (app_id, seq) WHERE seq IS NOT NULL;
-- Poller claim:
--   WHERE state = 'pending' AND next_attempt_at <= now()
--   ORDER BY received_at, id LIMIT $n FOR UPDATE SKIP LOCKED
CREATE INDEX webhook_events_pending_idx ON webhook_events (received_at, id) WHERE state = 'pending';
-- Next wake-up for retry backoff: min(next_attempt_at) of pending events.
CREATE INDEX webhook_events_pending_due_idx ON webhook_events (next_attempt_at) WHERE state = 'pending';
-- GET /internal/apps/{id}/events, and retention (processed, older than N days).
CREATE INDEX webhook_events_app_received_idx ON webhook_events (app_id, received_at DESC, id DESC);
-- ?state=pending|failed|dead, and the metrics' dead count.
CREATE INDEX webhook_events_app_unprocessed_idx ON webhook_events (app_id, received_at DESC, id DESC)
    WHERE state <> 'processed';

COMMENT ON TABLE webhook_events IS
    'Every accepted event, stored before the 200: the processing queue (state pending|processed|dead) and, through seq, the app''s WebSocket stream for replay.';
COMMENT ON COLUMN webhook_events.dialpad_event_id IS
    'Event identity (API.md "Event identity"); unique per app, so a repeat delivery is a no-op.';
COMMENT ON COLUMN webhook_events.payload IS 'The full event as received (decoded JWT payload or JSON body); changed only by erase (redacted_at).';
COMMENT ON COLUMN webhook_events.format IS
    'dialpad_jwt | dialpad_json | seed (webhooks); dialpad_sync (imported by a sync job); internal (server-made stream events such as call.context_updated).';
COMMENT ON COLUMN webhook_events.received_at IS
    'Arrival time; processing order is (received_at, id). The ingester should pass each request''s own arrival time, since now() is the same for a whole group commit.';
COMMENT ON COLUMN webhook_events.state IS
    'pending (waiting or retrying; API "failed" = pending with attempts > 0) | processed (outcome set) | dead (attempts exhausted).';
COMMENT ON COLUMN webhook_events.seq IS
    'Per-app stream number, assigned when the event is applied (outcome applied), from apps.last_seq under the app row lock; kept across replays.';

-- ---------------------------------------------------------------------------
-- activity_audit_log: append-only
-- ---------------------------------------------------------------------------

CREATE TABLE activity_audit_log (
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    -- No foreign key: the trail outlives its app, and a cascade would be a DELETE.
    app_id      uuid,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    details     jsonb       NOT NULL DEFAULT '{}',
    request_id  text,
    created_at  timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT activity_audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT activity_audit_log_actor_check CHECK (actor <> ''),
    CONSTRAINT activity_audit_log_action_check CHECK (action <> ''),
    CONSTRAINT activity_audit_log_details_check CHECK (jsonb_typeof(details) = 'object')
);

CREATE INDEX activity_audit_log_app_created_idx ON activity_audit_log (app_id, created_at DESC, id DESC);
CREATE INDEX activity_audit_log_created_idx ON activity_audit_log (created_at DESC, id DESC);

CREATE TRIGGER activity_audit_log_refuse_change
    BEFORE UPDATE OR DELETE ON activity_audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER activity_audit_log_refuse_truncate
    BEFORE TRUNCATE ON activity_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();

COMMENT ON TABLE activity_audit_log IS
    'Append-only trail of administrative actions (erase, retention, app changes, ...); UPDATE, DELETE and TRUNCATE raise.';
COMMENT ON COLUMN activity_audit_log.app_id IS 'The app concerned; NULL for global actions. Deliberately not a foreign key.';
COMMENT ON COLUMN activity_audit_log.actor IS 'Who acted: internal, app:<uuid>, system.';

-- ---------------------------------------------------------------------------
-- cluster_nodes
-- ---------------------------------------------------------------------------

CREATE TABLE cluster_nodes (
    name              text        NOT NULL,
    host              text        NOT NULL,
    port              integer     NOT NULL,
    protocol_version  integer     NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    heartbeat_at      timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT cluster_nodes_pkey PRIMARY KEY (name),
    CONSTRAINT cluster_nodes_name_check CHECK (name <> ''),
    CONSTRAINT cluster_nodes_host_check CHECK (host <> ''),
    CONSTRAINT cluster_nodes_port_check CHECK (port BETWEEN 1 AND 65535),
    CONSTRAINT cluster_nodes_protocol_version_check CHECK (protocol_version > 0)
);

CREATE INDEX cluster_nodes_heartbeat_idx ON cluster_nodes (heartbeat_at);

COMMENT ON TABLE cluster_nodes IS
    'Live nodes for peer discovery (besides CLUSTER_SEEDS): CAF io address, protocol version, heartbeat.';
