#!/usr/bin/env bash
# Small PostgreSQL cluster helper for the dev cluster (scripts/run.sh), the
# throw-away test cluster (scripts/test.sh) and the C++ integration tests,
# which stop and start the test cluster through this script.
#
# Clusters listen on 127.0.0.1 only; their Unix socket lives inside the data
# directory (never /var/run/postgresql, which may be missing or not writable).
# PostgreSQL refuses to run as root, so when called as root every server-side
# command runs as the `postgres` system user, which owns the data directory;
# otherwise it runs as the calling user.
#
# Diagnostics go to stderr; only results (ports, query output) go to stdout.
set -euo pipefail

usage() {
  cat >&2 <<'EOF'
usage: pg.sh COMMAND ...
  init DATADIR [--auth trust|scram] [--no-fsync]
        initdb (UTF8, C.UTF-8, superuser "postgres"). Local socket: trust.
        TCP (127.0.0.1): trust (default, throw-away clusters) or scram-sha-256.
        --no-fsync trades crash safety of the OS for speed (test clusters).
  start DATADIR PORT     start on PORT, block until it accepts connections
  start-any DATADIR [PREFERRED_PORT]
                         start on PREFERRED_PORT if free, else on a free port
                         (retrying if the port is taken meanwhile); prints the
                         port. If already running, prints its port.
  stop DATADIR           fast shutdown, block until stopped (no-op if stopped)
  status DATADIR         exit 0 if running, 3 if not
  port DATADIR           print the port of the running cluster
  free-port              print a free TCP port on 127.0.0.1
  createdb DATADIR NAME [OWNER]
                         create database NAME (if it exists owned by another
                         non-superuser role, hand it and that role's objects
                         in it over to OWNER)
  ensure-role DATADIR NAME
                         create or update LOGIN role NAME, password read from
                         one line of stdin ([A-Za-z0-9._~-]+)
  grant-server DATADIR NAME
                         make NAME a server role that owns nothing: member of
                         cti_app (rows, not schema; see schema/006) and so of
                         cti_tenant (row-level security)
  psql DATADIR [ARGS...] psql as superuser over the cluster's socket
environment:
  PG_BINDIR          PostgreSQL's bin directory (default: newest installed)
  PG_START_TIMEOUT   seconds start waits for connections (default: 60)
  PG_STOP_TIMEOUT    seconds stop waits for the shutdown (default: 60)
EOF
}

die() { printf 'pg.sh: error: %s\n' "$*" >&2; exit 1; }
note() { printf 'pg.sh: %s\n' "$*" >&2; }

# Directories we create must stay traversable by the postgres user.
umask 022

readonly START_TIMEOUT=${PG_START_TIMEOUT:-60}
readonly STOP_TIMEOUT=${PG_STOP_TIMEOUT:-60}

# Newest installed major version unless PG_BINDIR says otherwise.
bindir() {
  if [[ -n ${PG_BINDIR:-} ]]; then
    [[ -x $PG_BINDIR/pg_ctl ]] || die "PG_BINDIR=$PG_BINDIR has no pg_ctl"
    printf '%s\n' "$PG_BINDIR"
    return
  fi
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [[ -x $d/pg_ctl ]] ||
    die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (run scripts/bootstrap.sh)"
  printf '%s\n' "$d"
}

