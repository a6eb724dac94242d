-- Importing a school from the planner's own shape (docs/import.md): the fixture of
-- legacy_fixture.psql mapped by private.import_planner, then backfilled; DOMAIN.md's worked example
-- comes out exactly; a re-import writes nothing; a dry run changes nothing; --strict refuses with
-- PLV15; a missing table is PLN09; pupils, teachers and anon cannot call the importer.
begin;
\ir ../helpers.psql
\ir legacy_fixture.psql
select plan(45);

create temporary table import_report on commit drop as
select private.import_planner('legacy', true, false) as report;
create temporary table import_counts on commit drop as
select (select count(*) from public.submissions) as submissions, (select count(*) from public.profiles) as profiles,
  (select count(*) from private.import_ids) as ids;

-- 1. A dry run reports exactly what the real run does, and changes nothing.
select is((select (report ->> 'issue_count')::int from import_report), 8, 'dry run: 8 rows cannot be mapped');
select is((select report -> 'written' ->> 'submissions' from import_report), '5', 'dry run: 5 submissions would be written');
select is(
  (select (select count(*) from public.submissions) = submissions and (select count(*) from public.profiles) = profiles
     and (select count(*) from private.import_ids) = ids from import_counts),
  true, 'dry run: no submission, profile or id mapping written'
);
select is_empty($$select from public.groups where subject = 'LG-Computing'$$, 'dry run: no class written');
select is((select dry_run from private.import_runs order by run_id desc limit 1), true, 'dry run: recorded as such');
select is_empty($$select from private.import_legacy_submissions$$, 'dry run: working tables emptied');

-- 2. The real run.
update import_report set report = private.import_planner('legacy', false, false);
select is(
  (select report -> 'written' from import_report),
  '{"units": 2, "groups": 2, "lessons": 3, "profiles": 3, "subjects": 1, "activities": 8, "submissions": 5,
    "group_membership": 4, "success_criteria": 4, "lesson_assignments": 3, "learning_objectives": 1,
    "activity_success_criteria": 8, "submission_criterion_scores": 2}'::jsonb,
  'rows written per table'
);
select is(
  (select report -> 'read' ->> 'submissions' from import_report), '8', 'all 8 legacy submission rows read'
);
select is(
  (select report -> 'skipped' from import_report),
  '{"orphan": 5, "score_out_of_range": 1, "unknown_activity_type": 1, "feedback_without_submission": 1}'::jsonb,
  'what was skipped or adjusted, by rule'
);
select results_eq(
  $$select i ->> 'table', i ->> 'row', i ->> 'rule' from import_report, jsonb_array_elements(report -> 'issues') as i$$,
  $$values
    ('activities', '1e6ac000-0000-4000-8000-0000000000d6', 'unknown_activity_type'),
    ('activity_success_criteria', '1e6ac000-0000-4000-8000-0000000000d7 / S-GONE', 'orphan'),
    ('group_membership', '25-7A-IT / ghost-user', 'orphan'),
    ('lessons', '1e6ac000-0000-4000-8000-0000000000a9', 'orphan'),
    ('pupil_activity_feedback', '1e6ac000-0000-4000-8000-000000000002 / 1e6ac000-0000-4000-8000-0000000000d3 / teacher',
     'feedback_without_submission'),
    ('submissions', '1e6ac000-0000-4000-8000-0000000000e8 / S-GONE', 'orphan'),
    ('submissions', '1e6ac000-0000-4000-8000-0000000000e9', 'orphan'),
    ('submissions', '1e6ac000-0000-4000-8000-0000000000e8', 'score_out_of_range')$$,
  'every row that cannot be mapped is named: table, row, rule'
);

