"""`glue import planner`: a school's data from the planner's own database (docs/import.md).

Three phases, each timed:
1. copy: the planner's tables (only the columns the mapping reads) into a scratch schema of the
   target database, `planner_import`, with COPY: out of the source database for a URL, out of the
   COPY blocks of a plain-format dump for a FILE.sql (the file's SQL is never executed);
2. map: `private.import_planner(scratch schema, dry_run, strict)` in one transaction: all or nothing;
3. backfill: the batched backfill with its progress bar (glue_tools.backfill), after a real run that
   wrote something (or when an earlier backfill was left unfinished).
The scratch schema is dropped at the end, whatever happened. No score is computed here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from glue_tools import backfill

SCRATCH = "planner_import"

# The planner's tables and the columns the mapping reads, with the types they are copied as. A column
# the source lacks is left out (the mapping reads it as NULL); an optional table may be missing.
TABLES: dict[str, dict[str, str]] = {
    "profiles": {
        "user_id": "text", "first_name": "text", "last_name": "text", "email": "text", "is_teacher": "boolean",
    },
    "subjects": {"subject": "text", "active": "boolean"},
    "groups": {"group_id": "text", "subject": "text", "join_code": "text", "active": "boolean"},
    "group_membership": {"group_id": "text", "user_id": "text", "role": "text"},
    "units": {
        "unit_id": "text", "title": "text", "subject": "text", "description": "text", "year": "integer",
        "active": "boolean",
    },
    "lessons": {"lesson_id": "text", "unit_id": "text", "title": "text", "order_by": "integer", "active": "boolean"},
    "assignments": {"group_id": "text", "unit_id": "text", "start_date": "date", "active": "boolean"},
    "lesson_assignments": {
        "group_id": "text", "lesson_id": "text", "start_date": "date", "feedback_visible": "boolean",
    },
    "learning_objectives": {"learning_objective_id": "text", "title": "text", "order_index": "integer"},
    "success_criteria": {
        "success_criteria_id": "text", "learning_objective_id": "text", "level": "integer", "description": "text",
        "order_index": "integer",
    },
    "activities": {
        "activity_id": "text", "lesson_id": "text", "title": "text", "type": "text", "body_data": "jsonb",
        "order_by": "integer", "active": "boolean", "is_summative": "boolean",
    },
    "activity_success_criteria": {"activity_id": "text", "success_criteria_id": "text"},
    "submissions": {
        "submission_id": "text", "activity_id": "text", "user_id": "text", "submitted_at": "timestamptz",
        "body": "json", "submission_status": "text",
    },
    "pupil_activity_feedback": {
        "activity_id": "text", "pupil_id": "text", "submission_id": "text", "source": "text", "score": "numeric",
        "feedback_text": "text", "created_at": "timestamptz",
    },
}  # fmt: skip
_COPY_LINE = re.compile(r'^COPY\s+("?[\w$]+"?)\.("?[\w$]+"?)\s*\((.*)\)\s+FROM\s+stdin;\s*$', re.IGNORECASE)


class SourceError(ValueError):
    """The source cannot be read (unreachable, not a planner database, not a usable dump)."""


@dataclass
class ImportResult:
    report: dict[str, Any]
    copied: dict[str, int] = field(default_factory=dict)  # scratch table -> rows copied
    seconds: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    backfill: dict[str, Any] | None = None


def run(
    url: str,
    source: str,
    *,
    source_schema: str = "public",
    dry_run: bool = False,
    strict: bool = False,
    batch_size: int = 50,
    show_progress: bool = True,
    log: Callable[[str], None] = lambda _m: None,
) -> ImportResult:
    """Import the planner's data of `source` (a postgres URL or a .sql dump) into the database of `url`."""
    seconds: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True, application_name="glue-import") as conn:
        try:
            started = time.monotonic()
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SCRATCH)))
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(SCRATCH)))
            conn.execute(sql.SQL("revoke all on schema {} from public").format(sql.Identifier(SCRATCH)))
            if _is_url(source):
                copied = _copy_from_database(conn, source, source_schema)
            else:
                copied = _copy_from_dump(conn, Path(source), source_schema)
            for table in copied:
                conn.execute(sql.SQL("analyze {}").format(sql.Identifier(SCRATCH, table)))
            seconds["copy"] = time.monotonic() - started
            log(f"copied {sum(copied.values()):,} rows of {len(copied)} planner tables in {seconds['copy']:.1f}s")

            started = time.monotonic()
            with conn.transaction():
                conn.execute("set local statement_timeout = 0")
                row = conn.execute("select private.import_planner(%s, %s, %s)", (SCRATCH, dry_run, strict)).fetchone()
            assert row is not None
            report: dict[str, Any] = row[0]
            seconds["map"] = time.monotonic() - started
        finally:
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SCRATCH)))
    result = ImportResult(report=report, copied=copied, seconds=seconds)
    if not dry_run and _needs_backfill(url, report):
        log(f"mapped in {seconds['map']:.1f}s (one transaction); backfilling the reports")
        started = time.monotonic()
        result.backfill = backfill.run(url, batch_size=batch_size, show_progress=show_progress)
        seconds["backfill"] = time.monotonic() - started
    return result


