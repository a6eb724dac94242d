-- Answer keys leave the pupil-readable activity row. Every value used to mark an answer
-- (correct_option_id, model_answer, and any later one) lives in public.activity_answer_keys, which
-- only the teachers of the activity's subject and the service role can read; activities.body_data
-- keeps what a pupil is shown (the question, the options) and may no longer carry a key.
-- Existing keys move here: nothing is lost, and body_data loses only the moved fields.

create table public.activity_answer_keys (
  activity_id uuid primary key references public.activities (activity_id) on delete cascade,
  correct_option_id text,
  model_answer text,
  updated_at timestamptz not null default now(),
  constraint activity_answer_keys_not_empty_check check (correct_option_id is not null or model_answer is not null)
);
comment on table public.activity_answer_keys is
'What marks an activity: the correct MCQ option (auto-marking) and the model answer (AI and teacher marking). '
'Never readable by pupils: RLS lets only teachers of a class of the activity''s subject (and service_role) read it.';
comment on column public.activity_answer_keys.correct_option_id is
'The id of the right option of a multiple-choice activity; submissions_submit_answer scores 1 for it, 0 otherwise.';

insert into public.activity_answer_keys (activity_id, correct_option_id, model_answer)
select
  a.activity_id,
  nullif(a.body_data ->> 'correct_option_id', '') as correct_option_id,
  a.body_data ->> 'model_answer' as model_answer
from public.activities as a
where nullif(a.body_data ->> 'correct_option_id', '') is not null or a.body_data ->> 'model_answer' is not null;

-- Keys are moved whole; their limits hold for every key written from now on (NOT VALID: an
-- oversized old key is kept, not truncated).
alter table public.activity_answer_keys
add constraint activity_answer_keys_correct_option_id_check check (length(correct_option_id) between 1 and 100) not valid,
add constraint activity_answer_keys_model_answer_check check (length(model_answer) <= 20000) not valid;

update public.activities as a
set body_data = a.body_data - 'correct_option_id' - 'model_answer'
where a.body_data ?| array['correct_option_id', 'model_answer'];

alter table public.activities
add constraint activities_body_data_answer_key_check
check (not body_data ?| array['correct_option_id', 'model_answer']);
comment on constraint activities_body_data_answer_key_check on public.activities is
'Answer keys live in public.activity_answer_keys: body_data is readable by every pupil.';

-- Who may read them: the teachers of a class of the activity's subject (and service_role, which
-- bypasses RLS). A pupil, a stranger, a teacher of another subject and anon see no row; no RPC, grid
-- cell or realtime payload carries a key (docs/architecture.md, "Answer keys"). The policy reads the
-- caller's own teacher memberships, which group_membership's policy lets them see.
alter table public.activity_answer_keys enable row level security;
revoke all on table public.activity_answer_keys from public, anon, authenticated;
grant select on table public.activity_answer_keys to authenticated;
grant all on table public.activity_answer_keys to service_role;

create policy activity_answer_keys_select on public.activity_answer_keys
for select to authenticated
using (
  activity_id in (
    select a.activity_id
    from public.activities as a
    inner join public.lessons as l on a.lesson_id = l.lesson_id
    inner join public.units as u on l.unit_id = u.unit_id
    inner join public.groups as g on u.subject = g.subject
    inner join public.group_membership as gm on g.group_id = gm.group_id
    where gm.user_id = (select auth.uid()) and gm.role = 'teacher'
  )
);
