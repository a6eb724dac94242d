"""The AI marking webhook (glue.webhook) as an ASGI app driven by httpx, against the session's
database: the key check, every kind of bad input with its status, the database's own refusals,
a valid batch, the health endpoint; and `glue serve` end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from glue_testing import A4, ASSIGNMENT, UNKNOWN, Transport, add_pupils, jobs, one, rows, version

from glue.results import Results
from glue.rpc import PgRpc
from glue.telemetry import Telemetry
from glue.webhook import AI_MARKS_PATH, WebhookApp
from glue_tools.paths import ROOT

KEY = "test-ai-webhook-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def app(pg_rpc: PgRpc) -> Iterator[WebhookApp]:
    results = Results(pg_rpc)
    yield WebhookApp(results, KEY)
    results.close()


def _request(app: WebhookApp, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://webhook.test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def _post(app: WebhookApp, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return _request(app, "POST", AI_MARKS_PATH, json=payload, headers=AUTH if headers is None else headers)


def _valid(pupils: list[str]) -> dict[str, Any]:
    return {
        "group_assignment_id": ASSIGNMENT,
        "activity_id": A4,
        "results": [{"pupil_id": p, "score": 0.5, "feedback": "Good."} for p in pupils],
    }


def test_a_missing_key_is_401(app: WebhookApp) -> None:
    r = _post(app, _valid([UNKNOWN]), headers={})
    assert r.status_code == 401
    assert "missing service key" in r.json()["error"]
    assert _post(app, _valid([UNKNOWN]), headers={"Authorization": "Bearer "}).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer not-the-key"},
        {"Authorization": "Bearer " + "x" * len(KEY)},  # same length: the constant-time comparison decides
        {"Authorization": "Bearer " + KEY[:-1] + "?"},
        {"apikey": "x" * len(KEY)},
    ],
    ids=["short", "same-length", "last-char", "apikey"],
)
def test_a_wrong_key_is_403(app: WebhookApp, headers: dict[str, str]) -> None:
    r = _post(app, _valid([UNKNOWN]), headers=headers)
    assert r.status_code == 403
    assert r.json()["error"] == "wrong service key"


def test_the_key_in_an_apikey_header_is_accepted(app: WebhookApp) -> None:
    r = _post(app, {"group_assignment_id": ASSIGNMENT}, headers={"apikey": KEY})
    assert (r.status_code, r.json()["field"]) == (422, "activity_id")  # past the key check


def test_wrong_method_and_path(app: WebhookApp) -> None:
    assert _request(app, "GET", AI_MARKS_PATH, headers=AUTH).status_code == 405
    assert _request(app, "PUT", AI_MARKS_PATH, headers=AUTH, json={}).status_code == 405
    assert _request(app, "POST", "/api/mcp/other", headers=AUTH, json={}).status_code == 404


def test_a_body_that_is_not_json_is_415(app: WebhookApp) -> None:
    r = _request(
        app,
        "POST",
        AI_MARKS_PATH,
        content=json.dumps(_valid([UNKNOWN])),
        headers={**AUTH, "Content-Type": "text/plain"},
    )
    assert r.status_code == 415


def test_invalid_json_is_400(app: WebhookApp) -> None:
    r = _request(
        app, "POST", AI_MARKS_PATH, content=b'{"results": [', headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]


def _drop(payload: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != key}


def _item(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"pupil_id": UNKNOWN, "score": 0.5, "feedback": "ok"}
    item.update(changes)
    return {k: v for k, v in item.items() if v is not ...}


GOOD = _valid([UNKNOWN])
OTHER = "00000000-0000-4000-8000-00000000beef"


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        (_drop(GOOD, "group_assignment_id"), None, "group_assignment_id"),
        ({**GOOD, "group_assignment_id": "25-8A-CS"}, "PLV12", "group_assignment_id"),
        ({**GOOD, "activity_id": "A4"}, "22P02", None),
        (_drop(GOOD, "activity_id"), None, "activity_id"),
        ({**GOOD, "results": {"pupil_id": UNKNOWN, "score": 0.5}}, "PLV05", "results"),
        (_drop(GOOD, "results"), None, "results"),
        ({**GOOD, "results": ["not an object"]}, "PLV05", "results[0]"),
        ({**GOOD, "results": [_item(pupil_id=...)]}, "PLV05", "results[0]"),
        ({**GOOD, "results": [_item(pupil_id="priya")]}, "PLV05", "results[0]"),
        ({**GOOD, "results": [_item(score=1.5)]}, "PLV02", "results[0].score"),
        ({**GOOD, "results": [_item(score=-0.1)]}, "PLV02", "results[0].score"),
        ({**GOOD, "results": [_item(score="0.5")]}, "PLV05", "results[0]"),
        ({**GOOD, "results": [_item(score=True)]}, "PLV05", "results[0]"),
        ({**GOOD, "results": [_item(score=...)]}, "PLV05", "results[0]"),
        ({**GOOD, "results": [_item(pupil_id=OTHER), _item(), _item(pupil_id=UNKNOWN.upper())]}, "PLV05", "results"),
        ({**GOOD, "results": [_item(feedback=3)]}, "PLV05", "results[0]"),
        ({**GOOD, "results": [_item(revision="7")]}, "PLV05", "results[0]"),
        ({**GOOD, "ai_meta": "gpt"}, "PLV05", "ai_meta"),
        ({**GOOD, "ai_meta": {"x": "a" * 16_400}}, "PLV13", "ai_meta"),
        ({**GOOD, "extra": 1}, None, "extra"),
        ([GOOD], None, None),
    ],
    ids=[
        "no-group-assignment",
        "group-assignment-without-lesson",
        "bad-activity-id",
        "no-activity-id",
        "results-not-an-array",
        "no-results",
        "item-not-an-object",
        "item-without-pupil",
        "pupil-not-a-uuid",
        "score-1.5",
        "score-negative",
        "score-a-string",
        "score-a-boolean",
        "no-score",
        "duplicate-pupil",
        "feedback-a-number",
        "revision-a-string",
        "ai-meta-not-an-object",
        "ai-meta-over-16-kB",
        "unknown-field",
        "payload-not-an-object",
    ],
)
def test_each_contract_break_is_422_naming_the_field(
    app: WebhookApp, glue_url: str, payload: Any, code: str | None, field: str | None
) -> None:
    """The webhook checks the transport (JSON, an object, the fields there are); every rule on the
    values is results_apply_ai_marks' (code: its SQLSTATE), mapped to 422 with the field it names."""
    r = _post(app, payload)
    assert r.status_code == 422, r.text
    assert r.json().get("code") == code
    assert r.json()["field"] == field
    assert r.json()["error"]


