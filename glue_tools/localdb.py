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


def database_exists(url: str, dbname: str) -> bool:
    admin = with_database(platform_url(url), "template1")
    with psycopg.connect(admin, autocommit=True) as conn:
        return conn.execute("select from pg_database where datname = %s", (dbname,)).fetchone() is not None


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
