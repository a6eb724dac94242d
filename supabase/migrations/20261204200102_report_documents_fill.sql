-- Build the stored documents of the report pages (each unit's part, each subject's part, each
-- class's page) from the cached rows already there: the documents are derived from them, so nothing
-- is recomputed and no report version changes. On a fresh database there is nothing to build.

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

insert into public.report_group_documents (group_id, document)
select
  g.group_id,
  private.report_group_document(g.group_id) as document
from public.groups as g
on conflict (group_id) do nothing;