def test_unknown_activity_is_404_from_the_database(app: WebhookApp) -> None:
    r = _post(app, {**_valid([UNKNOWN]), "activity_id": UNKNOWN})
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == "PLN03"
    assert UNKNOWN in body["error"]


def test_a_lesson_not_assigned_to_the_class_is_404(app: WebhookApp) -> None:
    r = _post(app, {**_valid([UNKNOWN]), "group_assignment_id": "25-8A-MATH__00000000-0000-4000-8000-000000000302"})
    assert (r.status_code, r.json()["code"]) == (404, "PLN07")


# The valid batch through both transports: the webhook's Results uses the transport's service role.
@pytest.mark.parametrize("transport", ["pg", "supabase"], indirect=True)
def test_a_valid_batch_is_applied(transport: Transport, glue_url: str) -> None:
    pupils = add_pupils(glue_url, 2, submit_a4=True)  # pupils of Priya's class, A4 handed in, unmarked
    (newcomer,) = add_pupils(glue_url, 1)  # nothing handed in: the AI mark creates the submission
    versions = {p: version(glue_url, p) for p in [*pupils, newcomer]}
    payload: dict[str, Any] = {
        "group_assignment_id": ASSIGNMENT,
        "activity_id": A4,
        "results": [
            {"pupil_id": pupils[0], "score": 0.8, "feedback": "Correct trace."},
            {"pupil_id": pupils[1], "score": 0.35, "feedback": None},
            {"pupil_id": newcomer, "score": 1, "feedback": "Perfect."},
            {"pupil_id": UNKNOWN, "score": 0.1, "feedback": None},
        ],
        "ai_meta": {"model": "test-marker", "completion_id": "test-1"},
    }
    results = Results(transport.service())
    app = WebhookApp(results, KEY)
    try:
        r = _post(app, payload)
    finally:
        results.close()
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"updated", "created", "skipped", "errors", "stale"}
    assert (body["updated"], body["created"], body["skipped"]) == (2, 1, 0)
    assert [(e["pupil_id"], e["code"]) for e in body["errors"]] == [(UNKNOWN, "PLV04")]
    stored = dict(
        rows(
            glue_url,
            "select user_id::text, ai_score::float8 from public.submissions"
            " where activity_id = %s and user_id = any(%s::uuid[])",
            (A4, [*pupils, newcomer]),
        )
    )
    assert stored == {pupils[0]: pytest.approx(0.8), pupils[1]: pytest.approx(0.35), newcomer: pytest.approx(1)}
    meta = one(
        glue_url, "select ai_meta from public.submissions where activity_id = %s and user_id = %s", (A4, newcomer)
    )
    assert meta == {"model": "test-marker", "completion_id": "test-1"}
    assert results.fired == 3  # one per pupil applied (not the outsider), flushed by close()
    for p in [*pupils, newcomer]:
        assert jobs(glue_url, p) == []
        assert version(glue_url, p) == versions[p] + 1

    with Results(transport.service()) as results:
        again = _post(WebhookApp(results, KEY), {**payload, "results": payload["results"][:3]})
    # the same marks: nothing to do
    assert again.json() == {"updated": 0, "created": 0, "skipped": 3, "errors": [], "stale": []}
    assert results.fired == 0  # nothing was written, so nothing to recalculate
    for p in [*pupils, newcomer]:
        assert version(glue_url, p) == versions[p] + 1


