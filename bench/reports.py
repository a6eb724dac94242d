"""Scenarios 2 and 3: the report pages read from the cache against the same figures computed live.

Both contenders run as service_role on one connection each, one statement per round trip, and
bring their whole result to the client as text (nothing parsed), so the comparison is what the
database and the wire cost.

2. pupil report: `public.report_pupil(p)` against the live computation of the same pupil, as the
   SQL live functions give it: `private.live_report_rows(array[p])` (cells, criterion and unit rows)
   then `private.live_subject_rows(array[p])` (subject rows; it computes the unit rows again).
   At S and at 10S, the four contenders interleaved. The floor beside them: the same page prebuilt
   (report_pupil's output stored in a scratch table before the run) fetched by its key, which is
   what any read of an 80 kB document costs; report_pupil should be a small multiple of it.
3. group report: `public.report_group(g)` for a class of 25-30 pupils against live, in two forms:
   the live unit rows of its pupils for the class's units only (`private.live_report_rows(pupils,
   lessons of the class's units)`, kind 'unit': exactly the rows the page shows), and
   `private.live_unit_rows(pupils)` (every unit of those pupils, what a page without the lesson
   filter would compute). And the floor, as for the pupil page: report_group's output prebuilt in
   a scratch table and fetched by key.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from bench.output import Row, row, safe_ratio
from bench.school import School, connect, say
from bench.stats import Deadline, alternate, ms

LIVE_PUPIL_ROWS = (
    "select kind, cell::text, criterion::text, unit::text from private.live_report_rows(array[%s]::uuid[])"
)
LIVE_PUPIL_SUBJECTS = "select s::text from private.live_subject_rows(array[%s]::uuid[]) as s"
CACHED_PUPIL = "select public.report_pupil(%s)::text"
CACHED_GROUP = "select public.report_group(%s)::text"
PREBUILT = "select page::text from bench_prebuilt_pages where page_key = %s"
FLOOR_TARGET = 2.0  # "a small multiple" of the prebuilt page's fetch
PUPIL_FLOOR_TARGET = 1.5  # report_pupil against its page prebuilt (replaces "50x the live computation")
GROUP_LESSONS = """
select array_agg(distinct l2.lesson_id)
from public.lesson_assignments as la
join public.lessons as l on l.lesson_id = la.lesson_id
join public.lessons as l2 on l2.unit_id = l.unit_id
where la.group_id = %s
"""
LIVE_GROUP_UNITS = "select unit::text from private.live_report_rows(%s::uuid[], %s::uuid[]) where kind = 'unit'"
LIVE_ALL_UNITS = "select u::text from private.live_unit_rows(%s::uuid[]) as u"


def _fetch(conn: psycopg.Connection, query: str, params: tuple[Any, ...]) -> int:
    return len(conn.execute(query, params).fetchall())


def _prebuild(url: str, query: str, keys: list[str]) -> None:
    """The floor's table: each key's page as the cached read returns it, stored as json (a table
    readable by service_role, emptied first; the page is TOASTed as a stored document is)."""
    with connect(url) as conn:
        conn.execute("create table if not exists bench_prebuilt_pages (page_key text primary key, page json not null)")
        conn.execute("grant select on bench_prebuilt_pages to service_role")
        conn.execute("truncate bench_prebuilt_pages")
        for key in keys:
            page = conn.execute(query, (key,)).fetchone()
            conn.execute("insert into bench_prebuilt_pages values (%s, %s::json)", (key, page[0] if page else None))
        conn.execute("vacuum analyze bench_prebuilt_pages")


def _floor_row(name: str, read: str, cached: Any, floor: Any, target: float = FLOOR_TARGET) -> Row:
    ratio = safe_ratio(cached.p50, floor.p50)
    return row(
        name,
        read,
        "the same page prebuilt, fetched by key",
        "ms",
        cached,
        floor,
        ratio,
        "A/B p50",
        f"≤ {target:g}× (a small multiple)",
        ratio is not None and ratio <= target,
    )


def pupil_report(schools: list[School], *, pupils: int, reps: int, budget_s: float) -> tuple[dict[str, Any], list[Row]]:
    say(f"2. pupil report, cached vs live: {pupils} pupils x {reps} reps at {', '.join(s.label for s in schools)}")
    deadline = Deadline(budget_s)
    conns = {s.label: connect(s.url, role="service_role") for s in schools}
    samples_of = {s.label: s.sample_pupils(pupils, "pupil-report") for s in schools}
    live_parts: dict[str, list[tuple[float, float]]] = {s.label: [] for s in schools}
    sizes: dict[str, list[int]] = {s.label: [] for s in schools}

    def cached(s: School) -> Any:
        def go(i: int) -> float:
            p = samples_of[s.label][i % len(samples_of[s.label])]
            started = time.perf_counter()
            text = conns[s.label].execute(CACHED_PUPIL, (p,)).fetchone()
            elapsed = time.perf_counter() - started
            sizes[s.label].append(len(text[0]) if text and text[0] else 0)
            return elapsed

        return go

    def live(s: School) -> Any:
        def go(i: int) -> float:
            p = samples_of[s.label][i % len(samples_of[s.label])]
            conn = conns[s.label]
            started = time.perf_counter()
            _fetch(conn, LIVE_PUPIL_ROWS, (p,))
            middle = time.perf_counter()
            _fetch(conn, LIVE_PUPIL_SUBJECTS, (p,))
            ended = time.perf_counter()
            live_parts[s.label].append((middle - started, ended - middle))
            return ended - started

        return go

    def prebuilt(s: School) -> Any:
        def go(i: int) -> float:
            p = samples_of[s.label][i % len(samples_of[s.label])]
            started = time.perf_counter()
            conns[s.label].execute(PREBUILT, (p,)).fetchone()
            return time.perf_counter() - started

        return go

    for s in schools:
        _prebuild(s.url, CACHED_PUPIL, [str(p) for p in samples_of[s.label]])
    contenders = []
    for s in schools:
        contenders += [cached(s), live(s), prebuilt(s)]
    try:
        alternate(contenders, 5)  # warm-up: plans, caches
        for parts in live_parts.values():
            parts.clear()
        for sz in sizes.values():
            sz.clear()
        samples, cut = alternate(contenders, pupils * reps, deadline, min_rounds=pupils)
    finally:
        for conn in conns.values():
            conn.close()
    raw: dict[str, Any] = {"pupils": pupils, "cut_by_deadline": cut}
    rows: list[Row] = []
    for k, s in enumerate(schools):
        c, lv, floor = ms(samples[3 * k]), ms(samples[3 * k + 1]), ms(samples[3 * k + 2])
        first = ms([a for a, _ in live_parts[s.label]])
        second = ms([b for _, b in live_parts[s.label]])
        speedup = safe_ratio(lv.p50, c.p50)
        raw[s.label] = {
            "cached_ms": c,
            "live_ms": lv,
            "prebuilt_ms": floor,
            "live_report_rows_ms": first,
            "live_subject_rows_ms": second,
            "speedup_p50": speedup,
            "speedup_p95": safe_ratio(lv.p95, c.p95),
            "speedup_vs_live_report_rows_only_p50": safe_ratio(first.p50, c.p50),
            "report_json_chars_p50": sorted(sizes[s.label])[len(sizes[s.label]) // 2] if sizes[s.label] else 0,
            "work_size": s.work_size(samples_of[s.label]),
            "samples_ms": {
                "cached": [x * 1000 for x in samples[3 * k]],
                "live": [x * 1000 for x in samples[3 * k + 1]],
                "prebuilt": [x * 1000 for x in samples[3 * k + 2]],
            },
        }
        rows.append(
            row(
                f"2. pupil report ({s.label})",
                "report_pupil (cache)",
                "live_report_rows + live_subject_rows",
                "ms",
                c,
                lv,
                speedup,
                "B/A p50",
                "",
                None,
                "no target: the floor row below replaced '≥ 50×', which the floor itself does not reach; "
                f"live_report_rows alone p50 {first.p50:.1f} ms (B/A {safe_ratio(first.p50, c.p50) or 0:.1f}×); "
                f"{c.n} reads each",
            )
        )
        rows.append(
            _floor_row(f"2. pupil report, floor ({s.label})", "report_pupil (cache)", c, floor, PUPIL_FLOOR_TARGET)
        )
    return raw, rows


def group_report(s: School, *, groups: int, reps: int, budget_s: float) -> tuple[dict[str, Any], list[Row]]:
    say(f"3. group report, cached vs live: {groups} classes of 25-30 x {reps} reps ({s.label})")
    deadline = Deadline(budget_s)
    chosen = s.classes(25, 30, groups, "group-report")
    conn = connect(s.url, role="service_role")
    lessons: dict[str, list[Any]] = {}
    for g, _ in chosen:
        found = conn.execute(GROUP_LESSONS, (g,)).fetchone()
        lessons[g] = list(found[0]) if found and found[0] else []

    def cached(i: int) -> float:
        g, _ = chosen[i % len(chosen)]
        started = time.perf_counter()
        conn.execute(CACHED_GROUP, (g,)).fetchone()
        return time.perf_counter() - started

    def live_units_of_class(i: int) -> float:
        g, pupils = chosen[i % len(chosen)]
        started = time.perf_counter()
        _fetch(conn, LIVE_GROUP_UNITS, (pupils, lessons[g]))
        return time.perf_counter() - started

    def live_all_units(i: int) -> float:
        _g, pupils = chosen[i % len(chosen)]
        started = time.perf_counter()
        _fetch(conn, LIVE_ALL_UNITS, (pupils,))
        return time.perf_counter() - started

    def prebuilt(i: int) -> float:
        g, _ = chosen[i % len(chosen)]
        started = time.perf_counter()
        conn.execute(PREBUILT, (g,)).fetchone()
        return time.perf_counter() - started

    _prebuild(s.url, CACHED_GROUP, [g for g, _ in chosen])
    contenders = [cached, live_units_of_class, live_all_units, prebuilt]
    try:
        alternate(contenders, 2)
        samples, cut = alternate(contenders, len(chosen) * reps, deadline, min_rounds=len(chosen))
    finally:
        conn.close()
    c, lc, la, floor = (ms(x) for x in samples)
    r1 = safe_ratio(lc.p50, c.p50)
    r2 = safe_ratio(la.p50, c.p50)
    raw = {
        "school": s.label,
        "classes": [(g, len(p)) for g, p in chosen],
        "cut_by_deadline": cut,
        "cached_ms": c,
        "live_class_units_ms": lc,
        "live_all_units_ms": la,
        "prebuilt_ms": floor,
        "speedup_class_units_p50": r1,
        "speedup_all_units_p50": r2,
        "samples_ms": {
            "cached": [x * 1000 for x in samples[0]],
            "live_class_units": [x * 1000 for x in samples[1]],
            "live_all_units": [x * 1000 for x in samples[2]],
            "prebuilt": [x * 1000 for x in samples[3]],
        },
    }
    rows = [
        row(
            f"3. group report ({s.label})",
            "report_group (cache)",
            "live_report_rows(pupils, the class's lessons), unit rows",
            "ms",
            c,
            lc,
            r1,
            "B/A p50",
            "cache ≥ 50× faster",
            r1 is not None and r1 >= 50,
            f"{len(chosen)} classes of {min(len(p) for _, p in chosen)}-{max(len(p) for _, p in chosen)} pupils, "
            f"{c.n} reads each",
        ),
        row(
            f"3. group report, all units ({s.label})",
            "report_group (cache)",
            "live_unit_rows(pupils): every unit of the class's pupils",
            "ms",
            c,
            la,
            r2,
            "B/A p50",
            "cache ≥ 50× faster",
            r2 is not None and r2 >= 50,
        ),
        _floor_row(f"3. group report, floor ({s.label})", "report_group (cache)", c, floor),
    ]
    return raw, rows
