"""Scenario 6: freshness, from a write to a fresh cache, idle and under a pgbench write load.

Idle: writes go through glue.results.Results (the write RPC, then report_process_pupil fired in its
background executor) on a PgRpc as service_role, with two glue worker threads running as the
safety net. A freshness probe writes to a pupil nobody else writes to (a new override score on one
of its submissions, so the report must change), then polls that pupil's
report_pupil_versions.version on its own connection (about every millisecond) until it grows: the
figure is the time from the write RPC's return to the first poll that sees the new version.

Under load (bench.writeload): pgbench writes at a fixed open-loop rate on one random cell per pupil
of the whole school, through results_save_feedback with PostgREST's role and claims setup, and two
`glue worker` processes drain; in two modes, workers only and workers plus fire-and-forget (each
pgbench client calls report_process_pupil after its write, as glue's Results does). Before them, a
warm-up (20 writes/s, 2 s, not recorded) and a baseline at 5 writes/s, in which each one-unit job
runs alone in the drain. Freshness, queue length, waits and CPU come from the database (see
bench.writeload).

Every connection of the scenario sets planner.relay_notify = off: the local platform's realtime.send
then inserts the message as Supabase's does, without the pg_notify it adds for the local relay
(every transaction that notified takes one cluster-wide lock until its commit is done;
docs/scaling.md, "Commits").

The idle writers' pool is warm when the probes start, as a running service's is: every one of its
connections is opened and has made the write and the recalculation once (rolled back). A new
session pays about 30 ms the first time it runs them (PL/pgSQL compilation, catalog caches, the
plans it keeps for the session).
"""

from __future__ import annotations

import math
import os
import random
import time
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

from psycopg_pool import ConnectionPool

from bench import writeload
from bench.jobqueue import Background, labelled_pool
from bench.output import Row, row, safe_ratio
from bench.school import TOGGLE_HIGH, TOGGLE_LOW, Probe, School, clear_queue, connect, say
from bench.stats import Summary, ms
from glue.results import Results
from glue.rpc import PgRpc

OVERRIDE = "select override_score from public.submissions where submission_id = %s"
VERSION = "select coalesce((select version from public.report_pupil_versions where pupil_id = %s), 0)"


FIRE_POOL = 32  # connections of the idle probes' writes and fire-and-forget
RELAY_NOTIFY_OFF = "-c planner.relay_notify=off"  # realtime.send as on Supabase: no pg_notify


def warm_pool(pool: ConnectionPool, probe: Probe) -> None:
    """Opens every connection of the pool and runs the write and the recalculation once on each,
    rolled back: what a service's pool has done before the load (see the module's docstring)."""
    with ExitStack() as held:
        conns = [held.enter_context(pool.connection()) for _ in range(FIRE_POOL)]
        for conn in conns:
            with conn.transaction(force_rollback=True):
                conn.execute("set local role service_role")
                conn.execute(
                    "select public.results_save_feedback(%s::uuid, %s::uuid, 0.5::numeric)",
                    (probe.activity_id, probe.pupil_id),
                )
                conn.execute("select public.report_process_pupil(%s::uuid)", (probe.pupil_id,))


class Prober:
    """Freshness probes on a set of pupils that only the prober writes to."""

    def __init__(self, url: str, results: Results, probes: list[Probe]) -> None:
        self.conn = connect(url, application_name="bench-probe")
        self.results = results
        self.probes = probes
        self.latencies: list[float] = []
        self.write_latencies: list[float] = []
        self.timeouts = 0

    def probe(self, i: int, timeout_s: float = 30.0) -> None:
        p = self.probes[i % len(self.probes)]
        found = self.conn.execute(VERSION, (p.pupil_id,)).fetchone()
        before = int(found[0]) if found else 0
        current = self.conn.execute(OVERRIDE, (p.submission_id,)).fetchone()
        score = float(TOGGLE_LOW if current and current[0] == Decimal(TOGGLE_HIGH) else TOGGLE_HIGH)
        started = time.perf_counter()
        self.results.save_feedback(p.activity_id, p.pupil_id, override_score=score)
        returned = time.perf_counter()
        self.write_latencies.append(returned - started)
        while True:
            found = self.conn.execute(VERSION, (p.pupil_id,)).fetchone()
            if found is not None and int(found[0]) > before:
                self.latencies.append(time.perf_counter() - returned)
                return
            if time.perf_counter() - returned > timeout_s:
                self.timeouts += 1
                return
            time.sleep(0.001)

    def close(self) -> None:
        self.conn.close()


