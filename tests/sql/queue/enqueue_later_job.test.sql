-- A write coalescing into a waiting job that a transaction started after it created (found by the
-- pgbench soak: the writer's now() was earlier than the job's enqueued_at, and
-- report_jobs_enqueued_check refused the write). The job's times only move forward.
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(4);

select tests.build_school();
select tests.clear_queue();
-- The waiting job as the later transaction left it: enqueued a second after this transaction began.
insert into private.report_jobs (pupil_id, reason, max_attempts, unit_ids, enqueued_at, last_enqueued_at, run_after)
values (tests.school_id('P1'), 'later writer', 5, null, now() + interval '1 second', now() + interval '1 second', now());

select lives_ok(
  $$select private.report_enqueue(array[tests.school_id('P1')], 'earlier writer')$$,
  'an earlier transaction coalesces into the later one''s job'
);
select results_eq(
  $$select coalesced_count, last_enqueued_at = enqueued_at, enqueued_at = now() + interval '1 second'
    from private.report_jobs where pupil_id = tests.school_id('P1')$$,
  $$values (1, true, true)$$,
  'one job, the write coalesced into it, its times unchanged (never moved back)'
);
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok(
  format($$select public.results_save_feedback(%L, %L, override_score => 0.7)$$, tests.school_id('AT'), tests.school_id('P1')),
  'a teacher''s write into that job is accepted'
);
select tests.clear_authentication();
select is(
  (select coalesced_count from private.report_jobs where pupil_id = tests.school_id('P1')),
  2, 'and coalesced'
);

select * from finish();
rollback;
