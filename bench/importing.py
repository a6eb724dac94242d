"""Scenario 12: importing a school from the planner's own shape, against the backfill alone.

The planner's database is the S school rewritten in SQL into the planner's shape, in schema
`legacy` of the S database (untimed): text ids, unit codes (UNIT-0001, ...), one class code in ten
with spaces instead of dashes, display-text as `text`, answer keys inside body_data, every score
inside submissions.body (is_correct, ai_model_score, teacher_override_score, success_criteria_scores),
a superseded earlier attempt for one answer in four, and a feedback-log row for one AI mark in ten.
The target is a freshly migrated scratch database. Side by side in one run:
- A: `glue import planner` as the command runs it (glue_tools.importer.run): copy (COPY out of the
  planner's database into the scratch schema), map (private.import_planner, one transaction), then
  the batched backfill (glue_tools.backfill, batches of 50);
- B: the batched backfill alone, on the same imported school after emptying its cache, with the
  planner statistics A's backfill had (autovacuum is off on the target's tables for the scenario,
  so that neither run meets an ANALYZE the other did not).
Target: A / B ≤ 2.
"""

from __future__ import annotations

import time
from typing import Any

from bench.output import Row, row, safe_ratio
from bench.school import School, connect, say
from bench.stats import summarise
from glue_tools import backfill, importer
from glue_tools.localdb import scratch_database
from glue_tools.supabase_cli import push

# The S school in the planner's shape (see the module docstring). Ids stay the same where the
# planner's were uuids, so that the imported school can be compared with S row by row.
LEGACY_SQL = """
drop schema if exists legacy cascade;
create schema legacy;
create table legacy.group_ids as
select g.group_id as id,
  case when row_number() over (order by g.group_id) % 10 = 0 then replace(g.group_id, '-', ' ') else g.group_id end
    as legacy_id
from public.groups as g;
create table legacy.unit_ids as
select u.unit_id as id, 'UNIT-' || lpad((row_number() over (order by u.unit_id))::text, 4, '0') as legacy_id
from public.units as u;
create table legacy.profiles as
select p.user_id::text as user_id, p.first_name, p.last_name, p.is_teacher, p.email from public.profiles as p;
create table legacy.subjects as select s.subject, s.active from public.subjects as s;
create table legacy.groups as
select m.legacy_id as group_id, now() as created_at, g.join_code, g.subject, g.active
from public.groups as g inner join legacy.group_ids as m on g.group_id = m.id;
create table legacy.group_membership as
select m.legacy_id as group_id, gm.user_id::text as user_id, gm.role
from public.group_membership as gm inner join legacy.group_ids as m on gm.group_id = m.id;
create table legacy.units as
select m.legacy_id as unit_id, u.title, u.subject, u.active, u.description::varchar, u.year
from public.units as u inner join legacy.unit_ids as m on u.unit_id = m.id;
create table legacy.lessons as
select l.lesson_id::text as lesson_id, m.legacy_id as unit_id, l.title, l.active, l.order_by
from public.lessons as l inner join legacy.unit_ids as m on l.unit_id = m.id;
create table legacy.lesson_assignments as
select m.legacy_id as group_id, la.lesson_id::text as lesson_id,
  coalesce(la.start_date, date '2025-09-01') as start_date, la.feedback_visible
from public.lesson_assignments as la inner join legacy.group_ids as m on la.group_id = m.id;
create table legacy.learning_objectives as
select o.learning_objective_id::text as learning_objective_id, 'ao' as assessment_objective_id, o.title,
  o.order_by as order_index, true as active
from public.learning_objectives as o;
create table legacy.success_criteria as
select c.success_criteria_id::text as success_criteria_id, c.learning_objective_id::text as learning_objective_id,
  c.level, c.description, c.order_by as order_index, true as active
from public.success_criteria as c;
create table legacy.activities as
select a.activity_id::text as activity_id, a.lesson_id::text as lesson_id, a.title,
  case a.type when 'display-text' then 'text' else a.type end as type,
  a.body_data || jsonb_strip_nulls(
    jsonb_build_object('correctOptionId', k.correct_option_id, 'modelAnswer', k.model_answer)
  ) as body_data,
  a.order_by, a.active, a.is_summative, null::text as notes
from public.activities as a left join public.activity_answer_keys as k on a.activity_id = k.activity_id;
create table legacy.activity_success_criteria as
select x.activity_id::text as activity_id, x.success_criteria_id::text as success_criteria_id
from public.activity_success_criteria as x;
create table legacy.submissions as
with marks as (
  select m.submission_id, jsonb_object_agg(m.success_criteria_id::text, m.score) as scores
  from public.submission_criterion_scores as m group by m.submission_id
)
select s.submission_id::text as submission_id, s.activity_id::text as activity_id, s.user_id::text as user_id,
  s.submitted_at,
  jsonb_strip_nulls(jsonb_build_object(
    'answer_chosen', s.body -> 'option_id', 'answer', s.body -> 'text', 'upload_file_name', s.body -> 'file_name',
    'upload_submission', case when s.body ? 'file_name' then true end,
    'is_correct', case when s.auto_score is not null then s.auto_score = 1 end,
    'ai_model_score', s.ai_score, 'ai_model_feedback', s.ai_feedback,
    'teacher_override_score', s.override_score, 'teacher_feedback', s.teacher_feedback,
    'success_criteria_scores', m.scores
  ))::json as body
from public.submissions as s left join marks as m on s.submission_id = m.submission_id
union all
select md5(s.submission_id::text || ':draft')::uuid::text, s.activity_id::text, s.user_id::text,
  s.submitted_at - interval '1 day',
  jsonb_strip_nulls(jsonb_build_object('answer_chosen', s.body -> 'option_id', 'answer', 'A first draft.'))::json
from public.submissions as s
where s.submitted_at is not null and get_byte(decode(md5(s.submission_id::text), 'hex'), 0) < 64;
create table legacy.pupil_activity_feedback as
select gen_random_uuid() as feedback_id, s.activity_id::text as activity_id, s.user_id::text as pupil_id,
  s.submission_id::text as submission_id, 'ai' as source, s.ai_score as score, s.ai_feedback as feedback_text,
  s.ai_marked_at as created_at, null::text as created_by
from public.submissions as s
where s.ai_score is not null and get_byte(decode(md5(s.submission_id::text), 'hex'), 1) < 26;
drop table legacy.group_ids, legacy.unit_ids;
analyze;
"""

