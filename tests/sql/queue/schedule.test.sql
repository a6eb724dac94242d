-- Who drains the queue, judged by what pg_cron did, and the one call that installs or repairs its
-- schedule:
--   report_drain_problems: the verdict on the drain's facts, one problem per thing wrong (pg_cron
--   absent, scheduler not running, drain missing, inactive, on an unsupported schedule, failing on
--   every run, not running while jobs wait over twice its interval), nothing when it is healthy;
--   report_queue_health: those problems from the database's real state (cron.job, cron.job_run_details,
--   the pg_cron launcher backend), and nothing_drains when jobs are due and nobody drains;
--   report_queue_schedule: the service role's; (re)creates the jobs, idempotently, with the drain
--   interval pg_cron's version allows, and refuses an interval that is not a pg_cron schedule or is
--   longer than a minute (PLV16), changing nothing.
-- Where pg_cron is installed (the embedded database; a Supabase project once it is enabled) the
-- suite tests the schedule and the runs; where it is not (a new project, a scratch database) it
-- skips those, with the reason, and tests what such a database says instead.
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select exists (select from pg_catalog.pg_extension where extname = 'pg_cron') as has_pg_cron \gset
select plan(36);

select tests.build_school();

-- The verdict on facts, as report_drain_facts() gives them: a healthy drain on pg_cron 1.4 ------
create temporary table facts (name text primary key, f jsonb) on commit drop;
insert into facts values ('healthy', jsonb_build_object(
  'checked_at', now(), 'pg_cron', '1.4-1', 'scheduler_running', true, 'oldest_due_s', null,
  'job', jsonb_build_object('jobid', 1, 'schedule', '* * * * *', 'command', 'call private.report_jobs_drain(100, 59, 500, ''report-jobs-drain'')',
    'active', true),
  'interval_s', 60,
  'runs', jsonb_build_object('last_status', 'running', 'last_finished_status', 'succeeded',
    'last_ok_start', now() - interval '20 seconds', 'failures_since_success', 0, 'last_failure', null)
));
create function pg_temp.verdict(p_facts jsonb) returns text[] language sql as $$
  select coalesce(array_agg(p ->> 'problem' order by o), '{}') from jsonb_array_elements(private.report_drain_problems(p_facts))
    with ordinality as t (p, o)
$$;
create function pg_temp.healthy() returns jsonb language sql as $$ select f from facts where name = 'healthy' $$;

select is(pg_temp.verdict(pg_temp.healthy()), '{}', 'a drain that ran lately and did not fail: no problem');
select is(
  pg_temp.verdict(jsonb_build_object('checked_at', now(), 'pg_cron', null, 'scheduler_running', false)),
  '{pg_cron_absent}', 'pg_cron absent: that one problem'
);
select matches(
  private.report_drain_problems(jsonb_build_object('checked_at', now(), 'pg_cron', null)) -> 0 ->> 'message',
  'Enable it .*then run `glue schedule`', 'and its message gives the recovery: enable pg_cron, then glue schedule'
);
select is(
  pg_temp.verdict(pg_temp.healthy() || '{"scheduler_running": false}'), '{scheduler_not_running}',
  'no pg_cron launcher: the scheduler is not running'
);
select is(pg_temp.verdict(pg_temp.healthy() || '{"job": null}'), '{drain_missing}', 'no drain job: missing');
select is(
  pg_temp.verdict(jsonb_set(pg_temp.healthy(), '{job,active}', 'false')), '{drain_inactive}', 'an inactive job'
);
select is(
  pg_temp.verdict(
    jsonb_set(pg_temp.healthy(), '{job,schedule}', '"*/5 * * * *"') || '{"interval_s": null}'
  ),
  '{drain_schedule_unsupported}', 'a schedule set by hand that is slower than a minute'
);
insert into facts select 'failing', pg_temp.healthy() || jsonb_build_object('runs', jsonb_build_object(
  'last_status', 'failed', 'last_finished_status', 'failed', 'last_ok_start', null, 'failures_since_success', 7,
  'last_failure', jsonb_build_object('start_time', now() - interval '5 seconds',
    'message', 'ERROR: permission denied for function report_jobs_claim')
));
select is(
  pg_temp.verdict((select f from facts where name = 'failing')), '{drain_failing}', 'a drain that fails on every run'
);
select matches(
  private.report_drain_problems((select f from facts where name = 'failing')) -> 0 ->> 'message',
  'failed on its last 7 run\(s\).*permission denied for function report_jobs_claim',
  'its message counts the failures and quotes the last one'
);
select is(
  pg_temp.verdict(pg_temp.healthy() || '{"oldest_due_s": 300}' || jsonb_build_object('runs', jsonb_build_object(
    'last_status', 'succeeded', 'last_finished_status', 'succeeded', 'last_ok_start', now() - interval '10 minutes'
  ))),
  '{drain_not_running}', 'a job due for 300 s and no run for 10 minutes (interval 60 s): not running'
);
select is(
  pg_temp.verdict(pg_temp.healthy() || '{"oldest_due_s": 300}'), '{}',
  'a job due for 300 s while a run started 20 s ago: the drain is running (a backlog, not a stop)'
);
select is(
  pg_temp.verdict(pg_temp.healthy() || '{"oldest_due_s": 100, "runs": {}}'), '{}',
  'a job due for 100 s, under twice the interval, with no run yet: not yet a problem'
);
select is(
  pg_temp.verdict(
    pg_temp.healthy() || '{"oldest_due_s": 11, "interval_s": 5, "runs": {}}'
    || jsonb_build_object('job', jsonb_build_object('jobid', 1, 'schedule', '5 seconds', 'active', true))
  ),
  '{drain_not_running}', 'every 5 seconds: a job due for 11 s with no run is over twice the interval'
);
select is(
  array[
    private.report_drain_interval_s('5 seconds'), private.report_drain_interval_s('1 second'),
    private.report_drain_interval_s(' 59 SECONDS '), private.report_drain_interval_s('60 seconds'),
    private.report_drain_interval_s('0 seconds'), private.report_drain_interval_s('* * * * *'),
    private.report_drain_interval_s('*/1  * * * *'), private.report_drain_interval_s('*/5 * * * *'),
    private.report_drain_interval_s('@hourly')
  ],
  array[5, 1, 59, null, null, 60, 60, null, null],
  'the drain''s intervals: N seconds (1-59) or every minute'
);

