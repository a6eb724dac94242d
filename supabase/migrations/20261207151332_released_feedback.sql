-- Released feedback (docs/architecture.md, "Released feedback"): until a lesson's feedback is
-- released to a class (lesson_assignments.feedback_visible), a pupil of that class reads none of
-- the marks and feedback of that lesson's activities through the tables. RLS is row-level, so the
-- pupil's own rows that carry them are hidden while withheld:
--   submissions and submission_criterion_scores of the withheld lessons' activities;
--   cached unit rows, criterion rows and unit documents of units with a withheld lesson;
--   cached subject rows and subject documents of subjects with a withheld lesson.
-- The pupil reads their work on a withheld lesson, without the marks, with
-- public.read_pupil_submissions, and their report with public.report_pupil, which leaves the
-- withheld lessons out. Teachers read
-- as before (the withheld sets are empty for anyone who is not the pupil), the service role
-- bypasses RLS, anon reads nothing. The policies use sets computed once per query.

drop policy submissions_select on public.submissions;
create policy submissions_select on public.submissions
for select to authenticated
using (
  user_id in (select private.readable_pupil_ids())
  and (user_id is distinct from (select auth.uid()) or activity_id not in (select private.withheld_activity_ids()))
);

drop policy submission_criterion_scores_select on public.submission_criterion_scores;
create policy submission_criterion_scores_select on public.submission_criterion_scores
for select to authenticated
using (
  submission_id in (
    select s.submission_id
    from public.submissions as s
    where
      s.user_id in (select private.readable_pupil_ids())
      and (
        s.user_id is distinct from (select auth.uid())
        or s.activity_id not in (select private.withheld_activity_ids())
      )
  )
);

drop policy report_pupil_unit_summaries_select on public.report_pupil_unit_summaries;
create policy report_pupil_unit_summaries_select on public.report_pupil_unit_summaries
for select to authenticated
using (
  pupil_id in (select private.readable_pupil_ids())
  and (pupil_id is distinct from (select auth.uid()) or unit_id not in (select private.withheld_unit_ids()))
);

drop policy report_pupil_criterion_scores_select on public.report_pupil_criterion_scores;
create policy report_pupil_criterion_scores_select on public.report_pupil_criterion_scores
for select to authenticated
using (
  pupil_id in (select private.readable_pupil_ids())
  and (pupil_id is distinct from (select auth.uid()) or unit_id not in (select private.withheld_unit_ids()))
);

drop policy report_pupil_unit_documents_select on public.report_pupil_unit_documents;
create policy report_pupil_unit_documents_select on public.report_pupil_unit_documents
for select to authenticated
using (
  pupil_id in (select private.readable_pupil_ids())
  and (pupil_id is distinct from (select auth.uid()) or unit_id not in (select private.withheld_unit_ids()))
);

drop policy report_pupil_subject_summaries_select on public.report_pupil_subject_summaries;
create policy report_pupil_subject_summaries_select on public.report_pupil_subject_summaries
for select to authenticated
using (
  pupil_id in (select private.readable_pupil_ids())
  and (pupil_id is distinct from (select auth.uid()) or subject not in (select private.withheld_subjects()))
);

drop policy report_pupil_subject_documents_select on public.report_pupil_subject_documents;
create policy report_pupil_subject_documents_select on public.report_pupil_subject_documents
for select to authenticated
using (
  pupil_id in (select private.readable_pupil_ids())
  and (pupil_id is distinct from (select auth.uid()) or subject not in (select private.withheld_subjects()))
);
