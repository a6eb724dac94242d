"""`glue watch GROUP LESSON`: the results grid in the terminal, updated live as broadcasts arrive.

Cells show the score (as a percentage), `..` awaiting marking, `--` untouched (counts as 0);
a trailing `*` marks a cell patched from a broadcast since the last full read. Row and column means
are recomputed after each patch as the database computes them, and the whole grid is re-read every
30 s. Ctrl-C stops. With RESULTS_REALTIME_ENABLED=false it polls instead of subscribing.
"""

from __future__ import annotations

import queue
import sys
import time
from typing import Any, TextIO

from glue.realtime import BroadcastEvent, ResultsMatrix, realtime_enabled, subscribe
from glue.rpc import RpcClient
from glue_tools.render import pct


def _cell_text(cell: dict[str, Any]) -> str:
    if not cell:
        return ""
    if cell.get("state") == "untouched":
        return "--"
    if cell.get("state") == "awaiting_marking":
        return ".."
    return pct(cell.get("score"))


def draw(
    matrix: ResultsMatrix, status: str, stream: TextIO = sys.stdout, patched: set[tuple[str, str]] | None = None
) -> None:
    grid = matrix.snapshot()
    patched = patched or set()
    activities = grid.get("activities", [])
    width = 9
    out = []
    if stream.isatty():
        out.append("\x1b[2J\x1b[H")
    out.append(f"{grid.get('assignmentId')}  {grid.get('lessonTitle', '')}  [{status}]")
    out.append(
        f"{'pupil':<26}"
        + "".join(f"{str(a['title'])[: width - 1]:>{width}}" for a in activities)
        + f"{'mean':>{width}}"
    )
    for pupil in grid.get("pupils", []):
        pid = pupil["pupilId"]
        cells = []
        for a in activities:
            key = (pid, a["activityId"])
            text = _cell_text(matrix.cell(*key)) + ("*" if key in patched else "")
            cells.append(f"{text:>{width}}")
        name = f"{pupil['lastName']}, {pupil['firstName']}"[:25]
        mean = pct((grid.get("rowMeans") or {}).get(pid))
        out.append(f"{name:<26}" + "".join(cells) + f"{mean:>{width}}")
    means = grid.get("columnMeans") or {}
    out.append(f"{'mean':<26}" + "".join(f"{pct(means.get(a['activityId'])):>{width}}" for a in activities))
    stream.write("\n".join(out) + "\n")
    stream.flush()


def run(
    client: RpcClient,
    group_id: str,
    lesson_id: str,
    *,
    dsn: str | None = None,
    user_id: str | None = None,
    once: bool = False,
    refresh_s: float = 2.0,
    max_seconds: float | None = None,
    connect_timeout_s: float = 5.0,
    resync_s: float = 30.0,
) -> int:
    matrix = ResultsMatrix(client, group_id, lesson_id)
    matrix.load()
    if once:
        draw(matrix, "snapshot")
        return 0
    events: queue.Queue[BroadcastEvent] = queue.Queue()
    sub = subscribe(group_id, lesson_id, events.put, dsn=dsn, user_id=user_id)
    live = realtime_enabled()
    if live and sub.connected.wait(connect_timeout_s):
        matrix.load()  # the writes made before the subscription listened are in this read
    patched: set[tuple[str, str]] = set()
    started = loaded = time.monotonic()
    last_event = "waiting for changes"
    try:
        draw(matrix, "live" if live else "polling (realtime disabled)")
        while max_seconds is None or time.monotonic() - started < max_seconds:
            try:
                event = events.get(timeout=refresh_s)
            except queue.Empty:
                # Polling without realtime; while live, a periodic full read picks up what is not
                # broadcast (membership, assignments, curriculum) and what was lost.
                if not live or time.monotonic() - loaded >= resync_s:
                    matrix.load()
                    loaded = time.monotonic()
                    patched.clear()
                    draw(matrix, ("live" if live else "polling") + f"; {last_event}")
                continue
            outcome = matrix.apply(event)
            matrix.settle()
            if outcome == "refetched all":
                patched.clear()
                loaded = time.monotonic()
            elif outcome == "patched":
                patched.add((str(event.payload.get("pupilId")), str(event.payload.get("activityId"))))
            last_event = f"{event.event}: {outcome}"
            state = "live" if sub.connected.is_set() else "reconnecting"
            draw(matrix, f"{state}; {last_event}", patched=patched)
    except KeyboardInterrupt:
        pass
    finally:
        sub.close()
    return 0
