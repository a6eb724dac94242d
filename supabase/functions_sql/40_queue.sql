-- The recalculation queue (private.report_jobs): enqueue, claim, run, retry, and what operators see.
--
-- Ways to drain it, all safe together:
--   one transaction  public.report_process_pupil (fire-and-forget after a write) and
--                    public.report_jobs_process (one-off batches): lock waiting jobs FOR UPDATE SKIP
--                    LOCKED, run each in a savepoint, commit once. A killed backend rolls everything
--                    back and the jobs are simply waiting again. A write to a pupil whose job is locked
--                    waits for that commit.
--   two phases       public.report_jobs_claim + public.report_jobs_run (glue worker) and
--                    private.report_jobs_drain (pg_cron): claim a batch as running with a lease and
--                    commit, then run each job in a transaction of its own. A write meanwhile enqueues
--                    a new waiting job beside the running one (the unique key covers waiting jobs
--                    only), so it never waits for a worker. A job whose worker died stays running until
--                    its lease expires; report_jobs_reap then retries it.
-- Nothing NOTIFYs: every transaction that sends a NOTIFY takes one cluster-wide lock at its commit
-- and holds it through the WAL flush, so notifying writes commit one at a time. Workers poll
-- (glue.worker: every few ms while there is work, backing off when idle).
-- Class pages (report_group_documents) are rebuilt when no pupil job is due (report_jobs_refresh_groups).
-- One pupil is never recalculated by two sessions at once: private.report_job_run takes the pupil's
-- advisory lock with pg_try_advisory_xact_lock and leaves the job waiting when another session has it.

-- The units of a set of activities (through their lessons): what a write to those activities' cells
-- can change. Callers pass the result to report_enqueue as unit_ids.
create or replace function private.activity_unit_ids(activity_ids uuid[])
returns uuid[]
language sql
stable
set search_path = ''
as $$
  select coalesce(array_agg(distinct l.unit_id), '{}'::uuid [])
  from public.activities as a
  inner join public.lessons as l on a.lesson_id = l.lesson_id
  where a.activity_id = any(activity_unit_ids.activity_ids)
$$;
comment on function private.activity_unit_ids(uuid[]) is
'The distinct units of the activities'' lessons (empty when none is known). Callers: the write RPCs, with report_enqueue.';
revoke all on function private.activity_unit_ids(uuid[]) from public;

-- The union of two unit sets, where NULL (every unit) absorbs everything; past 64 units it is NULL too.
create or replace function private.report_unit_set_union(a uuid[], b uuid[])
returns uuid[]
language sql
immutable
set search_path = ''
as $$
  select case when u.units is null or cardinality(u.units) > 64 then null else u.units end
  from (
    select case
      when report_unit_set_union.a is null or report_unit_set_union.b is null then null
      else array(
        select distinct x from unnest(report_unit_set_union.a || report_unit_set_union.b) as x
        where x is not null order by x
      )
    end as units
  ) as u
$$;
comment on function private.report_unit_set_union(uuid[], uuid[]) is
'Merges two jobs'' unit sets (NULL: every unit; more than 64 units: NULL). Callers: report_enqueue, '
'report_job_record_failure.';
revoke all on function private.report_unit_set_union(uuid[], uuid[]) from public;

-- Enqueue a recalculation for each pupil, in the caller's transaction (the write's). A pupil who
-- already has a waiting job gets no second one: the write is coalesced into it, and the units to
-- redo are merged. unit_ids NULL: every unit of the pupil; an empty set: nothing to redo.
create or replace function private.report_enqueue(pupil_ids uuid[], reason text, unit_ids uuid[] default null)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_units uuid [] := private.report_unit_set_union(report_enqueue.unit_ids, '{}'::uuid []);
  v_count integer;
begin
  if cardinality(v_units) = 0 then
    return 0;
  end if;
  insert into private.report_jobs as j (pupil_id, reason, max_attempts, unit_ids)
  select p.pupil_id, report_enqueue.reason, s.max_attempts, v_units
  from (select distinct x as pupil_id from unnest(report_enqueue.pupil_ids) as x where x is not null) as p
  cross join private.report_queue_settings as s
  order by p.pupil_id
  on conflict (pupil_id) where state in ('pending', 'failed') do update
    set
      -- The waiting job may come from a transaction that started after this one (its enqueued_at
      -- later than this now()): the time only moves forward.
      last_enqueued_at = greatest(j.last_enqueued_at, now()),
      coalesced_count = j.coalesced_count + 1,
      unit_ids = private.report_unit_set_union(j.unit_ids, excluded.unit_ids);
  get diagnostics v_count = row_count;
  return v_count;
end
$$;
comment on function private.report_enqueue(uuid[], text, uuid[]) is
'Enqueues (or coalesces into the waiting job, merging the unit sets) a recalculation per pupil of the given '
'units (NULL: every unit; empty: nothing), in the caller''s transaction; a pupil whose job is running gets a '
'new waiting job. Sends no notification (workers poll). Callers: every write RPC, the sweep, requeue. Returns '
'the number of pupils enqueued.';
revoke all on function private.report_enqueue(uuid[], text, uuid[]) from public;

-- The delay before retry number attempts: exponential from backoff_base, capped, with +/-25 % jitter.
create or replace function private.report_backoff(attempts integer)
returns interval
language sql
volatile
set search_path = ''
as $$
  select least(s.backoff_max, s.backoff_base * power(2, greatest(report_backoff.attempts - 1, 0)))
    * (0.75 + random() * 0.5)
  from private.report_queue_settings as s
$$;
comment on function private.report_backoff(integer) is
'Exponential backoff with jitter for retry number attempts. Callers: report_job_record_failure.';
revoke all on function private.report_backoff(integer) from public;

-- Record a failed attempt: back to waiting with a backoff, or dead after max_attempts. A job that
-- was running while a newer waiting job appeared for the same pupil is folded into that job (the
-- unit sets merged).
create or replace function private.report_job_record_failure(
  job_id bigint, attempts integer, error text, error_code text
)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job private.report_jobs;
  v_waiting bigint;
  v_state private.report_job_state;
begin
  select j.* into strict v_job from private.report_jobs as j where j.job_id = report_job_record_failure.job_id;
  v_state := case
    when report_job_record_failure.attempts >= v_job.max_attempts then 'dead'::private.report_job_state
    else 'failed'::private.report_job_state
  end;
  loop
    if v_job.state = 'running' then
      select j.job_id into v_waiting
      from private.report_jobs as j
      where j.pupil_id = v_job.pupil_id and j.state in ('pending', 'failed')
      for update;
    end if;
    if v_waiting is not null and v_state = 'failed' then
      delete from private.report_jobs as j where j.job_id = v_job.job_id;
      update private.report_jobs as j
      set
        state = 'failed',
        attempts = greatest(j.attempts, report_job_record_failure.attempts),
        coalesced_count = j.coalesced_count + v_job.coalesced_count + 1,
        enqueued_at = least(j.enqueued_at, v_job.enqueued_at),
        unit_ids = private.report_unit_set_union(j.unit_ids, v_job.unit_ids),
        last_error = report_job_record_failure.error,
        last_error_code = report_job_record_failure.error_code,
        failed_at = now(),
        run_after = greatest(j.run_after, now() + private.report_backoff(report_job_record_failure.attempts))
      where j.job_id = v_waiting;
      return 'failed';
    end if;
    begin
      update private.report_jobs as j
      set
        state = v_state,
        attempts = report_job_record_failure.attempts,
        last_error = report_job_record_failure.error,
        last_error_code = report_job_record_failure.error_code,
        failed_at = now(),
        dead_at = case when v_state = 'dead' then now() end,
        run_after = case when v_state = 'failed' then now() + private.report_backoff(report_job_record_failure.attempts)
          else j.run_after end,
        locked_at = null,
        locked_by = null,
        lease_expires_at = null
      where j.job_id = v_job.job_id;
      return v_state::text;
    exception when unique_violation then
      -- A write enqueued the pupil after the look above and has committed since: fold into its job.
      null;
    end;
  end loop;
