-- The backfill: every pupil's cache built from the live computation, in batches, resumable.

-- Backfill, batched: for databases too large for one statement. A run walks the pupils in
-- pupil_id order, one batch per transaction; an interrupted run is resumed by the next start.
-- Batches of 50 keep the plan on the indexes, so a batch costs the same per pupil whatever the
-- size of the tables (measured: ~25 ms a pupil at 1,000 and at 10,000 pupils; batches of 500
-- hash the whole submissions table and cost 2-3 times more per pupil at 10,000).
create or replace function private.report_backfill_start(batch_size integer default 50)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_run_id bigint;
begin
  if coalesce(report_backfill_start.batch_size, 0) < 1 then
    raise exception 'batch_size must be a positive number, not %', report_backfill_start.batch_size
      using errcode = 'PLV08';
  end if;
  select r.run_id into v_run_id
  from private.report_backfill_runs as r
  where r.finished_at is null
  order by r.run_id desc
  limit 1
  for update;
  if v_run_id is not null then
    update private.report_backfill_runs as r
    set batch_size = report_backfill_start.batch_size, resumed_count = r.resumed_count + 1
    where r.run_id = v_run_id;
    return v_run_id;
  end if;
  insert into private.report_backfill_runs (batch_size, pupils_total)
  select
    report_backfill_start.batch_size,
    (select count(*) from private.report_backfill_pupils(null, null))
  returning run_id into v_run_id;
  return v_run_id;
end
$$;
comment on function private.report_backfill_start(integer) is
'Starts a batched backfill run, or resumes the unfinished one; returns its run_id. Callers: '
'report_backfill_batched, glue backfill. Errors: PLV08 batch_size < 1.';
revoke all on function private.report_backfill_start(integer) from public;
grant execute on function private.report_backfill_start(integer) to service_role;

-- One batch of a backfill run: merge the next batch_size pupils and record the progress; the last
-- batch also rebuilds the stored pages of the classes the run changed.
create or replace function private.report_backfill_step(run_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_run private.report_backfill_runs;
  v_batch uuid [];
  v_merge jsonb;
begin
  select r.* into v_run
  from private.report_backfill_runs as r
  where r.run_id = report_backfill_step.run_id
  for update;
  if not found then
    raise exception 'unknown backfill run %', report_backfill_step.run_id using errcode = 'PLN08';
  end if;
  if v_run.finished_at is null then
    select array_agg(b.pupil_id order by b.pupil_id) into v_batch
    from private.report_backfill_pupils(v_run.last_pupil_id, v_run.batch_size) as b;
    if v_batch is null then
      update private.report_backfill_runs as r
      set finished_at = now()
      where r.run_id = v_run.run_id
      returning r.* into v_run;
    else
      v_merge := private.report_merge(v_batch, null);
      update private.report_backfill_runs as r
      set
        last_pupil_id = v_batch[cardinality(v_batch)],
        pupils_done = r.pupils_done + cardinality(v_batch),
        pupils_changed = r.pupils_changed + (v_merge ->> 'pupils_changed')::integer,
        pupils_total = greatest(r.pupils_total, r.pupils_done + cardinality(v_batch)),
        finished_at = case when cardinality(v_batch) < r.batch_size then now() end
      where r.run_id = v_run.run_id
      returning r.* into v_run;
    end if;
    if v_run.finished_at is not null then
      -- The last batch: rebuild the class pages the run changed.
      perform private.report_groups_refresh(null);
    end if;
  end if;
  return jsonb_build_object(
    'run_id', v_run.run_id,
    'pupils_done', v_run.pupils_done,
    'pupils_total', v_run.pupils_total,
    'pupils_changed', v_run.pupils_changed,
    'finished', v_run.finished_at is not null
  );
end
$$;
comment on function private.report_backfill_step(bigint) is
'Merges the next batch of a backfill run and records progress; returns {run_id, pupils_done, pupils_total, '
'pupils_changed, finished}. Callers: report_backfill_batched, glue backfill. Errors: PLN08 unknown run.';
revoke all on function private.report_backfill_step(bigint) from public;
grant execute on function private.report_backfill_step(bigint) to service_role;

-- The whole backfill in the caller's transaction (the backfill migration): a run of batches, each
-- batch set-based over its pupils. Returns the run's final progress.
create or replace function private.report_backfill_all(batch_size integer default 50)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_run_id bigint;
  v_step jsonb;
begin
  v_run_id := private.report_backfill_start(report_backfill_all.batch_size);
  loop
    v_step := private.report_backfill_step(v_run_id);
    exit when (v_step ->> 'finished')::boolean;
  end loop;
  return v_step;
end
$$;
comment on function private.report_backfill_all(integer) is
'Backfills every pupil''s cached report in the current transaction, batch by batch (each set-based); returns '
'{run_id, pupils_done, pupils_total, pupils_changed, finished}. Callers: the backfill migration, tests. '
'Errors: PLV08 batch_size < 1.';
revoke all on function private.report_backfill_all(integer) from public;
grant execute on function private.report_backfill_all(integer) to service_role;

-- The batched backfill for very large databases: commits after every batch, reports progress with
-- NOTICEs, resumes an interrupted run. Call it outside a transaction block: call private.report_backfill_batched();
create or replace procedure private.report_backfill_batched(batch_size integer default 50)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_run_id bigint;
  v_step jsonb;
begin
  v_run_id := private.report_backfill_start(report_backfill_batched.batch_size);
  commit;
  loop
    v_step := private.report_backfill_step(v_run_id);
    commit;
    raise notice 'report backfill run %: % of % pupils (% changed)',
      v_run_id, v_step ->> 'pupils_done', v_step ->> 'pupils_total', v_step ->> 'pupils_changed';
    exit when (v_step ->> 'finished')::boolean;
  end loop;
end
$$;
revoke all on procedure private.report_backfill_batched(integer) from public;
grant execute on procedure private.report_backfill_batched(integer) to service_role;
comment on procedure private.report_backfill_batched (integer) is
'Batched, resumable backfill of every pupil''s cached report, one transaction per batch, with progress '
'NOTICEs. Callers: DBAs (psql), pg_cron. Errors: PLV08 batch_size < 1.';
