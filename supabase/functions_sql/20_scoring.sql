-- The one definition of every number (docs/scoring.md).
--
-- Everything that shows or stores a score calls these functions: the per-pupil recalculation, the
-- backfill, the verification sweep, the results grid and the benchmarks' live baseline. Nothing
-- computes a number another way.
--
-- They are LANGUAGE sql, SECURITY INVOKER and carry no SET clause, deliberately: PostgreSQL inlines
-- such functions into the calling query, so the same definition gets index scans for one pupil and
-- hash joins for every pupil at once. A SET search_path clause would stop the inlining; instead
-- every name inside is schema-qualified, and being SECURITY INVOKER they grant nothing.
-- The table functions take pupil_ids, an explicit array (private.report_backfill_pupils(null, null)
-- lists every pupil; NULL gives no rows); for the results grid, lesson_ids and activity_ids (NULL:
-- every lesson, every activity); and for a per-unit recalculation, unit_ids (NULL: every unit).
-- A cell depends on its own activity only, so the cells of a filtered call are exact. The criterion
-- and unit rows of a unit depend on that unit's work only, so a call filtered by unit gives exact
-- rows for those units; filtered by lesson or activity they cover the filtered work only, which is
-- why report_merge and the verification filter by unit or not at all. There is no "NULL: every
-- pupil" branch on purpose: `pupil_id = any(pupil_ids)` alone is an index condition even in a
-- cached generic plan, so a caller that passes array[pupil_id] plans once per session and reads one
-- pupil's rows by index.
--
-- Layers, each built only on the one below:
--   criterion_score, score_source  s(p, a, c) and the rule that gave it (scalar)
--   live_pupil_work                A(p, u): which activities count for which pupil and unit
--   live_criterion_scores          s(p, a, c) for every counted activity and linked criterion
--   level_for                      the label of an average in a year
--   live_report_rows               from one pass over the scores: the cells, the criterion rows
--                                  (act, ass) and the unit rows (averages, levels, counts). One
--                                  pass, not one query per kind: computing the scores once is
--                                  half the cost of a pupil's recalculation (measured: 12 ms
--                                  against 27 ms with the cells and criterion rows computed apart)
--   summarise_subjects             subject rows from a pupil's unit rows
--   live_cells, live_criterion_rows, live_unit_rows, live_subject_rows: projections of the above.

-- s(p, a, c): 0 for missing work, else the teacher's criterion mark, override, AI score, auto score;
-- NULL when submitted and not yet marked.
create or replace function private.criterion_score(
  has_submission boolean,
  teacher_mark numeric,
  override_score numeric,
  ai_score numeric,
  auto_score numeric
)
returns numeric
language sql
immutable
parallel safe
as $$
  select case
    when not coalesce(has_submission, false) then 0::numeric
    else coalesce(teacher_mark, override_score, ai_score, auto_score)
  end
$$;
comment on function private.criterion_score(boolean, numeric, numeric, numeric, numeric) is
'docs/scoring.md, "Cells": the criterion score s(p, a, c). Callers: live_criterion_scores. Never raises.';
revoke all on function private.criterion_score(boolean, numeric, numeric, numeric, numeric) from public;
grant execute on function private.criterion_score(boolean, numeric, numeric, numeric, numeric) to service_role;

-- Which rule of criterion_score applied: missing, teacher_criteria, override, ai, auto, or NULL.
create or replace function private.score_source(
  has_submission boolean,
  teacher_mark numeric,
  override_score numeric,
  ai_score numeric,
  auto_score numeric
)
returns text
language sql
immutable
parallel safe
as $$
  select case
    when not coalesce(has_submission, false) then 'missing'
    when teacher_mark is not null then 'teacher_criteria'
    when override_score is not null then 'override'
    when ai_score is not null then 'ai'
    when auto_score is not null then 'auto'
  end
