"""Realtime results sync: subscribe to a class's assignment topic and keep a results matrix that
always converges to the database's `read_assignment_results`.

Transport:
- with SUPABASE_URL: Supabase Realtime through the supabase-py async client, on the private
  channel `assignment_results:{groupId}:{lessonId}` (authorized by the RLS policy on
  realtime.messages);
- otherwise the local relay: LISTEN on channel `realtime_broadcast`, where the local platform's
  realtime.send() notifies every committed broadcast; messages are filtered by topic and, when a
  user id is given, the user's right to the topic is checked with the same rule as Supabase.
Both reconnect with backoff; after a reconnect the handler receives a `resync` event (events sent
while disconnected are lost: delivery is at-most-once) so the matrix refetches. The subscription's
lifecycle goes to telemetry (route /realtime/subscription).

RESULTS_REALTIME_ENABLED=false: no subscription at all, one info line, no errors.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from glue import api
from glue.config import Settings
from glue.rpc import RpcClient
from glue.telemetry import telemetry

log = logging.getLogger("glue.realtime")
ROUTE = "/realtime/subscription"
EVENTS = ("submission_updated", "submission_deleted", "activity_marks_cleared", "feedback_visibility_changed")


@dataclass(frozen=True)
class BroadcastEvent:
    topic: str
    event: str
    payload: dict[str, Any]
    message_id: str | None = None  # the realtime.messages uuid (as text), when the transport gives it


Handler = Callable[[BroadcastEvent], None]


def topic_for(group_id: str, lesson_id: str) -> str:
    return f"assignment_results:{group_id}:{lesson_id}"


def realtime_enabled() -> bool:
    """False when RESULTS_REALTIME_ENABLED is off (glue.config.on_off)."""
    return Settings.from_env().realtime_enabled


_disabled_said = False


class Subscription:
    """A running subscription; close() stops it. `connected` is set while it is connected."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.reconnects = 0
        self.delivered = 0
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._thread is not None

    def close(self, timeout: float = 5.0) -> None:
        self.closed.set()
        if self._thread is not None:
            self._thread.join(timeout)


def subscribe(
    group_id: str,
    lesson_id: str,
    handler: Handler,
    *,
    dsn: str | None = None,
    user_id: str | None = None,
    supabase_url: str | None = None,
    key: str | None = None,
    access_token: str | None = None,
) -> Subscription:
    """Deliver the topic's broadcasts to handler (from a background thread) until close(). Through
    Supabase Realtime when supabase_url (or SUPABASE_URL) is given, with key or the settings' key
    (glue.config.Settings.api_key: one order for both transports); else from the database."""
    global _disabled_said
    topic = topic_for(group_id, str(lesson_id))
    sub = Subscription(topic)
    settings = Settings.from_env()
    if not settings.realtime_enabled:
        if not _disabled_said:
            log.info("RESULTS_REALTIME_ENABLED=false: not subscribing to realtime results")
            _disabled_said = True
        return sub
    url = supabase_url or settings.supabase_url
    if url:
        secret = key or settings.api_key or ""
        target: Callable[[], None] = lambda: asyncio.run(_supabase_loop(sub, handler, url, secret, access_token))  # noqa: E731
    else:
        conninfo = dsn or settings.database
        if user_id is not None:
            _check_authorized(conninfo, topic, user_id)
        target = lambda: _local_loop(sub, handler, conninfo)  # noqa: E731
    sub._thread = threading.Thread(target=target, name=f"realtime:{topic}", daemon=True)
    sub._thread.start()
    return sub


