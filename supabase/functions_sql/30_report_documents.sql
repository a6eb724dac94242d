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
