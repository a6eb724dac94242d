"""The migration runner, and the bridge from supabase/functions_sql/ to supabase/migrations/.

It applies exactly what `supabase db push` / `supabase db reset` apply: the files of
supabase/migrations/ in filename order, each in one transaction, recorded in
supabase_migrations.schema_migrations (version, name, statements) as the Supabase CLI records them.
Re-running applies nothing. A migration whose file changed after it was applied is refused.

functions_sql/ holds the one reviewed source of every function. Supabase CLI never reads it, so
`make functions-migration` writes a migration with what changed there since the existing migrations
(function_delta), and `check_drift` proves that replaying the migrations installs exactly what
functions_sql/ says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from glue_tools.localdb import scratch_database
from glue_tools.paths import FUNCTIONS_DIR, MIGRATIONS_DIR, ROOT

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
-- edit supabase/functions_sql/ and regenerate. It carries only what changed since the migrations
-- before it: each function or procedure whose definition, grants or comment differ (its whole
-- block from the source file: comment line, definition, comment, grants), and a drop for each one
-- removed from the source or whose arguments or result type changed.
"""
_BLOCK_START = re.compile(r"^create or replace (function|procedure) ")

# signature -> (definition, acl, comment, identity arguments with defaults, result type)
_DELTA_SNAPSHOT = """
select p.oid::regprocedure::text,
       pg_get_functiondef(p.oid),
       coalesce(p.proacl::text, ''),
       coalesce(obj_description(p.oid, 'pg_proc'), ''),
       pg_get_function_arguments(p.oid),
       coalesce(pg_get_function_result(p.oid), ''),
       array(select a.grantee::regrole::text from aclexplode(p.proacl) as a
             where a.grantee <> 0 and a.grantee <> p.proowner),
       exists (select from aclexplode(p.proacl) as a where a.grantee = 0)
from pg_proc as p
join pg_namespace as n on n.oid = p.pronamespace
where n.nspname in ('public', 'private')
  and p.prokind in ('f', 'p')
  and not exists (
    select from pg_depend as d
    where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
  )
"""


@dataclass(frozen=True)
class FunctionBlock:
    """One function's whole contract as written in functions_sql/: the comment lines above it, its
    definition, its `comment on` and its grants (everything up to the next function)."""

    file: str
    text: str


@dataclass(frozen=True)
class _Routine:
    definition: str
    acl: str
    comment: str
    arguments: str
    result: str
    grantees: tuple[str, ...]
    public: bool

    @property
    def contract(self) -> tuple[str, str, str]:
        return (self.definition, self.acl, self.comment)


@dataclass
class FunctionDelta:
    """What a functions migration must carry: drops first, then the changed blocks in source order."""

    drops: list[str]
    revokes: list[str]
    blocks: list[FunctionBlock]
    changed: list[str]
    problems: list[str]

    @property
    def empty(self) -> bool:
        return not (self.drops or self.blocks)

    def render(self) -> str:
        parts = [_HEADER]
        if self.drops:
            parts.append("\n-- Removed from functions_sql/, or their arguments or result type changed.\n")
            parts.extend(f"drop routine if exists {sig};\n" for sig in self.drops)
        if self.revokes:
            parts.append("\n-- Grants that functions_sql/ no longer gives (the blocks below grant the rest).\n")
            parts.extend(f"{line}\n" for line in self.revokes)
        current = None
        for block in self.blocks:
            if block.file != current:
                parts.append(f"\n-- ==== supabase/functions_sql/{block.file} ====\n")
                current = block.file
            parts.append(f"\n{block.text}")
        return "".join(parts)


def function_blocks(functions_dir: Path = FUNCTIONS_DIR) -> list[FunctionBlock]:
    """Every function's block, in file order (a file's header comment belongs to no block)."""
    blocks: list[FunctionBlock] = []
    for path in sorted(functions_dir.glob("*.sql")):
        lines = path.read_text(encoding="utf-8").split("\n")
        begins: list[int] = []
        for i, line in enumerate(lines):
            if _BLOCK_START.match(line):
                b = i
                while b > 0 and lines[b - 1].startswith("--"):
                    b -= 1
                begins.append(b)
        for k, b in enumerate(begins):
            stop = begins[k + 1] if k + 1 < len(begins) else len(lines)
            blocks.append(FunctionBlock(path.name, "\n".join(lines[b:stop]).strip() + "\n"))
    return blocks


def _routines(conn: psycopg.Connection) -> dict[str, _Routine]:
    conn.execute("set search_path = ''")
    try:
        rows = conn.execute(_DELTA_SNAPSHOT).fetchall()
    finally:
        conn.execute("reset search_path")
    return {r[0]: _Routine(r[1], r[2], r[3], r[4], r[5], tuple(r[6]), bool(r[7])) for r in rows}


