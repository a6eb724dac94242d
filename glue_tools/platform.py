"""The local platform: the embedded cluster, the Supabase shim, and `db reset`.

Nothing here runs against a real Supabase project: there the roles, auth and realtime exist, and
`supabase db reset` does what `reset` does here.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import psycopg
from psycopg.conninfo import conninfo_to_dict

from glue.config import Settings
from glue_tools.localdb import (
    create_database,
    database_exists,
    database_owner,
    empty_database,
    install_shim,
    platform_url,
    reload_scheduler,
)
from glue_tools.migrate import migrate
from glue_tools.paths import LOCALDB, SEED_SQL

Log = Callable[[str], None]
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


class PlatformError(Exception):
    """The local platform cannot do what was asked; the message says why."""


def localdb(action: str) -> int:
    """Run scripts/localdb.sh (start, stop, status); its output goes to the terminal."""
    return subprocess.run([str(LOCALDB), action], check=False).returncode


def reset(url: str, *, seed: bool = True, log: Log | None = None) -> None:
    """Empty the database (kept, so pg_cron's scheduler survives; created when absent), install the
    shim, apply every migration, load seed.sql."""
    say = log or (lambda _m: None)
    params = conninfo_to_dict(url)
    host = str(params.get("host") or "")
    if host not in _LOCAL_HOSTS and not Settings.from_env().allow_reset:
        raise PlatformError(
            f"refusing to reset a database on {host}: reset is for the local database "
            "(set PLANNER_ALLOW_RESET=1 if you really mean it)"
        )
    dbname = str(params.get("dbname") or "postgres")
    if dbname in {"template0", "template1"}:
        raise PlatformError(f"refusing to reset {dbname}")
    try:
        if database_exists(url, dbname):
            empty_database(url)
            say(f"emptied database {dbname} (kept: pg_cron's scheduler runs on)")
        else:
            create_database(url, dbname)
            say(f"created database {dbname} (owner {database_owner(url)})")
    except psycopg.OperationalError as exc:
        raise PlatformError(f"cannot reach the database server ({exc}); is it running? try 'make db'") from exc
    with psycopg.connect(platform_url(url), autocommit=True) as conn:
        install_shim(conn)
    say("installed the local platform shim as supabase_admin (roles, auth, realtime, extensions)")
    applied = migrate(url, log=None)
    say(f"applied {len(applied)} migrations")
    if seed and SEED_SQL.exists():
        with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
            conn.execute(SEED_SQL.read_bytes())
        say("loaded supabase/seed.sql")
    reload_scheduler(url)
