-- The worked example of docs/scoring.md must come out exactly.
begin;
\ir ../helpers.psql
select plan(22);

select tests.build_worked_example();
select lives_ok(
  $$select private.report_recalculate_pupil('e0000000-0000-4000-8000-000000000002')$$,
  'the worked example recalculates'
);

-- Cells: A1 1 (auto), A2 0.75 (teacher criteria), A3 0 (missing), A4 NULL (awaiting); A5 not counted.
select results_eq(
  $$select activity_id::text, cell_score, source from private.live_cells(array['e0000000-0000-4000-8000-000000000002'::uuid])
    order by activity_id$$,
  $$values ('e0000000-0000-4000-8000-0000000000d1', 1.0000::numeric, 'auto'),
           ('e0000000-0000-4000-8000-0000000000d2', 0.7500, 'teacher_criteria'),
           ('e0000000-0000-4000-8000-0000000000d3', 0.0000, 'missing'),
           ('e0000000-0000-4000-8000-0000000000d4', null, null)$$,
  'cells: A1 1 auto, A2 0.75 teacher criteria, A3 0 missing, A4 awaiting; A5 ignored'
);

-- act and ass per criterion.
select results_eq(
  $$select success_criteria_id::text, level::integer, activities_score, assessment_score
    from public.report_pupil_criterion_scores where pupil_id = 'e0000000-0000-4000-8000-000000000002'
    order by success_criteria_id$$,
  $$values ('e0000000-0000-4000-8000-0000000000c1', 1, 1.0000::numeric, null::numeric),
           ('e0000000-0000-4000-8000-0000000000c2', 1, 1.0000, 1.0000),
           ('e0000000-0000-4000-8000-0000000000c3', 2, 0.2500, 0.2500),
           ('e0000000-0000-4000-8000-0000000000c4', 2, null, null)$$,
  'act: S1 1, S2 1, S3 0.25, S4 NULL; ass: S2 1, S3 0.25, S1 and S4 NULL'
);

select is(
  (select activities_average from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  0.7500::numeric, 'activities_average = mean(1, 1, 0.25) = 0.7500'
);
select is(
  (select assessment_average from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  0.6250::numeric, 'assessment_average = mean(1, 0.25) = 0.6250'
);
select is(
  (select assessment_level from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  '4M', '62.5 % in Year 8 is 4M'
);
select is(
  (select assessment_level_rank from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  11::smallint, '4M has rank 11'
);
select is(
  (select working_level from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  1::smallint, 'working level 1 (level 1: 2 of 2 met; level 2: 0 of 2)'
);
select is(
  (select activity_count from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  4, 'activity_count 4 (A5 is not scorable)'
);
select is(
  (select marked_count from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  2, 'marked_count 2'
);
select is(
  (select missing_count from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  1, 'missing_count 1'
);
select is(
  (select awaiting_marking_count from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  1, 'awaiting_marking_count 1'
);
select is(
  (select last_submitted_at from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  '2026-09-11 09:00+00'::timestamptz, 'last_submitted_at is the latest submission'
);
select is(
  (select (unit_title, subject, unit_year)::text from public.report_pupil_unit_summaries
   where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  '("WE Unit U",WE-Computing,8)', 'unit metadata is stored for rendering without joins'
);

-- Subject summary: one unit.
select results_eq(
  $$select subject, activities_average, assessment_average, unit_count, typical_level
    from public.report_pupil_subject_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'$$,
  $$values ('WE-Computing', 0.7500::numeric, 0.6250::numeric, 1, '4M')$$,
  'subject summary: the unit averages and its level'
);

-- Version: 1 after the first recalculation that wrote rows; unchanged by a second one.
select is(
  (select version from public.report_pupil_versions where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  1::bigint, 'the first recalculation sets version 1'
);
select is(
  private.report_recalculate_pupil('e0000000-0000-4000-8000-000000000002') ->> 'changed',
  'false', 'a second recalculation changes nothing'
);
select is(
  (select version from public.report_pupil_versions where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  1::bigint, 'and keeps the version'
);
select is_empty(
  $$select * from public.report_verify('e0000000-0000-4000-8000-000000000002')$$,
  'report_verify finds no difference'
);

-- The same numbers through the pupil report RPC.
select is(
  public.report_pupil('e0000000-0000-4000-8000-000000000002') #>> '{subjects,0,units,0,assessment_level}',
  '4M', 'report_pupil shows the unit level'
);
select is(
  (public.report_pupil('e0000000-0000-4000-8000-000000000002') #> '{subjects,0,units,0,criteria_by_level}')::jsonb,
  jsonb_build_array(
    jsonb_build_object('level', 1, 'criteria', jsonb_build_array(
      jsonb_build_object('success_criteria_id', 'e0000000-0000-4000-8000-0000000000c1', 'description', 'S1',
        'activities_score', 1.0000, 'assessment_score', null),
      jsonb_build_object('success_criteria_id', 'e0000000-0000-4000-8000-0000000000c2', 'description', 'S2',
        'activities_score', 1.0000, 'assessment_score', 1.0000))),
    jsonb_build_object('level', 2, 'criteria', jsonb_build_array(
      jsonb_build_object('success_criteria_id', 'e0000000-0000-4000-8000-0000000000c3', 'description', 'S3',
        'activities_score', 0.2500, 'assessment_score', 0.2500),
      jsonb_build_object('success_criteria_id', 'e0000000-0000-4000-8000-0000000000c4', 'description', 'S4',
        'activities_score', null, 'assessment_score', null)))
  ),
  'report_pupil groups the unit''s criteria by level'
);
select is(
  (public.report_group('WE-8A-IT') #> '{units,0}')::jsonb - 'unit_id',
  jsonb_build_object('subject', 'WE-Computing', 'title', 'WE Unit U', 'year', 8, 'pupils_with_results', 1,
    'cohort_assessment_average', 0.6250, 'cohort_activities_average', 0.7500, 'level_counts', jsonb_build_array(jsonb_build_object('level', '4M', 'pupils', 1))),
  'report_group: cohort figures for the unit'
);

select * from finish();
rollback;