end
$$;
comment on function private.report_job_record_failure(bigint, integer, text, text) is
'Marks an attempt failed (retry after backoff) or dead (max_attempts reached), keeping the error. '
'Callers: report_job_run, report_jobs_reap.';
revoke all on function private.report_job_record_failure(bigint, integer, text, text) from public;

-- Put a claimed (running) job back among the waiting jobs, due at run_after, without counting its
-- attempt. When the pupil has a waiting job already (a write while this one was claimed), that job
-- takes over this one's units and writes instead. A job that is not running is left alone.
create or replace function private.report_job_put_back(job_id bigint, run_after timestamptz)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job private.report_jobs;
begin
  select j.* into v_job from private.report_jobs as j
  where j.job_id = report_job_put_back.job_id and j.state = 'running'
  for update;
  if not found then
    return;
  end if;
  loop
    update private.report_jobs as w
    set
      unit_ids = private.report_unit_set_union(w.unit_ids, v_job.unit_ids),
      coalesced_count = w.coalesced_count + v_job.coalesced_count + 1,
      enqueued_at = least(w.enqueued_at, v_job.enqueued_at)
    where w.pupil_id = v_job.pupil_id and w.state in ('pending', 'failed');
    if found then
      delete from private.report_jobs as j where j.job_id = v_job.job_id;
      return;
    end if;
    begin
      update private.report_jobs as j
      set
        state = 'pending', locked_at = null, locked_by = null, lease_expires_at = null,
        attempts = greatest(j.attempts - 1, 0), run_after = report_job_put_back.run_after
      where j.job_id = v_job.job_id;
      return;
    exception when unique_violation then
      -- A write enqueued the pupil after the look above and has committed since: fold into its job.
      null;
    end;
  end loop;
end
$$;
comment on function private.report_job_put_back(bigint, timestamptz) is
'Returns a running job to the waiting jobs (attempt not counted), or folds it into the pupil''s waiting job. '
'Callers: report_job_run (pupil busy), report_jobs_release.';
revoke all on function private.report_job_put_back(bigint, timestamptz) from public;

-- Let the calling transaction commit without waiting for its WAL to reach disk, when it has written
-- nothing before: a job's transaction writes only what the job derives and the job's own state, so a
-- crash that loses it loses both together and the job runs again (still waiting, or reaped after its
-- lease). The writes themselves always commit synchronously. Why: a job's commit need not wait for
-- the disk, and a commit that sent a NOTIFY holds one cluster-wide lock until it is done, so under
-- load every such wait delayed every other notifying commit (docs/scaling.md, "Commits").
create or replace function private.report_commit_async()
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  if pg_catalog.pg_current_xact_id_if_assigned() is null then
    perform pg_catalog.set_config('synchronous_commit', 'off', true);
  end if;
end
$$;
comment on function private.report_commit_async() is
'Sets synchronous_commit off for the rest of the transaction if it has written nothing yet. '
'Callers: report_process_pupil, report_jobs_process, report_jobs_claim, report_jobs_run, report_jobs_refresh_groups, '
'report_jobs_drain, at their start.';
revoke all on function private.report_commit_async() from public;