$$;
comment on function private.score_source(boolean, numeric, numeric, numeric, numeric) is
'The rule of criterion_score that applied (shown on the results grid). Callers: live_criterion_scores.';
revoke all on function private.score_source(boolean, numeric, numeric, numeric, numeric) from public;
grant execute on function private.score_source(boolean, numeric, numeric, numeric, numeric) to service_role;

-- A(p, u): the active scorable activities of active lessons of active units assigned to at least one
-- class in which p is a pupil; a lesson assigned to two of the pupil's classes counts once.
create or replace function private.live_pupil_work(
  pupil_ids uuid[], lesson_ids uuid[] default null, activity_ids uuid[] default null,
  unit_ids uuid[] default null
)
returns table (
  pupil_id uuid,
  unit_id uuid,
  lesson_id uuid,
  activity_id uuid,
  is_summative boolean
)
language sql
stable
as $$
  select distinct
    gm.user_id,
    l.unit_id,
    l.lesson_id,
    a.activity_id,
    a.is_summative
  from public.group_membership as gm
  inner join public.lesson_assignments as la on gm.group_id = la.group_id
  inner join public.lessons as l on la.lesson_id = l.lesson_id and l.active
  inner join public.units as u on l.unit_id = u.unit_id and u.active
  inner join public.activities as a on l.lesson_id = a.lesson_id and a.active
  inner join public.activity_types as t on a.type = t.type and t.scorable
  where
    gm.role = 'pupil'
    and gm.user_id = any(live_pupil_work.pupil_ids)
    and (live_pupil_work.lesson_ids is null or la.lesson_id = any(live_pupil_work.lesson_ids))
    and (live_pupil_work.activity_ids is null or a.activity_id = any(live_pupil_work.activity_ids))
    and (live_pupil_work.unit_ids is null or l.unit_id = any(live_pupil_work.unit_ids))
$$;
comment on function private.live_pupil_work(uuid[], uuid[], uuid[], uuid[]) is
'docs/scoring.md, A(p, u): the work that counts for the pupils, optionally only some lessons or activities. '
'Callers: live_criterion_scores.';
revoke all on function private.live_pupil_work(uuid[], uuid[], uuid[], uuid[]) from public;
grant execute on function private.live_pupil_work(uuid[], uuid[], uuid[], uuid[]) to service_role;

-- s(p, a, c) for every counted activity and each criterion linked to it. An activity without linked
-- criteria gives one row with success_criteria_id NULL (rules 1, 3, 4, 5, 6 apply directly).
create or replace function private.live_criterion_scores(
  pupil_ids uuid[], lesson_ids uuid[] default null, activity_ids uuid[] default null,
  unit_ids uuid[] default null
)
returns setof private.work_score
language sql
stable
as $$
  select
    w.pupil_id,
    w.unit_id,
    w.lesson_id,
    w.activity_id,
    w.is_summative,
    s.submission_id,
    s.submitted_at,
    link.success_criteria_id,
    sc.level,
    private.criterion_score(
      s.submission_id is not null, m.score, s.override_score, s.ai_score, s.auto_score
    ),
    private.score_source(
      s.submission_id is not null, m.score, s.override_score, s.ai_score, s.auto_score
    )
  from private.live_pupil_work(
    live_criterion_scores.pupil_ids, live_criterion_scores.lesson_ids, live_criterion_scores.activity_ids,
    live_criterion_scores.unit_ids
  ) as w
  left join public.submissions as s
    on w.pupil_id = s.user_id and w.activity_id = s.activity_id
  left join public.activity_success_criteria as link
    on w.activity_id = link.activity_id
  left join public.success_criteria as sc
    on link.success_criteria_id = sc.success_criteria_id
  left join public.submission_criterion_scores as m
    on s.submission_id = m.submission_id and link.success_criteria_id = m.success_criteria_id
