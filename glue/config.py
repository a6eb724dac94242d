"""The glue's settings: every environment variable it reads, read in one place (`Settings.from_env`),
each default written once, here. The README's "Environment" table lists them.

A default the database has (a batch's size and time budget, a sample's size) is not repeated here:
the glue sends nothing for it, so the SQL's default applies unless a caller gives a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_PORT = 54322

B = TypeVar("B", bool, None)

_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})


def on_off(name: str, value: str | None, default: B) -> bool | B:
    """An on/off variable: 1/true/yes/on or 0/false/no/off (any case); unset or empty is the default.
    Anything else is a mistake worth saying: ValueError names the variable."""
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in _ON:
        return True
    if text in _OFF:
        return False
    raise ValueError(f"{name}={value!r}: expected one of 1, true, yes, on or 0, false, no, off")


@dataclass(frozen=True)
class Settings:
    """What the environment says, with the defaults. `from_env()` reads it; tests and tools may build
    one directly."""

    database_url: str | None = None  # DATABASE_URL
    pgport: str = str(DEFAULT_PORT)  # PGPORT: the embedded cluster, when DATABASE_URL is unset
    admin_url: str | None = None  # PLANNER_ADMIN_URL
    supabase_url: str | None = None  # SUPABASE_URL
    service_role_key: str | None = None  # SUPABASE_SERVICE_ROLE_KEY
    key: str | None = None  # SUPABASE_KEY
    anon_key: str | None = None  # SUPABASE_ANON_KEY
    realtime_enabled: bool = True  # RESULTS_REALTIME_ENABLED
    telem_enabled: bool | None = None  # TELEM_ENABLED (unset: off, unless a tool turns it on)
    telem_paths: tuple[str, ...] = ()  # TELEM_PATH, comma-separated route prefixes
    telem_dir: Path = field(default_factory=lambda: Path("logs"))  # TELEM_DIR
    telem_salt: str = ""  # TELEM_SALT
    ai_webhook_key: str = ""  # AI_WEBHOOK_KEY
    allow_reset: bool = False  # PLANNER_ALLOW_RESET

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment (or `environ`) gives; ValueError for an on/off value that is neither."""
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            return env.get(name) or None

        values: dict[str, Any] = {
            "database_url": text("DATABASE_URL"),
            "admin_url": text("PLANNER_ADMIN_URL"),
            "supabase_url": text("SUPABASE_URL"),
            "service_role_key": text("SUPABASE_SERVICE_ROLE_KEY"),
            "key": text("SUPABASE_KEY"),
            "anon_key": text("SUPABASE_ANON_KEY"),
            "realtime_enabled": on_off("RESULTS_REALTIME_ENABLED", env.get("RESULTS_REALTIME_ENABLED"), True),
            "telem_enabled": on_off("TELEM_ENABLED", env.get("TELEM_ENABLED"), None),
            "telem_paths": tuple(p for p in (env.get("TELEM_PATH") or "").split(",") if p.strip()),
            "telem_salt": env.get("TELEM_SALT", ""),
            "ai_webhook_key": env.get("AI_WEBHOOK_KEY", "").strip(),
            "allow_reset": on_off("PLANNER_ALLOW_RESET", env.get("PLANNER_ALLOW_RESET"), False),
        }
        if text("PGPORT"):
            values["pgport"] = env["PGPORT"]
        if text("TELEM_DIR"):
            values["telem_dir"] = Path(env["TELEM_DIR"])
        return cls(**values)

    @property
    def database(self) -> str:
        """The database glue talks to: DATABASE_URL, else the embedded default database."""
        return self.database_url or f"postgresql://postgres@127.0.0.1:{self.pgport}/postgres"

    @property
    def api_key(self) -> str | None:
        """The key both transports (RPC and Realtime) use with SUPABASE_URL, in one order: the service
        role's, else SUPABASE_KEY, else the anon key. A user's JWT goes in `access_token`, not here."""
        return self.service_role_key or self.key or self.anon_key

    @property
    def uses_supabase(self) -> bool:
        """True when SUPABASE_URL and a key are set: glue then talks to the project's API."""
        return bool(self.supabase_url and self.api_key)


def database_url() -> str:
    """The database glue talks to: DATABASE_URL, else the embedded default database."""
    return Settings.from_env().database


ADMIN_ROLE = "supabase_admin"  # the local cluster's bootstrap superuser, as on Supabase


def admin_url(url: str) -> str:
    """The same server and database as url, as the platform's superuser (supabase_admin): what only
    the platform does (create databases, install the local shim), never the project's own SQL.
    PLANNER_ADMIN_URL overrides it."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    override = Settings.from_env().admin_url
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
