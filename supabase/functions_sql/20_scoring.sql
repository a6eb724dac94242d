-- The one definition of every number (DOMAIN.md sections 2 and 3).
--
-- Everything that shows or stores a score calls these functions: the per-pupil recalculation, the
-- backfill, the verification sweep, the results grid and the benchmarks' live baseline. Nothing
-- computes a number another way.
--
-- They are LANGUAGE sql, SECURITY INVOKER and carry no SET clause, deliberately: PostgreSQL inlines
-- such functions into the calling query, so the same definition gets index scans for one pupil and
-- hash joins for many. A SET search_path clause would stop the inlining; instead every name inside
-- is schema-qualified, and being SECURITY INVOKER they grant nothing.
--
-- Layers, each built only on the one below:
--   criterion_score, score_source   s(p, a, c) and the rule that gave it (scalar)
--   live_pupil_work                 A(p, u): which activities count for which pupil and unit
--   live_criterion_scores           s(p, a, c) for every counted activity and linked criterion
--   cells_of                        the cell score and source of (p, a)          } aggregates of an
--   criterion_rows_of               act(c), ass(c): report_pupil_criterion_scores } array of scores,
--   unit_rows_of                    report_pupil_unit_summaries                   } so that they are
--   level_for                       the label of an average in a year             } computed once
--   summarise_subjects              report_pupil_subject_summaries from unit rows
--   live_cells, live_criterion_rows, live_unit_rows, live_subject_rows: the same, computed live for
--   an array of pupils (NULL: every pupil; fine for checks, use batches for bulk work).

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
'DOMAIN.md section 2: the criterion score s(p, a, c). Callers: live_criterion_scores. Never raises.';

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

-- A(p, u): the active scorable activities of active lessons of active units assigned to at least one
-- class in which p is a pupil; a lesson assigned to two of the pupil's classes counts once.
create or replace function private.live_pupil_work(pupil_ids uuid[])
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
    and (live_pupil_work.pupil_ids is null or gm.user_id = any(live_pupil_work.pupil_ids))
$$;
comment on function private.live_pupil_work(uuid[]) is
'DOMAIN.md section 3, A(p, u): the work that counts, per pupil (NULL: every pupil). Callers: live_criterion_scores.';

-- s(p, a, c) for every counted activity and each criterion linked to it. An activity without linked
-- criteria gives one row with success_criteria_id NULL (rules 1, 3, 4, 5, 6 apply directly).
create or replace function private.live_criterion_scores(pupil_ids uuid[])
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
  from private.live_pupil_work(live_criterion_scores.pupil_ids) as w
  left join public.submissions as s
    on w.pupil_id = s.user_id and w.activity_id = s.activity_id
  left join public.activity_success_criteria as link
    on w.activity_id = link.activity_id
  left join public.success_criteria as sc
    on link.success_criteria_id = sc.success_criteria_id
  left join public.submission_criterion_scores as m
    on s.submission_id = m.submission_id and link.success_criteria_id = m.success_criteria_id
$$;
comment on function private.live_criterion_scores(uuid[]) is
'DOMAIN.md section 2: s(p, a, c) over A(p, u) and the linked criteria. Callers: report_merge, the live_* '
'wrappers, read_assignment_results.';

-- The cell of (p, a): the mean of the non-NULL criterion scores (NULL when all are NULL), rounded
-- half-up to 4 places as shown on the grid; its source is teacher_criteria when any criterion has a
-- teacher mark, else the submission-wide rule that applied.
create or replace function private.cells_of(scores private.work_score[])
returns table (
  pupil_id uuid,
  unit_id uuid,
  lesson_id uuid,
  activity_id uuid,
  is_summative boolean,
  submission_id uuid,
  submitted_at timestamptz,
  cell_score numeric,
  source text
)
language sql
immutable
as $$
  select
    cs.pupil_id,
    cs.unit_id,
    cs.lesson_id,
    cs.activity_id,
    cs.is_summative,
    cs.submission_id,
    cs.submitted_at,
    round(avg(cs.score), 4),
    case
      when bool_or(cs.source = 'teacher_criteria') then 'teacher_criteria'
      else max(cs.source)
    end
  from unnest(cells_of.scores) as cs
  group by cs.pupil_id, cs.unit_id, cs.lesson_id, cs.activity_id, cs.is_summative, cs.submission_id, cs.submitted_at
