-- private.import_map_marks: staged scores outside [0, 1] are clamped and reported, unreadable ones
-- reported; the criterion marks of criteria linked to the activity are staged in
-- private.import_work_marks (clamped), the others reported; an answer imported before is found.
begin;
\ir mapper_helpers.psql
select plan(6);

-- Tess answers A2: an unreadable AI score, a mark of a criterion A2 does not score and one of 2.
insert into legacy.submissions (submission_id, user_id, activity_id, body, submitted_at)
select 'LG-S1', '1e6ac000-0000-4000-8000-000000000001', '1e6ac000-0000-4000-8000-0000000000d2',
  '{"answer": "x", "ai_model_score": "high",
    "success_criteria_scores": {"1e6ac000-0000-4000-8000-0000000000c4": 0.5, "1e6ac000-0000-4000-8000-0000000000c2": 2}}',
  '2026-09-14 09:00+00';
select tests.import_until('marks');
select private.import_map_marks();

select is(
  tests.import_issues('submissions'),
  '{"orphan": 2, "unreadable_score": 1, "score_out_of_range": 2, "criterion_not_linked": 1}'::jsonb,
  'every score that cannot be imported as it is reported'
);
select is(
  (select w.override_score from private.import_work_submissions as w
   where w.legacy_id = '1e6ac000-0000-4000-8000-0000000000e8'),
  1::numeric, 'an override of 1.2 is clamped to 1'
);
select is(
  (select array_agg((m.legacy_submission_id, m.score)::text order by m.legacy_submission_id, m.score)
   from private.import_work_marks as m),
  array[
    '(1e6ac000-0000-4000-8000-0000000000e3,0.5)', '(1e6ac000-0000-4000-8000-0000000000e3,1)', '(LG-S1,1)'
  ], 'the linked criterion marks staged, 2 clamped to 1'
);
select is((select count(*)::int from private.import_work_submissions where existing), 0, 'nothing imported before');
insert into public.submissions (submission_id, activity_id, user_id, status, submitted_at, body)
select gen_random_uuid(), w.activity_id, w.user_id, 'submitted', now(), '{}'::jsonb
from private.import_work_submissions as w where w.legacy_id = 'LG-S1';
select private.import_map_marks();
select is(
  (select array_agg(w.legacy_id) from private.import_work_submissions as w where existing), array['LG-S1'],
  'an answer already here keeps its row'
);
select ok(tests.import_private('private.import_map_marks()'), 'no API role may call it');

select * from finish();
rollback;
