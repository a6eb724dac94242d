"""`glue import planner` end to end, as a user runs it (a subprocess): the planner's database is a
scratch database holding tests/sql/import/legacy_fixture.psql in schema legacy; the target is a
freshly migrated scratch database. A dry run changes nothing; a real run imports and backfills (the
worked example exact, verify clean); a re-run writes nothing and a new answer is added once; a
pg_dump file imports the same; --strict refuses with PLV15; bad sources get readable errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from test_cli import glue

from glue_tools.localdb import scratch_database
from glue_tools.paths import ROOT

FIXTURE = ROOT / "tests" / "sql" / "import" / "legacy_fixture.psql"
PUPIL = "1e6ac000-0000-4000-8000-000000000002"
WRITTEN = {
    "units": 2,
    "groups": 2,
    "lessons": 3,
    "profiles": 3,
    "subjects": 1,
    "activities": 8,
    "submissions": 5,
    "group_membership": 4,
    "success_criteria": 4,
    "lesson_assignments": 3,
    "learning_objectives": 1,
    "activity_success_criteria": 8,
    "submission_criterion_scores": 2,
}


@pytest.fixture
def planner_url(database_url: str) -> Iterator[str]:
    """The planner's database: the legacy fixture in schema legacy."""
    with scratch_database(database_url, "planner_legacy") as url:
        with psycopg.connect(url) as conn, conn.transaction():
            conn.execute(FIXTURE.read_text(encoding="utf-8"))
        yield url


def _counts(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select (select count(*) from public.submissions), (select count(*) from public.profiles),"
            " (select count(*) from public.groups), (select count(*) from private.import_ids),"
            " (select count(*) from public.report_pupil_unit_summaries),"
            " (select count(*) from pg_namespace where nspname = 'planner_import')"
        ).fetchone()
    assert row is not None
    return tuple(int(x) for x in row)


