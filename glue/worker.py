"""The queue worker: claims due jobs, runs each in its own transaction, polls when idle.

Each round claims up to `batch_size` due jobs (public.report_jobs_claim: marked running with a
lease, committed), then runs them one per call (public.report_jobs_run), so a job's report is
visible as soon as it is done and a write to a claimed pupil never waits for the worker: it
enqueues a new waiting job beside the running one. When the claim finds nothing the worker rebuilds
changed class pages (public.report_jobs_refresh_groups, which defers them while pupil jobs are due)
and then sleeps, `idle_min` after a round that found work, doubling up to `idle_max` while there is
none. Nothing is woken by NOTIFY: a NOTIFY in every write would make every write's commit take
PostgreSQL's one notification lock. SIGTERM and SIGINT stop it after the current job; jobs it had
claimed and not started are put back (due at once), and so are a job whose call failed and the
rest of its claim. A worker that dies holding a claim leaves those jobs to their lease
(report_queue_settings.lease), after which the next claim retries them. Several workers can run
side by side: a claim skips locked and running jobs.
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

from glue import api
from glue.rpc import RpcClient, RpcError
from glue.telemetry import telemetry

log = logging.getLogger("glue.worker")

OUTCOMES = ("done", "failed", "dead", "busy", "gone", "missing")


@dataclass
class WorkerStats:
    batches: int = 0
    processed: int = 0
    done: int = 0
    failed: int = 0
    dead: int = 0
    errors: int = 0
    groups_refreshed: int = 0
    started: float = field(default_factory=time.monotonic)


def _release(client: RpcClient, job_ids: list[int]) -> None:
    """Put claimed jobs back (best effort: what cannot be released waits for its lease)."""
    for job_id in job_ids:
        try:
            api.report_jobs_release(client, job_id)
        except RpcError as exc:
            log.warning("could not release job %s (its lease will): %s", job_id, exc)
            return


def _run_claimed(client: RpcClient, job_ids: list[int], stop: threading.Event) -> tuple[dict[str, Any], list[int]]:
    """Run the claimed jobs one per call; returns the counts by outcome and the ids not run (stop).
    When a job's call fails (its transaction rolled back, the job still claimed), that job and the
    rest are released before the error goes on, so they wait for no lease."""
    counts: dict[str, Any] = dict.fromkeys(OUTCOMES, 0) | {"processed": 0}
    for k, job_id in enumerate(job_ids):
        if stop.is_set():
            return counts, job_ids[k:]
        try:
            outcome = str(api.report_jobs_run(client, job_id).get("outcome"))
        except RpcError:
            _release(client, job_ids[k:])
            raise
        counts[outcome] = counts.get(outcome, 0) + 1
        counts["processed"] += 1
    return counts, []


def run(
    client: RpcClient,
    *,
    batch_size: int | None = None,
    max_ms: int | None = None,
    idle_min: float = 0.005,
    idle_max: float = 0.25,
    max_groups: int | None = None,
    stop: threading.Event | None = None,
    max_batches: int | None = None,
    until_empty: bool = False,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
) -> WorkerStats:
    """Drain the queue until `stop` is set (or `max_batches` claims, or the queue and the class
    pages are done with `until_empty`). `on_batch` gets each round's counts: processed, done,
    failed, dead, busy, gone, missing, remaining (due jobs left after the claim), groups_refreshed.
    batch_size is report_jobs_claim's max_jobs, max_groups and max_ms report_jobs_refresh_groups' limits:
    None leaves the SQL's default."""
    stop = stop or threading.Event()
    stats = WorkerStats()
    idle = idle_min
    telem = telemetry()
    while not stop.is_set():
        try:
            with telem.span("/worker/batch", "report_jobs_claim", {"max_jobs": batch_size}) as span:
                claim = api.report_jobs_claim(client, batch_size)
                job_ids = [int(j) for j in claim.get("job_ids") or []]
                result, left = _run_claimed(client, job_ids, stop)
                _release(client, left)
                result["remaining"] = int(claim.get("remaining") or 0) + len(left)
                result["groups_refreshed"] = 0
                if not job_ids:
                    groups = api.report_jobs_refresh_groups(client, max_groups, max_ms)
                    result["groups_refreshed"] = int(groups.get("groups_refreshed") or 0)
                span.set(**{k: result.get(k) for k in ("processed", "done", "failed", "dead", "remaining")})
        except RpcError as exc:
            stats.errors += 1
            log.warning("the queue's RPC failed: %s", exc)
            stop.wait(idle)
            idle = min(idle * 2, idle_max)
            continue
        stats.batches += 1
        stats.groups_refreshed += result["groups_refreshed"]
        for key in ("processed", "done", "failed", "dead"):
            setattr(stats, key, getattr(stats, key) + int(result[key]))
        if on_batch is not None:
            on_batch(result)
        if max_batches is not None and stats.batches >= max_batches:
            break
        if result["processed"] > 0 or result["groups_refreshed"] > 0:
            idle = idle_min
            if result["remaining"] > 0 or result["groups_refreshed"] > 0:
                continue
        if until_empty and result["remaining"] == 0 and result["processed"] == 0 and result["groups_refreshed"] == 0:
            break
        stop.wait(idle)
        idle = min(idle * 2, idle_max)
    return stats


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop`: the worker finishes its job and returns."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the current job", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