$$;
comment on function private.cells_of(private.work_score[]) is
'DOMAIN.md section 2: cell score and source per pupil and activity of the given scores. Callers: unit_rows_of, '
'live_cells, read_assignment_results.';

-- act(c) and ass(c) per pupil, unit and criterion in C(p, u), as rows of report_pupil_criterion_scores
-- (version NULL): the mean of the non-NULL scores over the activities linked to c (ass: summative only).
create or replace function private.criterion_rows_of(scores private.work_score[])
returns setof public.report_pupil_criterion_scores
language sql
immutable
as $$
  select
    cs.pupil_id,
    cs.unit_id,
    cs.success_criteria_id,
    cs.criterion_level::smallint,
    round(avg(cs.score), 4),
    round(avg(cs.score) filter (where cs.is_summative), 4),
    null::bigint
  from unnest(criterion_rows_of.scores) as cs
  where cs.success_criteria_id is not null
  group by cs.pupil_id, cs.unit_id, cs.success_criteria_id, cs.criterion_level
$$;
comment on function private.criterion_rows_of(private.work_score[]) is
'DOMAIN.md section 3: act(c), ass(c) per pupil, unit and criterion of the given scores. Callers: unit_rows_of, '
'report_merge, live_criterion_rows.';

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
'DOMAIN.md section 4: the level label of an average in a year. Callers: unit_rows_of, tests.';

-- Rows of report_pupil_unit_summaries (version and computed_at NULL) from the given scores.
-- Averages are built from the rounded criterion rows (the numbers the unit page shows); when the unit
-- has no linked criteria, from the rounded cell scores.
create or replace function private.unit_rows_of(scores private.work_score[])
returns setof public.report_pupil_unit_summaries
language sql
stable
as $$
  with cells as (
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
    from private.cells_of(unit_rows_of.scores) as c
    group by c.pupil_id, c.unit_id
  ),

  criteria as materialized (
    select
      r.pupil_id,
      r.unit_id,
      r.level,
      r.activities_score,
      r.assessment_score
    from private.criterion_rows_of(unit_rows_of.scores) as r
  ),

  by_unit as (
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
      cr.pupil_id,
      cr.unit_id,
      max(cr.level) as working_level
    from (
      select
        x.pupil_id,
        x.unit_id,
        x.level,
        count(*) filter (where x.activities_score >= 0.5) as met,
        count(*) as total
      from criteria as x
      group by x.pupil_id, x.unit_id, x.level
    ) as cr
    where cr.met * 2 > cr.total
    group by cr.pupil_id, cr.unit_id
  ),

  averaged as (
    select
      c.*,
      round(case when b.unit_id is null then c.cell_average else b.activities_average end, 4)
        as activities_average,
      round(case when b.unit_id is null then c.cell_assessment_average else b.assessment_average end, 4)
        as assessment_average,
      wl.working_level
    from cells as c
    left join by_unit as b on c.pupil_id = b.pupil_id and c.unit_id = b.unit_id
    left join by_level as wl on c.pupil_id = wl.pupil_id and c.unit_id = wl.unit_id
  )

  select
    a.pupil_id,
    a.unit_id,
    u.subject,
    u.title,
    u.year,
    a.activities_average,
    a.assessment_average,
    lvl.label,
    lvl.rank::smallint,
    a.working_level::smallint,
    a.activity_count::integer,
    a.marked_count::integer,
    a.missing_count::integer,
    a.awaiting_count::integer,
    a.last_submitted_at,
    null::bigint,
    null::timestamptz
  from averaged as a
  inner join public.units as u on a.unit_id = u.unit_id
  left join lateral private.level_for(u.year, a.assessment_average) as lvl on true
$$;
comment on function private.unit_rows_of(private.work_score[]) is
'DOMAIN.md section 3: unit summaries of the given scores (version, computed_at NULL). Callers: report_merge, '
'live_unit_rows.';

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
'DOMAIN.md section 3: subject summaries of the given unit rows. Callers: report_merge, live_subject_rows.';

