"""Scenario 6: freshness, from a write's return to a fresh cache, through fire-and-forget.

Writes go through glue.results.Results (the write RPC, then report_process_pupil fired in its
background executor) on a PgRpc as service_role, with two glue workers running as in production
(NOTIFY wake-ups) as the safety net: whichever of them gets to the job first.

A freshness probe writes to a pupil nobody else writes to (a new override score on one of its
submissions, so the report must change), then polls that pupil's report_pupil_versions.version on
its own connection (about every millisecond) until it grows: the figure is the time from the write
RPC's return to the first poll that sees the new version (the recalculation committed). That is
exact, because nothing else changes the probe pupils.

- idle: probes one after the other, nothing else running;
- under load: probes fired on a schedule (5 per second, open loop: see OpenProbes) while writes
  arrive open-loop at `rate` per second for `seconds` on random pupils of the whole school (other
  than the probe pupils), each through the same Results (so fire-and-forget queues behind the
  load's), on 16 writer threads; writes not started by the end of the load are not sent (counted).
  The queue length
  (waiting and running jobs) is sampled every 50 ms; its maximum is reported, and how long the queue
  takes to empty once the load stops. From the job history, the latency from a pupil's last
  coalesced write to the end of its recalculation (finished_at - last_enqueued_at) is reported too.

Every connection of the scenario sets planner.relay_notify = off: the local platform's realtime.send
then inserts the message as Supabase's does, without the pg_notify it adds for the local relay.
Every transaction that notified takes one cluster-wide lock until its commit is done; with a
broadcast in every write and every recalculation, 400 such commits a second queued on that lock
and the p95 ran from 1 to 11 s over six runs (120-161 ms without it). Supabase's realtime.send
never notifies, so this is the platform's cost, not the layer's (docs/scaling.md, "Commits").

The pool is warm when the load starts, as a running service's is: every one of its connections is
opened and has made the write and the recalculation once (rolled back). A new session pays about
30 ms the first time it runs them (PL/pgSQL compilation, catalog caches, the plans it keeps for the
session); a cold pool of 32 growing under the load put a 3-second transient (queue up to 159, probes
up to 1.1 s) at the start of the 20 seconds, which is a deployment's start, not the steady state.
"""

from __future__ import annotations

import collections
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

from psycopg_pool import ConnectionPool

from bench.jobqueue import Background, labelled_pool, wait_empty
from bench.output import Row, row
from bench.school import TOGGLE_HIGH, TOGGLE_LOW, Probe, School, clear_queue, connect, queue_length, say
from bench.stats import ms, summarise
from glue.results import Results
from glue.rpc import PgRpc

DRAIN_WAIT_S = 60.0  # how long to wait for the queue to empty once the load stops
WRITERS = 16  # writer threads: enough that the load is not limited by the client
OVERRIDE = "select override_score from public.submissions where submission_id = %s"
VERSIONS = "select pupil_id, version from public.report_pupil_versions where pupil_id = any(%s::uuid[])"
PROBE_RATE = 5.0  # freshness probes per second under load
VERSION = "select coalesce((select version from public.report_pupil_versions where pupil_id = %s), 0)"


FIRE_POOL = 32  # connections of the writers' and fire-and-forget's pool
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


