"""glue.results: each write returns the RPC's row at once and fires the pupil's recalculation in the
background; a failing or dropped recalculation never reaches the caller and the queue keeps the job
(glue.worker drains it). Through the psycopg and the supabase-py transports, on pupils of each
test's own making."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import pytest
from glue_testing import A4, ASSIGNMENT, HELEN, Transport, add_pupils, jobs, version

from glue import worker
from glue.results import Results
from glue.rpc import JSON, RpcClient

# The tests look at the queue with psycopg, so they need the session's database: a real Supabase
# project (SUPABASE_URL) is another database.
pytestmark = pytest.mark.parametrize("transport", ["pg", "supabase"], indirect=True)


class Gated:
    """A real client whose calls wait until the gate opens: shows what happens before the
    background recalculation has run."""

    def __init__(self, inner: RpcClient, gate: threading.Event) -> None:
        self.inner = inner
        self.gate = gate

    def call(self, fn: str, params: Mapping[str, JSON] | None = None) -> JSON:
        assert self.gate.wait(30), "the test never opened the gate"
        return self.inner.call(fn, params)

    def close(self) -> None:
        pass


def _pending(url: str, pupil: str) -> list[str]:
    return [state for _job, state, _reason in jobs(url, pupil)]


def test_save_feedback_returns_the_row_at_once_then_recalculates(transport: Transport, glue_url: str) -> None:
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    v0 = version(glue_url, pupil)
    teacher = transport.user(HELEN)
    gate = threading.Event()
    results = Results(teacher, processor=Gated(teacher, gate))
    try:
        row = results.save_feedback(A4, pupil, override_score=0.75, feedback="Good trace.")
        # The caller has the authoritative row while the recalculation has not run yet.
        assert row["pupil_id"] == pupil
        assert row["submission"]["override_score"] == pytest.approx(0.75)
        cell = row["cell"]
        assert (cell["state"], cell["score"], cell["source"]) == ("marked", pytest.approx(0.75), "override")
        assert results.fired == 1
        assert results.pending() == 1
        assert results.processed == []
        assert _pending(glue_url, pupil) == ["pending"]
        assert version(glue_url, pupil) == v0
    finally:
        gate.set()
        results.close()
    assert results.pending() == 0
    assert (results.fired, results.failed, results.dropped) == (1, 0, 0)
    (done,) = results.processed
    assert (done["pupil_id"], done["processed"], done["outcome"], done["changed"]) == (pupil, True, "done", True)
    assert done["version"] == v0 + 1
    assert version(glue_url, pupil) == v0 + 1
    assert jobs(glue_url, pupil) == []


def test_a_failing_recalculation_never_reaches_the_caller(
    transport: Transport, glue_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    v0 = version(glue_url, pupil)
    caplog.set_level(logging.WARNING, logger="glue.results")
    # anon may not call report_process_pupil: every background call fails with 42501.
    with Results(transport.user(HELEN), processor=transport.anon()) as results:
        row = results.save_feedback(A4, pupil, override_score=0.4)
    assert row["cell"]["state"] == "marked"
    assert (results.fired, results.failed, results.processed) == (1, 1, [])
    warnings = [r for r in caplog.records if r.name == "glue.results" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "42501" in warnings[0].getMessage()
    # The queue is the safety net: the write's job waits for a worker, which recalculates the pupil.
    assert _pending(glue_url, pupil) == ["pending"]
    assert version(glue_url, pupil) == v0
    stats = worker.run(transport.service(), until_empty=True, idle_min=0.01)
    assert stats.done >= 1
    assert stats.errors == 0
    assert jobs(glue_url, pupil) == []
    assert version(glue_url, pupil) == v0 + 1


def test_beyond_max_pending_the_fire_is_dropped_and_the_job_waits(transport: Transport, glue_url: str) -> None:
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    v0 = version(glue_url, pupil)
    with Results(transport.user(HELEN), max_pending=0) as results:
        row = results.save_feedback(A4, pupil, override_score=0.9)
    assert row["submission"]["override_score"] == pytest.approx(0.9)
    assert (results.fired, results.dropped, results.failed, results.processed) == (0, 1, 0, [])
    assert _pending(glue_url, pupil) == ["pending"]
    assert version(glue_url, pupil) == v0
    worker.run(transport.service(), until_empty=True, idle_min=0.01)
    assert jobs(glue_url, pupil) == []
    assert version(glue_url, pupil) == v0 + 1


def test_after_close_nothing_more_is_fired(transport: Transport, glue_url: str) -> None:
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    results = Results(transport.service())
    results.close()
    row = results.save_feedback(A4, pupil, override_score=0.3)
    assert row["cell"]["score"] == pytest.approx(0.3)
    assert (results.fired, results.dropped) == (0, 1)
    assert _pending(glue_url, pupil) == ["pending"]
    worker.run(transport.service(), until_empty=True, idle_min=0.01)
    assert jobs(glue_url, pupil) == []


def test_apply_ai_marks_fires_one_recalculation_per_pupil_applied(transport: Transport, glue_url: str) -> None:
    pupils = add_pupils(glue_url, 3, submit_a4=True)
    (outsider,) = add_pupils(glue_url, 1, group_id=None)  # not a pupil of the class: reported, not applied
    versions = {p: version(glue_url, p) for p in pupils}
    marks: list[dict[str, Any]] = [
        {"pupil_id": p, "score": score, "feedback": f"AI feedback {i}"}
        for i, (p, score) in enumerate(zip(pupils, (0.2, 0.6, 1.0), strict=True))
    ]
    marks.append({"pupil_id": outsider, "score": 0.5, "feedback": None})
    with Results(transport.service()) as results:
        counts = results.apply_ai_marks(ASSIGNMENT, A4, marks, ai_meta={"model": "test-marker"})
    assert (counts["updated"], counts["created"], counts["skipped"]) == (3, 0, 0)
    assert [(e["pupil_id"], e["code"]) for e in counts["errors"]] == [(outsider, "PLV04")]
    assert (results.fired, results.failed, results.dropped) == (3, 0, 0)
    assert sorted(p["pupil_id"] for p in results.processed) == sorted(pupils)
    assert {p["outcome"] for p in results.processed} == {"done"}
    for p in pupils:
        assert version(glue_url, p) == versions[p] + 1
        assert jobs(glue_url, p) == []
    assert jobs(glue_url, outsider) == []
