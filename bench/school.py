"""The schools the benchmark runs on: scratch databases with every migration and a generated school.

A `School` is one scratch database (glue_tools.localdb.scratch_database: the platform shim installed,
dropped afterwards), migrated with the Supabase CLI (glue_tools.supabase_cli.push), loaded with
glue_tools.seed.generate_and_load and
filled with private.report_recalculate_pupil per pupil (fill_cache). It also hands out the fixtures the scenarios need:
samples of pupils, classes and "probe" submissions whose override score can be toggled so that a
recalculation always has something to change.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from glue_tools.localdb import platform_url, scratch_database
from glue_tools.seed import generate_and_load
from glue_tools.supabase_cli import push

# The two values a probe submission's override score alternates between: unlikely to equal an AI,
# auto or teacher score, so that every toggle changes the cell and therefore the pupil's report.
TOGGLE_LOW = "0.1234"
TOGGLE_HIGH = "0.8766"


def say(message: str) -> None:
    """A progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def connect(url: str, *, role: str | None = None, application_name: str = "bench") -> psycopg.Connection:
    """An autocommit connection as the database owner, or switched to `role` for the session."""
    conn = psycopg.connect(url, autocommit=True, application_name=application_name)
    if role is not None:
        conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(role)))
    return conn


@dataclass(frozen=True)
class Probe:
    """A submission of a pupil, not criterion-marked, on work that counts in the pupil's report."""

    pupil_id: str
    teacher_id: str
    activity_id: str
    submission_id: str


@dataclass
class School:
    label: str
    pupils: int
    seed: int
    url: str
    setup: dict[str, Any] = field(default_factory=dict)

    # --- fixtures ---------------------------------------------------------------------------------

    def pupil_ids(self) -> list[str]:
        """Every pupil with at least one class, in id order."""
        with connect(self.url) as conn:
            rows = conn.execute(
                "select distinct user_id::text from public.group_membership where role = 'pupil' order by 1"
            ).fetchall()
        return [r[0] for r in rows]

    def sample_pupils(self, n: int, salt: str) -> list[str]:
        """n pupils with classes, chosen deterministically (seeded by the school's seed and salt)."""
        pupils = self.pupil_ids()
        rng = random.Random(f"{self.seed}:{salt}")
        return rng.sample(pupils, min(n, len(pupils)))

    def classes(self, min_pupils: int, max_pupils: int, n: int, salt: str) -> list[tuple[str, list[str]]]:
        """n classes whose pupil count is within the bounds (else the largest), with their pupils."""
        with connect(self.url) as conn:
            rows = conn.execute(
                "select group_id, array_agg(user_id::text order by user_id) from public.group_membership"
                " where role = 'pupil' group by group_id order by count(*) desc, group_id"
            ).fetchall()
        fitting = [r for r in rows if min_pupils <= len(r[1]) <= max_pupils]
        rng = random.Random(f"{self.seed}:{salt}")
        # A small school may have no class that big: then its largest classes stand in.
        chosen = rng.sample(fitting, min(n, len(fitting))) if fitting else rows[:n]
        return [(g, list(p)) for g, p in chosen]

    def probes(self, pupil_ids: list[str]) -> dict[str, Probe]:
        """One probe submission per pupil (pupils without one are left out).

        The submission has no criterion marks (so its override score decides its cell), is on an
        active scorable activity of an active lesson of an active unit assigned to one of the pupil's
        classes, and comes with a teacher of that class (who may mark it).
        """
        with connect(self.url) as conn:
            rows = conn.execute(
                """
                select distinct on (gm.user_id)
                  gm.user_id::text, t.user_id::text, s.activity_id::text, s.submission_id::text
                from public.group_membership as gm
                join public.group_membership as t on t.group_id = gm.group_id and t.role = 'teacher'
                join public.lesson_assignments as la on la.group_id = gm.group_id
                join public.lessons as l on l.lesson_id = la.lesson_id and l.active
                join public.units as u on u.unit_id = l.unit_id and u.active
                join public.activities as a on a.lesson_id = l.lesson_id and a.active
                join public.activity_types as ty on ty.type = a.type and ty.scorable
                join public.submissions as s on s.user_id = gm.user_id and s.activity_id = a.activity_id
                where gm.role = 'pupil' and gm.user_id = any(%s::uuid[])
                  and not exists (
                    select from public.submission_criterion_scores as m where m.submission_id = s.submission_id
                  )
                order by gm.user_id, md5(s.submission_id::text)
                """,
                (pupil_ids,),
            ).fetchall()
        return {r[0]: Probe(*r) for r in rows}

    def cells(self, n: int, salt: str) -> list[Probe]:
        """n distinct (pupil, activity) cells a teacher may mark: probes of n sampled pupils."""
        pupils = self.sample_pupils(n, salt)
        found = self.probes(pupils)
        return [found[p] for p in pupils if p in found]

    def work_size(self, pupil_ids: list[str]) -> dict[str, float]:
        """Median submissions and cached criterion rows per pupil of a sample (for comparing samples)."""
        with connect(self.url) as conn:
            row = conn.execute(
                """
                select
                  percentile_cont(0.5) within group (order by (
                    select count(*) from public.submissions as s where s.user_id = p.id)),
                  percentile_cont(0.5) within group (order by (
                    select count(*) from public.report_pupil_criterion_scores as c where c.pupil_id = p.id))
                from unnest(%s::uuid[]) as p (id)
                """,
                (pupil_ids,),
            ).fetchone()
        assert row is not None
        return {"submissions_p50": float(row[0] or 0), "criterion_rows_p50": float(row[1] or 0)}

    def table_sizes(self) -> dict[str, int]:
        with connect(self.url) as conn:
            rows = conn.execute(
                """
                select 'submissions', count(*) from public.submissions
                union all select 'submission_criterion_scores', count(*) from public.submission_criterion_scores
                union all select 'report_pupil_unit_summaries', count(*) from public.report_pupil_unit_summaries
                union all select 'report_pupil_criterion_scores', count(*) from public.report_pupil_criterion_scores
                union all select 'report_pupil_subject_summaries', count(*)
                  from public.report_pupil_subject_summaries
                union all select 'database_bytes', pg_database_size(current_database())
                """
            ).fetchall()
        return {str(k): int(v) for k, v in rows}


