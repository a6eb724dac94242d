-- The reports cache: merging live rows into the cache (per pupil, in batches, or for everyone),
-- verification against the live computation, and the read RPCs of the report pages.
-- Every number comes from supabase/functions_sql/20_scoring.sql; nothing here computes a score.

-- Replace the cached rows of a set of pupils (NULL: every pupil) with the live computation, in one
-- statement: insert new rows, update changed rows, delete vanished rows, write nothing that did not
-- change, and bump the version of each pupil whose rows changed (changed rows carry that version).
-- Returns the counts. The caller provides the locking (report_recalculate_pupil, backfill).
create or replace function private.report_merge(pupil_ids uuid[])
returns jsonb
language plpgsql
security definer
set search_path = ''
set jit = off
as $$
declare
  v_pupils uuid [] := report_merge.pupil_ids;
  v_result jsonb;
begin
  if v_pupils is null then
    -- Everyone: the pupils of a class and those who still have cached rows (theirs are removed).
    select coalesce(array_agg(b.pupil_id), '{}'::uuid []) into v_pupils
    from private.report_backfill_pupils(null, null) as b;
  end if;
  if not exists (
    select from public.group_membership as gm where gm.user_id = any(v_pupils) and gm.role = 'pupil'
  )
    and not exists (select from public.report_pupil_unit_summaries as t where t.pupil_id = any(v_pupils))
    and not exists (select from public.report_pupil_subject_summaries as t where t.pupil_id = any(v_pupils)) then
    -- None of the pupils is in a class and none has cached rows: there is nothing live and nothing
    -- stored, so the statement below would write nothing. It is not even planned (a few ms).
    return jsonb_build_object(
      'pupils_changed', 0,
      'units', jsonb_build_object('inserted', 0, 'updated', 0, 'deleted', 0),
      'criteria', jsonb_build_object('inserted', 0, 'updated', 0, 'deleted', 0),
      'subjects', jsonb_build_object('inserted', 0, 'updated', 0, 'deleted', 0)
    );
  end if;
  -- One statement, planned for each call with the pupils' array as a value (EXECUTE ... USING): a
  -- plan cached for an array of unknown length reads every pupil's rows. Not a function-level
  -- plan_cache_mode = force_custom_plan: that also re-plans every foreign-key check the statement
  -- fires (about 15 us a row: 6 s of a whole-school backfill).
  execute $merge$
  with live as materialized (
    select r.kind, r.criterion, r.unit
    from private.live_report_rows($1) as r
    where r.kind in ('criterion', 'unit')
  ),

  live_u as (
    select (l.unit).* from live as l where l.kind = 'unit'
  ),

  live_c as (
    select (l.criterion).* from live as l where l.kind = 'criterion'
  ),

  live_s as materialized (
    select s.*
    from (
      select array_agg(row(u.*)::public.report_pupil_unit_summaries) as units
      from live_u as u
      group by u.pupil_id
    ) as per_pupil
    cross join lateral private.summarise_subjects(per_pupil.units) as s
  ),

  -- The stored rows, with the bookkeeping columns blanked so that they compare with the live rows.
  old_u as (
    select
      t.pupil_id, t.unit_id, t.subject, t.unit_title, t.unit_year, t.activities_average,
      t.assessment_average, t.assessment_level, t.assessment_level_rank, t.working_level,
      t.activity_count, t.marked_count, t.missing_count, t.awaiting_marking_count,
      t.last_submitted_at, null::bigint as version, null::timestamptz as computed_at
    from public.report_pupil_unit_summaries as t
    where t.pupil_id = any($1)
  ),

  old_c as (
    select
      t.pupil_id, t.unit_id, t.success_criteria_id, t.level, t.activities_score, t.assessment_score,
      null::bigint as version
    from public.report_pupil_criterion_scores as t
    where t.pupil_id = any($1)
  ),

  old_s as (
    select
      t.pupil_id, t.subject, t.activities_average, t.assessment_average, t.unit_count,
      t.typical_level, t.typical_level_rank, null::bigint as version, null::timestamptz as computed_at
    from public.report_pupil_subject_summaries as t
    where t.pupil_id = any($1)
  ),

  diff_u as (
    select coalesce(n.pupil_id, o.pupil_id) as pupil_id, n.unit_id as new_key, o.unit_id as old_key
    from live_u as n
    full join old_u as o on n.pupil_id = o.pupil_id and n.unit_id = o.unit_id
    where n is distinct from o
  ),

  diff_c as (
    select
      coalesce(n.pupil_id, o.pupil_id) as pupil_id,
      coalesce(n.unit_id, o.unit_id) as unit_id,
      n.success_criteria_id as new_key,
      o.success_criteria_id as old_key
    from live_c as n
    full join old_c as o
      on n.pupil_id = o.pupil_id and n.unit_id = o.unit_id and n.success_criteria_id = o.success_criteria_id
    where n is distinct from o
  ),

  diff_s as (
    select coalesce(n.pupil_id, o.pupil_id) as pupil_id, n.subject as new_key, o.subject as old_key
    from live_s as n
    full join old_s as o on n.pupil_id = o.pupil_id and n.subject = o.subject
    where n is distinct from o
  ),

  bump as (
    insert into public.report_pupil_versions as v (pupil_id, version, changed_at)
    select changed.pupil_id, 1, now()
    from (
      select d.pupil_id from diff_u as d
      union
      select d.pupil_id from diff_c as d
      union
      select d.pupil_id from diff_s as d
    ) as changed
    on conflict (pupil_id) do update
      set version = v.version + 1, changed_at = excluded.changed_at
    returning v.pupil_id, v.version
  ),

  del_u as (
    delete from public.report_pupil_unit_summaries as t
    using diff_u as d
    where d.new_key is null and t.pupil_id = d.pupil_id and t.unit_id = d.old_key
    returning 1
  ),

  put_u as (
    insert into public.report_pupil_unit_summaries as t (
      pupil_id, unit_id, subject, unit_title, unit_year, activities_average, assessment_average,
      assessment_level, assessment_level_rank, working_level, activity_count, marked_count,
      missing_count, awaiting_marking_count, last_submitted_at, version, computed_at
    )
    select
      n.pupil_id, n.unit_id, n.subject, n.unit_title, n.unit_year, n.activities_average,
      n.assessment_average, n.assessment_level, n.assessment_level_rank, n.working_level,
      n.activity_count, n.marked_count, n.missing_count, n.awaiting_marking_count,
      n.last_submitted_at, b.version, now()
    from diff_u as d
    inner join live_u as n on d.pupil_id = n.pupil_id and d.new_key = n.unit_id
    inner join bump as b on d.pupil_id = b.pupil_id
    on conflict (pupil_id, unit_id) do update
      set
        subject = excluded.subject,
        unit_title = excluded.unit_title,
        unit_year = excluded.unit_year,
        activities_average = excluded.activities_average,
        assessment_average = excluded.assessment_average,
        assessment_level = excluded.assessment_level,
        assessment_level_rank = excluded.assessment_level_rank,
        working_level = excluded.working_level,
        activity_count = excluded.activity_count,
        marked_count = excluded.marked_count,
        missing_count = excluded.missing_count,
        awaiting_marking_count = excluded.awaiting_marking_count,
        last_submitted_at = excluded.last_submitted_at,
        version = excluded.version,
        computed_at = excluded.computed_at
    returning (t.xmax = 0) as inserted
  ),

  del_c as (
    delete from public.report_pupil_criterion_scores as t
    using diff_c as d
    where
      d.new_key is null and t.pupil_id = d.pupil_id and t.unit_id = d.unit_id
      and t.success_criteria_id = d.old_key
    returning 1
  ),

  put_c as (
    insert into public.report_pupil_criterion_scores as t (
      pupil_id, unit_id, success_criteria_id, level, activities_score, assessment_score, version
    )
    select n.pupil_id, n.unit_id, n.success_criteria_id, n.level, n.activities_score, n.assessment_score, b.version
    from diff_c as d
    inner join live_c as n
      on d.pupil_id = n.pupil_id and d.unit_id = n.unit_id and d.new_key = n.success_criteria_id
    inner join bump as b on d.pupil_id = b.pupil_id
    on conflict (pupil_id, unit_id, success_criteria_id) do update
      set
        level = excluded.level,
        activities_score = excluded.activities_score,
        assessment_score = excluded.assessment_score,
        version = excluded.version
    returning (t.xmax = 0) as inserted
  ),

  del_s as (
    delete from public.report_pupil_subject_summaries as t
    using diff_s as d
    where d.new_key is null and t.pupil_id = d.pupil_id and t.subject = d.old_key
    returning 1
  ),

  put_s as (
    insert into public.report_pupil_subject_summaries as t (
      pupil_id, subject, activities_average, assessment_average, unit_count, typical_level,
      typical_level_rank, version, computed_at
    )
    select
      n.pupil_id, n.subject, n.activities_average, n.assessment_average, n.unit_count,
      n.typical_level, n.typical_level_rank, b.version, now()
    from diff_s as d
    inner join live_s as n on d.pupil_id = n.pupil_id and d.new_key = n.subject
    inner join bump as b on d.pupil_id = b.pupil_id
    on conflict (pupil_id, subject) do update
      set
        activities_average = excluded.activities_average,
        assessment_average = excluded.assessment_average,
        unit_count = excluded.unit_count,
        typical_level = excluded.typical_level,
        typical_level_rank = excluded.typical_level_rank,
        version = excluded.version,
        computed_at = excluded.computed_at
    returning (t.xmax = 0) as inserted
  )

  select jsonb_build_object(
    'pupils_changed', (select count(*) from bump),
    'units', jsonb_build_object(
      'inserted', (select count(*) from put_u where inserted),
      'updated', (select count(*) from put_u where not inserted),
      'deleted', (select count(*) from del_u)
    ),
    'criteria', jsonb_build_object(
      'inserted', (select count(*) from put_c where inserted),
      'updated', (select count(*) from put_c where not inserted),
      'deleted', (select count(*) from del_c)
    ),
    'subjects', jsonb_build_object(
      'inserted', (select count(*) from put_s where inserted),
      'updated', (select count(*) from put_s where not inserted),
      'deleted', (select count(*) from del_s)
    )
  )
  $merge$
  into v_result
  using v_pupils;
  return v_result;