TRUNCATE_CACHE = (
    "truncate public.report_pupil_criterion_scores, public.report_pupil_unit_summaries,"
    " public.report_pupil_subject_summaries, public.report_pupil_versions, public.report_pupil_unit_documents,"
    " public.report_pupil_subject_documents, public.report_group_documents"
)


def run(s: School, *, budget_s: float) -> tuple[dict[str, Any], list[Row]]:
    say(f"12. import from the planner's shape + backfill vs the backfill alone ({s.label})")
    started = time.monotonic()
    with connect(s.url) as conn:
        conn.execute(LEGACY_SQL)
        legacy = {
            str(t): int(n)
            for t, n in conn.execute(
                "select 'submissions', count(*) from legacy.submissions"
                " union all select 'answers', count(distinct (user_id, activity_id)) from legacy.submissions"
                " union all select 'pupil_activity_feedback', count(*) from legacy.pupil_activity_feedback"
            )
        }
    say(f"12. the planner's shape written in {time.monotonic() - started:.0f}s: {legacy}")
    try:
        with scratch_database(s.url, "bench_import") as target:
            push(target)
            with connect(target) as conn:
                for (table,) in conn.execute("select tablename from pg_tables where schemaname = 'public'").fetchall():
                    conn.execute(f"alter table public.{table} set (autovacuum_enabled = off)")
            result = importer.run(target, s.url, source_schema="legacy", show_progress=False, log=say)
            imported = result.seconds
            say(
                f"12. import: copy {imported['copy']:.1f}s, map {imported['map']:.1f}s,"
                f" backfill {imported['backfill']:.1f}s"
            )
            with connect(target) as conn:
                conn.execute(TRUNCATE_CACHE)
            begun = time.monotonic()
            alone = backfill.run(target, show_progress=False)
            alone_s = time.monotonic() - begun
            say(f"12. backfill alone: {alone_s:.1f}s")
            with connect(target) as conn:
                verify = conn.execute("select public.report_verify_sweep(50)").fetchone()
    finally:
        with connect(s.url) as conn:
            conn.execute("drop schema if exists legacy cascade")
    total = imported["copy"] + imported["map"] + imported["backfill"]
    a, b = summarise([total]), summarise([alone_s])
    ratio = safe_ratio(a.p50, b.p50)
    raw = {
        "school": s.label,
        "legacy_rows": legacy,
        "phases_s": imported,
        "import_and_backfill_s": total,
        "backfill_alone_s": alone_s,
        "ratio": ratio,
        "written": result.report.get("written"),
        "issue_count": result.report.get("issue_count"),
        "skipped": result.report.get("skipped"),
        "backfill": alone,
        "verify_sample": verify[0] if verify else None,
        "budget_s": budget_s,
    }
    note = (
        f"copy {imported['copy']:.1f} s, map {imported['map']:.1f} s, backfill {imported['backfill']:.1f} s; "
        f"{legacy['submissions']:,} planner submission rows ({legacy['answers']:,} answers)"
    )
    rows = [
        row(
            f"12. import planner + backfill vs backfill alone ({s.label})",
            "glue import planner: copy, map, batched backfill",
            "batched backfill alone (same school)",
            "s",
            a,
            b,
            ratio,
            "A/B",
            "≤ 2",
            ratio is not None and ratio <= 2,
            note,
        )
    ]
    return raw, rows
