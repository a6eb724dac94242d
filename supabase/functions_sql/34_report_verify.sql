-- Verification: the cache against the live computation, for one pupil, a sample or everyone.

-- Every difference between a set of pupils' cached rows (and documents) and the live
-- computation, as report_compare finds them, for reading: key and both sides as JSON.
create or replace function private.report_differences(pupil_ids uuid[])
returns table (pupil_id uuid, kind text, key text, difference text, stored jsonb, live jsonb)
language sql
stable
security definer
set search_path = ''
as $$
  select
    p.pupil_id,
    p.kind,
    p.key,
    case when p.stored is null then 'missing' when p.live is null then 'stale' else 'different' end,
    p.stored,
    p.live
  from (
    select
      d.pupil_id,
      d.kind,
      case d.kind
        when 'criterion' then d.unit_id::text || '/' || d.success_criteria_id::text
        when 'subject' then d.subject
        when 'subject_document' then d.subject
        else d.unit_id::text
      end as key,
      case d.kind
        when 'unit' then to_jsonb(d.stored_unit) - 'version' - 'computed_at'
        when 'criterion' then to_jsonb(d.stored_criterion) - 'version'
        when 'subject' then to_jsonb(d.stored_subject) - 'version' - 'computed_at'
        else d.stored_document::jsonb
      end as stored,
      case d.kind
        when 'unit' then to_jsonb(d.live_unit) - 'version' - 'computed_at'
        when 'criterion' then to_jsonb(d.live_criterion) - 'version'
        when 'subject' then to_jsonb(d.live_subject) - 'version' - 'computed_at'
        else d.live_document::jsonb
      end as live
    from private.report_compare(report_differences.pupil_ids, null) as d
    union all
    -- The page a pupil sees while feedback is withheld (from the cache) against the same page built
    -- live from every unit.
    select v.pupil_id, 'pupil_view', 'subjects', v.stored, v.live
    from (
      select
        x.pupil_id,
        private.report_pupil_view(x.pupil_id, true)::jsonb as stored,
        private.report_pupil_view(x.pupil_id, false)::jsonb as live
      from unnest(report_differences.pupil_ids) as x (pupil_id)
    ) as v
    where v.stored is distinct from v.live
  ) as p
  order by p.pupil_id, p.kind, p.key
$$;
comment on function private.report_differences(uuid[]) is
'Every difference between cached and live rows and documents for the pupils (an explicit array), and between the '
'page a pupil sees while feedback is withheld built from the cache and built live (kind pupil_view): missing '
'(not cached), stale (cached, no longer live) or different. Callers: report_verify, report_verify_sweep, tests.';
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
  perform private.assert_profile_exists(report_verify.pupil_id);
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