def _needs_backfill(url: str, report: dict[str, Any]) -> bool:
    """Whether the reports must be backfilled: the import wrote something, or a backfill is unfinished."""
    if any(int(n) for n in (report.get("written") or {}).values()):
        return True
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select exists (select from private.report_backfill_runs where finished_at is null)"
        ).fetchone()
    return bool(row and row[0])


def _is_url(source: str) -> bool:
    return source.startswith(("postgres://", "postgresql://")) or ("=" in source and not Path(source).exists())


def _create(conn: psycopg.Connection, table: str, columns: list[tuple[str, str]]) -> None:
    conn.execute(
        sql.SQL("create table {} ({})").format(
            sql.Identifier(SCRATCH, table),
            sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns),
        )
    )


def _copy_from_database(conn: psycopg.Connection, source: str, schema: str) -> dict[str, int]:
    """COPY each planner table (the columns there are of those wanted) out of the source, into the scratch."""
    try:
        src = psycopg.connect(source, autocommit=True, connect_timeout=10, application_name="glue-import-source")
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [repr(exc)])[0]
        raise SourceError(f"cannot read the planner's database: {first}") from exc
    copied: dict[str, int] = {}
    with src:
        present: dict[str, set[str]] = {}
        for table, column in src.execute(
            "select table_name::text, column_name::text from information_schema.columns where table_schema = %s",
            (schema,),
        ):
            present.setdefault(table, set()).add(column)
        if not present:
            raise SourceError(f"the planner's database has no table in schema {schema} (see --source-schema)")
        for table, wanted in TABLES.items():
            if table not in present:
                continue  # missing: the mapping says which required table it is (PLN09)
            columns = [(c, t) for c, t in wanted.items() if c in present[table]]
            _create(conn, table, columns)
            names = sql.SQL(", ").join(sql.Identifier(c) for c, _t in columns)
            out = sql.SQL("copy (select {} from {}) to stdout").format(names, sql.Identifier(schema, table))
            into = sql.SQL("copy {} ({}) from stdin").format(sql.Identifier(SCRATCH, table), names)
            with src.cursor().copy(out) as reader, conn.cursor().copy(into) as writer:
                for chunk in reader:
                    writer.write(chunk)
            copied[table] = _count(conn, table)
    return copied