$$;
comment on function private.live_criterion_scores(uuid[], uuid[], uuid[], uuid[]) is
'docs/scoring.md, "Cells": s(p, a, c) over A(p, u) and the linked criteria. Callers: live_report_rows.';
revoke all on function private.live_criterion_scores(uuid[], uuid[], uuid[], uuid[]) from public;
grant execute on function private.live_criterion_scores(uuid[], uuid[], uuid[], uuid[]) to service_role;

-- The label and rank of an average (a fraction) in a year: the highest rank whose min_percent is at
-- most 100 x average. No row when the average is NULL or the year has no boundaries.
create or replace function private.level_for(year integer, average numeric)
returns table (label text, rank integer)
language sql
stable
as $$
  select lb.label, lb.rank
  from public.level_boundaries as lb
  where lb.year = level_for.year and lb.min_percent <= 100 * level_for.average
  order by lb.rank desc
  limit 1
$$;
comment on function private.level_for(integer, numeric) is
'The level label of an average in a year. Callers: live_report_rows, tests.';
revoke all on function private.level_for(integer, numeric) from public;
grant execute on function private.level_for(integer, numeric) to service_role;

-- From one pass over the criterion scores of the pupils:
--   kind 'cell'       the cell of (p, a): the mean of its non-NULL criterion scores rounded half-up to
--                     4 places (NULL when all are NULL); its source is teacher_criteria when any
--                     criterion has a teacher mark, else the submission-wide rule that applied;
--   kind 'criterion'  act(c) and ass(c) per pupil, unit and criterion in C(p, u): the mean of the
--                     non-NULL scores over the activities linked to c (ass: summative ones only);
--   kind 'unit'       the unit summary: averages of the rounded criterion rows (of the rounded cells
--                     when the unit has no linked criteria), the level of the stored assessment
--                     average, the working level and the counts.
-- version and computed_at are NULL: the merge sets them.
create or replace function private.live_report_rows(
  pupil_ids uuid[], lesson_ids uuid[] default null, activity_ids uuid[] default null,
  unit_ids uuid[] default null
)
returns table (
  kind text,
  cell private.report_cell,
  criterion public.report_pupil_criterion_scores,
  unit public.report_pupil_unit_summaries
)
language sql
stable
as $$
  with scores as materialized (
    select *
    from private.live_criterion_scores(
      live_report_rows.pupil_ids, live_report_rows.lesson_ids, live_report_rows.activity_ids,
      live_report_rows.unit_ids
    )
  ),

  cells as materialized (
    select
      s.pupil_id,
      s.unit_id,
      s.lesson_id,
      s.activity_id,
      s.is_summative,
      s.submission_id,
      s.submitted_at,
      round(avg(s.score), 4) as cell_score,
      case when bool_or(s.source = 'teacher_criteria') then 'teacher_criteria' else max(s.source) end as source
    from scores as s
    group by s.pupil_id, s.unit_id, s.lesson_id, s.activity_id, s.is_summative, s.submission_id, s.submitted_at
  ),

  criteria as materialized (
    select
      s.pupil_id,
      s.unit_id,
      s.success_criteria_id,
      s.criterion_level::smallint as level,
      round(avg(s.score), 4) as activities_score,
      round(avg(s.score) filter (where s.is_summative), 4) as assessment_score
    from scores as s
    where s.success_criteria_id is not null
    group by s.pupil_id, s.unit_id, s.success_criteria_id, s.criterion_level
  ),

  by_unit as (
    select
      c.pupil_id,
      c.unit_id,
      count(*) as activity_count,
      count(*) filter (where c.submission_id is not null and c.cell_score is not null) as marked_count,
      count(*) filter (where c.submission_id is null) as missing_count,
      count(*) filter (where c.submission_id is not null and c.cell_score is null) as awaiting_count,
      max(c.submitted_at) as last_submitted_at,
      avg(c.cell_score) as cell_average,
      avg(c.cell_score) filter (where c.is_summative) as cell_assessment_average
    from cells as c
    group by c.pupil_id, c.unit_id
  ),

  by_criteria as (
    select
      cr.pupil_id,
      cr.unit_id,
      avg(cr.activities_score) as activities_average,
      avg(cr.assessment_score) as assessment_average
    from criteria as cr
    group by cr.pupil_id, cr.unit_id
  ),

  by_level as (
    select
      lv.pupil_id,
      lv.unit_id,
      max(lv.level) filter (where lv.met * 2 > lv.total) as working_level
    from (
      select
        x.pupil_id,
        x.unit_id,
        x.level,
        count(*) filter (where x.activities_score >= 0.5) as met,
        count(*) as total
      from criteria as x
      group by x.pupil_id, x.unit_id, x.level
    ) as lv
    group by lv.pupil_id, lv.unit_id
  ),

  averaged as (
    select
      c.*,
      round(case when b.unit_id is null then c.cell_average else b.activities_average end, 4)
        as activities_average,
      round(case when b.unit_id is null then c.cell_assessment_average else b.assessment_average end, 4)
        as assessment_average,
      wl.working_level
    from by_unit as c
    left join by_criteria as b on c.pupil_id = b.pupil_id and c.unit_id = b.unit_id
    left join by_level as wl on c.pupil_id = wl.pupil_id and c.unit_id = wl.unit_id
  )

  select
    'cell',
    row(
      c.pupil_id, c.unit_id, c.lesson_id, c.activity_id, c.is_summative, c.submission_id, c.submitted_at,
      c.cell_score, c.source
    )::private.report_cell,
    null::public.report_pupil_criterion_scores,
    null::public.report_pupil_unit_summaries
  from cells as c
  union all
  select
    'criterion',
    null::private.report_cell,
    row(
      cr.pupil_id, cr.unit_id, cr.success_criteria_id, cr.level, cr.activities_score, cr.assessment_score,
      null::bigint
    )::public.report_pupil_criterion_scores,
    null::public.report_pupil_unit_summaries
  from criteria as cr
  union all
  select
    'unit',
    null::private.report_cell,
    null::public.report_pupil_criterion_scores,
    row(
      a.pupil_id, a.unit_id, u.subject, u.title, u.year, a.activities_average, a.assessment_average,
      lvl.label, lvl.rank::smallint, a.working_level::smallint, a.activity_count::integer,
      a.marked_count::integer, a.missing_count::integer, a.awaiting_count::integer, a.last_submitted_at,
      null::bigint, null::timestamptz
    )::public.report_pupil_unit_summaries
  from averaged as a
  -- Looked up by key: a pupil's few units, never a scan of the units table.
  cross join lateral (
    select x.subject, x.title, x.year from public.units as x where x.unit_id = a.unit_id limit 1
  ) as u
  left join lateral private.level_for(u.year, a.assessment_average) as lvl on true
