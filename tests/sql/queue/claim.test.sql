-- The glue worker's two phases: public.report_jobs_claim (due jobs marked running with a lease,
-- committed), public.report_jobs_run (one claimed job run), the put-back of a claimed job
-- (public.report_jobs_release, and a pupil another session is recalculating), a write
-- while its pupil's job is running (a new waiting job, never a wait), a crash in the middle of a job
-- (nothing lost: the lease expires, the job is retried), and class pages deferred while pupil jobs
-- are due. Fixture: tests/sql/writes_helpers.psql. The database owner, unless a role is set.
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(42);

select tests.build_school();

-- 1. Who may call them ---------------------------------------------------------------------------------
select tests.authenticate_as_anon();
select is(tests.sqlstate_of('select public.report_jobs_claim(10)'), '42501', 'anon may not claim jobs');
select tests.authenticate_as(tests.school_id('T1'));
select is(tests.sqlstate_of('select public.report_jobs_run(1)'), '42501', 'a teacher may not run jobs');
select is(tests.sqlstate_of('select public.report_jobs_release(1)'), '42501', 'nor release them');
select is(tests.sqlstate_of('select public.report_jobs_refresh_groups(10, 100)'), '42501',
  'nor refresh class pages');
select tests.authenticate_as_service_role();
select is(public.report_jobs_claim(10) -> 'job_ids', '[]'::jsonb, 'the service role claims (nothing is due)');
select tests.clear_authentication();
select is(tests.sqlstate_of('select public.report_jobs_claim(0)'), 'PLV08', 'max_jobs 0: PLV08');
select is(tests.sqlstate_of('select public.report_jobs_run(null)'), 'PLV01', 'job_id null: PLV01');
select is(tests.sqlstate_of('select public.report_jobs_release(null)'), 'PLV01', 'job_id null: PLV01');
select is(tests.sqlstate_of('select public.report_jobs_refresh_groups(0, 100)'), 'PLV08', 'max_groups 0: PLV08');

-- 2. Claim: running, with a lease, the attempt counted -------------------------------------------------
update public.submissions set ai_score = 0.9 where user_id = tests.school_id('P3') and activity_id = tests.school_id('AT');
select from private.report_enqueue(array[tests.school_id('P3')], 'claim test', array[tests.school_id('U8')]);
select from private.report_enqueue(array[tests.school_id('P1')], 'claim test', array[tests.school_id('U8')]);
insert into rpc_results select 'claim', public.report_jobs_claim(10);
select is(jsonb_array_length((select r -> 'job_ids' from rpc_results where name = 'claim')), 2, 'both due jobs are claimed');
select is((select r -> 'remaining' from rpc_results where name = 'claim'), '0', 'nothing due is left');
select results_eq(
  $$select state::text, locked_by like '%:%', locked_at = now(), lease_expires_at > now(), attempts
    from private.report_jobs order by pupil_id$$,
  $$values ('running', true, true, true, 1), ('running', true, true, true, 1)$$,
  'each is running, locked by the session (application_name:pid) with a lease; the claim counts the attempt'
);
select is(public.report_jobs_claim(10) -> 'job_ids', '[]'::jsonb, 'a running job is not claimed twice');

-- 3. A write while the job runs: a new waiting job beside it -------------------------------------------
select is(private.report_enqueue(array[tests.school_id('P3')], 'write during run', array[tests.school_id('U9')]), 1,
  'the write enqueues');
select results_eq(
  $$select state::text, reason, coalesced_count from private.report_jobs
    where pupil_id = tests.school_id('P3') order by job_id$$,
  $$values ('running', 'claim test', 0), ('pending', 'write during run', 0)$$,
  'the running job is untouched and the write is a new pending job (due again, not merged into the running one)'
);
select is(private.report_enqueue(array[tests.school_id('P3')], 'second write', array[tests.school_id('U8')]), 1,
  'a second write coalesces');
select results_eq(
  $$select coalesced_count, unit_ids = array[tests.school_id('U8'), tests.school_id('U9')]::uuid [] or
      unit_ids = array[tests.school_id('U9'), tests.school_id('U8')]::uuid []
    from private.report_jobs where pupil_id = tests.school_id('P3') and state = 'pending'$$,
  $$values (1, true)$$,
  'into the pending job, with both units'
);
select is(public.report_jobs_claim(10) -> 'job_ids', '[]'::jsonb,
  'the pending job is not claimed while its pupil''s job runs (one pupil, one session)');