-- Ids: uuids kept, the unit code mapped to a stable uuid, the class code with a space mapped.
select is(
  (select new_id from private.import_ids where kind = 'unit' and legacy_id = 'WE-UNIT-8'),
  private.import_uuid('unit', 'WE-UNIT-8')::text, 'unit code WE-UNIT-8 maps to its derived uuid'
);
select is(
  (select title from public.units where unit_id = private.import_uuid('unit', 'WE-UNIT-8')), 'WE Unit U',
  'the unit is found under that uuid'
);
select is(private.import_uuid('unit', 'WE-UNIT-8'), private.import_uuid('unit', 'WE-UNIT-8'), 'the derived uuid is stable');
select is(
  private.import_uuid('lesson', '1e6ac000-0000-4000-8000-0000000000a1'), '1e6ac000-0000-4000-8000-0000000000a1'::uuid,
  'a uuid-shaped legacy id stays itself'
);
select is(
  (select new_id from private.import_ids where kind = 'group' and legacy_id = 'WE 8A'), 'WE-8A',
  'class code ''WE 8A'' becomes WE-8A'
);
select is(private.import_class_code('test 1', false), 'test-1', 'class code ''test 1'' becomes test-1');
select is(private.import_class_code('25-7A-IT', false), '25-7A-IT', 'a valid class code stays itself');

-- People and classes.
select is(
  (select email from public.profiles where user_id = '1e6ac000-0000-4000-8000-000000000003'),
  '1e6ac000-0000-4000-8000-000000000003@planner-import.invalid', 'a profile without email gets a placeholder'
);
select is(
  (select last_name from public.profiles where user_id = '1e6ac000-0000-4000-8000-000000000003'), 'Unknown',
  'a missing last name becomes Unknown'
);
select ok(
  exists (select from auth.users where id = '1e6ac000-0000-4000-8000-000000000002'), 'an auth user is created'
);
select results_eq(
  $$select group_id, user_id::text, role from public.group_membership where group_id in ('WE-8A', '25-7A-IT')
    order by group_id, user_id$$,
  $$values ('25-7A-IT', '1e6ac000-0000-4000-8000-000000000001', 'teacher'),
           ('25-7A-IT', '1e6ac000-0000-4000-8000-000000000003', 'pupil'),
           ('WE-8A', '1e6ac000-0000-4000-8000-000000000001', 'teacher'),
           ('WE-8A', '1e6ac000-0000-4000-8000-000000000002', 'pupil')$$,
  'memberships: a teacher listed as a pupil is a teacher; the orphan is left out'
);
select results_eq(
  $$select la.group_id, l.title, la.start_date, la.feedback_visible from public.lesson_assignments as la
    inner join public.lessons as l on la.lesson_id = l.lesson_id where la.group_id in ('WE-8A', '25-7A-IT')
    order by la.group_id, l.title$$,
  $$values ('25-7A-IT', 'Bebras 1', '2026-09-02'::date, false),
           ('WE-8A', 'Lesson 1', '2026-09-01'::date, true),
           ('WE-8A', 'Lesson 2', '2026-09-01'::date, false)$$,
  'lesson assignments: one per class and lesson, the unit-level assignment expanded, the earliest start'
);

-- Activities: types, answer keys out of body_data.
select results_eq(
  $$select title, type, body_data ? 'correctOptionId' or body_data ? 'modelAnswer' from public.activities
    where activity_id::text like '1e6ac000-%' order by title$$,
  $$values ('A1', 'multiple-choice-question', false), ('A2', 'short-text-question', false), ('A3', 'upload-file', false),
           ('A4', 'short-text-question', false), ('A5', 'display-text', false), ('A6', 'voice', false),
           ('A7', 'multiple-choice-question', false), ('A8', 'short-text-question', false)$$,
  'activity types: text is display-text, voice is kept; no answer key left in body_data'
);
select is(
  (select (scorable, answer_kind) from public.activity_types where type = 'voice'), (false, null::text),
  'the unknown type voice is created as not scorable'
);
select results_eq(
  $$select activity_id::text, correct_option_id, model_answer from public.activity_answer_keys
    where activity_id::text like '1e6ac000-%' order by 1$$,
  $$values ('1e6ac000-0000-4000-8000-0000000000d1', 'a', null::text),
           ('1e6ac000-0000-4000-8000-0000000000d2', null, 'Because.'),
           ('1e6ac000-0000-4000-8000-0000000000d7', 'x', null)$$,
  'answer keys moved to activity_answer_keys'
);

