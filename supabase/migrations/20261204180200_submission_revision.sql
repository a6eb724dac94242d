-- Which answer a mark is for. Every submission carries a revision: a number taken from one sequence
-- when the row is created and again whenever the pupil's answer changes (a resubmission with a new
-- body, a new upload). It only grows and is never reused, not even after an upload is deleted and a
-- new one made, so "the revision I marked" identifies one answer. The grid cell and its realtime
-- payload carry it; results_apply_ai_marks skips an AI mark whose revision is not the current one,
-- and results_save_feedback refuses a stale expected_revision (PLS03): new work is unmarked work.

create sequence public.submissions_revision_seq as bigint;
comment on sequence public.submissions_revision_seq is 'Revisions of submissions (public.submissions.revision).';
revoke all on sequence public.submissions_revision_seq from public, anon, authenticated;
grant usage, select on sequence public.submissions_revision_seq to service_role;

-- Existing rows each get a revision of their own (in the order they were last changed).
alter table public.submissions add column revision bigint;
update public.submissions as s
set revision = r.revision
from (
  select
    x.submission_id,
    nextval('public.submissions_revision_seq') as revision
  from (
    select y.submission_id
    from public.submissions as y
    order by y.updated_at, y.submission_id
  ) as x
) as r
where s.submission_id = r.submission_id;
alter table public.submissions
alter column revision set default nextval('public.submissions_revision_seq'),
alter column revision set not null;
alter sequence public.submissions_revision_seq owned by public.submissions.revision;
comment on column public.submissions.revision is
'Which answer this is: taken from submissions_revision_seq on insert and whenever the answer (body) changes. '
'Marks name it to prove they are for the current answer.';