class OpenProbes:
    """Freshness probes fired at a fixed rate (open loop) while a load runs.

    Back-to-back probes would sample fast periods more often than slow ones; fired on a schedule,
    each moment of the load is sampled alike. A probe takes a free probe pupil (none free: counted
    as skipped), reads its version, writes through Results, and registers the pupil; one poller
    thread reads the versions of every registered pupil about every millisecond and records the time
    from the write's return to the first poll that sees a newer version. A pupil whose probe timed
    out is not used again (its late recalculation could answer a later probe).
    """

    def __init__(self, url: str, results: Results, probes: list[Probe], timeout_s: float = 30.0) -> None:
        self.url = url
        self.results = results
        self.timeout_s = timeout_s
        self.free: collections.deque[Probe] = collections.deque(probes)
        self.outstanding: dict[str, tuple[int, float, Probe]] = {}
        self.latencies: list[float] = []
        self.timeouts = 0
        self.skipped = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.reads = labelled_pool(url, "bench-probe", 4)
        self.writers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bench-probe")
        self.stopping = threading.Event()
        self.poller = threading.Thread(target=self._poll)
        self.poller.start()

    def fire(self) -> None:
        with self.lock:
            if not self.free:
                self.skipped += 1
                return
            probe = self.free.popleft()
        self.writers.submit(self._write, probe)

    def _write(self, p: Probe) -> None:
        try:
            with self.reads.connection() as conn:
                found = conn.execute(VERSION, (p.pupil_id,)).fetchone()
                current = conn.execute(OVERRIDE, (p.submission_id,)).fetchone()
            before = int(found[0]) if found else 0
            score = float(TOGGLE_LOW if current and current[0] == Decimal(TOGGLE_HIGH) else TOGGLE_HIGH)
            self.results.save_feedback(p.activity_id, p.pupil_id, override_score=score)
        except Exception:  # counted; the pupil is not reused
            with self.lock:
                self.errors += 1
            return
        returned = time.perf_counter()
        with self.lock:
            self.outstanding[p.pupil_id] = (before, returned, p)

    def _poll(self) -> None:
        with connect(self.url, application_name="bench-probe-poll") as conn:
            while True:
                with self.lock:
                    ids = list(self.outstanding)
                if self.stopping.is_set() and not ids:  # stopping is set once no write is in flight
                    return
                if ids:
                    rows = conn.execute(VERSIONS, (ids,)).fetchall()
                    now = time.perf_counter()
                    seen = {str(r[0]): int(r[1]) for r in rows}
                    with self.lock:
                        for pupil_id in ids:
                            before, returned, p = self.outstanding[pupil_id]
                            if seen.get(pupil_id, 0) > before:
                                self.latencies.append(now - returned)
                                del self.outstanding[pupil_id]
                                self.free.append(p)
                            elif now - returned > self.timeout_s:
                                self.timeouts += 1
                                del self.outstanding[pupil_id]
                time.sleep(0.001)

    def close(self) -> None:
        """Stop firing, wait for the writes in flight and for every outstanding probe to resolve."""
        self.writers.shutdown(wait=True)
        self.stopping.set()
        self.poller.join()
        self.reads.close()


def run(
    s: School, *, idle_probes: int, rate: float, seconds: float, budget_s: float
) -> tuple[dict[str, Any], list[Row]]:
    say(
        f"6. freshness: {idle_probes} probes idle, then {rate:.0f} writes/s for {seconds:.0f}s"
        f" with 2 workers ({s.label})"
    )
    all_pupils = s.pupil_ids()
    rng = random.Random(f"{s.seed}:freshness")
    probe_pupils = rng.sample(all_pupils, min(24, len(all_pupils)))
    found = s.probes(probe_pupils)
    probes = [found[p] for p in probe_pupils if p in found]
    load_pupils = [p for p in all_pupils if p not in set(probe_pupils)]
    load_cells = list(s.probes(load_pupils).values())
    with connect(s.url) as conn:
        clear_queue(conn)
    saved_options = os.environ.get("PGOPTIONS")
    os.environ["PGOPTIONS"] = f"{saved_options or ''} {RELAY_NOTIFY_OFF}".strip()
    fire_pool = labelled_pool(s.url, "bench-fire", FIRE_POOL)
    warm_pool(fire_pool, probes[0])
    rpc = PgRpc(s.url, pool=fire_pool)
    results = Results(rpc)
    background = Background(s.url, 2)
    out: dict[str, Any] = {"school": s.label, "probe_pupils": len(probes), "load_pupils": len(load_cells)}
    deadline = time.monotonic() + budget_s
    try:
        # Idle.
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

        # Under load.
        load_seconds = max(1.0, min(seconds, deadline - time.monotonic() - 30))
        out["load"] = _under_load(s, results, probes, load_cells, rate, load_seconds, rng)
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
    fresh_idle = out["idle"]["fresh_ms"]
    load = out["load"]
    fresh_load = load["fresh_ms"]
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
        row(
            f"6. freshness, {rate:.0f} writes/s",
            "write return → fresh cache (fire-and-forget)",
            "",
            "ms",
            fresh_load,
            None,
            None,
            "",
            "p95 < 250 ms",
            fresh_load.n > 0 and fresh_load.p95 < 250 and load["probe_timeouts"] == 0,
            f"{fresh_load.n} probes fired {PROBE_RATE:.0f}/s ({load['probe_timeouts']} timed out after 30 s, "
            f"{load['probes_skipped']} skipped: no free probe pupil); "
            f"achieved {load['achieved_writes_per_s']:.0f} writes/s for {load['seconds']:.0f}s; "
            "realtime.send without the local relay's pg_notify, as on Supabase; "
            f"{load['writes_not_sent']} writes not sent in time; "
            f"job history (last write → recalculated) p50 {load['history_fresh_ms'].p50:.0f} ms, "
            f"p95 {load['history_fresh_ms'].p95:.0f} ms; " + _processors(load["history_by_processor"]),
        ),
        row(
            f"6. queue length, {rate:.0f} writes/s",
            "max waiting + running jobs",
            "",
            "jobs",
            None,
            None,
            float(load["queue_max"]),
            "max",
            "≤ 50, empty after the load",
            load["queue_max"] <= 50 and load["queue_empty_after_s"] is not None,
            f"{load['distinct_pupils_written']} distinct pupils written; queue empty "
            + (
                f"{load['queue_empty_after_s']:.1f}s after the load stopped"
                if load["queue_empty_after_s"] is not None
                else f"not within {DRAIN_WAIT_S:.0f} s after the load stopped"
            )
            + f"; {load['writes_per_recalculation']:.1f} writes per recalculation",
        ),
    ]
    return out, rows


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


