-- Released feedback: until a lesson's feedback is released to a class, a pupil of that class reads
-- none of the marks and feedback of the lesson's activities: not through the tables, not through
-- the RPCs, not in the realtime payloads of the topics the pupil may join. Teachers read everything.
--
-- Fixture: the worked example (pupil P, teacher T, class WE-8A-IT, lessons L1 with A1 and A2, L2
-- with A3, A4 and A5), both lessons withheld at first; a second class WE-8B-IT of the same subject
-- with teacher T2 and pupil Q; O, a signed-in pupil in no class.
begin;
\ir ../helpers.psql
select plan(57);

select tests.build_worked_example();
select tests.create_user('we.teacher2@example.test', 'Theo', 'Other', true, 'e0000000-0000-4000-8000-000000000003');
select tests.create_user('we.pupil2@example.test', 'Quinn', 'Other', false, 'e0000000-0000-4000-8000-000000000004');
select tests.create_user('we.outsider@example.test', 'Olly', 'Outside', false, 'e0000000-0000-4000-8000-000000000005');
insert into public.groups (group_id, subject, join_code) values ('WE-8B-IT', 'WE-Computing', 'we-join-2');
insert into public.group_membership (group_id, user_id, role) values
('WE-8B-IT', 'e0000000-0000-4000-8000-000000000003', 'teacher'),
('WE-8B-IT', 'e0000000-0000-4000-8000-000000000004', 'pupil');
insert into public.lesson_assignments (group_id, lesson_id, feedback_visible) values
('WE-8B-IT', 'e0000000-0000-4000-8000-0000000000b1', true);
update public.lesson_assignments set feedback_visible = false where group_id = 'WE-8A-IT';
update public.submissions set teacher_feedback = 'Good reasoning', ai_feedback = 'Clear'
where submission_id = 'e0000000-0000-4000-8000-0000000000e2';
select private.report_recalculate_pupil('e0000000-0000-4000-8000-000000000002');

create temporary table seen (name text primary key, value jsonb) on commit drop;
grant all on seen to authenticated, anon, service_role;

