-- Build the stored documents of the pupil report (each unit's, then each pupil's page body) from the
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

insert into public.report_pupil_documents (pupil_id, subjects)
select
  x.pupil_id,
  private.report_pupil_subjects(x.pupil_id) as subjects
from (select distinct s.pupil_id from public.report_pupil_subject_summaries as s) as x
on conflict (pupil_id) do nothing;
