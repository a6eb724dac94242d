-- A hostile pupil, a stranger, a teacher of another subject and anon, through exactly what the API
-- exposes (docs/reliability.md, "Threat model"):
--   1. answer keys: unreadable by pupils, strangers, other subjects' teachers and anon, on every path;
--      auto-marking still works from them;
--   2. marking authority follows the subject: a teacher's own assignment cannot widen it;
--   3. payload limits: at the limit accepted, just past it refused with its SQLSTATE, nothing changed;
--   4. revisions: a mark made for an answer the pupil has since changed never lands on the new one;
--   5. unknown and forbidden ids answer alike to callers who may not see them; API role timeouts.
-- Fixture: tests/sql/writes_helpers.psql (T1 teaches W-7A: P1, P2, subject W-Subject; T2 teaches
-- W-7B: P3; T3 teaches nothing; P4 is in no class), plus an English class H-8E of the English teacher
-- TE (...e1) in which P1 is a pupil too, an English lesson LE (...e3) with activity AE (...e4), and a
-- W-Subject activity AF (...e5) of L1 that nobody answers.
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(84);

select tests.build_school();
select tests.create_user('h.te@example.test', 'Enid', 'English', true, 'c2000000-0000-4000-8000-0000000000e1');
insert into public.subjects (subject) values ('H-English');
insert into public.groups (group_id, subject, join_code) values ('H-8E', 'H-English', 'h-join-e');
insert into public.group_membership (group_id, user_id, role) values
('H-8E', 'c2000000-0000-4000-8000-0000000000e1', 'teacher'),
('H-8E', tests.school_id('P1'), 'pupil');
insert into public.units (unit_id, title, subject, year) values
('c2000000-0000-4000-8000-0000000000e2', 'H Poetry', 'H-English', 8);
insert into public.lessons (lesson_id, unit_id, title) values
('c2000000-0000-4000-8000-0000000000e3', 'c2000000-0000-4000-8000-0000000000e2', 'H Sonnets');
insert into public.activities (activity_id, lesson_id, title, type, body_data) values
('c2000000-0000-4000-8000-0000000000e4', 'c2000000-0000-4000-8000-0000000000e3', 'AE', 'short-text-question',
 '{"question": "What is a volta?"}'),
('c2000000-0000-4000-8000-0000000000e5', tests.school_id('L1'), 'AF', 'short-text-question', '{"question": "Nobody answers."}');
insert into public.activity_answer_keys (activity_id, model_answer) values
('c2000000-0000-4000-8000-0000000000e4', 'The turn in a sonnet.'),
(tests.school_id('AT'), 'Because it is.');
insert into public.lesson_assignments (group_id, lesson_id, feedback_visible) values ('H-8E', 'c2000000-0000-4000-8000-0000000000e3', true);
select tests.clear_queue();

