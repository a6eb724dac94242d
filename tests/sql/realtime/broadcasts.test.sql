-- Realtime broadcasts of the write RPCs and the queue (docs/realtime.md): every write that changes a
-- submission leaves exactly one realtime.messages row per class of the pupil that has the lesson
-- assigned (topic assignment_results:{groupId}:{lessonId}, private, extension broadcast, the full cell
-- as payload); clearing AI marks leaves one partial activity_marks_cleared row per class; a recalculation
-- that changed a report leaves report_updated on report:{pupilId}. Nothing after a rolled-back write,
-- nothing while private.realtime_settings.broadcasts_enabled is false, nothing when nothing changed.
-- Fixture: tests/sql/writes_helpers.psql, plus P1 in two more classes of T3: W-7C (L1 assigned) and
-- W-7D (only L9 assigned). So P1's L1 work goes to W-7A and W-7C, never W-7D; P2's to W-7A only.
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
\ir realtime_helpers.psql
select plan(68);

select tests.build_school();
insert into public.groups (group_id, subject, join_code) values
('W-7C', 'W-Subject', 'w-join-c'), ('W-7D', 'W-Subject', 'w-join-d');
insert into public.group_membership (group_id, user_id, role) values
('W-7C', tests.school_id('T3'), 'teacher'), ('W-7C', tests.school_id('P1'), 'pupil'),
('W-7D', tests.school_id('T3'), 'teacher'), ('W-7D', tests.school_id('P1'), 'pupil');
insert into public.lesson_assignments (group_id, lesson_id, feedback_visible) values
('W-7C', tests.school_id('L1'), true), ('W-7D', tests.school_id('L9'), true);
select from private.report_merge(array[tests.school_id('P1')]);
select tests.clear_queue();

select ok((select broadcasts_enabled from private.realtime_settings), 'broadcasts are on by default');
select is((select count(*)::int from private.realtime_settings), 1, 'realtime_settings holds one row');

