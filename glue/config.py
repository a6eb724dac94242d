"""Where things are: the checkout's folders and the database to talk to."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "supabase" / "migrations"
FUNCTIONS_DIR = ROOT / "supabase" / "functions_sql"
SEED_SQL = ROOT / "supabase" / "seed.sql"
SHIM_SQL = ROOT / "platform" / "shim.sql"
LOCALDB = ROOT / "scripts" / "localdb.sh"

DEFAULT_PORT = 54332


def database_url() -> str:
    """The database glue talks to: DATABASE_URL, else the embedded default database."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    port = os.environ.get("PGPORT", str(DEFAULT_PORT))
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


ADMIN_ROLE = "supabase_admin"  # the local cluster's bootstrap superuser, as on Supabase


def admin_url(url: str) -> str:
    """The same server and database as url, as the platform's superuser (supabase_admin): what only
    the platform does (create databases, install the local shim), never the project's own SQL.
    PLANNER_ADMIN_URL overrides it."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    override = os.environ.get("PLANNER_ADMIN_URL")
    if override:
        return with_database(override, str(conninfo_to_dict(url).get("dbname") or "postgres"))
    params = conninfo_to_dict(url)
    params["user"] = ADMIN_ROLE
    params.pop("password", None)
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


def with_database(url: str, dbname: str) -> str:
    """The same server as url, another database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})
