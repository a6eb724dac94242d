"""Scenario 10: every RPC a signed-in user can call, at its worst case in the school S, against the
statement timeout its role runs under on Supabase (authenticated: 8 s; PostgREST cancels the call
past it). Calls go through glue.rpc.PgRpc, which applies the role's timeouts as PostgREST does.

The worst cases: the largest class and its lesson with the most activities, the pupil with the most
work, a whole class's AI marks in one batch, and the structural writes that enqueue the most pupils
(a unit's year changed, a lesson assigned to a class). Each RPC is called `reps` times; the row
reports the slowest call as a fraction of the budget. Target: at most a tenth of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.output import Row, row
from bench.school import School, connect, say
from bench.stats import ms
from glue.rpc import PgRpc

BUDGET_S = 8.0  # authenticated's statement_timeout on Supabase (platform/shim.sql, docs/platform.md)
TARGET = 0.1

_FIXTURE = """
with biggest as (
  select gm.group_id, g.subject, count(*) as pupils
  from public.group_membership as gm
  join public.groups as g on g.group_id = gm.group_id
  where gm.role = 'pupil'
  group by gm.group_id, g.subject
  order by count(*) desc, gm.group_id
  limit 1
)
select
  b.group_id,
  (select t.user_id::text from public.group_membership as t where t.group_id = b.group_id and t.role = 'teacher'
   order by t.user_id limit 1),
  (select la.lesson_id::text from public.lesson_assignments as la
   where la.group_id = b.group_id
   order by (select count(*) from public.activities as a where a.lesson_id = la.lesson_id) desc, la.lesson_id
   limit 1),
  (select gm.user_id::text from public.group_membership as gm
   where gm.group_id = b.group_id and gm.role = 'pupil'
   order by (select count(*) from public.submissions as s where s.user_id = gm.user_id) desc, gm.user_id
   limit 1),
  (select l.lesson_id::text from public.lessons as l join public.units as u on u.unit_id = l.unit_id
   where u.subject = b.subject
     and not exists (
       select from public.lesson_assignments as la where la.group_id = b.group_id and la.lesson_id = l.lesson_id
     )
   order by l.lesson_id limit 1),
  (select u.unit_id::text from public.units as u
   where u.subject = b.subject
   order by (select count(*) from public.lessons as l join public.lesson_assignments as la on la.lesson_id = l.lesson_id
             where l.unit_id = u.unit_id) desc, u.unit_id
   limit 1),
  b.pupils
from biggest as b
"""

# A scorable activity of the lesson (to mark), and a text activity assigned to the pupil (to answer).
_ACTIVITIES = """
select
  (select a.activity_id::text
   from public.activities as a join public.activity_types as t on t.type = a.type
   where a.lesson_id = %s and t.scorable and a.active order by a.order_by, a.activity_id limit 1),
  (select a.activity_id::text
   from public.activities as a join public.activity_types as t on t.type = a.type
   join public.lesson_assignments as la on la.lesson_id = a.lesson_id
   join public.group_membership as gm on gm.group_id = la.group_id and gm.user_id = %s and gm.role = 'pupil'
   where t.answer_kind = 'text' and a.active order by a.activity_id limit 1)
"""


def run(s: School, *, reps: int, budget_s: float) -> tuple[dict[str, Any], list[Row]]:
    started = time.monotonic()
    with connect(s.url) as conn:
        fixture = conn.execute(_FIXTURE).fetchone()
        assert fixture is not None, "the school has no class"
        group, teacher, lesson, pupil, free_lesson, unit, class_size = fixture
        found = conn.execute(_ACTIVITIES, (lesson, pupil)).fetchone()
        assert found is not None
        activity, text_activity = found
        pupils = [
            r[0]
            for r in conn.execute(
                "select user_id::text from public.group_membership where group_id = %s and role = 'pupil'", (group,)
            ).fetchall()
        ]
        year = conn.execute("select year from public.units where unit_id = %s", (unit,)).fetchone()
    assert year is not None
    service = PgRpc(s.url, max_size=2)
    as_teacher = service.as_user(teacher)
    as_pupil = service.as_user(pupil)
    assignment = f"{group}__{lesson}"
    ai_batch = [{"pupil_id": p, "score": 0.5, "feedback": "Clear and complete."} for p in pupils]
    flip = {"year": year[0]}

    def units_update() -> None:
        flip["year"] = 9 if flip["year"] != 9 else 10
        as_teacher.call("units_update", {"unit_id": unit, "year": flip["year"]})

    def assign_and_unassign() -> None:
        as_teacher.call("lessons_assign", {"group_id": group, "lesson_id": free_lesson})
        as_teacher.call("lessons_unassign", {"group_id": group, "lesson_id": free_lesson})

    calls: list[tuple[str, str, Callable[[], Any]]] = [
        ("teacher", "read_assignment_results", lambda: as_teacher.call(
            "read_assignment_results", {"group_id": group, "lesson_id": lesson})),
        ("teacher", "report_group", lambda: as_teacher.call("report_group", {"group_id": group})),
        ("teacher", "report_pupil", lambda: as_teacher.call("report_pupil", {"pupil_id": pupil})),
        ("teacher", "results_save_feedback", lambda: as_teacher.call(
            "results_save_feedback", {"activity_id": activity, "pupil_id": pupil, "override_score": 0.5})),
        ("teacher", f"results_apply_ai_marks ({len(ai_batch)} pupils)", lambda: as_teacher.call(
            "results_apply_ai_marks",
            {"group_assignment_id": assignment, "activity_id": activity, "results": ai_batch})),
        ("teacher", "results_clear_ai_marks", lambda: as_teacher.call(
            "results_clear_ai_marks", {"group_assignment_id": assignment, "activity_id": activity})),
        ("teacher", "lessons_assign + lessons_unassign", assign_and_unassign),
        ("teacher", "units_update (year: every pupil with it assigned)", units_update),
        ("pupil", "submissions_submit_answer", lambda: as_pupil.call(
            "submissions_submit_answer", {"activity_id": text_activity, "text": f"answer {time.monotonic()}"})),
        ("pupil", "report_pupil (own, most work)", lambda: as_pupil.call("report_pupil", {"pupil_id": pupil})),
        ("pupil", "report_process_pupil (own)", lambda: as_pupil.call("report_process_pupil", {"pupil_id": pupil})),
    ]  # fmt: skip
    samples: dict[str, list[float]] = {name: [] for _, name, _ in calls}
    try:
        for rep in range(reps):
            if time.monotonic() - started > budget_s:
                say(f"scenario 10: stopped after {rep} rounds (budget)")
                break
            for _, name, fn in calls:
                t0 = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - t0)
    finally:
        service.close()
    rows: list[Row] = []
    raw: dict[str, Any] = {"class_size": class_size, "budget_s": BUDGET_S, "calls": {}}
    for i, (who, name, _) in enumerate(calls):
        summary = ms(samples[name])
        ratio = summary.max / (BUDGET_S * 1000.0)
        raw["calls"][name] = {"caller": who, **summary.as_dict(), "fraction_of_budget": ratio}
        rows.append(
            row(
                "10",
                f"{name} as {who}",
                "",
                "ms",
                summary,
                None,
                ratio,
                "max/8 s",
                f"<= {TARGET}",
                ratio <= TARGET,
                f"the largest class: {class_size} pupils" if i == 0 else "",
            )
        )
    return raw, rows
