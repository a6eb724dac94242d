-- The reports cache, its stored documents: one unit of the pupil page and one subject of it, built
-- from the cached rows. Every number comes from 20_scoring.sql; nothing here computes a score.

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

-- The pupil's own view of their report while some of their lessons' feedback is not released
-- (docs/scoring.md, "Released feedback"): the subjects of the page as report_pupil returns them to
-- the pupil, with every withheld lesson (private.withheld_lessons) left out. A unit with a withheld
-- lesson is computed from its released lessons only, by the one definition
-- (private.live_report_rows narrowed to the released lessons), its document carries
-- withheld_activity_count (the unit's activities left out) and a unit with nothing released shows
-- no figures (activity_count 0); its subject's figures are summarised (private.summarise_subjects)
-- from the units as the pupil sees them. Other units and subjects are the stored documents.
-- from_cache false builds every unit live (the verification compares the two). NULL when nothing is
-- withheld from the pupil, or the caller may not read the pupil. SECURITY DEFINER: the pupil's own
-- RLS hides the withheld rows it reads.
create or replace function private.report_pupil_view(pupil_id uuid, from_cache boolean default true)
returns json
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_withheld uuid[];
  v_units uuid[];
  v_subjects text[];
  v_released uuid[];
  v_rows public.report_pupil_unit_summaries[];
  v_criteria public.report_pupil_criterion_scores[];
  v_page json;
begin
  if not (private.caller_bypasses_rls() or private.can_read_pupil(report_pupil_view.pupil_id)) then
    return null;
  end if;
  select array_agg(w.lesson_id), array_agg(distinct w.unit_id), array_agg(distinct w.subject)
  into v_withheld, v_units, v_subjects
  from private.withheld_lessons(report_pupil_view.pupil_id) as w;
  if v_withheld is null then
    return null;
  end if;
  -- The lessons that count for the pupil's view: assigned to one of their classes, not withheld.
  select coalesce(array_agg(distinct la.lesson_id), '{}') into v_released
  from public.group_membership as gm
  inner join public.lesson_assignments as la on gm.group_id = la.group_id
  where gm.user_id = report_pupil_view.pupil_id and gm.role = 'pupil' and la.lesson_id <> all(v_withheld);
  -- Live rows of the released work: of the units with a withheld lesson, or of every unit.
  select
    array_agg(r.unit) filter (where r.kind = 'unit'),
    array_agg(r.criterion) filter (where r.kind = 'criterion')
  into v_rows, v_criteria
  from private.live_report_rows(
    array[report_pupil_view.pupil_id], v_released, null,
    case when report_pupil_view.from_cache then v_units end
  ) as r
  where r.kind in ('unit', 'criterion');
  with withheld_work as (
    select w.unit_id, count(*) filter (where w.lesson_id = any(v_withheld)) as withheld_count
    from private.live_pupil_work(array[report_pupil_view.pupil_id], null, null, v_units) as w
    group by w.unit_id
  ),

  live_units as (
    select x.* from unnest(v_rows) as x
  ),

  -- Every unit as the pupil sees it: live (withheld units, or all), stored (the rest, from the
  -- cache), or without figures (a withheld unit with nothing released).
  units as (
    select u.*, null::json as stored_document
    from live_units as u
    union all
    select u.*, d.document
    from public.report_pupil_unit_summaries as u
    inner join public.report_pupil_unit_documents as d on u.pupil_id = d.pupil_id and u.unit_id = d.unit_id
    where
      report_pupil_view.from_cache and u.pupil_id = report_pupil_view.pupil_id and u.unit_id <> all(v_units)
    union all
    select
      (row(
        report_pupil_view.pupil_id, x.unit_id, x.subject, x.title, x.year, null, null, null, null, null, 0, 0, 0, 0,
        null, null, null
      )::public.report_pupil_unit_summaries).*,
      null::json
    from withheld_work as w
    inner join public.units as x on w.unit_id = x.unit_id
    where not exists (select from live_units as l where l.unit_id = w.unit_id)
  ),

  documents as (
    select
      u.subject,
      u.unit_year,
      u.unit_title,
      u.unit_id,
      coalesce(
        u.stored_document,
        case
          when w.unit_id is null then private.report_unit_document(
            row(u.pupil_id, u.unit_id, u.subject, u.unit_title, u.unit_year, u.activities_average,
              u.assessment_average, u.assessment_level, u.assessment_level_rank, u.working_level,
              u.activity_count, u.marked_count, u.missing_count, u.awaiting_marking_count,
              u.last_submitted_at, u.version, u.computed_at)::public.report_pupil_unit_summaries,
            array(select c::public.report_pupil_criterion_scores from unnest(v_criteria) as c where c.unit_id = u.unit_id)
          )
          else (private.report_unit_document(
            row(u.pupil_id, u.unit_id, u.subject, u.unit_title, u.unit_year, u.activities_average,
              u.assessment_average, u.assessment_level, u.assessment_level_rank, u.working_level,
              u.activity_count, u.marked_count, u.missing_count, u.awaiting_marking_count,
              u.last_submitted_at, u.version, u.computed_at)::public.report_pupil_unit_summaries,
            array(select c::public.report_pupil_criterion_scores from unnest(v_criteria) as c where c.unit_id = u.unit_id)
          )::jsonb || jsonb_build_object('withheld_activity_count', w.withheld_count))::json
        end
      ) as document
    from units as u
    left join withheld_work as w on u.unit_id = w.unit_id and w.withheld_count > 0
  ),

  subjects as (
    select s.*
    from private.summarise_subjects(array(
      select row(u.pupil_id, u.unit_id, u.subject, u.unit_title, u.unit_year, u.activities_average,
        u.assessment_average, u.assessment_level, u.assessment_level_rank, u.working_level,
        u.activity_count, u.marked_count, u.missing_count, u.awaiting_marking_count,
        u.last_submitted_at, u.version, u.computed_at)::public.report_pupil_unit_summaries
      from units as u
    )) as s
  )

  select coalesce(json_agg(p.document order by p.subject), '[]'::json) into v_page
  from (
    select
      s.subject,
      case
        when report_pupil_view.from_cache and s.subject <> all(v_subjects) then (
          select d.document from public.report_pupil_subject_documents as d
          where d.pupil_id = report_pupil_view.pupil_id and d.subject = s.subject
        )
        else json_build_object(
          'subject', s.subject,
          'activities_average', s.activities_average,
          'assessment_average', s.assessment_average,
          'unit_count', s.unit_count,
          'typical_level', s.typical_level,
          'units', (
            select json_agg(d.document order by d.unit_year, d.unit_title, d.unit_id)
            from documents as d
            where d.subject = s.subject
          )
        )
      end as document
    from subjects as s
  ) as p;
  return v_page;
end
$$;
comment on function private.report_pupil_view(uuid, boolean) is
'The subjects of the pupil report as the pupil sees them while feedback of some of their lessons is not released '
'(withheld lessons left out, withheld_activity_count per unit); NULL when nothing is withheld. from_cache: stored '
'documents where nothing is withheld (report_pupil), false: everything live (report_differences). Never raises.';
revoke all on function private.report_pupil_view(uuid, boolean) from public;
grant execute on function private.report_pupil_view(uuid, boolean) to authenticated, service_role;