def run(
    s: School, *, idle_probes: int, rate: float, seconds: float, budget_s: float
) -> tuple[dict[str, Any], list[Row]]:
    say(
        f"6. freshness: {idle_probes} probes idle, then pgbench at {rate:.0f} writes/s for {seconds:.0f}s"
        f" with 2 workers, workers only and with fire-and-forget ({s.label})"
    )
    all_pupils = s.pupil_ids()
    rng = random.Random(f"{s.seed}:freshness")
    probe_pupils = rng.sample(all_pupils, min(24, len(all_pupils)))
    found = s.probes(probe_pupils)
    probes = [found[p] for p in probe_pupils if p in found]
    with connect(s.url) as conn:
        clear_queue(conn)
    saved_options = os.environ.get("PGOPTIONS")
    os.environ["PGOPTIONS"] = f"{saved_options or ''} {RELAY_NOTIFY_OFF}".strip()
    fire_pool = labelled_pool(s.url, "bench-fire", FIRE_POOL)
    warm_pool(fire_pool, probes[0])
    rpc = PgRpc(s.url, pool=fire_pool)
    results = Results(rpc)
    background = Background(s.url, 2)
    out: dict[str, Any] = {"school": s.label, "probe_pupils": len(probes)}
    deadline = time.monotonic() + budget_s
    try:
        idle = Prober(s.url, results, probes)
        for warm in range(5):
            idle.probe(warm)
        idle.latencies.clear()
        idle.write_latencies.clear()
        with connect(s.url) as conn:
            idle_since = conn.execute("select clock_timestamp()").fetchone()
        assert idle_since is not None
        for i in range(idle_probes):
            if time.monotonic() > deadline:
                break
            idle.probe(i)
            time.sleep(rng.uniform(0.005, 0.02))
        idle.close()
        out["idle"] = {
            "fresh_ms": ms(idle.latencies),
            "write_ms": ms(idle.write_latencies),
            "timeouts": idle.timeouts,
            "history_by_processor": _history(s.url, idle_since[0])[1],
            "samples_ms": [x * 1000 for x in idle.latencies],
        }
        say(f"6. idle freshness p50 {ms(idle.latencies).p50:.1f} ms, p95 {ms(idle.latencies).p95:.1f} ms")
    finally:
        background.close()
        results.close()
        fire_pool.close()
        if saved_options is None:
            os.environ.pop("PGOPTIONS", None)
        else:
            os.environ["PGOPTIONS"] = saved_options
        with connect(s.url) as conn:
            clear_queue(conn)
    load_seconds = int(max(2.0, min(seconds, (deadline - time.monotonic() - 60) / 3)))
    with writeload.school_cells(s.url) as cells, writeload.workers(s.url, 2) as w:
        writeload.measure(s.url, cells, rate=20, seconds=2, mode="workers", w=w)  # warm-up, not recorded
        baseline = writeload.measure(s.url, cells, rate=5, seconds=min(10, load_seconds), mode="workers", w=w)
        loads = {
            mode: writeload.measure(s.url, cells, rate=rate, seconds=load_seconds, mode=mode, w=w)
            for mode in writeload.MODES
        }
    out["baseline_5_per_s"] = baseline.as_dict()
    out["loads"] = {mode: r.as_dict() for mode, r in loads.items()}
    fresh_idle = out["idle"]["fresh_ms"]
    rows = [
        row(
            "6. freshness, idle",
            "write return → fresh cache (fire-and-forget)",
            "",
            "ms",
            fresh_idle,
            None,
            None,
            "",
            "p95 < 20 ms",
            fresh_idle.n > 0 and fresh_idle.p95 < 20 and out["idle"]["timeouts"] == 0,
            f"{fresh_idle.n} probes, 2 idle workers running; "
            f"the write itself p50 {out['idle']['write_ms'].p50:.1f} ms; "
            + _processors(out["idle"]["history_by_processor"]),
        ),
    ]
    for mode, r in loads.items():
        rows += load_rows(r, baseline, "workers only" if mode == "workers" else "workers + fire-and-forget")
    return out, rows