-- 1. submissions_submit_answer: an auto-marked MCQ ----------------------------------------------------
select tests.note_messages();
select tests.authenticate_as(tests.school_id('P1'));
select lives_ok($$select public.submissions_submit_answer(tests.school_id('AM'), option_id => 'b')$$, 'P1 answers the MCQ');
select tests.clear_authentication();
select is((select count(*)::int from tests.messages_since_note()), 2, 'two messages: one per class of P1 with L1 (W-7A, W-7C)');
select bag_eq(
  $$select topic, event, private, extension, payload from tests.messages_since_note()$$,
  $$values
    (tests.grid_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7A', tests.school_id('P1'), tests.school_id('AM'), 'marked', 1, 'auto')),
    (tests.grid_topic('W-7C', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7C', tests.school_id('P1'), tests.school_id('AM'), 'marked', 1, 'auto'))$$,
  'submission_updated on W-7A and W-7C, private, broadcast: marked, 1, auto, with the submission''s fields'
);
select is(
  (select array_agg(k order by k) from (select payload from tests.messages_since_note() limit 1) as m, jsonb_object_keys(m.payload) as k),
  array['activityId', 'aiFeedback', 'aiMarkedAt', 'aiScore', 'assignmentId', 'hasUpload', 'pupilId', 'revision', 'score',
    'source', 'state', 'status', 'submissionId', 'submittedAt', 'updatedAt'],
  'the payload has exactly the contract''s keys'
);
select is_empty(
  $$select from realtime.messages as m
    where m.topic like 'assignment_results:W-%' and m.payload ->> 'id' is distinct from m.id::text$$,
  'every payload also carries "id", the message''s uuid, as Supabase''s realtime.send adds it'
);
set local client_min_messages = error;
select lives_ok(
  $$select realtime.send('{"id": "mine", "n": 1}', 'probe', 'assignment_results:W-probe', true),
           realtime.send('"not an object"', 'probe', 'assignment_results:W-probe', true)$$,
  'realtime.send turns its own failure (a payload it cannot add an id to) into a warning'
);
set local client_min_messages = warning;
select is(
  (select array_agg(m.payload ->> 'id') from realtime.messages as m where m.topic = 'assignment_results:W-probe'),
  array['mine'], 'a payload that has an id keeps it; the failed send left no row and failed nothing'
);
select ok(
  (select payload ->> 'submissionId' is not null and payload ->> 'status' = 'submitted'
     and payload ->> 'submittedAt' is not null and payload ->> 'updatedAt' is not null
   from tests.messages_since_note() limit 1),
  'submissionId, status, submittedAt and updatedAt are filled in'
);
select is(
  (select payload - 'assignmentId' from tests.messages_since_note() where topic = tests.grid_topic('W-7A', 'L1')),
  (select c from jsonb_array_elements(public.read_assignment_results('W-7A', tests.school_id('L1')) -> 'cells') as c
   where c ->> 'pupilId' = tests.school_id('P1')::text and c ->> 'activityId' = tests.school_id('AM')::text),
  'the payload is the cell read_assignment_results shows, plus assignmentId'
);
select is_empty(
  $$select from tests.messages_since_note() where topic like '%W-7B%' or topic like '%W-7D%'$$,
  'nothing goes to W-7B (not P1''s class) nor W-7D (P1''s class without L1)'
);

-- 2. An answer saved in progress (P2 is in W-7A only) -----------------------------------------------
select tests.note_messages();
select tests.authenticate_as(tests.school_id('P2'));
select lives_ok($$select public.submissions_submit_answer(tests.school_id('AT'), 'draft', status => 'inprogress')$$,
  'P2 saves a draft answer');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.messages_since_note()$$,
  $$values (tests.grid_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7A', tests.school_id('P2'), tests.school_id('AT'), 'awaiting_marking', null, null))$$,
  'one message on W-7A: awaiting_marking, no score'
);
select is((select payload ->> 'status' from tests.messages_since_note()), 'inprogress', 'status inprogress');

-- 3. submissions_record_upload ----------------------------------------------------------------------
select tests.note_messages();
select tests.authenticate_as(tests.school_id('P1'));
select lives_ok($$select public.submissions_record_upload(tests.school_id('AU'), 'work.pdf', 'p1/work.pdf')$$,
  'P1 uploads a file');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.messages_since_note()$$,
  $$values
    (tests.grid_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7A', tests.school_id('P1'), tests.school_id('AU'), 'awaiting_marking', null, null)),
    (tests.grid_topic('W-7C', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7C', tests.school_id('P1'), tests.school_id('AU'), 'awaiting_marking', null, null))$$,
  'submission_updated on W-7A and W-7C: awaiting_marking'
);
select is(
  (select array_agg(distinct payload -> 'hasUpload') from tests.messages_since_note()), array['true'::jsonb],
  'hasUpload is true'
);

-- 4. submissions_delete_upload: submission_deleted, only when something was deleted --------------------
select tests.note_messages();
select tests.authenticate_as(tests.school_id('P1'));
select lives_ok($$select public.submissions_delete_upload(tests.school_id('AU'))$$, 'P1 deletes the upload');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.messages_since_note()$$,
  $$values
    (tests.grid_topic('W-7A', 'L1'), 'submission_deleted', true, 'broadcast',
     tests.expected_payload('W-7A', tests.school_id('P1'), tests.school_id('AU'), 'untouched', 0, 'missing')),
    (tests.grid_topic('W-7C', 'L1'), 'submission_deleted', true, 'broadcast',
     tests.expected_payload('W-7C', tests.school_id('P1'), tests.school_id('AU'), 'untouched', 0, 'missing'))$$,
  'submission_deleted on W-7A and W-7C: untouched, 0, missing'
);
select is(
  (select jsonb_agg(distinct jsonb_build_object('submissionId', payload -> 'submissionId', 'status', payload -> 'status',
    'hasUpload', payload -> 'hasUpload', 'updatedAt', payload -> 'updatedAt')) from tests.messages_since_note()),
  jsonb_build_array(jsonb_build_object('submissionId', null, 'status', null, 'hasUpload', false, 'updatedAt', now())),
  'submissionId and status null, hasUpload false, updatedAt the time of the write'
);
select tests.note_messages();
select tests.authenticate_as(tests.school_id('P1'));
select is(public.submissions_delete_upload(tests.school_id('AU')) ->> 'deleted', 'false', 'deleting again deletes nothing');
select tests.clear_authentication();
select is_empty($$select from tests.messages_since_note()$$, 'and broadcasts nothing');

-- 5. results_save_feedback: an override on work never handed in -------------------------------------
select tests.note_messages();
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), override_score => 0.8)$$,
  'T1 overrides P1''s AT');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.messages_since_note()$$,
  $$values
    (tests.grid_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7A', tests.school_id('P1'), tests.school_id('AT'), 'marked', 0.8, 'override')),
    (tests.grid_topic('W-7C', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7C', tests.school_id('P1'), tests.school_id('AT'), 'marked', 0.8, 'override'))$$,
  'submission_updated on W-7A and W-7C: marked, 0.8, override'
);
select is((select array_agg(distinct payload ->> 'status') from tests.messages_since_note()), array['completed'],
  'status completed');

-- 6. results_reset_feedback --------------------------------------------------------------------------
select tests.note_messages();
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok($$select public.results_reset_feedback(tests.school_id('AT'), tests.school_id('P1'))$$, 'T1 resets P1''s AT');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.messages_since_note()$$,
  $$values
    (tests.grid_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7A', tests.school_id('P1'), tests.school_id('AT'), 'awaiting_marking', null, null)),
    (tests.grid_topic('W-7C', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7C', tests.school_id('P1'), tests.school_id('AT'), 'awaiting_marking', null, null))$$,
  'submission_updated on W-7A and W-7C: awaiting_marking again'
);
select tests.note_messages();
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok($$select public.results_reset_feedback(tests.school_id('AN'), tests.school_id('P2'))$$,
  'T1 resets a cell with no submission');
select tests.clear_authentication();
select is_empty($$select from tests.messages_since_note()$$, 'nothing changed, nothing is broadcast');

-- 7. results_apply_ai_marks: one message per pupil touched and class ----------------------------------
select tests.note_messages();
select tests.authenticate_as(tests.school_id('T1'));
select is(
  public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), format(
    '[{"pupil_id": "%s", "score": 0.4, "feedback": "fb1"}, {"pupil_id": "%s", "score": 0.6, "feedback": "fb2"}]',
    tests.school_id('P1'), tests.school_id('P2'))::jsonb) - 'errors',
  '{"updated": 2, "created": 0, "skipped": 0, "stale": []}'::jsonb,
  'T1 applies AI marks for P1 and P2'
);
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.messages_since_note()$$,
  $$values
    (tests.grid_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7A', tests.school_id('P1'), tests.school_id('AT'), 'marked', 0.4, 'ai')),
    (tests.grid_topic('W-7C', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7C', tests.school_id('P1'), tests.school_id('AT'), 'marked', 0.4, 'ai')),
    (tests.grid_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7A', tests.school_id('P2'), tests.school_id('AT'), 'marked', 0.6, 'ai'))$$,
  'P1 on W-7A and W-7C, P2 on W-7A: marked from the AI'
);
select is(
  (select jsonb_build_object('aiScore', payload -> 'aiScore', 'aiFeedback', payload -> 'aiFeedback',
    'aiMarked', payload ->> 'aiMarkedAt' is not null)
   from tests.messages_since_note() where payload ->> 'pupilId' = tests.school_id('P2')::text),
  '{"aiScore": 0.6, "aiFeedback": "fb2", "aiMarked": true}'::jsonb,
  'the AI fields are in the payload'
);
select tests.note_messages();
select tests.authenticate_as(tests.school_id('T1'));
select is(
  public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), format(
    '[{"pupil_id": "%s", "score": 0.4, "feedback": "fb1"}]', tests.school_id('P1'))::jsonb) ->> 'skipped',
  '1', 'the same AI mark again is skipped'
);
select tests.clear_authentication();
select is_empty($$select from tests.messages_since_note()$$, 'and broadcasts nothing');
select tests.note_messages();
select tests.authenticate_as(tests.school_id('T1'));
select is(
  public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AN'), format(
    '[{"pupil_id": "%s", "score": 0.3, "feedback": null}]', tests.school_id('P2'))::jsonb) ->> 'created',
  '1', 'an AI mark where P2 has no submission creates one'
);
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.messages_since_note()$$,
  $$values (tests.grid_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.expected_payload('W-7A', tests.school_id('P2'), tests.school_id('AN'), 'marked', 0.3, 'ai'))$$,
  'the created submission is broadcast: marked, 0.3, ai'
);

-- 8. results_clear_ai_marks: the partial event, once per topic -----------------------------------------
select tests.note_messages();
select tests.authenticate_as(tests.school_id('T1'));
select is(public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT')) ->> 'cleared', '2',
  'T1 clears the AI marks of AT (P1, P2)');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.messages_since_note()$$,
  format($$values
    (tests.grid_topic('W-7A', 'L1'), 'activity_marks_cleared', true, 'broadcast',
     '{"assignmentId": "%1$s", "activityId": "%3$s", "pupilIds": ["%4$s", "%5$s"]}'::jsonb),
    (tests.grid_topic('W-7C', 'L1'), 'activity_marks_cleared', true, 'broadcast',
     '{"assignmentId": "%2$s", "activityId": "%3$s", "pupilIds": ["%4$s"]}'::jsonb)$$,
    tests.assignment_id('W-7A', 'L1'), tests.assignment_id('W-7C', 'L1'), tests.school_id('AT'), tests.school_id('P1'), tests.school_id('P2')),
  'activity_marks_cleared once on W-7A (P1, P2) and once on W-7C (P1): {assignmentId, activityId, pupilIds}'
);
select tests.note_messages();
select tests.authenticate_as(tests.school_id('T1'));
select is(public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT')) ->> 'cleared', '0',
  'clearing again clears nothing');