select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.report_queue_schedule()$$, '42501', null, 'a teacher may not schedule the queue');
select tests.clear_authentication();
select tests.authenticate_as_anon();
select throws_ok($$select public.report_queue_schedule()$$, '42501', null, 'nor may anon');
select tests.clear_authentication();

\if :has_pg_cron
-- The database's real state: pg_cron installed, its scheduler running ------------------------------
select private.report_cron_version() >= array[1, 5] as cron_seconds \gset
select tests.authenticate_as_service_role();
insert into rpc_results select 'first', public.report_queue_schedule();
select tests.clear_authentication();
select is(
  (select r -> 'drain_interval' from rpc_results where name = 'first'),
  to_jsonb(case when :'cron_seconds'::boolean then '5 seconds' else '* * * * *' end),
  'report_queue_schedule picks seconds where pg_cron takes them (1.5+), else every minute'
);
select is(
  (select command from cron.job where jobname = 'report-jobs-drain'),
  case
    when :'cron_seconds'::boolean then 'call private.report_jobs_drain(100, 55, 0, ''report-jobs-drain'')'
    else 'call private.report_jobs_drain(100, 59, 500, ''report-jobs-drain'')'
  end,
  'the drain returns when the queue is empty on a seconds schedule, else polls every 500 ms within its minute; it stops when its job goes'
);
select is(
  (select jsonb_agg(j ->> 'jobname') from rpc_results, jsonb_array_elements(r -> 'scheduled') as j where name = 'first'),
  '["report-cron-history", "report-jobs-drain", "report-verify-sample"]', 'the three jobs are there'
);
select ok(
  (public.report_queue_health() #>> '{drain,scheduler_running}')::boolean,
  'the scheduler runs in this database (a reset kept it)'
);
select is(
  (select coalesce(array_agg(p ->> 'problem'), '{}') from jsonb_array_elements(public.report_queue_health() -> 'problems') as p),
  '{}', 'a healthy queue: no problem'
);

-- Refused intervals change nothing.
create temporary table before_refusals on commit drop as select jobid, schedule, command, active from cron.job;
select tests.authenticate_as_service_role();
select throws_ok(
  $$select public.report_queue_schedule('every now')$$, 'PLV16', '''every now'' is not a pg_cron schedule',
  'an interval that is not pg_cron syntax is refused'
);
select throws_ok(
  $$select public.report_queue_schedule('*/5 * * * *')$$, 'PLV16',
  'the drain interval ''*/5 * * * *'' is longer than the maximum of one minute', 'an interval over a minute is refused'
);
select throws_ok(
  $$select public.report_queue_schedule('60 seconds')$$, 'PLV16', '''60 seconds'' is not a pg_cron schedule',
  'seconds past 59 are not pg_cron syntax'
);
select is(
  tests.sqlstate_of($$select public.report_queue_schedule('5 seconds')$$),
  case when :'cron_seconds'::boolean then 'ok' else 'PLV16' end,
  'a seconds interval: taken where pg_cron has seconds, refused (PLV16) where it takes whole minutes'
);
select tests.clear_authentication();
select set_eq(
  $$select jobid, schedule, command, active from cron.job$$, $$select * from before_refusals$$,
  'the refusals changed no job'
);

-- Inactive, then repaired.
update cron.job set active = false where jobname = 'report-jobs-drain';
select tests.authenticate_as_service_role();
select is(public.report_queue_health() -> 'drain_scheduled', 'false', 'an inactive drain is not scheduled');
select ok(
  public.report_queue_health() -> 'problems' @> '[{"problem": "drain_inactive"}]', 'and health says it is inactive'
);
select lives_ok($$select public.report_queue_schedule()$$, 'report_queue_schedule repairs it');
select is(
  (select coalesce(array_agg(p ->> 'problem'), '{}') from jsonb_array_elements(public.report_queue_health() -> 'problems') as p),
  '{}', 'active again: no problem'
);
select tests.clear_authentication();

-- Missing: nothing drains while a job is due, no job runs and nothing was recalculated lately.
select from cron.unschedule('report-jobs-drain');
delete from private.report_job_history;
select from private.report_enqueue(array[tests.school_id('P1')], 'schedule test');
select tests.authenticate_as_service_role();
select is(
  (select array_agg(p ->> 'problem') from jsonb_array_elements(public.report_queue_health() -> 'problems') as p),
  '{drain_missing}', 'without its cron job: drain_missing'
);
select is(public.report_queue_health() -> 'nothing_drains', 'true', 'and with a job due, nothing drains: said loudly');
select tests.clear_authentication();

-- Failing on every run: a drain job of its own (no run of the live one counts), with pg_cron's records
-- of runs that failed, then of one that succeeded.
select from cron.schedule('report-jobs-drain', '* * * * *', 'call private.report_jobs_drain(100, 59, 500)');
insert into cron.job_run_details (jobid, job_pid, database, username, command, status, return_message, start_time, end_time)
select
  j.jobid, 0, 'postgres', 'postgres', j.command, 'failed', 'ERROR:  permission denied for function report_jobs_claim',
  now() - make_interval(mins => m), now() - make_interval(mins => m) + interval '10 ms'
from cron.job as j, generate_series(3, 1, -1) as m
where j.jobname = 'report-jobs-drain';
select tests.authenticate_as_service_role();
select is(
  public.report_queue_health() -> 'problems' -> 0 ->> 'problem', 'drain_failing', 'a drain failing on every run'
);
select matches(
  public.report_queue_health() -> 'problems' -> 0 ->> 'message', 'last 3 run\(s\).*permission denied for function',
  'health counts the failed runs and gives the error'
);
select tests.clear_authentication();
insert into cron.job_run_details (jobid, job_pid, database, username, command, status, return_message, start_time, end_time)
select j.jobid, 0, 'postgres', 'postgres', j.command, 'succeeded', 'CALL', now() - interval '5 seconds', now()
from cron.job as j where j.jobname = 'report-jobs-drain';
select tests.authenticate_as_service_role();
select ok(
  not public.report_queue_health() -> 'problems' @> '[{"problem": "drain_failing"}]',
  'once a run succeeds, the drain is not failing'
);
select tests.clear_authentication();

-- Not running: a job due for ten minutes, and the drain's last run started twenty minutes ago.
delete from cron.job_run_details where jobid = (select jobid from cron.job where jobname = 'report-jobs-drain');
insert into cron.job_run_details (jobid, job_pid, database, username, command, status, return_message, start_time, end_time)
select j.jobid, 0, 'postgres', 'postgres', j.command, 'succeeded', 'CALL', now() - interval '20 minutes',
  now() - interval '19 minutes'
from cron.job as j where j.jobname = 'report-jobs-drain';
update private.report_jobs set run_after = now() - interval '10 minutes' where pupil_id = tests.school_id('P1');
select tests.authenticate_as_service_role();
select is(
  (select array_agg(p ->> 'problem') from jsonb_array_elements(public.report_queue_health() -> 'problems') as p),
  '{drain_not_running}', 'a job due for 10 minutes and no run in 20: the drain is not running'
);
select tests.clear_authentication();
\else
-- No pg_cron (a new Supabase project, a scratch database) --------------------------------------------
select skip('pg_cron is not installed in this database: the schedule and its runs are tested where it is', 16);
select from private.report_enqueue(array[tests.school_id('P1')], 'schedule test');
select tests.authenticate_as_service_role();
select throws_ok(
  $$select public.report_queue_schedule()$$, 'PLS04', 'pg_cron is not enabled in this database',
  'report_queue_schedule says pg_cron must be enabled first'
);
select is(
  (select array_agg(p ->> 'problem') from jsonb_array_elements(public.report_queue_health() -> 'problems') as p),
  '{pg_cron_absent}', 'health says pg_cron is absent (the one problem)'
);
select is(public.report_queue_health() -> 'drain_scheduled', 'false', 'nothing is scheduled');
select is(public.report_queue_health() -> 'nothing_drains', 'true', 'and with a job due and no recalculation, nothing drains');
select tests.clear_authentication();
\endif

select * from finish();
rollback;
