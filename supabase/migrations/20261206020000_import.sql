-- Importing a school's data from the planner's own database (docs/import.md). The legacy tables are
-- brought into a schema of this database (glue import planner), then private.import_planner maps
-- them into this schema in one transaction. Three kinds of tables, all private:
--   import_runs     one row per run (dry or real): when, what was read and written, what was skipped
--   import_ids      legacy id -> id here, per kind: a re-import finds the same rows
--   import_legacy_* and import_work_*: working tables, emptied at the start and the end of every run
--                   (unlogged: they are rebuilt from the source whenever they are needed)

create table private.import_runs (
  run_id bigint generated always as identity primary key,
  source_schema text not null,
  dry_run boolean not null,
  strict boolean not null,
  started_at timestamptz not null default clock_timestamp(),
  finished_at timestamptz,
  counts jsonb,
  issue_count integer,
  issues jsonb
);
comment on table private.import_runs is
'One row per planner import (private.import_planner): its options, the rows read and written per table, and the '
'rows that could not be mapped (issues, at most 1,000 kept; issue_count counts them all).';

create table private.import_ids (
  kind text not null,
  legacy_id text not null,
  new_id text not null,
  first_run_id bigint not null references private.import_runs (run_id),
  primary key (kind, legacy_id),
  constraint import_ids_kind_check check (
    kind in ('user', 'group', 'unit', 'lesson', 'objective', 'criterion', 'activity', 'activity_type')
  )
);
create unique index import_ids_new_id_key on private.import_ids (kind, new_id);
comment on table private.import_ids is
'The planner''s id of an imported row and its id here (a uuid; the class code for kind group; the type name for '
'kind activity_type, a type the import created), so that a re-import updates the same rows. Submissions are '
'identified by (pupil, activity) instead.';

-- The legacy rows of the current run, as read from the source schema (latest submission per answer,
-- latest feedback-log row per answer and source).
create unlogged table private.import_legacy_profiles (
  user_id text, first_name text, last_name text, email text, is_teacher boolean
);
create unlogged table private.import_legacy_subjects (subject text, active boolean);
create unlogged table private.import_legacy_groups (group_id text, subject text, join_code text, active boolean);
create unlogged table private.import_legacy_memberships (group_id text, user_id text, role text);
create unlogged table private.import_legacy_units (
  unit_id text, title text, subject text, description text, year integer, active boolean
);
create unlogged table private.import_legacy_lessons (
  lesson_id text, unit_id text, title text, order_by integer, active boolean
);
create unlogged table private.import_legacy_assignments (
  group_id text, unit_id text, start_date date, active boolean
);
create unlogged table private.import_legacy_lesson_assignments (
  group_id text, lesson_id text, start_date date, feedback_visible boolean
);
create unlogged table private.import_legacy_objectives (learning_objective_id text, title text, order_index integer);
create unlogged table private.import_legacy_criteria (
  success_criteria_id text, learning_objective_id text, level integer, description text, order_index integer
);
create unlogged table private.import_legacy_activities (
  activity_id text, lesson_id text, title text, type text, body_data jsonb, order_by integer, active boolean,
  is_summative boolean
);
create unlogged table private.import_legacy_activity_criteria (activity_id text, success_criteria_id text);
create unlogged table private.import_legacy_submissions (
  submission_id text, activity_id text, user_id text, submitted_at timestamptz, status text, body jsonb
);
create unlogged table private.import_legacy_feedback (
  activity_id text, pupil_id text, submission_id text, source text, score numeric, feedback_text text,
  created_at timestamptz
);

-- The submissions and criterion marks of the current run, mapped, before they are written.
create unlogged table private.import_work_submissions (
  legacy_id text not null,
  submission_id uuid not null,
  existing boolean not null default false,
  user_id uuid not null,
  activity_id uuid not null,
  answer_kind text,
  status text not null,
  submitted_at timestamptz,
  body jsonb not null,
  auto_score numeric,
  ai_score numeric,
  ai_feedback text,
  ai_marked_at timestamptz,
  override_score numeric,
  teacher_feedback text,
  override_at timestamptz,
  criterion_marks jsonb,
  unreadable text[]
);
create unlogged table private.import_work_marks (
  submission_id uuid not null, legacy_submission_id text not null, success_criteria_id uuid not null,
  score numeric not null, marked_at timestamptz not null
);
create unlogged table private.import_work_issues (
  table_name text not null, legacy_key text not null, rule text not null, detail text not null
);

do $grants$
declare
  v_table text;
begin
  for v_table in
    select c.relname::text from pg_catalog.pg_class as c
    where c.relnamespace = 'private'::regnamespace and c.relkind = 'r' and c.relname like 'import\_%'
  loop
    execute format('revoke all on table private.%I from public, anon, authenticated', v_table);
  end loop;
end
$grants$;
