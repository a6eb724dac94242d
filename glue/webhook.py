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
  415 not JSON, 400 unparsable JSON, 422 not an object or an unknown field; everything else is
  results_apply_ai_marks' own check (the one contract every caller meets), its SQLSTATE mapped to
  422 (bad value, with the field it names), 404 (unknown class, lesson or activity), 403, 409.
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
HEALTH_TTL = 5.0
PARAMETERS = ("group_assignment_id", "activity_id", "results", "ai_meta")  # results_apply_ai_marks'
REQUIRED = PARAMETERS[:3]


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
    """The transport's checks only: size, JSON, an object with the RPC's parameters and no others.

    What the parameters must be (uuids, an array of at most 1,000 {pupil_id, score, feedback,
    revision}, scores in [0, 1], ai_meta's limits) is results_apply_ai_marks' to say: it is the one
    definition every caller meets, and its SQLSTATEs become HTTP statuses here (`status_for`).
    """
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
    unknown = sorted(set(payload) - set(PARAMETERS))
    if unknown:
        raise PayloadError(422, f"unknown field {unknown[0]!r}: the fields are {', '.join(PARAMETERS)}", unknown[0])
    missing = [name for name in REQUIRED if payload.get(name) is None]
    if missing:
        raise PayloadError(422, f"{missing[0]} is required", missing[0])
    return {name: payload.get(name) for name in PARAMETERS}


_FIELD = re.compile(r"^(?P<field>[a-z_]+(?:\[\d+\])?(?:\.[a-z_]+)?)(?=\s|$)")


def _field(message: str) -> str | None:
    """The parameter the database's message names first (`results[3].score must be ...`), if any."""
    match = _FIELD.match(message)
    if match is None or match.group("field").split("[")[0].split(".")[0] not in PARAMETERS:
        return None
    return match.group("field")


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
                self.results.apply_ai_marks_at,
                AI_MARKS_PATH,
                params["group_assignment_id"],
                params["activity_id"],
                params["results"],
                ai_meta=params["ai_meta"],
            )
        except RpcError as exc:
            await _json(
                send,
                _status_for(exc),
                {
                    "error": exc.message,
                    "code": exc.sqlstate,
                    "field": _field(exc.message),
                    "detail": exc.detail,
                    "hint": exc.hint,
                },
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
