-- A pupil's current work on an activity (one row per activity and pupil) and the teacher's marks
-- per success criterion. All scores are fractions in [0, 1].

create table public.submissions (
  submission_id uuid primary key default gen_random_uuid(),
  activity_id uuid not null references public.activities (activity_id) on delete cascade,
  user_id uuid not null references public.profiles (user_id) on delete cascade,
  status text not null default 'inprogress',
  submitted_at timestamptz,
  body jsonb not null default '{}'::jsonb,
  auto_score numeric,
  ai_score numeric,
  ai_feedback text,
  ai_meta jsonb,
  ai_marked_at timestamptz,
  override_score numeric,
  teacher_feedback text,
  override_by uuid references public.profiles (user_id) on delete set null,
  override_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint submissions_user_activity_key unique (user_id, activity_id),
  constraint submissions_status_check check (status in ('inprogress', 'submitted', 'completed', 'rejected')),
  constraint submissions_submitted_at_check check (status = 'inprogress' or submitted_at is not null),
  constraint submissions_auto_score_check check (auto_score between 0 and 1),
  constraint submissions_ai_score_check check (ai_score between 0 and 1),
  constraint submissions_override_score_check check (override_score between 0 and 1),
  constraint submissions_ai_marked_check check (ai_score is null or ai_marked_at is not null),
  constraint submissions_override_at_check check (override_score is null or override_at is not null),
  constraint submissions_body_check check (jsonb_typeof(body) = 'object')
);
create index submissions_activity_idx on public.submissions (activity_id);
comment on table public.submissions is
'The pupil''s current work on an activity, one row per (activity, pupil), with every kind of mark.';

create table public.submission_criterion_scores (
  submission_id uuid not null references public.submissions (submission_id) on delete cascade,
  success_criteria_id uuid not null references public.success_criteria (success_criteria_id) on delete cascade,
  score numeric not null,
  marked_by uuid references public.profiles (user_id) on delete set null,
  marked_at timestamptz not null default now(),
  primary key (submission_id, success_criteria_id),
  constraint submission_criterion_scores_score_check check (score between 0 and 1)
);
create index submission_criterion_scores_criterion_idx on public.submission_criterion_scores (success_criteria_id);
comment on table public.submission_criterion_scores is 'A teacher''s mark for one success criterion of one submission.';
