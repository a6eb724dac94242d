-- private.import_map_submissions: the latest submission per answer of an imported pupil and
-- activity is staged in private.import_work_submissions, its scores read from the body (a number
-- written as text is read, anything else kept as unreadable); an orphan is reported.
begin;
\ir mapper_helpers.psql
select plan(6);

insert into legacy.submissions (submission_id, activity_id, user_id, submitted_at, body) values (
  'LG-S1', '1e6ac000-0000-4000-8000-0000000000d2', '1e6ac000-0000-4000-8000-000000000001', '2026-09-14 09:00+00',
  '{"answer": "x", "ai_model_score": "high", "teacher_override_score": " 0.25"}'
);
select tests.import_until('submissions');
select private.import_map_submissions();

select is((select count(*)::int from private.import_work_submissions), 6, 'six answers staged, the latest of each');
select is(tests.import_issues('submissions'), '{"orphan": 1}'::jsonb, 'the answer to an unknown activity reported');
select is(
  (select (w.status, w.auto_score) from private.import_work_submissions as w where w.legacy_id = '1e6ac000-0000-4000-8000-0000000000e2'),
  ('submitted'::text, 1::numeric), 'a right multiple-choice answer scores 1'
);
select is(
  (select (w.body, w.ai_score, w.auto_score) from private.import_work_submissions as w
   where w.legacy_id = '1e6ac000-0000-4000-8000-0000000000e3'),
  ('{"text": "Because.", "answer": "Because."}'::jsonb, 0.6::numeric, null::numeric),
  'the scores leave the body; is_correct is no mark of a text answer'
);
select is(
  (select (w.override_score, w.unreadable) from private.import_work_submissions as w where w.legacy_id = 'LG-S1'),
  (0.25::numeric, array['ai_model_score high']), 'a number written as text is read, a word is unreadable'
);
select ok(tests.import_private('private.import_map_submissions()'), 'no API role may call it');

select * from finish();
rollback;
