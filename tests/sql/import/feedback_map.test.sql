-- private.import_map_feedback: the latest feedback-log row of each source marks the staged answer it
-- names (or, naming none, one not older than it); a mark of a superseded answer is dropped; a mark
-- without an answer, or of an unknown source, is reported.
begin;
\ir mapper_helpers.psql
select plan(5);

insert into legacy.pupil_activity_feedback (activity_id, pupil_id, source, score) values
('1e6ac000-0000-4000-8000-0000000000d1', '1e6ac000-0000-4000-8000-000000000002', 'peer', 0.5);
select tests.import_until('feedback');
select private.import_map_feedback();

select is(
  tests.import_issues('pupil_activity_feedback'), '{"unknown_source": 1, "feedback_without_submission": 1}'::jsonb,
  'the peer mark and the mark of work never handed in reported'
);
select is(
  (select (w.ai_score, w.ai_feedback, w.ai_marked_at) from private.import_work_submissions as w
   where w.legacy_id = '1e6ac000-0000-4000-8000-0000000000e8'),
  (0.7::numeric, 'AI says'::text, '2026-09-12 09:12+00'::timestamptz), 'the latest AI row marks the answer'
);
select is(
  (select w.override_score from private.import_work_submissions as w
   where w.legacy_id = '1e6ac000-0000-4000-8000-0000000000e5'),
  null::numeric, 'the teacher''s mark of the first answer does not carry over to the second'
);
select is(
  (select count(*)::int from private.import_work_submissions), 5, 'no answer staged or dropped'
);
select ok(tests.import_private('private.import_map_feedback()'), 'no API role may call it');

select * from finish();
rollback;