-- 1. Both lessons withheld: the pupil --------------------------------------------------------------
select tests.authenticate_as('e0000000-0000-4000-8000-000000000002');
select is((select count(*)::int from public.submissions), 0, 'P: no submission row of a withheld lesson');
select is((select count(*)::int from public.submission_criterion_scores), 0, 'P: no criterion mark of a withheld lesson');
select is((select count(*)::int from public.report_pupil_unit_summaries), 0, 'P: no cached unit row of a unit with a withheld lesson');
select is((select count(*)::int from public.report_pupil_criterion_scores), 0, 'P: no cached criterion row either');
select is((select count(*)::int from public.report_pupil_unit_documents), 0, 'P: no cached unit document either');
select is((select count(*)::int from public.report_pupil_subject_summaries), 0, 'P: no cached subject row of a subject with a withheld lesson');
select is((select count(*)::int from public.report_pupil_subject_documents), 0, 'P: no cached subject document either');
insert into seen select 'p_work_0', public.read_pupil_submissions('e0000000-0000-4000-8000-000000000002');
select is(
  (select jsonb_array_length(value) from seen where name = 'p_work_0'),
  3, 'P: read_pupil_submissions lists the pupil''s three submissions'
);
select is(
  (select count(*)::int from seen, jsonb_array_elements(value) as x
   where name = 'p_work_0' and x -> 'feedback_withheld' = 'true' and x -> 'criterion_scores' = '[]'
     and x ->> 'body' is not null
     and num_nulls(x ->> 'auto_score', x ->> 'ai_score', x ->> 'ai_feedback', x ->> 'ai_meta', x ->> 'ai_marked_at',
       x ->> 'override_score', x ->> 'teacher_feedback', x ->> 'override_by', x ->> 'override_at') = 9),
  3, 'P: each comes with the pupil''s answer and without any mark or feedback while withheld'
);
insert into seen select 'p_report_0', public.report_pupil('e0000000-0000-4000-8000-000000000002')::jsonb;
select is(
  (select (value #> '{subjects,0,units,0}') - 'unit_id' from seen where name = 'p_report_0'),
  jsonb_build_object(
    'title', 'WE Unit U', 'year', 8, 'activities_average', null, 'assessment_average', null,
    'assessment_level', null, 'working_level', null, 'activity_count', 0, 'marked_count', 0, 'missing_count', 0,
    'awaiting_marking_count', 0, 'last_submitted_at', null, 'criteria_by_level', null,
    'withheld_activity_count', 4
  ),
  'P: report_pupil shows the unit without figures, its 4 activities withheld'
);
select is(
  (select (value #> '{subjects,0}') - 'units' from seen where name = 'p_report_0'),
  jsonb_build_object('subject', 'WE-Computing', 'activities_average', null, 'assessment_average', null,
    'unit_count', 1, 'typical_level', null),
  'P: the subject''s figures leave the withheld lessons out'
);
-- The pupil resubmits A4 (a withheld lesson): the returned row carries no mark.
select tests.clear_authentication();
update public.submissions set ai_score = 0.4, ai_marked_at = now(), ai_feedback = 'Short'
where submission_id = 'e0000000-0000-4000-8000-0000000000e4';
select tests.authenticate_as('e0000000-0000-4000-8000-000000000002');
insert into seen select 'p_submit', public.submissions_submit_answer('e0000000-0000-4000-8000-0000000000d1', null, 'b');
select is(
  (select jsonb_build_object(
     'auto_score', value #> '{submission,auto_score}', 'withheld', value #> '{submission,feedback_withheld}',
     'criterion_scores', value #> '{submission,criterion_scores}', 'state', value #> '{cell,state}',
     'score', value #> '{cell,score}', 'source', value #> '{cell,source}')
   from seen where name = 'p_submit'),
  jsonb_build_object('auto_score', null, 'withheld', true, 'criterion_scores', '[]'::jsonb, 'state', 'withheld',
    'score', null, 'source', null),
  'P: submissions_submit_answer returns the row without the auto mark, the cell without score or source'
);
select is(
  (select value #>> '{submission,body,option_id}' from seen where name = 'p_submit'),
  'b', 'P: ... but with the pupil''s own answer'
);
select throws_ok(
  $$select public.lessons_release_feedback('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000b1')$$,
  '42501', null, 'P may not release the feedback'
);
select tests.clear_authentication();
select is(
  (select bool_or(feedback_visible) from public.lesson_assignments where group_id = 'WE-8A-IT'),
  false, 'the refused release changed nothing'
);
select ok((public.report_jobs_process() ->> 'processed')::int >= 1, 'the worker recalculates P after the write');

-- 2. The teacher sees everything -------------------------------------------------------------------
select tests.authenticate_as('e0000000-0000-4000-8000-000000000001');
select is((select count(*)::int from public.submissions where user_id = 'e0000000-0000-4000-8000-000000000002'), 3,
  'T: every submission of P');
select is((select teacher_feedback from public.submissions where submission_id = 'e0000000-0000-4000-8000-0000000000e2'),
  'Good reasoning', 'T: the unreleased teacher feedback');
select is((select count(*)::int from public.submission_criterion_scores), 2, 'T: the criterion marks');
select is((select count(*)::int from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'), 1,
  'T: P''s cached unit row');
select is((select count(*)::int from public.report_pupil_subject_documents where pupil_id = 'e0000000-0000-4000-8000-000000000002'), 1,
  'T: P''s cached subject document');
select is(
  (public.report_pupil('e0000000-0000-4000-8000-000000000002')::jsonb #>> '{subjects,0,units,0,activities_average}')::numeric,
  0.6625, 'T: report_pupil has every lesson, lesson 2''s unreleased AI mark included (0.6625)'
);
select is(
  (public.read_assignment_results('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000b1') ->> 'feedbackVisible')::boolean,
  false, 'T: the grid says the feedback is not released'
);
select is(
  (select x ->> 'teacher_feedback' from jsonb_array_elements(public.read_pupil_submissions('e0000000-0000-4000-8000-000000000002')) as x
   where x ->> 'submission_id' = 'e0000000-0000-4000-8000-0000000000e2'),
  'Good reasoning', 'T: read_pupil_submissions gives the teacher every mark'
);

-- 3. Refusals: another class's teacher, another pupil, a stranger, anon -----------------------------
select tests.authenticate_as('e0000000-0000-4000-8000-000000000003');
select throws_ok(
  $$select public.lessons_release_feedback('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000b1')$$,
  '42501', null, 'T2 (another class of the subject) may not release WE-8A-IT''s feedback'
);
select is((select count(*)::int from public.submissions where user_id = 'e0000000-0000-4000-8000-000000000002'), 0,
  'T2 reads none of P''s work');
select tests.authenticate_as('e0000000-0000-4000-8000-000000000004');
select throws_ok(
  $$select public.lessons_release_feedback('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000b1')$$,
  '42501', null, 'Q (a pupil of another class) may not release it'
);
select throws_ok(
  $$select public.lessons_release_feedback('WE-8B-IT', 'e0000000-0000-4000-8000-0000000000b1', false)$$,
  '42501', null, 'Q may not withdraw his own class''s feedback either'
);
select throws_ok(
  $$select public.report_pupil('e0000000-0000-4000-8000-000000000002')$$,
  '42501', null, 'Q may not read P''s report'
);
select throws_ok(
  $$select public.read_pupil_submissions('e0000000-0000-4000-8000-000000000002')$$,
  '42501', null, 'Q may not read P''s submissions'
);
select tests.authenticate_as('e0000000-0000-4000-8000-000000000005');
select throws_ok(
  $$select public.lessons_release_feedback('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000b1')$$,
  '42501', null, 'O (in no class) may not release it'
);
select tests.authenticate_as_anon();
select throws_ok(
  $$select public.lessons_release_feedback('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000b1')$$,
  '42501', null, 'anon may not release it'
);
select throws_ok($$select public.read_pupil_submissions('e0000000-0000-4000-8000-000000000002')$$, '42501', null, 'anon may not read P''s submissions');
select tests.clear_authentication();
select is(
  (select array_agg(feedback_visible order by group_id) from public.lesson_assignments
   where lesson_id = 'e0000000-0000-4000-8000-0000000000b1'),
  array[false, true], 'the refused releases and withdrawals changed nothing'
);
select tests.authenticate_as('e0000000-0000-4000-8000-000000000001');
select throws_ok(
  $$select public.lessons_release_feedback('WE-8B-IT', 'e0000000-0000-4000-8000-0000000000b1')$$,
  '42501', null, 'T may not release the feedback of a class T does not teach'
);
select throws_ok(
  $$select public.lessons_release_feedback('WE-8A-IT', null)$$,
  'PLV01', null, 'a release names a lesson'
);
select throws_ok(
  $$select public.lessons_release_feedback('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000a0')$$,
  'PLN07', null, 'a lesson not assigned to the class cannot be released'
);

-- 4. T releases lesson 1 ---------------------------------------------------------------------------
select tests.clear_authentication();
create temporary table before_release on commit drop as
select id from realtime.messages;
insert into seen select 'version_0', to_jsonb(version) from public.report_pupil_versions
where pupil_id = 'e0000000-0000-4000-8000-000000000002';
select tests.authenticate_as('e0000000-0000-4000-8000-000000000001');
insert into seen select 'release_1', public.lessons_release_feedback('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000b1');
select tests.clear_authentication();
select is(
  (select jsonb_build_object('visible', value -> 'feedback_visible', 'changed', value -> 'changed', 'pupils', value -> 'pupils_notified')
   from seen where name = 'release_1'),
  jsonb_build_object('visible', true, 'changed', true, 'pupils', 1),
  'T releases lesson 1: changed, one pupil notified'
);
select is(
  (select version from public.report_pupil_versions where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  (select value::bigint + 1 from seen where name = 'version_0'),
  'the release bumps P''s report version'
);
select is(
  (select jsonb_agg(jsonb_build_object('topic', m.topic, 'event', m.event, 'payload', m.payload - 'id') order by m.topic)
   from realtime.messages as m where m.id not in (select b.id from before_release as b)),
  jsonb_build_array(
    jsonb_build_object('topic', 'assignment_results:WE-8A-IT:e0000000-0000-4000-8000-0000000000b1',
      'event', 'feedback_visibility_changed',
      'payload', jsonb_build_object('assignmentId', 'WE-8A-IT__e0000000-0000-4000-8000-0000000000b1', 'feedbackVisible', true)),
    jsonb_build_object('topic', 'report:e0000000-0000-4000-8000-000000000002', 'event', 'report_updated',
      'payload', jsonb_build_object('pupilId', 'e0000000-0000-4000-8000-000000000002',
        'version', (select version from public.report_pupil_versions where pupil_id = 'e0000000-0000-4000-8000-000000000002')))
  ),
  'the release broadcasts report_updated {pupilId, version} to P (no marks) and feedback_visibility_changed to the grid'
);
select is(
  (select count(*)::int from private.report_jobs where pupil_id = 'e0000000-0000-4000-8000-000000000002'),
  0, 'the release queues no recalculation: the cached rows do not depend on it'
);
select is_empty(
  $$select * from public.report_verify('e0000000-0000-4000-8000-000000000002')$$,
  'report_verify: the cache and the pupil''s view with lesson 2 withheld are exact'
);
insert into seen select 'again', public.lessons_release_feedback('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000b1');
select is((select value -> 'changed' from seen where name = 'again'), 'false'::jsonb, 'releasing again changes nothing');

select tests.authenticate_as('e0000000-0000-4000-8000-000000000002');
select is((select count(*)::int from public.submissions), 2, 'P: the two submissions of lesson 1');
select is(
  (select teacher_feedback from public.submissions where submission_id = 'e0000000-0000-4000-8000-0000000000e2'),
  'Good reasoning', 'P: the released teacher feedback'
);
select is((select count(*)::int from public.submission_criterion_scores), 2, 'P: the criterion marks of lesson 1');
select results_eq(
  $$select x ->> 'activity_id', x -> 'feedback_withheld' is null, (x ->> 'ai_score')::numeric
    from jsonb_array_elements(public.read_pupil_submissions('e0000000-0000-4000-8000-000000000002')) as x order by 1$$,
  $$values ('e0000000-0000-4000-8000-0000000000d1', true, null::numeric),
           ('e0000000-0000-4000-8000-0000000000d2', true, 0.6),
           ('e0000000-0000-4000-8000-0000000000d4', false, null)$$,
  'P: read_pupil_submissions releases lesson 1''s marks, still withholds lesson 2''s'
);
select is((select count(*)::int from public.report_pupil_unit_summaries), 0, 'P: the unit (lesson 2 withheld) stays hidden in the cache tables');
insert into seen select 'p_report_1', public.report_pupil('e0000000-0000-4000-8000-000000000002')::jsonb;
-- Lesson 1 alone: A1 auto 1 on S1, S2; A2 (summative) teacher S2 1, S3 0.5.
-- act S1 1, S2 1, S3 0.5 -> 0.8333; ass S2 1, S3 0.5 -> 0.7500 -> 75 % in Year 8 -> 5L.
select is(
  (select jsonb_build_object(
     'activities_average', u -> 'activities_average', 'assessment_average', u -> 'assessment_average',
     'assessment_level', u -> 'assessment_level', 'working_level', u -> 'working_level',
     'activity_count', u -> 'activity_count', 'marked_count', u -> 'marked_count',
     'withheld_activity_count', u -> 'withheld_activity_count')
   from seen, jsonb_path_query(value, '$.subjects[0].units[0]') as u where name = 'p_report_1'),
  jsonb_build_object('activities_average', 0.8333, 'assessment_average', 0.7500, 'assessment_level', '5L',
    'working_level', 2, 'activity_count', 2, 'marked_count', 2, 'withheld_activity_count', 2),
  'P: report_pupil computes the unit from lesson 1 only (0.8333, 0.7500, 5L), 2 activities withheld'
);
select is(
  (select value #> '{subjects,0,activities_average}' from seen where name = 'p_report_1'),
  '0.8333'::jsonb, 'P: the subject''s figure is the unit as P sees it'
);

-- 5. T releases lesson 2: P sees what T sees -------------------------------------------------------
select tests.authenticate_as('e0000000-0000-4000-8000-000000000001');
select public.lessons_release_feedback('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000b2');
insert into seen select 't_report', public.report_pupil('e0000000-0000-4000-8000-000000000002')::jsonb;
select tests.authenticate_as('e0000000-0000-4000-8000-000000000002');
insert into seen select 'p_report_2', public.report_pupil('e0000000-0000-4000-8000-000000000002')::jsonb;
select is(
  (select value from seen where name = 'p_report_2'), (select value from seen where name = 't_report'),
  'P: with everything released, P''s report is T''s'
);
select is((select count(*)::int from public.report_pupil_unit_summaries), 1, 'P: the cached unit row is readable');
select is((select count(*)::int from public.submissions), 3, 'P: every submission is readable');
select is(
  (select ai_feedback from public.submissions where submission_id = 'e0000000-0000-4000-8000-0000000000e4'),
  'Short', 'P: the released AI feedback of lesson 2'
);

-- 6. Withdrawn again, and a pupil in two classes --------------------------------------------------
select tests.authenticate_as('e0000000-0000-4000-8000-000000000001');
select public.lessons_release_feedback('WE-8A-IT', 'e0000000-0000-4000-8000-0000000000b2', false);
select tests.authenticate_as('e0000000-0000-4000-8000-000000000002');
select is((select count(*)::int from public.submissions), 2, 'P: withdrawing lesson 2 hides its work again');
select tests.clear_authentication();
-- Q joins WE-8A-IT too: lesson 1 released in both classes, lesson 2 withheld in WE-8A-IT.
insert into public.group_membership (group_id, user_id, role) values
('WE-8A-IT', 'e0000000-0000-4000-8000-000000000004', 'pupil');
update public.lesson_assignments set feedback_visible = false
where group_id = 'WE-8B-IT' and lesson_id = 'e0000000-0000-4000-8000-0000000000b1';
select is(
  (select array_agg(lesson_id::text order by lesson_id) from private.withheld_lessons('e0000000-0000-4000-8000-000000000004')),
  array['e0000000-0000-4000-8000-0000000000b1', 'e0000000-0000-4000-8000-0000000000b2'],
  'a lesson released in one of a pupil''s classes but not in the other stays withheld'
);
select private.report_recalculate_pupil('e0000000-0000-4000-8000-000000000004');
select is_empty(
  $$select * from public.report_verify('e0000000-0000-4000-8000-000000000004')$$,
  'report_verify: Q''s cache and view are exact'
);

select * from finish();
rollback;