-- 1. Answer keys -----------------------------------------------------------------------------------
select is_empty(
  $$select from public.activities where body_data ?| array['correct_option_id', 'model_answer']$$,
  'no activity row carries an answer key in body_data'
);
select throws_ok(
  $$update public.activities set body_data = body_data || '{"correct_option_id": "b"}' where activity_id = tests.school_id('AM')$$,
  '23514', null, 'even the owner cannot put a key back into body_data (activities_body_data_answer_key_check)'
);
select tests.authenticate_as(tests.school_id('P1'));
select is_empty($$select from public.activity_answer_keys$$, 'a pupil reads no answer key');
select is(
  (select count(*)::int from public.activities where body_data::text like '%correct_option_id%' or body_data::text like '%model_answer%'),
  0, 'nor finds one in the activities a pupil may read'
);
select is(
  (select r::text like '%correct_option_id%' or r::text like '%model_answer%'
   from public.submissions_submit_answer(tests.school_id('AM'), option_id => 'a') as r),
  false, 'an MCQ answer''s returned row carries no key'
);
select is(
  (select s.auto_score from public.submissions as s where s.user_id = tests.school_id('P1') and s.activity_id = tests.school_id('AM')),
  0::numeric, 'a wrong option is auto-marked 0 from the key the pupil cannot read'
);
select is(
  (public.submissions_submit_answer(tests.school_id('AM'), option_id => 'b') #>> '{submission,auto_score}')::numeric,
  1::numeric, 'the right option is auto-marked 1'
);
select tests.authenticate_as(tests.school_id('P4'));
select is_empty($$select from public.activity_answer_keys$$, 'a signed-in stranger reads no answer key');
select tests.authenticate_as('c2000000-0000-4000-8000-0000000000e1');
select set_eq($$select activity_id from public.activity_answer_keys$$,
  array['c2000000-0000-4000-8000-0000000000e4'::uuid],
  'the English teacher reads the English key only, not the W-Subject keys');
select tests.authenticate_as(tests.school_id('T1'));
select set_eq($$select activity_id, correct_option_id from public.activity_answer_keys$$,
  $$values (tests.school_id('AM'), 'b'), (tests.school_id('AT'), null)$$,
  'a teacher of the subject reads its keys');
select tests.authenticate_as(tests.school_id('T3'));
select is_empty($$select from public.activity_answer_keys$$, 'a teacher of no class reads no key');
select tests.authenticate_as_anon();
select throws_ok($$select from public.activity_answer_keys$$, '42501', null, 'anon may not read the table at all');
select tests.authenticate_as_service_role();
select is((select count(*)::int from public.activity_answer_keys), (select count(*)::int from public.activities as a
  where exists (select from public.activity_answer_keys as k where k.activity_id = a.activity_id)),
  'the service role reads every key');
select tests.clear_authentication();
select is_empty(
  $$select from realtime.messages where payload::text like '%correct_option_id%' or payload::text like '%model_answer%'$$,
  'no realtime payload carries a key'
);
select tests.authenticate_as(tests.school_id('T1'));
select is(
  (select r::text like '%correct_option_id%' or r::text like '%model_answer%'
   from public.read_assignment_results('W-7A', tests.school_id('L1')) as r),
  false, 'nor does the results grid'
);
select tests.clear_authentication();

-- 2. Marking authority follows the subject --------------------------------------------------------
insert into checksums select 'subject', tests.domain_checksum();
select tests.authenticate_as('c2000000-0000-4000-8000-0000000000e1');
select throws_ok($$select public.lessons_assign('H-8E', tests.school_id('L1'))$$, 'PLV14', null,
  'the English teacher cannot assign a W-Subject lesson to the English class (PLV14)');
select tests.authenticate_as_service_role();
select throws_ok($$select public.lessons_assign('H-8E', tests.school_id('L1'))$$, 'PLV14', null,
  'nor can the service role: a class only gets lessons of its subject');
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'subject'), 'nothing was assigned');
-- Older data may hold such an assignment: it still gives no marking authority.
insert into public.lesson_assignments (group_id, lesson_id, feedback_visible) values ('H-8E', tests.school_id('L1'), true);
insert into public.submissions (activity_id, user_id, status, submitted_at, body)
values (tests.school_id('AT'), tests.school_id('P1'), 'submitted', now(), '{"text": "mine"}');
insert into checksums select 'legacy', tests.domain_checksum();
select tests.authenticate_as('c2000000-0000-4000-8000-0000000000e1');
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), 0)$$, '42501', null,
  'the English teacher cannot override P1''s W-Subject mark through a cross-subject assignment');
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": 0}]')$$, tests.school_id('C1')),
  '42501', null, 'nor set its criterion marks');
select throws_ok($$select public.results_reset_feedback(tests.school_id('AT'), tests.school_id('P1'))$$, '42501', null, 'nor reset them');
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('H-8E', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0}]')$$, tests.school_id('P1')),
  '42501', null, 'nor apply AI marks to it');
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('H-8E', 'L1'), tests.school_id('AT'))$$, '42501', null,
  'nor clear them');
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'legacy'), 'P1''s W-Subject work is untouched');
select tests.authenticate_as('c2000000-0000-4000-8000-0000000000e1');
select is(
  public.results_save_feedback('c2000000-0000-4000-8000-0000000000e4', tests.school_id('P1'), 0.5) #>> '{cell,score}',
  '0.5000', 'the English teacher still marks P1''s English work'
);
select tests.authenticate_as(tests.school_id('T1'));
select is(public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), 0.8) #>> '{cell,source}', 'override',
  'and the W-Subject teacher P1''s W-Subject work');
