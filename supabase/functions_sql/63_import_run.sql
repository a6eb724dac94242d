-- Running a planner import (docs/import.md): import_planner clears the working tables, reads the source
-- (60_import_staging), maps it (import_map, calling the mappers of 61 and 62) and records the run.

-- Map the legacy rows of private.import_legacy_* into this schema (docs/import.md has every rule and
-- why). Ids are allocated in private.import_ids only for rows that can be imported; a row that
-- cannot is written to private.import_work_issues (table, row, rule, detail) and left out, with
-- whatever depends on it. Every write is an upsert that changes only what differs, so a re-import
-- writes nothing when nothing changed. Returns the rows written per table.
create or replace function private.import_map(run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_written jsonb;
begin
  -- In dependency order: each mapper reads the ids and rows of the ones before it.
  v_written := private.import_map_subjects();
  v_written := v_written || private.import_map_profiles(import_map.run_id);
  v_written := v_written || private.import_map_groups(import_map.run_id);
  v_written := v_written || private.import_map_memberships();
  v_written := v_written || private.import_map_units(import_map.run_id);
  v_written := v_written || private.import_map_lessons(import_map.run_id);
  v_written := v_written || private.import_map_assignments();
  v_written := v_written || private.import_map_objectives(import_map.run_id);
  v_written := v_written || private.import_map_criteria(import_map.run_id);
  v_written := v_written || private.import_map_activities(import_map.run_id);
  v_written := v_written || private.import_map_activity_criteria();
  -- Submissions are staged (the answer, then the feedback log over it, then the scores checked and
  -- the criterion marks read) and written at once.
  perform private.import_map_submissions();
  perform private.import_map_feedback();
  perform private.import_map_marks();
  return v_written || private.import_write_submissions();
end
$$;
comment on function private.import_map(bigint) is
'Maps the legacy rows of private.import_legacy_* into this schema (upserts that write only what differs), records '
'every row it cannot map in private.import_work_issues; returns rows written per table. Callers: import_planner. '
'docs/import.md.';
revoke all on function private.import_map(bigint) from public;

-- Import a school from the planner's tables in source_schema, in the caller's transaction: read them
-- (import_load), map them (import_map), record the run in private.import_runs and return its report:
-- {run_id, dry_run, read: {legacy table: rows}, written: {table: rows}, skipped: {rule: rows},
-- issue_count, issues: [{table, row, rule, detail}] (the first 1,000)}. A dry run maps everything in
-- a subtransaction it then rolls back, so it reports exactly what a real run would do and changes
-- nothing but its own line in import_runs. strict: any row that cannot be mapped refuses the whole
-- import (PLV15), dry or not. One import at a time (PLS05).
create or replace function private.import_planner(source_schema text, dry_run boolean default false, strict boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = ''
set work_mem = '256MB'
as $$
declare
  v_run_id bigint;
  v_read jsonb;
  v_written jsonb;
  v_issue_count integer;
  v_issues jsonb;
  v_skipped jsonb;
  v_first private.import_work_issues;
  v_report jsonb;
begin
  perform private.require(import_planner.source_schema, 'source_schema');
  perform private.require(import_planner.dry_run, 'dry_run');
  perform private.require(import_planner.strict, 'strict');
  if not pg_try_advisory_xact_lock(hashtext('private.import_planner')) then
    raise exception 'another planner import is running' using errcode = 'PLS05',
      hint = 'Wait for it to finish: imports of one school run one at a time.';
  end if;
  insert into private.import_runs (source_schema, dry_run, strict)
  values (import_planner.source_schema, import_planner.dry_run, import_planner.strict)
  returning run_id into v_run_id;
  perform private.import_clear();
  v_read := private.import_load(import_planner.source_schema);

  begin
    v_written := private.import_map(v_run_id);
    select count(*)::integer into v_issue_count from private.import_work_issues;
    select
      coalesce(jsonb_agg(jsonb_build_object('table', i.table_name, 'row', i.legacy_key, 'rule', i.rule, 'detail', i.detail)
        order by i.table_name, i.rule, i.legacy_key), '[]'::jsonb)
    into v_issues
    from (
      select x.* from private.import_work_issues as x order by x.table_name, x.rule, x.legacy_key limit 1000
    ) as i;
    select coalesce(jsonb_object_agg(r.rule, r.n), '{}'::jsonb) into v_skipped
    from (select x.rule, count(*) as n from private.import_work_issues as x group by x.rule) as r;
    select x.* into v_first from private.import_work_issues as x order by x.table_name, x.rule, x.legacy_key limit 1;
    if import_planner.dry_run then
      raise exception 'dry run' using errcode = 'PLX01';  -- undoes the mapping; caught below
    end if;
  exception when sqlstate 'PLX01' then
    null;
  end;

  if import_planner.strict and v_issue_count > 0 then
    raise exception 'planner import refused: % row(s) cannot be mapped; the first is table %, row %: % (%)',
      v_issue_count, v_first.table_name, v_first.legacy_key, v_first.detail, v_first.rule
      using errcode = 'PLV15', detail = format('Rows by rule: %s', v_skipped),
      hint = 'Fix them in the planner, or import without --strict to skip them (--dry-run lists them all).';
  end if;

  perform private.import_clear();
  v_report := jsonb_build_object(
    'run_id', v_run_id,
    'dry_run', import_planner.dry_run,
    'source_schema', import_planner.source_schema,
    'read', v_read,
    'written', v_written,
    'skipped', v_skipped,
    'issue_count', v_issue_count,
    'issues', v_issues
  );
  update private.import_runs as r
  set
    finished_at = clock_timestamp(), counts = jsonb_build_object('read', v_read, 'written', v_written),
    issue_count = v_issue_count, issues = v_issues
  where r.run_id = v_run_id;
  if not import_planner.dry_run and exists (select from jsonb_each_text(v_written) as w where w.value <> '0') then
    raise notice 'planner import run %: the reports are not filled yet', v_run_id
      using hint = 'Backfill them: glue backfill, or call private.report_backfill_batched(); glue import planner does.';
  end if;
  return v_report;
end
$$;
comment on function private.import_planner(text, boolean, boolean) is
'Imports a school from the planner''s tables in source_schema (docs/import.md) in the caller''s transaction; '
'returns {run_id, dry_run, source_schema, read, written, skipped, issue_count, issues}. Callers: glue import '
'planner (as postgres or the service role). Errors: PLV01 a NULL argument, PLN09 schema or table missing, PLS05 '
'another import running, PLV15 strict and a row cannot be mapped.';
revoke all on function private.import_planner(text, boolean, boolean) from public;
grant execute on function private.import_planner(text, boolean, boolean) to service_role;
