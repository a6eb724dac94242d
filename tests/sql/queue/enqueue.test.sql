-- The recalculation queue (private.report_jobs): coalescing, states and their constraints, single-phase
-- processing, failures with backoff until dead, re-queue, health, two-phase claims with leases, and the
-- verification sweep. Fixture: tests/sql/writes_helpers.psql. Everything runs as the database owner.
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(85);

-- Settings first: report_enqueue copies max_attempts into each job it creates.
update private.report_queue_settings set max_attempts = 3, backoff_base = '1 second';
select tests.build_school();

-- 1. Coalescing --------------------------------------------------------------------------------------
do $$
begin
  for i in 1..100 loop
    perform private.report_enqueue(array[tests.school_id('P1')], 'burst');
  end loop;
end
$$;
select results_eq(
  $$select state::text, coalesced_count, reason, max_attempts from private.report_jobs where pupil_id = tests.school_id('P1')$$,
  $$values ('pending', 99, 'burst', 3)$$,
  '100 enqueues of one pupil: exactly one pending job, 99 writes coalesced into it, max_attempts from the settings'
);
select is((select count(*)::int from private.report_jobs), 1, 'and no other job');
select ok(
  (select last_enqueued_at >= enqueued_at from private.report_jobs where pupil_id = tests.school_id('P1')),
  'last_enqueued_at is not before enqueued_at'
);