-- Submissions: the latest per answer; MCQ is_correct is the auto score, a text one is not; the
-- override clamped; the feedback log's latest AI row; its superseded teacher row ignored.
select results_eq(
  $$select a.title, s.submission_id::text, s.status, s.auto_score, s.ai_score, s.ai_feedback, s.override_score, s.teacher_feedback
    from public.submissions as s inner join public.activities as a on s.activity_id = a.activity_id
    where a.activity_id::text like '1e6ac000-%' order by a.title$$,
  $$values
    ('A1', '1e6ac000-0000-4000-8000-0000000000e2', 'submitted', 1::numeric, null::numeric, null::text, null::numeric, null::text),
    ('A2', '1e6ac000-0000-4000-8000-0000000000e3', 'submitted', null, 0.6, 'Good.', null, null),
    ('A4', '1e6ac000-0000-4000-8000-0000000000e5', 'submitted', null, null, null, null, null),
    ('A7', '1e6ac000-0000-4000-8000-0000000000e7', 'submitted', 0, null, null, null, null),
    ('A8', '1e6ac000-0000-4000-8000-0000000000e8', 'submitted', null, 0.7, 'AI says', 1, 'Great')$$,
  'submissions: latest per answer, scores mapped, override clamped, the log''s latest AI row, no superseded mark'
);
select is(
  (select body from public.submissions where submission_id = '1e6ac000-0000-4000-8000-0000000000e2'),
  '{"option_id": "a", "answer_chosen": "a"}'::jsonb, 'an MCQ answer carries option_id; the scores leave the body'
);
select results_eq(
  $$select success_criteria_id::text, score from public.submission_criterion_scores
    where submission_id = '1e6ac000-0000-4000-8000-0000000000e3' order by 1$$,
  $$values ('1e6ac000-0000-4000-8000-0000000000c2', 1::numeric), ('1e6ac000-0000-4000-8000-0000000000c3', 0.5)$$,
  'criterion marks: the non-null entries of the map'
);
select is_empty(
  $$select from public.submission_criterion_scores where submission_id = '1e6ac000-0000-4000-8000-0000000000e8'$$,
  'a null entry and an unknown criterion give no mark'
);

-- 3. The backfill: the cache is exact, and the worked example comes out as DOMAIN.md says.
select lives_ok($$select private.report_backfill_all(50)$$, 'the backfill runs over the imported school');
select is_empty(
  $$select * from public.report_verify('1e6ac000-0000-4000-8000-000000000002')
    union all select * from public.report_verify('1e6ac000-0000-4000-8000-000000000003')$$,
  'report_verify finds 0 differences for the imported pupils'
);
select results_eq(
  $$select activities_average, assessment_average, assessment_level, working_level::int, activity_count,
      marked_count, missing_count, awaiting_marking_count
    from public.report_pupil_unit_summaries
    where pupil_id = '1e6ac000-0000-4000-8000-000000000002' and unit_id = private.import_uuid('unit', 'WE-UNIT-8')$$,
  $$values (0.7500::numeric, 0.6250::numeric, '4M', 1, 4, 2, 1, 1)$$,
  'worked example: 0.7500, 0.6250, 4M, working level 1, counts 4 / 2 / 1 / 1'
);
select results_eq(
  $$select success_criteria_id::text, activities_score, assessment_score from public.report_pupil_criterion_scores
    where pupil_id = '1e6ac000-0000-4000-8000-000000000002' order by 1$$,
  $$values ('1e6ac000-0000-4000-8000-0000000000c1', 1.0000::numeric, null::numeric),
           ('1e6ac000-0000-4000-8000-0000000000c2', 1.0000, 1.0000),
           ('1e6ac000-0000-4000-8000-0000000000c3', 0.2500, 0.2500),
           ('1e6ac000-0000-4000-8000-0000000000c4', null, null)$$,
  'worked example: act S1 1, S2 1, S3 0.25, S4 NULL; ass S2 1, S3 0.25'
);

