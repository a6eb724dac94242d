-- The pupil report page reads prebuilt JSON, derived from the typed cache rows (which stay the
-- source of truth), rebuilt by the same recalculation that writes them, and checked by the
-- verification like any other cached value:
--   report_pupil_unit_documents  one fragment per pupil and unit, the unit's entry of /reports/{pupilId}
--                                (its figures, its criteria grouped by level with their descriptions);
--   report_pupil_documents       per pupil, the page's subjects with their units' fragments in order.
-- A write recomputes one unit: its fragment is rebuilt, and the pupil's document re-assembled from the
-- stored fragments (no fragment is rebuilt for a unit that did not change).

create table public.report_pupil_unit_documents (
  pupil_id uuid not null,
  unit_id uuid not null,
  document json not null,
  primary key (pupil_id, unit_id),
  foreign key (pupil_id, unit_id) references public.report_pupil_unit_summaries (pupil_id, unit_id)
  on delete cascade
);
comment on table public.report_pupil_unit_documents is
'The unit''s entry of the pupil report as JSON, built from the unit''s cached rows (private.report_unit_document).';

alter table public.report_pupil_unit_documents enable row level security;
revoke all on table public.report_pupil_unit_documents from public, anon, authenticated;
grant select on table public.report_pupil_unit_documents to authenticated;
grant all on table public.report_pupil_unit_documents to service_role;

create policy report_pupil_unit_documents_select on public.report_pupil_unit_documents
for select to authenticated
using (pupil_id in (select private.readable_pupil_ids()));

-- The body of the pupil report page: its subjects, each with its figures and its units' documents in
-- order, assembled from report_pupil_subject_summaries and report_pupil_unit_documents whenever the
-- pupil's report changes, so that public.report_pupil reads one row. The pupil's name and the
-- report version are added on read. lz4: a pupil's year is ~90 kB of JSON, written once per change.
create table public.report_pupil_documents (
  pupil_id uuid primary key references public.profiles (user_id) on delete cascade,
  subjects json not null
);
alter table public.report_pupil_documents alter column subjects set compression lz4;
comment on table public.report_pupil_documents is
'The subjects of each pupil''s report as JSON, assembled from the cached rows (private.report_pupil_subjects).';

alter table public.report_pupil_documents enable row level security;
revoke all on table public.report_pupil_documents from public, anon, authenticated;
grant select on table public.report_pupil_documents to authenticated;
grant all on table public.report_pupil_documents to service_role;

create policy report_pupil_documents_select on public.report_pupil_documents
for select to authenticated
using (pupil_id in (select private.readable_pupil_ids()));
