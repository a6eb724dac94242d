-- Merging the live computation into the cache: the comparison of live and cached rows (shared with
-- the verification), the merge that writes the differences, and one pupil's recalculation.

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

-- Live against cached, for a set of pupils and, optionally, only some of their units: every cached
-- row that differs from the live computation, in one place for the merge (which writes the
-- differences) and the verification (which lists them). Kinds:
--   unit, criterion  the rows of the units in scope (NULL unit_ids: every unit);
--   subject          the subjects of those units, summarised from the live rows of the units in scope
--                    and the cached rows of the pupil's other units (every subject when unit_ids is NULL);
--   document         the stored JSON of each unit in scope against the one built from its live rows;
--   subject_document when every unit is in scope: each stored subject part of the pupil's page against
--                    the one assembled from the stored rows and unit documents (report_merge
--                    re-assembles a subject's part after every change to it, so a unit-scoped merge
--                    need not check it).
-- Stored rows are compared without their bookkeeping (version, computed_at). A missing side is NULL
-- (callers test a key field: a present row with a NULL field is neither IS NULL nor IS NOT NULL).
-- The query depends on its parameters only through keys (pupil, then unit), so one generic plan,
-- cached per session, reads only the pupil's own rows.
create or replace function private.report_compare(pupil_ids uuid[], unit_ids uuid[])
returns table (
  pupil_id uuid,
  kind text,
  unit_id uuid,
  success_criteria_id uuid,
  subject text,
  stored_unit public.report_pupil_unit_summaries,
  live_unit public.report_pupil_unit_summaries,
  stored_criterion public.report_pupil_criterion_scores,
  live_criterion public.report_pupil_criterion_scores,
  stored_subject public.report_pupil_subject_summaries,
  live_subject public.report_pupil_subject_summaries,
  stored_document json,
  live_document json
)
language sql
stable
as $$
  with live as materialized (
    select r.kind, r.criterion, r.unit
    from private.live_report_rows(report_compare.pupil_ids, null, null, report_compare.unit_ids) as r
    where r.kind in ('criterion', 'unit')
  ),

  live_u as (
    select (l.unit).* from live as l where l.kind = 'unit'
  ),

  live_c as (
    select (l.criterion).* from live as l where l.kind = 'criterion'
  ),

  old_u as materialized (
    select
      t.pupil_id, t.unit_id, t.subject, t.unit_title, t.unit_year, t.activities_average,
      t.assessment_average, t.assessment_level, t.assessment_level_rank, t.working_level,
      t.activity_count, t.marked_count, t.missing_count, t.awaiting_marking_count,
      t.last_submitted_at, null::bigint as version, null::timestamptz as computed_at
    from public.report_pupil_unit_summaries as t
    where
      t.pupil_id = any(report_compare.pupil_ids)
      and (report_compare.unit_ids is null or t.unit_id = any(report_compare.unit_ids))
  ),

  old_c as (
    select
      t.pupil_id, t.unit_id, t.success_criteria_id, t.level, t.activities_score, t.assessment_score,
      null::bigint as version
    from public.report_pupil_criterion_scores as t
    where
      t.pupil_id = any(report_compare.pupil_ids)
      and (report_compare.unit_ids is null or t.unit_id = any(report_compare.unit_ids))
  ),

  -- The subjects whose rows can change: those of the units in scope, before and after.
  scope_s as materialized (
    select u.pupil_id, u.subject from live_u as u
    union
    select o.pupil_id, o.subject from old_u as o
  ),

  live_s as materialized (
    select s.*
    from (
      select array_agg(x.unit) as units
      from (
        select row(u.*)::public.report_pupil_unit_summaries as unit, u.pupil_id from live_u as u
        union all
        -- The pupil's other units in those subjects, as cached.
        select t::public.report_pupil_unit_summaries, t.pupil_id
        from scope_s as sc
        inner join public.report_pupil_unit_summaries as t on sc.pupil_id = t.pupil_id and sc.subject = t.subject
        where report_compare.unit_ids is not null and t.unit_id <> all(report_compare.unit_ids)
      ) as x
      group by x.pupil_id
    ) as per_pupil
    cross join lateral private.summarise_subjects(per_pupil.units) as s
  ),

  old_s as (
    select
      t.pupil_id, t.subject, t.activities_average, t.assessment_average, t.unit_count,
      t.typical_level, t.typical_level_rank, null::bigint as version, null::timestamptz as computed_at
    from public.report_pupil_subject_summaries as t
    where
      t.pupil_id = any(report_compare.pupil_ids)
      and (
        report_compare.unit_ids is null
        or exists (select from scope_s as sc where sc.pupil_id = t.pupil_id and sc.subject = t.subject)
      )
  ),

  -- Each unit's criterion rows gathered in one pass, then joined: a subquery per unit over all the
  -- criterion rows grew with the square of the pupils compared (100 pupils: 6 s of 7.8).
  live_cs as (
    select c.pupil_id, c.unit_id, array_agg(row(c.*)::public.report_pupil_criterion_scores) as criteria
    from live_c as c
    group by c.pupil_id, c.unit_id
  ),

  live_d as (
    select
      u.pupil_id,
      u.unit_id,
      u.subject,
      private.report_unit_document(
        row(u.*)::public.report_pupil_unit_summaries,
        coalesce(cs.criteria, '{}'::public.report_pupil_criterion_scores [])
      ) as document
    from live_u as u
    left join live_cs as cs on u.pupil_id = cs.pupil_id and u.unit_id = cs.unit_id
  ),

  old_d as (
    select d.pupil_id, d.unit_id, t.subject, d.document
    from public.report_pupil_unit_documents as d
    inner join public.report_pupil_unit_summaries as t on d.pupil_id = t.pupil_id and d.unit_id = t.unit_id
    where
      d.pupil_id = any(report_compare.pupil_ids)
      and (report_compare.unit_ids is null or d.unit_id = any(report_compare.unit_ids))
  ),

  subject_d as (
    select
      coalesce(o.pupil_id, t.pupil_id) as pupil_id,
      coalesce(o.subject, t.subject) as subject,
      o.document as stored,
      private.report_subject_document(coalesce(o.pupil_id, t.pupil_id), coalesce(o.subject, t.subject)) as live
    from (
      select x.* from public.report_pupil_subject_documents as x where x.pupil_id = any(report_compare.pupil_ids)
    ) as o
    full join (
      select x.pupil_id, x.subject
      from public.report_pupil_subject_summaries as x
      where x.pupil_id = any(report_compare.pupil_ids)
    ) as t on o.pupil_id = t.pupil_id and o.subject = t.subject
    where report_compare.unit_ids is null
  )

  select
    coalesce(n.pupil_id, o.pupil_id), 'unit', coalesce(n.unit_id, o.unit_id), null::uuid, coalesce(n.subject, o.subject),
    case when o.pupil_id is not null then o::public.report_pupil_unit_summaries end,
    case when n.pupil_id is not null then n::public.report_pupil_unit_summaries end,
    null::public.report_pupil_criterion_scores, null::public.report_pupil_criterion_scores,
    null::public.report_pupil_subject_summaries, null::public.report_pupil_subject_summaries,
    null::json, null::json
  from live_u as n
  full join old_u as o on n.pupil_id = o.pupil_id and n.unit_id = o.unit_id
  where n is distinct from o
  union all
  select
    coalesce(n.pupil_id, o.pupil_id), 'criterion', coalesce(n.unit_id, o.unit_id),
    coalesce(n.success_criteria_id, o.success_criteria_id), null,
    null, null,
    case when o.pupil_id is not null then o::public.report_pupil_criterion_scores end,
    case when n.pupil_id is not null then n::public.report_pupil_criterion_scores end,
    null, null, null, null
  from live_c as n
  full join old_c as o
    on n.pupil_id = o.pupil_id and n.unit_id = o.unit_id and n.success_criteria_id = o.success_criteria_id
  where n is distinct from o
  union all
  select
    coalesce(n.pupil_id, o.pupil_id), 'subject', null, null, coalesce(n.subject, o.subject),
    null, null, null, null,
    case when o.pupil_id is not null then o::public.report_pupil_subject_summaries end,
    case when n.pupil_id is not null then n::public.report_pupil_subject_summaries end,
    null, null
  from live_s as n
  full join old_s as o on n.pupil_id = o.pupil_id and n.subject = o.subject
  where n is distinct from o
  union all
  select
    coalesce(n.pupil_id, o.pupil_id), 'document', coalesce(n.unit_id, o.unit_id), null, coalesce(n.subject, o.subject),
    null, null, null, null, null, null, o.document, n.document
  from live_d as n
  full join old_d as o on n.pupil_id = o.pupil_id and n.unit_id = o.unit_id
  where n.document::text is distinct from o.document::text
  union all
  select p.pupil_id, 'subject_document', null, null, p.subject, null, null, null, null, null, null, p.stored, p.live
  from subject_d as p
  where p.live::text is distinct from p.stored::text
