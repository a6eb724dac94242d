-- The curriculum: units, lessons, their assignment to classes, learning objectives, success
-- criteria, activity types and activities.

create table public.units (
  unit_id uuid primary key default gen_random_uuid(),
  title text not null,
  subject text not null references public.subjects (subject) on update cascade,
  description text,
  year integer not null,
  active boolean not null default true,
  constraint units_year_check check (year between 7 and 13),
  constraint units_title_check check (length(title) between 1 and 500)
);
create index units_subject_idx on public.units (subject, year);

create table public.lessons (
  lesson_id uuid primary key default gen_random_uuid(),
  unit_id uuid not null references public.units (unit_id) on delete cascade,
  title text not null,
  order_by integer not null default 0,
  active boolean not null default true,
  constraint lessons_title_check check (length(title) between 1 and 500)
);
create index lessons_unit_idx on public.lessons (unit_id, order_by);

create table public.lesson_assignments (
  group_id text not null references public.groups (group_id) on delete cascade,
  lesson_id uuid not null references public.lessons (lesson_id) on delete cascade,
  start_date date,
  feedback_visible boolean not null default false,
  primary key (group_id, lesson_id)
);
create index lesson_assignments_lesson_idx on public.lesson_assignments (lesson_id, group_id);
comment on table public.lesson_assignments is
'A lesson assigned to a class. Its start date does not affect reports (a cache must not go stale because time passed).';

create table public.learning_objectives (
  learning_objective_id uuid primary key default gen_random_uuid(),
  title text not null,
  order_by integer not null default 0
);

create table public.success_criteria (
  success_criteria_id uuid primary key default gen_random_uuid(),
  learning_objective_id uuid not null references public.learning_objectives (learning_objective_id) on delete cascade,
  description text not null,
  level integer not null,
  order_by integer not null default 0,
  constraint success_criteria_level_check check (level between 0 and 9)
);
create index success_criteria_objective_idx on public.success_criteria (learning_objective_id);

create table public.activity_types (
  type text primary key,
  scorable boolean not null,
  answer_kind text,
  constraint activity_types_answer_kind_check check (
    (answer_kind is null and not scorable) or answer_kind in ('mcq', 'text', 'upload')
  )
);
comment on table public.activity_types is
'Activity types. scorable decides whether an activity counts in reports (data, not code); answer_kind says how a pupil answers it.';
comment on column public.activity_types.answer_kind is
'mcq: auto-marked from body_data.correct_option_id; text: short or long text; upload: a file; null: display only.';

insert into public.activity_types (type, scorable, answer_kind) values
('multiple-choice-question', true, 'mcq'),
('short-text-question', true, 'text'),
('long-text-question', true, 'text'),
('upload-file', true, 'upload'),
('display-text', false, null),
('display-image', false, null),
('show-video', false, null),
('file-download', false, null);

create table public.activities (
  activity_id uuid primary key default gen_random_uuid(),
  lesson_id uuid not null references public.lessons (lesson_id) on delete cascade,
  title text not null,
  type text not null references public.activity_types (type),
  body_data jsonb not null default '{}'::jsonb,
  is_summative boolean not null default false,
  active boolean not null default true,
  order_by integer not null default 0,
  constraint activities_body_data_check check (jsonb_typeof(body_data) = 'object')
);
create index activities_lesson_idx on public.activities (lesson_id, order_by);

create table public.activity_success_criteria (
  activity_id uuid not null references public.activities (activity_id) on delete cascade,
  success_criteria_id uuid not null references public.success_criteria (success_criteria_id) on delete cascade,
  primary key (activity_id, success_criteria_id)
);
create index activity_success_criteria_criterion_idx on public.activity_success_criteria (success_criteria_id);
