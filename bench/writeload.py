"""A write load from pgbench against a school, with glue workers draining, measured from the database.

One `measure(...)` call: two `glue worker` processes (the command, as deployed, with
planner.relay_notify = off so that the local realtime.send does what Supabase's does), then
`glue_tools.pgload.run` at a fixed open-loop rate on one random cell per pupil of the school, in
one of two modes:

- `workers`: the writes only; the workers do every recalculation;
- `fire`: each pgbench client also calls `report_process_pupil` for its pupil after its write (as
  glue's Results does), in a transaction of its own; the workers are the safety net.

While the load runs, a monitor samples every 250 ms: the queue (waiting + running jobs) and the age
of its oldest waiting job; the wait events of the writers' backends (application_name pgload):
`Lock:object` (PostgreSQL's one notification lock, taken at commit by every transaction that sent
a NOTIFY), row and transaction locks (a write waiting for a job row or another transaction), and
WAL flushes; and the CPU time (/proc/<pid>/stat) of the writers' backends, the workers' backends
and the worker processes. After the load, the queue is left to empty (the backlog's drain time).
From `private.report_job_history`: freshness (finished_at - last_enqueued_at of every job last
enqueued during the load), jobs done per second during the load, and the run time (finished_at -
started_at) of one-unit jobs run by the workers. And where the database's time went: with
track_functions = 'all' on the school's database (set by `profile_functions`, as its superuser),
the calls, total and self time of every project function during the load
(pg_stat_user_functions, before and after), so that a job's cost inside the drain splits into
the recalculation, the documents, the class pages, the broadcasts and the queue's own work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.jobqueue import wait_empty
from bench.school import clear_queue, connect
from bench.stats import Summary, ms, summarise
from glue.config import admin_url
from glue_tools import pgload
from glue_tools.paths import ROOT

MODES = ("workers", "fire")
SAMPLE_S = 0.25
DRAIN_WAIT_S = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

QUEUE = """
select count(*) filter (where state <> 'dead'),
  coalesce(extract(epoch from now() - min(enqueued_at) filter (where state in ('pending', 'failed'))), 0)
