-- The report pages: the pupil page read from its stored subject parts, and the class page, derived
-- from the cached unit rows, stored per class and refreshed when a change records the class.

-- The pupil report page (/reports/{pupilId}), from the cache: the pupil's name and report version,
-- and the page's part of each subject as stored (private.report_subject_document): reads by key,
-- nothing computed.
--
-- The two report reads return json, not jsonb: the document is sent as stored, key order included.
-- Their plans are generic, cached per session: the query depends on its parameter only through keys.
create or replace function public.report_pupil(pupil_id uuid)
returns json
language plpgsql
stable
security invoker
set search_path = ''
set plan_cache_mode = 'force_generic_plan'
as $$
declare
  v_pupil record;
  v_subjects json;
begin
  perform private.assert_can_read_pupil(report_pupil.pupil_id);
  select p.user_id, p.first_name, p.last_name, coalesce(v.version, 0) as version, v.changed_at into v_pupil
  from public.profiles as p
  left join public.report_pupil_versions as v on p.user_id = v.pupil_id
  where p.user_id = report_pupil.pupil_id;
  -- The pupil themselves sees their report without the lessons whose feedback is not released.
  if report_pupil.pupil_id = auth.uid() and not private.caller_bypasses_rls() then
    v_subjects := private.report_pupil_view(report_pupil.pupil_id);
  end if;
  -- Aggregated on its own, then wrapped: one statement that both aggregates and builds the object
  -- cost 0.37 ms a read against 0.26 ms in two (80 kB pages, 1,000-pupil school).
  if v_subjects is null then
    select json_agg(d.document order by d.subject) into v_subjects
    from public.report_pupil_subject_documents as d
    where d.pupil_id = report_pupil.pupil_id;
  end if;
  return json_build_object(
    'pupil_id', v_pupil.user_id,
    'first_name', v_pupil.first_name,
    'last_name', v_pupil.last_name,
    'version', v_pupil.version,
    'changed_at', v_pupil.changed_at,
    'subjects', coalesce(v_subjects, '[]'::json)
  );
end
$$;
comment on function public.report_pupil(uuid) is
'The pupil report (/reports/{pupilId}) from the cache, as json: subjects -> units -> averages, levels, counts '
'and criteria grouped by level, as stored in report_pupil_subject_documents; to the pupil themselves without the '
'lessons whose feedback is not released (private.report_pupil_view). Callers: the report page, glue report '
'pupil (the pupil, their teachers, service_role; RLS applies). Errors: PLV01 null, PLN01 unknown pupil, 42501 not '
'allowed.';
revoke all on function public.report_pupil(uuid) from public, anon;
grant execute on function public.report_pupil(uuid) to authenticated, service_role;

-- The class report page (/reports/groups/{groupId}) derived from the cached unit rows: the class's
-- cells are read once, then grouped by pupil (the rows) and by unit (the cohort figures). The one
-- definition of that JSON: report_groups_refresh stores it, report_group returns it while the stored
-- one waits for a refresh, report_group_differences checks the stored one. SECURITY INVOKER: called
-- by a teacher, RLS applies (a teacher of the class may read every row it shows).
create or replace function private.report_group_document(group_id text)
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
    where gm.group_id = report_group_document.group_id and gm.role = 'pupil'
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
    where la.group_id = report_group_document.group_id
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
  where g.group_id = report_group_document.group_id;
  return v_report;
end
$$;
comment on function private.report_group_document(text) is
'The class report as json from the cached unit rows (NULL for an unknown class). Callers: report_group, '
'report_groups_refresh, report_group_differences.';
revoke all on function private.report_group_document(text) from public;
grant execute on function private.report_group_document(text) to authenticated, service_role;

-- The stored page of a class, when it is current (no change waits for the class); NULL otherwise.
-- SECURITY DEFINER: report_group (a teacher) cannot read private.report_group_changes.
create or replace function private.report_group_stored(group_id text)
returns json
language sql
stable
security definer
set search_path = ''
as $$
  select d.document
  from public.report_group_documents as d
  where
    d.group_id = report_group_stored.group_id
    and not exists (select from private.report_group_changes as c where c.group_id = report_group_stored.group_id)
    and (private.caller_bypasses_rls() or d.group_id in (select private.taught_group_ids()))
$$;
comment on function private.report_group_stored(text) is
'The stored class report if current and the caller teaches the class (or bypasses RLS), else NULL. Callers: '
'report_group (after its access check).';
revoke all on function private.report_group_stored(text) from public;
grant execute on function private.report_group_stored(text) to authenticated, service_role;

