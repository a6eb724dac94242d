-- private.import_map_activities: the activities of imported lessons, their answer keys moved out of
-- body_data; an unknown type is created not scorable and reported; an orphan is reported.
begin;
\ir mapper_helpers.psql
select plan(7);

insert into legacy.activities (activity_id, lesson_id, title, type, order_by) values
('LG-A9', 'NO-LESSON', 'Lost', 'text', 1);
create temporary table run on commit drop as select tests.import_until('activities') as run_id;

select is(private.import_map_activities((select run_id from run)), '{"activities": 8}'::jsonb, 'eight activities written');
select is(
  tests.import_issues('activities'), '{"orphan": 1, "unknown_activity_type": 1}'::jsonb,
  'the voice activity and the lost one reported'
);
select is(
  (select t.scorable from public.activity_types as t where t.type = 'voice'), false, 'an unknown type is not scorable'
);
select is(
  (select (k.correct_option_id, a.body_data ? 'correctOptionId') from public.activities as a
   inner join public.activity_answer_keys as k on a.activity_id = k.activity_id
   where a.activity_id = '1e6ac000-0000-4000-8000-0000000000d1'),
  ('a'::text, false), 'the answer key moves out of body_data'
);
select is(
  (select a.type from public.activities as a where a.activity_id = '1e6ac000-0000-4000-8000-0000000000d5'),
  'display-text', 'the planner''s text is display-text'
);
select is(
  private.import_map_activities((select run_id from run)), '{"activities": 0}'::jsonb, 'a second run writes nothing'
);
select ok(tests.import_private('private.import_map_activities(bigint)'), 'no API role may call it');

select * from finish();
rollback;
