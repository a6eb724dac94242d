-- Build the stored documents of the pupil report (each unit's, then each subject's part of the page) from the
-- cached rows already there: the documents are derived from them, so nothing is recomputed and no
-- report version changes. On a fresh database there are no cached rows and this writes nothing.

insert into public.report_pupil_unit_documents (pupil_id, unit_id, document)
select
  u.pupil_id,
  u.unit_id,
  private.report_unit_document(
    u,
    array(
      select c
      from public.report_pupil_criterion_scores as c
      where c.pupil_id = u.pupil_id and c.unit_id = u.unit_id
    )
  ) as document
from public.report_pupil_unit_summaries as u
on conflict (pupil_id, unit_id) do nothing;

insert into public.report_pupil_subject_documents (pupil_id, subject, document)
select
  s.pupil_id,
  s.subject,
  private.report_subject_document(s.pupil_id, s.subject) as document
from public.report_pupil_subject_summaries as s
on conflict (pupil_id, subject) do nothing;