def function_delta(
    url: str,
    migrations_dir: Path = MIGRATIONS_DIR,
    functions_dir: Path = FUNCTIONS_DIR,
    *,
    exclude: str | None = None,
) -> FunctionDelta:
    """Compare what replaying the migrations (all, or all but `exclude`) installs with functions_sql/.

    In a scratch database: replay the migrations and snapshot every routine. Then, in a transaction
    that is rolled back, drop them all and install functions_sql/ block by block, noting which
    signature each block creates, and snapshot again. A block whose routine is new or differs
    (definition, grants, comment) goes into the delta whole; a routine that is gone, or whose
    arguments or result type changed (`create or replace` cannot change them), is dropped first.
    """
    blocks = function_blocks(functions_dir)
    problems: list[str] = []
    by_signature: dict[str, FunctionBlock] = {}
    with tempfile.TemporaryDirectory(prefix="planner_delta_") as tmp:
        replay_dir = Path(tmp)
        for m in discover(migrations_dir):
            if m.filename != exclude:
                shutil.copy(m.path, replay_dir / m.filename)
        with scratch_database(url, "planner_delta") as scratch:
            migrate(scratch, replay_dir, include_all=True)
            with psycopg.connect(scratch, autocommit=True) as conn:
                replayed = _routines(conn)
                source: dict[str, _Routine] = {}
                try:
                    with conn.transaction():
                        conn.execute("set local check_function_bodies = off")
                        for signature in replayed:
                            conn.execute(sql.SQL("drop routine if exists {} cascade").format(sql.SQL(signature)))
                        for block in blocks:
                            before = set(_routines(conn))
                            try:
                                with conn.transaction():
                                    conn.execute(block.text.encode())
                            except psycopg.Error as exc:
                                problems.append(
                                    f"a block of functions_sql/{block.file} does not install: "
                                    f"[{exc.diag.sqlstate}] {exc.diag.message_primary}"
                                )
                                continue
                            created = set(_routines(conn)) - before
                            if len(created) != 1:
                                problems.append(
                                    f"a block of functions_sql/{block.file} creates {len(created)} routines, not one: "
                                    f"{block.text.splitlines()[0][:80]}"
                                )
                                continue
                            by_signature[created.pop()] = block
                        source = _routines(conn)
                        raise _Rollback
                except _Rollback:
                    pass
    drops = sorted(sig for sig in replayed if sig not in source)
    revokes: list[str] = []
    changed: list[str] = []
    for sig, new in source.items():
        old = replayed.get(sig)
        if old is not None and old.contract == new.contract:
            continue
        changed.append(sig)
        if old is None:
            continue
        if (old.arguments, old.result) != (new.arguments, new.result):
            drops.append(sig)
            continue
        gone = [g for g in old.grantees if g not in new.grantees] + (
            ["public"] if old.public and not new.public else []
        )
        if gone:
            revokes.append(f"revoke all on routine {sig} from {', '.join(gone)};")
        if old.comment and not new.comment:
            revokes.append(f"comment on routine {sig} is null;")
    wanted = set(changed)
    ordered = [b for sig, b in sorted(by_signature.items(), key=lambda kv: blocks.index(kv[1])) if sig in wanted]
    return FunctionDelta(drops, revokes, ordered, sorted(changed), problems)


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
    url: str,
    migrations_dir: Path = MIGRATIONS_DIR,
    functions_dir: Path = FUNCTIONS_DIR,
    now: dt.datetime | None = None,
) -> tuple[Path | None, str]:
    """Write a migration with what changed in functions_sql/ since the migrations (a delta).

    Nothing is written when replaying the migrations already installs functions_sql/. A newest
    functions migration that git does not track yet (work in progress) is regenerated in place (or
    removed when nothing is left to carry); a committed one is never touched.
    """
    migrations = discover(migrations_dir)
    newest = migrations[-1] if migrations else None
    in_progress = newest is not None and newest.filename.endswith(FUNCTIONS_SUFFIX) and not _is_committed(newest.path)
    exclude = newest.filename if in_progress and newest is not None else None
    delta = function_delta(url, migrations_dir, functions_dir, exclude=exclude)
    if delta.problems:
        raise MigrationError("functions_sql/ does not install: " + "; ".join(delta.problems))
    if in_progress and newest is not None:
        if delta.empty:
            newest.path.unlink()
            return None, f"removed {newest.filename}: functions_sql/ no longer differs from the migrations before it"
        newest.path.write_text(delta.render(), encoding="utf-8")
        return newest.path, f"regenerated {newest.filename} (not committed yet): {_summary(delta)}"
    if delta.empty:
        return None, "nothing to write: the migrations already install exactly supabase/functions_sql/"
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    if migrations and stamp <= migrations[-1].version:
        stamp = str(int(migrations[-1].version) + 1)
    path = migrations_dir / f"{stamp}{FUNCTIONS_SUFFIX}"
    path.write_text(delta.render(), encoding="utf-8")
    return path, f"wrote {path.name}: {_summary(delta)}"


def _summary(delta: FunctionDelta) -> str:
    created = len(delta.blocks)
    dropped = len([d for d in delta.drops if d not in delta.changed])
    return f"{created} routine(s) created or replaced, {dropped} dropped"


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
