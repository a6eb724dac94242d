"""`python -m bench`: generate the schools, run every scenario side by side, write the results.

    python -m bench            full run: S = 1,000 pupils and 10S = 10,000 (seed 1), about 15 minutes
    python -m bench --quick    S = 200 and 10S = 2,000, fewer repetitions: a couple of minutes
    python -m bench --only 1,2,7 --scale 500 --large 5000

Progress goes to stderr; the results to bench/results/latest.json (every raw figure) and
bench/results/latest.md (the table). The schools live in scratch databases on the server of
--database-url (DATABASE_URL, else the embedded database), created and dropped by the run: the
database named in the URL itself is never touched. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import (
    backfill,
    budgets,
    freshness,
    importing,
    jobqueue,
    machine,
    memory,
    output,
    peer,
    recalc,
    reports,
    units,
    writes,
)
from bench.output import Row, row
from bench.school import School, say, school
from glue.config import database_url

SCENARIOS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")


@dataclass(frozen=True)
class Profile:
    """How much each scenario does; the budgets bound each one in time (seconds)."""

    scale: int
    writes_calls: int
    report_pupils: int
    report_reps: int
    group_classes: int
    group_reps: int
    recalc_pupils: int
    recalc_reps: int
    queue_set: int
    queue_rounds: int
    burst_pupils: int
    burst_writes: int
    idle_probes: int
    load_rate: float
    load_seconds: float
    backfill_rounds: int
    peer_jobs: int
    peer_rounds: int
    memory_jobs: int
    budget_reps: int
    units_pupils: int
    units_reps: int
    units_drain_set: int
    units_drain_rounds: int


FULL = Profile(
    scale=1000,
    writes_calls=400,
    report_pupils=40,
    report_reps=3,
    group_classes=10,
    group_reps=2,
    recalc_pupils=40,
    recalc_reps=3,
    queue_set=100,
    queue_rounds=9,
    burst_pupils=20,
    burst_writes=100,
    idle_probes=100,
    load_rate=200.0,
    load_seconds=20.0,
    backfill_rounds=2,
    peer_jobs=2000,
    peer_rounds=2,
    memory_jobs=200,
    budget_reps=5,
    units_pupils=40,
    units_reps=3,
    units_drain_set=200,
    units_drain_rounds=5,
)
QUICK = Profile(
    scale=200,
    writes_calls=150,
    report_pupils=15,
    report_reps=2,
    group_classes=5,
    group_reps=2,
    recalc_pupils=15,
    recalc_reps=2,
    queue_set=50,
    queue_rounds=3,
    burst_pupils=10,
    burst_writes=25,
    idle_probes=40,
    load_rate=200.0,
    load_seconds=5.0,
    backfill_rounds=1,
    peer_jobs=500,
    peer_rounds=1,
    memory_jobs=50,
    budget_reps=2,
    units_pupils=15,
    units_reps=2,
    units_drain_set=100,
    units_drain_rounds=2,
)
BUDGETS = {
    "1": 60.0,
    "2": 90.0,
    "3": 60.0,
    "4": 90.0,
    "5-throughput": 150.0,
    "5-coalescing": 90.0,
    "6": 240.0,
    "7": 240.0,
    "8": 180.0,
    "9": 60.0,
    "10": 90.0,
    "11": 120.0,
    "12": 300.0,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the reports cache and its queue: side-by-side ratios in one run.",
    )
    p.add_argument("--quick", action="store_true", help="S = 200 and 10S = 2,000 pupils, fewer repetitions")
    p.add_argument("--scale", type=int, help="pupils of the school S (default 1,000; --quick 200)")
    p.add_argument("--large", type=int, help="pupils of the large school (default 10 x --scale)")
    p.add_argument("--no-large", action="store_true", help="skip the large school (scenarios 2 and 4 at S only)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated schools (default 1)")
    p.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help="comma-separated scenarios to run, e.g. 1,2,7 (default: all)",
    )
    p.add_argument("--database-url", default=None, help="server to create the scratch databases on")
    p.add_argument(
        "--migrations-dir", type=Path, default=None, help="migrations to apply (default supabase/migrations)"
    )
    p.add_argument("--out", type=Path, default=output.RESULTS_DIR, help="where latest.json and latest.md go")
    return p


def _guard(
    name: str, results: dict[str, Any], rows: list[Row], fn: Callable[[], tuple[dict[str, Any], list[Row]]]
) -> None:
    """Run one scenario; a failure is recorded (and shown in the table) and the run goes on."""
    started = time.monotonic()
    try:
        raw, new_rows = fn()
    except Exception as exc:
        say(f"scenario {name} failed: {exc}")
        results[name] = {"error": str(exc), "traceback": traceback.format_exc()}
        rows.append(row(f"{name}", "failed", "", "", None, None, None, "", "", False, str(exc)[:200]))
        return
    raw["elapsed_s"] = time.monotonic() - started
    results[name] = raw
    rows.extend(new_rows)
    say(f"scenario {name} done in {raw['elapsed_s']:.0f}s")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    profile = QUICK if args.quick else FULL
    small_n = args.scale or profile.scale
    large_n = args.large or 10 * small_n
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        build_parser().error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    base_url = args.database_url or database_url()
    started = time.monotonic()
    load = machine.load_average()
    results: dict[str, Any] = {
        "machine": {},
        "options": {
            "quick": args.quick,
            "S": small_n,
            "10S": None if args.no_large else large_n,
            "seed": args.seed,
            "scenarios": sorted(only),
            "profile": profile.__dict__,
        },
        "scenarios": {},
        "schools": {},
    }
    rows: list[Row] = []
    scen: dict[str, Any] = results["scenarios"]
    large_label = "10S" if large_n == 10 * small_n else f"{large_n}"
    need_large = not args.no_large and bool(only & {"2", "4"})

    with contextlib.ExitStack() as stack:
        s = stack.enter_context(school(base_url, "S", small_n, args.seed, args.migrations_dir))
        m = results["machine"] = machine.describe(s.url, load)
        say(machine.line(m))
        results["schools"]["S"] = {"pupils": small_n, **s.setup}
        large: School | None = None
        if need_large:
            large_stack = contextlib.ExitStack()
            large = large_stack.enter_context(school(base_url, large_label, large_n, args.seed, args.migrations_dir))
            results["schools"][large_label] = {"pupils": large_n, **large.setup}
            try:
                both = [s, large]
                if "2" in only:
                    _guard(
                        "2",
                        scen,
                        rows,
                        lambda: reports.pupil_report(
                            both, pupils=profile.report_pupils, reps=profile.report_reps, budget_s=BUDGETS["2"]
                        ),
                    )
                if "4" in only:
                    _guard(
                        "4",
                        scen,
                        rows,
                        lambda: recalc.run(
                            s,
                            large,
                            pupils=profile.recalc_pupils,
                            reps=profile.recalc_reps,
                            budget_s=BUDGETS["4"],
                        ),
                    )
            finally:
                say(f"dropping the {large_label} school")
                large_stack.close()
        elif "2" in only:
            _guard(
                "2",
                scen,
                rows,
                lambda: reports.pupil_report(
                    [s], pupils=profile.report_pupils, reps=profile.report_reps, budget_s=BUDGETS["2"]
                ),
            )
        if "1" in only:
            _guard("1", scen, rows, lambda: writes.run(s, calls=profile.writes_calls, budget_s=BUDGETS["1"]))
        if "3" in only:
            _guard(
                "3",
                scen,
                rows,
                lambda: reports.group_report(
                    s, groups=profile.group_classes, reps=profile.group_reps, budget_s=BUDGETS["3"]
                ),
            )
        if "5" in only:
            _guard(
                "5-throughput",
                scen,
                rows,
                lambda: jobqueue.throughput(
                    s, set_size=profile.queue_set, rounds=profile.queue_rounds, budget_s=BUDGETS["5-throughput"]
                ),
            )
            _guard(
                "5-coalescing",
                scen,
                rows,
                lambda: jobqueue.coalescing(
                    s, pupils=profile.burst_pupils, writes=profile.burst_writes, budget_s=BUDGETS["5-coalescing"]
                ),
            )
        if "6" in only:
            _guard(
                "6",
                scen,
                rows,
                lambda: freshness.run(
                    s,
                    idle_probes=profile.idle_probes,
                    rate=profile.load_rate,
                    seconds=profile.load_seconds,
                    budget_s=BUDGETS["6"],
                ),
            )
        if "11" in only:
            _guard(
                "11",
                scen,
                rows,
                lambda: units.run(
                    s,
                    pupils=profile.units_pupils,
                    reps=profile.units_reps,
                    drain_set=profile.units_drain_set,
                    drain_rounds=profile.units_drain_rounds,
                    budget_s=BUDGETS["11"],
                ),
            )
        if "9" in only:
            _guard("9-worker", scen, rows, lambda: memory.run(s, jobs=profile.memory_jobs))
        if "8" in only:
            _guard(
                "8",
                scen,
                rows,
                lambda: peer.run(s, jobs=profile.peer_jobs, rounds=profile.peer_rounds, budget_s=BUDGETS["8"]),
            )
        if "7" in only or "9" in only:
            _guard("7", scen, rows, lambda: backfill.run(s, rounds=profile.backfill_rounds, budget_s=BUDGETS["7"]))
        if "12" in only:
            _guard("12", scen, rows, lambda: importing.run(s, budget_s=BUDGETS["12"]))
        if "10" in only:  # last: its structural writes change the school
            _guard("10", scen, rows, lambda: budgets.run(s, reps=profile.budget_reps, budget_s=BUDGETS["10"]))
        say("dropping the S school")

    runtime = time.monotonic() - started
    results["runtime_s"] = runtime
    results["table"] = [r.as_dict() for r in rows]
    rows.sort(key=lambda r: _order(r.scenario))
    met = [r for r in rows if r.met is not None]
    footer = [
        f"Targets met: {sum(1 for r in met if r.met)} of {len(met)}. "
        f"S = {small_n:,} pupils"
        + ("" if args.no_large else f", {large_label} = {large_n:,} pupils")
        + f", seed {args.seed}; total runtime {runtime / 60:.1f} min"
        + (" (--quick)" if args.quick else "")
        + ".",
        "Raw figures, samples and per-scenario details: bench/results/latest.json. "
        "What each figure means: docs/benchmarks.md.",
    ]
    md = output.markdown(machine.line(m), rows, footer)
    json_path, md_path = output.write(results, md, args.out)
    say(f"wrote {json_path} and {md_path} in {runtime / 60:.1f} min")
    print(md)
    return 0


def _order(scenario: str) -> tuple[int, str]:
    head = scenario.split(".", 1)[0].split("-", 1)[0]
    return (int(head) if head.isdigit() else 99, "")
