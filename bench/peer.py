"""Scenario 8: our queue against a peer queue, graphile-worker, each draining the same number of jobs.

graphile-worker (bench/package.json pins it; `npm ci` in bench/ installs it) runs under node against
the same scratch database, in its own schema (graphile_worker), out of the box: its default
settings, a task "noop" that does nothing, `concurrency` 1 and then 2. bench/peer_queue.mjs
enqueues the jobs (untimed) and times from the start of its runner to the last job's success.

Ours drains the same number of jobs with glue.worker.run on 1 and then 2 worker threads (as in
scenario 5). For fairness our jobs are as close to no-ops as our queue allows: the pupils enqueued
have no classes (profiles made for the benchmark), so each job claims, locks, calls
private.report_recalculate_pupil, whose report_merge sees that the pupil has no class and nothing
cached and returns without planning its statement (it would write nothing), and deletes the job. That is the queue's
real path for such a pupil, not an empty function.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from psycopg.conninfo import conninfo_to_dict

from bench.jobqueue import Workers
from bench.output import Row, row, safe_ratio
from bench.school import School, clear_queue, connect, say
from bench.stats import Deadline, alternate, summarise

BENCH_DIR = Path(__file__).resolve().parent
SCRIPT = BENCH_DIR / "peer_queue.mjs"

MAKE_PUPILS = """
with ids as (
  select ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid as id, n
  from generate_series(1, %(n)s) as n
),
users as (
  insert into auth.users (id, email)
  select id, 'noop' || n || '@bench.example.org' from ids
  on conflict (id) do nothing
)
insert into public.profiles (user_id, first_name, last_name, email)
select id, 'Noop', 'Pupil ' || n, 'noop' || n || '@bench.example.org' from ids
on conflict (user_id) do nothing
"""
NOOP_PUPILS = (
    "select user_id from public.profiles where email like 'noop%%@bench.example.org' order by user_id limit %s"
)


def available() -> str | None:
    """Why graphile-worker cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (BENCH_DIR / "node_modules" / "graphile-worker").is_dir():
        return "bench/node_modules is missing: run `npm ci` in bench/ (make bench does)"
    return None


def as_uri(url: str) -> str:
    """A postgresql:// URI for node-postgres (glue's scratch URLs are key=value connection strings)."""
    params = conninfo_to_dict(url)
    user = quote(str(params.get("user") or "postgres"), safe="")
    password = params.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    host = str(params.get("host") or "127.0.0.1")
    port = str(params.get("port") or "5432")
    dbname = quote(str(params.get("dbname") or "postgres"), safe="")
    return f"postgresql://{auth}@{host}:{port}/{dbname}"


def _graphile(url: str, jobs: int, concurrency: int) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(SCRIPT), as_uri(url), str(jobs), str(concurrency)],
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"graphile-worker run failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(s: School, *, jobs: int, rounds: int, budget_s: float) -> tuple[dict[str, Any], list[Row]]:
    why = available()
    if why is not None:
        say(f"8. peer queue skipped: {why}")
        return {"skipped": why}, [
            row("8. peer queue", "ours", "graphile-worker", "jobs/s", None, None, None, "", "", None, f"skipped: {why}")
        ]
    say(f"8. peer queue: {jobs} no-op jobs, ours vs graphile-worker, 1 and 2 workers, {rounds} rounds ({s.label})")
    deadline = Deadline(budget_s)
    with connect(s.url) as conn:
        conn.execute(MAKE_PUPILS, {"n": jobs})
        pupils = [str(r[0]) for r in conn.execute(NOOP_PUPILS, (jobs,))]
    graphile_runs: list[dict[str, Any]] = []
    ours_done: list[int] = []
    workers = {1: Workers(s.url, 1), 2: Workers(s.url, 2)}

    def ours(k: int) -> Callable[[int], float]:
        def go(_r: int) -> float:
            with connect(s.url) as conn:
                clear_queue(conn)
                conn.execute("select private.report_enqueue(%s::uuid[], 'bench no-op')", (pupils,))
            elapsed, n = workers[k].drain()
            ours_done.append(n)
            return n / elapsed

        return go

    def peer(k: int) -> Callable[[int], float]:
        def go(_r: int) -> float:
            result = _graphile(s.url, jobs, k)
            graphile_runs.append(result)
            return float(result["jobs_per_s"])

        return go

    try:
        samples, cut = alternate([ours(1), peer(1), ours(2), peer(2)], rounds, deadline, min_rounds=1)
    finally:
        for w in workers.values():
            w.close()
        with connect(s.url) as conn:
            clear_queue(conn)
    o1, g1, o2, g2 = (summarise(x) for x in samples)
    version = graphile_runs[0].get("version") if graphile_runs else None
    raw = {
        "school": s.label,
        "jobs": jobs,
        "rounds": len(samples[0]),
        "cut_by_deadline": cut,
        "graphile_worker_version": version,
        "ours_jobs_per_s_1": o1,
        "graphile_jobs_per_s_1": g1,
        "ours_jobs_per_s_2": o2,
        "graphile_jobs_per_s_2": g2,
        "ours_jobs_done": ours_done,
        "graphile_runs": graphile_runs,
    }
    rows = []
    for k, (o, g) in ((1, (o1, g1)), (2, (o2, g2))):
        ratio = safe_ratio(o.p50, g.p50)
        rows.append(
            row(
                f"8. peer queue, {k} worker{'s' if k > 1 else ''}",
                "ours (pupils with no classes)",
                f"graphile-worker {version or ''} no-op, concurrency {k}".replace("  ", " "),
                "jobs/s",
                o,
                g,
                ratio,
                "A/B p50",
                "ours ≥ graphile-worker",
                ratio is not None and ratio >= 1.0,
                f"{jobs:,} jobs per run, {len(samples[0])} round(s); p95 column: 95th percentile of the runs"
                if k == 1
                else "",
            )
        )
    return raw, rows
