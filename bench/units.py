"""Scenario 11: per-unit recalculation. What one write costs to make fresh, against the whole pupil.

Every figure is a recalculation that finds a change: before each call (untimed) the pupil's probe
submission gets a new override score by a direct UPDATE (bench.school.toggle), as a write would.

- one write: `private.report_recalculate_pupil(p, array[u])` (the job a write enqueues: the written
  activity's unit u) against `private.report_recalculate_pupil(p)` (every unit of the pupil, what a
  job was before per-unit jobs and what a membership change still costs), the same pupils,
  alternated call by call. Target: the unit job at most 0.2 of the whole pupil.
- five years of history: a pupil built for the benchmark with five times the work (member of the
  classes of five pupils, one per year 7-11, with copies of their submissions and marks) against the
  year-7 pupil whose classes it shares, the same unit job on the same unit. Target: at most 1.3.
- drain: rounds of one-unit jobs (a toggled probe and an enqueue with its unit per pupil), drained by
  one worker (glue.worker.run until the queue is empty); jobs per second. Target: at least 250.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from bench.jobqueue import Workers
from bench.output import Row, row, safe_ratio
from bench.school import Probe, School, clear_queue, connect, say, toggle
from bench.stats import Deadline, alternate, ms, summarise

UNIT_JOB = "select private.report_recalculate_pupil(%s, array[%s]::uuid[])"
PUPIL_JOB = "select private.report_recalculate_pupil(%s)"
ENQUEUE_UNIT = "select private.report_enqueue(array[%s]::uuid[], 'bench', array[%s]::uuid[])"
UNIT_OF = """
select a.activity_id::text, l.unit_id::text
from public.activities as a join public.lessons as l on l.lesson_id = a.lesson_id
where a.activity_id = any(%s::uuid[])
"""

# The five-year pupil: a profile in the classes of the source pupils, with copies of their work.
FIVE_YEARS = """
with new_user as (
  insert into auth.users (id, email) values (%(id)s, %(email)s) returning id
),
profile as (
  insert into public.profiles (user_id, first_name, last_name, email, is_teacher)
  select id, 'Five', 'Years', %(email)s, false from new_user
  returning user_id
),
membership as (
  insert into public.group_membership (group_id, user_id, role)
  select distinct gm.group_id, p.user_id, 'pupil'
  from public.group_membership as gm cross join profile as p
  where gm.user_id = any(%(sources)s::uuid[]) and gm.role = 'pupil'
  returning 1
)
select (select count(*) from membership)
"""
COPY_WORK = (
    """
    create temporary table five_years_map on commit drop as
    select s.submission_id as old_id, gen_random_uuid() as new_id
    from public.submissions as s where s.user_id = any(%(sources)s::uuid[])
    """,
    """
    insert into public.submissions
    select (jsonb_populate_record(
      null::public.submissions,
      to_jsonb(s) || jsonb_build_object('submission_id', m.new_id, 'user_id', %(id)s::uuid,
        'revision', nextval('public.submissions_revision_seq'))
    )).*
    from public.submissions as s join five_years_map as m on m.old_id = s.submission_id
    """,
    """
    insert into public.submission_criterion_scores
    select (jsonb_populate_record(
      null::public.submission_criterion_scores, to_jsonb(c) || jsonb_build_object('submission_id', m.new_id)
    )).*
    from public.submission_criterion_scores as c join five_years_map as m on m.old_id = c.submission_id
    """,
)


def _units_of(conn: psycopg.Connection, probes: list[Probe]) -> dict[str, str]:
    rows = conn.execute(UNIT_OF, ([p.activity_id for p in probes],)).fetchall()
    return {a: u for a, u in rows}


def _five_year_pupil(s: School, conn: psycopg.Connection) -> tuple[Probe, Probe, str, dict[str, Any]]:
    """Build the five-year pupil; return the year-7 pupil's probe, the five-year pupil's copy of
    it, their shared unit, and the sizes of both pupils' work."""
    sources = [
        str(r[0])
        for r in conn.execute(
            """
            select distinct on (u.year) gm.user_id
            from public.group_membership as gm
            join public.lesson_assignments as la on la.group_id = gm.group_id
            join public.lessons as l on l.lesson_id = la.lesson_id
            join public.units as u on u.unit_id = l.unit_id
            where gm.role = 'pupil' and u.year between 7 and 11
            order by u.year, md5(gm.user_id::text)
            """
        ).fetchall()
    ]
    base = sources[0]
    probe = s.probes([base])[base]
    new_id = conn.execute("select gen_random_uuid()::text").fetchone()
    assert new_id is not None
    pupil = str(new_id[0])
    params = {"id": pupil, "email": f"five.years.{pupil[:8]}@bench.test", "sources": sources}
    with conn.transaction():
        conn.execute(FIVE_YEARS, params)
        for statement in COPY_WORK:
            conn.execute(statement, params)
    conn.execute(PUPIL_JOB, (pupil,))
    copy = conn.execute(
        "select submission_id::text from public.submissions where user_id = %s and activity_id = %s",
        (pupil, probe.activity_id),
    ).fetchone()
    assert copy is not None
    five = Probe(pupil, probe.teacher_id, probe.activity_id, str(copy[0]))
    unit = _units_of(conn, [probe])[probe.activity_id]
    sizes = conn.execute(
        """
        select p.id, (select count(*) from public.submissions as s where s.user_id = p.id),
          (select count(*) from public.report_pupil_unit_summaries as u where u.pupil_id = p.id)
        from unnest(array[%s, %s]::uuid[]) as p (id)
        """,
        (base, pupil),
    ).fetchall()
    work = {str(r[0]): {"submissions": int(r[1]), "units": int(r[2])} for r in sizes}
    return probe, five, unit, {"sources": sources, "base": work.get(base), "five_years": work.get(pupil)}


