"""glue.telemetry per docs/telemetry.md: off by default; one JSON line per wrapped
call; personal data redacted; errors recorded and still raised; the TELEM_PATH filter; thread
safety; and a telemetry failure never breaks the call. The wrapped calls are real RPCs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from glue_testing import A4, ASSIGNMENT, HELEN, PRIYA, UNKNOWN, add_pupils, rows

from glue import api, telemetry
from glue.results import Results
from glue.rpc import NotFound, PgRpc
from glue.telemetry import Telemetry, hash_id

FIELDS = {"timestamp", "route", "functionName", "params", "durationMs", "status", "error", "rpcMs"}


@pytest.fixture(autouse=True)
def _fresh_telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test reads its own environment; the shared telemetry is forgotten before and after."""
    for name in ("TELEM_ENABLED", "TELEM_PATH", "TELEM_DIR", "TELEM_SALT"):
        monkeypatch.delenv(name, raising=False)
    telemetry.reset()
    yield
    telemetry.reset()


def _enable(monkeypatch: pytest.MonkeyPatch, directory: Path, paths: str | None = None) -> Telemetry:
    monkeypatch.setenv("TELEM_ENABLED", "true")
    monkeypatch.setenv("TELEM_DIR", str(directory))
    if paths is not None:
        monkeypatch.setenv("TELEM_PATH", paths)
    return Telemetry.from_env()


def _lines(directory: Path) -> list[dict[str, Any]]:
    files = sorted(directory.glob("telem_*.log"))
    assert len(files) <= 1, files
    if not files:
        return []
    return [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines()]


def test_off_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_rpc: PgRpc) -> None:
    monkeypatch.setenv("TELEM_DIR", str(tmp_path))
    telem = Telemetry.from_env()
    assert not telem.enabled
    with telem.span("/reports/pupil", "report_pupil", {"pupil_id": PRIYA}):
        api.report_pupil(pg_rpc, PRIYA)
    telem.event("/reports/recalculate", "report_process_pupil", dropped=True)
    for value in ("false", "0", "no", ""):
        monkeypatch.setenv("TELEM_ENABLED", value)
        assert not Telemetry.from_env().enabled
    assert list(tmp_path.iterdir()) == []


def test_one_line_per_wrapped_call(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_rpc: PgRpc) -> None:
    telem = _enable(monkeypatch, tmp_path)
    for _ in range(3):
        with telem.span("/reports/pupil", "report_pupil", {"pupil_id": PRIYA}) as span, span.timed("rpcMs"):
            api.report_pupil(pg_rpc, PRIYA)
    lines = _lines(tmp_path)
    assert len(lines) == 3
    assert telem.file.parent == tmp_path
    assert telem.file.name.startswith("telem_")
    assert telem.file.suffix == ".log"
    for line in lines:
        assert set(line) >= FIELDS
        assert line["route"] == "/reports/pupil"
        assert line["functionName"] == "report_pupil"
        assert line["status"] == "ok"
        assert line["error"] is None
        assert line["durationMs"] >= line["rpcMs"] > 0
        assert line["timestamp"].endswith("+00:00")


def test_personal_data_is_redacted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_rpc: PgRpc, glue_url: str
) -> None:
    """A real teacher write through glue.results: the pupil id is hashed, free text replaced, scores kept."""
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    feedback = "Emily, your loop stops one step early: see me after class."
    telem = _enable(monkeypatch, tmp_path)
    with Results(pg_rpc.as_user(HELEN), telem=telem) as results:
        row = results.save_feedback(A4, pupil, override_score=0.625, feedback=feedback)
    assert row["submission"]["teacher_feedback"] == feedback
    text = telem.file.read_text(encoding="utf-8")
    assert pupil not in text
    assert feedback not in text
    assert "Emily" not in text
    write, recalc = sorted(_lines(tmp_path), key=lambda line: line["functionName"] != "results_save_feedback")
    assert write["route"] == "/results/assignments/feedback"
    assert write["params"]["pupil_id"] == hash_id(pupil)
    assert write["params"]["activity_id"] == A4  # not personal: kept
    assert write["params"]["override_score"] == 0.625  # scores are kept
    assert write["params"]["feedback"] == f"[redacted {len(feedback)} chars]"
    assert recalc["functionName"] == "report_process_pupil"
    assert recalc["params"] == {"pupil_id": hash_id(pupil)}
    assert recalc["outcome"] == "done"