-- 4. Re-running is idempotent; after the planner gained data it adds and updates, never duplicates.
update import_report set report = private.import_planner('legacy', false, false);
select is(
  (select sum(value::int) from import_report, jsonb_each_text(report -> 'written')), 0::bigint,
  're-import of unchanged data writes nothing'
);
insert into legacy.submissions (submission_id, activity_id, user_id, submitted_at, body) values
('1e6ac000-0000-4000-8000-0000000000f4', '1e6ac000-0000-4000-8000-0000000000d4', '1e6ac000-0000-4000-8000-000000000002',
 '2026-09-20 09:00+00', '{"answer": "Third try", "teacher_override_score": 0.5}'),
('1e6ac000-0000-4000-8000-0000000000f3', '1e6ac000-0000-4000-8000-0000000000d3', '1e6ac000-0000-4000-8000-000000000002',
 '2026-09-20 09:30+00', '{"upload_file_name": "poster.pdf", "upload_submission": true}');
update import_report set report = private.import_planner('legacy', false, false);
select is(
  (select report -> 'written' ->> 'submissions' from import_report), '2', 'the new answers: one updated, one added'
);
select results_eq(
  $$select submission_id::text, body ->> 'text', override_score from public.submissions
    where user_id = '1e6ac000-0000-4000-8000-000000000002' and activity_id = '1e6ac000-0000-4000-8000-0000000000d4'$$,
  $$values ('1e6ac000-0000-4000-8000-0000000000e5', 'Third try', 0.5::numeric)$$,
  'an answer updated keeps its submission id (one row per answer)'
);
select is(
  (select body ->> 'file_name' from public.submissions where submission_id = '1e6ac000-0000-4000-8000-0000000000f3'),
  'poster.pdf', 'an upload carries its file name'
);
select is(
  (select count(*)::int from private.import_ids where kind = 'unit'), 2, 'no id mapping is duplicated'
);

-- 5. Refusals: --strict (PLV15, naming the table, row and rule), a missing table (PLN09), nothing changed.
select throws_like(
  $$select private.import_planner('legacy', false, true)$$,
  'planner import refused: 7 row(s) cannot be mapped; the first is table activities, row 1e6ac000-0000-4000-8000-0000000000d6%',
  'strict: refused when rows cannot be mapped'
);
select throws_ok($$select private.import_planner('legacy', false, true)$$, 'PLV15', null, 'strict: SQLSTATE PLV15');
select throws_ok($$select private.import_planner('no_such_schema', false, false)$$, 'PLN09', null, 'an unknown schema: PLN09');
alter table legacy.submissions rename to submissions_old;
select throws_like(
  $$select private.import_planner('legacy', false, false)$$, 'planner import: table legacy.submissions is missing',
  'a missing legacy table: PLN09 naming it'
);
alter table legacy.submissions_old rename to submissions;

-- 6. Only the owner and the service role may import.
select tests.authenticate_as('1e6ac000-0000-4000-8000-000000000001');
select throws_ok($$select private.import_planner('legacy', true, false)$$, '42501', null, 'a teacher cannot import');
select tests.clear_authentication();
select tests.authenticate_as('1e6ac000-0000-4000-8000-000000000002');
select throws_ok($$select private.import_planner('legacy', true, false)$$, '42501', null, 'a pupil cannot import');
select tests.clear_authentication();
select tests.authenticate_as_anon();
select throws_ok($$select private.import_planner('legacy', true, false)$$, '42501', null, 'anon cannot import');
select tests.clear_authentication();

select * from finish();
rollback;
