"""The write path as callers use it: each write RPC wrapped in telemetry, returning the
authoritative row at once, then firing the affected pupils' recalculation in the background.

The recalculation is fire-and-forget: `report_process_pupil` runs in a bounded executor; its
failures go to telemetry and the log, never to the caller. Nothing is lost when it fails or is
dropped: the write already enqueued the job in its own transaction, and the worker or pg_cron drains
what fire-and-forget missed. `close()` waits for the pending recalculations.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from glue import api
from glue.api import CriterionScore, Id
from glue.rpc import RpcClient
from glue.telemetry import Telemetry, hash_id, telemetry

log = logging.getLogger("glue.results")


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

    # --- the writes ----------------------------------------------------------------------------

    def _write(self, route: str, fn: str, params: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
        """Call the write RPC fn with params inside a telemetry span (route, the same params, rpcMs and
        any extra fields): the parameters are written once, for the call and its record alike."""
        with self.telem.span(route, fn, params) as span, span.timed("rpcMs"):
            span.set(**fields)
            return api.call_object(self.client, fn, params)

    def save_feedback(
        self,
        activity_id: Id,
        pupil_id: Id,
        *,
        override_score: float | None = None,
        criterion_scores: Sequence[CriterionScore] | None = None,
        feedback: str | None = None,
        expected_revision: int | None = None,
    ) -> dict[str, Any]:
        """A teacher's marks on one cell; with expected_revision, Conflict (PLS03) if the answer changed."""
        row = self._write(
            "/results/assignments/feedback",
            "results_save_feedback",
            {
                "activity_id": activity_id,
                "pupil_id": pupil_id,
                "override_score": override_score,
                "criterion_scores": criterion_scores,
                "feedback": feedback,
                "expected_revision": expected_revision,
            },
        )
        self.fire([pupil_id])
        return row

    def reset_feedback(self, activity_id: Id, pupil_id: Id) -> dict[str, Any]:
        row = self._write(
            "/results/assignments/feedback/reset",
            "results_reset_feedback",
            {"activity_id": activity_id, "pupil_id": pupil_id},
        )
        self.fire([pupil_id])
        return row

    def submit_answer(
        self,
        activity_id: Id,
        *,
        text: str | None = None,
        option_id: str | None = None,
        status: str | None = None,
        pupil_id: Id | None = None,
    ) -> dict[str, Any]:
        row = self._write(
            "/submissions/answer",
            "submissions_submit_answer",
            {"activity_id": activity_id, "text": text, "option_id": option_id, "status": status, "pupil_id": pupil_id},
        )
        self.fire([row["pupil_id"]])
        return row

    def record_upload(
        self, activity_id: Id, file_name: str, path: str, *, pupil_id: Id | None = None
    ) -> dict[str, Any]:
        row = self._write(
            "/submissions/upload",
            "submissions_record_upload",
            {"activity_id": activity_id, "file_name": file_name, "path": path, "pupil_id": pupil_id},
        )
        self.fire([row["pupil_id"]])
        return row

    def delete_upload(self, activity_id: Id, *, pupil_id: Id | None = None) -> dict[str, Any]:
        row = self._write(
            "/submissions/upload/delete",
            "submissions_delete_upload",
            {"activity_id": activity_id, "pupil_id": pupil_id},
        )
        if row.get("deleted"):
            self.fire([row["pupil_id"]])
        return row

    def apply_ai_marks(
        self,
        group_assignment_id: str,
        activity_id: Id,
        results: Sequence[Mapping[str, Any]],
        *,
        ai_meta: Mapping[str, Any] | None = None,
        route: str = "/results/assignments/ai-marks",
    ) -> dict[str, Any]:
        counts = self._write(
            route,
            "results_apply_ai_marks",
            {
                "group_assignment_id": group_assignment_id,
                "activity_id": activity_id,
                "results": results,
                "ai_meta": ai_meta,
            },
            aiBatchSize=len(results),
        )
        if int(counts.get("updated") or 0) + int(counts.get("created") or 0) > 0:  # else nothing was enqueued
            rejected = {str(e.get("pupil_id")) for e in [*counts.get("errors", []), *counts.get("stale", [])]}
            self.fire(str(r["pupil_id"]) for r in results if str(r.get("pupil_id")) not in rejected)
        return counts

    def clear_ai_marks(self, group_assignment_id: str, activity_id: Id) -> dict[str, Any]:
        row = self._write(
            "/results/assignments/ai-marks/clear",
            "results_clear_ai_marks",
            {"group_assignment_id": group_assignment_id, "activity_id": activity_id},
        )
        self.fire(row.get("pupil_ids") or [])
        return row

    # --- fire-and-forget -------------------------------------------------------------------------

    def fire(self, pupil_ids: Iterable[Id]) -> list[Future[None]]:
        """Schedule report_process_pupil for each pupil without waiting; returns the futures."""
        futures: list[Future[None]] = []
        for pupil_id in dict.fromkeys(str(p) for p in pupil_ids):
            with self._lock:
                if self._closed or self._pending >= self.max_pending:
                    self.dropped += 1
                    self.telem.event(
                        "/reports/recalculate", "report_process_pupil", dropped=True, pupilId=hash_id(pupil_id)
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