$$;
comment on function private.live_report_rows(uuid[], uuid[], uuid[], uuid[]) is
'Cells, criterion rows and unit rows of the pupils, from one pass over '
'their criterion scores. Callers: report_merge, report_differences, the live_* projections.';
revoke all on function private.live_report_rows(uuid[], uuid[], uuid[], uuid[]) from public;
grant execute on function private.live_report_rows(uuid[], uuid[], uuid[], uuid[]) to service_role;

-- Rows of report_pupil_subject_summaries from a set of unit rows: the mean of the unit averages
-- (non-NULL), the unit count, and the most frequent unit level (ties go to the higher rank).
create or replace function private.summarise_subjects(units public.report_pupil_unit_summaries[])
returns setof public.report_pupil_subject_summaries
language sql
stable
as $$
  with u as (
    select x.* from unnest(summarise_subjects.units) as x
  ),

  typical as (
    select distinct on (f.pupil_id, f.subject)
      f.pupil_id,
      f.subject,
      f.assessment_level,
      f.assessment_level_rank
    from (
      select
        u.pupil_id,
        u.subject,
        u.assessment_level,
        u.assessment_level_rank,
        count(*) as n
      from u
      where u.assessment_level is not null
      group by u.pupil_id, u.subject, u.assessment_level, u.assessment_level_rank
    ) as f
    order by f.pupil_id asc, f.subject asc, f.n desc, f.assessment_level_rank desc
  )

  select
    u.pupil_id,
    u.subject,
    round(avg(u.activities_average), 4),
    round(avg(u.assessment_average), 4),
    count(*)::integer,
    max(t.assessment_level),
    max(t.assessment_level_rank)::smallint,
    null::bigint,
    null::timestamptz
  from u
  left join typical as t on u.pupil_id = t.pupil_id and u.subject = t.subject
  group by u.pupil_id, u.subject