def test_redact_rules() -> None:
    redacted = telemetry.redact(
        {
            "pupil_id": PRIYA,
            "user_ids": [PRIYA, HELEN],
            "text": "my answer",
            "file_name": "priya-flowchart.png",
            "email": "priya.patel@pupils.demo.school.example",
            "score": 0.5,
            "results": [{"pupil_id": PRIYA, "score": 1, "feedback": "Well done Priya"}],
        }
    )
    assert redacted == {
        "pupil_id": hash_id(PRIYA),
        "user_ids": [hash_id(PRIYA), hash_id(HELEN)],
        "text": "[redacted 9 chars]",
        "file_name": "[redacted 19 chars]",
        "email": "[redacted 38 chars]",
        "score": 0.5,
        "results": [{"pupil_id": hash_id(PRIYA), "score": 1, "feedback": "[redacted 15 chars]"}],
    }
    assert hash_id(PRIYA) != hash_id(HELEN)
    assert hash_id(PRIYA).startswith("h:")


def test_an_error_is_recorded_and_still_raised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_rpc: PgRpc) -> None:
    telem = _enable(monkeypatch, tmp_path)
    with (
        pytest.raises(NotFound) as caught,
        telem.span("/reports/pupil", "report_pupil", {"pupil_id": UNKNOWN}) as span,
        span.timed("rpcMs"),
    ):
        api.report_pupil(pg_rpc, UNKNOWN)
    assert caught.value.sqlstate == "PLN01"
    (line,) = _lines(tmp_path)
    assert line["status"] == "error"
    assert line["error"]["code"] == "PLN01"
    assert line["error"]["type"] == "NotFound"
    assert line["error"]["message"] == f"[PLN01] unknown pupil {hash_id(UNKNOWN)}"  # the id hashed here too
    assert line["rpcMs"] >= 0
    assert UNKNOWN not in telem.file.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("setting", "route", "wanted"),
    [
        (None, "/anything/at/all", True),
        ("", "/anything/at/all", True),
        ("results", "/results/assignments/feedback", True),
        ("RESULTS", "/results/assignments/feedback", True),
        ("/Results/Assignments/", "/results/assignments/feedback", True),
        ("results/assignments/feedback", "/results/assignments/feedback/reset", True),
        ("results/assignments/ai", "/results/assignments/feedback", False),
        ("reports", "/results/assignments/feedback", False),
        ("feedback", "/results/assignments/feedback", False),  # a prefix, not a substring
        ("worker, reports/recalc", "/reports/recalculate", True),
        ("worker, reports/recalc", "/worker/batch", True),
        ("worker, reports/recalc", "/reports/pupil", False),
    ],
)
def test_route_filter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setting: str | None, route: str, wanted: bool
) -> None:
    assert _enable(monkeypatch, tmp_path, setting).wants(route) is wanted


def test_route_filter_decides_what_is_written(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_rpc: PgRpc) -> None:
    telem = _enable(monkeypatch, tmp_path, "Reports/Pupil,/WORKER")
    for route in ("/reports/pupil", "/reports/group", "/worker/batch", "/results/assignments/feedback"):
        with telem.span(route, "report_pupil", {"pupil_id": PRIYA}):
            api.report_pupil(pg_rpc, PRIYA)
    telem.event("/reports/recalculate", "report_process_pupil", dropped=True)
    telem.event("/worker/idle", "report_jobs_process", idle=True)
    assert [(line["route"], line["durationMs"] is None) for line in _lines(tmp_path)] == [
        ("/reports/pupil", False),
        ("/worker/batch", False),
        ("/worker/idle", True),
    ]