def run(
    s: School, *, pupils: int, reps: int, drain_set: int, drain_rounds: int, budget_s: float
) -> tuple[dict[str, Any], list[Row]]:
    say(f"11. per-unit recalculation ({s.label}): {pupils} pupils x {reps} reps; drains of {drain_set} one-unit jobs")
    deadline = Deadline(budget_s)
    conn = connect(s.url, application_name="bench-units")
    sample = s.sample_pupils(pupils, "units")
    found = s.probes(sample)
    probes = [found[p] for p in sample if p in found]
    units = _units_of(conn, probes)

    # One write: the unit job against the whole pupil, the same pupils.
    def job(whole: bool) -> Any:
        def go(i: int) -> float:
            p = probes[i % len(probes)]
            toggle(conn, [p.submission_id])
            started = time.perf_counter()
            if whole:
                conn.execute(PUPIL_JOB, (p.pupil_id,))
            else:
                conn.execute(UNIT_JOB, (p.pupil_id, units[p.activity_id]))
            return time.perf_counter() - started

        return go

    alternate([job(False), job(True)], 4)
    one_write, cut_1 = alternate([job(False), job(True)], len(probes) * reps, deadline, min_rounds=len(probes))
    unit_ms, whole_ms = ms(one_write[0]), ms(one_write[1])
    ratio_unit = safe_ratio(unit_ms.p50, whole_ms.p50)

    # Five years of history against one.
    base, five, unit, history = _five_year_pupil(s, conn)

    def history_job(p: Probe, whole: bool) -> Any:
        def go(_i: int) -> float:
            toggle(conn, [p.submission_id])
            started = time.perf_counter()
            if whole:
                conn.execute(PUPIL_JOB, (p.pupil_id,))
            else:
                conn.execute(UNIT_JOB, (p.pupil_id, unit))
            return time.perf_counter() - started

        return go

    contenders = [history_job(base, False), history_job(five, False), history_job(base, True), history_job(five, True)]
    alternate(contenders, 4)
    hist, cut_2 = alternate(contenders, max(pupils * reps, 40), deadline, min_rounds=20)
    h_unit_1, h_unit_5, h_whole_1, h_whole_5 = (ms(x) for x in hist)
    ratio_history = safe_ratio(h_unit_5.p50, h_unit_1.p50)
    ratio_history_whole = safe_ratio(h_whole_5.p50, h_whole_1.p50)

    # Drain throughput of one-unit jobs, one worker.
    drain_pupils = s.sample_pupils(drain_set * drain_rounds, "units-drain")
    drain_found = s.probes(drain_pupils)
    drain_probes = [drain_found[p] for p in drain_pupils if p in drain_found]
    drain_units = _units_of(conn, drain_probes)
    sets = [drain_probes[i * drain_set : (i + 1) * drain_set] for i in range(drain_rounds)]
    sets = [x for x in sets if x]
    one = Workers(s.url, 1)
    done: list[int] = []

    def drain(r: int) -> float:
        chosen = sets[r % len(sets)]
        clear_queue(conn)
        toggle(conn, [p.submission_id for p in chosen])
        with conn.transaction():
            for p in chosen:
                conn.execute(ENQUEUE_UNIT, (p.pupil_id, drain_units[p.activity_id]))
        elapsed, n = one.drain()
        done.append(n)
        return n / elapsed if elapsed > 0 else 0.0

    try:
        drain(0)  # warm-up: plans and connections
        rates, cut_3 = alternate([drain], len(sets), deadline, min_rounds=1)
    finally:
        one.close()
        conn.close()
    rate = summarise(rates[0])

    raw = {
        "school": s.label,
        "cut_by_deadline": cut_1 or cut_2 or cut_3,
        "unit_job_ms": unit_ms,
        "whole_pupil_job_ms": whole_ms,
        "unit_over_whole_p50": ratio_unit,
        "history": history,
        "five_years_unit_job_ms": h_unit_5,
        "one_year_unit_job_ms": h_unit_1,
        "five_years_whole_job_ms": h_whole_5,
        "one_year_whole_job_ms": h_whole_1,
        "history_unit_ratio_p50": ratio_history,
        "history_whole_ratio_p50": ratio_history_whole,
        "drain_jobs_per_s": rate,
        "drain_jobs_done": done,
        "samples_ms": {
            "unit": [x * 1000 for x in one_write[0]],
            "whole": [x * 1000 for x in one_write[1]],
        },
    }
    rows = [
        row(
            "11. recalculation after one write",
            "the written unit (report_recalculate_pupil(p, array[u]))",
            "every unit of the pupil (report_recalculate_pupil(p))",
            "ms",
            unit_ms,
            whole_ms,
            ratio_unit,
            "A/B p50",
            "≤ 0.2",
            ratio_unit is not None and ratio_unit <= 0.2,
            f"{unit_ms.n} recalculations each, every one with a change",
        ),
        row(
            "11. one write's recalculation, 5× history",
            "pupil with one year of work",
            "pupil with five years (5 classes' work)",
            "ms",
            h_unit_1,
            h_unit_5,
            ratio_history,
            "B/A p50",
            "≤ 1.3",
            ratio_history is not None and ratio_history <= 1.3,
            f"the whole pupil: {h_whole_1.p50:.1f} vs {h_whole_5.p50:.1f} ms (B/A {ratio_history_whole or 0:.2f}); "
            f"work {history['base']} vs {history['five_years']}",
        ),
        row(
            "11. drain, one-unit jobs",
            "1 worker",
            "–",
            "jobs/s",
            rate,
            None,
            None,
            "",
            "≥ 250 jobs/s",
            rate.p50 >= 250,
            f"{len(rates[0])} rounds of {drain_set} jobs, each a one-unit recalculation with a change",
        ),
    ]
    return raw, rows
