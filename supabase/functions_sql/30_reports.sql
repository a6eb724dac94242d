-- The reports cache: merging live rows into the cache (per pupil, in batches, or for everyone),
-- verification against the live computation, and the read RPCs of the report pages.
-- Every number comes from supabase/functions_sql/20_scoring.sql; nothing here computes a score.

-- The unit's entry of the pupil report (/reports/{pupilId}) from a unit row and its criterion rows:
-- the unit's figures and its criteria grouped by level, each level's criteria in their curriculum
-- order with their descriptions. The one definition of that JSON: report_merge stores it for each
-- unit (public.report_pupil_unit_documents), report_compare rebuilds it to check the stored one, and
-- report_pupil assembles the page from the stored ones. PL/pgSQL so that its query is planned once per
-- session; criteria NULL or empty gives criteria_by_level NULL.
create or replace function private.report_unit_document(
  unit public.report_pupil_unit_summaries, criteria public.report_pupil_criterion_scores[]
)
returns json
language plpgsql
stable
set search_path = ''
as $$
begin
  return json_build_object(
    'unit_id', (report_unit_document.unit).unit_id,
    'title', (report_unit_document.unit).unit_title,
    'year', (report_unit_document.unit).unit_year,
    'activities_average', (report_unit_document.unit).activities_average,
    'assessment_average', (report_unit_document.unit).assessment_average,
    'assessment_level', (report_unit_document.unit).assessment_level,
    'working_level', (report_unit_document.unit).working_level,
    'activity_count', (report_unit_document.unit).activity_count,
    'marked_count', (report_unit_document.unit).marked_count,
    'missing_count', (report_unit_document.unit).missing_count,
    'awaiting_marking_count', (report_unit_document.unit).awaiting_marking_count,
    'last_submitted_at', (report_unit_document.unit).last_submitted_at,
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
        from unnest(report_unit_document.criteria) as c
        -- Looked up by key, not by hashing the whole table.
        cross join lateral (
          select x.description, x.order_by
          from public.success_criteria as x
          where x.success_criteria_id = c.success_criteria_id
          limit 1
        ) as sc
        group by c.level
      ) as lv
    )
  );
end
$$;
comment on function private.report_unit_document(public.report_pupil_unit_summaries, public.report_pupil_criterion_scores[]) is
'The unit''s entry of the pupil report as JSON, from its unit row and criterion rows. Callers: report_compare '
'(report_merge stores it, the verification checks it), the documents migration. Never raises.';
revoke all on function private.report_unit_document(public.report_pupil_unit_summaries, public.report_pupil_criterion_scores[]) from public;

-- One subject of the pupil report page: its figures and its units' stored documents in page order
-- (year, title), read in that order from report_pupil_unit_summaries_subject_idx. NULL when the pupil
-- has no row for the subject. Assembled from stored JSON, never recomputed: report_merge stores it in
-- public.report_pupil_subject_documents after a change to any of the subject's units, report_compare
-- checks the stored one against it.
create or replace function private.report_subject_document(pupil_id uuid, subject text)
returns json
language plpgsql
stable
set search_path = ''
as $$
begin
  return (
    select json_build_object(
      'subject', s.subject,
      'activities_average', s.activities_average,
      'assessment_average', s.assessment_average,
      'unit_count', s.unit_count,
      'typical_level', s.typical_level,
      'units', (
        select json_agg(d.document order by u.unit_year, u.unit_title, u.unit_id)
        from public.report_pupil_unit_summaries as u
        inner join public.report_pupil_unit_documents as d on u.pupil_id = d.pupil_id and u.unit_id = d.unit_id
        where u.pupil_id = s.pupil_id and u.subject = s.subject
      )
    )
    from public.report_pupil_subject_summaries as s
    where s.pupil_id = report_subject_document.pupil_id and s.subject = report_subject_document.subject
  );
end
$$;
comment on function private.report_subject_document(uuid, text) is
'One subject of the pupil report as JSON, from the stored subject row and unit documents; NULL without the subject '
'row. Callers: report_merge (stores it), report_compare (checks it), the documents migration.';
revoke all on function private.report_subject_document(uuid, text) from public;

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
  if not private.profile_exists(report_recalculate_pupil.pupil_id) then
    raise exception 'unknown pupil %', report_recalculate_pupil.pupil_id
      using errcode = 'PLN01', detail = 'No profile has this user_id.';
  end if;
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
  ) as p
  order by p.pupil_id, p.kind, p.key
$$;
comment on function private.report_differences(uuid[]) is
'Every difference between cached and live rows and documents for the pupils (an explicit array): missing '
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
  -- Aggregated on its own, then wrapped: one statement that both aggregates and builds the object
  -- cost 0.37 ms a read against 0.26 ms in two (80 kB pages, 1,000-pupil school).
  select json_agg(d.document order by d.subject) into v_subjects
  from public.report_pupil_subject_documents as d
  where d.pupil_id = report_pupil.pupil_id;
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
'and criteria grouped by level, as stored in report_pupil_subject_documents. Callers: the report page, glue report '
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
