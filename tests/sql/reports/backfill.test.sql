-- The set-based backfill equals the per-pupil recalculation for every pupil; the batched backfill
-- resumes where it stopped; verification finds every difference.
begin;
\ir ../helpers.psql
select plan(20);

select tests.build_worked_example();
select tests.build_class(9);
select tests.add_activity('f0000000-0000-4000-8000-0000000000b1', 'short-text-question', true, '{1,2,3}');
select tests.submit('f0000000-0000-4000-8000-000000000002', a.activity_id, p_ai => 0.55)
from public.activities as a where a.lesson_id = 'f0000000-0000-4000-8000-0000000000b1';

-- Set-based, every pupil at once (what the backfill migration runs).
truncate public.report_pupil_versions, public.report_pupil_unit_summaries, public.report_pupil_criterion_scores,
  public.report_pupil_subject_summaries, public.report_pupil_unit_documents, public.report_pupil_subject_documents;
select ok((private.report_backfill_all(250) ->> 'pupils_changed')::integer > 0, 'the backfill fills the cache');
-- Every cached row and version as it stands (bookkeeping timestamps left out).
create temporary view cache_now as
select 'unit' as kind, to_jsonb(u) - 'computed_at' as r from public.report_pupil_unit_summaries as u
union all select 'criterion', to_jsonb(c) from public.report_pupil_criterion_scores as c
union all select 'subject', to_jsonb(s) - 'computed_at' from public.report_pupil_subject_summaries as s
union all select 'version', to_jsonb(v) - 'changed_at' from public.report_pupil_versions as v
union all select 'unit document', jsonb_build_object('pupil_id', d.pupil_id, 'unit_id', d.unit_id, 'document', d.document::text)
from public.report_pupil_unit_documents as d
union all select 'subject document', jsonb_build_object('pupil_id', d.pupil_id, 'subject', d.subject, 'document', d.document::text)
from public.report_pupil_subject_documents as d;
create temporary table by_backfill on commit drop as select * from cache_now;
select ok((select count(*) from by_backfill where kind = 'unit') >= 3, 'unit rows exist for several pupils');

-- Per pupil, one recalculation each.
truncate public.report_pupil_versions, public.report_pupil_unit_summaries, public.report_pupil_criterion_scores,
  public.report_pupil_subject_summaries, public.report_pupil_unit_documents, public.report_pupil_subject_documents;
select is(
  (select count(*) from private.report_backfill_pupils(null, null) as b
   cross join lateral private.report_recalculate_pupil(b.pupil_id) as r),
  (select count(*) from private.report_backfill_pupils(null, null)), 'every pupil recalculated one by one'
);
select set_eq(
  $$select kind, r from by_backfill$$,
  $$select kind, r from cache_now$$,
  'the backfill and the per-pupil recalculation write the same rows and versions'
);
select is((select pupils_mismatched from public.report_verify_sweep()), 0, 'the sweep finds the cache exact');

-- report_merge(null), the backfill migration's statement: every pupil in one statement.
truncate public.report_pupil_versions, public.report_pupil_unit_summaries, public.report_pupil_criterion_scores,
  public.report_pupil_subject_summaries, public.report_pupil_unit_documents, public.report_pupil_subject_documents;
select is((private.report_merge(null) ->> 'pupils_changed')::integer,
  (select count(*)::integer from private.report_backfill_pupils(null, null)), 'report_merge(null) covers every pupil');