def test_telemetry_records_the_batch_size_and_the_time_to_broadcast(
    pg_rpc: PgRpc, glue_url: str, tmp_path: Path
) -> None:
    pupils = add_pupils(glue_url, 2, submit_a4=True)
    telem = Telemetry(True, None, tmp_path)
    with Results(pg_rpc, telem=telem) as results:
        assert _post(WebhookApp(results, KEY, telem=telem), _valid(pupils)).status_code == 200
        assert _post(WebhookApp(results, KEY, telem=telem), {"results": []}).status_code == 422
    lines = [json.loads(x) for x in telem.file.read_text(encoding="utf-8").splitlines()]
    by_name = {line["functionName"]: line for line in lines}
    applied = by_name["results_apply_ai_marks"]
    assert (applied["route"], applied["status"], applied["aiBatchSize"]) == (AI_MARKS_PATH, "ok", 2)
    assert applied["rpcMs"] > 0
    relayed = by_name["webhook_to_broadcast"]
    assert relayed["aiBatchSize"] == 2
    assert relayed["webhookToBroadcastMs"] >= applied["rpcMs"]
    rejected = by_name["webhook_rejected"]
    assert (rejected["status"], rejected["field"]) == (422, "group_assignment_id")
    assert [line["outcome"] for line in lines if line["functionName"] == "report_process_pupil"] == ["done", "done"]
    text = telem.file.read_text(encoding="utf-8")
    assert not any(p in text for p in pupils)
    assert "Good." not in text  # the AI's feedback is the pupil's data too


class CountingRpc:
    """A real transport that counts the calls it makes (to see which requests reach the database)."""

    def __init__(self, inner: PgRpc) -> None:
        self.inner = inner
        self.calls = 0

    def call(self, fn: str, params: Any = None) -> Any:
        self.calls += 1
        return self.inner.call(fn, params)

    def close(self) -> None:
        pass


def test_anonymous_health_is_cached_and_says_nothing_of_the_queue(pg_rpc: PgRpc) -> None:
    counting = CountingRpc(pg_rpc)
    results = Results(pg_rpc)
    app = WebhookApp(results, KEY, health_client=counting)
    try:
        answers = [_request(app, "GET", "/health") for _ in range(20)]
        assert [(r.status_code, r.json()) for r in answers] == [(200, {"status": "ok"})] * 20
        assert counting.calls == 1  # twenty anonymous requests within HEALTH_TTL, one database query
        wrong = _request(app, "GET", "/health", headers={"Authorization": "Bearer wrong"})
        assert wrong.json() == {"status": "ok"}
        assert counting.calls == 1
        detailed = _request(app, "GET", "/health", headers=AUTH)
        assert "queue" in detailed.json()
        assert counting.calls == 2
    finally:
        results.close()