def _copy_from_dump(conn: psycopg.Connection, path: Path, schema: str) -> dict[str, int]:
    """COPY the data blocks of the planner's tables out of a plain-format dump into the scratch schema.

    Only `COPY schema.table (...) FROM stdin;` blocks are read (pg_dump's default plain format, or
    `supabase db dump --data-only --use-copy`); every other statement of the file is ignored.
    """
    if not path.is_file():
        raise SourceError(f"{path}: no such file (--source takes a postgres URL or a .sql dump)")
    copied: dict[str, int] = {}
    with path.open("rb") as lines:
        for line in lines:
            match = _COPY_LINE.match(line.decode("utf-8", "replace"))
            if match is None:
                continue
            table_schema, table = (x.strip('"') for x in match.group(1, 2))
            header = [c.strip().strip('"') for c in match.group(3).split(",")]
            if table_schema != schema or table not in TABLES or table in copied:
                for skipped in lines:
                    if skipped.rstrip(b"\r\n") == b"\\.":
                        break
                continue
            wanted = TABLES[table]
            _create(conn, table, [(c, wanted.get(c, "text")) for c in header])
            into = sql.SQL("copy {} ({}) from stdin").format(
                sql.Identifier(SCRATCH, table), sql.SQL(", ").join(sql.Identifier(c) for c in header)
            )
            with conn.cursor().copy(into) as writer:
                for chunk in _block(lines):
                    writer.write(chunk)
            copied[table] = _count(conn, table)
    if not copied:
        raise SourceError(
            f"{path}: no COPY data for the planner's tables in schema {schema}: dump with pg_dump (plain format)"
            " or supabase db dump --data-only --use-copy"
        )
    return copied


def _block(lines: Iterator[bytes]) -> Iterator[bytes]:
    """The rows of one COPY block, in chunks of about 1 MB, up to its terminating \\. line."""
    buffer: list[bytes] = []
    size = 0
    for line in lines:
        if line.rstrip(b"\r\n") == b"\\.":
            break
        buffer.append(line)
        size += len(line)
        if size >= 1 << 20:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def _count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(SCRATCH, table))).fetchone()
    return int(row[0]) if row else 0


def describe(result: ImportResult, *, max_issues: int = 20) -> str:
    """The report as text: per table what was read and written, what was skipped and why, the timings."""
    report = result.report
    read, written = report.get("read") or {}, report.get("written") or {}
    verb = "would write" if report.get("dry_run") else "written"
    lines = [
        ("Dry run (nothing changed)" if report.get("dry_run") else "Imported")
        + f": run {report.get('run_id')}, planner tables copied in {result.seconds.get('copy', 0):.1f}s,"
        f" mapped in {result.seconds.get('map', 0):.1f}s",
        f"  {'planner table':<28}{'rows read':>12}",
    ]
    lines += [f"  {t:<28}{n:>12,}" for t, n in sorted(read.items())]
    lines.append(f"  {'table here':<28}{verb:>12}")
    lines += [f"  {t:<28}{n:>12,}" for t, n in sorted(written.items())]
    skipped = report.get("skipped") or {}
    count = int(report.get("issue_count") or 0)
    if count:
        lines.append(
            f"Skipped or adjusted: {count:,} rows (" + ", ".join(f"{r} {n:,}" for r, n in skipped.items()) + ")"
        )
        issues = report.get("issues") or []
        for issue in issues[:max_issues]:
            lines.append(f"  {issue['table']} {issue['row']}: {issue['detail']} [{issue['rule']}]")
        if count > min(len(issues), max_issues):
            lines.append(
                f"  ... {count - min(len(issues), max_issues):,} more (--max-issues, --json, private.import_runs)"
            )
    else:
        lines.append("Nothing skipped: every row was mapped.")
    if result.backfill is not None:
        lines.append(
            f"Backfilled {result.backfill['pupils_done']:,} pupils in {result.seconds.get('backfill', 0):.1f}s"
            f" ({result.backfill['pupils_changed']:,} with rows written)"
        )
    elif not report.get("dry_run"):
        lines.append("Nothing changed: the reports are as they were (no backfill needed).")
    return "\n".join(lines)
