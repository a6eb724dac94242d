"""The local platform: the embedded cluster, the Supabase shim, and `db reset`.

`reset` is `supabase db reset --db-url` with the platform's part around it: the shim before (roles,
auth, realtime, extensions, as a project has them), and after, what a project's owner does after a
reset (the CLI drops every extension outside its short keep list): pgTAP, plpgsql_check and pg_cron
enabled again, and the queue's schedule restored. The database itself is kept (pg_cron's scheduler
works in it). Nothing here runs against a real Supabase project (docs/platform.md).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import psycopg
from psycopg.conninfo import conninfo_to_dict

from glue.config import Settings
from glue_tools import supabase_cli
from glue_tools.localdb import create_database, database_exists, install_shim, platform_url, reload_scheduler
from glue_tools.paths import LOCALDB

Log = Callable[[str], None]
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


class PlatformError(Exception):
    """The local platform cannot do what was asked; the message says why."""


def localdb(action: str) -> int:
    """Run scripts/localdb.sh (start, stop, status); its output goes to the terminal."""
    return subprocess.run([str(LOCALDB), action], check=False).returncode


def restore_platform(url: str) -> bool:
    """After a `supabase db reset`: the shim again (the extensions the reset dropped), then the queue's
    schedule where pg_cron is back. Returns whether the queue is scheduled."""
    with psycopg.connect(platform_url(url), autocommit=True) as conn:
        install_shim(conn)
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("select to_regclass('cron.job') is null").fetchone() == (True,):
            return False
        conn.execute("select public.report_queue_schedule()")
    return True


def reset(url: str, *, seed: bool = True, log: Log | None = None) -> None:
    """The shim, `supabase db reset --db-url` (every migration, then supabase/seed.sql), the
    extensions and the queue's schedule again, then pg_cron's scheduler made to read its jobs anew.
    The database itself is kept (created when absent): pg_cron's scheduler, which a dropped database
    stops until the server restarts, runs on in it."""
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
        if not database_exists(url, dbname):
            create_database(url, dbname)
            say(f"created database {dbname}")
        with psycopg.connect(platform_url(url), autocommit=True) as conn:
            install_shim(conn)
    except psycopg.OperationalError as exc:
        raise PlatformError(f"cannot reach the database server ({exc}); is it running? try 'make db'") from exc
    say("installed the local platform shim as supabase_admin (roles, auth, realtime, extensions)")
    applied = supabase_cli.reset(url, seed=seed)
    say(f"supabase db reset: applied {len(applied)} migrations" + (" and supabase/seed.sql" if seed else ""))
    scheduled = restore_platform(url)
    say(
        "enabled pgtap, plpgsql_check and pg_cron again"
        + (
            ", and scheduled the queue (glue schedule)"
            if scheduled
            else " (pg_cron is not preloaded here: no schedule)"
        )
    )
    reload_scheduler(url)
