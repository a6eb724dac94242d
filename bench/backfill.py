"""Scenario 7 (and the backfill half of 9): filling every pupil's cache at once.

Contenders, alternated round by round (rotating who goes first), each on a fresh connection (the
two-view refresh and the loop, the slowest, in the first round only):
- backfill: `select private.report_merge(null)` on an emptied cache (the cache tables and the
  versions truncated first, untimed): set-based, every pupil in one statement;
- REFRESH MATERIALIZED VIEW of the same live computation, two ways:
  * as the issue words it: two views, over private.live_unit_rows(every pupil) and
    private.live_criterion_rows(every pupil) (the first computes live_report_rows once);
  * one view over private.live_report_rows(every pupil) (criterion and unit rows), which computes the
    live figures once, exactly as the backfill does (but writes no subject rows, checks no keys and
    compares nothing);
- loop: private.report_recalculate_pupil(p) for every pupil (each its own transaction), from an
  emptied cache.
Memory: the backend's peak resident set (VmHWM in /proc/<pid>/status, which counts the shared
buffers it touched as well as its private memory) after each contender.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.output import Row, row, safe_ratio
from bench.school import School, connect, say, vmhwm_kb
from bench.stats import Deadline, alternate, summarise

TRUNCATE = (
    "truncate public.report_pupil_criterion_scores, public.report_pupil_unit_summaries,"
    " public.report_pupil_subject_summaries, public.report_pupil_versions, public.report_pupil_unit_documents,"
    " public.report_pupil_subject_documents"
)
# The live functions take an explicit array of pupils ({pupils}: every pupil of the school, as a
# constant, so that the planner sees how many there are, as report_merge(null) does).
VIEWS = {
    "bench.live_units": "select * from private.live_unit_rows({pupils})",
    "bench.live_criteria": "select * from private.live_criterion_rows({pupils})",
    "bench.live_rows": (
        "select kind, criterion, unit from private.live_report_rows({pupils}) where kind in ('criterion', 'unit')"
    ),
}


def run(s: School, *, rounds: int, budget_s: float) -> tuple[dict[str, Any], list[Row]]:
    say(f"7. backfill vs REFRESH MATERIALIZED VIEW vs per-pupil loop: {rounds} rounds ({s.label})")
    deadline = Deadline(budget_s)
    with connect(s.url) as conn:
        conn.execute("create schema if not exists bench")
        pupils = [str(r[0]) for r in conn.execute("select pupil_id from private.report_backfill_pupils(null, null)")]
        literal = "'{" + ",".join(pupils) + "}'::uuid[]"
        for name, query in VIEWS.items():
            conn.execute(f"drop materialized view if exists {name}")
            conn.execute(f"create materialized view {name} as {query.format(pupils=literal)} with no data")
    memory: dict[str, list[dict[str, int]]] = {}
    counts: dict[str, Any] = {}

    def on_fresh_connection(key: str, truncate: bool, work: Callable[[Any], None]) -> Callable[[int], float]:
        def go(_r: int) -> float:
            if truncate:
                with connect(s.url) as admin:
                    admin.execute(TRUNCATE)
            with connect(s.url, application_name=f"bench-{key}") as conn:
                pid_row = conn.execute("select pg_backend_pid()").fetchone()
                assert pid_row is not None
                started = time.perf_counter()
                work(conn)
                elapsed = time.perf_counter() - started
                memory.setdefault(key, []).append(vmhwm_kb(int(pid_row[0])))
            say(f"7. {key}: {elapsed:.1f}s")
            return elapsed

        return go

    def backfill(conn: Any) -> None:
        found = conn.execute("select private.report_merge(null)").fetchone()
        counts["backfill"] = found[0] if found else None

    def refresh_two(conn: Any) -> None:
        conn.execute("refresh materialized view bench.live_units")
        conn.execute("refresh materialized view bench.live_criteria")

    def refresh_one(conn: Any) -> None:
        conn.execute("refresh materialized view bench.live_rows")

    def loop(conn: Any) -> None:
        for p in pupils:
            conn.execute("select private.report_recalculate_pupil(%s)", (p,))

    contenders = [
        on_fresh_connection("backfill", True, backfill),
        on_fresh_connection("refresh_two_views", False, refresh_two),
        on_fresh_connection("refresh_one_view", False, refresh_one),
        on_fresh_connection("loop", True, loop),
    ]
    # The slow contenders (two-view refresh, loop) run in the first round only: one figure each is
    # enough to judge their targets, and it keeps the scenario within its time budget.
    samples, cut = alternate(contenders, rounds, deadline, min_rounds=1, max_rounds=[None, 1, None, 1])
    with connect(s.url) as conn:
        rows_found = conn.execute(
            "select (select count(*) from public.report_pupil_unit_summaries),"
            " (select count(*) from bench.live_units), (select count(*) from bench.live_rows)"
        ).fetchone()
    b, r2, r1, lp = (summarise(x) for x in samples)
    ratio_two = safe_ratio(b.p50, r2.p50)
    ratio_one = safe_ratio(b.p50, r1.p50)
    loop_ratio = safe_ratio(lp.p50, b.p50)

    def peak_mb(key: str) -> float | None:
        values = [m["VmHWM"] for m in memory.get(key, []) if m.get("VmHWM")]
        return max(values) / 1024 if values else None

    raw = {
        "school": s.label,
        "pupils": len(pupils),
        "rounds": len(samples[0]),
        "cut_by_deadline": cut,
        "backfill_s": b,
        "refresh_two_views_s": r2,
        "refresh_one_view_s": r1,
        "loop_s": lp,
        "loop_per_pupil_ms": lp.scaled(1000.0 / max(len(pupils), 1)),
        "backfill_over_refresh_two_views": ratio_two,
        "backfill_over_refresh_one_view": ratio_one,
        "loop_over_backfill": loop_ratio,
        "backfill_result": counts.get("backfill"),
        "rows": {"unit_rows_cached": rows_found[0], "unit_rows_view": rows_found[1], "view_rows": rows_found[2]}
        if rows_found
        else None,
        "backend_memory_kb": memory,
        "samples_s": {
            "backfill": samples[0],
            "refresh_two_views": samples[1],
            "refresh_one_view": samples[2],
            "loop": samples[3],
        },
    }
    n = len(samples[0])
    rows = [
        row(
            f"7. backfill vs refresh, two views ({s.label})",
            "report_merge(null) on an emptied cache",
            "REFRESH live_unit_rows + live_criterion_rows views",
            "s",
            b,
            r2,
            ratio_two,
            "A/B p50",
            "≤ 1.5",
            ratio_two is not None and ratio_two <= 1.5,
            f"{len(pupils):,} pupils; {n} round(s) of the backfill and the one-view refresh, one of the others",
        ),
        row(
            f"7. backfill vs refresh, one view ({s.label})",
            "report_merge(null) on an emptied cache",
            "REFRESH one view over live_report_rows",
            "s",
            b,
            r1,
            ratio_one,
            "A/B p50",
            "≤ 1.5",
            ratio_one is not None and ratio_one <= 1.5,
        ),
        row(
            f"7. backfill vs per-pupil loop ({s.label})",
            "report_merge(null) on an emptied cache",
            "report_recalculate_pupil for every pupil",
            "s",
            b,
            lp,
            loop_ratio,
            "B/A p50",
            "backfill ≥ 10× faster",
            loop_ratio is not None and loop_ratio >= 10,
        ),
        row(
            f"9. peak memory, backfill backend ({s.label})",
            "report_merge(null): its Postgres backend",
            "",
            "MB",
            None,
            None,
            peak_mb("backfill"),
            "VmHWM MB",
            "",
            None,
            "peak RSS of the Postgres backend incl. shared buffers touched: "
            f"backfill {peak_mb('backfill') or 0:.0f} MB, "
            f"refresh (one view) {peak_mb('refresh_one_view') or 0:.0f} MB, "
            f"refresh (two views) {peak_mb('refresh_two_views') or 0:.0f} MB, "
            f"loop {peak_mb('loop') or 0:.0f} MB",
        ),
    ]
    return raw, rows