-- The class report page (/reports/groups/{groupId}): the stored document when it is current (a read
-- by key), else the page derived from the cached unit rows (report_group_document). Either way the
-- same JSON.
create or replace function public.report_group(group_id text)
returns json
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  perform private.assert_can_teach_group(report_group.group_id);
  return coalesce(
    private.report_group_stored(report_group.group_id),
    private.report_group_document(report_group.group_id)
  );
end
$$;
comment on function public.report_group(text) is
'The class report (/reports/groups/{groupId}) from the cache, as json: pupils by name, units by subject and title, '
'cells, cohort means and level counts per unit; stored (report_group_documents) or, while a change waits, derived '
'from the cached unit rows. Callers: the report page, glue report group (teachers of the class, service_role). '
'Errors: PLV01 null, PLN02 unknown class, 42501 not a teacher of the class.';
revoke all on function public.report_group(text) from public, anon;
grant execute on function public.report_group(text) to authenticated, service_role;

-- Record classes whose stored pages a change has made out of date (see report_groups_refresh).
create or replace function private.report_groups_changed(group_ids text[])
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  insert into private.report_group_changes (group_id)
  select distinct g from unnest(report_groups_changed.group_ids) as g where g is not null;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;
comment on function private.report_groups_changed(text[]) is
'Records that the classes'' stored report pages are out of date. Callers: report_merge, the structural write RPCs, '
'report_verify_and_enqueue. Returns the number of classes recorded.';
revoke all on function private.report_groups_changed(text[]) from public;

-- Rebuild the stored page of up to max_groups changed classes (NULL: all), oldest change first. For
-- each class: note the changes waiting, build the page from the cached rows, store it, delete exactly
-- the changes noted, so that a change committed meanwhile leaves the class waiting for the next
-- refresh. A class another session is refreshing is skipped. Returns the number of pages rebuilt.
create or replace function private.report_groups_refresh(max_groups integer default null)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_group text;
  v_changes bigint [];
  v_document json;
  v_count integer := 0;
begin
  for v_group in
    select c.group_id
    from private.report_group_changes as c
    group by c.group_id
    order by min(c.change_id)
    limit report_groups_refresh.max_groups
  loop
    continue when not pg_try_advisory_xact_lock(7302, hashtext(v_group));
    v_changes := array(select c.change_id from private.report_group_changes as c where c.group_id = v_group);
    v_document := private.report_group_document(v_group);
    if v_document is null then
      delete from public.report_group_documents as d where d.group_id = v_group;
    else
      insert into public.report_group_documents as d (group_id, document, built_at)
      values (v_group, v_document, now())
      on conflict (group_id) do update set document = excluded.document, built_at = excluded.built_at;
    end if;
    delete from private.report_group_changes as c where c.change_id = any(v_changes);
    v_count := v_count + 1;
  end loop;
  return v_count;
end
$$;
comment on function private.report_groups_refresh(integer) is
'Rebuilds the stored report pages of up to max_groups changed classes (NULL: all); returns how many. Callers: '
'report_jobs_process, report_jobs_drain, the backfill, report_verify_and_enqueue.';
revoke all on function private.report_groups_refresh(integer) from public;
grant execute on function private.report_groups_refresh(integer) to service_role;

-- Every class among group_ids (NULL: all) with no change waiting whose stored page differs from the
-- page derived from the cached rows, or is missing.
create or replace function private.report_group_differences(group_ids text[] default null)
returns table (group_id text, difference text)
language sql
stable
security definer
set search_path = ''
as $$
  select
    g.group_id,
    case when d.group_id is null then 'missing' else 'different' end
  from public.groups as g
  left join public.report_group_documents as d on g.group_id = d.group_id
  where
    (report_group_differences.group_ids is null or g.group_id = any(report_group_differences.group_ids))
    and not exists (select from private.report_group_changes as c where c.group_id = g.group_id)
    and d.document::text is distinct from private.report_group_document(g.group_id)::text
  order by g.group_id
$$;
comment on function private.report_group_differences(text[]) is
'Classes with no change waiting whose stored report page differs from the one derived from the cached rows (or is '
'missing). Callers: report_verify_and_enqueue, tests.';
revoke all on function private.report_group_differences(text[]) from public;
grant execute on function private.report_group_differences(text[]) to service_role;