# Run a command as the cluster owner, from / so a root-only cwd (e.g. /root)
# does not produce "could not change directory" warnings.
as_owner() {
  if ((EUID == 0)); then
    id -u postgres >/dev/null 2>&1 ||
      die "running as root but there is no 'postgres' user (install the postgresql package)"
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# Absolute path, so commands run from / and strings handed to tests work.
abs_datadir() {
  [[ -n ${1:-} ]] || die "DATADIR missing"
  local d
  d=$(realpath -m -- "$1")
  [[ $d != *"'"* ]] || die "DATADIR must not contain a single quote: $d"
  printf '%s\n' "$d"
}

check_port_arg() {
  if [[ ! $1 =~ ^[0-9]+$ ]] || (($1 < 1024 || $1 > 65535)); then
    die "invalid port: '$1' (1024-65535)"
  fi
}

# Unix socket paths are limited to 107 bytes.
check_socket_path() {
  local sock="$1/.s.PGSQL.65535"
  ((${#sock} <= 107)) || die "DATADIR path too long for a Unix socket (${#sock} > 107 bytes): $1"
}

# Local ports of TCP sockets on this host, from /proc so neither ss (iproute2)
# nor python is needed. With "listen", only listening sockets (state 0A):
# TIME_WAIT leftovers of a just-stopped cluster must not block its restart.
used_ports() {
  # awk, not a bash loop: after a load test the tables hold tens of
  # thousands of TIME_WAIT entries, which a bash loop takes half a minute
  # to read.
  local mode=${1:-all} f
  for f in /proc/net/tcp /proc/net/tcp6; do
    [[ -r $f ]] || continue
    awk -v mode="$mode" 'NR > 1 && (mode == "all" || $4 == "0A") {
      n = split($2, a, ":"); h = toupper(a[n]); port = 0
      for (i = 1; i <= length(h); i++) port = port * 16 + index("0123456789ABCDEF", substr(h, i, 1)) - 1
      print port }' "$f"
  done
}

port_in_use() {
  local p=$1
  if grep -qx -- "$p" < <(used_ports listen); then
    return 0
  fi
  # Belt and braces: something answering on the port is in use too.
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
}

# A free port in 20000-31999: below Linux's ephemeral range (32768+) so an
# outgoing connection is unlikely to take it before Postgres binds it.
free_port() {
  local -A used=()
  local p i start
  while read -r p; do used[$p]=1; done < <(used_ports)
  start=$((20000 + RANDOM % 12000))
  for ((i = 0; i < 12000; i++)); do
    p=$((20000 + (start - 20000 + i) % 12000))
    [[ -z ${used[$p]:-} ]] || continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      printf '%s\n' "$p"
      return 0
    fi
  done
  die "no free TCP port found in 20000-31999"
}

is_running() {
  local dir=$1
  [[ -f $dir/postmaster.pid ]] || return 1
  as_owner "$PGBIN/pg_ctl" status -D "$dir" >/dev/null 2>&1
}

# Line 4 of postmaster.pid is the port.
running_port() {
  local dir=$1
  is_running "$dir" || return 1
  sed -n 4p "$dir/postmaster.pid"
}

require_cluster() {
  [[ -f $1/PG_VERSION ]] || die "no initialized cluster at $1 (run: pg.sh init $1)"
}

log_tail() {
  local log=$1/postgres.log
  if [[ -f $log ]]; then
    note "last lines of $log:"
    tail -n 20 "$log" | sed 's/^/    /' >&2
  fi
}

cmd_init() {
  local dir auth=trust fsync=on
  dir=$(abs_datadir "${1:-}")
  shift
  while (($#)); do
    case $1 in
    --auth)
      [[ ${2:-} == trust || ${2:-} == scram ]] || die "--auth takes trust or scram"
      auth=$2
      shift 2
      ;;
    --no-fsync)
      fsync=off
      shift
      ;;
    *) die "init: unknown option $1" ;;
    esac
  done
  [[ ! -f $dir/PG_VERSION ]] || die "$dir already holds a cluster"
  check_socket_path "$dir"

  mkdir -p -- "$dir"
  chmod 700 "$dir"
  if ((EUID == 0)); then
    chown postgres:postgres "$dir"
    as_owner test -w "$dir" ||
      die "user postgres cannot reach $dir: make each parent directory traversable (chmod o+x)"
  fi

  local host_auth=trust
  [[ $auth == trust ]] || host_auth=scram-sha-256
  local args=(-D "$dir" -U postgres --encoding=UTF8 --locale=C.UTF-8
    --auth-local=trust "--auth-host=$host_auth" --no-instructions)
  [[ $fsync == on ]] || args+=(--no-sync)

  local out
  if ! out=$(as_owner "$PGBIN/initdb" "${args[@]}" 2>&1); then
    printf '%s\n' "$out" >&2
    die "initdb failed for $dir"
  fi

  # Settings are appended to the file (later lines win). The port is given at
  # start so one data directory can move to another free port.
  {
    printf '\n# --- added by scripts/pg.sh ---\n'
    printf "listen_addresses = '127.0.0.1'\n"
    printf "unix_socket_directories = '%s'\n" "$dir"
    printf 'max_connections = 200\n'
    if [[ $fsync == off ]]; then
      printf 'fsync = off\nfull_page_writes = off\n'
    fi
  } | as_owner tee -a "$dir/postgresql.conf" >/dev/null
  note "initialized $dir (host auth: $host_auth)"
}

# Returns non-zero (with the log shown) instead of dying, so start-any can
# retry on another port.
start_on() {
  local dir=$1 port=$2
  # pg_ctl -w already waits, but a deadline-bound pg_isready over TCP also
  # proves the loopback listener is up.
  if ! as_owner "$PGBIN/pg_ctl" start -D "$dir" -l "$dir/postgres.log" \
    -o "-p $port" -w -t "$START_TIMEOUT" -s >/dev/null; then
    log_tail "$dir"
    return 1
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2; do
    if ((SECONDS >= deadline)); then
      log_tail "$dir"
      note "not ready on 127.0.0.1:$port after ${START_TIMEOUT}s"
      return 1
    fi
    sleep 0.1
  done
}

cmd_start() {
  local dir port running
  dir=$(abs_datadir "${1:-}")
  port=${2:-}
  [[ -n $port ]] || die "usage: pg.sh start DATADIR PORT"
  check_port_arg "$port"
  require_cluster "$dir"
  if running=$(running_port "$dir"); then
    [[ $running == "$port" ]] || die "$dir is already running on port $running, not $port"
    note "already running on port $port"
    return 0
  fi
  ! port_in_use "$port" || die "port $port on 127.0.0.1 is in use"
  start_on "$dir" "$port" || die "could not start $dir on port $port"
  note "started $dir on 127.0.0.1:$port"
}

cmd_start_any() {
  local dir port running attempt
  dir=$(abs_datadir "${1:-}")
  port=${2:-}
  require_cluster "$dir"
  if running=$(running_port "$dir"); then
    note "already running on port $running"
    printf '%s\n' "$running"
    return 0
  fi
  if [[ -n $port ]]; then
    check_port_arg "$port"
    ! port_in_use "$port" || port=
  fi
  for attempt in 1 2 3; do
    [[ -n $port ]] || port=$(free_port)
    if start_on "$dir" "$port"; then
      note "started $dir on 127.0.0.1:$port"
      printf '%s\n' "$port"
      return 0
    fi
    # Only a port taken between the check and the bind is worth a retry.
    port_in_use "$port" || die "could not start $dir on port $port"
    note "port $port was taken meanwhile (attempt $attempt); trying another"
    port=
  done
  die "could not start $dir: no port worked"
}

cmd_stop() {
  local dir
  dir=$(abs_datadir "${1:-}")
  if [[ ! -f $dir/PG_VERSION ]]; then
    note "no cluster at $dir; nothing to stop"
    return 0
  fi
  if ! is_running "$dir"; then
    note "$dir is not running"
    return 0
  fi
  if as_owner "$PGBIN/pg_ctl" stop -D "$dir" -m fast -w -t "$STOP_TIMEOUT" -s; then
    note "stopped $dir"
    return 0
  fi
  note "fast shutdown did not finish in ${STOP_TIMEOUT}s; forcing immediate shutdown"
  as_owner "$PGBIN/pg_ctl" stop -D "$dir" -m immediate -w -t "$STOP_TIMEOUT" -s ||
    die "could not stop $dir"
  note "stopped $dir (immediate)"
}

cmd_status() {
  local dir
  dir=$(abs_datadir "${1:-}")
  if is_running "$dir"; then
    note "running on port $(running_port "$dir")"
    return 0
  fi
  note "not running"
  return 3
}

cmd_port() {
  local dir
  dir=$(abs_datadir "${1:-}")
  running_port "$dir" || die "$dir is not running"
}

# psql as superuser over the socket inside the data directory.
superuser_psql() {
  local dir=$1 port
  shift
  port=$(running_port "$dir") || die "$dir is not running"
  as_owner "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" \
    -U postgres -d postgres "$@"
}

cmd_psql() {
  local dir
  dir=$(abs_datadir "${1:-}")
  shift || true
  superuser_psql "$dir" "$@"
}

check_ident() {
  [[ $1 =~ ^[a-z_][a-z0-9_]*$ ]] || die "invalid name '$1' (use [a-z_][a-z0-9_]*)"
}

cmd_createdb() {
  local dir name owner exists
  dir=$(abs_datadir "${1:-}")
  name=${2:-}
  owner=${3:-postgres}
  [[ -n $name ]] || die "usage: pg.sh createdb DATADIR NAME [OWNER]"
  check_ident "$name"
  check_ident "$owner"
  exists=$(superuser_psql "$dir" -tA -c "SELECT 1 FROM pg_database WHERE datname = '$name'")
  if [[ $exists == 1 ]]; then
    local current super
    current=$(superuser_psql "$dir" -tA -c \
      "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$name'")
    if [[ $current == "$owner" ]]; then
      note "database $name exists"
      return 0
    fi
    super=$(superuser_psql "$dir" -tA -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$current'")
    if [[ $super == t ]]; then
      superuser_psql "$dir" -c "ALTER DATABASE \"$name\" OWNER TO \"$owner\""
    else
      # The database, its tables and sequences: everything the old owner had there.
      superuser_psql "$dir" -d "$name" -c "REASSIGN OWNED BY \"$current\" TO \"$owner\""
    fi
    note "database $name exists; owner changed from $current to $owner"
    return 0
  fi
  superuser_psql "$dir" -c "CREATE DATABASE \"$name\" OWNER \"$owner\" ENCODING 'UTF8'"
  note "created database $name (owner $owner)"
}

cmd_ensure_role() {
  local dir name pw
  dir=$(abs_datadir "${1:-}")
  name=${2:-}
  [[ -n $name ]] || die "usage: pg.sh ensure-role DATADIR NAME <<< PASSWORD"
  check_ident "$name"
  IFS= read -r pw || true
  [[ $pw =~ ^[A-Za-z0-9._~-]+$ ]] || die "password (stdin) empty or has characters outside [A-Za-z0-9._~-]"
  # Fed on stdin, not argv, so the password never shows in `ps`.
  superuser_psql "$dir" <<SQL
\\set name '$name'
\\set pw '$pw'
SELECT format('CREATE ROLE %I LOGIN', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \\gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'name', :'pw') \\gexec
SELECT 'CREATE ROLE cti_tenant NOLOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cti_tenant') \\gexec
SELECT format('GRANT cti_tenant TO %I', :'name') \\gexec
SQL
  note "role $name ready (member of cti_tenant, for row-level security)"
}

cmd_grant_server() {
  local dir name
  dir=$(abs_datadir "${1:-}")
  name=${2:-}
  [[ -n $name ]] || die "usage: pg.sh grant-server DATADIR NAME"
  check_ident "$name"
  superuser_psql "$dir" <<SQL
\\set name '$name'
SET client_min_messages = warning;
SELECT 'CREATE ROLE cti_tenant NOLOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cti_tenant') \\gexec
SELECT 'CREATE ROLE cti_app NOLOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cti_app') \\gexec
GRANT cti_tenant TO cti_app;
SELECT format('GRANT cti_app TO %I', :'name') \\gexec
SQL
  note "role $name ready as a server role (member of cti_app and cti_tenant)"
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
  init | start | start-any | stop | status | port | createdb | ensure-role | grant-server | psql)
    PGBIN=$(bindir)
    ;;
  esac
  case $cmd in
  init) cmd_init "$@" ;;
  start) cmd_start "$@" ;;
  start-any) cmd_start_any "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  port) cmd_port "$@" ;;
  free-port) free_port ;;
  createdb) cmd_createdb "$@" ;;
  ensure-role) cmd_ensure_role "$@" ;;
  grant-server) cmd_grant_server "$@" ;;
  psql) cmd_psql "$@" ;;
  -h | --help | help) usage ;;
  *)
    usage
    exit 2
    ;;
  esac
}

main "$@"
