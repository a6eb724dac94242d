"""The migration runner, and the bridge from supabase/functions_sql/ to supabase/migrations/.

It applies exactly what `supabase db push` / `supabase db reset` apply: the files of
supabase/migrations/ in filename order, each in one transaction, recorded in
supabase_migrations.schema_migrations (version, name, statements) as the Supabase CLI records them.
Re-running applies nothing. A migration whose file changed after it was applied is refused.

functions_sql/ holds the one reviewed source of every function. Supabase CLI never reads it, so
`make functions-migration` renders it into a migration, and `check_drift` proves that replaying the
migrations installs exactly what functions_sql/ says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from glue.config import FUNCTIONS_DIR, MIGRATIONS_DIR, ROOT, with_database

# pg_advisory_lock key held while migrating, so two runners never interleave.
_LOCK_KEY = 7_301_911_204
_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")
FUNCTIONS_SUFFIX = "_functions.sql"

Log = Callable[[str], None]


class MigrationError(Exception):
    """A migration cannot be applied; the message says which and why."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def filename(self) -> str:
        return self.path.name


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in filename order; a file not named VERSION_name.sql is an error."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named YYYYMMDDHHMMSS_lower_snake_name.sql")
        found.append(Migration(m["version"], m["name"], path))
    versions = [m.version for m in found]
    dupes = sorted({v for v in versions if versions.count(v) > 1})
    if dupes:
        raise MigrationError(f"two migrations share the version {', '.join(dupes)}")
    return found


_HISTORY_DDL = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text not null primary key,
  statements text[],
  name text
);
"""


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def applied_versions(conn: psycopg.Connection, create: bool = True) -> dict[str, tuple[str | None, list[str] | None]]:
    """version -> (name, statements) for every recorded migration (creating the table if asked)."""
    if create:
        conn.execute(_HISTORY_DDL)
    elif conn.execute("select to_regclass('supabase_migrations.schema_migrations')").fetchone() == (None,):
        return {}
    rows = conn.execute(
        "select version, name, statements from supabase_migrations.schema_migrations order by version"
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _verify_unchanged(migration: Migration, statements: list[str] | None) -> None:
    # Our runner records the whole file as one statement. Supabase CLI splits it into statements;
    # for those rows the comparison ignores the split and the whitespace between statements.
    if statements is None:
        return
    recorded = "".join(statements) if len(statements) != 1 else statements[0]
    current = migration.text
    same = recorded == current if len(statements) == 1 else _squash(recorded) == _squash(current)
    if not same:
        raise MigrationError(
            f"migration {migration.filename} was edited after it was applied "
            f"(applied {_fingerprint(recorded)}, file now {_fingerprint(current)}). "
            "Applied migrations are immutable: restore the file and put the change in a new migration."
        )


def _squash(text: str) -> str:
    return re.sub(r"\s+|;", "", text)


_DOLLAR_QUOTED = re.compile(r"(\$[A-Za-z_0-9]*\$).*?\1", re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")
_TRANSACTION_CONTROL = re.compile(
    r"^\s*(begin|commit|rollback|end|start\s+transaction|abort)\s*(work|transaction)?\s*;",
    re.IGNORECASE | re.MULTILINE,
)


def _check_no_transaction_control(migration: Migration) -> None:
    """Each migration runs in one transaction the runner owns; a COMMIT inside would half-apply it."""
    text = _LINE_COMMENT.sub("", _DOLLAR_QUOTED.sub("", migration.text))
    m = _TRANSACTION_CONTROL.search(text)
    if m:
        raise MigrationError(
            f"{migration.filename} contains '{m.group(0).strip()}': the runner applies each migration "
            "in one transaction of its own; remove the transaction control"
        )


def migrate(
    url: str, directory: Path = MIGRATIONS_DIR, log: Log | None = None, include_all: bool = False
) -> list[Migration]:
    """Apply every pending migration, in order, one transaction each. Returns what was applied.

    As `supabase db push` does, a pending migration older than the newest applied one is refused
    unless include_all is set (it was probably written on a branch and would run out of order).
    """
    say = log or (lambda _m: None)
    migrations = discover(directory)
    for m in migrations:
        _check_no_transaction_control(m)
    done: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            recorded = applied_versions(conn)
            on_disk = {m.version for m in migrations}
            missing = sorted(set(recorded) - on_disk)
            if missing:
                raise MigrationError(
                    "the database has migrations that are not in "
                    f"{directory.relative_to(ROOT) if directory.is_relative_to(ROOT) else directory}: "
                    + ", ".join(missing)
                )
            for m in migrations:
                if m.version in recorded:
                    _verify_unchanged(m, recorded[m.version][1])
            newest = max(recorded, default="")
            late = [m.filename for m in migrations if m.version not in recorded and m.version < newest]
            if late and not include_all:
                raise MigrationError(
                    f"{', '.join(late)} would run out of order: the database already has {newest}. "
                    "Give it a newer version, or apply anyway with --include-all"
                )
            for m in migrations:
                if m.version in recorded:
                    continue
                text = m.text
                try:
                    with conn.transaction():
                        conn.execute(text.encode("utf-8"))
                        conn.execute(
                            "insert into supabase_migrations.schema_migrations (version, name, statements)"
                            " values (%s, %s, %s)",
                            (m.version, m.name, [text]),
                        )
                except psycopg.Error as exc:
                    diag = exc.diag
                    where = f" ({diag.context.strip()})" if diag.context else ""
                    raise MigrationError(
                        f"migration {m.filename} failed and was rolled back: "
                        f"[{diag.sqlstate}] {diag.message_primary}{where}"
                    ) from exc
                say(f"applied {m.filename}")
                done.append(m)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done


def pending(url: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migrations not yet applied (and a check that the applied ones are unchanged)."""
    migrations = discover(directory)
    with psycopg.connect(url, autocommit=True) as conn:
        recorded = applied_versions(conn, create=False)
    for m in migrations:
        if m.version in recorded:
            _verify_unchanged(m, recorded[m.version][1])
    return [m for m in migrations if m.version not in recorded]