$$;
comment on function private.report_compare(uuid[], uuid[]) is
'Every cached unit, criterion, subject row, unit document and (every unit in scope) subject document of the pupils '
'(an explicit array) that differs from the live computation, for every unit (unit_ids NULL) or the given units and '
'their subjects; stored and live sides typed, NULL when absent. Callers: report_merge, report_differences.';
revoke all on function private.report_compare(uuid[], uuid[]) from public;

-- Replace the cached rows of a set of pupils (NULL: every pupil), all their units or only some, with
-- the live computation: for each pupil one statement writes the differences report_compare finds
-- (insert, update, delete) and nothing else, and bumps the pupil's version when there is one (changed
-- rows carry that version); then the page's part of each changed subject is re-assembled, and the
-- pupil's classes assigned a changed unit are recorded for a refresh of their page. Returns the counts. The caller provides the locking
-- (report_recalculate_pupil, backfill).
-- One pupil per statement, and the pupil passed as array[v_pupil]: the planner then knows the array
-- has one element, so the generic plan, made once per session, reads that pupil's rows by index and
-- nothing else (an array parameter of unknown length is estimated at ten pupils, enough for hash
-- joins over whole tables). No plan is made per job.
-- Why one routine of over 200 lines: most of it is that one statement per pupil, a data-modifying
-- WITH that reads report_compare's diff once and writes every cache table from it (eight parts);
-- split into routines, each would compare again or need a working table of the diff.
create or replace function private.report_merge(pupil_ids uuid[], unit_ids uuid[] default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
set jit = off
set plan_cache_mode = force_generic_plan
as $$
declare
  v_pupils uuid [] := report_merge.pupil_ids;
  v_units uuid [] := report_merge.unit_ids;
  v_pupil uuid;
  v_counts integer [];
  v_total integer [] := array_fill(0, array[11]);
  v_subjects text [];
  v_units_changed uuid [];
  v_done integer := 0;
  v_analyze_after integer;
begin
  if v_pupils is null then
    -- Everyone: the pupils of a class and those who still have cached rows (theirs are removed).
    select coalesce(array_agg(b.pupil_id), '{}'::uuid []) into v_pupils
    from private.report_backfill_pupils(null, null) as b;
  end if;
  if cardinality(v_pupils) > 1 then
    -- A run over many pupils (a backfill) keeps the plans it makes for the first pupil. An ANALYZE
    -- while it runs sees none of its uncommitted rows, records the cache tables as empty and makes
    -- it re-plan with sequential scans of tables it is filling: every pupil then reads every row
    -- written before it (a 1,000-pupil backfill on an emptied cache went from 25 s to 100 min).
    -- SHARE UPDATE EXCLUSIVE keeps autovacuum off these tables until the transaction ends (it
    -- skips a table it cannot lock) and lets the workers' merges (ROW EXCLUSIVE) go on.
    lock table public.report_pupil_versions, public.report_pupil_unit_summaries,
    public.report_pupil_criterion_scores, public.report_pupil_subject_summaries,
    public.report_pupil_unit_documents, public.report_pupil_subject_documents
    in share update exclusive mode;
    -- Tables the planner believes empty (emptied and analyzed, or never analyzed) are analyzed once
    -- the first pupils' rows are in; this transaction's own rows count, so the plans made after
    -- it look rows up by pupil.
    if (
      select c.reltuples
      from pg_catalog.pg_class as c
      where c.oid = 'public.report_pupil_criterion_scores'::regclass
    ) <= 0 then
      v_analyze_after := 20;
    end if;
  end if;
  foreach v_pupil in array v_pupils loop
    v_done := v_done + 1;
    if v_done = v_analyze_after + 1 then
      analyze public.report_pupil_versions, public.report_pupil_unit_summaries,
      public.report_pupil_criterion_scores, public.report_pupil_subject_summaries,
      public.report_pupil_unit_documents, public.report_pupil_subject_documents;
    end if;
    with diff as materialized (
      select d.* from private.report_compare(array[v_pupil], v_units) as d
    ),

    bump as (
      insert into public.report_pupil_versions as v (pupil_id, version, changed_at)
      select distinct d.pupil_id, 1, now() from diff as d
      on conflict (pupil_id) do update
        set version = v.version + 1, changed_at = excluded.changed_at
      returning v.pupil_id, v.version
    ),

    del_u as (
      delete from public.report_pupil_unit_summaries as t
      using diff as d
      where d.kind = 'unit' and (d.live_unit).pupil_id is null and t.pupil_id = d.pupil_id and t.unit_id = d.unit_id
      returning 1
    ),

    put_u as (
      insert into public.report_pupil_unit_summaries as t (
        pupil_id, unit_id, subject, unit_title, unit_year, activities_average, assessment_average,
        assessment_level, assessment_level_rank, working_level, activity_count, marked_count,
        missing_count, awaiting_marking_count, last_submitted_at, version, computed_at
      )
      select
        (d.live_unit).pupil_id, (d.live_unit).unit_id, (d.live_unit).subject, (d.live_unit).unit_title,
        (d.live_unit).unit_year, (d.live_unit).activities_average, (d.live_unit).assessment_average,
        (d.live_unit).assessment_level, (d.live_unit).assessment_level_rank, (d.live_unit).working_level,
        (d.live_unit).activity_count, (d.live_unit).marked_count, (d.live_unit).missing_count,
        (d.live_unit).awaiting_marking_count, (d.live_unit).last_submitted_at, b.version, now()
      from diff as d
      inner join bump as b on d.pupil_id = b.pupil_id
      where d.kind = 'unit' and (d.live_unit).pupil_id is not null
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
      using diff as d
      where
        d.kind = 'criterion' and (d.live_criterion).pupil_id is null and t.pupil_id = d.pupil_id and t.unit_id = d.unit_id
        and t.success_criteria_id = d.success_criteria_id
      returning 1
    ),

    put_c as (
      insert into public.report_pupil_criterion_scores as t (
        pupil_id, unit_id, success_criteria_id, level, activities_score, assessment_score, version
      )
      select
        (d.live_criterion).pupil_id, (d.live_criterion).unit_id, (d.live_criterion).success_criteria_id,
        (d.live_criterion).level, (d.live_criterion).activities_score, (d.live_criterion).assessment_score, b.version
      from diff as d
      inner join bump as b on d.pupil_id = b.pupil_id
      where d.kind = 'criterion' and (d.live_criterion).pupil_id is not null
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
      using diff as d
      where d.kind = 'subject' and (d.live_subject).pupil_id is null and t.pupil_id = d.pupil_id and t.subject = d.subject
      returning 1
    ),

    put_s as (
      insert into public.report_pupil_subject_summaries as t (
        pupil_id, subject, activities_average, assessment_average, unit_count, typical_level,
        typical_level_rank, version, computed_at
      )
      select
        (d.live_subject).pupil_id, (d.live_subject).subject, (d.live_subject).activities_average,
        (d.live_subject).assessment_average, (d.live_subject).unit_count, (d.live_subject).typical_level,
        (d.live_subject).typical_level_rank, b.version, now()
      from diff as d
      inner join bump as b on d.pupil_id = b.pupil_id
      where d.kind = 'subject' and (d.live_subject).pupil_id is not null
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
    ),

    -- A document whose unit row goes is removed by the foreign key's cascade.
    put_d as (
      insert into public.report_pupil_unit_documents as t (pupil_id, unit_id, document)
      select d.pupil_id, d.unit_id, d.live_document
      from diff as d
      where d.kind = 'document' and d.live_document is not null
      on conflict (pupil_id, unit_id) do update
        set document = excluded.document
      returning 1
    )

    select array[
      (select count(*) from bump),
      (select count(*) from put_u where inserted),
      (select count(*) from put_u where not inserted),
      (select count(*) from del_u),
      (select count(*) from put_c where inserted),
      (select count(*) from put_c where not inserted),
      (select count(*) from del_c),
      (select count(*) from put_s where inserted),
      (select count(*) from put_s where not inserted),
      (select count(*) from del_s),
      (select count(*) from put_d)
    ]::integer [],
    array(select distinct d.subject from diff as d where d.subject is not null),
    array(select distinct d.unit_id from diff as d where d.kind = 'unit')
    into v_counts, v_subjects, v_units_changed;
    -- Re-assemble the page's part of each subject that changed, from the rows just written (a
    -- subject whose row went has lost its part by the foreign key's cascade).
    insert into public.report_pupil_subject_documents as d (pupil_id, subject, document)
    select v_pupil, x.subject, x.document
    from (
      select t.subject, private.report_subject_document(v_pupil, t.subject) as document
      from unnest(v_subjects) as t (subject)
    ) as x
    where x.document is not null
    on conflict (pupil_id, subject) do update set document = excluded.document;
    -- The pupil's classes assigned a unit whose row changed show it on their page.
    if cardinality(v_units_changed) > 0 then
      perform private.report_groups_changed(array(
        select gm.group_id
        from public.group_membership as gm
        inner join public.lesson_assignments as la on gm.group_id = la.group_id
        inner join public.lessons as l on la.lesson_id = l.lesson_id
        where gm.user_id = v_pupil and gm.role = 'pupil' and l.unit_id = any(v_units_changed)
      ));
    end if;
    v_total := array(
      select x.total + x.count from unnest(v_total, v_counts) with ordinality as x (total, count, i) order by x.i
    );
  end loop;
  return jsonb_build_object(
    'pupils_changed', v_total[1],
    'units', jsonb_build_object('inserted', v_total[2], 'updated', v_total[3], 'deleted', v_total[4]),
    'criteria', jsonb_build_object('inserted', v_total[5], 'updated', v_total[6], 'deleted', v_total[7]),
    'subjects', jsonb_build_object('inserted', v_total[8], 'updated', v_total[9], 'deleted', v_total[10]),
    'documents', v_total[11]
  );
end
$$;
comment on function private.report_merge(uuid[], uuid[]) is
'Replaces the cached report rows and unit documents of the pupils (NULL: every pupil), of every unit (unit_ids NULL) '
'or of the given units and their subjects, with the live computation; writes only differences and bumps the '
'version of changed pupils; a run over several pupils locks the cache tables against ANALYZE (SHARE UPDATE '
'EXCLUSIVE) and analyzes them itself if they looked empty. Callers: report_recalculate_pupil, report_backfill_step. '
'The caller locks the pupils: it does not.';
revoke all on function private.report_merge(uuid[], uuid[]) from public;

-- Recalculate one pupil's cached report now, in the caller's transaction: every unit, or only the
-- given ones (and their subjects). The cost depends on that pupil's work in those units only.
-- Serialised per pupil by a transaction-level advisory lock.
create or replace function private.report_recalculate_pupil(pupil_id uuid, unit_ids uuid[] default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_merge jsonb;
  v_version bigint;
begin
  perform private.require(report_recalculate_pupil.pupil_id, 'pupil_id');
  perform private.assert_profile_exists(report_recalculate_pupil.pupil_id);
  perform pg_advisory_xact_lock(7301, hashtext(report_recalculate_pupil.pupil_id::text));
  v_merge := private.report_merge(array[report_recalculate_pupil.pupil_id], report_recalculate_pupil.unit_ids);
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
comment on function private.report_recalculate_pupil(uuid, uuid[]) is
'Recalculates one pupil''s cached report, every unit (unit_ids NULL) or the given units and their subjects, in '
'the current transaction; returns {pupil_id, version, changed, units, criteria, subjects, documents} with '
'inserted/updated/deleted counts. Callers: the queue (report_job_run), tests, benchmarks. Errors: PLV01 null '
'pupil_id, PLN01 unknown pupil.';
revoke all on function private.report_recalculate_pupil(uuid, uuid[]) from public;
grant execute on function private.report_recalculate_pupil(uuid, uuid[]) to service_role;