select tests.clear_authentication();
select is_empty($$select from tests.messages_since_note()$$, 'and broadcasts nothing');

-- 9. A rolled-back write broadcasts nothing -----------------------------------------------------------
select tests.note_messages();
savepoint before_write;
select tests.authenticate_as(tests.school_id('P1'));
select from public.submissions_submit_answer(tests.school_id('AM'), option_id => 'a');
select tests.clear_authentication();
select count(*) as rt_inside from tests.messages_since_note() \gset
rollback to savepoint before_write;
select is(:rt_inside::int, 2, 'inside the write''s transaction the two messages exist');
select is_empty($$select from tests.messages_since_note()$$, 'after the rollback no message remains');
select is(
  (select body from public.submissions where user_id = tests.school_id('P1') and activity_id = tests.school_id('AM')),
  '{"option_id": "b"}'::jsonb, 'and the write itself is undone'
);
select tests.note_messages();
savepoint before_failure;
select tests.authenticate_as(tests.school_id('P1'));
select is(
  tests.sqlstate_of($$select public.submissions_submit_answer(tests.school_id('AM'), option_id => 'zzz')$$), 'PLV07',
  'a write that fails validation raises'
);
select tests.clear_authentication();
select is_empty($$select from tests.messages_since_note()$$, 'and broadcasts nothing');
release savepoint before_failure;

