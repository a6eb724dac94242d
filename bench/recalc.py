"""Scenario 4: recalculating one pupil at S against 10S (is its cost independent of the school's size?).

`select private.report_recalculate_pupil(p)` in its own transaction (commit included), the S and 10S
schools alternated call by call, in two modes measured side by side:
- changed: before each call (untimed) one of that pupil's submissions gets a new override score by a
  direct UPDATE, so each recalculation finds a change, writes it and bumps the version (what a job
  does after a write);
- unchanged: the same call again straight after, with nothing to change (it still computes the
  pupil's report live and compares it with the cache, writing nothing).
The flatness ratio is p50 at 10S / p50 at S.
"""

from __future__ import annotations

import time
from typing import Any

from bench.output import Row, row, safe_ratio
from bench.school import School, connect, say, toggle
from bench.stats import Deadline, alternate, ms

RECALC = "select private.report_recalculate_pupil(%s)"


def run(small: School, large: School, *, pupils: int, reps: int, budget_s: float) -> tuple[dict[str, Any], list[Row]]:
    say(f"4. recalculation of one pupil, {small.label} vs {large.label}: {pupils} pupils x {reps} reps each")
    deadline = Deadline(budget_s)
    schools = (small, large)
    conns = {s.label: connect(s.url, application_name="bench-recalc") for s in schools}
    probes = {}
    for s in schools:
        sample = s.sample_pupils(pupils, "recalc")
        found = s.probes(sample)
        probes[s.label] = [found[p] for p in sample if p in found]
    changed_flags: dict[str, list[bool]] = {s.label: [] for s in schools}

    def contender(s: School, changed: bool) -> Any:
        def go(i: int) -> float:
            p = probes[s.label][i % len(probes[s.label])]
            conn = conns[s.label]
            if changed:
                toggle(conn, [p.submission_id])
            started = time.perf_counter()
            result = conn.execute(RECALC, (p.pupil_id,)).fetchone()
            elapsed = time.perf_counter() - started
            if changed and result is not None:
                changed_flags[s.label].append(bool(result[0].get("changed")))
            return elapsed

        return go

    contenders = [contender(small, True), contender(large, True), contender(small, False), contender(large, False)]
    try:
        alternate(contenders, 4)
        for flags in changed_flags.values():
            flags.clear()
        n = min(len(probes[small.label]), len(probes[large.label]))
        samples, cut = alternate(contenders, n * reps, deadline, min_rounds=n)
    finally:
        for conn in conns.values():
            conn.close()
    sc, lc, su, lu = (ms(x) for x in samples)
    flat_changed = safe_ratio(lc.p50, sc.p50)
    flat_unchanged = safe_ratio(lu.p50, su.p50)
    changed_fraction = {k: (sum(v) / len(v) if v else None) for k, v in changed_flags.items()}
    raw: dict[str, Any] = {
        "cut_by_deadline": cut,
        "pupils": {k: len(v) for k, v in probes.items()},
        "work_size": {s.label: s.work_size([p.pupil_id for p in probes[s.label]]) for s in schools},
        "changed_fraction": {k: (sum(v) / len(v) if v else None) for k, v in changed_flags.items()},
        "changed_ms": {small.label: sc, large.label: lc},
        "unchanged_ms": {small.label: su, large.label: lu},
        "flatness_changed_p50": flat_changed,
        "flatness_unchanged_p50": flat_unchanged,
        "samples_ms": {
            f"changed_{small.label}": [x * 1000 for x in samples[0]],
            f"changed_{large.label}": [x * 1000 for x in samples[1]],
            f"unchanged_{small.label}": [x * 1000 for x in samples[2]],
            f"unchanged_{large.label}": [x * 1000 for x in samples[3]],
        },
    }
    changed_note = ", ".join(f"{k}: {100 * v:.0f} % changed" for k, v in changed_fraction.items() if v is not None)
    rows = [
        row(
            "4. recalculate one pupil, with a change",
            f"at {small.label}",
            f"at {large.label}",
            "ms",
            sc,
            lc,
            flat_changed,
            "B/A p50",
            "within 30 % (≤ 1.3)",
            flat_changed is not None and flat_changed <= 1.3,
            f"override toggled by a direct UPDATE before each call ({changed_note})",
        ),
        row(
            "4. recalculate one pupil, no change",
            f"at {small.label}",
            f"at {large.label}",
            "ms",
            su,
            lu,
            flat_unchanged,
            "B/A p50",
            "within 30 % (≤ 1.3)",
            flat_unchanged is not None and flat_unchanged <= 1.3,
        ),
    ]
    return raw, rows
