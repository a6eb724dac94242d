-- Deleting a user (auth.users -> profiles, cascading) sets submissions.override_by and
-- submission_criterion_scores.marked_by to NULL where they name the user: without an index each of
-- those foreign keys is a scan of the whole table per deleted user.

create index submissions_override_by_idx on public.submissions (override_by) where override_by is not null;
create index submission_criterion_scores_marked_by_idx on public.submission_criterion_scores (marked_by)
where marked_by is not null;
