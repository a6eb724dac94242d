#!/usr/bin/env bash
# The embedded default database: a private PostgreSQL 15 cluster for this checkout.
#
#   scripts/localdb.sh start   initialise (first time) and start the cluster; idempotent
#   scripts/localdb.sh stop    stop it (fast shutdown); idempotent
#   scripts/localdb.sh status  say whether it runs, where its data lives and how to connect
#   scripts/localdb.sh datadir print the data directory
#   scripts/localdb.sh destroy stop it and delete its data (make clean)
#
# As a normal user the cluster lives in .pg/data and runs as that user. As root it runs as the
# `postgres` OS user, with its data under /var/lib/postgresql (a checkout may sit under a directory
# that only root can enter); .pg/data is then a symbolic link to it.
#
# As on Supabase, the bootstrap superuser is `supabase_admin`; the database role `postgres` is not a
# superuser (login, createrole, createdb, bypassrls) and owns the database `postgres`, in which the
# platform shim (as supabase_admin) and then the migrations and the seed (as postgres) are installed.
# A cluster made before this (bootstrap superuser `postgres`) is made anew: its data is a test school.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd -P)
port=${PGPORT:-54332}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
state="$here/.pg"

die() { echo "localdb: $*" >&2; exit 1; }

[ -x "$pgbin/pg_ctl" ] || die "PostgreSQL 15 server binaries not found in $pgbin (run 'make setup')."

if [ "$(id -u)" = 0 ]; then
  getent passwd postgres >/dev/null || die "running as root needs the 'postgres' OS user (apt-get install postgresql-15)."
  key=$(printf '%s' "$here" | sha1sum | cut -c1-12)
  base="/var/lib/postgresql/planner-$key"
  as_owner() { runuser -u postgres -- "$@"; }
else
  base="$state"
  as_owner() { "$@"; }
fi
data="$base/data"
log="$base/postgres.log"

init() {
  mkdir -p "$state"
  if [ "$(id -u)" = 0 ]; then
    install -d -o postgres -g postgres -m 0700 "$base"
    ln -sfn "$data" "$state/data"
  fi
  if [ -f "$data/PG_VERSION" ] && [ ! -f "$base/bootstrap-supabase_admin" ]; then
    echo "localdb: $data was made with postgres as its superuser; making it anew as Supabase does (supabase_admin)"
    running && as_owner "$pgbin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    rm -rf "$data"
  fi
  [ -f "$data/PG_VERSION" ] && return 0
  echo "localdb: initialising a new cluster in $data"
  as_owner "$pgbin/initdb" -D "$data" -U supabase_admin --auth=trust --encoding=UTF8 --no-locale >"$base/initdb.log" 2>&1 \
    || { cat "$base/initdb.log" >&2; die "initdb failed"; }
  as_owner tee -a "$data/postgresql.conf" >/dev/null <<CONF

# --- embedded default database (scripts/localdb.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
work_mem = 16MB
shared_preload_libraries = 'pg_stat_statements, pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
}

# A cluster made before pg_stat_statements was preloaded gets it at its next start.
preload_statements() {
  grep -q "^shared_preload_libraries = 'pg_cron'" "$data/postgresql.conf" 2>/dev/null || return 0
  as_owner sed -i "s/^shared_preload_libraries = 'pg_cron'/shared_preload_libraries = 'pg_stat_statements, pg_cron'/" "$data/postgresql.conf"
}

running() { as_owner "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

# The roles Supabase has before any project SQL runs: postgres, not a superuser, owning the database.
bootstrap() {
  [ -f "$base/bootstrap-supabase_admin" ] && return 0
  "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U supabase_admin -d template1 >/dev/null <<'SQL' \
    || die "could not create the postgres role"
do $$
begin
  if not exists (select from pg_roles where rolname = 'postgres') then
    create role postgres login createrole createdb bypassrls replication;
  end if;
end
$$;
alter database postgres owner to postgres;
grant pg_signal_backend, pg_read_all_stats to postgres;
SQL
  as_owner touch "$base/bootstrap-supabase_admin"
}

case "${1:-status}" in
  start)
    init
    preload_statements
    if running; then
      echo "localdb: already running on 127.0.0.1:$(cat "$data/postmaster.pid" | sed -n 4p) ($data)"
      exit 0
    fi
    as_owner "$pgbin/pg_ctl" -D "$data" -l "$log" -w -t 60 -o "-p $port" start >/dev/null \
      || { tail -20 "$log" >&2; die "the server did not start (is port $port taken? set PGPORT)"; }
    bootstrap
    echo "localdb: started on 127.0.0.1:$port ($data)"
    ;;
  stop)
    if [ -f "$data/PG_VERSION" ] && running; then
      as_owner "$pgbin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
      echo "localdb: stopped"
    else
      echo "localdb: not running"
    fi
    ;;
  restart)
    "$0" stop && "$0" start
    ;;
  status)
    if [ -f "$data/PG_VERSION" ] && running; then
      echo "localdb: running on 127.0.0.1:$(sed -n 4p "$data/postmaster.pid"), data in $data, log in $log"
    else
      echo "localdb: not running (data in $data)"; exit 3
    fi
    ;;
  datadir) echo "$data" ;;
  destroy)
    "$0" stop
    rm -rf "$base" "$state"
    echo "localdb: deleted $base"
    ;;
  *) die "usage: $0 start|stop|restart|status|datadir|destroy" ;;
esac
