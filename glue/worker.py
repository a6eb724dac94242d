"""The queue worker: drains public.report_jobs_process in a loop.

While there is work it calls again at once; when a batch finds nothing it sleeps, doubling the
sleep up to `idle_max`, and wakes early when the database NOTIFYs channel report_jobs (locally, and
whenever it has a direct database connection). SIGTERM and SIGINT stop it after the current batch.
Several workers can run side by side: jobs are claimed with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import psycopg

from glue import api
from glue.rpc import RpcClient, RpcError
from glue.telemetry import telemetry

log = logging.getLogger("glue.worker")


@dataclass
class WorkerStats:
    batches: int = 0
    processed: int = 0
    done: int = 0
    failed: int = 0
    dead: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)


class _Wakeup:
    """LISTEN report_jobs on a direct connection; wait(timeout) returns early on a notification."""

    def __init__(self, dsn: str | None) -> None:
        self.conn: psycopg.Connection | None = None
        if dsn:
            try:
                self.conn = psycopg.connect(dsn, autocommit=True, application_name="glue-worker-listen")
                self.conn.execute("listen report_jobs")
            except psycopg.Error as exc:
                log.info("no NOTIFY wake-ups (%s); polling only", exc)
                self.conn = None

    def wait(self, timeout: float) -> bool:
        if self.conn is None:
            time.sleep(timeout)
            return False
        try:
            for _ in self.conn.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error:
            time.sleep(timeout)
        return False

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def run(
    client: RpcClient,
    *,
    batch_size: int | None = None,
    max_ms: int | None = None,
    idle_min: float = 0.05,
    idle_max: float = 5.0,
    listen_dsn: str | None = None,
    stop: threading.Event | None = None,
    max_batches: int | None = None,
    until_empty: bool = False,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
) -> WorkerStats:
    """Drain the queue until `stop` is set (or `max_batches`, or the queue is empty with `until_empty`).
    batch_size and max_ms are report_jobs_process' max_jobs and max_ms: None leaves the SQL's default."""
    stop = stop or threading.Event()
    stats = WorkerStats()
    wake = _Wakeup(listen_dsn)
    idle = idle_min
    telem = telemetry()
    try:
        while not stop.is_set():
            try:
                with telem.span("/worker/batch", "report_jobs_process", {"max_jobs": batch_size}) as span:
                    result = api.report_jobs_process(client, batch_size, max_ms)
                    span.set(**{k: result.get(k) for k in ("processed", "done", "failed", "dead", "remaining")})
            except RpcError as exc:
                stats.errors += 1
                log.warning("report_jobs_process failed: %s", exc)
                wake.wait(min(idle, idle_max))
                idle = min(idle * 2, idle_max)
                continue
            stats.batches += 1
            for key in ("processed", "done", "failed", "dead"):
                setattr(stats, key, getattr(stats, key) + int(result.get(key) or 0))
            if on_batch is not None:
                on_batch(result)
            if max_batches is not None and stats.batches >= max_batches:
                break
            if int(result.get("remaining") or 0) > 0 and int(result.get("processed") or 0) > 0:
                idle = idle_min
                continue
            if until_empty and int(result.get("remaining") or 0) == 0:
                break
            idle = idle_min if wake.wait(idle) else min(idle * 2, idle_max)
    finally:
        wake.close()
    return stats


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop`: the worker finishes its batch and returns."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