select set_eq(
  $$select kind, r from by_backfill$$,
  $$select kind, r from cache_now$$,
  'report_merge(null) writes the same rows and versions as the per-pupil recalculation'
);
-- A pupil who left every class: their rows go (report_merge(null) also covers pupils with cached rows).
delete from public.group_membership where user_id = 'f0000000-0000-4000-8000-000000000002' and role = 'pupil';
select private.report_merge(null);
select is(
  (select count(*)::integer from public.report_pupil_unit_summaries where pupil_id = 'f0000000-0000-4000-8000-000000000002'),
  0, 'report_merge(null) removes the rows of a pupil who left every class'
);
-- The same through the per-pupil recalculation, and for a pupil who never had a class.
insert into public.group_membership (group_id, user_id, role)
values ('SC-CLASS', 'f0000000-0000-4000-8000-000000000002', 'pupil');
select private.report_merge(null);
delete from public.group_membership where user_id = 'f0000000-0000-4000-8000-000000000002' and role = 'pupil';
select ok(
  (private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002') -> 'units' ->> 'deleted')::integer > 0,
  'report_recalculate_pupil removes the rows of a pupil who left every class'
);
select tests.create_user('no.class@example.test', 'Nora', 'Noclass', false, 'f0000000-0000-4000-8000-0000000000ee');
select is(
  private.report_recalculate_pupil('f0000000-0000-4000-8000-0000000000ee'),
  '{"pupil_id": "f0000000-0000-4000-8000-0000000000ee", "version": 0, "changed": false,
    "units": {"inserted": 0, "updated": 0, "deleted": 0}, "criteria": {"inserted": 0, "updated": 0, "deleted": 0},
    "subjects": {"inserted": 0, "updated": 0, "deleted": 0}, "documents": 0}'::jsonb,
  'a pupil with no class and nothing cached: nothing to recalculate, same answer as an empty merge'
);
-- The shortcut is for a set with nothing to do: beside a pupil with work, the merge still runs.
delete from public.report_pupil_versions where pupil_id = 'e0000000-0000-4000-8000-000000000002';
delete from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002';
delete from public.report_pupil_subject_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002';
select is(
  private.report_merge(array['f0000000-0000-4000-8000-0000000000ee', 'e0000000-0000-4000-8000-000000000002']::uuid[])
  ->> 'pupils_changed', '1',
  'a pupil without a class beside one with work: the merge runs and fills the one with work'
);
-- The live functions take an explicit array of pupils: NULL is nobody, not everybody.
select is((select count(*)::integer from private.live_cells(null)), 0, 'live_cells(null) gives no rows');
insert into public.group_membership (group_id, user_id, role)
values ('SC-CLASS', 'f0000000-0000-4000-8000-000000000002', 'pupil');
select private.report_merge(null);
select is(private.report_backfill_all(250) ->> 'pupils_changed', '0', 'a second backfill writes nothing');

-- Verification finds a tampered row, names it, and the sweep counts it.
update public.report_pupil_unit_summaries set activities_average = 0.1
where pupil_id = 'e0000000-0000-4000-8000-000000000002';
select results_eq(
  $$select kind, difference, (stored ->> 'activities_average')::numeric, (live ->> 'activities_average')::numeric
    from public.report_verify('e0000000-0000-4000-8000-000000000002')$$,
  $$values ('unit', 'different', 0.1, 0.75)$$,
  'report_verify shows the stored and the live value'
);
select results_eq(
  $$select pupils_mismatched, differences, mismatched_pupils from public.report_verify_sweep()$$,
  $$values (1, 1, array['e0000000-0000-4000-8000-000000000002'::uuid])$$,
  'the sweep counts one mismatched pupil'
);

-- Batched and resumable.
truncate public.report_pupil_versions, public.report_pupil_unit_summaries, public.report_pupil_criterion_scores,
  public.report_pupil_subject_summaries, public.report_pupil_unit_documents, public.report_pupil_subject_documents;
create temporary table run on commit drop as select private.report_backfill_start(2) as run_id;
select is(private.report_backfill_step((select run_id from run)) ->> 'pupils_done', '2', 'one step does one batch');
select is(private.report_backfill_start(2), (select run_id from run), 'starting again resumes the unfinished run');
select is(
  (select resumed_count from private.report_backfill_runs where run_id = (select run_id from run)), 1,
  'and records that it was resumed'
);
do $$
begin
  while not (private.report_backfill_step((select run_id from run)) ->> 'finished')::boolean loop
  end loop;
end
$$;
select set_eq(
  $$select kind, r from by_backfill where kind <> 'version'$$,
  $$select kind, r from cache_now where kind <> 'version'$$,
  'the batched backfill writes the same rows'
);
select throws_ok($$select private.report_backfill_start(0)$$, 'PLV08', null, 'a batch size of 0 is refused');

select * from finish();
rollback;