$$;
comment on function private.summarise_subjects(public.report_pupil_unit_summaries[]) is
'Subject summaries of the given unit rows. Callers: report_merge, live_subject_rows.';
revoke all on function private.summarise_subjects(public.report_pupil_unit_summaries[]) from public;
grant execute on function private.summarise_subjects(public.report_pupil_unit_summaries[]) to service_role;

-- Projections of live_report_rows, computed live.
create or replace function private.live_cells(
  pupil_ids uuid[], lesson_ids uuid[] default null, activity_ids uuid[] default null
)
returns setof private.report_cell
language sql
stable
as $$
  select (r.cell).*
  from private.live_report_rows(live_cells.pupil_ids, live_cells.lesson_ids, live_cells.activity_ids) as r
  where r.kind = 'cell'
$$;
comment on function private.live_cells(uuid[], uuid[], uuid[]) is
'The cells of the pupils, optionally of some lessons or activities only. Callers: result_cells (the grid, the '
'broadcasts, the write RPCs'' returned row), tests.';
revoke all on function private.live_cells(uuid[], uuid[], uuid[]) from public;
grant execute on function private.live_cells(uuid[], uuid[], uuid[]) to service_role;

create or replace function private.live_criterion_rows(pupil_ids uuid[])
returns setof public.report_pupil_criterion_scores
language sql
stable
as $$
  select (r.criterion).*
  from private.live_report_rows(live_criterion_rows.pupil_ids) as r
  where r.kind = 'criterion'
$$;
comment on function private.live_criterion_rows(uuid[]) is
'Criterion rows computed live for the pupils. Callers: benchmarks, tests.';
revoke all on function private.live_criterion_rows(uuid[]) from public;
grant execute on function private.live_criterion_rows(uuid[]) to service_role;

create or replace function private.live_unit_rows(pupil_ids uuid[])
returns setof public.report_pupil_unit_summaries
language sql
stable
as $$
  select (r.unit).*
  from private.live_report_rows(live_unit_rows.pupil_ids) as r
  where r.kind = 'unit'
$$;
comment on function private.live_unit_rows(uuid[]) is
'Unit summaries computed live for the pupils. Callers: benchmarks, tests.';
revoke all on function private.live_unit_rows(uuid[]) from public;
grant execute on function private.live_unit_rows(uuid[]) to service_role;

create or replace function private.live_subject_rows(pupil_ids uuid[])
returns setof public.report_pupil_subject_summaries
language sql
stable
as $$
  select s.*
  from (
    select array_agg(u) as units
    from private.live_unit_rows(live_subject_rows.pupil_ids) as u
    group by u.pupil_id
  ) as per_pupil
  cross join lateral private.summarise_subjects(per_pupil.units) as s
$$;
comment on function private.live_subject_rows(uuid[]) is
'Subject summaries computed live for the pupils. Callers: benchmarks, tests.';
revoke all on function private.live_subject_rows(uuid[]) from public;
grant execute on function private.live_subject_rows(uuid[]) to service_role;