end
$$;
comment on function private.report_merge(uuid[]) is
'Replaces the cached report rows of the pupils (NULL: every pupil, set-based in one statement) with the live '
'computation; writes only changes and bumps the version of changed pupils. Callers: report_recalculate_pupil, '
'report_backfill_step, the backfill migration. Lock first: it does not.';
revoke all on function private.report_merge(uuid[]) from public;

-- Recalculate one pupil's cached report now, in the caller's transaction: cost depends on that
-- pupil's work only. Serialised per pupil by a transaction-level advisory lock.
create or replace function private.report_recalculate_pupil(pupil_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_merge jsonb;
  v_version bigint;
begin
  if report_recalculate_pupil.pupil_id is null then
    raise exception 'pupil_id is required'
      using errcode = 'PLV01', hint = 'Pass the uuid of a pupil.';
  end if;
  if not private.profile_exists(report_recalculate_pupil.pupil_id) then
    raise exception 'unknown pupil %', report_recalculate_pupil.pupil_id
      using errcode = 'PLN01', detail = 'No profile has this user_id.';
  end if;
  perform pg_advisory_xact_lock(7301, hashtext(report_recalculate_pupil.pupil_id::text));
  v_merge := private.report_merge(array[report_recalculate_pupil.pupil_id]);
  select v.version into v_version
  from public.report_pupil_versions as v
  where v.pupil_id = report_recalculate_pupil.pupil_id;
  return jsonb_build_object(
    'pupil_id', report_recalculate_pupil.pupil_id,
    'version', coalesce(v_version, 0),
    'changed', (v_merge ->> 'pupils_changed')::integer > 0
  ) || (v_merge - 'pupils_changed');
end
$$;
comment on function private.report_recalculate_pupil(uuid) is
'Recalculates one pupil''s cached report in the current transaction; returns {pupil_id, version, changed, '
'units, criteria, subjects} with inserted/updated/deleted counts. Callers: the queue (report_process_pupil, '
'report_jobs_process), tests. Errors: PLV01 null pupil_id, PLN01 unknown pupil.';
revoke all on function private.report_recalculate_pupil(uuid) from public;
grant execute on function private.report_recalculate_pupil(uuid) to service_role;

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

-- The pupils a backfill covers, in order, after a given pupil: everyone who is a pupil of a class
-- or still has cached rows (so that rows of pupils who left every class are removed).
create or replace function private.report_backfill_pupils(after_pupil uuid, max_count integer)
returns table (pupil_id uuid)
language sql
stable
set search_path = ''
as $$
  select x.pupil_id
  from (
    select gm.user_id as pupil_id from public.group_membership as gm where gm.role = 'pupil'
    union
    select v.pupil_id from public.report_pupil_versions as v
  ) as x
  where report_backfill_pupils.after_pupil is null or x.pupil_id > report_backfill_pupils.after_pupil
  order by x.pupil_id
  limit report_backfill_pupils.max_count
$$;
comment on function private.report_backfill_pupils(uuid, integer) is
'The pupils a backfill covers, in pupil_id order after after_pupil (NULL: from the start); max_count NULL: all. '
'Callers: report_backfill_start, report_backfill_step.';
revoke all on function private.report_backfill_pupils(uuid, integer) from public;

-- One batch of a backfill run: merge the next batch_size pupils and record the progress.
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
      v_merge := private.report_merge(v_batch);
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

-- Every difference between a set of pupils' cached rows and the live computation (exact comparison).
create or replace function private.report_differences(pupil_ids uuid[])
returns table (pupil_id uuid, kind text, key text, difference text, stored jsonb, live jsonb)
language sql
stable
security definer
set search_path = ''
as $$
  with
  live as materialized (
    select r.kind, r.criterion, r.unit
    from private.live_report_rows(report_differences.pupil_ids) as r
    where r.kind in ('criterion', 'unit')
  ),
  live_u as (select (l.unit).* from live as l where l.kind = 'unit'),
  old_u as (
    select * from public.report_pupil_unit_summaries as t
    where t.pupil_id = any(report_differences.pupil_ids)
  ),
  live_c as (select (l.criterion).* from live as l where l.kind = 'criterion'),
  old_c as (
    select * from public.report_pupil_criterion_scores as t
    where t.pupil_id = any(report_differences.pupil_ids)
  ),
  live_s as (
    select s.*
    from (
      select array_agg(row(u.*)::public.report_pupil_unit_summaries) as units
      from live_u as u
      group by u.pupil_id
    ) as per_pupil
    cross join lateral private.summarise_subjects(per_pupil.units) as s
  ),
  old_s as (
    select * from public.report_pupil_subject_summaries as t
    where t.pupil_id = any(report_differences.pupil_ids)
  ),
  pairs as (
    select
      coalesce(n.pupil_id, o.pupil_id) as pupil_id, 'unit' as kind, coalesce(n.unit_id, o.unit_id)::text as key,
      to_jsonb(o) - 'version' - 'computed_at' as stored, to_jsonb(n) - 'version' - 'computed_at' as live
    from live_u as n full join old_u as o on n.pupil_id = o.pupil_id and n.unit_id = o.unit_id
    union all
    select
      coalesce(n.pupil_id, o.pupil_id), 'criterion',
      coalesce(n.unit_id, o.unit_id)::text || '/' || coalesce(n.success_criteria_id, o.success_criteria_id)::text,
      to_jsonb(o) - 'version', to_jsonb(n) - 'version'
    from live_c as n
    full join old_c as o
      on n.pupil_id = o.pupil_id and n.unit_id = o.unit_id and n.success_criteria_id = o.success_criteria_id
    union all
    select
      coalesce(n.pupil_id, o.pupil_id), 'subject', coalesce(n.subject, o.subject),
      to_jsonb(o) - 'version' - 'computed_at', to_jsonb(n) - 'version' - 'computed_at'
    from live_s as n full join old_s as o on n.pupil_id = o.pupil_id and n.subject = o.subject
  )
  select
    p.pupil_id,
    p.kind,
    p.key,
    case when p.stored is null then 'missing' when p.live is null then 'stale' else 'different' end,
    p.stored,
    p.live
  from pairs as p
  where p.stored is distinct from p.live
  order by p.pupil_id, p.kind, p.key
$$;
comment on function private.report_differences(uuid[]) is
'Every difference between cached and live rows for the pupils (an explicit array): missing (not cached), stale (cached, '
'no longer live) or different. Callers: report_verify, report_verify_sweep, tests.';
revoke all on function private.report_differences(uuid[]) from public;

-- Verify one pupil's cached report against the live computation.
create or replace function public.report_verify(pupil_id uuid)
returns table (kind text, key text, difference text, stored jsonb, live jsonb)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  perform private.require(report_verify.pupil_id, 'pupil_id');
  if not exists (select from public.profiles as p where p.user_id = report_verify.pupil_id) then
    raise exception 'unknown pupil %', report_verify.pupil_id using errcode = 'PLN01';
  end if;
  return query
  select d.kind, d.key, d.difference, d.stored, d.live
  from private.report_differences(array[report_verify.pupil_id]) as d;
end
$$;
comment on function public.report_verify(uuid) is
'Every difference between the pupil''s cached report rows and the live computation; no rows: the cache is '
'exact. Callers: operators, glue verify (service_role). Errors: PLV01 null, PLN01 unknown pupil.';
revoke all on function public.report_verify(uuid) from public, anon, authenticated;
grant execute on function public.report_verify(uuid) to service_role;

-- Verify every pupil, or a random sample of sample_size pupils, in batches of 200.
create or replace function public.report_verify_sweep(sample_size integer default null)
returns table (pupils_checked integer, pupils_mismatched integer, differences integer, mismatched_pupils uuid[])
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_pupils uuid [];
  v_batch uuid [];
  v_offset integer := 0;
  v_mismatched uuid [] := '{}'::uuid [];
  v_differences integer := 0;
  v_pupil uuid;
  v_count integer;
begin
  if report_verify_sweep.sample_size is not null and report_verify_sweep.sample_size < 1 then
    raise exception 'sample_size must be positive or null (every pupil), not %', report_verify_sweep.sample_size
      using errcode = 'PLV08';
  end if;
  select coalesce(array_agg(x.pupil_id), '{}'::uuid []) into v_pupils
  from (
    select b.pupil_id
    from private.report_backfill_pupils(null, null) as b
    order by case when report_verify_sweep.sample_size is null then 0 else random() end
    limit report_verify_sweep.sample_size
  ) as x;
  loop
    v_batch := v_pupils[v_offset + 1:v_offset + 200];
    exit when coalesce(cardinality(v_batch), 0) = 0;
    for v_pupil, v_count in
      select d.pupil_id, count(*)::integer from private.report_differences(v_batch) as d group by d.pupil_id
    loop
      v_mismatched := v_mismatched || v_pupil;
      v_differences := v_differences + v_count;
    end loop;
    v_offset := v_offset + 200;
  end loop;
  return query
  select cardinality(v_pupils), cardinality(v_mismatched), v_differences, v_mismatched;
end
$$;
comment on function public.report_verify_sweep(integer) is
'Compares the cache with the live computation for every pupil (NULL) or a random sample, in batches of 200; '
'returns counts and the mismatched pupils. Callers: operators, glue verify, tests (service_role). Errors: PLV08 '
'sample_size < 1.';
revoke all on function public.report_verify_sweep(integer) from public, anon, authenticated;
grant execute on function public.report_verify_sweep(integer) to service_role;

-- The pupil report page (/reports/{pupilId}), from the cache: subjects, their units with averages,
-- levels and counts, and each unit's criteria grouped by level.
--
-- The two report reads return json, not jsonb: the document is built once and sent as built, key
-- order included. Converting a 70 kB document to jsonb cost more than building it (2.3 ms against
-- 1.6 ms for a pupil with a full year). Their plans are generic, cached per session: the query
-- depends on its parameter only through the keys of the cache tables.
create or replace function public.report_pupil(pupil_id uuid)
returns json
language plpgsql
stable
security invoker
set search_path = ''
set plan_cache_mode = 'force_generic_plan'
as $$
declare
  v_report json;
begin
  perform private.assert_can_read_pupil(report_pupil.pupil_id);
  -- Built as the document reads, each level a subquery on the keys of the level above: no
  -- intermediate document passes through a sort or a hash.
  select json_build_object(
    'pupil_id', p.user_id,
    'first_name', p.first_name,
    'last_name', p.last_name,
    'version', coalesce(v.version, 0),
    'changed_at', v.changed_at,
    'subjects', coalesce((
      select json_agg(
        json_build_object(
          'subject', s.subject,
          'activities_average', s.activities_average,
          'assessment_average', s.assessment_average,
          'unit_count', s.unit_count,
          'typical_level', s.typical_level,
          'units', (
            select json_agg(
              json_build_object(
                'unit_id', u.unit_id,
                'title', u.unit_title,
                'year', u.unit_year,
                'activities_average', u.activities_average,
                'assessment_average', u.assessment_average,
                'assessment_level', u.assessment_level,
                'working_level', u.working_level,
                'activity_count', u.activity_count,
                'marked_count', u.marked_count,
                'missing_count', u.missing_count,
                'awaiting_marking_count', u.awaiting_marking_count,
                'last_submitted_at', u.last_submitted_at,
                'criteria_by_level', (
                  select json_agg(json_build_object('level', lv.level, 'criteria', lv.criteria) order by lv.level)
                  from (
                    select
                      c.level,
                      json_agg(
                        json_build_object(
                          'success_criteria_id', c.success_criteria_id,
                          'description', sc.description,
                          'activities_score', c.activities_score,
                          'assessment_score', c.assessment_score
                        ) order by sc.order_by, sc.description, c.success_criteria_id
                      ) as criteria
                    from public.report_pupil_criterion_scores as c
                    -- Looked up by key, not by hashing the whole table.
                    cross join lateral (
                      select x.description, x.order_by
                      from public.success_criteria as x
                      where x.success_criteria_id = c.success_criteria_id
                      limit 1
                    ) as sc
                    where c.pupil_id = u.pupil_id and c.unit_id = u.unit_id
                    group by c.level
                  ) as lv
                )
              ) order by u.unit_year, u.unit_title, u.unit_id
            )
            from public.report_pupil_unit_summaries as u
            where u.pupil_id = s.pupil_id and u.subject = s.subject
          )
        ) order by s.subject
      )
      from public.report_pupil_subject_summaries as s
      where s.pupil_id = p.user_id
    ), '[]'::json)
  ) into v_report
  from public.profiles as p
  left join public.report_pupil_versions as v on p.user_id = v.pupil_id
  where p.user_id = report_pupil.pupil_id;
  return v_report;
end
$$;
comment on function public.report_pupil(uuid) is
'The pupil report (/reports/{pupilId}) from the cache, as json: subjects -> units -> averages, levels, counts '
'and criteria grouped by level. Callers: the report page, glue report pupil (the pupil, their teachers, '
'service_role; RLS applies). Errors: PLV01 null, PLN01 unknown pupil, 42501 not allowed.';
revoke all on function public.report_pupil(uuid) from public, anon;
grant execute on function public.report_pupil(uuid) to authenticated, service_role;

-- The class report page (/reports/groups/{groupId}), derived from the cached unit rows: the class's
-- cells are read once, then grouped by pupil (the rows) and by unit (the cohort figures).
create or replace function public.report_group(group_id text)
returns json
language plpgsql
stable
security invoker
set search_path = ''
set plan_cache_mode = 'force_generic_plan'
as $$
declare
  v_report json;
begin
  perform private.assert_can_teach_group(report_group.group_id);
  -- The class's pupils and units, each looked up by key from the class's own rows: the cost
  -- follows the size of the class, not of the school's profiles and lessons.
  with pupils as (
    select gm.user_id, p.first_name, p.last_name
    from public.group_membership as gm
    cross join lateral (
      select x.first_name, x.last_name
      from public.profiles as x
      where x.user_id = gm.user_id
      limit 1
    ) as p
    where gm.group_id = report_group.group_id and gm.role = 'pupil'
  ),

  units as (
    select distinct u.unit_id, u.subject, u.title, u.year
    from public.lesson_assignments as la
    cross join lateral (
      select x.unit_id
      from public.lessons as x
      where x.lesson_id = la.lesson_id
      limit 1
    ) as l
    cross join lateral (
      select x.unit_id, x.subject, x.title, x.year
      from public.units as x
      where x.unit_id = l.unit_id
      limit 1
    ) as u
    where la.group_id = report_group.group_id
  ),

  -- One primary-key lookup per pupil and unit (a few hundred), never a scan of the whole table.
  cells as materialized (
    select r.*
    from pupils as p
    cross join units as u
    cross join lateral (
      select x.*
      from public.report_pupil_unit_summaries as x
      where x.pupil_id = p.user_id and x.unit_id = u.unit_id
      limit 1
    ) as r
  ),

  pupil_rows as (
    select
      c.pupil_id,
      json_object_agg(
        c.unit_id,
        json_build_object(
          'activities_average', c.activities_average,
          'assessment_average', c.assessment_average,
          'assessment_level', c.assessment_level,
          'working_level', c.working_level
        )
        order by c.unit_id
      ) as units
    from cells as c
    group by c.pupil_id
  ),

  cohort as (
    select
      c.unit_id,
      count(*) as pupils_with_results,
      round(avg(c.assessment_average), 4) as cohort_assessment_average,
      round(avg(c.activities_average), 4) as cohort_activities_average
    from cells as c
    group by c.unit_id
  ),

  level_counts as (
    select
      lc.unit_id,
      json_agg(json_build_object('level', lc.assessment_level, 'pupils', lc.n) order by lc.assessment_level_rank)
        as level_counts
    from (
      select c.unit_id, c.assessment_level, c.assessment_level_rank, count(*) as n
      from cells as c
      where c.assessment_level is not null
      group by c.unit_id, c.assessment_level, c.assessment_level_rank
    ) as lc
    group by lc.unit_id
  )

  select json_build_object(
    'group_id', g.group_id,
    'subject', g.subject,
    'pupils', coalesce((
      select json_agg(
        json_build_object(
          'pupil_id', p.user_id,
          'first_name', p.first_name,
          'last_name', p.last_name,
          'units', coalesce(pr.units, '{}'::json)
        ) order by p.last_name, p.first_name, p.user_id
      )
      from pupils as p
      left join pupil_rows as pr on p.user_id = pr.pupil_id
    ), '[]'::json),
    'units', coalesce((
      select json_agg(
        json_build_object(
          'unit_id', u.unit_id,
          'subject', u.subject,
          'title', u.title,
          'year', u.year,
          'pupils_with_results', coalesce(co.pupils_with_results, 0),
          'cohort_assessment_average', co.cohort_assessment_average,
          'cohort_activities_average', co.cohort_activities_average,
          'level_counts', coalesce(lc.level_counts, '[]'::json)
        ) order by u.subject, u.title, u.unit_id
      )
      from units as u
      left join cohort as co on u.unit_id = co.unit_id
      left join level_counts as lc on u.unit_id = lc.unit_id
    ), '[]'::json)
  ) into v_report
  from public.groups as g
  where g.group_id = report_group.group_id;
  return v_report;
end
$$;
comment on function public.report_group(text) is
'The class report (/reports/groups/{groupId}) from the cached unit rows, as json: pupils by name, units by '
'subject and title, cells, cohort means and level counts per unit. Callers: the report page, glue report group '
'(teachers of the class, service_role). Errors: PLV01 null, PLN02 unknown class, 42501 not a teacher of the class.';
revoke all on function public.report_group(text) from public, anon;
grant execute on function public.report_group(text) to authenticated, service_role;
