-- The pupil report page reads prebuilt JSON, derived from the typed cache rows (which stay the
-- source of truth), rebuilt by the same recalculation that writes them, and checked by the
-- verification like any other cached value:
--   report_pupil_unit_documents     one fragment per pupil and unit, the unit's entry of
--                                   /reports/{pupilId} (its figures, its criteria grouped by level);
--   report_pupil_subject_documents  per pupil and subject, the subject's part of the page: its
--                                   figures and its units' fragments in order.
-- A write recomputes one unit: its fragment is rebuilt and its subject's part re-assembled from the
-- stored fragments (no other fragment or subject is touched).

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

-- Each subject of the pupil report page, with its figures and its units' documents in order,
-- assembled from report_pupil_subject_summaries and report_pupil_unit_documents whenever one of its
-- units changes, so that public.report_pupil reads one row per subject. The pupil's name and the
-- report version are added on read. lz4: a subject of a full year is ~15 kB of JSON.
create table public.report_pupil_subject_documents (
  pupil_id uuid not null,
  subject text not null,
  document json not null,
  primary key (pupil_id, subject),
  foreign key (pupil_id, subject) references public.report_pupil_subject_summaries (pupil_id, subject)
  on update cascade on delete cascade
);
alter table public.report_pupil_subject_documents alter column document set compression lz4;
comment on table public.report_pupil_subject_documents is
'Each subject of the pupil report as JSON, assembled from the cached rows (private.report_subject_document).';

alter table public.report_pupil_subject_documents enable row level security;
revoke all on table public.report_pupil_subject_documents from public, anon, authenticated;
grant select on table public.report_pupil_subject_documents to authenticated;
grant all on table public.report_pupil_subject_documents to service_role;

create policy report_pupil_subject_documents_select on public.report_pupil_subject_documents
for select to authenticated
using (pupil_id in (select private.readable_pupil_ids()));

-- A subject's units in page order, read by the assembly (not the whole pupil filtered by subject).
create index report_pupil_unit_summaries_subject_idx
on public.report_pupil_unit_summaries (pupil_id, subject, unit_year, unit_title, unit_id);

-- The class report page (/reports/groups/{groupId}) reads a prebuilt document too. A class's page
-- depends on many pupils, so it is not rebuilt inside their recalculations: every change to what the
-- page shows appends the class to private.report_group_changes (a pupil's unit rows of a unit the
-- class is assigned, its pupils, its lessons, a unit's title or year), and the queue's drain rebuilds
-- each changed class once (private.report_groups_refresh). While a class has changes waiting,
-- public.report_group derives the page from the cached unit rows as before, so a read is never stale.
create table public.report_group_documents (
  group_id text primary key references public.groups (group_id) on update cascade on delete cascade,
  document json not null,
  built_at timestamptz not null default now()
);
alter table public.report_group_documents alter column document set compression lz4;
comment on table public.report_group_documents is
'The class report as JSON, built from the cached unit rows (private.report_group_document); current when the class '
'has no entry in private.report_group_changes.';

alter table public.report_group_documents enable row level security;
revoke all on table public.report_group_documents from public, anon, authenticated;
grant select on table public.report_group_documents to authenticated;
grant all on table public.report_group_documents to service_role;

create policy report_group_documents_select on public.report_group_documents
for select to authenticated
using (group_id in (select private.taught_group_ids()));

-- Append-only: one row per change that makes a class's stored page out of date. A refresh deletes
-- exactly the rows it saw before building, so a change that commits during the build is kept.
create table private.report_group_changes (
  change_id bigint generated always as identity primary key,
  group_id text not null,
  changed_at timestamptz not null default now()
);
create index report_group_changes_group_idx on private.report_group_changes (group_id, change_id);
comment on table private.report_group_changes is
'Classes whose stored report page is out of date, one row per change; emptied by private.report_groups_refresh.';

revoke all on table private.report_group_changes from public, anon, authenticated;
grant select on table private.report_group_changes to service_role;