select tests.clear_queue();
select is(
  private.report_enqueue(array[tests.school_id('P3'), null, tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P1')], 'multi'), 3,
  'NULL ids are ignored and a repeated pupil is enqueued once: 3 pupils'
);
select is(
  array(select pupil_id from private.report_jobs order by job_id),
  array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')],
  'jobs are created in pupil_id order (a fixed lock order)'
);
select is(private.report_enqueue(array[null, null]::uuid [], 'nulls'), 0, 'an array of NULLs enqueues nothing');
select is(private.report_enqueue(null, 'null array'), 0, 'a NULL array enqueues nothing');
select is((select count(*)::int from private.report_jobs), 3, 'still 3 jobs');

-- 2. A write during a running recalculation, and after a dead job --------------------------------------
select tests.clear_queue();
select from private.report_enqueue(array[tests.school_id('P1')], 'first');
update private.report_jobs
set state = 'running', locked_at = now(), locked_by = 'test-worker', lease_expires_at = now() + interval '5 minutes', attempts = 1
where pupil_id = tests.school_id('P1');
select is(private.report_enqueue(array[tests.school_id('P1')], 'second'), 1, 'enqueue while running returns 1');
select results_eq(
  $$select state::text, reason, coalesced_count from private.report_jobs where pupil_id = tests.school_id('P1') order by job_id$$,
  $$values ('running', 'first', 0), ('pending', 'second', 0)$$,
  'a write while a job is running makes a second, pending job (the latest write is not lost)'
);

select tests.clear_queue();
insert into private.report_jobs (pupil_id, state, reason, attempts, max_attempts, last_error, failed_at, dead_at)
values (tests.school_id('P2'), 'dead', 'old', 3, 3, 'boom', now(), now());
select from private.report_enqueue(array[tests.school_id('P2')], 'after dead');
select results_eq(
  $$select state::text, reason from private.report_jobs where pupil_id = tests.school_id('P2') order by job_id$$,
  $$values ('dead', 'old'), ('pending', 'after dead')$$,
  'a dead job does not swallow a new write: a new pending job, and the dead one stays visible'
);

-- 3. Named constraints and the partial unique index ----------------------------------------------------
select tests.clear_queue();
select from private.report_enqueue(array[tests.school_id('P1')], 'constraints');
select throws_ok(
  $$update private.report_jobs set state = 'running' where pupil_id = tests.school_id('P1')$$,
  '23514', 'new row for relation "report_jobs" violates check constraint "report_jobs_running_check"',
  'running without a lease is rejected (report_jobs_running_check)'
);
select throws_ok(
  $$update private.report_jobs set locked_at = now(), locked_by = 'w', lease_expires_at = now() where pupil_id = tests.school_id('P1')$$,
  '23514', 'new row for relation "report_jobs" violates check constraint "report_jobs_running_check"',
  'a pending job with a lease is rejected (report_jobs_running_check)'
);
select throws_ok(
  $$update private.report_jobs set state = 'dead', attempts = 3, last_error = 'x', failed_at = now()
    where pupil_id = tests.school_id('P1')$$,
  '23514', 'new row for relation "report_jobs" violates check constraint "report_jobs_dead_check"',
  'dead without dead_at is rejected (report_jobs_dead_check)'
);
select throws_ok(
  $$update private.report_jobs set dead_at = now() where pupil_id = tests.school_id('P1')$$,
  '23514', 'new row for relation "report_jobs" violates check constraint "report_jobs_dead_check"',
  'pending with dead_at is rejected (report_jobs_dead_check)'
);
select throws_ok(
  $$update private.report_jobs set state = 'failed', attempts = 1, failed_at = now() where pupil_id = tests.school_id('P1')$$,
  '23514', 'new row for relation "report_jobs" violates check constraint "report_jobs_failed_check"',
  'failed without last_error is rejected (report_jobs_failed_check)'
);
select throws_ok(
  $$update private.report_jobs set attempts = 4 where pupil_id = tests.school_id('P1')$$,
  '23514', 'new row for relation "report_jobs" violates check constraint "report_jobs_attempts_check"',
  'attempts above max_attempts are rejected (report_jobs_attempts_check)'
);
select throws_ok(
  $$insert into private.report_jobs (pupil_id, reason) values (tests.school_id('P1'), 'second pending')$$,
  '23505', 'duplicate key value violates unique constraint "report_jobs_waiting_pupil_key"',
  'a second pending job for the pupil is rejected by the partial unique index'
);
select throws_ok(
  $$insert into private.report_jobs (pupil_id, reason, state, attempts, last_error, failed_at)
    values (tests.school_id('P1'), 'failed too', 'failed', 1, 'x', now())$$,
  '23505', 'duplicate key value violates unique constraint "report_jobs_waiting_pupil_key"',
  'a failed job next to a pending one is rejected too (one waiting job per pupil)'
);
select lives_ok(
  $$insert into private.report_jobs (pupil_id, reason, state, attempts, last_error, failed_at, dead_at)
    values (tests.school_id('P1'), 'dead one', 'dead', 1, 'x', now(), now())$$,
  'a dead job next to the pending one is allowed (outside the partial index)'
);

-- 4. report_process_pupil --------------------------------------------------------------------------
select tests.clear_queue();
select from private.report_enqueue(array[tests.school_id('P1')], 'fire and forget');
insert into checksums select 'job_p1', job_id::text from private.report_jobs where pupil_id = tests.school_id('P1');
insert into rpc_results select 'pp1', public.report_process_pupil(tests.school_id('P1'));
select is(
  (select jsonb_build_object('processed', r -> 'processed', 'outcome', r -> 'outcome', 'pupil_id', r -> 'pupil_id')
   from rpc_results where name = 'pp1'),
  jsonb_build_object('processed', true, 'outcome', 'done', 'pupil_id', tests.school_id('P1')),
  'report_process_pupil processes the due job: processed, outcome done'
);
select ok((select (r ->> 'waited_ms')::numeric >= 0 and (r ->> 'run_ms')::numeric >= 0 from rpc_results where name = 'pp1'),
  'it reports waited_ms and run_ms >= 0');
select is_empty($$select from private.report_jobs where pupil_id = tests.school_id('P1')$$, 'the job is deleted');
select results_eq(
  $$select outcome, reason, attempts, (started_at >= enqueued_at) from private.report_job_history
    where job_id = (select ck::bigint from checksums where name = 'job_p1')$$,
  $$values ('done', 'fire and forget', 1, true)$$,
  'one history row: outcome done, the reason, attempt 1, started after it was enqueued (wait >= 0)'
);
select is(
  public.report_process_pupil(tests.school_id('P1')),
  '{"processed": false, "reason": "no due job"}'::jsonb,
  'nothing to do: processed false, reason no due job'
);
select from private.report_enqueue(array[tests.school_id('P2')], 'later');
update private.report_jobs set run_after = now() + interval '1 minute' where pupil_id = tests.school_id('P2');
select is(
  public.report_process_pupil(tests.school_id('P2')) ->> 'reason', 'no due job', 'a job that is not due yet is left alone'
);
select is((select count(*)::int from private.report_jobs where pupil_id = tests.school_id('P2')), 1, 'and stays queued');
select throws_ok($$select public.report_process_pupil(null)$$, 'PLV01', null, 'report_process_pupil(NULL): PLV01');
select throws_ok($$select public.report_process_pupil(tests.school_id('NONE'))$$, 'PLN01', null, 'unknown pupil: PLN01');
select tests.authenticate_as(tests.school_id('P1'));
select throws_ok($$select public.report_process_pupil(tests.school_id('P2'))$$, '42501', null,
  'a pupil may not trigger a classmate''s recalculation');
select tests.clear_authentication();

-- 5. report_jobs_process: bounded batches, counts, limits ----------------------------------------------
select tests.clear_queue();
select from private.report_enqueue(array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')], 'batch');
insert into rpc_results select 'b1', public.report_jobs_process(2, 10000);
select is(
  (select jsonb_build_object('done', r -> 'done', 'failed', r -> 'failed', 'processed', r -> 'processed',
    'remaining', r -> 'remaining') from rpc_results where name = 'b1'),
  '{"done": 2, "failed": 0, "processed": 2, "remaining": 1}'::jsonb,
  'max_jobs 2 of 3: done 2, remaining 1'
);
select is((select count(*)::int from private.report_jobs), 1, 'one job left in the table');
select is(
  (select jsonb_build_object('done', r -> 'done', 'remaining', r -> 'remaining')
   from (select public.report_jobs_process(10, 10000) as r) as x),
  '{"done": 1, "remaining": 0}'::jsonb,
  'the next batch does the last one: done 1, remaining 0'
);
select is_empty($$select from private.report_jobs$$, 'the queue is empty');
select throws_ok($$select public.report_jobs_process(0, 100)$$, 'PLV08', null, 'max_jobs 0: PLV08');
select throws_ok($$select public.report_jobs_process(null, 100)$$, 'PLV08', null, 'max_jobs NULL: PLV08');
select throws_ok($$select public.report_jobs_process(10001, 100)$$, 'PLV08', null, 'max_jobs 10001: PLV08');
select throws_ok($$select public.report_jobs_process(10, 0)$$, 'PLV08', null, 'max_ms 0: PLV08');
select throws_ok($$select public.report_jobs_process(10, 60001)$$, 'PLV08', null, 'max_ms 60001: PLV08');

-- 6. A failing pupil: retries with growing backoff, then dead ------------------------------------------
-- P2's recalculation fails: its cached rows are removed and a constraint refuses new ones.
delete from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P2');
alter table public.report_pupil_unit_summaries
add constraint t_poison check (pupil_id <> 'c1000000-0000-4000-8000-000000000012');
select tests.clear_queue();
select from private.report_enqueue(array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')], 'poison');
insert into checksums select 'job_p2', job_id::text from private.report_jobs where pupil_id = tests.school_id('P2');
insert into rpc_results select 'f1', public.report_jobs_process(100, 10000);
select is(
  (select jsonb_build_object('done', r -> 'done', 'failed', r -> 'failed', 'dead', r -> 'dead') from rpc_results where name = 'f1'),
  '{"done": 2, "failed": 1, "dead": 0}'::jsonb,
  'round 1: two pupils done, one failed'
);
select results_eq(
  $$select state::text, attempts, last_error_code, last_error like '%t_poison%', run_after > now(), failed_at = now(),
      locked_at is null
    from private.report_jobs where pupil_id = tests.school_id('P2')$$,
  $$values ('failed', 1, '23514', true, true, true, true)$$,
  'the job is failed: attempt 1, error 23514 naming t_poison, retried later'
);
select is_empty(
  $$select from private.report_jobs where pupil_id in (tests.school_id('P1'), tests.school_id('P3'))$$,
  'the other pupils'' jobs are done'
);
select is_empty(
  $$select * from private.report_differences(array[tests.school_id('P1'), tests.school_id('P3')])$$,
  'and their cache equals the live computation (one failure does not roll back the batch)'
);
select results_eq(
  $$select outcome, error like '%t_poison%' from private.report_job_history
    where job_id = (select ck::bigint from checksums where name = 'job_p2')$$,
  $$values ('failed', true)$$,
  'the failed attempt is in the history with its error'
);
insert into checksums select 'delay1', extract(epoch from run_after - failed_at)::text
from private.report_jobs where pupil_id = tests.school_id('P2');
select ok((select ck::numeric between 0.75 and 1.25 from checksums where name = 'delay1'),
  'delay after attempt 1 is backoff_base +/- 25 % (0.75-1.25 s)');
select is(public.report_process_pupil(tests.school_id('P2')) ->> 'reason', 'no due job', 'a failed job is not due before its backoff');
select ok(
  (select (h ->> 'failed')::int = 1 and (h ->> 'pending')::int = 0 and (h ->> 'dead')::int = 0 and (h ->> 'due')::int = 0
   from (select public.report_queue_health() as h) as x),
  'health: failed 1, pending 0, dead 0, due 0'
);

-- Round 2: time passes.
update private.report_jobs set run_after = now() - interval '1 second' where pupil_id = tests.school_id('P2');
select is(public.report_jobs_process(100, 10000) ->> 'failed', '1', 'round 2: failed again');
select results_eq(
  $$select state::text, attempts, last_error_code from private.report_jobs where pupil_id = tests.school_id('P2')$$,
  $$values ('failed', 2, '23514')$$,
  'attempt 2 recorded'
);
insert into checksums select 'delay2', extract(epoch from run_after - failed_at)::text
from private.report_jobs where pupil_id = tests.school_id('P2');
select ok((select ck::numeric between 1.5 and 2.5 from checksums where name = 'delay2'),
  'delay after attempt 2 is 2 x backoff_base +/- 25 % (1.5-2.5 s)');
select ok(
  (select d2.ck::numeric > d1.ck::numeric from checksums as d1, checksums as d2 where d1.name = 'delay1' and d2.name = 'delay2'),
  'the delay grows from attempt 1 to attempt 2'
);

-- Round 3: the last attempt.
update private.report_jobs set run_after = now() - interval '1 second' where pupil_id = tests.school_id('P2');
select is(public.report_jobs_process(100, 10000) ->> 'dead', '1', 'round 3: dead');
select results_eq(
  $$select job_id, state::text, attempts, dead_at is not null, last_error_code from private.report_jobs
    where pupil_id = tests.school_id('P2')$$,
  $$select ck::bigint, 'dead', 3, true, '23514' from checksums where name = 'job_p2'$$,
  'after max_attempts (3) the same job is dead with dead_at set'
);
select results_eq(
  $$select job_id, pupil_id, state, attempts, max_attempts, last_error_code from public.report_jobs_failures()$$,
  $$select ck::bigint, tests.school_id('P2'), 'dead', 3, 3, '23514' from checksums where name = 'job_p2'$$,
  'report_jobs_failures lists the dead job'
);
select is(public.report_jobs_process(100, 10000) ->> 'processed', '0', 'a dead job is never processed');
select ok(
  (select (h ->> 'dead')::int = (select count(*) from private.report_jobs where state = 'dead')
      and (h ->> 'failed')::int = (select count(*) from private.report_jobs where state = 'failed')
      and (h ->> 'pending')::int = (select count(*) from private.report_jobs where state = 'pending')
      and (h ->> 'dead')::int = 1
   from (select public.report_queue_health() as h) as x),
  'health: dead 1 and the counts agree with the table'
);

-- Re-queue.
select throws_ok($$select public.report_jobs_requeue(-1)$$, 'PLN08', null, 'requeue of an unknown job: PLN08');
insert into rpc_results select 'rq', public.report_jobs_requeue((select ck::bigint from checksums where name = 'job_p2'));
select is((select r ->> 'state' from rpc_results where name = 'rq'), 'pending', 'requeue returns the pending job');
select results_eq(
  $$select state::text, attempts, last_error, dead_at from private.report_jobs where pupil_id = tests.school_id('P2')$$,
  $$values ('pending', 0, null::text, null::timestamptz)$$,
  'the dead job is replaced by a fresh pending job with attempts 0'
);
select throws_ok(
  format('select public.report_jobs_requeue(%s)', (select job_id from private.report_jobs where pupil_id = tests.school_id('P2'))),
  'PLS01', null, 'requeue of a pending job: PLS01'
);
select ok(
  (select (h ->> 'pending')::int = 1 and (h ->> 'dead')::int = 0 and (h ->> 'failed')::int = 0
   from (select public.report_queue_health() as h) as x),
  'health: pending 1, dead 0, failed 0'
);
alter table public.report_pupil_unit_summaries drop constraint t_poison;
select is(public.report_jobs_process(100, 10000) ->> 'done', '1', 'once the cause is gone the re-queued job is done');
select is_empty($$select * from private.report_differences(array[tests.school_id('P2')])$$, 'and P2''s cache is exact again');

-- 7. Two phases: claim with a lease, reap an expired lease -------------------------------------------
select tests.clear_queue();
select from private.report_enqueue(array[tests.school_id('P1')], 'two-phase');
select is((select count(*)::int from private.report_jobs_claim(10, 'w1')), 1, 'report_jobs_claim claims the due job');
select results_eq(
  $$select state::text, locked_by, locked_at is not null, lease_expires_at > now(), attempts
    from private.report_jobs where pupil_id = tests.school_id('P1')$$,
  $$values ('running', 'w1', true, true, 1)$$,
  'the job is running, locked by w1, with a lease in the future; the claim counts the attempt'
);
select is((select count(*)::int from private.report_jobs_claim(10, 'w2')), 0, 'a running job is not claimed twice');
select is(private.report_jobs_reap(), 0, 'a live lease is not reaped');
update private.report_jobs set lease_expires_at = now() - interval '1 second' where pupil_id = tests.school_id('P1');
select is(private.report_jobs_reap(), 1, 'an expired lease is reaped');
select results_eq(
  $$select state::text, last_error_code, last_error like '%w1%', attempts, locked_by, lease_expires_at, run_after > now()
    from private.report_jobs where pupil_id = tests.school_id('P1')$$,
  $$values ('failed', 'PLQ02', true, 1, null::text, null::timestamptz, true)$$,
  'reaped: failed with PLQ02 naming the worker, lock released, retried after a backoff'
);

-- A write while running, and the safety net skipping that pupil.
update private.report_jobs set run_after = now() - interval '1 second' where pupil_id = tests.school_id('P1');
select is((select count(*)::int from private.report_jobs_claim(10, 'w2')), 1, 'the failed job is claimed again');
select from private.report_enqueue(array[tests.school_id('P1')], 'during run');
select results_eq(
  $$select state::text, attempts from private.report_jobs where pupil_id = tests.school_id('P1') order by job_id$$,
  $$values ('running', 2), ('pending', 0)$$,
  'running (attempt 2) plus a new pending job'
);
select is(public.report_process_pupil(tests.school_id('P1')), '{"processed": false, "reason": "running"}'::jsonb,
  'report_process_pupil leaves a pupil whose job is running');
select is(public.report_jobs_process(100, 10000) ->> 'processed', '0',
  'report_jobs_process skips the pending job of a pupil with a running job');
select is((select state::text from private.report_jobs where pupil_id = tests.school_id('P1') and reason = 'during run'), 'pending',
  'the pending job is still pending');
select ok((public.report_queue_health() ->> 'running')::int = 1, 'health: running 1');

-- The expired running job folds into the waiting one.
update private.report_jobs set lease_expires_at = now() - interval '1 second' where state = 'running';
select is(private.report_jobs_reap(), 1, 'the expired lease is reaped');
select results_eq(
  $$select state::text, attempts, last_error_code, coalesced_count from private.report_jobs where pupil_id = tests.school_id('P1')$$,
  $$values ('failed', 2, 'PLQ02', 1)$$,
  'one waiting job remains: failed, attempt 2 kept, PLQ02, the running job counted as coalesced'
);

-- The run phase of a claimed job.
update private.report_jobs set run_after = now() - interval '1 second' where pupil_id = tests.school_id('P1');
select is((select count(*)::int from private.report_jobs_claim(10, 'w3')), 1, 'claimed by w3');
select is(
  private.report_job_run((select job_id from private.report_jobs where pupil_id = tests.school_id('P1')), 'w3') ->> 'outcome', 'done',
  'report_job_run finishes the claimed job'
);
select is_empty($$select from private.report_jobs$$, 'and removes it');

-- 8. The verification sweep ---------------------------------------------------------------------------
select from private.report_merge(array(select b.pupil_id from private.report_backfill_pupils(null, null) as b));
update public.report_pupil_unit_summaries set activities_average = 0.1234
where pupil_id = tests.school_id('P1') and unit_id = tests.school_id('U8');
insert into rpc_results select 'v1', public.report_verify_and_enqueue(null);
select is(
  (select jsonb_build_object('mismatched', r -> 'pupils_mismatched', 'differences', r -> 'differences', 'enqueued', r -> 'enqueued')
   from rpc_results where name = 'v1'),
  '{"mismatched": 1, "differences": 1, "enqueued": 1}'::jsonb,
  'the sweep over everyone finds the one tampered pupil'
);
select ok((select (r ->> 'pupils_checked')::int >= 3 from rpc_results where name = 'v1'), 'having checked every pupil');
select results_eq(
  $$select pupil_id, reason from private.report_jobs where state = 'pending'$$,
  $$values (tests.school_id('P1'), 'verification sweep')$$,
  'exactly that pupil is enqueued'
);
select is(tests.drain_queue() ->> 'done', '1', 'the drain fixes it');
select is((select pupils_mismatched from public.report_verify_sweep(null)), 0, 'and the sweep finds the cache exact');

select * from finish();
rollback;
