"""The local platform: the embedded cluster, the Supabase shim, and `db reset`.

Nothing here runs against a real Supabase project: there the roles, auth and realtime exist, and
`supabase db reset` does what `reset` does here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from glue.config import LOCALDB, SEED_SQL, SHIM_SQL, admin_url, with_database
from glue.migrate import migrate

Log = Callable[[str], None]
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


class PlatformError(Exception):
    """The local platform cannot do what was asked; the message says why."""


def install_shim(conn: psycopg.Connection) -> None:
    """Create the Supabase roles, auth and realtime objects where absent (idempotent). Run it as the
    platform's superuser (platform_url), never as postgres."""
    conn.execute(SHIM_SQL.read_bytes())


def platform_url(url: str) -> str:
    """url as the platform's superuser (supabase_admin), where the server has that role; else url
    itself (a server set up otherwise, whose role in url must then be able to do the platform's part)."""
    admin = admin_url(url)
    try:
        with psycopg.connect(with_database(admin, "template1"), connect_timeout=10):
            return admin
    except psycopg.OperationalError as exc:
        if "does not exist" in str(exc):
            return url
        raise


def _owner(url: str) -> str:
    return str(conninfo_to_dict(url).get("user") or "postgres")


def create_database(url: str, dbname: str) -> None:
    """Create dbname on url's server, as the platform does, owned by url's role."""
    admin = with_database(platform_url(url), "template1")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create database {} owner {} template template0").format(
                sql.Identifier(dbname), sql.Identifier(_owner(url))
            )
        )


def drop_database(url: str, dbname: str) -> None:
    admin = with_database(platform_url(url), "template1")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))


def localdb(action: str) -> int:
    """Run scripts/localdb.sh (start, stop, status); its output goes to the terminal."""
    return subprocess.run([str(LOCALDB), action], check=False).returncode


def reset(url: str, *, seed: bool = True, log: Log | None = None) -> None:
    """Drop and recreate the database, install the shim, apply every migration, load seed.sql."""
    say = log or (lambda _m: None)
    params = conninfo_to_dict(url)
    host = str(params.get("host") or "")
    if host not in _LOCAL_HOSTS and os.environ.get("PLANNER_ALLOW_RESET") != "1":
        raise PlatformError(
            f"refusing to drop a database on {host}: reset is for the local database "
            "(set PLANNER_ALLOW_RESET=1 if you really mean it)"
        )
    dbname = str(params.get("dbname") or "postgres")
    if dbname in {"template0", "template1"}:
        raise PlatformError(f"refusing to reset {dbname}")
    try:
        drop_database(url, dbname)
        create_database(url, dbname)
    except psycopg.OperationalError as exc:
        raise PlatformError(f"cannot reach the database server ({exc}); is it running? try 'make db'") from exc
    say(f"recreated database {dbname} (owner {_owner(url)})")
    with psycopg.connect(platform_url(url), autocommit=True) as conn:
        install_shim(conn)
    say("installed the local platform shim as supabase_admin (roles, auth, realtime, extensions)")
    applied = migrate(url, log=None)
    say(f"applied {len(applied)} migrations")
    if seed and SEED_SQL.exists():
        with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
            conn.execute(SEED_SQL.read_bytes())
        say("loaded supabase/seed.sql")
