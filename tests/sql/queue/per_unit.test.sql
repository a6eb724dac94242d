-- Per-unit recalculation: a write enqueues its pupil with the written activity's unit; coalescing
-- merges the unit sets (NULL, every unit, absorbs everything); a job recomputes exactly its units,
-- their subject rows and documents, and the pupil's page; a write during a running job is redone; the
-- stored documents are checked by the verification. Fixture: tests/sql/writes_helpers.psql
-- (P3 in W-7B has two units of W-Subject: U8 through L1, U9 through L9).
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(40);

select tests.build_school();

-- The unit set a job carries, as text (NULL: every unit).
create function tests.job_units(p_pupil uuid)
returns text
language sql
as $$
  select coalesce(j.unit_ids::text, 'every unit')
  from private.report_jobs as j
  where j.pupil_id = p_pupil and j.state in ('pending', 'failed')
$$;

-- 1. What a write enqueues ---------------------------------------------------------------------------
select tests.authenticate_as(tests.school_id('T2'));
select public.results_save_feedback(tests.school_id('A9'), tests.school_id('P3'), 0.9);
select tests.clear_authentication();
select is(tests.job_units(tests.school_id('P3')), '{' || tests.school_id('U9') || '}', 'a mark on A9 enqueues P3 with U9 only');
select tests.authenticate_as(tests.school_id('T2'));
select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P3'), 0.4);
select tests.clear_authentication();
select is(
  tests.job_units(tests.school_id('P3')),
  (select array_agg(u order by u) from unnest(array[tests.school_id('U8'), tests.school_id('U9')]) as u)::text,
  'a mark on AT (U8) coalesces into the same job: {U8, U9}, sorted'
);
select is((select count(*)::integer from private.report_jobs where pupil_id = tests.school_id('P3')), 1, 'still one job');
select is(private.report_enqueue(array[tests.school_id('P3')], 'again', array[tests.school_id('U9')]), 1, 'a unit already in the set');
select is(
  (select cardinality(unit_ids) from private.report_jobs where pupil_id = tests.school_id('P3')), 2,
  'is not added twice'
);
select private.report_enqueue(array[tests.school_id('P3')], 'membership');
select is(tests.job_units(tests.school_id('P3')), 'every unit', 'a whole-pupil enqueue makes the job every unit');
select private.report_enqueue(array[tests.school_id('P3')], 'a write', array[tests.school_id('U8')]);
select is(tests.job_units(tests.school_id('P3')), 'every unit', 'and a later unit cannot narrow it again');
select is(private.report_enqueue(array[tests.school_id('P1')], 'nothing', '{}'::uuid[]), 0, 'an empty unit set enqueues nothing');
select is((select count(*)::integer from private.report_jobs where pupil_id = tests.school_id('P1')), 0, 'no job for P1');
select private.report_enqueue(
  array[tests.school_id('P1')], 'many units', array(select gen_random_uuid() from generate_series(1, 40))
);
select private.report_enqueue(
  array[tests.school_id('P1')], 'many more', array(select gen_random_uuid() from generate_series(1, 40))
);
select is(tests.job_units(tests.school_id('P1')), 'every unit', 'past 64 units the set becomes every unit');
select is(private.report_unit_set_union(array[tests.school_id('U9')], null), null, 'union with NULL is NULL');
select from tests.drain_queue();

-- 2. A job recomputes exactly its units ---------------------------------------------------------------
-- Tamper with both of P3's unit rows; a job for U9 repairs U9 and leaves U8 as it is.
update public.report_pupil_unit_summaries set activity_count = activity_count + 5, marked_count = marked_count + 5
where pupil_id = tests.school_id('P3');
select ok(
  (private.report_recalculate_pupil(tests.school_id('P3'), array[tests.school_id('U9')]) -> 'units' ->> 'updated')::integer = 1,
  'a U9 job updates one unit row'
);
select set_eq(
  $$select kind, key from private.report_differences(array[tests.school_id('P3')])$$,
  $$values ('unit', tests.school_id('U8')::text)$$,
  'afterwards U8 (not in the job) is the only difference left: the job read and wrote U9 alone'
);
select is(
  (private.report_recalculate_pupil(tests.school_id('P3')) -> 'units' ->> 'updated')::integer, 1,
  'a whole-pupil job repairs U8'
);
select is_empty($$select * from private.report_differences(array[tests.school_id('P3')])$$, 'P3 is exact');

-- 3. Subject rows and documents follow a unit job ---------------------------------------------------
select tests.authenticate_as(tests.school_id('T2'));
select public.results_save_feedback(tests.school_id('A9'), tests.school_id('P3'), 0.2);
select tests.clear_authentication();
select is(
  (private.report_recalculate_pupil(tests.school_id('P3'), array[tests.school_id('U9')]) -> 'subjects' ->> 'updated')::integer, 1,
  'the U9 job updates the W-Subject row too (from U9 live and U8 as cached)'
);
select is_empty(
  $$select * from private.report_differences(array[tests.school_id('P3')])$$,
  'P3 is exact: unit, criterion and subject rows, unit documents and the page'
);
select is(
  (select json_extract_path_text(u, 'activities_average')
   from json_array_elements(public.report_pupil(tests.school_id('P3')) -> 'subjects' -> 0 -> 'units') as u
   where u ->> 'unit_id' = tests.school_id('U9')::text),
  '0.2000', 'report_pupil shows the new U9 average from the stored documents'
);
select is(
  (public.report_pupil(tests.school_id('P3')) ->> 'version')::bigint,
  (select version from public.report_pupil_versions where pupil_id = tests.school_id('P3')),
  'with the new version'
);
select is(
  (select d.document::text from public.report_pupil_unit_documents as d
   where d.pupil_id = tests.school_id('P3') and d.unit_id = tests.school_id('U9')),
  private.report_unit_document(
    (select u from public.report_pupil_unit_summaries as u where u.pupil_id = tests.school_id('P3') and u.unit_id = tests.school_id('U9')),
    array(select c from public.report_pupil_criterion_scores as c
      where c.pupil_id = tests.school_id('P3') and c.unit_id = tests.school_id('U9'))
  )::text,
  'the stored U9 document is the one built from the stored U9 rows'
);

