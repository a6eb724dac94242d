"""The write path as callers use it: each write RPC wrapped in telemetry, returning the
authoritative row at once, then firing the affected pupils' recalculation in the background.

The recalculation is fire-and-forget: `report_process_pupil` runs in a bounded executor; its
failures go to telemetry and the log, never to the caller. Nothing is lost when it fails or is
dropped: the write already enqueued the job in its own transaction, and the worker or pg_cron drains
what fire-and-forget missed. `close()` waits for the pending recalculations.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec

from glue import api
from glue.api import Id
from glue.rpc import RpcClient
from glue.telemetry import Telemetry, hash_id, telemetry

log = logging.getLogger("glue.results")


P = ParamSpec("P")
Row = dict[str, Any]
Fired = Callable[[Row, Mapping[str, Any]], Iterable[Id]]  # (the RPC's result, its arguments) -> pupils to recalculate
Fields = Callable[[Mapping[str, Any]], Mapping[str, Any]]  # its arguments -> extra fields of its telemetry line
AI_MARKS_ROUTE = "/results/assignments/ai-marks"


def _write_at(
    call: Callable[Concatenate[RpcClient, P], Row], fired: Fired, fields: Fields | None = None
) -> Callable[Concatenate[Results, str, P], Row]:
    """A Results method from glue.api's wrapper `call`, taking the telemetry route first: the call in a
    span of that route whose params are exactly the arguments sent (by name, as the RPC takes them),
    then the recalculation of the pupils `fired` names."""
    signature = inspect.signature(call)

    def method(self: Results, route: str, /, *args: P.args, **kwargs: P.kwargs) -> Row:
        bound = signature.bind(self.client, *args, **kwargs)
        bound.apply_defaults()
        params = dict(list(bound.arguments.items())[1:])  # without the client
        with self.telem.span(route, call.__name__, params) as span, span.timed("rpcMs"):
            span.set(**(fields(params) if fields else {}))
            row = call(self.client, *args, **kwargs)
        self.fire(fired(row, params))
        return row

    method.__doc__ = call.__doc__
    return method


def _write(
    route: str, call: Callable[Concatenate[RpcClient, P], Row], fired: Fired, fields: Fields | None = None
) -> Callable[Concatenate[Results, P], Row]:
    """As _write_at, with the route fixed."""
    at = _write_at(call, fired, fields)

    def method(self: Results, /, *args: P.args, **kwargs: P.kwargs) -> Row:
        return at(self, route, *args, **kwargs)

    method.__doc__ = call.__doc__
    return method


def _ai_marked(counts: Row, params: Mapping[str, Any]) -> list[str]:
    """The pupils an AI batch changed: none when nothing was applied (nothing was enqueued), else every
    pupil of the batch but those reported in errors or stale."""
    if int(counts.get("updated") or 0) + int(counts.get("created") or 0) == 0:
        return []
    rejected = {str(e.get("pupil_id")) for e in [*counts.get("errors", []), *counts.get("stale", [])]}
    return [str(r["pupil_id"]) for r in params["results"] if str(r.get("pupil_id")) not in rejected]


def _ai_batch(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"aiBatchSize": len(params["results"])}


class Results:
    """Write RPCs with telemetry and fire-and-forget recalculation.

    `client` makes the writes (a teacher's or pupil's client, or the service role); `processor`
    calls report_process_pupil (defaults to the same client). At most `max_pending` recalculations
    wait in the executor; beyond that they are left to the queue's workers (and counted in telemetry).
    """

    def __init__(
        self,
        client: RpcClient,
        *,
        processor: RpcClient | None = None,
        max_workers: int = 4,
        max_pending: int = 1000,
        telem: Telemetry | None = None,
    ) -> None:
        self.client = client
        self.processor = processor or client
        self.telem = telem or telemetry()
        self.max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="glue-recalc")
        self._pending = 0
        self._lock = threading.Lock()
        self._closed = False
        self.fired = 0
        self.dropped = 0
        self.failed = 0
        self.processed: list[dict[str, Any]] = []  # what report_process_pupil returned, newest last

    # --- the writes: each is glue.api's wrapper (its parameters written there, once), made below ----

    save_feedback = _write(
        "/results/assignments/feedback", api.results_save_feedback, lambda row, params: [params["pupil_id"]]
    )
    reset_feedback = _write(
        "/results/assignments/feedback/reset", api.results_reset_feedback, lambda row, params: [params["pupil_id"]]
    )
    submit_answer = _write("/submissions/answer", api.submissions_submit_answer, lambda row, params: [row["pupil_id"]])
    record_upload = _write("/submissions/upload", api.submissions_record_upload, lambda row, params: [row["pupil_id"]])
    delete_upload = _write(
        "/submissions/upload/delete",
        api.submissions_delete_upload,
        lambda row, params: [row["pupil_id"]] if row.get("deleted") else [],
    )
    apply_ai_marks = _write(AI_MARKS_ROUTE, api.results_apply_ai_marks, _ai_marked, _ai_batch)
    apply_ai_marks_at = _write_at(api.results_apply_ai_marks, _ai_marked, _ai_batch)
    clear_ai_marks = _write(
        "/results/assignments/ai-marks/clear",
        api.results_clear_ai_marks,
        lambda row, params: row.get("pupil_ids") or [],
    )

    # --- fire-and-forget -------------------------------------------------------------------------

    def fire(self, pupil_ids: Iterable[Id]) -> list[Future[None]]:
        """Schedule report_process_pupil for each pupil without waiting; returns the futures."""
        futures: list[Future[None]] = []
        for pupil_id in dict.fromkeys(str(p) for p in pupil_ids):
            with self._lock:
                if self._closed or self._pending >= self.max_pending:
                    self.dropped += 1
                    self.telem.event(
                        "/reports/recalculate",
                        "report_process_pupil",
                        dropped=True,
                        pupilId=hash_id(pupil_id, self.telem.salt),
                    )
                    continue
                self._pending += 1
                self.fired += 1
            futures.append(self._executor.submit(self._process, pupil_id, time.perf_counter()))
        return futures

    def _process(self, pupil_id: str, fired_at: float) -> None:
        try:
            with self.telem.span("/reports/recalculate", "report_process_pupil", {"pupil_id": pupil_id}) as span:
                span.set(scheduleDelayMs=round((time.perf_counter() - fired_at) * 1000, 3))
                with span.timed("rpcMs"):
                    result = api.report_process_pupil(self.processor, pupil_id)
                with self._lock:
                    self.processed.append(result)
                    del self.processed[:-100]
                span.set(
                    processed=result.get("processed"),
                    outcome=result.get("outcome") or result.get("reason"),
                    queueLatencyMs=result.get("waited_ms"),
                    recalcMs=result.get("run_ms"),
                    changed=result.get("changed"),
                )
        except Exception as exc:  # the queue is the safety net: never the caller's problem
            with self._lock:
                self.failed += 1
            log.warning("background recalculation of a pupil failed (the queue will retry): %s", exc)
        finally:
            with self._lock:
                self._pending -= 1

    def pending(self) -> int:
        with self._lock:
            return self._pending

    def close(self, wait: bool = True) -> None:
        """Stop taking new work and (by default) wait for the recalculations already fired."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=wait)

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