select throws_ok($$select public.groups_remove_member('W-7A', tests.school_id('T1'))$$, '42501', null,
  'a teacher cannot remove a teacher (themselves included) from a class: the enrolment says who teaches');
select tests.clear_authentication();

-- 3. Payload limits: at the limit accepted, past it refused, nothing changed ------------------------
select tests.authenticate_as(tests.school_id('T1'));
select is(
  public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    format('[{"pupil_id": "%s", "score": 0.30000000000000004}]', tests.school_id('P1'))::jsonb,
    jsonb_build_object('x', repeat('a', 16375))) ->> 'updated',
  '1', 'ai_meta of 16384 bytes and a float score printed in full (0.30000000000000004) are accepted'
);
select is(
  (select s.ai_score from public.submissions as s where s.user_id = tests.school_id('P1') and s.activity_id = tests.school_id('AT')),
  0.30000000000000004, 'the score is stored exactly as sent'
);
select is(
  public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    format('[{"pupil_id": "%s", "score": 0.5}]', tests.school_id('P1'))::jsonb,
    '{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}') ->> 'updated',
  '1', 'ai_meta nested 8 deep is accepted'
);
select tests.clear_authentication();
insert into checksums select 'limits', tests.domain_checksum();
select tests.authenticate_as(tests.school_id('T1'));
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0.6}]', jsonb_build_object('x', repeat('a', 16376)))$$, tests.school_id('P1')),
  'PLV13', 'ai_meta is 16385 bytes as JSON text; at most 16384 are accepted', 'ai_meta of 16385 bytes -> PLV13');
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0.6}]', '{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}')$$,
    tests.school_id('P1')),
  'PLV13', 'ai_meta nests deeper than 8 levels', 'ai_meta nested 9 deep -> PLV13');
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0.6}]', '{"a": [[[[[[[[1]]]]]]]]}')$$, tests.school_id('P1')),
  'PLV13', null, 'arrays count as levels too');
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0.%s}]')$$, tests.school_id('P1'), repeat('3', 16000)),
  'PLV02', null, 'an AI score of 16,000 digits -> PLV02');
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0.123456789012345678901}]')$$, tests.school_id('P1')),
  'PLV02', null, 'an AI score with 21 decimal places -> PLV02');
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), 0.123456789012345678901)$$,
  'PLV02', null, 'an override with 21 decimal places -> PLV02');
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": 0.%s}]')$$, tests.school_id('C1'), repeat('1', 5000)),
  'PLV02', null, 'a criterion score of 5,000 digits -> PLV02');
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), criterion_scores => %L)$$,
    (select jsonb_agg(jsonb_build_object('success_criteria_id', tests.school_id('C1'), 'score', 1)) from generate_series(1, 101))),
  'PLV13', 'criterion_scores has 101 items; at most 100 are accepted in one call', '101 criterion_scores -> PLV13');
select throws_ok(
  format($$select public.activities_set_criteria(tests.school_id('AT'), %L)$$,
    (select array_agg(gen_random_uuid()) from generate_series(1, 101))),
  'PLV13', null, '101 success_criteria_ids -> PLV13');
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), feedback => repeat('é', 20001))$$,
  'PLV07', null, 'feedback of 20,001 characters -> PLV07');
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0.6, "feedback": "%s"}]')$$, tests.school_id('P1'), repeat('x', 20001)),
  'PLV07', null, 'AI feedback of 20,001 characters -> PLV07');
select tests.authenticate_as(tests.school_id('P2'));
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AM'), option_id => repeat('b', 101))$$, 'PLV07', null,
  'an option_id of 101 characters -> PLV07');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), repeat('x', 20001))$$, 'PLV07', null,
  'an answer of 20,001 characters -> PLV07');
select throws_ok($$select public.submissions_record_upload(tests.school_id('AU'), repeat('f', 256), 'p/x.pdf')$$, 'PLV07', null,
  'a file name of 256 characters -> PLV07');