-- Run one job in the caller's transaction: recalculate the pupil's units inside a savepoint, delete the job
-- on success, record the failure otherwise, and log the attempt in report_job_history.
-- Returns {outcome: done|failed|dead|busy|gone|missing, waited_ms, run_ms, unit_ids, changed, version}.
create or replace function private.report_job_run(job_id bigint, worker text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job private.report_jobs;
  v_started timestamptz := clock_timestamp();
  v_result jsonb;
  v_outcome text;
  v_error text;
  v_code text;
  v_attempts integer;
begin
  select j.* into v_job from private.report_jobs as j where j.job_id = report_job_run.job_id for update;
  if not found or v_job.state = 'dead' then
    return jsonb_build_object('outcome', 'missing');
  end if;
  if not pg_try_advisory_xact_lock(7301, hashtext(v_job.pupil_id::text)) then
    -- Another session is recalculating this pupil right now. Leave the job waiting a moment.
    if v_job.state = 'running' then
      perform private.report_job_put_back(v_job.job_id, now() + interval '200 milliseconds');
    else
      update private.report_jobs as j set run_after = now() + interval '200 milliseconds'
      where j.job_id = v_job.job_id;
    end if;
    return jsonb_build_object('outcome', 'busy');
  end if;
  -- Two-phase claims counted the attempt when they claimed it; single-phase runs count it here.
  v_attempts := v_job.attempts + case when v_job.state = 'running' then 0 else 1 end;
  begin
    v_result := private.report_recalculate_pupil(v_job.pupil_id, v_job.unit_ids);
    delete from private.report_jobs as j where j.job_id = v_job.job_id;
    v_outcome := 'done';
  exception when others then
    get stacked diagnostics v_error = message_text, v_code = returned_sqlstate;
    if v_code = 'PLN01' then
      delete from private.report_jobs as j where j.job_id = v_job.job_id;
      v_outcome := 'gone';
    else
      v_outcome := private.report_job_record_failure(v_job.job_id, v_attempts, v_error, v_code);
    end if;
  end;
  -- Tell an open report page to re-read its rows (delivered when this transaction commits).
  if v_outcome = 'done' and coalesce((v_result ->> 'changed')::boolean, false) then
    perform private.broadcast_report_updated(v_job.pupil_id, (v_result ->> 'version')::bigint);
  end if;
  insert into private.report_job_history (
    job_id, pupil_id, outcome, reason, enqueued_at, last_enqueued_at, started_at, finished_at, attempts,
    coalesced_count, worker, changed, error, unit_ids
  ) values (
    v_job.job_id, v_job.pupil_id, v_outcome, v_job.reason, v_job.enqueued_at, v_job.last_enqueued_at, v_started,
    clock_timestamp(), v_attempts, v_job.coalesced_count, report_job_run.worker, (v_result ->> 'changed')::boolean,
    v_error, v_job.unit_ids
  );
  return jsonb_build_object(
    'outcome', v_outcome,
    'pupil_id', v_job.pupil_id,
    'waited_ms', round(extract(epoch from (v_started - v_job.enqueued_at)) * 1000, 1),
    'run_ms', round(extract(epoch from (clock_timestamp() - v_started)) * 1000, 1),
    'coalesced', v_job.coalesced_count,
    'unit_ids', v_job.unit_ids,
    'changed', (v_result ->> 'changed')::boolean,
    'version', (v_result ->> 'version')::bigint,
    'error', v_error,
    'error_code', v_code
  );
end
$$;
comment on function private.report_job_run(bigint, text) is
'Runs one job in a savepoint: recalculates, deletes the job, or records the failure; logs the attempt; broadcasts '
'report_updated on report:{pupilId} when the report changed. '
'Callers: report_process_pupil, report_jobs_process, report_jobs_drain.';
revoke all on function private.report_job_run(bigint, text) from public;

-- Return running jobs whose lease expired (their worker died) to the waiting jobs, as a failed
-- attempt; prune old history. Returns the number of jobs reaped.
create or replace function private.report_jobs_reap()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job private.report_jobs;
  v_count integer := 0;
begin
  for v_job in
    select j.*
    from private.report_jobs as j
    where j.state = 'running' and j.lease_expires_at < now()
    order by j.job_id
    for update skip locked
  loop
    perform private.report_job_record_failure(
      v_job.job_id, v_job.attempts,
      format('lease expired: worker %s did not finish within its lease (killed or timed out)', v_job.locked_by),
      'PLQ02'
    );
    v_count := v_count + 1;
  end loop;
  delete from private.report_job_history as h
  where h.history_id in (
    select x.history_id
    from private.report_job_history as x
    where x.finished_at < now() - (select s.history_retention from private.report_queue_settings as s)
    order by x.finished_at
    limit 1000
  );
  return v_count;
end
$$;
comment on function private.report_jobs_reap() is
'Fails running jobs whose lease expired (retried later, dead after max_attempts) and prunes history. '
'Callers: report_jobs_process, report_jobs_drain.';
revoke all on function private.report_jobs_reap() from public;

-- The caller's label in the job history.
create or replace function private.report_worker_name()
returns text
language plpgsql
stable
set search_path = ''
as $$
begin
  return coalesce(nullif(current_setting('application_name', true), ''), 'session') || ':' || pg_backend_pid();
end
$$;
comment on function private.report_worker_name() is 'application_name:pid of the session. Callers: the processing RPCs.';
revoke all on function private.report_worker_name() from public;

-- Fire-and-forget entry point: recalculate this pupil now if it has a waiting job that is due.
create or replace function public.report_process_pupil(pupil_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job_id bigint;
begin
  perform private.report_commit_async();
  perform private.require(report_process_pupil.pupil_id, 'pupil_id');
  -- The caller first: anyone who may not read the pupil gets the same 42501, known pupil or not.
  if not (private.caller_bypasses_rls() or private.can_read_pupil(report_process_pupil.pupil_id)) then
    raise exception 'pupil % is unknown or you may not recalculate their report', report_process_pupil.pupil_id
      using errcode = '42501';
  end if;
  perform private.assert_profile_exists(report_process_pupil.pupil_id);
  if exists (
    select from private.report_jobs as j
    where j.pupil_id = report_process_pupil.pupil_id and j.state = 'running'
  ) then
    return jsonb_build_object('processed', false, 'reason', 'running');
  end if;
  select j.job_id into v_job_id
  from private.report_jobs as j
  where j.pupil_id = report_process_pupil.pupil_id and j.state in ('pending', 'failed') and j.run_after <= now()
  for update skip locked;
  if v_job_id is null then
    return jsonb_build_object('processed', false, 'reason', 'no due job');
  end if;
  return jsonb_build_object('processed', true)
    || private.report_job_run(v_job_id, private.report_worker_name());
end
$$;
comment on function public.report_process_pupil(uuid) is
'Recalculates the pupil now if a waiting job is due (what fire-and-forget calls after a write); safe '
'alongside workers. Returns {processed, outcome, waited_ms, run_ms, changed, version} or {processed: false, '
'reason}. Callers: glue.results (service_role, or the teacher/pupil who wrote). Errors: PLV01, PLN01, 42501.';
revoke all on function public.report_process_pupil(uuid) from public, anon;
grant execute on function public.report_process_pupil(uuid) to authenticated, service_role;

-- One bounded batch for a worker: up to max_jobs due jobs or max_ms milliseconds, one transaction.
-- A write for a pupil whose job is in the batch waits for its commit: max_ms, plus the job running
-- when it runs out and the at most 20 class pages rebuilt after (about 2 ms each), bounds that wait.
-- At about 2.5 ms a one-unit job, 100 ms still takes some 40 jobs per transaction.
create or replace function public.report_jobs_process(max_jobs integer default 100, max_ms integer default 100)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_started timestamptz := clock_timestamp();
  v_deadline timestamptz;
  v_worker text := private.report_worker_name();
  v_job_id bigint;
  v_run jsonb;
  v_counts jsonb := '{"done": 0, "failed": 0, "dead": 0, "busy": 0, "gone": 0, "missing": 0}'::jsonb;
  v_processed integer := 0;
  v_reaped integer;
  v_groups integer;
begin
  if report_jobs_process.max_jobs is null or report_jobs_process.max_jobs not between 1 and 10000 then
    raise exception 'max_jobs must be between 1 and 10000, not %', report_jobs_process.max_jobs using errcode = 'PLV08';
  end if;
  if report_jobs_process.max_ms is null or report_jobs_process.max_ms not between 1 and 60000 then
    raise exception 'max_ms must be between 1 and 60000, not %', report_jobs_process.max_ms using errcode = 'PLV08';
  end if;
  perform private.report_commit_async();
  v_deadline := v_started + make_interval(secs => report_jobs_process.max_ms / 1000.0);
  v_reaped := private.report_jobs_reap();
  for v_job_id in
    select j.job_id
    from private.report_jobs as j
    where
      j.state in ('pending', 'failed') and j.run_after <= now()
      and not exists (select from private.report_jobs as r where r.pupil_id = j.pupil_id and r.state = 'running')
    order by j.run_after, j.job_id
    limit report_jobs_process.max_jobs
    for update of j skip locked
  loop
    exit when clock_timestamp() >= v_deadline;
    v_run := private.report_job_run(v_job_id, v_worker);
    v_counts := jsonb_set(v_counts, array[v_run ->> 'outcome'], to_jsonb((v_counts ->> (v_run ->> 'outcome'))::integer + 1));
    v_processed := v_processed + 1;
  end loop;
  -- Then the stored pages of the classes those jobs (and earlier ones) changed, a bounded number.
  v_groups := private.report_groups_refresh(20);
  return v_counts || jsonb_build_object(
    'processed', v_processed,
    'groups_refreshed', v_groups,
    'reaped', v_reaped,
    'elapsed_ms', round(extract(epoch from (clock_timestamp() - v_started)) * 1000, 1),
    'remaining', (
      select count(*) from private.report_jobs as j where j.state in ('pending', 'failed') and j.run_after <= now()
    )
  );
end
$$;
comment on function public.report_jobs_process(integer, integer) is
'Processes one bounded batch of due jobs (max_jobs, max_ms) in one transaction, then refreshes up to 20 changed '
'class pages; returns counts by outcome, processed, groups_refreshed, reaped, elapsed_ms and remaining. Callers: '
'glue worker (service_role). Errors: PLV08 out-of-range limits.';
revoke all on function public.report_jobs_process(integer, integer) from public, anon, authenticated;
grant execute on function public.report_jobs_process(integer, integer) to service_role;

-- The glue worker's claim, the first of its two phases: up to max_jobs due jobs marked running with a
-- lease, committed when the RPC returns. Writes to those pupils meanwhile enqueue new waiting jobs.
-- A claim is small (glue worker: 20) so that one worker does not hold jobs another could run.
create or replace function public.report_jobs_claim(max_jobs integer default 20)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_reaped integer;
  v_jobs bigint [];
begin
  if report_jobs_claim.max_jobs is null or report_jobs_claim.max_jobs not between 1 and 10000 then
    raise exception 'max_jobs must be between 1 and 10000, not %', report_jobs_claim.max_jobs using errcode = 'PLV08';
  end if;
  -- A claim lost in a crash leaves its jobs waiting as they were.
  perform private.report_commit_async();
  v_reaped := private.report_jobs_reap();
  v_jobs := array(
    select c from private.report_jobs_claim(report_jobs_claim.max_jobs, private.report_worker_name()) as c order by c
  );
  return jsonb_build_object(
    'job_ids', to_jsonb(v_jobs),
    'reaped', v_reaped,
    'remaining', (
      select count(*) from private.report_jobs as j where j.state in ('pending', 'failed') and j.run_after <= now()
    )
  );
end
$$;
comment on function public.report_jobs_claim(integer) is
'Claims up to max_jobs due jobs as running with a lease (reaping expired leases first); returns {job_ids, '
'reaped, remaining (due jobs left)}. Run them with report_jobs_run. Callers: glue worker (service_role). '
'Errors: PLV08 out-of-range max_jobs.';
revoke all on function public.report_jobs_claim(integer) from public, anon, authenticated;
grant execute on function public.report_jobs_claim(integer) to service_role;

-- The second phase: run one claimed job in a transaction of its own, so its report is visible as
-- soon as it is done. An id that is not a running job (never claimed, done already) is left alone.
create or replace function public.report_jobs_run(job_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  if report_jobs_run.job_id is null then
    raise exception 'job_id is required' using errcode = 'PLV01';
  end if;
  perform private.report_commit_async();
  if not exists (select from private.report_jobs as j where j.job_id = report_jobs_run.job_id and j.state = 'running') then
    return jsonb_build_object('outcome', 'missing');
  end if;
  return private.report_job_run(report_jobs_run.job_id, private.report_worker_name());
end
$$;
comment on function public.report_jobs_run(bigint) is
'Runs one claimed (running) job: recalculates, deletes the job or records the failure, logs it; returns '
'{outcome: done|failed|dead|busy|gone|missing, waited_ms, run_ms, ...} (missing: not a running job). Callers: glue '
'worker after report_jobs_claim (service_role). Errors: PLV01 null job_id.';
revoke all on function public.report_jobs_run(bigint) from public, anon, authenticated;
grant execute on function public.report_jobs_run(bigint) to service_role;

-- Give a claimed job back without running it (a worker stopping with jobs it has not started).
create or replace function public.report_jobs_release(job_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  if report_jobs_release.job_id is null then
    raise exception 'job_id is required' using errcode = 'PLV01';
  end if;
  if not exists (
    select from private.report_jobs as j where j.job_id = report_jobs_release.job_id and j.state = 'running'
  ) then
    return jsonb_build_object('released', false);
  end if;
  perform private.report_job_put_back(report_jobs_release.job_id, now());
  return jsonb_build_object('released', true);
end
$$;
comment on function public.report_jobs_release(bigint) is
'Puts a claimed (running) job back among the waiting jobs, due at once, its attempt not counted; returns '
'{released} (false: not a running job). Callers: glue worker when it stops (service_role). Errors: PLV01 null job_id.';
revoke all on function public.report_jobs_release(bigint) from public, anon, authenticated;
grant execute on function public.report_jobs_release(bigint) to service_role;

-- Rebuild changed class pages, but only while no pupil job is due, or when the oldest change has
-- waited 5 seconds: under load the drain's time goes to the pupils (a class page costs about as much
-- as a one-unit job, and a burst of writes changes many classes). A class whose page waits is still
-- read exactly: report_group builds it from the cache until its refresh.
create or replace function public.report_jobs_refresh_groups(max_groups integer default 20, max_ms integer default 50)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_started timestamptz := clock_timestamp();
  v_deadline timestamptz;
  v_count integer := 0;
  v_done integer;
begin
  if report_jobs_refresh_groups.max_groups is null or report_jobs_refresh_groups.max_groups not between 1 and 10000 then
    raise exception 'max_groups must be between 1 and 10000, not %', report_jobs_refresh_groups.max_groups
      using errcode = 'PLV08';
  end if;
  if report_jobs_refresh_groups.max_ms is null or report_jobs_refresh_groups.max_ms not between 1 and 60000 then
    raise exception 'max_ms must be between 1 and 60000, not %', report_jobs_refresh_groups.max_ms using errcode = 'PLV08';
  end if;
  perform private.report_commit_async();
  v_deadline := v_started + make_interval(secs => report_jobs_refresh_groups.max_ms / 1000.0);
  if exists (
    select from private.report_jobs as j where j.state in ('pending', 'failed') and j.run_after <= now()
  ) and coalesce((
    select c.changed_at from private.report_group_changes as c order by c.change_id limit 1
  ) >= now() - interval '5 seconds', true) then
    return jsonb_build_object('groups_refreshed', 0, 'deferred', true);
  end if;
  while v_count < report_jobs_refresh_groups.max_groups and clock_timestamp() < v_deadline loop
    v_done := private.report_groups_refresh(1);
    exit when v_done = 0;
    v_count := v_count + v_done;
  end loop;
  return jsonb_build_object(
    'groups_refreshed', v_count,
    'deferred', false,
    'elapsed_ms', round(extract(epoch from (clock_timestamp() - v_started)) * 1000, 1)
  );
end
$$;
comment on function public.report_jobs_refresh_groups(integer, integer) is
'Rebuilds up to max_groups changed class pages within max_ms, unless pupil jobs are due and no class change is '
'older than 5 s (then {deferred: true}); returns {groups_refreshed, deferred, elapsed_ms}. Callers: glue worker '
'when its claim found nothing, report_jobs_drain (service_role). Errors: PLV08 out-of-range limits.';
revoke all on function public.report_jobs_refresh_groups(integer, integer) from public, anon, authenticated;
grant execute on function public.report_jobs_refresh_groups(integer, integer) to service_role;

-- Two-phase claim: mark up to max_jobs due jobs running with a lease.
create or replace function private.report_jobs_claim(max_jobs integer, worker text)
returns setof bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
  return query
  with due as (
    select j.job_id
    from private.report_jobs as j
    where
      j.state in ('pending', 'failed') and j.run_after <= now()
      and not exists (select from private.report_jobs as r where r.pupil_id = j.pupil_id and r.state = 'running')
    order by j.run_after, j.job_id
    limit report_jobs_claim.max_jobs
    for update of j skip locked
  )
  update private.report_jobs as j
  set
    state = 'running',
    locked_at = now(),
    locked_by = report_jobs_claim.worker,
    lease_expires_at = now() + (select s.lease from private.report_queue_settings as s),
    attempts = j.attempts + 1
  from due
  where j.job_id = due.job_id
  returning j.job_id;
end
$$;
comment on function private.report_jobs_claim(integer, text) is
'Claims up to max_jobs due jobs as running with a lease (two-phase). Callers: report_jobs_drain, '
'public.report_jobs_claim.';
revoke all on function private.report_jobs_claim(integer, text) from public;

-- The pg_cron drain: claim a batch (commit), run each job (a commit each); when the queue is empty,
-- the class pages (report_jobs_refresh_groups, commit), then it either returns (poll_ms 0: a seconds schedule starts the next
-- run within seconds) or sleeps poll_ms and looks again until run_seconds have passed (a schedule of
-- every minute, where pg_cron has no seconds). Each transaction is one claim, one job, one refresh
-- or one sleep: no snapshot and no row lock is held across the loop. One drain runs at a time: a
-- session advisory lock, the only thing held across the commits, which blocks nothing but another
-- drain (a failed call keeps it until its session ends; pg_cron's sessions end with the run).
-- Started by a pg_cron job (cron_job, its name), it stops once that job is unscheduled or made
-- inactive: pg_cron marks such a run canceled but lets it go on, and it would hold the lock.
-- Neither SECURITY DEFINER nor SET search_path: PostgreSQL refuses COMMIT in a procedure with either.
-- It runs as its caller, the queue's owner (pg_cron runs the job as postgres); every name in it is
-- schema-qualified.
create or replace procedure private.report_jobs_drain(
  batch_size integer default 100, run_seconds integer default 55, poll_ms integer default 0,
  cron_job text default null
)
language plpgsql
as $$
declare
  v_worker text := 'pg_cron:' || pg_catalog.pg_backend_pid();
  v_deadline timestamptz;
  v_jobs bigint [];
  v_job_id bigint;
  v_holder integer;
  v_active boolean;
begin
  if report_jobs_drain.batch_size is null or report_jobs_drain.batch_size not between 1 and 10000 then
    raise exception 'batch_size must be between 1 and 10000, not %', report_jobs_drain.batch_size
      using errcode = 'PLV08';
  end if;
  if report_jobs_drain.run_seconds is null or report_jobs_drain.run_seconds not between 1 and 600 then
    raise exception 'run_seconds must be between 1 and 600, not %', report_jobs_drain.run_seconds
      using errcode = 'PLV08';
  end if;
  if report_jobs_drain.poll_ms is null or report_jobs_drain.poll_ms not between 0 and 10000 then
    raise exception 'poll_ms must be between 0 and 10000, not %', report_jobs_drain.poll_ms using errcode = 'PLV08';
  end if;
  if not pg_catalog.pg_try_advisory_lock(7303, 0) then
    select l.pid into v_holder
    from pg_catalog.pg_locks as l
    where l.locktype = 'advisory' and l.classid = 7303 and l.objid = 0 and l.objsubid = 2 and l.granted;
    raise exception 'another report_jobs_drain is running (backend %)', v_holder
      using errcode = 'PLS06', hint = 'One drain runs at a time: a second pg_cron job or session running it is redundant.';
  end if;
  v_deadline := pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => report_jobs_drain.run_seconds);
  commit;
  loop
    if report_jobs_drain.cron_job is not null then
      execute pg_catalog.format('select exists (select from %I.job where jobname = $1 and active)', 'cron')
      into v_active using report_jobs_drain.cron_job;
      exit when not v_active;
    end if;
    perform private.report_jobs_reap();
    v_jobs := array(select c from private.report_jobs_claim(report_jobs_drain.batch_size, v_worker) as c);
    commit;
    if pg_catalog.cardinality(v_jobs) = 0 then
      perform public.report_jobs_refresh_groups(report_jobs_drain.batch_size, 1000);
      commit;
      exit when report_jobs_drain.poll_ms = 0 or pg_catalog.clock_timestamp()
        + pg_catalog.make_interval(secs => report_jobs_drain.poll_ms / 1000.0) >= v_deadline;
      perform pg_catalog.pg_sleep(report_jobs_drain.poll_ms / 1000.0);
      commit;
      continue;
    end if;
    foreach v_job_id in array v_jobs loop
      perform private.report_commit_async();
      begin
        perform private.report_job_run(v_job_id, v_worker);
      exception when others then
        -- report_job_run records a job's own failure; this is one in its bookkeeping. The job stays
        -- running until its lease expires and the reap records it; the drain goes on with the rest.
        raise warning 'report_jobs_drain: job % failed outside its recalculation: % (%)', v_job_id, sqlerrm, sqlstate;
      end;
      commit;
    end loop;
    exit when pg_catalog.clock_timestamp() >= v_deadline;
  end loop;
  perform public.report_jobs_refresh_groups(report_jobs_drain.batch_size, 1000);
  commit;
  perform pg_catalog.pg_advisory_unlock(7303, 0);
end
$$;
revoke all on procedure private.report_jobs_drain(integer, integer, integer, text) from public;
comment on procedure private.report_jobs_drain (integer, integer, integer, text) is
'Drains the queue in committed batches (two-phase claims with a lease) for up to run_seconds; with poll_ms > 0 '
'it sleeps poll_ms and looks again while the queue is empty, else it returns; with cron_job it stops once that '
'pg_cron job is gone or inactive. One at a time. Callers: pg_cron (the report-jobs-drain job, as postgres), DBAs. '
'Errors: PLV08 limits out of range, PLS06 another drain runs.';

-- pg_cron's version as {major, minor}, or null where it is not installed. extversion is the
-- extension's SQL version: '1.4-1' for Debian 12's pg_cron 1.4.2, '1.6' on Supabase.
create or replace function private.report_cron_version()
returns integer[]
language sql
stable
security definer
set search_path = ''
as $$
  select pg_catalog.string_to_array(pg_catalog.split_part(e.extversion, '-', 1), '.')::integer []
  from pg_catalog.pg_extension as e
  where e.extname = 'pg_cron'
$$;
comment on function private.report_cron_version() is
'pg_cron''s extension version as an integer array ({1,4}, {1,6}), null when absent. Callers: report_queue_schedule.';
revoke all on function private.report_cron_version() from public;

-- The drain intervals report_queue_schedule takes, in seconds: 'N seconds' with N from 1 to 59 (pg_cron
-- 1.5 and later), or every minute ('* * * * *'), the documented maximum. Null for anything else.
create or replace function private.report_drain_interval_s(drain_interval text)
returns integer
language sql
immutable
set search_path = ''
as $$
  select case
    when report_drain_interval_s.drain_interval ~* '^\s*[0-9]{1,3}\s*seconds?\s*$' then (
      select nullif(v.n, 0) from (
        select pg_catalog.substring(report_drain_interval_s.drain_interval, '[0-9]+')::integer as n
      ) as v where v.n < 60
    )
    when pg_catalog.regexp_replace(pg_catalog.btrim(report_drain_interval_s.drain_interval), '\s+', ' ', 'g')
      in ('* * * * *', '*/1 * * * *') then 60
  end
$$;
comment on function private.report_drain_interval_s(text) is
'Seconds between drain runs for the schedules the drain takes (''N seconds'', 1-59; ''* * * * *''), else null. '
'Callers: report_queue_schedule, report_drain_facts.';
revoke all on function private.report_drain_interval_s(text) from public;

-- Whether pg_cron has an active job draining the report queue. pg_cron may be absent (it is off on a
-- new Supabase project until enabled): its tables are named through format(), so that nothing reads
-- or checks them where it is.
create or replace function private.report_drain_scheduled()
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_scheduled boolean;
begin
  if pg_catalog.to_regclass('cron.job') is null then
    return false;
  end if;
  execute pg_catalog.format('select exists (select from %I.job where jobname = $1 and active)', 'cron')
  into v_scheduled using 'report-jobs-drain';
  return v_scheduled;
end
$$;
comment on function private.report_drain_scheduled() is
'True when pg_cron exists and its report-jobs-drain job is active. Callers: report_queue_health, report_queue_schedule.';
revoke all on function private.report_drain_scheduled() from public;

-- What happened to the drain, from pg_cron's own records: whether pg_cron is installed and its
-- scheduler (the 'pg_cron launcher' backend) runs, the report-jobs-drain job, its interval, and its
-- last 100 runs in cron.job_run_details (read newest first by run id: bounded however long the
-- history; a run pg_cron canceled because its job was unscheduled or made inactive is 'canceled', not
-- one of the drain's failures); and how long the oldest due job has waited.
create or replace function private.report_drain_facts()
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_facts jsonb;
  v_job jsonb;
  v_runs jsonb;
begin
  v_facts := jsonb_build_object(
    'checked_at', now(),
    'pg_cron', (select e.extversion from pg_catalog.pg_extension as e where e.extname = 'pg_cron'),
    'scheduler_running', exists (
      select from pg_catalog.pg_stat_activity as a
      where a.backend_type = 'pg_cron launcher' and a.datname = pg_catalog.current_database()
    ),
    'oldest_due_s', (
      select round(extract(epoch from now() - min(j.run_after))::numeric, 1)
      from private.report_jobs as j
      where j.state in ('pending', 'failed') and j.run_after <= now()
    )
  );
  if v_facts ->> 'pg_cron' is null then
    return v_facts;
  end if;
  execute pg_catalog.format(
    'select jsonb_build_object(''jobid'', j.jobid, ''schedule'', j.schedule, ''command'', j.command, '
    '''active'', j.active) from %I.job as j where j.jobname = $1 order by j.jobid limit 1', 'cron'
  ) into v_job using 'report-jobs-drain';
  if v_job is null then
    return v_facts || jsonb_build_object('job', null);
  end if;
  execute pg_catalog.format($q$
    with recent as (
      select
        r.runid, case when r.return_message = 'job canceled' then 'canceled' else r.status end as status,
        r.return_message, r.start_time, r.end_time
      from %I.job_run_details as r
      where r.jobid = $1
      order by r.runid desc
      limit 100
    )
    select jsonb_build_object(
      'runs_read', (select count(*) from recent),
      'last_start', (select max(r.start_time) from recent as r),
      'last_finish', (select max(r.end_time) from recent as r where r.status in ('succeeded', 'failed')),
      'last_status', (select r.status from recent as r order by r.runid desc limit 1),
      'last_finished_status', (
        select r.status from recent as r where r.status in ('succeeded', 'failed') order by r.runid desc limit 1
      ),
      'last_success', (select max(r.end_time) from recent as r where r.status = 'succeeded'),
      'last_ok_start', (select max(r.start_time) from recent as r where r.status <> 'failed'),
      'failures_since_success', (
        select count(*) from recent as r
        where r.status = 'failed' and r.runid > coalesce((select max(s.runid) from recent as s where s.status = 'succeeded'), 0)
      ),
      'last_failure', (
        select jsonb_build_object('start_time', r.start_time, 'end_time', r.end_time, 'message', r.return_message)
        from recent as r where r.status = 'failed' order by r.runid desc limit 1
      )
    )
  $q$, 'cron') into v_runs using (v_job ->> 'jobid')::bigint;
  return v_facts || jsonb_build_object(
    'job', v_job, 'interval_s', private.report_drain_interval_s(v_job ->> 'schedule'), 'runs', v_runs
  );
end
$$;
comment on function private.report_drain_facts() is
'The drain as pg_cron ran it: {checked_at, pg_cron (version or null), scheduler_running, oldest_due_s, job '
'{jobid, schedule, command, active}, interval_s, runs {runs_read, last_start, last_finish, last_status, '
'last_finished_status, last_success, last_ok_start, failures_since_success, last_failure {start_time, end_time, '
'message}}}. Callers: report_queue_health.';
revoke all on function private.report_drain_facts() from public;

-- The verdict on those facts: one {problem, message} per thing wrong, the cause first, each message
-- saying what to do. Judged by runs: a drain whose latest run failed, or that has not run while a
-- job waits longer than twice its interval, is a problem like a drain that is not scheduled (a run
-- under way is not judged until it ends).
create or replace function private.report_drain_problems(facts jsonb)
returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object('problem', p.problem, 'message', p.message) order by p.rank), '[]')
  from (
    select
      1 as rank, 'pg_cron_absent' as problem,
      'pg_cron is not installed in this database (a new Supabase project has it off, and a reset that drops '
      'extensions removes it), so nothing but glue workers and fire-and-forget freshens the reports. Enable it '
      '(Dashboard: Database > Extensions > pg_cron, or create extension pg_cron with schema pg_catalog), then run '
      '`glue schedule`; until then keep `glue worker` running.' as message
    where report_drain_problems.facts ->> 'pg_cron' is null
    union all
    select
      2, 'scheduler_not_running',
      'pg_cron is installed but its scheduler is not running (no pg_cron launcher backend), so no job runs. It stops '
      'when its database is dropped and comes back only when the server restarts (local: make db-stop db; '
      'Supabase: restart the project); check that cron.database_name is this database.'
    where report_drain_problems.facts ->> 'pg_cron' is not null
      and not (report_drain_problems.facts ->> 'scheduler_running')::boolean
    union all
    select 3, 'drain_missing', 'pg_cron has no report-jobs-drain job: run `glue schedule`.'
    where report_drain_problems.facts ->> 'pg_cron' is not null and report_drain_problems.facts -> 'job' = 'null'
    union all
    select 4, 'drain_inactive', 'the pg_cron job report-jobs-drain is inactive: `glue schedule` reactivates it.'
    where report_drain_problems.facts #>> '{job,active}' = 'false'
    union all
    select
      5, 'drain_schedule_unsupported',
      pg_catalog.format(
        'the report-jobs-drain job runs on %L, not every minute or every N seconds: `glue schedule` resets it.',
        report_drain_problems.facts #>> '{job,schedule}'
      )
    where report_drain_problems.facts #>> '{job,schedule}' is not null
      and report_drain_problems.facts ->> 'interval_s' is null
    union all
    select
      6, 'drain_failing',
      pg_catalog.format(
        'the drain failed on its last %s run(s), the last started at %s: %s',
        report_drain_problems.facts #>> '{runs,failures_since_success}',
        report_drain_problems.facts #>> '{runs,last_failure,start_time}',
        coalesce(pg_catalog.btrim(report_drain_problems.facts #>> '{runs,last_failure,message}'), '(no message)')
      )
    where report_drain_problems.facts #>> '{runs,last_status}' = 'failed'
    union all
    select
      7, 'drain_not_running',
      pg_catalog.format(
        'a job has been due for %s s, more than twice the drain''s interval of %s s, and no drain run has '
        'succeeded or been running since %s: look at cron.job_run_details and the server log.',
        report_drain_problems.facts ->> 'oldest_due_s', report_drain_problems.facts ->> 'interval_s',
        coalesce(report_drain_problems.facts #>> '{runs,last_ok_start}', 'ever')
      )
    where (report_drain_problems.facts ->> 'scheduler_running')::boolean
      and report_drain_problems.facts #>> '{job,active}' = 'true'
      and (report_drain_problems.facts ->> 'oldest_due_s')::numeric
      > 2 * (report_drain_problems.facts ->> 'interval_s')::numeric
      and coalesce(
        (report_drain_problems.facts #>> '{runs,last_ok_start}')::timestamptz
        < (report_drain_problems.facts ->> 'checked_at')::timestamptz
        - pg_catalog.make_interval(secs => 2 * (report_drain_problems.facts ->> 'interval_s')::numeric),
        true
      )
  ) as p
$$;
comment on function private.report_drain_problems(jsonb) is
'The drain''s problems from report_drain_facts(): [{problem, message}] with problem one of pg_cron_absent, '
'scheduler_not_running, drain_missing, drain_inactive, drain_schedule_unsupported, drain_failing, '
'drain_not_running; empty when the drain is healthy. Callers: report_queue_health, the pgTAP suites.';
revoke all on function private.report_drain_problems(jsonb) from public;

-- Install or repair the queue's pg_cron schedule once pg_cron is enabled: the drain, the hourly
-- verification sample, and a daily purge of the jobs' run history older than a week. The drain runs
-- every drain_interval: by default every 5 seconds where pg_cron takes seconds (1.5 and later, as on
-- Supabase), else every minute with a drain that polls every half second within its minute. The
-- schedule migration does this at deploy time where pg_cron is already on; a new Supabase project
-- has it off, so operators call this after enabling it. Idempotent: cron.schedule replaces a job of
-- the same name (and keeps its active flag, so a job made inactive is made active again here).
create or replace function public.report_queue_schedule(drain_interval text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_version integer [];
  v_interval text;
  v_interval_s integer;
  v_valid boolean;
  v_jobs jsonb;
begin
  if not private.caller_bypasses_rls() then
    raise exception 'only the service role may schedule the report queue' using errcode = '42501';
  end if;
  v_version := private.report_cron_version();
  if v_version is null then
    raise exception 'pg_cron is not enabled in this database'
      using errcode = 'PLS04',
      hint = 'Enable it (Supabase: Database > Extensions > pg_cron, or create extension pg_cron with schema '
      'pg_catalog), then call report_queue_schedule again. Until then run glue worker.';
  end if;
  v_interval := coalesce(
    nullif(pg_catalog.btrim(report_queue_schedule.drain_interval), ''),
    case when v_version >= array[1, 5] then '5 seconds' else '* * * * *' end
  );
  v_interval_s := private.report_drain_interval_s(v_interval);
  if v_interval_s is null then
    -- pg_cron itself tells a schedule it cannot read from one that is valid but slower than a minute;
    -- the probe job goes with the transaction that this refusal rolls back.
    begin
      execute pg_catalog.format('select %I.schedule($1, $2, $3)', 'cron')
      using 'report-jobs-drain-probe', v_interval, 'select';
      v_valid := true;
    exception when invalid_parameter_value then
      v_valid := false;
    end;
    if v_valid then
      raise exception 'the drain interval % is longer than the maximum of one minute', pg_catalog.quote_literal(v_interval)
        using errcode = 'PLV16',
        hint = 'Use ''* * * * *'' (every minute) or ''N seconds'' (N from 1 to 59, pg_cron 1.5 and later).';
    end if;
    raise exception '% is not a pg_cron schedule', pg_catalog.quote_literal(v_interval)
      using errcode = 'PLV16',
      detail = 'pg_cron takes five cron fields (minute hour day month weekday) or, from pg_cron 1.5, '
      '''N seconds'' with N from 1 to 59.',
      hint = 'The drain runs every minute (''* * * * *'') or every N seconds (''5 seconds'').';
  end if;
  if v_interval_s < 60 and v_version < array[1, 5] then
    raise exception 'pg_cron % takes whole minutes only, not %', pg_catalog.array_to_string(v_version, '.'),
      pg_catalog.quote_literal(v_interval)
      using errcode = 'PLV16',
      hint = 'Use ''* * * * *'': the drain then polls the queue every half second within its minute.';
  end if;
  execute pg_catalog.format('select %I.schedule($1, $2, $3)', 'cron')
  using 'report-jobs-drain', v_interval, case
    when v_interval_s < 60 then 'call private.report_jobs_drain(100, 55, 0, ''report-jobs-drain'')'
    -- Every minute: poll until the minute is nearly over. A run that ends after the next minute has
    -- begun is followed at once by the next one (pg_cron never runs a job twice at a time).
    else 'call private.report_jobs_drain(100, 59, 500, ''report-jobs-drain'')'
  end;
  execute pg_catalog.format('select %I.schedule($1, $2, $3)', 'cron')
  using 'report-verify-sample', '17 * * * *', 'select public.report_verify_and_enqueue(200)';
  execute pg_catalog.format('select %I.schedule($1, $2, $3)', 'cron')
  using 'report-cron-history', '41 3 * * *',
  'delete from cron.job_run_details where end_time < now() - interval ''7 days'' and jobid in '
  '(select jobid from cron.job where jobname like ''report-%'')';
  execute pg_catalog.format(
    'update %I.job set active = true where jobname = any($1) and username = current_user and not active', 'cron'
  ) using array['report-jobs-drain', 'report-verify-sample', 'report-cron-history'];
  execute pg_catalog.format(
    'select jsonb_agg(jsonb_build_object(''jobname'', j.jobname, ''schedule'', j.schedule, ''command'', j.command, '
    '''active'', j.active) order by j.jobname) from %I.job as j where j.jobname = any($1)', 'cron'
  ) into v_jobs using array['report-jobs-drain', 'report-verify-sample', 'report-cron-history'];
  return jsonb_build_object(
    'scheduled', v_jobs, 'drain_scheduled', private.report_drain_scheduled(), 'drain_interval', v_interval,
    'drain_interval_s', v_interval_s, 'pg_cron', pg_catalog.array_to_string(v_version, '.')
  );
end
$$;
comment on function public.report_queue_schedule(text) is
'Installs or repairs the pg_cron jobs of the report queue: report-jobs-drain every drain_interval (default '
'''5 seconds'' on pg_cron 1.5+, else ''* * * * *'' with a drain that polls within its minute; at most a minute), '
'report-verify-sample hourly, report-cron-history (purges their run history after 7 days) daily; returns '
'{scheduled: [{jobname, schedule, command, active}], drain_scheduled, drain_interval, drain_interval_s, pg_cron}. '
'Callers: operators after enabling pg_cron, glue schedule (service_role). Errors: 42501 not the service role, '
'PLS04 pg_cron not enabled, PLV16 an interval that is not a pg_cron schedule, is longer than a minute, or is in '
'seconds where pg_cron takes minutes only.';
revoke all on function public.report_queue_schedule(text) from public, anon, authenticated;
grant execute on function public.report_queue_schedule(text) to service_role;

-- What operators watch: queue depth, age, failures, latency and coalescing; and whether the drain
-- really runs (report_drain_facts, report_drain_problems), with every problem in one list.
create or replace function public.report_queue_health()
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  -- Who drains: an active pg_cron job, or any recalculation finished in the last five minutes (glue
  -- workers, fire-and-forget). Nothing, while jobs are due: the cache goes stale and nobody is told.
  select q.health || jsonb_build_object(
    'drain_scheduled', q.drain_scheduled,
    'nothing_drains', q.nothing_drains,
    'drain', q.facts,
    'problems', q.problems || case
      when (q.health -> 'dead')::integer > 0 then jsonb_build_array(jsonb_build_object(
        'problem', 'dead_jobs',
        'message', pg_catalog.format(
          '%s job(s) dead after their last attempt: fix the cause, then re-queue them (report_jobs_requeue).',
          q.health -> 'dead'
        )
      ))
      else '[]'::jsonb
    end
  )
  from (
    select
      d.health, d.drain_scheduled, d.facts, private.report_drain_problems(d.facts) as problems,
      (d.health -> 'due')::integer > 0 and not d.drain_scheduled
      and (d.health -> 'running')::integer = 0
      and not exists (
        select from private.report_job_history as h where h.finished_at > now() - interval '5 minutes'
      ) as nothing_drains
    from (
      select
        private.report_drain_scheduled() as drain_scheduled,
        private.report_drain_facts() as facts,
        jsonb_build_object(
          'pending', count(*) filter (where j.state = 'pending'),
          'due', count(*) filter (where j.state in ('pending', 'failed') and j.run_after <= now()),
          'running', count(*) filter (where j.state = 'running'),
          'failed', count(*) filter (where j.state = 'failed'),
          'dead', count(*) filter (where j.state = 'dead'),
          'oldest_pending_age_s', round(extract(epoch from now() - min(j.enqueued_at) filter (
            where j.state in ('pending', 'failed')
          ))::numeric, 3),
          'waiting_coalesced_writes', coalesce(sum(j.coalesced_count) filter (where j.state in ('pending', 'failed')), 0),
          'last_drained_at', (select max(h.finished_at) from private.report_job_history as h),
          'last_hour', (
            select jsonb_build_object(
              'jobs_done', count(*) filter (where h.outcome = 'done'),
              'jobs_failed', count(*) filter (where h.outcome in ('failed', 'dead')),
              'writes', coalesce(sum(h.coalesced_count + 1) filter (where h.outcome = 'done'), 0),
              'coalesced_writes', coalesce(sum(h.coalesced_count) filter (where h.outcome = 'done'), 0),
              'wait_ms_p50', round((percentile_cont(0.5) within group (
                order by extract(epoch from h.started_at - h.enqueued_at) * 1000))::numeric, 1),
              'wait_ms_p95', round((percentile_cont(0.95) within group (
                order by extract(epoch from h.started_at - h.enqueued_at) * 1000))::numeric, 1),
              'freshness_ms_p50', round((percentile_cont(0.5) within group (
                order by extract(epoch from h.finished_at - h.last_enqueued_at) * 1000))::numeric, 1),
              'freshness_ms_p95', round((percentile_cont(0.95) within group (
                order by extract(epoch from h.finished_at - h.last_enqueued_at) * 1000))::numeric, 1),
              'run_ms_p50', round((percentile_cont(0.5) within group (
                order by extract(epoch from h.finished_at - h.started_at) * 1000))::numeric, 1),
              'run_ms_p95', round((percentile_cont(0.95) within group (
                order by extract(epoch from h.finished_at - h.started_at) * 1000))::numeric, 1)
            )
            from private.report_job_history as h
            where h.finished_at > now() - interval '1 hour'
          )
        ) as health
      from private.report_jobs as j
    ) as d
  ) as q
$$;
comment on function public.report_queue_health() is
'Queue state for operators: pending, due, running, failed, dead, oldest pending age; who drains it '
'(drain_scheduled: an active pg_cron job; last_drained_at; nothing_drains: jobs are due but no cron job, no '
'running job and no recalculation in five minutes); drain: what pg_cron did (report_drain_facts); problems: '
'[{problem, message}] (report_drain_problems, and dead_jobs), empty when healthy; and over the last hour jobs, '
'writes coalesced, wait, freshness (last write to fresh cache) and run-time percentiles. Callers: glue health, '
'dashboards (service_role).';
revoke all on function public.report_queue_health() from public, anon, authenticated;
grant execute on function public.report_queue_health() to service_role;

-- Failed and dead jobs with their errors.
create or replace function public.report_jobs_failures()
returns table (
  job_id bigint, pupil_id uuid, state text, attempts integer, max_attempts integer, last_error text,
  last_error_code text, failed_at timestamptz, run_after timestamptz, dead_at timestamptz
)
language sql
stable
security definer
set search_path = ''
as $$
  select
    j.job_id, j.pupil_id, j.state::text, j.attempts, j.max_attempts, j.last_error, j.last_error_code, j.failed_at,
    j.run_after, j.dead_at
  from private.report_jobs as j
  where j.state in ('failed', 'dead')
  order by j.state desc, j.failed_at desc
$$;
comment on function public.report_jobs_failures() is
'Every failed (waiting for a retry) and dead job with its last error. Callers: glue health, operators (service_role).';
revoke all on function public.report_jobs_failures() from public, anon, authenticated;
grant execute on function public.report_jobs_failures() to service_role;

-- Give a dead job another round of attempts.
create or replace function public.report_jobs_requeue(job_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job private.report_jobs;
begin
  select j.* into v_job from private.report_jobs as j where j.job_id = report_jobs_requeue.job_id for update;
  if not found then
    raise exception 'unknown job %', report_jobs_requeue.job_id using errcode = 'PLN08';
  end if;
  if v_job.state <> 'dead' then
    raise exception 'job % is %, only dead jobs can be re-queued', v_job.job_id, v_job.state
      using errcode = 'PLS01';
  end if;
  delete from private.report_jobs as j where j.job_id = v_job.job_id;
  perform private.report_enqueue(array[v_job.pupil_id], 'requeue of dead job ' || v_job.job_id, v_job.unit_ids);
  return (
    select jsonb_build_object('job_id', j.job_id, 'pupil_id', j.pupil_id, 'state', j.state)
    from private.report_jobs as j
    where j.pupil_id = v_job.pupil_id and j.state in ('pending', 'failed')
  );
end
$$;
comment on function public.report_jobs_requeue(bigint) is
'Re-queues a dead job (fresh attempts; coalesced into a waiting job if there is one); returns the waiting job. '
'Callers: operators (service_role). Errors: PLN08 unknown job, PLS01 job not dead.';
revoke all on function public.report_jobs_requeue(bigint) from public, anon, authenticated;
grant execute on function public.report_jobs_requeue(bigint) to service_role;

-- The safety net: compare a sample of pupils with the live computation and enqueue every mismatch.
create or replace function public.report_verify_and_enqueue(sample_size integer default 100)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_sweep record;
  v_groups text [];
begin
  select s.* into v_sweep from public.report_verify_sweep(report_verify_and_enqueue.sample_size) as s;
  perform private.report_enqueue(v_sweep.mismatched_pupils, 'verification sweep');
  -- The stored class pages too (every class: a page is one read of its class's cached rows).
  v_groups := array(select d.group_id from private.report_group_differences(null) as d);
  perform private.report_groups_changed(v_groups);
  return jsonb_build_object(
    'pupils_checked', v_sweep.pupils_checked,
    'pupils_mismatched', v_sweep.pupils_mismatched,
    'differences', v_sweep.differences,
    'enqueued', coalesce(cardinality(v_sweep.mismatched_pupils), 0),
    'groups_mismatched', cardinality(v_groups)
  );
end
$$;
comment on function public.report_verify_and_enqueue(integer) is
'Verifies a random sample (NULL: everyone) against the live computation and enqueues every mismatched pupil; checks '
'every class''s stored page and records the mismatched ones for a refresh; returns the counts. Callers: pg_cron, '
'glue verify (service_role). Errors: PLV08 sample_size < 1.';
revoke all on function public.report_verify_and_enqueue(integer) from public, anon, authenticated;
grant execute on function public.report_verify_and_enqueue(integer) to service_role;
