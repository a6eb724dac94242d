"""Scenario 5: the recalculation queue. Drain throughput, coalescing, and the queue's overhead per job.

Workers are threads, each running glue.worker.run (claims with public.report_jobs_claim, each job run
by public.report_jobs_run) on its own PgRpc connection, until the queue is empty.

- Drain throughput and overhead: the pupils of the school are split into disjoint sets; per set,
  three contenders process the same pupils, alternated (rotating who goes first): a drain with one
  worker, a drain with two workers, and a plain loop calling private.report_recalculate_pupil once
  per pupil (its own transaction each, one connection). Before each contender (untimed) one
  submission of every pupil of the set gets a new override score by a direct UPDATE, and for the
  drains the pupils are enqueued with private.report_enqueue; so every contender does the same
  work: recalculations that find a change. Overhead per job = the median over the rounds of
  (1-worker drain / jobs) / (loop / pupils), each round's pair measured back to back on the same
  pupils, so that the machine's drift between rounds cancels out (the ratio of the two medians is
  reported beside it).
- Coalescing: a burst of `writes` results_save_feedback calls for each of 20 pupils (round robin,
  one client, service role), first with no worker running and then drained, then again with two
  workers running during the burst; writes per recalculation = writes / jobs done for those pupils
  (private.report_job_history).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from psycopg_pool import ConnectionPool

from bench.output import Row, row, safe_ratio
from bench.school import School, clear_queue, connect, say, toggle
from bench.stats import Deadline, alternate, summarise
from glue import api, worker
from glue.rpc import PgRpc

ENQUEUE = "select private.report_enqueue(%s::uuid[], 'bench')"
RECALC = "select private.report_recalculate_pupil(%s)"


class Workers:
    """n worker threads on their own connections; `drain()` runs them until the queue is empty."""

    def __init__(self, url: str, n: int) -> None:
        self.clients = [PgRpc(url, max_size=1) for _ in range(n)]
        for c in self.clients:  # open the connections before anything is timed
            api.report_queue_health(c)

    def drain(self) -> tuple[float, int]:
        """Seconds until every worker found the queue empty, and the jobs they processed."""
        stats: list[worker.WorkerStats] = []
        lock = threading.Lock()

        def one(client: PgRpc) -> None:
            result = worker.run(client, batch_size=100, max_ms=500, idle_min=0.005, idle_max=0.02, until_empty=True)
            with lock:
                stats.append(result)

        threads = [threading.Thread(target=one, args=(c,)) for c in self.clients]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started, sum(s.done for s in stats)

    def close(self) -> None:
        for c in self.clients:
            c.close()


def labelled_pool(url: str, application_name: str, max_size: int) -> ConnectionPool:
    """A pool like PgRpc's own, whose sessions carry `application_name`: the job history's worker
    column (application_name:pid) then tells which of our clients processed each job."""
    return ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        kwargs={"autocommit": True, "application_name": application_name},
        open=True,
        name=application_name,
    )


class Background:
    """n worker threads running as in production (polling, idle back-off) until stopped.

    Their sessions are named bench-worker (see labelled_pool)."""

    def __init__(self, url: str, n: int) -> None:
        self.stop = threading.Event()
        self.pools = [labelled_pool(url, "bench-worker", 1) for _ in range(n)]
        self.clients = [PgRpc(url, pool=p) for p in self.pools]
        self.stats: list[worker.WorkerStats] = []
        self.threads = [
            threading.Thread(target=self._run, args=(c, url), name=f"bench-worker-{i}")
            for i, c in enumerate(self.clients)
        ]
        for t in self.threads:
            t.start()

    def _run(self, client: PgRpc, url: str) -> None:
        self.stats.append(worker.run(client, stop=self.stop))

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()
        for p in self.pools:
            p.close()


def wait_empty(url: str, timeout_s: float) -> float:
    """Seconds until the queue holds no waiting or running job (polling every 10 ms)."""
    started = time.perf_counter()
    with connect(url) as conn:
        while time.perf_counter() - started < timeout_s:
            row_ = conn.execute("select count(*) from private.report_jobs where state <> 'dead'").fetchone()
            if row_ is not None and row_[0] == 0:
                break
            time.sleep(0.01)
    return time.perf_counter() - started


def throughput(s: School, *, set_size: int, rounds: int, budget_s: float) -> tuple[dict[str, Any], list[Row]]:
    say(f"5. queue drain (1 and 2 workers) vs recalculation loop: {rounds} rounds of {set_size} pupils ({s.label})")
    deadline = Deadline(budget_s)
    pupils = s.sample_pupils(set_size * rounds, "queue")
    probes = s.probes(pupils)
    pupils = [p for p in pupils if p in probes]
    sets = [pupils[i * set_size : (i + 1) * set_size] for i in range(rounds)]
    sets = [x for x in sets if x]
    conn = connect(s.url, application_name="bench-queue")
    one, two = Workers(s.url, 1), Workers(s.url, 2)
    done: dict[str, list[int]] = {"1": [], "2": []}
    sizes: list[int] = []

    def prepare(r: int, enqueue: bool) -> list[str]:
        chosen = sets[r % len(sets)]
        clear_queue(conn)
        toggle(conn, [probes[p].submission_id for p in chosen])
        if enqueue:
            conn.execute(ENQUEUE, (chosen,))
        return chosen

    def drain_with(workers: Workers, key: str) -> Callable[[int], float]:
        def go(r: int) -> float:
            chosen = prepare(r, True)
            elapsed, n = workers.drain()
            done[key].append(n)
            sizes.append(len(chosen))
            return elapsed / max(len(chosen), 1)

        return go

    def loop(r: int) -> float:
        chosen = prepare(r, False)
        started = time.perf_counter()
        for p in chosen:
            conn.execute(RECALC, (p,))
        return (time.perf_counter() - started) / max(len(chosen), 1)

    try:
        samples, cut = alternate([drain_with(one, "1"), drain_with(two, "2"), loop], len(sets), deadline, min_rounds=1)
    finally:
        one.close()
        two.close()
        conn.close()
    per_job_1, per_job_2, per_recalc = (summarise(x).scaled(1000.0) for x in samples)
    tput_1 = summarise([1.0 / x for x in samples[0]])
    tput_2 = summarise([1.0 / x for x in samples[1]])
    tput_loop = summarise([1.0 / x for x in samples[2]])
    paired = [d / lp for d, lp in zip(samples[0], samples[2], strict=False) if lp > 0]
    overhead = summarise(paired).p50 if paired else None
    overhead_of_medians = safe_ratio(per_job_1.p50, per_recalc.p50)
    scaling = safe_ratio(tput_2.p50, tput_1.p50)
    raw = {
        "school": s.label,
        "set_size": set_size,
        "rounds": len(samples[0]),
        "cut_by_deadline": cut,
        "jobs_done_per_drain": done,
        "per_job_ms_1_worker": per_job_1,
        "per_job_ms_2_workers": per_job_2,
        "per_recalculation_ms_loop": per_recalc,
        "jobs_per_s_1_worker": tput_1,
        "jobs_per_s_2_workers": tput_2,
        "recalculations_per_s_loop": tput_loop,
        "overhead_ratio_p50": overhead,
        "overhead_ratio_per_round": paired,
        "overhead_ratio_of_medians": overhead_of_medians,
        "two_worker_scaling_p50": scaling,
    }
    rows = [
        row(
            "5. queue drain throughput",
            "1 worker",
            "2 workers",
            "jobs/s",
            tput_1,
            tput_2,
            scaling,
            "B/A p50",
            "",
            None,
            f"{len(samples[0])} rounds of {set_size} pupils, each job a recalculation with a change; "
            f"figures are per round (p95 column: 95th percentile of the rounds' throughput)",
        ),
        row(
            "5. queue overhead per job",
            "drain, 1 worker (per job)",
            "report_recalculate_pupil loop (per pupil)",
            "ms",
            per_job_1,
            per_recalc,
            overhead,
            "median of the rounds' A/B",
            "≤ 1.10 (at most 10 % more)",
            overhead is not None and overhead <= 1.10,
            f"per round: {', '.join(f'{x:.2f}' for x in paired)}; ratio of the medians {overhead_of_medians or 0:.2f}",
        ),
    ]
    return raw, rows


def coalescing(s: School, *, pupils: int, writes: int, budget_s: float) -> tuple[dict[str, Any], list[Row]]:
    say(f"5. coalescing: {writes} writes for each of {pupils} pupils, then drain; then under 2 workers ({s.label})")
    deadline = Deadline(budget_s)
    cells = s.cells(pupils, "coalescing")
    ids = [c.pupil_id for c in cells]
    rpc = PgRpc(s.url, max_size=2)
    conn = connect(s.url, application_name="bench-coalesce")
    results: dict[str, Any] = {}

    def burst() -> tuple[int, float]:
        n = 0
        started = time.perf_counter()
        for k in range(writes):
            if deadline.expired:
                break
            for c in cells:
                api.results_save_feedback(
                    rpc, c.activity_id, c.pupil_id, override_score=round(0.01 + (k % 97) / 100, 4)
                )
                n += 1
        return n, time.perf_counter() - started

    def recalculations(since: Any) -> dict[str, int]:
        found = conn.execute(
            "select count(*), coalesce(sum(coalesced_count + 1), 0) from private.report_job_history"
            " where pupil_id = any(%s::uuid[]) and finished_at >= %s and outcome = 'done'",
            (ids, since),
        ).fetchone()
        assert found is not None
        return {"jobs": int(found[0]), "writes_recorded": int(found[1])}

    try:
        clear_queue(conn)
        # Idle queue: the burst, then one drain.
        since = conn.execute("select clock_timestamp()").fetchone()
        assert since is not None
        n, seconds = burst()
        queued = conn.execute("select count(*) from private.report_jobs").fetchone()
        drainer = Workers(s.url, 1)
        drain_s, _ = drainer.drain()
        drainer.close()
        idle = recalculations(since[0])
        results["idle_queue"] = {
            "writes": n,
            "burst_s": seconds,
            "jobs_waiting_after_burst": int(queued[0]) if queued else None,
            "drain_s": drain_s,
            **idle,
            "writes_per_recalculation": safe_ratio(n, idle["jobs"]),
        }
        # Two workers running during the burst.
        since = conn.execute("select clock_timestamp()").fetchone()
        assert since is not None
        background = Background(s.url, 2)
        try:
            n, seconds = burst()
            wait_empty(s.url, 60)
        finally:
            background.close()
        busy = recalculations(since[0])
        results["two_workers_running"] = {
            "writes": n,
            "burst_s": seconds,
            **busy,
            "writes_per_recalculation": safe_ratio(n, busy["jobs"]),
        }
    finally:
        rpc.close()
        conn.close()
    idle_ratio = results["idle_queue"]["writes_per_recalculation"]
    busy_ratio = results["two_workers_running"]["writes_per_recalculation"]
    rows = [
        row(
            "5. coalescing, burst then drain",
            f"{results['idle_queue']['writes']} writes for {len(cells)} pupils",
            "",
            "",
            None,
            None,
            idle_ratio,
            "writes per recalculation",
            f"{writes} (one recalculation per pupil)",
            idle_ratio is not None and results["idle_queue"]["jobs"] == len(cells),
            f"{results['idle_queue']['jobs']} recalculations",
        ),
        row(
            "5. coalescing, burst with 2 workers running",
            f"{results['two_workers_running']['writes']} writes for {len(cells)} pupils",
            "",
            "",
            None,
            None,
            busy_ratio,
            "writes per recalculation",
            "",
            None,
            f"{results['two_workers_running']['jobs']} recalculations while the writes went on "
            f"({results['two_workers_running']['burst_s']:.1f}s, one writer)",
        ),
    ]
    return results, rows
