#!/bin/sh
# Run once by the postgres image on a fresh volume (mounted into
# /docker-entrypoint-initdb.d by docker-compose.yml). Creates the role the
# server connects as: `cti_server`, which owns nothing, so PostgreSQL's
# row-level security binds it. The image's POSTGRES_USER owns the database
# and applies the migrations (MIGRATION_DATABASE_URL); migration 006 grants
# cti_app its rights on the tables. See docs/DECISIONS.md, "Row-level security".
set -eu
: "${CTI_SERVER_DB_PASSWORD:?set CTI_SERVER_DB_PASSWORD for the cti_server role}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v pw="$CTI_SERVER_DB_PASSWORD" <<'SQL'
CREATE ROLE cti_tenant NOLOGIN;
CREATE ROLE cti_app NOLOGIN;
GRANT cti_tenant TO cti_app;
CREATE ROLE cti_server LOGIN PASSWORD :'pw';
GRANT cti_app TO cti_server;
SQL