-- 4. Run: the claimed job is done, the pending one stays ----------------------------------------------
select results_eq(
  $$select public.report_jobs_run(job_id) ->> 'outcome' from private.report_jobs where state = 'running'
    order by job_id$$,
  $$values ('done'), ('done')$$,
  'report_jobs_run runs each claimed job'
);
select results_eq(
  $$select state::text, reason from private.report_jobs order by job_id$$,
  $$values ('pending', 'write during run')$$,
  'what remains is the write made during the run'
);
select results_eq(
  $$select outcome, reason, attempts, started_at >= enqueued_at, finished_at >= started_at
    from private.report_job_history where pupil_id = tests.school_id('P3')$$,
  $$values ('done', 'claim test', 1, true, true)$$,
  'the history records the run with its one attempt'
);
select is(
  public.report_jobs_run((select job_id from private.report_jobs)), '{"outcome": "missing"}'::jsonb,
  'a job that was never claimed is not run by report_jobs_run (missing)'
);
select is(public.report_jobs_release((select job_id from private.report_jobs)), '{"released": false}'::jsonb,
  'nor released');
select is((select state::text from private.report_jobs), 'pending', 'and is left pending');

-- 5. Put back ---------------------------------------------------------------------------------------------
select is(jsonb_array_length(public.report_jobs_claim(10) -> 'job_ids'), 1, 'claimed');
select is(public.report_jobs_release((select job_id from private.report_jobs)), '{"released": true}'::jsonb,
  'report_jobs_release gives it back');
select results_eq(
  $$select state::text, attempts, locked_at, locked_by, lease_expires_at, run_after = now() from private.report_jobs$$,
  $$values ('pending', 0, null::timestamptz, null::text, null::timestamptz, true)$$,
  'put back: pending, due now, the attempt not counted, no lock or lease'
);
select is(jsonb_array_length(public.report_jobs_claim(10) -> 'job_ids'), 1, 'claimed again');
select from private.report_enqueue(array[tests.school_id('P3')], 'write after the claim', array[tests.school_id('L9')]);
select from public.report_jobs_release((select job_id from private.report_jobs where state = 'running'));
select results_eq(
  $$select state::text, reason, coalesced_count, cardinality(unit_ids) from private.report_jobs$$,
  $$values ('pending', 'write after the claim', 2, 3)$$,
  'put back beside a waiting job: folded into it (its writes counted, the unit sets merged)'
);

-- 6. A crash in the middle of a job loses nothing ------------------------------------------------------
select tests.clear_queue();
update public.submissions set ai_score = 0.2 where user_id = tests.school_id('P3') and activity_id = tests.school_id('AT');
select from private.report_enqueue(array[tests.school_id('P3')], 'crash test', array[tests.school_id('U8')]);
select is(jsonb_array_length(public.report_jobs_claim(10) -> 'job_ids'), 1, 'claimed (committed by the RPC)');
savepoint job;
select is(public.report_jobs_run((select job_id from private.report_jobs)) ->> 'outcome', 'done',
  'the job runs ...');
rollback to savepoint job;
select results_eq(
  $$select state::text, attempts, lease_expires_at > now() from private.report_jobs$$,
  $$values ('running', 1, true)$$,
  '... and its transaction dies before committing: the job is still running with its lease'
);
select isnt_empty($$select * from private.report_differences(array[tests.school_id('P3')])$$,
  'and P3''s cache is still out of date');
update private.report_jobs set lease_expires_at = now() - interval '1 second';
select is((public.report_jobs_claim(10) ->> 'reaped')::int, 1, 'the next claim reaps the expired lease');
select results_eq(
  $$select state::text, last_error_code, attempts from private.report_jobs$$,
  $$values ('failed', 'PLQ02', 1)$$,
  'the job waits for its retry (PLQ02), the attempt counted'
);
update private.report_jobs set run_after = now();
select is(
  public.report_jobs_run((public.report_jobs_claim(10) -> 'job_ids' ->> 0)::bigint) ->> 'outcome', 'done',
  'claimed and run again'
);
select is_empty($$select * from private.report_differences(array[tests.school_id('P3')])$$, 'P3''s cache is exact');

-- 7. Class pages wait while pupil jobs are due ---------------------------------------------------------
select tests.clear_queue();
select from private.report_groups_changed(array['W-7A', 'W-7B']);
select from private.report_enqueue(array[tests.school_id('P1')], 'due', array[tests.school_id('U8')]);
select is(public.report_jobs_refresh_groups(20, 1000), '{"groups_refreshed": 0, "deferred": true}'::jsonb,
  'a pupil job is due and the changes are recent: the class pages wait');
select is((select count(distinct group_id)::int from private.report_group_changes), 2, 'both changes are kept');
update private.report_group_changes set changed_at = now() - interval '6 seconds';
select is((public.report_jobs_refresh_groups(20, 1000) ->> 'groups_refreshed')::int, 2,
  'a change older than 5 s is refreshed even while jobs are due');
select from private.report_groups_changed(array['W-7A']);
select from public.report_jobs_run((public.report_jobs_claim(10) -> 'job_ids' ->> 0)::bigint);
select is((public.report_jobs_refresh_groups(20, 1000) ->> 'groups_refreshed')::int, 1,
  'with nothing due, the changed class page is rebuilt');
select is_empty($$select * from private.report_group_differences(null)$$, 'every stored class page is exact');

select * from finish();
rollback;
