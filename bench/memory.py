"""Scenario 9, the worker half: the peak memory of a worker process draining the queue.

`python -m bench.worker_child` runs glue.worker.run in a subprocess of its own until the queue is
empty; `jobs` pupils are enqueued first, each with a change to recalculate (an override score
toggled by a direct UPDATE). The child reports its own peak resident set and its backend's.
(The backfill backend's peak is measured in scenario 7.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from bench.output import Row, row
from bench.school import School, clear_queue, connect, say, toggle
from glue_tools.paths import ROOT


def run(s: School, *, jobs: int) -> tuple[dict[str, Any], list[Row]]:
    say(f"9. worker process memory: a subprocess drains {jobs} jobs ({s.label})")
    pupils = s.sample_pupils(jobs, "memory")
    probes = s.probes(pupils)
    with connect(s.url) as conn:
        clear_queue(conn)
        toggle(conn, [p.submission_id for p in probes.values()])
        conn.execute("select private.report_enqueue(%s::uuid[], 'bench memory')", (pupils,))
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker_child", s.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"worker subprocess failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    peak_kb = result["self"].get("VmHWM") or result["ru_maxrss_kb"]
    backend_peaks = [b.get("VmHWM", 0) for b in result["backends"]]
    result["school"] = s.label
    result["jobs_enqueued"] = len(pupils)
    rows = [
        row(
            f"9. peak memory, worker process ({s.label})",
            "python worker (glue.worker.run)",
            "",
            "MB",
            None,
            None,
            peak_kb / 1024,
            "VmHWM MB",
            "",
            None,
            f"drained {result['done']} jobs; its Postgres backend peaked at "
            + (f"{max(backend_peaks) / 1024:.0f} MB" if backend_peaks else "(not found)"),
        )
    ]
    return result, rows