select throws_ok($$select public.submissions_record_upload(tests.school_id('AU'), 'x.pdf', repeat('p', 1025))$$, 'PLV07', null,
  'an upload path of 1,025 characters -> PLV07');
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'limits'), 'no refused call changed anything');
-- At the limits: 100 criteria, 20,000 characters, 20 decimal places, 255/1024 upload metadata.
insert into public.success_criteria (success_criteria_id, learning_objective_id, description, level)
select ('c3000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, tests.school_id('LO'), 'many', 1
from generate_series(1, 100) as n;
select tests.authenticate_as(tests.school_id('T1'));
select is(
  jsonb_array_length(public.activities_set_criteria(tests.school_id('AN'),
    (select array_agg(success_criteria_id) from public.success_criteria where description = 'many')) -> 'success_criteria_ids'),
  100, '100 success_criteria_ids are accepted'
);
select is(
  jsonb_array_length(public.results_save_feedback(tests.school_id('AN'), tests.school_id('P1'),
    criterion_scores => (select jsonb_agg(jsonb_build_object('success_criteria_id', success_criteria_id, 'score', 1))
      from public.success_criteria where description = 'many')) #> '{submission,criterion_scores}'),
  100, '100 criterion_scores are accepted'
);
select is(
  public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), 0.12345678901234567890, feedback => repeat('é', 20000))
    #>> '{submission,override_score}',
  '0.12345678901234567890', 'an override with 20 decimal places and feedback of 20,000 characters are accepted'
);
select tests.authenticate_as(tests.school_id('P2'));
select lives_ok($$select public.submissions_record_upload(tests.school_id('AU'), repeat('f', 255), repeat('p', 1024))$$,
  'a file name of 255 and a path of 1,024 characters are accepted');
select lives_ok($$select public.submissions_submit_answer(tests.school_id('AT'), repeat('x', 20000))$$,
  'an answer of 20,000 characters is accepted');
select tests.clear_authentication();
select throws_ok(
  $$update public.submissions set ai_meta = jsonb_build_object('x', repeat('a', 16376)), ai_score = 0.5, ai_marked_at = now()
    where user_id = tests.school_id('P1') and activity_id = tests.school_id('AT')$$,
  '23514', null, 'a direct write past a limit meets the table''s constraint too (submissions_ai_meta_size_check)');
select throws_ok(
  $$update public.submissions set override_score = 0.123456789012345678901, override_at = now()
    where user_id = tests.school_id('P1') and activity_id = tests.school_id('AT')$$,
  '23514', null, 'and so does a score with 21 decimal places (submissions_override_score_scale_check)');

