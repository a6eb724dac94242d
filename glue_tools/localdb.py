"""Databases as the platform makes them: the platform's superuser (supabase_admin) creates a database
owned by the project's role and installs the local Supabase shim in it; the project's SQL then runs as
that role (postgres), never as a superuser. Used by `glue db reset` (glue_tools.platform), the drift
check and the function-migration generator (glue_tools.migrate), the tests and the benchmarks.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from glue.config import admin_url, with_database
from glue_tools.paths import SHIM_SQL


def install_shim(conn: psycopg.Connection) -> None:
    """Create the Supabase roles, auth and realtime objects where absent (idempotent). Run it as the
    platform's superuser (platform_url), never as postgres."""
    conn.execute(SHIM_SQL.read_bytes())


def platform_url(url: str) -> str:
    """url as the platform's superuser (supabase_admin), where the server has that role; else url
    itself (a server set up otherwise, whose role in url must then be able to do the platform's part)."""
    admin = admin_url(url)
    return admin if _server_has_role(with_database(admin, "template1")) else url


@functools.lru_cache(maxsize=16)
def _server_has_role(admin_template1: str) -> bool:
    """Whether the server lets admin_template1's role connect; asked once per server and role."""
    try:
        with psycopg.connect(admin_template1, connect_timeout=10):
            return True
    except psycopg.OperationalError as exc:
        if "does not exist" in str(exc):
            return False
        raise


def database_owner(url: str) -> str:
    """The role a database made for url belongs to: url's own (postgres)."""
    return str(conninfo_to_dict(url).get("user") or "postgres")


def create_database(url: str, dbname: str) -> None:
    """Create dbname on url's server, as the platform does, owned by url's role."""
    admin = with_database(platform_url(url), "template1")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} owner {} template template0").format(
                sql.Identifier(dbname), sql.Identifier(database_owner(url))
            )
        )


# What empty_database removes, as the platform's superuser: every extension but plpgsql and pg_cron,
# every publication and event trigger, every schema that is not PostgreSQL's or pg_cron's own, and
# pg_cron's jobs and run history; then public as initdb makes it. pg_cron stays: its scheduler
# caches the oid of cron.job, and a cron.job made anew is one it may never read again.
_EMPTY_SQL = """
do $empty$
declare
  v_name text;
begin
  for v_name in select evtname from pg_catalog.pg_event_trigger loop
    execute format('drop event trigger %I', v_name);
  end loop;
  for v_name in select pubname from pg_catalog.pg_publication loop
    execute format('drop publication %I', v_name);
  end loop;
  for v_name in select extname from pg_catalog.pg_extension where extname not in ('plpgsql', 'pg_cron') loop
    execute format('drop extension if exists %I cascade', v_name);
  end loop;
  for v_name in
    select nspname from pg_catalog.pg_namespace
    where
      nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'cron')
      and nspname !~ '^pg_(toast_)?temp_'
  loop
    execute format('drop schema %I cascade', v_name);
  end loop;
  if pg_catalog.to_regclass('cron.job') is not null then
    delete from cron.job;
    truncate cron.job_run_details;
  end if;
end
$empty$;
create schema public authorization pg_database_owner;
grant usage on schema public to public;
"""


def database_exists(url: str, dbname: str) -> bool:
    admin = with_database(platform_url(url), "template1")
    with psycopg.connect(admin, autocommit=True) as conn:
        return conn.execute("select from pg_database where datname = %s", (dbname,)).fetchone() is not None


def empty_database(url: str) -> None:
    """Remove everything from url's database but keep the database itself, so that what runs in it
    for the whole life of the server (pg_cron's scheduler, which a dropped database stops until the
    server restarts) keeps running. Other sessions in it are ended first, except pg_cron's launcher."""
    with psycopg.connect(platform_url(url), autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
            " and backend_type in ('client backend', 'pg_cron')"
        )
        conn.execute(_EMPTY_SQL)


def reload_scheduler(url: str) -> None:
    """Make pg_cron's scheduler read cron.job again after a reset (as the platform's superuser). A
    burst of DDL can overflow its invalidation queue, after which it keeps running the jobs it had;
    a configuration reload makes it reload them (or, if cron.job was made anew, restart itself)."""
    with psycopg.connect(platform_url(url), autocommit=True) as conn:
        if conn.execute("select current_setting('shared_preload_libraries') ~ 'pg_cron'").fetchone() == (True,):
            conn.execute("select pg_reload_conf()")


def drop_database(url: str, dbname: str) -> None:
    admin = with_database(platform_url(url), "template1")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


@contextmanager
def scratch_database(url: str, prefix: str = "planner_scratch") -> Iterator[str]:
    """A throwaway database on the same server, made as Supabase makes a project's: created and given
    the platform shim by the platform's superuser, owned by url's role (postgres), which the caller
    uses; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    scratch = with_database(url, name)
    create_database(url, name)
    try:
        with psycopg.connect(platform_url(scratch), autocommit=True) as conn:
            install_shim(conn)
        yield scratch
    finally:
        drop_database(url, name)