def test_thread_safe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    telem = _enable(monkeypatch, tmp_path)
    start = threading.Barrier(8)

    def emit(thread: int) -> None:
        start.wait()
        for i in range(100):
            with telem.span("/load/test", "emit", {"thread": thread, "i": i, "text": "x" * 500}) as span:
                span.set(payload="y" * 200)

    threads = [threading.Thread(target=emit, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = _lines(tmp_path)  # json.loads fails on an interleaved line
    assert len(lines) == 800
    assert sorted((line["params"]["thread"], line["params"]["i"]) for line in lines) == [
        (t, i) for t in range(8) for i in range(100)
    ]


def test_a_telemetry_failure_never_breaks_the_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_rpc: PgRpc, glue_url: str
) -> None:
    not_a_folder = tmp_path / "telemetry-here"
    not_a_folder.write_text("a regular file where the log folder should be\n")
    telem = _enable(monkeypatch, not_a_folder)
    assert telem.enabled
    with telem.span("/reports/pupil", "report_pupil", {"pupil_id": PRIYA}):
        report = api.report_pupil(pg_rpc, PRIYA)
    assert report["pupil_id"] == PRIYA
    telem.event("/reports/recalculate", "report_process_pupil", dropped=True)
    with pytest.raises(NotFound), telem.span("/reports/pupil", "report_pupil", {"pupil_id": UNKNOWN}):
        api.report_pupil(pg_rpc, UNKNOWN)  # the RPC's error, not the telemetry's
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    with Results(pg_rpc.as_user(HELEN), telem=telem) as results:
        row = results.save_feedback(A4, pupil, override_score=1)
    assert row["cell"]["state"] == "marked"
    assert results.processed[-1]["outcome"] == "done"
    assert results.failed == 0
    assert not_a_folder.read_text() == "a regular file where the log folder should be\n"


def test_a_dropped_recalculation_names_the_pupil_only_hashed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_rpc: PgRpc, glue_url: str
) -> None:
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    telem = _enable(monkeypatch, tmp_path)
    with Results(pg_rpc.as_user(HELEN), telem=telem, max_pending=0) as results:
        results.save_feedback(A4, pupil, override_score=0.25)
    assert results.dropped == 1
    assert pupil not in telem.file.read_text(encoding="utf-8")
    dropped = [line for line in _lines(tmp_path) if line.get("dropped")]
    assert len(dropped) == 1
    assert dropped[0]["route"] == "/reports/recalculate"
    assert hash_id(pupil) in json.dumps(dropped[0])
    api.report_process_pupil(pg_rpc, pupil)  # the queue's job: leave nothing waiting


def test_a_write_records_exactly_the_parameters_it_sends(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_rpc: PgRpc, glue_url: str
) -> None:
    """glue.results writes each call's parameters once, for the RPC and its telemetry line alike: the
    recorded names are the function's own (none missing, as `ai_meta` and `status` once were)."""
    telem = _enable(monkeypatch, tmp_path)
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    with Results(pg_rpc, telem=telem) as results:
        results.save_feedback(A4, pupil, override_score=0.5)
        results.apply_ai_marks(ASSIGNMENT, A4, [{"pupil_id": pupil, "score": 0.5}], ai_meta={"model": "m"})
    for fn in ("results_save_feedback", "results_apply_ai_marks"):
        (line,) = [x for x in _lines(tmp_path) if x["functionName"] == fn]
        names = rows(
            glue_url,
            "select unnest(proargnames) from pg_proc where proname = %s and pronamespace = 'public'::regnamespace",
            (fn,),
        )
        assert sorted(line["params"]) == sorted(n for (n,) in names), fn