def _under_load(
    s: School,
    results: Results,
    probes: list[Probe],
    cells: list[Probe],
    rate: float,
    seconds: float,
    rng: random.Random,
) -> dict[str, Any]:
    stop = threading.Event()
    queue_samples: list[tuple[float, int]] = []
    write_latencies: list[float] = []
    errors: list[str] = []
    written: set[str] = set()
    lock = threading.Lock()

    def monitor() -> None:
        with connect(s.url, application_name="bench-monitor") as conn:
            t0 = time.perf_counter()
            while not stop.is_set():
                queue_samples.append((time.perf_counter() - t0, queue_length(conn)))
                time.sleep(0.05)

    load_over = threading.Event()
    not_sent = [0]

    def write(cell: Probe, score: float) -> None:
        if load_over.is_set():
            with lock:
                not_sent[0] += 1
            return
        started = time.perf_counter()
        try:
            results.save_feedback(cell.activity_id, cell.pupil_id, override_score=score)
        except Exception as exc:  # counted and reported; the load goes on
            with lock:
                errors.append(str(exc)[:200])
            return
        with lock:
            write_latencies.append(time.perf_counter() - started)
            written.add(cell.pupil_id)

    probing = OpenProbes(s.url, results, probes)

    def schedule_probes() -> None:
        first = time.perf_counter()
        j = 0
        while not load_over.is_set():
            delay = first + j / PROBE_RATE - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if load_over.is_set():
                break
            probing.fire()
            j += 1

    with connect(s.url) as conn:
        since_row = conn.execute("select clock_timestamp()").fetchone()
    assert since_row is not None
    since = since_row[0]
    mon = threading.Thread(target=monitor)
    mon.start()
    scheduler = threading.Thread(target=schedule_probes)
    total = int(rate * seconds)
    pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="bench-writer")
    started = time.perf_counter()
    scheduler.start()
    for i in range(total):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        cell = cells[rng.randrange(len(cells))]
        pool.submit(write, cell, round(rng.uniform(0.0, 1.0), 4))
    # The load lasts `seconds`: writes the writer threads could not start by then are not sent.
    load_over.set()
    scheduler.join()
    pool.shutdown(wait=True)
    load_s = time.perf_counter() - started
    empty_s = wait_empty(s.url, DRAIN_WAIT_S)
    probing.close()
    stop.set()
    mon.join()
    latencies = probing.latencies
    timeouts = probing.timeouts
    history, by_processor = _history(s.url, since)
    jobs = len(history)
    return {
        "rate": rate,
        "seconds": load_s,
        "writes": len(write_latencies),
        "write_errors": len(errors),
        "write_error_examples": errors[:5],
        "achieved_writes_per_s": len(write_latencies) / load_s if load_s else 0.0,
        "write_ms": ms(write_latencies),
        "distinct_pupils_written": len(written),
        "fresh_ms": ms(latencies),
        "probe_timeouts": timeouts,
        "probes_skipped": probing.skipped,
        "probe_rate": PROBE_RATE,
        "queue_max": max((n for _, n in queue_samples), default=0),
        "queue_p50": summarise([float(n) for _, n in queue_samples]).p50,
        "queue_samples": queue_samples[:: max(1, len(queue_samples) // 400)],
        "queue_empty_after_s": empty_s if empty_s < DRAIN_WAIT_S else None,
        "writes_not_sent": not_sent[0],
        "history_jobs": jobs,
        "history_fresh_ms": ms(history),
        "history_by_processor": by_processor,
        "writes_per_recalculation": (len(write_latencies) + len(latencies)) / jobs if jobs else 0.0,
        "fire_and_forget": {"fired": results.fired, "dropped": results.dropped, "failed": results.failed},
        "samples_ms": [x * 1000 for x in latencies],
    }