def load_rows(r: writeload.LoadRun, baseline: writeload.LoadRun, label: str) -> list[Row]:
    """The table rows of one pgbench load (scenario 6), its one-unit jobs against the baseline's."""
    p = r.pgbench
    write = Summary(p.transactions, p.latency_ms_p50, p.latency_ms_p95, p.latency_ms_avg, math.nan, p.latency_ms_max)
    head = f"6. {r.rate:.0f} writes/s, {label}"
    reached = p.rate >= 0.98 * r.rate
    drained = (
        f"empty {r.drained_after_s:.1f}s after the load" if r.drained_after_s is not None else "not empty after 60 s"
    )
    ratio = safe_ratio(r.unit_job_run_ms.p50, baseline.unit_job_run_ms.p50)
    return [
        row(
            f"{head}: writes",
            "write RPC (pgbench, from its scheduled start)",
            "",
            "ms",
            write,
            None,
            p.rate,
            "reached/s",
            f"{r.rate:.0f}/s reached, p95 < 20 ms",
            reached and p.latency_ms_p95 < 20 and p.failed == 0,
            f"{p.transactions} writes in {r.seconds}s ({p.failed} failed); pgbench's own CPU {p.cpu_share:.2f} core; "
            f"CPU of the writers' backends {r.cpu['writer_backends']:.2f}, the workers' backends "
            f"{r.cpu['worker_backends']:.2f}, the worker processes {r.cpu['worker_processes']:.2f} core",
        ),
        row(
            f"{head}: freshness",
            "last write → recalculated (job history)",
            "",
            "ms",
            r.fresh_ms,
            None,
            None,
            "",
            "p95 < 250 ms",
            r.fresh_ms.n > 0 and r.fresh_ms.p95 < 250,
            f"{r.jobs_by['workers']} jobs by the workers, {r.jobs_by['fire']} by fire-and-forget; "
            f"{r.jobs_per_s:.0f} jobs done/s during the load",
        ),
        row(
            f"{head}: queue",
            "max waiting + running jobs",
            "",
            "jobs",
            None,
            None,
            float(r.queue_max),
            "max",
            "≤ 50, empty after the load",
            r.queue_max <= 50 and r.drained_after_s is not None,
            f"p50 {r.queue_p50:.0f}; oldest waiting job at most {r.oldest_waiting_max_s:.2f} s old; {drained}",
        ),
        row(
            f"{head}: commits on the notification lock",
            "writers seen waiting on Lock:object",
            "",
            "samples",
            None,
            None,
            float(r.lock_object),
            "count",
            "0",
            r.lock_object == 0,
            f"{r.samples} samples of pg_stat_activity every 250 ms ({r.lock_object_commit} in COMMIT); writers "
            f"waiting on a row or transaction lock: {r.row_locks}; on WAL: {r.wal_waits}",
        ),
        row(
            f"{head}: one-unit job in the drain",
            "under this load",
            "alone (5 writes/s)",
            "ms",
            r.unit_job_run_ms,
            baseline.unit_job_run_ms,
            ratio,
            "A/B p50",
            "≤ 1.5",
            ratio is not None and ratio <= 1.5,
            "run time (finished_at - started_at) of the workers' one-unit jobs",
        ),
    ]


def _processors(by_processor: dict[str, Any]) -> str:
    """Who recalculated: "N jobs by fire-and-forget (p50 x ms), M by the workers (p50 y ms)"."""
    fire, workers = by_processor["fire_and_forget"], by_processor["workers"]
    return (
        f"{fire['jobs']} jobs by fire-and-forget (p50 {fire['history_fresh_ms'].p50:.0f} ms), "
        f"{workers['jobs']} by the workers (p50 {workers['history_fresh_ms'].p50:.0f} ms)"
    )


def _history(url: str, since: Any) -> tuple[list[float], dict[str, Any]]:
    """Jobs done since `since`: last write to recalculated (seconds), and the same per processor
    (fire-and-forget or the workers, told apart by their sessions' application_name)."""
    with connect(url) as conn:
        hist = conn.execute(
            "select extract(epoch from finished_at - last_enqueued_at), split_part(worker, ':', 1)"
            " from private.report_job_history where finished_at >= %s and outcome = 'done'",
            (since,),
        ).fetchall()
    by_processor: dict[str, Any] = {}
    for name, label in (("bench-fire", "fire_and_forget"), ("bench-worker", "workers")):
        mine = [float(h[0]) for h in hist if h[1] == name]
        by_processor[label] = {"jobs": len(mine), "history_fresh_ms": ms(mine)}
    return [float(h[0]) for h in hist], by_processor