def _check_authorized(conninfo: str, topic: str, user_id: str) -> None:
    """The rule Supabase Realtime applies to private channels (RLS on realtime.messages)."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps({"sub": str(user_id), "role": "authenticated"}),),
        )
        row = conn.execute("select private.realtime_can_receive(%s)", (topic,)).fetchone()
    if not row or not row[0]:
        raise PermissionError(f"user {user_id} may not receive {topic}")


def _local_loop(sub: Subscription, handler: Handler, conninfo: str) -> None:
    telem = telemetry()
    backoff = 0.2
    first = True
    while not sub.closed.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True, application_name="glue-realtime") as conn:
                conn.execute("listen realtime_broadcast")
                sub.connected.set()
                telem.event(ROUTE, "connected", topic=sub.topic, transport="local", reconnects=sub.reconnects)
                if not first:
                    _deliver(sub, handler, BroadcastEvent(sub.topic, "resync", {}))
                first = False
                backoff = 0.2
                while not sub.closed.is_set():
                    # Collect first: the notifies() generator holds the connection's lock, so a large
                    # payload (sent by id) can only be read from realtime.messages once it is done.
                    for note in list(conn.notifies(timeout=0.25)):
                        event = _parse(conn, note.payload, sub.topic)
                        if event is not None:
                            _deliver(sub, handler, event)
        except psycopg.Error as exc:
            sub.connected.clear()
            sub.reconnects += 1
            telem.event(ROUTE, "disconnected", topic=sub.topic, error=str(exc)[:200], retryInS=backoff)
            log.warning("realtime relay lost its connection (%s); reconnecting in %.1fs", exc, backoff)
            sub.closed.wait(backoff)
            backoff = min(backoff * 2, 10.0)
    sub.connected.clear()
    telem.event(ROUTE, "closed", topic=sub.topic, delivered=sub.delivered)


def _parse(conn: psycopg.Connection, raw: str, topic: str) -> BroadcastEvent | None:
    """The note as an event when it is for topic (other topics are not read at all)."""
    try:
        note = json.loads(raw)
        if note.get("topic") != topic:
            return None
        payload = note.get("payload")
        if payload is None and note.get("id") is not None:  # large payloads travel by id
            row = conn.execute("select payload from realtime.messages where id = %s", (note["id"],)).fetchone()
            payload = row[0] if row else None
        if payload is None:
            return None
        message_id = note.get("id")
        return BroadcastEvent(
            str(note.get("topic")),
            str(note.get("event")),
            dict(payload),
            str(message_id) if message_id is not None else None,
        )
    except (ValueError, TypeError, psycopg.Error):
        log.debug("unreadable broadcast dropped: %r", raw[:200])
        return None


def _deliver(sub: Subscription, handler: Handler, event: BroadcastEvent) -> None:
    sub.delivered += 1
    try:
        handler(event)
    except Exception:
        log.exception("realtime handler failed on %s", event.event)


async def _supabase_loop(sub: Subscription, handler: Handler, url: str, key: str, access_token: str | None) -> None:
    from realtime.types import RealtimeChannelOptions
    from supabase import acreate_client

    telem = telemetry()
    backoff = 0.5
    first = True
    while not sub.closed.is_set():
        client = await acreate_client(url, key)
        try:
            if access_token:
                await client.realtime.set_auth(access_token)
            options: RealtimeChannelOptions = {"config": {"broadcast": None, "presence": None, "private": True}}
            channel = client.channel(sub.topic, options)
            for name in EVENTS:
                channel.on_broadcast(
                    name,
                    lambda message: _deliver(
                        sub,
                        handler,
                        BroadcastEvent(sub.topic, str(message.get("event")), dict(message.get("payload") or {})),
                    ),
                )
            state: dict[str, Any] = {}

            def on_status(status: Any, err: Exception | None, state: dict[str, Any] = state) -> None:
                state.update(status=str(status), error=err)

            await channel.subscribe(on_status)
            if "SUBSCRIBED" not in state.get("status", ""):
                raise ConnectionError(f"subscription to {sub.topic} failed: {state}")
            sub.connected.set()
            telem.event(ROUTE, "connected", topic=sub.topic, transport="supabase", reconnects=sub.reconnects)
            if not first:
                _deliver(sub, handler, BroadcastEvent(sub.topic, "resync", {}))
            first = False
            backoff = 0.5
            while not sub.closed.is_set() and "SUBSCRIBED" in state.get("status", ""):
                await asyncio.sleep(0.25)
            await client.remove_channel(channel)
        except Exception as exc:  # the network, the server, the join: all retried with backoff
            sub.connected.clear()
            sub.reconnects += 1
            telem.event(ROUTE, "disconnected", topic=sub.topic, error=str(exc)[:200], retryInS=backoff)
            log.warning("realtime subscription to %s failed (%s); retrying in %.1fs", sub.topic, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
    sub.connected.clear()
    telem.event(ROUTE, "closed", topic=sub.topic, delivered=sub.delivered)


# --- the results matrix ------------------------------------------------------------------------------

_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def _when(value: Any) -> dt.datetime:
    if not value:
        return _NEVER
    return dt.datetime.fromisoformat(str(value))


@dataclass
class _Optimistic:
    fields: dict[str, Any]
    since: dt.datetime


@dataclass
class ResultsMatrix:
    """The results grid of one assignment, kept current from broadcasts.

    - load() reads public.read_assignment_results (the canonical grid; means included);
    - apply(event) patches one cell from a full payload (submission_updated, submission_deleted);
      the same event twice changes nothing and an older event arriving late is ignored
      (updatedAt, remembered per cell in `stamps`, deletes included); a partial event
      (activity_marks_cleared) refetches that column only; feedback_visibility_changed sets the
      grid's feedbackVisible; `resync` and cells or columns the
      matrix does not know refetch everything;
    - after patches the row and column means are stale: settle() rereads them from the database
      (they are SQL's numbers; the patched cells are kept as they are);
    - set_optimistic() shows a local edit until the next authoritative event for that cell
      confirms or replaces it;
    - converge() refetches: a client that missed events (or a change that is not broadcast, such
      as membership or curriculum) ends equal to the database.
    """

    client: RpcClient
    group_id: str
    lesson_id: str
    grid: dict[str, Any] = field(default_factory=dict)
    cells: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    stamps: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    optimistic: dict[tuple[str, str], _Optimistic] = field(default_factory=dict)
    means_stale: bool = False
    applied: int = 0
    ignored: int = 0
    refetches: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def load(self) -> None:
        grid = api.read_assignment_results(self.client, self.group_id, self.lesson_id)
        with self.lock:
            self.grid = grid
            self.cells = {(c["pupilId"], c["activityId"]): dict(c) for c in grid["cells"]}
            self.means_stale = False
            self.refetches += 1

    converge = load

    def settle(self) -> None:
        """Reread the row and column means (SQL's) if patches made them stale; the cells stay as patched."""
        with self.lock:
            if not self.means_stale:
                return
        fresh = api.read_assignment_results(self.client, self.group_id, self.lesson_id)
        with self.lock:
            self.grid["rowMeans"] = fresh["rowMeans"]
            self.grid["columnMeans"] = fresh["columnMeans"]
            self.means_stale = False

    def apply(self, event: BroadcastEvent) -> str:
        """Apply one broadcast; returns what it did (for logs and tests)."""
        with self.lock:
            if event.event in ("submission_updated", "submission_deleted"):
                return self._patch(event.payload)
            if event.event == "activity_marks_cleared":
                activity_id = str(event.payload["activityId"])
                if activity_id not in {a["activityId"] for a in self.grid.get("activities", [])}:
                    self.load()  # a column this matrix does not have yet
                    return "refetched all"
                self._refetch(activity_id=activity_id)
                return "refetched column"
            if event.event == "feedback_visibility_changed":
                self.grid["feedbackVisible"] = event.payload.get("feedbackVisible")
                return "feedback visibility"
            if event.event == "resync":
                self.load()
                return "refetched all"
            self.ignored += 1
            return "ignored: unknown event"

    def _patch(self, payload: dict[str, Any]) -> str:
        key = (str(payload.get("pupilId")), str(payload.get("activityId")))
        current = self.cells.get(key)
        if current is None:
            self.load()  # a pupil or activity this matrix does not have yet
            return "refetched all"
        when = _when(payload.get("updatedAt"))
        if when < max(self.stamps.get(key, _NEVER), _when(current.get("updatedAt"))):
            self.ignored += 1
            return "ignored: older"
        self.stamps[key] = when
        new = {k: payload[k] for k in current if k in payload}
        if new.get("state") == "untouched":
            # The grid shows no time for a cell without a submission; the delete's time stays in
            # stamps, so that an older event arriving after the delete is still ignored.
            new["updatedAt"] = None
        self.optimistic.pop(key, None)
        if new == {k: current[k] for k in new}:
            self.ignored += 1
            return "ignored: duplicate"
        current.update(new)
        self.means_stale = True
        self.applied += 1
        return "patched"

    def _refetch(self, *, pupil_id: str | None = None, activity_id: str | None = None) -> None:
        cells = api.read_assignment_results_slice(
            self.client, self.group_id, self.lesson_id, pupil_id=pupil_id, activity_id=activity_id
        )
        for c in cells:
            key = (c["pupilId"], c["activityId"])
            self.cells[key] = dict(c)
            self.optimistic.pop(key, None)
        self.means_stale = True
        self.refetches += 1

    def set_optimistic(self, pupil_id: str, activity_id: str, **fields: Any) -> None:
        """Show a local edit (e.g. score=0.9, state='marked') until the database's event arrives."""
        with self.lock:
            self.optimistic[(str(pupil_id), str(activity_id))] = _Optimistic(fields, dt.datetime.now(dt.UTC))

    def cell(self, pupil_id: str, activity_id: str) -> dict[str, Any]:
        """The cell as the user sees it: authoritative, with a pending optimistic edit on top."""
        with self.lock:
            key = (str(pupil_id), str(activity_id))
            shown = dict(self.cells.get(key, {}))
            pending = self.optimistic.get(key)
            if pending is not None:
                shown.update(pending.fields, optimistic=True)
            return shown

    def snapshot(self) -> dict[str, Any]:
        """The matrix in read_assignment_results' shape (to compare with a fresh read; settle() first
        for current means)."""
        with self.lock:
            order = {(c["pupilId"], c["activityId"]): i for i, c in enumerate(self.grid.get("cells", []))}
            cells = sorted(self.cells.values(), key=lambda c: order.get((c["pupilId"], c["activityId"]), 1 << 30))
            return {**self.grid, "cells": cells}