def _import(target: str, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    return glue(target, "import", "planner", "--source", source, "--source-schema", "legacy", *args)


def test_dry_run_reports_and_changes_nothing(migrated_scratch_url: str, planner_url: str) -> None:
    before = _counts(migrated_scratch_url)
    done = _import(migrated_scratch_url, planner_url, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "Dry run (nothing changed)" in done.stdout
    assert "Skipped or adjusted: 8 rows" in done.stdout
    assert "group_membership 25-7A-IT / ghost-user: user ghost-user has no profile [orphan]" in done.stdout
    assert "teacher_override_score 1.2 is outside [0, 1]: clamped [score_out_of_range]" in done.stdout
    assert _counts(migrated_scratch_url) == before == (0, 0, 0, 0, 0, 0)


def test_import_backfill_and_reimport(migrated_scratch_url: str, planner_url: str) -> None:
    done = _import(migrated_scratch_url, planner_url, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["written"] == WRITTEN
    assert report["issue_count"] == 8
    assert report["dry_run"] is False
    assert report["backfill"]["pupils_done"] == 2
    assert _counts(migrated_scratch_url) == (5, 3, 2, 24, 2, 0)
    with psycopg.connect(migrated_scratch_url) as conn:
        row = conn.execute(
            "select activities_average, assessment_average, assessment_level, working_level from"
            " public.report_pupil_unit_summaries where pupil_id = %s and unit_id = private.import_uuid('unit', %s)",
            (PUPIL, "WE-UNIT-8"),
        ).fetchone()
    assert row is not None
    assert (str(row[0]), str(row[1]), row[2], row[3]) == ("0.7500", "0.6250", "4M", 1)
    verify = glue(migrated_scratch_url, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "0 mismatched, 0 differences" in verify.stdout

    # Again, unchanged: nothing is written, nothing duplicated.
    again = _import(migrated_scratch_url, planner_url, "--json")
    assert again.returncode == 0, again.stderr
    assert set(json.loads(again.stdout)["written"].values()) == {0}
    assert json.loads(again.stdout)["backfill"] is None  # nothing changed: no backfill
    assert _counts(migrated_scratch_url) == (5, 3, 2, 24, 2, 0)

    # The planner gained an answer and changed one: one row added, one updated, the cache follows.
    with psycopg.connect(planner_url) as conn:
        conn.execute(
            "insert into legacy.submissions (submission_id, activity_id, user_id, submitted_at, body) values"
            " ('1e6ac000-0000-4000-8000-0000000000f3', '1e6ac000-0000-4000-8000-0000000000d3', %s,"
            "  '2026-09-20 09:30+00', %s),"
            " ('1e6ac000-0000-4000-8000-0000000000f4', '1e6ac000-0000-4000-8000-0000000000d4', %s,"
            "  '2026-09-20 09:00+00', %s)",
            (
                PUPIL,
                json.dumps({"upload_file_name": "poster.pdf", "teacher_override_score": 0.5}),
                PUPIL,
                json.dumps({"answer": "Third try", "teacher_override_score": 1}),
            ),
        )
    third = _import(migrated_scratch_url, planner_url, "--json")
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["written"]["submissions"] == 2
    assert _counts(migrated_scratch_url) == (6, 3, 2, 24, 2, 0)
    with psycopg.connect(migrated_scratch_url) as conn:
        row = conn.execute(
            "select assessment_average, awaiting_marking_count, missing_count from public.report_pupil_unit_summaries"
            " where pupil_id = %s and unit_id = private.import_uuid('unit', 'WE-UNIT-8')",
            (PUPIL,),
        ).fetchone()
    # A3 now 0.5 (S3 = mean(0.5, 0.5)); A4 overridden to 1: S4 = 1.
    assert row is not None
    assert (str(row[0]), row[1], row[2]) == ("0.7500", 0, 0)


def test_a_pg_dump_file_imports_the_same(migrated_scratch_url: str, planner_url: str, tmp_path: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump is installed with PostgreSQL (scripts/setup.sh)"
    dump = tmp_path / "planner.sql"
    subprocess.run([pg_dump, "--schema", "legacy", "--file", str(dump), planner_url], check=True, timeout=60)
    done = _import(migrated_scratch_url, str(dump), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["written"] == WRITTEN
    assert report["issue_count"] == 8
    assert _counts(migrated_scratch_url) == (5, 3, 2, 24, 2, 0)


def test_strict_refuses_everything_with_plv15(migrated_scratch_url: str, planner_url: str) -> None:
    done = _import(migrated_scratch_url, planner_url, "--strict")
    assert done.returncode == 1
    assert "[PLV15] planner import refused: 8 row(s) cannot be mapped; the first is table activities" in done.stderr
    assert "hint: Fix them in the planner" in done.stderr
    assert _counts(migrated_scratch_url) == (0, 0, 0, 0, 0, 0)


def test_bad_sources_get_readable_errors(migrated_scratch_url: str, planner_url: str, tmp_path: Path) -> None:
    unreachable = _import(migrated_scratch_url, "postgresql://postgres@127.0.0.1:1/postgres")
    assert unreachable.returncode == 2
    assert unreachable.stderr.startswith("glue: cannot read the planner's database:"), unreachable.stderr
    missing = _import(migrated_scratch_url, str(tmp_path / "nope.sql"))
    assert missing.returncode == 2
    assert "nope.sql: no such file" in missing.stderr
    empty = tmp_path / "empty.sql"
    empty.write_text("insert into legacy.profiles values ('x');\n", encoding="utf-8")
    no_copy = _import(migrated_scratch_url, str(empty))
    assert no_copy.returncode == 2
    assert "no COPY data for the planner's tables" in no_copy.stderr
    with psycopg.connect(planner_url, autocommit=True) as conn:
        conn.execute("drop table legacy.submissions")
    no_table = _import(migrated_scratch_url, planner_url)
    assert no_table.returncode == 1
    assert "[PLN09] planner import: table planner_import.submissions is missing" in no_table.stderr
    assert "Traceback" not in unreachable.stderr + missing.stderr + no_copy.stderr + no_table.stderr
    assert _counts(migrated_scratch_url) == (0, 0, 0, 0, 0, 0)