-- 4. Revisions: marks for an answer the pupil has since changed ------------------------------------
select tests.authenticate_as(tests.school_id('P2'));
insert into rpc_results select 'r1', public.submissions_submit_answer(tests.school_id('AN'), 'first answer');
select isnt((select (r #>> '{cell,revision}')::bigint from rpc_results where name = 'r1'), null, 'the cell carries a revision');
select is((select r #>> '{cell,revision}' from rpc_results where name = 'r1'),
  (select r #>> '{submission,revision}' from rpc_results where name = 'r1'), 'the cell''s revision is the submission''s');
insert into rpc_results select 'r1b', public.submissions_submit_answer(tests.school_id('AN'), 'first answer');
select is((select r #>> '{cell,revision}' from rpc_results where name = 'r1b'), (select r #>> '{cell,revision}' from rpc_results where name = 'r1'),
  'the same answer again keeps its revision');
insert into rpc_results select 'r2', public.submissions_submit_answer(tests.school_id('AN'), 'second answer');
select cmp_ok((select (r #>> '{cell,revision}')::bigint from rpc_results where name = 'r2'), '>',
  (select (r #>> '{cell,revision}')::bigint from rpc_results where name = 'r1'), 'a changed answer takes a new, larger revision');
select tests.authenticate_as(tests.school_id('T1'));
insert into rpc_results select 'ai_stale', public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AN'), format(
  '[{"pupil_id": "%s", "score": 0.2, "feedback": "for the first answer", "revision": %s}]',
  tests.school_id('P2'), (select r #>> '{cell,revision}' from rpc_results where name = 'r1'))::jsonb);
select is((select r - 'errors' from rpc_results where name = 'ai_stale'),
  jsonb_build_object('updated', 0, 'created', 0, 'skipped', 0, 'stale', jsonb_build_array(jsonb_build_object(
    'pupil_id', tests.school_id('P2'), 'revision', (select (r #>> '{cell,revision}')::bigint from rpc_results where name = 'r1'),
    'current_revision', (select (r #>> '{cell,revision}')::bigint from rpc_results where name = 'r2')))),
  'an AI mark for the first answer is skipped and reported stale, with both revisions');
select is(
  (select s.ai_score from public.submissions as s where s.user_id = tests.school_id('P2') and s.activity_id = tests.school_id('AN')),
  null, 'the second answer stays unmarked');
select is(
  public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AN'), format(
    '[{"pupil_id": "%s", "score": 0.9, "revision": %s}]',
    tests.school_id('P2'), (select r #>> '{cell,revision}' from rpc_results where name = 'r2'))::jsonb) - 'errors',
  '{"updated": 1, "created": 0, "skipped": 0, "stale": []}'::jsonb, 'a mark naming the current revision is applied');
select is(
  public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), 'c2000000-0000-4000-8000-0000000000e5', format(
    '[{"pupil_id": "%s", "score": 0.4, "revision": 1}]', tests.school_id('P1'))::jsonb) -> 'stale' -> 0 -> 'current_revision',
  'null'::jsonb, 'a mark naming a revision for a pupil with no submission is stale (current_revision null)');
select is(
  (select jsonb_build_object('P2', max(s.ai_score) filter (where s.user_id = tests.school_id('P2')),
    'P1', count(*) filter (where s.user_id = tests.school_id('P1') and s.activity_id = 'c2000000-0000-4000-8000-0000000000e5'))
   from public.submissions as s where s.activity_id in (tests.school_id('AN'), 'c2000000-0000-4000-8000-0000000000e5')),
  '{"P2": 0.9, "P1": 0}'::jsonb, 'the current revision''s mark is stored; no submission is created for the stale one');
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AN'),
    '[{"pupil_id": "%s", "score": 0.9, "revision": 1.5}]')$$, tests.school_id('P2')),
  'PLV05', null, 'a revision that is not a whole number -> PLV05');
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AN'),
    '[{"pupil_id": "%s", "score": 0.9, "revision": "7"}]')$$, tests.school_id('P2')),
  'PLV05', null, 'a revision given as a string -> PLV05');
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AN'), tests.school_id('P2'), 1, expected_revision => %s)$$,
    (select r #>> '{cell,revision}' from rpc_results where name = 'r1')),
  'PLS03', null, 'a teacher''s save for the first answer -> PLS03');
select is(
  (select s.override_score from public.submissions as s where s.user_id = tests.school_id('P2') and s.activity_id = tests.school_id('AN')),
  null, 'and nothing was saved');
select is(
  public.results_save_feedback(tests.school_id('AN'), tests.school_id('P2'), 1,
    expected_revision => (select (r #>> '{cell,revision}')::bigint from rpc_results where name = 'r2')) #>> '{cell,source}',
  'override', 'a save for the current revision lands');
select is(public.results_save_feedback(tests.school_id('AN'), tests.school_id('P2'), 0.7) #>> '{cell,score}', '0.7000',
  'without expected_revision the save behaves as before');
select throws_ok($$select public.results_save_feedback('c2000000-0000-4000-8000-0000000000e5', tests.school_id('P1'), 1, expected_revision => 5)$$,
  'PLS03', null, 'an expected revision where there is no submission -> PLS03');
select tests.authenticate_as(tests.school_id('P1'));
insert into rpc_results select 'up1', public.submissions_record_upload(tests.school_id('AU'), 'a.pdf', 'p/a.pdf');
select lives_ok($$select public.submissions_delete_upload(tests.school_id('AU'))$$, 'P1 deletes the upload');
insert into rpc_results select 'up2', public.submissions_record_upload(tests.school_id('AU'), 'a.pdf', 'p/a.pdf');
select cmp_ok((select (r #>> '{cell,revision}')::bigint from rpc_results where name = 'up2'), '>',
  (select (r #>> '{cell,revision}')::bigint from rpc_results where name = 'up1'),
  'an upload deleted and made again never reuses the old revision');
select tests.clear_authentication();

-- 5. Unknown and forbidden ids answer alike --------------------------------------------------------
select tests.authenticate_as(tests.school_id('P1'));
select throws_ok($$select public.report_group('W-7A')$$, '42501', 'class W-7A is unknown or you do not teach it',
  'a pupil asking for their own class''s report: 42501');
select throws_ok($$select public.report_group('NO-SUCH-CLASS')$$, '42501',
  'class NO-SUCH-CLASS is unknown or you do not teach it', 'and for a class that does not exist: the same 42501');
select throws_ok(format('select public.report_pupil(%L)', tests.school_id('P3')), '42501', null,
  'another pupil''s report: 42501');
select throws_ok($$select public.report_pupil(gen_random_uuid())$$, '42501', null, 'an unknown pupil''s: the same 42501');
select throws_ok(format('select public.report_process_pupil(%L)', tests.school_id('P3')), '42501', null,
  'recalculating another pupil: 42501');
select throws_ok($$select public.report_process_pupil(gen_random_uuid())$$, '42501', null,
  'an unknown pupil: the same 42501');
select tests.authenticate_as(tests.school_id('T2'));
select is(
  array[
    tests.sqlstate_of(format('select public.results_save_feedback(%L, %L, 0.5)', tests.school_id('AT'), tests.school_id('P1'))),
    tests.sqlstate_of(format('select public.results_save_feedback(%L, %L, 0.5)', tests.school_id('NONE'), tests.school_id('P1'))),
    tests.sqlstate_of(format('select public.results_save_feedback(%L, %L, 0.5)', tests.school_id('AT'), tests.school_id('NONE'))),
    tests.sqlstate_of(format('select public.results_save_feedback(%L, %L, 0.5)', tests.school_id('A2'), tests.school_id('P1'))),
    tests.sqlstate_of(format('select public.results_reset_feedback(%L, %L)', tests.school_id('NONE'), tests.school_id('NONE')))
  ],
  array['42501', '42501', '42501', '42501', '42501'],
  'a teacher who does not teach P1 cannot tell a real pupil, activity or assignment from an unknown one'
);
select tests.authenticate_as_service_role();
select throws_ok($$select public.report_group('NO-SUCH-CLASS')$$, 'PLN02', null, 'the service role is told PLN02');
select throws_ok($$select public.report_pupil(gen_random_uuid())$$, 'PLN01', null, 'and PLN01');
select throws_ok(format('select public.results_save_feedback(%L, %L, 0.5)', tests.school_id('AT'), tests.school_id('NONE')), 'PLN01', null,
  'and PLN01 when marking an unknown pupil');
select tests.authenticate_as_anon();
select throws_ok($$select public.report_group('W-7A')$$, '42501', null, 'anon: 42501');
select throws_ok(format('select public.results_save_feedback(%L, %L, 0.5)', tests.school_id('AT'), tests.school_id('P1')), '42501', null,
  'anon cannot mark');
select tests.clear_authentication();
select is(
  (select array_agg(r.rolname || ':' || s.setting order by r.rolname, s.setting)
   from pg_db_role_setting as d
   inner join pg_roles as r on d.setrole = r.oid
   cross join unnest(d.setconfig) as s (setting)
   where r.rolname in ('anon', 'authenticated', 'authenticator') and d.setdatabase = 0
     and s.setting ~ '^(statement|lock)_timeout='),
  array['anon:statement_timeout=3s', 'authenticated:statement_timeout=8s', 'authenticator:lock_timeout=8s',
    'authenticator:statement_timeout=8s'],
  'the API roles carry Supabase''s timeouts: anon 3 s, authenticated 8 s, authenticator 8 s and locks 8 s'
);

select * from finish();
rollback;
