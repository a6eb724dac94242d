"""The capacity curve: `python -m bench.capacity`, pgbench writes at rising fixed rates, two glue workers.

    .venv/bin/python -m bench.capacity                            # 1,000 pupils, 50..800 writes/s, 20 s each
    .venv/bin/python -m bench.capacity --pupils 200 --seconds 3   # a quick try (figures meaningless)
    .venv/bin/python -m bench.capacity --modes workers,fire --rates 100,200,400

A scratch school (bench.school: seeded, cache filled, vacuumed), one cell per pupil in pgload.cells,
two `glue worker` processes; a 3-second warm-up at 20 writes/s (not recorded), then a baseline at
5 writes/s (each job alone in the drain), then each rate in each mode (bench.writeload.measure),
the queue emptied and its tables vacuumed between runs. Writes the table to
bench/results/capacity.md, every figure to capacity.json and the plot to capacity.png (--out).
What each column means: docs/benchmarks.md, "The capacity curve".
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from bench import machine, output, writeload
from bench.school import connect, say, school
from glue.config import database_url

RATES = (50, 100, 200, 400, 800)
BASELINE_RATE = 5.0
KNEE_FRESH_P95_MS = 1000.0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.split("\n", 1)[0])
    p.add_argument("--pupils", type=int, default=1000, help="pupils of the school (default 1,000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated school (default 1)")
    p.add_argument("--rates", default=",".join(str(r) for r in RATES), help="writes/s, comma-separated")
    p.add_argument("--seconds", type=int, default=20, help="length of each load (default 20)")
    p.add_argument("--modes", default="workers", help="workers and/or fire, comma-separated (default workers)")
    p.add_argument("--workers", type=int, default=2, help="glue worker processes (default 2)")
    p.add_argument("--database-url", default=None, help="server to create the scratch database on")
    p.add_argument("--out", type=Path, default=output.RESULTS_DIR, help="where capacity.{md,json,png} go")
    return p


def _f(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def knee(runs: list[writeload.LoadRun]) -> float | None:
    """The highest rate whose run reached its rate (within 2 %) with fresh p95 under 1 s."""
    good = [
        r.rate
        for r in runs
        if r.pgbench.rate >= 0.98 * r.rate and not math.isnan(r.fresh_ms.p95) and r.fresh_ms.p95 < KNEE_FRESH_P95_MS
    ]
    return max(good) if good else None


def per_core(r: writeload.LoadRun) -> float | None:
    """Writes per second per core of database CPU (writers' and workers' backends) in a run."""
    used = r.cpu["writer_backends"] + r.cpu["worker_backends"]
    return r.pgbench.rate / used if used > 0 and not math.isnan(used) else None


COLUMNS = (
    "mode",
    "target writes/s",
    "reached",
    "write p50 / p95 ms",
    "fresh p50 / p95 ms",
    "max queue",
    "oldest waiting, max s",
    "drained after s",
    "jobs/s",
    "one-unit job p50 ms",
    "CPU pgbench / writers / worker backends / workers",
    "Lock:object",
)


def table_rows(runs: list[writeload.LoadRun]) -> list[list[str]]:
    out = []
    for r in runs:
        cpu = r.cpu
        out.append(
            [
                r.mode,
                _f(r.rate),
                _f(r.pgbench.rate),
                f"{_f(r.pgbench.latency_ms_p50, 1)} / {_f(r.pgbench.latency_ms_p95, 1)}",
                f"{_f(r.fresh_ms.p50)} / {_f(r.fresh_ms.p95)}",
                str(r.queue_max),
                _f(r.oldest_waiting_max_s, 2),
                _f(r.drained_after_s, 1),
                _f(r.jobs_per_s),
                _f(r.unit_job_run_ms.p50, 2),
                " / ".join(
                    _f(cpu[k], 2) for k in ("pgbench", "writer_backends", "worker_backends", "worker_processes")
                ),
                f"{r.lock_object} of {r.samples}",
            ]
        )
    return out


PROFILE_RATE = 200.0
PROFILE_TOP = 12


def profile_table(baseline: writeload.LoadRun, runs: list[writeload.LoadRun]) -> list[str]:
    """Where the database's time went: the functions with the most self time in the first run at
    PROFILE_RATE (or the highest rate), per call, beside the same function in the baseline."""
    if not runs:
        return []
    loaded = next((r for r in runs if r.rate == PROFILE_RATE), max(runs, key=lambda r: r.rate))
    jobs = sum(loaded.jobs_by.values())
    alone = {f["function"]: f for f in baseline.functions}
    total = sum(float(f["self_ms"]) for f in loaded.functions) or 1.0
    lines = [
        f"Where the database's time went at {loaded.rate:g} writes/s ({loaded.mode}; pg_stat_user_functions,"
        f" self time, {jobs:,} jobs done), beside the {BASELINE_RATE:g} writes/s baseline:",
        "",
        "| function | calls | self ms | share | self ms per call, loaded | per call, baseline | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in loaded.functions[:PROFILE_TOP]:
        base = alone.get(str(f["function"]))
        per_call = float(f["self_ms_per_call"])
        base_call = float(base["self_ms_per_call"]) if base else None
        lines.append(
            f"| `{f['function']}` | {int(f['calls']):,} | {float(f['self_ms']):,.0f} |"
            f" {100 * float(f['self_ms']) / total:.0f} % | {per_call:.3f} | {_f(base_call, 3)} |"
            f" {_f(per_call / base_call if base_call else None, 2)} |"
        )
    return ["", *lines]


def markdown(header: str, baseline: writeload.LoadRun, runs: list[writeload.LoadRun], footer: list[str]) -> str:
    lines = [header, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows([baseline, *runs])]
    return "\n".join([*lines, "", *footer, *profile_table(baseline, runs)]) + "\n"


def plot(runs: list[writeload.LoadRun], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode in sorted({r.mode for r in runs}):
        mine = sorted((r for r in runs if r.mode == mode), key=lambda r: r.rate)
        target = [r.rate for r in mine]
        left.plot(target, [r.pgbench.rate for r in mine], marker="o", label=f"reached ({mode})")
        left.plot(target, [r.jobs_per_s for r in mine], marker="s", linestyle="--", label=f"jobs done/s ({mode})")
        right.plot(target, [r.fresh_ms.p95 for r in mine], marker="o", label=f"fresh p95 ({mode})")
        right.plot(target, [r.pgbench.latency_ms_p95 for r in mine], marker="^", label=f"write p95 ({mode})")
    rates = sorted({r.rate for r in runs})
    left.plot(rates, rates, color="grey", linewidth=0.8, label="target")
    left.set(xlabel="target writes/s", ylabel="per second", title="Rate reached and jobs drained")
    right.set(xlabel="target writes/s", ylabel="ms (log)", yscale="log", title="Latency p95")
    right.axhline(250, color="grey", linewidth=0.8, linestyle=":")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticks(rates, [str(int(r)) for r in rates])
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rates = [float(x) for x in args.rates.split(",") if x.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = set(modes) - set(writeload.MODES)
    if bad or not rates or any(r <= 0 for r in rates) or args.seconds < 1:
        build_parser().error(f"modes are {', '.join(writeload.MODES)}; rates and seconds must be positive")
    started = time.monotonic()
    load = machine.load_average()
    with school(args.database_url or database_url(), "cap", args.pupils, args.seed) as s:
        m = machine.describe(s.url, load)
        say(machine.line(m))
        writeload.profile_functions(s.url)
        with writeload.school_cells(s.url) as cells, writeload.workers(s.url, args.workers) as w:
            say(f"capacity: {cells} cells, {args.workers} workers; warming up")
            writeload.measure(s.url, cells, rate=20, seconds=3, mode="workers", w=w)
            baseline = writeload.measure(
                s.url, cells, rate=BASELINE_RATE, seconds=min(args.seconds, 10), mode="workers", w=w
            )
            runs = []
            for mode in modes:
                for rate in rates:
                    writeload.vacuum(s.url)
                    say(f"capacity: {rate:g} writes/s, {mode}, {args.seconds}s")
                    run = writeload.measure(s.url, cells, rate=rate, seconds=args.seconds, mode=mode, w=w)
                    say(
                        f"capacity: reached {run.pgbench.rate:.0f}/s, write p95 {run.pgbench.latency_ms_p95:.0f} ms,"
                        f" fresh p95 {run.fresh_ms.p95:.0f} ms, max queue {run.queue_max}"
                    )
                    runs.append(run)
        with connect(s.url) as conn:
            row = conn.execute("select count(*) from private.report_jobs where state = 'dead'").fetchone()
        dead = int(row[0]) if row else 0
    k = knee(runs)
    unit_alone = baseline.unit_job_run_ms.p50
    header = (
        f"Capacity curve, {args.pupils:,} pupils (seed {args.seed}), {args.workers} glue workers, pgbench -c 16 -j 2"
        f" -R, {args.seconds} s per rate; {machine.line(m)}"
    )
    footer = [
        f"Knee (highest rate reached within 2 % with fresh p95 < 1 s): {_f(k)} writes/s. Writes/s per core of the"
        " database (the rate over the CPU of the writers' and the workers' backends): "
        + ", ".join(f"{r.rate:g}/s {r.mode} {_f(per_core(r))}" for r in runs)
        + ".",
        f"One-unit job alone (the {BASELINE_RATE:g} writes/s row): p50 {_f(unit_alone, 2)} ms; under load, the ratio "
        "to it: "
        + ", ".join(f"{r.rate:g}/s {r.mode} {_f(r.unit_job_run_ms.p50 / unit_alone, 2)}×" for r in runs if unit_alone)
        + ".",
        f"Dead jobs at the end: {dead}. Total runtime {(time.monotonic() - started) / 60:.1f} min. "
        "What the columns mean: docs/benchmarks.md, 'The capacity curve'.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    md = markdown(header, baseline, runs, footer)
    (args.out / "capacity.md").write_text(md, encoding="utf-8")
    raw = {
        "machine": m,
        "options": {k_: str(v) if isinstance(v, Path) else v for k_, v in vars(args).items()},
        "baseline": baseline.as_dict(),
        "runs": [r.as_dict() for r in runs],
        "knee_writes_per_s": k,
        "dead_jobs": dead,
    }
    (args.out / "capacity.json").write_text(json.dumps(raw, indent=1, default=_json_default), encoding="utf-8")
    plot(runs, args.out / "capacity.png")
    say(f"wrote {args.out / 'capacity.md'}, capacity.json and capacity.png")
    print(md)
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