-- 10. Broadcasts turned off ----------------------------------------------------------------------------
update private.realtime_settings set broadcasts_enabled = false;
select tests.note_messages();
select tests.authenticate_as(tests.school_id('P1'));
select is(tests.brief_cell(public.submissions_submit_answer(tests.school_id('AM'), option_id => 'c') -> 'cell'),
  '{"state": "marked", "score": 0, "source": "auto"}', 'with broadcasts off the write works as before');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P2'), override_score => 0.5)$$,
  'T1 marks P2 with broadcasts off');
select is(public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AN')) ->> 'cleared', '1',
  'T1 clears AN''s AI marks with broadcasts off');
select tests.clear_authentication();
select is(tests.drain_queue() ->> 'done', '2', 'the queue recalculates P1 and P2 with broadcasts off');
select is_empty($$select from tests.messages_since_note()$$, 'nothing is broadcast while broadcasts_enabled is false');
update private.realtime_settings set broadcasts_enabled = true;

-- 11. report_updated after a recalculation that changed something --------------------------------------
select tests.clear_queue();
select tests.authenticate_as(tests.school_id('P1'));
select from public.submissions_submit_answer(tests.school_id('AM'), option_id => 'b');
select tests.clear_authentication();
select tests.note_messages();
select is(tests.drain_queue() ->> 'done', '1', 'the queue recalculates P1');
select ok(
  (select h.changed from private.report_job_history as h where h.pupil_id = tests.school_id('P1') order by h.history_id desc limit 1),
  'the recalculation changed P1''s report'
);
select bag_eq(
  $$select topic, event, private, extension, payload from tests.messages_since_note()$$,
  $$select 'report:' || tests.school_id('P1') as topic, 'report_updated' as event, true as private, 'broadcast' as extension,
      jsonb_build_object('pupilId', tests.school_id('P1'), 'version', v.version) as payload
    from public.report_pupil_versions as v where v.pupil_id = tests.school_id('P1')$$,
  'one report_updated on report:{P1} with {pupilId, version} = the new version'
);
select tests.note_messages();
select is(private.report_enqueue(array[tests.school_id('P1')], 'nothing changed'), 1, 'P1 is enqueued without a change');
select is(tests.drain_queue() ->> 'done', '1', 'and recalculated');
select is_empty($$select from tests.messages_since_note()$$, 'a recalculation that changed nothing broadcasts nothing');
select tests.note_messages();
savepoint before_job;
select tests.authenticate_as(tests.school_id('P1'));
select from public.submissions_submit_answer(tests.school_id('AM'), option_id => 'c');
select tests.clear_authentication();
select from tests.drain_queue();
select count(*) as rt_job_inside from tests.messages_since_note() where event = 'report_updated' \gset
rollback to savepoint before_job;
select is(:rt_job_inside::int, 1, 'inside a batch the report_updated message exists');
select is_empty($$select from tests.messages_since_note()$$, 'a rolled-back batch leaves no message');

