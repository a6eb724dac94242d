"""The migration runner, the functions migration generator, the drift check and the `migrate` CLI.

Every test runs against a real PostgreSQL: `scratch_url` is a throwaway database with only the
platform shim, dropped afterwards; check_drift makes (and drops) its own scratch databases.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from glue_tools import cli
from glue_tools.migrate import (
    FUNCTIONS_SUFFIX,
    MigrationError,
    check_drift,
    discover,
    function_blocks,
    migrate,
    pending,
    write_functions_migration,
)
from glue_tools.paths import FUNCTIONS_DIR, MIGRATIONS_DIR, ROOT

DOMAIN_TABLES = (
    "profiles",
    "subjects",
    "groups",
    "group_membership",
    "units",
    "lessons",
    "lesson_assignments",
    "learning_objectives",
    "success_criteria",
    "activity_types",
    "activities",
    "activity_success_criteria",
    "submissions",
    "submission_criterion_scores",
    "level_boundaries",
)


# --- helpers ---------------------------------------------------------------------------------------


def rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query.encode(), params).fetchall()


def value(url: str, query: str, params: tuple[Any, ...] = ()) -> Any:
    return rows(url, query, params)[0][0]


def exists(url: str, relation: str) -> bool:
    return bool(value(url, "select to_regclass(%s) is not null", (relation,)))


def recorded(url: str) -> list[tuple[str, str, list[str]]]:
    """(version, name, statements) of every migration the database has recorded."""
    if not exists(url, "supabase_migrations.schema_migrations"):
        return []
    return [
        (r[0], r[1], r[2])
        for r in rows(
            url,
            "select version, name, statements from supabase_migrations.schema_migrations order by version",
        )
    ]


def write(directory: Path, filename: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_text(text, encoding="utf-8")
    return path


def order_log(url: str) -> list[str]:
    return [r[0] for r in rows(url, "select name from public.applied_order order by seq")]


FIRST = (
    "create table public.applied_order (seq serial primary key, name text not null);\n"
    "insert into public.applied_order (name) values ('first');\n"
)
SECOND = "insert into public.applied_order (name) values ('second');\n"
THIRD = "insert into public.applied_order (name) values ('third');\n"


@pytest.fixture
def three(tmp_path: Path) -> Path:
    """Three small migrations whose SQL records the order they ran in (written out of order)."""
    directory = tmp_path / "migrations"
    write(directory, "20250101000003_third.sql", THIRD)
    write(directory, "20250101000001_first.sql", FIRST)
    write(directory, "20250101000002_second.sql", SECOND)
    return directory


# --- the runner ------------------------------------------------------------------------------------


def test_applies_in_filename_order_and_records_each(scratch_url: str, three: Path) -> None:
    applied = migrate(scratch_url, three)

    assert [m.filename for m in applied] == [
        "20250101000001_first.sql",
        "20250101000002_second.sql",
        "20250101000003_third.sql",
    ]
    assert order_log(scratch_url) == ["first", "second", "third"]
    assert recorded(scratch_url) == [
        ("20250101000001", "first", [FIRST]),
        ("20250101000002", "second", [SECOND]),
        ("20250101000003", "third", [THIRD]),
    ]


def test_second_run_applies_nothing(scratch_url: str, three: Path) -> None:
    migrate(scratch_url, three)
    before = recorded(scratch_url)

    assert migrate(scratch_url, three) == []
    assert pending(scratch_url, three) == []
    assert order_log(scratch_url) == ["first", "second", "third"]
    assert recorded(scratch_url) == before


def test_only_new_files_are_applied(scratch_url: str, three: Path) -> None:
    migrate(scratch_url, three)
    write(three, "20250101000004_fourth.sql", "insert into public.applied_order (name) values ('fourth');\n")

    assert [m.filename for m in pending(scratch_url, three)] == ["20250101000004_fourth.sql"]
    assert [m.filename for m in migrate(scratch_url, three)] == ["20250101000004_fourth.sql"]
    assert order_log(scratch_url) == ["first", "second", "third", "fourth"]


@pytest.mark.parametrize(
    "edited_text",
    [SECOND + "-- a comment added later\n", SECOND.replace("'second'", "'2nd'"), SECOND.rstrip("\n")],
    ids=["comment-added", "statement-changed", "whitespace-only"],
)
def test_a_file_edited_after_it_was_applied_is_refused(scratch_url: str, three: Path, edited_text: str) -> None:
    migrate(scratch_url, three)
    write(three, "20250101000002_second.sql", edited_text)
    write(three, "20250101000004_fourth.sql", "insert into public.applied_order (name) values ('fourth');\n")

    with pytest.raises(MigrationError) as refused:
        migrate(scratch_url, three)
    message = str(refused.value)
    assert "20250101000002_second.sql" in message
    assert "edited" in message
    # refused before anything ran: the new fourth migration was not applied either
    assert order_log(scratch_url) == ["first", "second", "third"]
    assert [r[0] for r in recorded(scratch_url)] == ["20250101000001", "20250101000002", "20250101000003"]
    with pytest.raises(MigrationError, match=r"20250101000002_second\.sql was edited"):
        pending(scratch_url, three)


def test_a_failing_migration_is_rolled_back_and_stops_the_run(scratch_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    write(directory, "20250101000001_good.sql", "create table public.t_good (id int);\n")
    write(
        directory,
        "20250101000002_bad.sql",
        "create table public.t_bad (id int);\ninsert into public.t_bad values (1);\nselect 1 / 0;\n",
    )
    write(directory, "20250101000003_later.sql", "create table public.t_later (id int);\n")

    with pytest.raises(MigrationError) as failed:
        migrate(scratch_url, directory)
    message = str(failed.value)
    assert "20250101000002_bad.sql" in message
    assert "rolled back" in message
    assert "22012" in message  # division_by_zero, with the server's message
    assert exists(scratch_url, "public.t_good")
    assert not exists(scratch_url, "public.t_bad")
    assert not exists(scratch_url, "public.t_later")
    assert [r[0] for r in recorded(scratch_url)] == ["20250101000001"]

    # once fixed, the run resumes where it stopped
    write(directory, "20250101000002_bad.sql", "create table public.t_bad (id int);\n")
    assert [m.version for m in migrate(scratch_url, directory)] == ["20250101000002", "20250101000003"]
    assert exists(scratch_url, "public.t_bad")
    assert exists(scratch_url, "public.t_later")


@pytest.mark.parametrize(
    "bad_name",
    [
        "init.sql",
        "20250101_init.sql",
        "2025010100000_init.sql",
        "20250101000000-init.sql",
        "20250101000000_Init.sql",
        "20250101000000_init-table.sql",
        "20250101000000_.sql",
    ],
)
def test_badly_named_files_are_rejected(scratch_url: str, tmp_path: Path, bad_name: str) -> None:
    directory = tmp_path / "migrations"
    write(directory, "20250101000001_first.sql", FIRST)
    write(directory, bad_name, "create table public.never (id int);\n")

    with pytest.raises(MigrationError) as rejected:
        migrate(scratch_url, directory)
    assert bad_name in str(rejected.value)
    assert "YYYYMMDDHHMMSS_lower_snake_name.sql" in str(rejected.value)
    # rejected before touching the database
    assert not exists(scratch_url, "public.applied_order")
    assert not exists(scratch_url, "supabase_migrations.schema_migrations")


def test_two_files_with_one_version_are_rejected(scratch_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    write(directory, "20250101000001_first.sql", FIRST)
    write(directory, "20250101000001_again.sql", SECOND)

    with pytest.raises(MigrationError, match="share the version 20250101000001"):
        migrate(scratch_url, directory)
    assert not exists(scratch_url, "public.applied_order")


def test_a_recorded_migration_missing_on_disk_is_refused(scratch_url: str, three: Path) -> None:
    migrate(scratch_url, three)
    (three / "20250101000002_second.sql").unlink()
    write(three, "20250101000004_fourth.sql", "insert into public.applied_order (name) values ('fourth');\n")

    with pytest.raises(MigrationError) as refused:
        migrate(scratch_url, three)
    assert "20250101000002" in str(refused.value)
    assert "not in" in str(refused.value)
    assert order_log(scratch_url) == ["first", "second", "third"]
    assert [r[0] for r in recorded(scratch_url)] == ["20250101000001", "20250101000002", "20250101000003"]


def test_the_project_migrations_apply_cleanly_and_rerun_applies_nothing(scratch_url: str) -> None:
    on_disk = discover(MIGRATIONS_DIR)
    assert on_disk, "supabase/migrations is empty"

    applied = migrate(scratch_url)

    assert [m.filename for m in applied] == [m.filename for m in on_disk]
    assert [(v, n) for v, n, _ in recorded(scratch_url)] == [(m.version, m.name) for m in on_disk]
    for table in DOMAIN_TABLES:
        assert exists(scratch_url, f"public.{table}"), table
    assert value(scratch_url, "select count(*) from public.level_boundaries") == 107
    assert migrate(scratch_url) == []
    assert pending(scratch_url) == []


# --- functions_sql -> migration: only what changed ------------------------------------------------

FUNCTION_A = """\
-- The first probe.
create or replace function private.probe_a()
returns integer
language sql
as $$ select 1 $$;
comment on function private.probe_a() is 'The first probe.';
revoke all on function private.probe_a() from public;
"""
FUNCTION_B = """\
-- The second probe.
create or replace function private.probe_b()
returns integer
language sql
as $$ select 2 $$;
comment on function private.probe_b() is 'The second probe.';
revoke all on function private.probe_b() from public;
"""


@dataclass
class Project:
    migrations: Path
    functions: Path
    root: Path
    url: str

    def listing(self) -> dict[str, str]:
        return {p.name: p.read_text(encoding="utf-8") for p in sorted(self.migrations.iterdir())}

    def commit(self) -> None:
        subprocess.run(["git", "-C", str(self.root), "add", "-A"], check=True)
        subprocess.run(
            ["git", "-C", str(self.root), "-c", "user.name=t", "-c", "user.email=t@e.test", "commit", "-qm", "x"],
            check=True,
        )

    def generate(self, now: dt.datetime | None = None) -> tuple[Path | None, str]:
        return write_functions_migration(self.url, self.migrations, self.functions, now=now)


def creates(path: Path) -> list[str]:
    """The routines a migration creates, by name, in order."""
    return re.findall(r"^create or replace (?:function|procedure) (\S+?)\(", path.read_text(encoding="utf-8"), re.M)


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> Project:
    """A small project in a git repository of its own: an init migration and a committed functions
    migration that installs both probes."""
    p = Project(tmp_path / "migrations", tmp_path / "functions_sql", tmp_path, database_url)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    write(p.functions, "10_a.sql", "-- File header: not a function.\n\n" + FUNCTION_A)
    write(p.functions, "20_b.sql", FUNCTION_B)
    write(p.migrations, "20250101000000_init.sql", "create schema if not exists private;\n")
    path, _ = p.generate(now=dt.datetime(2025, 1, 1, 0, 1, tzinfo=dt.UTC))
    assert path == p.migrations / f"20250101000100{FUNCTIONS_SUFFIX}"
    p.commit()
    return p


def test_blocks_are_a_functions_whole_contract(tmp_path: Path) -> None:
    write(tmp_path, "10_a.sql", "-- File header: not a function.\n\n" + FUNCTION_A + "\n" + FUNCTION_B)
    blocks = function_blocks(tmp_path)
    assert [b.text for b in blocks] == [FUNCTION_A, FUNCTION_B]
    assert {b.file for b in blocks} == {"10_a.sql"}


def test_the_first_migration_installs_everything_and_applies(project: Project, scratch_url: str) -> None:
    path = project.migrations / f"20250101000100{FUNCTIONS_SUFFIX}"
    assert creates(path) == ["private.probe_a", "private.probe_b"]
    assert FUNCTION_A in path.read_text(encoding="utf-8")
    assert "File header" not in path.read_text(encoding="utf-8")
    migrate(scratch_url, project.migrations)
    assert value(scratch_url, "select private.probe_a() + private.probe_b()") == 3


def test_no_change_writes_nothing_and_says_so(project: Project) -> None:
    before = project.listing()
    path, message = project.generate()
    assert path is None
    assert message == "nothing to write: the migrations already install exactly supabase/functions_sql/"
    assert project.listing() == before


def test_one_changed_function_gives_a_migration_of_that_function_only(project: Project, scratch_url: str) -> None:
    write(project.migrations, "20250101000200_later.sql", "select 1;\n")
    write(project.functions, "20_b.sql", FUNCTION_B.replace("select 2", "select 22"))
    before = project.listing()

    path, message = project.generate(now=dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC))

    assert path == project.migrations / f"20300102030405{FUNCTIONS_SUFFIX}"
    assert message == f"wrote {path.name}: 1 routine(s) created or replaced, 0 dropped"
    assert creates(path) == ["private.probe_b"]
    assert "select 22" in path.read_text(encoding="utf-8")
    assert "comment on function private.probe_b() is" in path.read_text(encoding="utf-8")  # the whole contract
    assert {k: v for k, v in project.listing().items() if k != path.name} == before
    project.commit()
    assert project.generate()[0] is None  # and now it is up to date
    migrate(scratch_url, project.migrations)
    assert value(scratch_url, "select private.probe_a() + private.probe_b()") == 23


def test_a_changed_grant_or_comment_carries_the_block(project: Project) -> None:
    write(project.functions, "10_a.sql", FUNCTION_A + "grant execute on function private.probe_a() to service_role;\n")
    path, _ = project.generate()
    assert path is not None
    assert creates(path) == ["private.probe_a"]
    project.commit()
    write(project.functions, "10_a.sql", FUNCTION_A.replace("'The first probe.'", "'The first probe, again.'"))
    path, _ = project.generate(now=dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    assert path is not None
    text = path.read_text(encoding="utf-8")
    assert creates(path) == ["private.probe_a"]
    assert "revoke all on routine private.probe_a() from service_role;" in text  # the grant taken away


def test_a_removed_function_is_dropped_once(project: Project, scratch_url: str) -> None:
    (project.functions / "20_b.sql").unlink()
    path, message = project.generate()
    assert path is not None
    assert message.endswith("0 routine(s) created or replaced, 1 dropped")
    assert "drop routine if exists private.probe_b();" in path.read_text(encoding="utf-8")
    assert creates(path) == []
    project.commit()
    assert project.generate()[0] is None  # the drop is written once
    migrate(scratch_url, project.migrations)
    assert value(scratch_url, "select to_regprocedure('private.probe_b()') is null") is True


def test_a_changed_signature_drops_the_old_one_first(project: Project, scratch_url: str) -> None:
    changed = FUNCTION_A.replace("probe_a()", "probe_a(base integer)").replace("select 1", "select base + 1")
    write(project.functions, "10_a.sql", changed)
    path, _ = project.generate()
    assert path is not None
    text = path.read_text(encoding="utf-8")
    assert text.index("drop routine if exists private.probe_a();") < text.index("create or replace function")
    migrate(scratch_url, project.migrations)
    assert value(scratch_url, "select private.probe_a(41)") == 42
    assert value(scratch_url, "select to_regprocedure('private.probe_a()') is null") is True


def test_a_clock_behind_the_last_migration_still_gives_a_newer_version(project: Project) -> None:
    write(project.migrations, "20990101000000_future.sql", "select 1;\n")
    write(project.functions, "10_a.sql", FUNCTION_A.replace("select 1", "select 11"))
    path, _message = project.generate(now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert path is not None
    assert path.name == f"20990101000001{FUNCTIONS_SUFFIX}"


def test_an_uncommitted_newest_functions_migration_is_regenerated_in_place(project: Project) -> None:
    write(project.functions, "20_b.sql", FUNCTION_B.replace("select 2", "select 222"))
    path, _ = project.generate(now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert path is not None
    write(project.functions, "10_a.sql", FUNCTION_A.replace("select 1", "select 111"))

    again, message = project.generate(now=dt.datetime(2030, 6, 1, tzinfo=dt.UTC))

    assert again == path
    assert message.startswith(f"regenerated {path.name}")
    assert creates(path) == ["private.probe_a", "private.probe_b"]  # measured against the committed ones
    write(project.functions, "10_a.sql", FUNCTION_A)
    write(project.functions, "20_b.sql", FUNCTION_B)
    gone, message = project.generate()
    assert gone is None
    assert message.startswith(f"removed {path.name}")
    assert not path.exists()


def test_a_function_that_does_not_install_is_refused(project: Project) -> None:
    write(project.functions, "20_b.sql", FUNCTION_B.replace("language sql", "language nonsense"))
    with pytest.raises(MigrationError, match="does not install"):
        project.generate()


def test_changing_one_project_function_gives_a_migration_of_that_function_only(
    database_url: str, drift_copy: DriftCopy
) -> None:
    drift_copy.replace(
        "where gm.group_id = is_group_teacher.group_id",
        "where gm.group_id = upper(is_group_teacher.group_id)",
    )
    path, _ = write_functions_migration(database_url, drift_copy.migrations, drift_copy.functions)
    assert path is not None
    assert creates(path) == ["private.is_group_teacher"]
    assert "grant execute on function private.is_group_teacher(text)" in path.read_text(encoding="utf-8")
    assert drift_copy.new_problems(database_url) == []


# --- drift -----------------------------------------------------------------------------------------


def test_the_project_has_no_drift(database_url: str) -> None:
    assert check_drift(database_url) == []


@dataclass
class DriftCopy:
    migrations: Path
    functions: Path
    baseline: list[str]

    @property
    def access(self) -> Path:
        return self.functions / "10_access.sql"

    def replace(self, old: str, new: str) -> None:
        text = self.access.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"10_access.sql no longer contains exactly one {old!r}"
        self.access.write_text(text.replace(old, new), encoding="utf-8")

    def new_problems(self, url: str) -> list[str]:
        problems = check_drift(url, migrations_dir=self.migrations, functions_dir=self.functions)
        return [p for p in problems if p not in self.baseline]


@pytest.fixture(scope="module")
def drift_source(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> DriftCopy:
    """A consistent copy of supabase/migrations and supabase/functions_sql, with its drift baseline.

    The functions migration is regenerated in the copy, so the copy has no drift by construction
    whatever the working tree holds; `test_the_project_has_no_drift` checks the real tree.
    """
    root = tmp_path_factory.mktemp("drift_source")
    migrations = Path(shutil.copytree(MIGRATIONS_DIR, root / "migrations"))
    functions = Path(shutil.copytree(FUNCTIONS_DIR, root / "functions_sql"))
    write_functions_migration(database_url, migrations, functions)
    return DriftCopy(migrations, functions, check_drift(database_url, migrations, functions))


@pytest.fixture
def drift_copy(drift_source: DriftCopy, tmp_path: Path) -> DriftCopy:
    """A private copy of drift_source that one test may edit."""
    return DriftCopy(
        Path(shutil.copytree(drift_source.migrations, tmp_path / "migrations")),
        Path(shutil.copytree(drift_source.functions, tmp_path / "functions_sql")),
        drift_source.baseline,
    )


def test_an_edited_function_body_is_drift(database_url: str, drift_copy: DriftCopy) -> None:
    drift_copy.replace(
        "where gm.group_id = is_group_teacher.group_id",
        "where gm.group_id = upper(is_group_teacher.group_id)",
    )

    assert drift_copy.new_problems(database_url) == [
        "private.is_group_teacher(text): functions_sql/ differs from the migrations (definition)"
    ]


def test_an_edited_function_comment_is_drift(database_url: str, drift_copy: DriftCopy) -> None:
    drift_copy.replace(
        "'True when auth.uid() is the pupil or teaches them.",
        "'True when auth.uid() is the pupil or a teacher.",
    )

    assert drift_copy.new_problems(database_url) == [
        "private.can_read_pupil(uuid): functions_sql/ differs from the migrations (comment)"
    ]


def test_an_added_grant_is_drift(database_url: str, drift_copy: DriftCopy) -> None:
    drift_copy.replace(
        "grant execute on function private.can_read_pupil(uuid) to authenticated, service_role;",
        "grant execute on function private.can_read_pupil(uuid) to authenticated, service_role, anon;",
    )

    assert drift_copy.new_problems(database_url) == [
        "private.can_read_pupil(uuid): functions_sql/ differs from the migrations (grants)"
    ]


def test_a_function_added_without_a_migration_is_drift(database_url: str, drift_copy: DriftCopy) -> None:
    write(drift_copy.functions, "90_probe.sql", FUNCTION_A.replace("probe_a", "drift_probe"))

    assert drift_copy.new_problems(database_url) == [
        "private.drift_probe(): in functions_sql/ but not installed by any migration"
    ]


def test_a_function_removed_from_functions_sql_has_no_source(database_url: str, drift_copy: DriftCopy) -> None:
    text = drift_copy.access.read_text(encoding="utf-8")
    start = text.index("create or replace function private.can_read_pupil(pupil_id uuid)")
    end = text.index("$$;", text.index("as $$", start)) + len("$$;")
    text = text[:start] + text[end:]
    # and its comment and grants: the source is gone for good
    comment = text.index("comment on function private.can_read_pupil(uuid) is")
    text = text[:comment] + text[text.index(";\n", comment) + 2 :]
    text = "\n".join(line for line in text.splitlines() if "private.can_read_pupil(uuid)" not in line) + "\n"
    drift_copy.access.write_text(text, encoding="utf-8")
    assert "function private.can_read_pupil(pupil_id" not in drift_copy.access.read_text(encoding="utf-8")

    assert drift_copy.new_problems(database_url) == [
        "private.can_read_pupil(uuid): installed by the migrations but has no source in functions_sql/"
    ]


def test_regenerating_the_functions_migration_clears_the_drift(database_url: str, drift_copy: DriftCopy) -> None:
    drift_copy.replace(
        "where gm.group_id = is_group_teacher.group_id",
        "where gm.group_id = upper(is_group_teacher.group_id)",
    )
    write(drift_copy.functions, "90_probe.sql", FUNCTION_A.replace("probe_a", "drift_probe"))
    assert len(drift_copy.new_problems(database_url)) == 2

    path, _message = write_functions_migration(database_url, drift_copy.migrations, drift_copy.functions)

    assert path is not None
    assert drift_copy.new_problems(database_url) == []


def test_a_public_function_with_a_source_is_not_drift(database_url: str, tmp_path: Path) -> None:
    # Independent of the working tree: one public and one private function, both with a source and
    # installed by the generated migration. The database search_path includes public.
    migrations = tmp_path / "migrations"
    functions = tmp_path / "functions_sql"
    write(migrations, "20250101000000_init.sql", "create schema if not exists private;\n")
    write(functions, "10_a.sql", FUNCTION_A + FUNCTION_B.replace("private.probe_b", "public.probe_b"))
    write_functions_migration(database_url, migrations, functions)

    assert check_drift(database_url, migrations_dir=migrations, functions_dir=functions) == []


def test_a_removed_grant_is_drift(database_url: str, drift_copy: DriftCopy) -> None:
    drift_copy.replace("grant execute on function private.can_read_pupil(uuid) to authenticated, service_role;", "")

    assert drift_copy.new_problems(database_url) == [
        "private.can_read_pupil(uuid): functions_sql/ differs from the migrations (grants)"
    ]


def test_a_signature_change_leaves_no_old_overload(database_url: str, drift_copy: DriftCopy) -> None:
    text = drift_copy.access.read_text(encoding="utf-8")
    text = text.replace(
        "private.is_group_teacher(group_id text)", "private.is_group_teacher(group_id text, any_role boolean)"
    ).replace("function private.is_group_teacher(text)", "function private.is_group_teacher(text, boolean)")
    drift_copy.access.write_text(text, encoding="utf-8")
    path, _ = write_functions_migration(database_url, drift_copy.migrations, drift_copy.functions)

    assert path is not None
    assert "drop routine if exists private.is_group_teacher(text);" in path.read_text(encoding="utf-8")
    assert drift_copy.new_problems(database_url) == []


# --- the command line ------------------------------------------------------------------------------


def run_glue(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "glue_tools", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_migrate_applies_then_has_nothing_to_apply(scratch_url: str) -> None:
    first = run_glue("--database-url", scratch_url, "migrate")

    assert first.returncode == 0, first.stderr
    assert "applied" in first.stdout
    assert f"applied {discover()[0].filename}" in first.stdout
    assert f"{len(discover())} applied" in first.stdout
    assert first.stderr == ""

    second = run_glue("--database-url", scratch_url, "migrate")
    assert second.returncode == 0, second.stderr
    assert "nothing to apply" in second.stdout

    status = run_glue("--database-url", scratch_url, "migrate", "--status")
    assert status.returncode == 0, status.stderr
    assert "0 pending" in status.stdout


def test_cli_refuses_an_edited_migration_without_a_traceback(migrated_scratch_url: str) -> None:
    # The CLI reads the real supabase/migrations: make the database remember other text for the
    # first file, which is what an edit after applying looks like.
    first = discover()[0]
    with psycopg.connect(migrated_scratch_url, autocommit=True) as conn:
        conn.execute(
            "update supabase_migrations.schema_migrations set statements = array[%s] where version = %s",
            ("-- the text that was applied\n", first.version),
        )

    result = run_glue("--database-url", migrated_scratch_url, "migrate")

    assert result.returncode == cli.EXIT_USAGE == 2
    assert f"glue: migration {first.filename} was edited after it was applied" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_refuses_a_migration_missing_on_disk(migrated_scratch_url: str) -> None:
    with psycopg.connect(migrated_scratch_url, autocommit=True) as conn:
        conn.execute(
            "insert into supabase_migrations.schema_migrations (version, name, statements)"
            " values ('29991231235959', 'from_another_branch', array['select 1'])"
        )

    result = run_glue("--database-url", migrated_scratch_url, "migrate")

    assert result.returncode == 2
    assert "29991231235959" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_main_in_process(scratch_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--database-url", scratch_url, "migrate"]) == 0
    out = capsys.readouterr().out
    assert f"applied {discover()[-1].filename}" in out

    assert cli.main(["--database-url", scratch_url, "migrate"]) == 0
    assert "nothing to apply" in capsys.readouterr().out


def test_cli_unreachable_database_exits_3(tmp_path: Path) -> None:
    result = run_glue("--database-url", "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=3", "migrate")

    assert result.returncode == cli.EXIT_UNREACHABLE == 3
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


# --- data migrations --------------------------------------------------------------------------------


def test_answer_keys_and_revisions_migrate_existing_data(scratch_url: str, tmp_path: Path) -> None:
    """A database migrated before the answer keys moved keeps every key (now out of body_data) and
    every existing submission gets a revision of its own."""
    before = tmp_path / "migrations"
    before.mkdir()
    for m in discover(MIGRATIONS_DIR):
        if m.version < "20261204180000":
            shutil.copy(m.path, before / m.filename)
    migrate(scratch_url, before)
    pupil, lesson = "0a000000-0000-4000-8000-000000000001", "0a000000-0000-4000-8000-000000000003"
    mcq, text, plain = (f"0a000000-0000-4000-8000-00000000000{i}" for i in (4, 5, 6))
    with psycopg.connect(scratch_url) as conn, conn.transaction():
        conn.execute("insert into auth.users (id, email) values (%s, 'old.pupil@example.test')", (pupil,))
        conn.execute(
            "insert into public.profiles (user_id, first_name, last_name, email)"
            " values (%s, 'Old', 'Pupil', 'o@e.test')",
            (pupil,),
        )
        conn.execute(
            "insert into public.subjects (subject) values ('Old');"
            " insert into public.units (unit_id, title, subject, year) values"
            "  ('0a000000-0000-4000-8000-000000000002', 'Old unit', 'Old', 8)"
        )
        conn.execute(
            "insert into public.lessons (lesson_id, unit_id, title)"
            " values (%s, '0a000000-0000-4000-8000-000000000002', 'Old lesson')",
            (lesson,),
        )
        conn.execute(
            "insert into public.activities (activity_id, lesson_id, title, type, body_data) values"
            " (%s, %s, 'mcq', 'multiple-choice-question',"
            '  \'{"question": "q", "options": [{"id": "a"}, {"id": "b"}], "correct_option_id": "b"}\'),'
            ' (%s, %s, \'text\', \'short-text-question\', \'{"question": "why", "model_answer": "because"}\'),'
            " (%s, %s, 'plain', 'short-text-question', '{\"question\": \"how\"}')",
            (mcq, lesson, text, lesson, plain, lesson),
        )
        conn.execute(
            "insert into public.submissions (activity_id, user_id, status, submitted_at, body, auto_score)"
            " values (%s, %s, 'submitted', now(), '{\"option_id\": \"b\"}', 1),"
            " (%s, %s, 'submitted', now(), '{\"text\": \"t\"}', null)",
            (mcq, pupil, text, pupil),
        )
    migrate(scratch_url)
    with psycopg.connect(scratch_url) as conn:
        keys = conn.execute(
            "select activity_id::text, correct_option_id, model_answer from public.activity_answer_keys order by 1"
        ).fetchall()
        assert keys == [(mcq, "b", None), (text, None, "because")]
        bodies = dict(conn.execute("select activity_id::text, body_data from public.activities").fetchall())
        assert bodies == {
            mcq: {"question": "q", "options": [{"id": "a"}, {"id": "b"}]},
            text: {"question": "why"},
            plain: {"question": "how"},
        }
        revisions = [r for (r,) in conn.execute("select revision from public.submissions order by revision")]
        assert len(revisions) == 2
        assert len(set(revisions)) == 2
        assert conn.execute("select nextval('public.submissions_revision_seq')").fetchone() == (max(revisions) + 1,)


def test_no_functions_file_calls_a_function_of_a_later_file() -> None:
    """functions_sql/ is numbered by dependency: a file installs on top of the earlier ones alone."""
    blocks = function_blocks(FUNCTIONS_DIR)
    defined = {}
    for block in blocks:
        match = re.search(r"^create or replace (?:function|procedure) (\w+\.\w+)\(", block.text, re.M)
        assert match is not None
        defined[match.group(1)] = block.file
    late = []
    for block in blocks:
        body = block.text.split("\ncomment on ")[0]
        for called in set(re.findall(r"\b((?:private|public)\.\w+)\(", body)):
            if defined.get(called, "") > block.file:
                late.append(f"{block.file} calls {called} of {defined[called]}")
    assert late == []
