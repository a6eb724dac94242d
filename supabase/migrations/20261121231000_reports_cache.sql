-- The reports cache: narrow typed rows per pupil that /reports/{pupilId} renders directly and
-- /reports/groups/{groupId} derives from. Written only by private.report_merge (through the per-pupil
-- recalculation and the backfill); every number in them is defined once, by the functions of
-- supabase/functions_sql/20_scoring.sql. Averages are stored rounded half-up to 4 decimal places.

-- One criterion score s(p, a, c) with what it depends on: the rows private.live_criterion_scores
-- returns, which the aggregates (cells, criterion, unit rows) take as an array so that one
-- recalculation computes the scores once.
create type private.work_score as (
  pupil_id uuid,
  unit_id uuid,
  lesson_id uuid,
  activity_id uuid,
  is_summative boolean,
  submission_id uuid,
  submitted_at timestamptz,
  success_criteria_id uuid,
  criterion_level integer,
  score numeric,
  source text
);
comment on type private.work_score is
'A criterion score s(p, a, c) (success_criteria_id NULL for an activity without criteria) and its context.';

-- The cell of (p, a) as the results grid shows it: the rows private.live_report_rows returns for
-- kind 'cell'.
create type private.report_cell as (
  pupil_id uuid,
  unit_id uuid,
  lesson_id uuid,
  activity_id uuid,
  is_summative boolean,
  submission_id uuid,
  submitted_at timestamptz,
  cell_score numeric,
  source text
);
comment on type private.report_cell is 'A cell of the results grid: pupil, activity, score (4 places) and its source.';

-- The per-pupil report version: grows by one with every recalculation that changed something.
create table public.report_pupil_versions (
  pupil_id uuid primary key references public.profiles (user_id) on delete cascade,
  version bigint not null default 0,
  changed_at timestamptz,
  constraint report_pupil_versions_version_check check (version >= 0),
  constraint report_pupil_versions_changed_at_check check ((version = 0) = (changed_at is null))
);
comment on table public.report_pupil_versions is
'The version of each pupil''s cached report; bumped by every recalculation that changed a row.';

create table public.report_pupil_unit_summaries (
  pupil_id uuid not null references public.profiles (user_id) on delete cascade,
  unit_id uuid not null references public.units (unit_id) on delete cascade,
  subject text not null,
  unit_title text not null,
  unit_year integer not null,
  activities_average numeric(5, 4),
  assessment_average numeric(5, 4),
  assessment_level text,
  assessment_level_rank smallint,
  working_level smallint,
  activity_count integer not null,
  marked_count integer not null,
  missing_count integer not null,
  awaiting_marking_count integer not null,
  last_submitted_at timestamptz,
  version bigint not null,
  computed_at timestamptz not null,
  primary key (pupil_id, unit_id),
  constraint report_pupil_unit_summaries_averages_check check (
    activities_average between 0 and 1 and assessment_average between 0 and 1
  ),
  constraint report_pupil_unit_summaries_level_check check (
    (assessment_level is null) = (assessment_level_rank is null)
    and assessment_level_rank between 0 and 27
    and (assessment_average is not null or assessment_level is null)
  ),
  constraint report_pupil_unit_summaries_working_level_check check (working_level between 0 and 9),
  constraint report_pupil_unit_summaries_counts_check check (
    activity_count > 0
    and marked_count >= 0 and missing_count >= 0 and awaiting_marking_count >= 0
    and marked_count + missing_count + awaiting_marking_count = activity_count
  )
);
create index report_pupil_unit_summaries_unit_idx on public.report_pupil_unit_summaries (unit_id);
comment on table public.report_pupil_unit_summaries is
'One row per pupil and unit with assigned scorable work: averages, levels, counts (DOMAIN.md section 3).';

create table public.report_pupil_criterion_scores (
  pupil_id uuid not null,
  unit_id uuid not null,
  success_criteria_id uuid not null references public.success_criteria (success_criteria_id) on delete cascade,
  level smallint not null,
  activities_score numeric(5, 4),
  assessment_score numeric(5, 4),
  version bigint not null,
  primary key (pupil_id, unit_id, success_criteria_id),
  foreign key (pupil_id, unit_id) references public.report_pupil_unit_summaries (pupil_id, unit_id)
  on delete cascade,
  constraint report_pupil_criterion_scores_scores_check check (
    activities_score between 0 and 1 and assessment_score between 0 and 1
  ),
  constraint report_pupil_criterion_scores_level_check check (level between 0 and 9)
);
create index report_pupil_criterion_scores_criterion_idx
on public.report_pupil_criterion_scores (success_criteria_id);
comment on table public.report_pupil_criterion_scores is
'act(c) and ass(c) per pupil, unit and success criterion: the unit page''s criteria grouped by level.';

create table public.report_pupil_subject_summaries (
  pupil_id uuid not null references public.profiles (user_id) on delete cascade,
  subject text not null references public.subjects (subject) on update cascade on delete cascade,
  activities_average numeric(5, 4),
  assessment_average numeric(5, 4),
  unit_count integer not null,
  typical_level text,
  typical_level_rank smallint,
  version bigint not null,
  computed_at timestamptz not null,
  primary key (pupil_id, subject),
  constraint report_pupil_subject_summaries_averages_check check (
    activities_average between 0 and 1 and assessment_average between 0 and 1
  ),
  constraint report_pupil_subject_summaries_level_check check (
    (typical_level is null) = (typical_level_rank is null) and typical_level_rank between 0 and 27
  ),
  constraint report_pupil_subject_summaries_unit_count_check check (unit_count > 0)
);
comment on table public.report_pupil_subject_summaries is
'Per pupil and subject: the mean of the unit averages and the most frequent unit level.';

-- Batched backfill runs (private.report_backfill_batched, glue backfill): progress and resumption.
create table private.report_backfill_runs (
  run_id bigint generated always as identity primary key,
  batch_size integer not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  last_pupil_id uuid,
  pupils_done integer not null default 0,
  pupils_total integer not null default 0,
  pupils_changed integer not null default 0,
  resumed_count integer not null default 0,
  constraint report_backfill_runs_batch_size_check check (batch_size > 0),
  constraint report_backfill_runs_progress_check check (
    pupils_done >= 0 and pupils_changed between 0 and pupils_done and (pupils_done = 0) = (last_pupil_id is null)
  ),
  constraint report_backfill_runs_finished_check check (finished_at is null or finished_at >= started_at)
);
create unique index report_backfill_runs_one_open_idx on private.report_backfill_runs ((true))
where finished_at is null;
comment on table private.report_backfill_runs is
'Batched backfill runs: where each run got to, so an interrupted run resumes; at most one unfinished run.';