-- 12. The broadcast functions never raise and send nothing for work that is not on the grid -------------
set local client_min_messages = error;
select is(private.broadcast_assignment_update(array[tests.school_id('P1')], tests.school_id('AM'), 'no_such_event'), 0,
  'an unknown event is dropped with a warning, not raised');
select is(private.broadcast_assignment_update('{}', tests.school_id('AM')), 0, 'no pupils, no message');
select is(private.broadcast_assignment_update(array[tests.school_id('P1')], tests.school_id('AD')), 0,
  'a display activity is not on the grid: no message');
select is(private.broadcast_assignment_update(array[tests.school_id('P4')], tests.school_id('AM')), 0,
  'a pupil in no class with the lesson: no message');
select is(private.broadcast_activity_marks_cleared('{}', tests.school_id('AT')), 0, 'marks cleared for nobody: no message');
select is(private.broadcast_report_updated(null, 1), 0, 'no pupil, no report message');
set local client_min_messages = warning;

-- 13. Grants: only the write RPCs (SECURITY DEFINER) broadcast ---------------------------------------
select ok(
  not has_function_privilege('authenticated', 'private.broadcast_assignment_update(uuid[], uuid, text, jsonb)', 'execute')
  and not has_function_privilege('anon', 'private.broadcast_assignment_update(uuid[], uuid, text, jsonb)', 'execute'),
  'API roles cannot call broadcast_assignment_update'
);
select ok(
  not has_function_privilege('authenticated', 'private.broadcast_activity_marks_cleared(uuid[], uuid)', 'execute')
  and not has_function_privilege('authenticated', 'private.broadcast_report_updated(uuid, bigint)', 'execute'),
  'API roles cannot call the other broadcast functions'
);
select ok(
  not has_table_privilege('authenticated', 'private.realtime_settings', 'select, update')
  and not has_table_privilege('anon', 'private.realtime_settings', 'select, update'),
  'API roles cannot read or change the realtime settings'
);

select * from finish();
rollback;