def test_health(app: WebhookApp, glue_url: str) -> None:
    r = _request(app, "GET", "/health", headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    queue = body["queue"]
    assert {"pending", "due", "running", "failed", "dead", "last_hour"} <= set(queue)
    due = one(
        glue_url,
        "select count(*) from private.report_jobs where state in ('pending', 'failed') and run_after <= now()",
    )
    assert queue["due"] == due
    assert _request(app, "POST", "/health").status_code == 405


def test_health_is_503_when_the_database_is_unreachable() -> None:
    unreachable = PgRpc("postgresql://postgres@127.0.0.1:1/postgres", max_size=1)
    results = Results(unreachable)
    try:
        unreachable.pool.timeout = 1  # do not wait 30 s for a connection that cannot come
        r = _request(WebhookApp(results, KEY), "GET", "/health", headers=AUTH)
    finally:
        results.close()
        unreachable.close()
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"


# --- glue serve ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    drop = ("SUPABASE_", "TELEM_", "AI_WEBHOOK_KEY")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **extra}


def test_glue_serve_end_to_end(glue_url: str) -> None:
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "glue_tools", "--database-url", glue_url, "serve", "--port", str(port)],
        cwd=ROOT,
        env=_env(AI_WEBHOOK_KEY=KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "glue serve did not answer GET /health within 20 s"
            time.sleep(0.1)
        assert health.json()["status"] == "ok"
        r = httpx.post(f"{base}{AI_MARKS_PATH}", json=_valid([pupil]), headers=AUTH, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json() == {"updated": 1, "created": 0, "skipped": 0, "errors": [], "stale": []}
        assert httpx.post(f"{base}{AI_MARKS_PATH}", json=_valid([pupil]), timeout=10).status_code == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    # uvicorn shuts down gracefully (lifespan: the pending recalculations are flushed), then re-raises
    # the signal, as servers conventionally do.
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "serving POST" in out
    assert "Traceback" not in err
    ai_score = one(
        glue_url, "select ai_score from public.submissions where activity_id = %s and user_id = %s", (A4, pupil)
    )
    assert ai_score == pytest.approx(0.5)
    assert jobs(glue_url, pupil) == []  # recalculated by the server's fire-and-forget before it stopped


def test_glue_serve_without_a_key_exits_2_even_with_the_service_key_set(glue_url: str) -> None:
    # The service role key must never become the AI vendor's key by default.
    done = subprocess.run(
        [sys.executable, "-m", "glue_tools", "--database-url", glue_url, "serve", "--port", str(_free_port())],
        cwd=ROOT,
        env=_env(SUPABASE_SERVICE_ROLE_KEY="service-role-secret"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "AI_WEBHOOK_KEY" in done.stderr
    assert "never accepts SUPABASE_SERVICE_ROLE_KEY" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_mark_for_a_changed_answer_is_reported_stale(app: WebhookApp, glue_url: str) -> None:
    first, second = add_pupils(glue_url, 2, submit_a4=True)
    revision = {
        str(p): r
        for p, r in rows(
            glue_url,
            "select user_id, revision from public.submissions where activity_id = %s and user_id = any(%s::uuid[])",
            (A4, [first, second]),
        )
    }
    with psycopg.connect(glue_url) as conn:  # `first` resubmits after the AI read the answer
        conn.execute(
            'update public.submissions set body = \'{"text": "new"}\','
            " revision = nextval('public.submissions_revision_seq') where activity_id = %s and user_id = %s",
            (A4, first),
        )
    payload = _valid([first, second])
    for item in payload["results"]:
        item["revision"] = revision[item["pupil_id"]]
    r = _post(app, payload)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["updated"], body["created"], body["errors"]) == (1, 0, [])
    assert [(s["pupil_id"], s["revision"]) for s in body["stale"]] == [(first, revision[first])]
    assert body["stale"][0]["current_revision"] > revision[first]
    marked = dict(
        rows(
            glue_url,
            "select user_id::text, ai_score from public.submissions"
            " where activity_id = %s and user_id = any(%s::uuid[])",
            (A4, [first, second]),
        )
    )
    assert marked[first] is None
    assert marked[second] == pytest.approx(0.5)


@pytest.mark.parametrize("revision", ["7", 1.5, -1, True])
def test_a_malformed_revision_is_422(app: WebhookApp, revision: Any) -> None:
    payload = _valid([UNKNOWN])
    payload["results"][0]["revision"] = revision
    r = _post(app, payload)
    assert r.status_code == 422
    assert (r.json()["code"], r.json()["field"]) == ("PLV05", "results[0]")  # results_apply_ai_marks' check


def test_an_oversized_ai_meta_is_refused_by_the_database(app: WebhookApp, glue_url: str) -> None:
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    before = one(glue_url, "select md5(s::text) from public.submissions as s where user_id = %s", (pupil,))
    for meta, what in (({"x": "a" * 16400}, "bytes"), ({"a": [[[[[[[[1]]]]]]]]}, "deeper")):
        r = _post(app, {**_valid([pupil]), "ai_meta": meta})
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "PLV13"
        assert what in r.json()["error"]
    assert one(glue_url, "select md5(s::text) from public.submissions as s where user_id = %s", (pupil,)) == before
