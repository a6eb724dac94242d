-- Who drains the queue, and the one call that installs or repairs its pg_cron schedule:
--   report_queue_schedule is the service role's; it (re)creates the two jobs, idempotently;
--   report_queue_health says nothing_drains when jobs are due and no cron job, no running job and no
--   recent recalculation exist, and stops saying it once the schedule is repaired.
-- Runs where pg_cron is installed (the embedded database; a Supabase project once it is enabled).
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(11);

select tests.build_school();

select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.report_queue_schedule()$$, '42501', null, 'a teacher may not schedule the queue');
select tests.authenticate_as_anon();
select throws_ok($$select public.report_queue_schedule()$$, '42501', null, 'nor may anon');
select tests.clear_authentication();

-- Nothing drains: no cron job, no running job, no recalculation in the last five minutes, a job due.
select from cron.unschedule('report-jobs-drain');
delete from private.report_job_history;
select from private.report_enqueue(array[tests.school_id('P1')], 'schedule test');
select tests.authenticate_as_service_role();
select is(public.report_queue_health() -> 'drain_scheduled', 'false', 'without its cron job the drain is not scheduled');
select is(public.report_queue_health() -> 'nothing_drains', 'true', 'and with a job due, nothing drains: said loudly');

insert into rpc_results select 'first', public.report_queue_schedule();
select is((select r -> 'drain_scheduled' from rpc_results where name = 'first'), 'true', 'report_queue_schedule repairs it');
select is(
  (select jsonb_agg(j ->> 'jobname') from rpc_results, jsonb_array_elements(r -> 'scheduled') as j where name = 'first'),
  '["report-jobs-drain", "report-verify-sample"]', 'both jobs are there'
);
select is(public.report_queue_health() -> 'nothing_drains', 'false', 'and the queue is drained again');
select lives_ok($$select public.report_queue_schedule()$$, 'calling it again is harmless');
select tests.clear_authentication();
select is(
  (select count(*)::int from cron.job where jobname in ('report-jobs-drain', 'report-verify-sample')),
  2, 'still one job of each'
);
select is(
  (select command from cron.job where jobname = 'report-jobs-drain'), 'call private.report_jobs_drain(100, 50)',
  'the drain job calls the two-phase drain'
);

-- A worker that drained recently counts as someone draining, even without cron.
select from cron.unschedule('report-jobs-drain');
select from tests.drain_queue();
select from private.report_enqueue(array[tests.school_id('P2')], 'schedule test');
select is(public.report_queue_health() -> 'nothing_drains', 'false', 'a recalculation in the last five minutes counts');

select * from finish();
rollback;
