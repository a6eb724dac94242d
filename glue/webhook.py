"""The AI marking webhook (`/api/mcp/ai-marks`) and a health endpoint, as a small ASGI app.

POST /api/mcp/ai-marks
  Authorization: Bearer <AI_WEBHOOK_KEY> (or an `apikey` header), compared in constant time. The key
  is the webhook's own, never the service role key: the AI vendor holds it.
  Body: {"group_assignment_id": "{groupId}__{lessonId}", "activity_id": uuid,
         "results": [{"pupil_id": uuid, "score": 0..1, "feedback": text|null, "revision": int|null}],
         "ai_meta": {...}?}
  -> 200 {"updated", "created", "skipped", "errors", "stale"} from results_apply_ai_marks; `stale`
  lists the pupils whose answer changed after the revision the AI marked (their mark was not applied).
  Bad input gets a clear 4xx: 401 no key, 403 wrong key, 405 wrong method, 413 body too large,
  415 not JSON, 400 unparsable JSON, 422 a payload that breaks the contract (with the field named),
  404/409/422 from the database's own checks (unknown class or activity, state, range, ai_meta over
  16 kB or nested deeper than 8: the limits live in SQL, where every caller meets them).
GET /health -> 200 {"status": "ok"} or 503 when the database cannot be reached. Without the key
  the answer is cached for HEALTH_TTL seconds (no database query per anonymous request); with the
  key it is fresh and carries the queue's figures {"status", "queue": {...}}.

Run it with `glue serve`. The database calls are synchronous and run in worker threads.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from glue import api
from glue.results import Results
from glue.rpc import Conflict, InvalidInput, NotAllowed, NotFound, RpcClient, RpcError, Unavailable
from glue.telemetry import Telemetry, telemetry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

AI_MARKS_PATH = "/api/mcp/ai-marks"
HEALTH_PATH = "/health"
MAX_BODY = 1_000_000
MAX_RESULTS = 1000
HEALTH_TTL = 5.0
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ASSIGNMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}__[0-9a-fA-F-]{36}$")


class PayloadError(Exception):
    """The request breaks the webhook's contract; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def _has_key(headers: dict[str, str], service_key: str) -> bool:
    try:
        check_key(headers, service_key)
    except PayloadError:
        return False
    return True


def check_key(headers: dict[str, str], service_key: str) -> None:
    """401 without a key, 403 with a wrong one; the comparison takes the same time whatever the key."""
    provided = headers.get("authorization", "")
    provided = provided[7:].strip() if provided.lower().startswith("bearer ") else headers.get("apikey", "")
    if not provided:
        raise PayloadError(401, "missing service key: send Authorization: Bearer <key>")
    if not hmac.compare_digest(provided.encode(), service_key.encode()):
        raise PayloadError(403, "wrong service key")


def parse_ai_marks(body: bytes, content_type: str) -> dict[str, Any]:
    """Validate the AI marking payload; returns the RPC's parameters or raises PayloadError."""
    if len(body) > MAX_BODY:
        raise PayloadError(413, f"the body is larger than {MAX_BODY} bytes")
    if "json" not in content_type.lower():
        raise PayloadError(415, "send the payload as application/json")
    try:
        payload = json.loads(body or b"")
    except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, absurd numbers or nesting
        raise PayloadError(400, f"the body is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(payload, dict):
        raise PayloadError(422, "the payload must be a JSON object")
    gaid = payload.get("group_assignment_id")
    if not isinstance(gaid, str) or not _ASSIGNMENT.match(gaid):
        raise PayloadError(422, "group_assignment_id must be '{groupId}__{lessonId}'", "group_assignment_id")
    activity_id = payload.get("activity_id")
    if not isinstance(activity_id, str) or not _UUID.match(activity_id):
        raise PayloadError(422, "activity_id must be a uuid", "activity_id")
    results = payload.get("results")
    if not isinstance(results, list):
        raise PayloadError(422, "results must be an array of {pupil_id, score, feedback}", "results")
    if len(results) > MAX_RESULTS:
        raise PayloadError(413, f"at most {MAX_RESULTS} results per request", "results")
    seen: set[str] = set()
    for i, item in enumerate(results):
        where = f"results[{i}]"
        if not isinstance(item, dict):
            raise PayloadError(422, f"{where} must be an object", where)
        pupil = item.get("pupil_id")
        if not isinstance(pupil, str) or not _UUID.match(pupil):
            raise PayloadError(422, f"{where}.pupil_id must be a uuid", f"{where}.pupil_id")
        if pupil.lower() in seen:
            raise PayloadError(422, f"{where}.pupil_id appears twice in the batch", f"{where}.pupil_id")
        seen.add(pupil.lower())
        score = item.get("score")
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise PayloadError(422, f"{where}.score must be a number between 0 and 1", f"{where}.score")
        feedback = item.get("feedback")
        if feedback is not None and not isinstance(feedback, str):
            raise PayloadError(422, f"{where}.feedback must be text or null", f"{where}.feedback")
        revision = item.get("revision")
        if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int) or revision < 0):
            raise PayloadError(422, f"{where}.revision must be the whole number the grid showed", f"{where}.revision")
    meta = payload.get("ai_meta")
    if meta is not None and not isinstance(meta, dict):
        raise PayloadError(422, "ai_meta must be an object", "ai_meta")
    return {"group_assignment_id": gaid, "activity_id": activity_id, "results": results, "ai_meta": meta}