def toggle(conn: psycopg.Connection, submission_ids: list[str]) -> None:
    """Flip the override score of these submissions between two values (a direct UPDATE, untimed)."""
    conn.execute(
        f"update public.submissions set override_score = case when override_score = {TOGGLE_LOW}"
        f" then {TOGGLE_HIGH} else {TOGGLE_LOW} end, override_at = coalesce(override_at, updated_at)"
        " where submission_id = any(%s::uuid[])",
        (submission_ids,),
    )


def queue_length(conn: psycopg.Connection) -> int:
    row = conn.execute("select count(*) from private.report_jobs where state <> 'dead'").fetchone()
    return int(row[0]) if row else 0


def clear_queue(conn: psycopg.Connection) -> None:
    conn.execute("delete from private.report_jobs")


def vmhwm_kb(pid: int) -> dict[str, int]:
    """Peak and current resident memory of a process (kB) from /proc/<pid>/status."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0])
    return out


@contextlib.contextmanager
def school(
    base_url: str,
    label: str,
    pupils: int,
    seed: int,
    migrations_dir: Path | None = None,
) -> Iterator[School]:
    """Create, migrate, seed and backfill a school in a scratch database; drop it afterwards."""
    prefix = f"bench_{label.lower()}"
    with scratch_database(base_url, prefix) as url:
        s = School(label, pupils, seed, url)
        started = time.monotonic()
        if migrations_dir is None:
            push(url)
        else:
            push(url, migrations_dir)
        s.setup["migrate_s"] = time.monotonic() - started
        say(f"{label}: generating {pupils:,} pupils (seed {seed})")
        summary = generate_and_load(url, pupils=pupils, seed=seed)
        s.setup["seed_s"] = summary.seconds
        s.setup["rows"] = summary.rows
        say(f"{label}: seeded in {summary.seconds:.1f}s; filling the reports cache")
        started = time.monotonic()
        s.setup["fill_cache"] = fill_cache(url, label)
        s.setup["fill_cache_s"] = time.monotonic() - started
        # Measure a settled database, as a school's would be after a year: every table vacuumed
        # (hint bits set, visibility map built) and analyzed, and the dirty pages written out.
        # Otherwise autovacuum works through the freshly loaded tables during the first scenarios,
        # on one of the machine's two cores.
        with connect(url) as conn:
            conn.execute("vacuum analyze")
        with connect(platform_url(url)) as conn:  # a checkpoint is the platform's (superuser) to ask for
            conn.execute("checkpoint")
        s.setup["tables"] = s.table_sizes()
        say(f"{label}: cache filled in {s.setup['fill_cache_s']:.1f}s")
        yield s


def fill_cache(url: str, label: str, connections: int = 2) -> dict[str, Any]:
    """Fill every pupil's cache with private.report_recalculate_pupil, on `connections` connections.

    Setup, not a measurement (scenario 7 measures the backfill). Per-pupil recalculations on two
    connections fill a large school faster than one backfill session does, and give the same rows;
    then every class page is built (private.report_groups_refresh).
    """
    with connect(url) as conn:
        pupils = [str(r[0]) for r in conn.execute("select pupil_id from private.report_backfill_pupils(null, null)")]
    done = [0]
    lock = threading.Lock()
    errors: list[str] = []

    def work(part: list[str]) -> None:
        try:
            with connect(url, application_name="bench-fill") as conn:
                for p in part:
                    conn.execute("select private.report_recalculate_pupil(%s)", (p,))
                    with lock:
                        done[0] += 1
                        if done[0] % max(1, len(pupils) // 5) == 0:
                            say(f"{label}: {done[0]:,} of {len(pupils):,} pupils cached")
        except Exception as exc:
            with lock:
                errors.append(str(exc))

    threads = [threading.Thread(target=work, args=(pupils[k::connections],)) for k in range(connections)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise RuntimeError(f"filling the cache failed: {errors[0]}")
    with connect(url) as conn:
        row = conn.execute("select private.report_groups_refresh(null)").fetchone()
    return {
        "method": f"report_recalculate_pupil per pupil on {connections} connections, then the class pages",
        "pupils": len(pupils),
        "class_pages": int(row[0]) if row else 0,
    }