-- The same aggregates computed live for an array of pupils (NULL: every pupil).
create or replace function private.live_cells(pupil_ids uuid[])
returns table (
  pupil_id uuid,
  unit_id uuid,
  lesson_id uuid,
  activity_id uuid,
  is_summative boolean,
  submission_id uuid,
  submitted_at timestamptz,
  cell_score numeric,
  source text
)
language sql
stable
as $$
  select c.*
  from private.cells_of(array(select s from private.live_criterion_scores(live_cells.pupil_ids) as s)) as c
$$;
comment on function private.live_cells(uuid[]) is
'Cells computed live for the pupils (NULL: all). Callers: submission_result, tests.';

create or replace function private.live_criterion_rows(pupil_ids uuid[])
returns setof public.report_pupil_criterion_scores
language sql
stable
as $$
  select r.*
  from private.criterion_rows_of(array(select s from private.live_criterion_scores(live_criterion_rows.pupil_ids) as s)) as r
$$;
comment on function private.live_criterion_rows(uuid[]) is
'Criterion rows computed live for the pupils (NULL: all). Callers: report_differences, benchmarks.';

create or replace function private.live_unit_rows(pupil_ids uuid[])
returns setof public.report_pupil_unit_summaries
language sql
stable
as $$
  select r.*
  from private.unit_rows_of(array(select s from private.live_criterion_scores(live_unit_rows.pupil_ids) as s)) as r
$$;
comment on function private.live_unit_rows(uuid[]) is
'Unit summaries computed live for the pupils (NULL: all). Callers: report_differences, benchmarks.';

create or replace function private.live_subject_rows(pupil_ids uuid[])
returns setof public.report_pupil_subject_summaries
language sql
stable
as $$
  select s.*
  from private.summarise_subjects(array(select u from private.live_unit_rows(live_subject_rows.pupil_ids) as u)) as s
$$;
comment on function private.live_subject_rows(uuid[]) is
'Subject summaries computed live for the pupils (NULL: all). Callers: report_differences, benchmarks.';

revoke all on function private.criterion_score(boolean, numeric, numeric, numeric, numeric) from public;
revoke all on function private.score_source(boolean, numeric, numeric, numeric, numeric) from public;
revoke all on function private.live_pupil_work(uuid[]) from public;
revoke all on function private.live_criterion_scores(uuid[]) from public;
revoke all on function private.cells_of(private.work_score[]) from public;
revoke all on function private.criterion_rows_of(private.work_score[]) from public;
revoke all on function private.unit_rows_of(private.work_score[]) from public;
revoke all on function private.live_cells(uuid[]) from public;
revoke all on function private.live_criterion_rows(uuid[]) from public;
revoke all on function private.level_for(integer, numeric) from public;
revoke all on function private.live_unit_rows(uuid[]) from public;
revoke all on function private.summarise_subjects(public.report_pupil_unit_summaries[]) from public;
revoke all on function private.live_subject_rows(uuid[]) from public;
grant execute on function private.criterion_score(boolean, numeric, numeric, numeric, numeric) to service_role;
grant execute on function private.score_source(boolean, numeric, numeric, numeric, numeric) to service_role;
grant execute on function private.live_pupil_work(uuid[]) to service_role;
grant execute on function private.live_criterion_scores(uuid[]) to service_role;
grant execute on function private.cells_of(private.work_score[]) to service_role;
grant execute on function private.criterion_rows_of(private.work_score[]) to service_role;
grant execute on function private.unit_rows_of(private.work_score[]) to service_role;
grant execute on function private.live_cells(uuid[]) to service_role;
grant execute on function private.live_criterion_rows(uuid[]) to service_role;
grant execute on function private.level_for(integer, numeric) to service_role;
grant execute on function private.live_unit_rows(uuid[]) to service_role;
grant execute on function private.summarise_subjects(public.report_pupil_unit_summaries[]) to service_role;
grant execute on function private.live_subject_rows(uuid[]) to service_role;