-- 4. The verification checks the documents ----------------------------------------------------------
update public.report_pupil_unit_documents set document = '{"tampered": true}'
where pupil_id = tests.school_id('P3') and unit_id = tests.school_id('U8');
update public.report_pupil_subject_documents set document = '{}' where pupil_id = tests.school_id('P3');
select set_eq(
  $$select kind, key, difference from public.report_verify(tests.school_id('P3'))$$,
  $$values ('document', tests.school_id('U8')::text, 'different'), ('subject_document', 'W-Subject', 'different')$$,
  'report_verify finds a tampered unit document and a tampered subject of the page'
);
select is(
  (private.report_recalculate_pupil(tests.school_id('P3')) ->> 'documents')::integer, 1,
  'a whole-pupil recalculation rewrites the one tampered unit document'
);
select is_empty($$select * from public.report_verify(tests.school_id('P3'))$$, 'and re-assembles the subject: P3 is exact');
-- A criterion's description is part of the documents: changing it makes them stale, the sweep finds
-- them and the recalculation it enqueues repairs them.
update public.success_criteria set description = 'C9, reworded' where success_criteria_id = tests.school_id('C9');
select set_eq(
  $$select kind, difference from public.report_verify(tests.school_id('P3'))$$,
  $$values ('document', 'different')$$,
  'a reworded criterion: the U9 document differs, no typed row does (a subject is assembled from stored documents)'
);
select is((public.report_verify_and_enqueue(null) ->> 'enqueued')::integer, 1, 'the sweep enqueues P3');
select from tests.drain_queue();
select ok(
  public.report_pupil(tests.school_id('P3'))::text like '%C9, reworded%',
  'after the drain the report shows the new wording'
);
select is_empty($$select * from public.report_verify(tests.school_id('P3'))$$, 'and P3 is exact');

-- 5. Jobs, history and failures keep their units -----------------------------------------------------
select private.report_enqueue(array[tests.school_id('P3')], 'history', array[tests.school_id('U9')]);
select from tests.drain_queue();
select is(
  (select unit_ids::text from private.report_job_history where reason = 'history'),
  '{' || tests.school_id('U9') || '}', 'the job history records the units a job recomputed'
);
-- A running job (two-phase claim) that fails while a newer job waits: the newer job takes its units.
select private.report_enqueue(array[tests.school_id('P3')], 'claimed', array[tests.school_id('U9')]);
select from private.report_jobs_claim(10, 'test-worker');
select private.report_enqueue(array[tests.school_id('P3')], 'while running', array[tests.school_id('U8')]);
select is(
  private.report_job_record_failure(
    (select job_id from private.report_jobs where pupil_id = tests.school_id('P3') and state = 'running'), 1, 'boom', 'XX000'
  ),
  'failed', 'the running job fails'
);
select is(
  tests.job_units(tests.school_id('P3')),
  (select array_agg(u order by u) from unnest(array[tests.school_id('U8'), tests.school_id('U9')]) as u)::text,
  'and is folded into the waiting job, units merged: none is lost'
);
select is((select count(*)::integer from private.report_jobs where pupil_id = tests.school_id('P3')), 1, 'one job left');
-- A dead job re-queued keeps its units.
update private.report_jobs set state = 'dead', dead_at = now(), attempts = max_attempts
where pupil_id = tests.school_id('P3');
select public.report_jobs_requeue((select job_id from private.report_jobs where pupil_id = tests.school_id('P3')));
select is(
  tests.job_units(tests.school_id('P3')),
  (select array_agg(u order by u) from unnest(array[tests.school_id('U8'), tests.school_id('U9')]) as u)::text,
  'a re-queued dead job keeps its units'
);
select tests.clear_queue();

-- 6. Structural writes name the units they change ---------------------------------------------------
select tests.authenticate_as(tests.school_id('T2'));
select public.lessons_set_active(tests.school_id('L9'), false);
select tests.clear_authentication();
select is(tests.job_units(tests.school_id('P3')), '{' || tests.school_id('U9') || '}', 'a lesson deactivated: its unit');
select from tests.drain_queue();
select is(
  (select count(*)::integer from public.report_pupil_unit_summaries
   where pupil_id = tests.school_id('P3') and unit_id = tests.school_id('U9')),
  0, 'the U9 job removes the row of a unit with no work left'
);
select is(
  (select count(*)::integer from public.report_pupil_unit_documents
   where pupil_id = tests.school_id('P3') and unit_id = tests.school_id('U9')),
  0, 'and its document'
);
select is(
  json_array_length(public.report_pupil(tests.school_id('P3')) -> 'subjects' -> 0 -> 'units'), 1,
  'the page shows one unit'
);
select is_empty($$select * from public.report_verify(tests.school_id('P3'))$$, 'P3 is exact');
select public.groups_remove_member('W-7B', tests.school_id('P3'));
select is(tests.job_units(tests.school_id('P3')), 'every unit', 'a membership change: every unit');
select from tests.drain_queue();
select is(
  (select count(*)::integer from public.report_pupil_subject_documents where pupil_id = tests.school_id('P3')),
  0, 'a pupil with no work left has no stored subject'
);
select is((public.report_pupil(tests.school_id('P3')) -> 'subjects')::text, '[]', 'and report_pupil shows no subjects');

select * from finish();
rollback;