# --- functions_sql -> migration -----------------------------------------------------------------

_HEADER = """\
-- Generated by `make functions-migration` from supabase/functions_sql/. Do not edit this file:
-- edit supabase/functions_sql/ and regenerate. It installs every function and procedure of the
-- project (create or replace), with its comment and grants, in the order of the source files.
"""


def render_functions(functions_dir: Path = FUNCTIONS_DIR) -> str:
    parts = [_HEADER]
    for path in sorted(functions_dir.glob("*.sql")):
        body = path.read_text(encoding="utf-8").rstrip() + "\n"
        parts.append(f"\n-- ==== supabase/functions_sql/{path.name} ====\n\n{body}")
    return "".join(parts)


def _is_committed(path: Path) -> bool:
    try:
        out = subprocess.run(
            ["git", "-C", str(path.parent), "ls-files", "--error-unmatch", path.name],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        return True
    # 1: git knows the repository and the file is not tracked. Anything else (0 tracked, 128 not a
    # repository) counts as committed, so that a file is never rewritten by mistake.
    return out.returncode != 1


def write_functions_migration(
    migrations_dir: Path = MIGRATIONS_DIR,
    functions_dir: Path = FUNCTIONS_DIR,
    now: dt.datetime | None = None,
) -> tuple[Path | None, str]:
    """Render functions_sql/ into a migration.

    Nothing is written when the newest functions migration already says the same. A newest
    functions migration that git does not track yet (work in progress) is regenerated in place;
    a committed one is never touched, a new migration is added after everything else instead.
    """
    text = render_functions(functions_dir)
    migrations = discover(migrations_dir)
    generated = [m for m in migrations if m.filename.endswith(FUNCTIONS_SUFFIX)]
    newest = generated[-1] if generated else None
    if newest is not None and newest.text == text:
        return None, f"{newest.filename} is up to date"
    if newest is not None and newest == migrations[-1] and not _is_committed(newest.path):
        newest.path.write_text(text, encoding="utf-8")
        return newest.path, f"regenerated {newest.filename} (not committed yet)"
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    if migrations and stamp <= migrations[-1].version:
        stamp = str(int(migrations[-1].version) + 1)
    path = migrations_dir / f"{stamp}{FUNCTIONS_SUFFIX}"
    path.write_text(text, encoding="utf-8")
    return path, f"wrote {path.name}"


# --- drift ----------------------------------------------------------------------------------------

_SNAPSHOT = """
select p.oid::regprocedure::text,
       pg_get_functiondef(p.oid),
       coalesce(p.proacl::text, ''),
       coalesce(obj_description(p.oid, 'pg_proc'), '')
from pg_proc as p
join pg_namespace as n on n.oid = p.pronamespace
where n.nspname in ('public', 'private')
  and p.prokind in ('f', 'p')
  and not exists (
    select from pg_depend as d
    where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
  )
"""


def function_snapshot(conn: psycopg.Connection) -> dict[str, tuple[str, str, str]]:
    """signature -> (definition, acl, comment) of every project function and procedure.

    Signatures are schema-qualified whatever the search_path (it is emptied for the query).
    """
    with conn.transaction():
        conn.execute("set local search_path = ''")
        rows = conn.execute(_SNAPSHOT).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@contextmanager
def scratch_database(url: str, prefix: str = "planner_scratch") -> Iterator[str]:
    """A throwaway database on the same server (with the platform shim), dropped afterwards."""
    from glue.platform import install_shim

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = with_database(url, "template1")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template template0").format(sql.Identifier(name)))
    scratch = with_database(url, name)
    try:
        with psycopg.connect(scratch, autocommit=True) as conn:
            install_shim(conn)
        yield scratch
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


class _Rollback(Exception):
    pass


def check_drift(url: str, migrations_dir: Path = MIGRATIONS_DIR, functions_dir: Path = FUNCTIONS_DIR) -> list[str]:
    """Differences between the functions that replaying the migrations installs and functions_sql/.

    In a scratch database: replay every migration and snapshot the project's functions (definition,
    grants, comment). Then, in a transaction that is rolled back, drop them all, install
    functions_sql/ alone and snapshot again. The two snapshots must be equal, signature by
    signature: a function edited, added, removed, regranted or recommented in functions_sql/
    without a migration shows up, and so does an old overload a migration left behind.
    Empty list: no drift.
    """
    problems: list[str] = []
    with scratch_database(url, "planner_drift") as scratch:
        migrate(scratch, migrations_dir, include_all=True)
        with psycopg.connect(scratch, autocommit=True) as conn:
            replayed = function_snapshot(conn)
            source: dict[str, tuple[str, str, str]] = {}
            try:
                with conn.transaction():
                    conn.execute("set local check_function_bodies = off")
                    for signature in replayed:
                        conn.execute(sql.SQL("drop routine if exists {} cascade").format(sql.SQL(signature)))
                    for path in sorted(functions_dir.glob("*.sql")):
                        try:
                            with conn.transaction():
                                conn.execute(path.read_bytes())
                        except psycopg.Error as exc:
                            problems.append(
                                f"functions_sql/{path.name} does not install on its own: "
                                f"[{exc.diag.sqlstate}] {exc.diag.message_primary}"
                            )
                    source = function_snapshot(conn)
                    raise _Rollback
            except _Rollback:
                pass
    for sig in sorted(set(replayed) | set(source)):
        if sig not in replayed:
            problems.append(f"{sig}: in functions_sql/ but not installed by any migration")
        elif sig not in source:
            problems.append(f"{sig}: installed by the migrations but has no source in functions_sql/")
        elif replayed[sig] != source[sig]:
            what = [
                k
                for k, a, b in zip(("definition", "grants", "comment"), replayed[sig], source[sig], strict=True)
                if a != b
            ]
            problems.append(f"{sig}: functions_sql/ differs from the migrations ({', '.join(what)})")
    return problems