def _status_for(exc: RpcError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, NotAllowed):
        return 403
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Unavailable):
        return 503
    return 500


class WebhookApp:
    """ASGI application: the AI marks webhook and the health endpoint."""

    def __init__(
        self,
        results: Results,
        service_key: str,
        health_client: RpcClient | None = None,
        telem: Telemetry | None = None,
    ) -> None:
        if not service_key:
            raise ValueError("the webhook needs its own key (AI_WEBHOOK_KEY)")
        self.results = results
        self.service_key = service_key
        self.health_client = health_client or results.client
        self.telem = telem or telemetry()
        self._health_cache: tuple[float, int, dict[str, Any]] | None = None  # (monotonic time, status, body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        method = scope.get("method", "GET")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if path == HEALTH_PATH:
            if method != "GET":
                await _json(send, 405, {"error": "use GET"})
                return
            await self._health(send, detailed=_has_key(headers, self.service_key))
            return
        if path != AI_MARKS_PATH:
            await _json(send, 404, {"error": f"no such endpoint: {path}"})
            return
        if method != "POST":
            await _json(send, 405, {"error": "use POST"})
            return
        received = time.perf_counter()
        try:
            check_key(headers, self.service_key)
            body = await _read_body(receive, MAX_BODY)
            params = parse_ai_marks(body, headers.get("content-type", ""))
        except PayloadError as exc:
            self.telem.event(AI_MARKS_PATH, "webhook_rejected", status=exc.status, field=exc.field)
            await _json(send, exc.status, {"error": exc.message, "field": exc.field})
            return
        try:
            counts = await asyncio.to_thread(
                self.results.apply_ai_marks,
                params["group_assignment_id"],
                params["activity_id"],
                params["results"],
                ai_meta=params["ai_meta"],
                route=AI_MARKS_PATH,
            )
        except RpcError as exc:
            await _json(
                send,
                _status_for(exc),
                {"error": exc.message, "code": exc.sqlstate, "detail": exc.detail, "hint": exc.hint},
            )
            return
        # The RPC broadcast the results in its transaction: they are delivered at its commit.
        self.telem.event(
            AI_MARKS_PATH,
            "webhook_to_broadcast",
            aiBatchSize=len(params["results"]),
            webhookToBroadcastMs=round((time.perf_counter() - received) * 1000, 3),
        )
        await _json(send, 200, counts)

    async def _health(self, send: Send, *, detailed: bool) -> None:
        """The key's holder gets fresh queue figures; anyone else a liveness answer cached for HEALTH_TTL."""
        now = time.monotonic()
        cached = self._health_cache
        if not detailed and cached is not None and now - cached[0] < HEALTH_TTL:
            await _json(send, cached[1], cached[2])
            return
        try:
            queue = await asyncio.to_thread(api.report_queue_health, self.health_client)
            status, body = 200, {"status": "ok"}
        except RpcError:
            status, body = 503, {"status": "unavailable"}
            queue = None
        self._health_cache = (time.monotonic(), status, body)
        if detailed and queue is not None:
            await _json(send, status, {**body, "queue": queue})
        else:
            await _json(send, status, body)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.results.close)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadError(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
