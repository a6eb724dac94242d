"""The batched backfill of every pupil's cached report, with a progress bar.

One batch per transaction (private.report_backfill_step), so an interrupted run loses at most one
batch and the next `glue backfill` resumes it (private.report_backfill_start picks up the unfinished
run). It needs a direct database connection as the owner: the functions are private, not RPCs.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from glue_tools.progress import bar as progress_bar


def run(url: str, *, batch_size: int = 50, show_progress: bool = True) -> dict[str, Any]:
    """Backfill every pupil; returns the run's final progress and the elapsed seconds."""
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True, application_name="glue-backfill") as conn:
        row = conn.execute("select private.report_backfill_start(%s)", (batch_size,)).fetchone()
        assert row is not None
        run_id = int(row[0])
        step = _step(conn, run_id)
        total, done = int(step["pupils_total"]), int(step["pupils_done"])
        with progress_bar("backfill", total, "pupils", shown=show_progress, initial=done) as bar:
            while not step["finished"]:
                step = _step(conn, run_id)
                bar.update(int(step["pupils_done"]) - bar.n)
    return {**step, "elapsed_s": round(time.monotonic() - started, 2)}


def _step(conn: psycopg.Connection, run_id: int) -> dict[str, Any]:
    row = conn.execute("select private.report_backfill_step(%s)", (run_id,)).fetchone()
    assert row is not None
    result: dict[str, Any] = row[0]
    return result