from private.report_jobs
"""
BACKENDS = """
select pid, application_name, wait_event_type, wait_event, state, query
from pg_stat_activity
where datname = current_database() and application_name in ('pgload', 'glue') and pid <> pg_backend_pid()
"""


FUNCTIONS = """
select schemaname || '.' || funcname, sum(calls), sum(total_time), sum(self_time)
from pg_stat_user_functions
where schemaname in ('public', 'private')
group by 1
"""


def profile_functions(url: str) -> None:
    """Count the time of every function on the school's database from the next session on
    (track_functions is a superuser's setting: set as the platform's superuser)."""
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute("select set_config('search_path', '', false)")
        db = conn.execute("select current_database()").fetchone()
        assert db is not None
        conn.execute(f"alter database \"{db[0]}\" set track_functions = 'all'")


def function_times(url: str) -> dict[str, tuple[int, float, float]]:
    """calls, total ms and self ms of each project function so far (the statistics as flushed)."""
    with connect(url, application_name="bench-monitor") as conn:
        conn.execute("select pg_stat_clear_snapshot()")
        return {str(r[0]): (int(r[1]), float(r[2]), float(r[3])) for r in conn.execute(FUNCTIONS).fetchall()}


def function_delta(
    before: dict[str, tuple[int, float, float]], after: dict[str, tuple[int, float, float]]
) -> list[dict[str, Any]]:
    """Per function, what the load added: calls, total and self ms, self ms per call; by self time."""
    out = []
    for name, (calls, total, own) in after.items():
        c0, t0, s0 = before.get(name, (0, 0.0, 0.0))
        if calls - c0 > 0:
            out.append(
                {
                    "function": name,
                    "calls": calls - c0,
                    "total_ms": round(total - t0, 1),
                    "self_ms": round(own - s0, 1),
                    "self_ms_per_call": round((own - s0) / (calls - c0), 3),
                }
            )
    return sorted(out, key=lambda f: -float(f["self_ms"]))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far, from /proc (None when it is gone or unreadable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Samples:
    """What the monitor saw (see the module's docstring)."""

    n: int = 0
    queue: list[int] = field(default_factory=list)
    oldest_s: list[float] = field(default_factory=list)
    lock_object: int = 0  # writer backends seen waiting on Lock:object (summed over samples)
    lock_object_commit: int = 0  # of which in COMMIT
    row_locks: int = 0  # writer backends waiting on a row or a transaction (Lock:tuple/transactionid)
    wal: int = 0  # writer backends waiting on a WAL flush or write
    first_cpu: dict[int, tuple[str, float]] = field(default_factory=dict)
    last_cpu: dict[int, float] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0

    def cpu_share(self, application_name: str) -> float:
        """CPU of the backends of one client kind over the monitored time (1.0: one core)."""
        wall = self.ended - self.started
        used = sum(
            self.last_cpu[pid] - first for pid, (name, first) in self.first_cpu.items() if name == application_name
        )
        return used / wall if wall > 0 else float("nan")


class Monitor:
    """Samples the queue, the writers' wait events and the backends' CPU every SAMPLE_S."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples = Samples()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bench-load-monitor")

    def __enter__(self) -> Samples:
        self.thread.start()
        return self.samples

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        s = self.samples
        with connect(self.url, application_name="bench-monitor") as conn:
            s.started = time.monotonic()
            while not self.stop.is_set():
                row = conn.execute(QUEUE).fetchone()
                assert row is not None
                s.queue.append(int(row[0]))
                s.oldest_s.append(float(row[1]))
                for pid, name, wtype, wevent, state, query in conn.execute(BACKENDS).fetchall():
                    cpu = cpu_seconds(int(pid))
                    if cpu is not None:
                        s.first_cpu.setdefault(int(pid), (str(name), cpu))
                        s.last_cpu[int(pid)] = cpu
                    if name != "pgload" or state != "active":
                        continue
                    if wtype == "Lock" and wevent == "object":
                        s.lock_object += 1
                        s.lock_object_commit += int(str(query).strip().lower().startswith("commit"))
                    elif wtype == "Lock" and wevent in ("tuple", "transactionid"):
                        s.row_locks += 1
                    elif wtype == "IO" and str(wevent).startswith("WAL"):
                        s.wal += 1
                s.n += 1
                s.ended = time.monotonic()
                self.stop.wait(SAMPLE_S)


class Workers:
    """n `glue worker` processes on the school (relay_notify off), stopped by SIGTERM on close."""

    def __init__(self, url: str, n: int = 2) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "TELEM_"))}
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c planner.relay_notify=off".strip()
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "glue_tools", "--database-url", url, "worker"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(n)
        ]

    def cpu_s(self) -> float:
        return sum(cpu_seconds(p.pid) or 0.0 for p in self.procs)

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@contextlib.contextmanager
def workers(url: str, n: int = 2) -> Iterator[Workers]:
    w = Workers(url, n)
    try:
        yield w
    finally:
        w.close()


def _now(url: str) -> Any:
    with connect(url) as conn:
        row = conn.execute("select clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def _history(url: str, since: Any, until: Any) -> dict[str, Any]:
    with connect(url) as conn:
        fresh = [
            float(r[0])
            for r in conn.execute(
                "select extract(epoch from finished_at - last_enqueued_at) from private.report_job_history"
                " where outcome = 'done' and last_enqueued_at >= %s",
                (since,),
            )
        ]
        by: dict[str, int] = dict(
            conn.execute(
                "select case when worker like 'pgload:%%' then 'fire' else 'workers' end, count(*)"
                " from private.report_job_history where outcome = 'done' and last_enqueued_at >= %s group by 1",
                (since,),
            ).fetchall()
        )
        during = conn.execute(
            "select count(*), coalesce(sum(coalesced_count + 1), 0) from private.report_job_history"
            " where outcome = 'done' and finished_at between %s and %s",
            (since, until),
        ).fetchone()
        unit_runs = [
            float(r[0])
            for r in conn.execute(
                "select extract(epoch from finished_at - started_at) from private.report_job_history"
                " where outcome = 'done' and worker like 'glue:%%' and cardinality(unit_ids) = 1"
                " and finished_at between %s and %s",
                (since, until),
            )
        ]
    assert during is not None
    return {
        "fresh_ms": ms(fresh),
        "jobs_by": {"workers": int(by.get("workers", 0)), "fire": int(by.get("fire", 0))},
        "jobs_done_during_load": int(during[0]),
        "writes_covered_during_load": int(during[1]),
        "unit_job_run_ms": ms(unit_runs),
    }


@dataclass
class LoadRun:
    """One measured load (figures as in the module's docstring)."""

    mode: str
    rate: float
    seconds: int
    pgbench: pgload.LoadResult
    fresh_ms: Summary
    jobs_by: dict[str, int]
    jobs_per_s: float
    unit_job_run_ms: Summary
    queue_max: int
    queue_p50: float
    oldest_waiting_max_s: float
    drained_after_s: float | None
    samples: int
    lock_object: int
    lock_object_commit: int
    row_locks: int
    wal_waits: int
    cpu: dict[str, float]
    functions: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "pgbench"}
        out["pgbench"] = self.pgbench.as_dict()
        for key in ("fresh_ms", "unit_job_run_ms"):
            out[key] = getattr(self, key).as_dict()
        return out


def measure(url: str, cells: int, *, rate: float, seconds: int, mode: str, w: Workers) -> LoadRun:
    """One load at `rate` writes/s for `seconds` in `mode` (workers or fire), on pgload.cells
    (already created, `cells` of them), with the workers `w` running. Empties the queue first and
    waits for it to empty after."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    with connect(url) as conn:
        clear_queue(conn)
    spec = pgload.LoadSpec(url, rate=rate, seconds=seconds, cells=cells, fire_and_forget=mode == "fire")
    since = _now(url)
    functions_before = function_times(url)
    worker_cpu = w.cpu_s()
    with Monitor(url) as samples:
        result = pgload.run(spec)
    until = _now(url)
    worker_cpu = w.cpu_s() - worker_cpu
    empty_s = wait_empty(url, DRAIN_WAIT_S)
    time.sleep(1.1)  # a backend flushes its function statistics at most once a second
    functions = function_delta(functions_before, function_times(url))
    hist = _history(url, since, until)
    wall = samples.ended - samples.started
    return LoadRun(
        mode=mode,
        rate=rate,
        seconds=seconds,
        pgbench=result,
        fresh_ms=hist["fresh_ms"],
        jobs_by=hist["jobs_by"],
        jobs_per_s=hist["jobs_done_during_load"] / seconds,
        unit_job_run_ms=hist["unit_job_run_ms"],
        queue_max=max(samples.queue, default=0),
        queue_p50=summarise([float(q) for q in samples.queue]).p50,
        oldest_waiting_max_s=max(samples.oldest_s, default=0.0),
        drained_after_s=empty_s if empty_s < DRAIN_WAIT_S else None,
        samples=samples.n,
        lock_object=samples.lock_object,
        lock_object_commit=samples.lock_object_commit,
        row_locks=samples.row_locks,
        wal_waits=samples.wal,
        cpu={
            "pgbench": result.cpu_share,
            "writer_backends": samples.cpu_share("pgload"),
            "worker_backends": samples.cpu_share("glue"),
            "worker_processes": worker_cpu / wall if wall > 0 else float("nan"),
        },
        functions=functions,
    )


@contextlib.contextmanager
def school_cells(url: str) -> Iterator[int]:
    """pgload.cells over one markable cell per pupil of the school; yields their number."""
    found = pgload.markable_cells(url, 1_000_000)
    with pgload.cells_table(url, found) as n:
        yield n


def vacuum(url: str) -> None:
    """Vacuum the queue's tables between loads, as autovacuum would between busy periods."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze private.report_jobs, private.report_job_history, private.report_group_changes")
