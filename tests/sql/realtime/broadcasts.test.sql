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

select tests.w_build();
insert into public.groups (group_id, subject, join_code) values
('W-7C', 'W-Subject', 'w-join-c'), ('W-7D', 'W-Subject', 'w-join-d');
insert into public.group_membership (group_id, user_id, role) values
('W-7C', tests.w('T3'), 'teacher'), ('W-7C', tests.w('P1'), 'pupil'),
('W-7D', tests.w('T3'), 'teacher'), ('W-7D', tests.w('P1'), 'pupil');
insert into public.lesson_assignments (group_id, lesson_id) values ('W-7C', tests.w('L1')), ('W-7D', tests.w('L9'));
select from private.report_merge(array[tests.w('P1')]);
select tests.w_clear_queue();

select ok((select broadcasts_enabled from private.realtime_settings), 'broadcasts are on by default');
select is((select count(*)::int from private.realtime_settings), 1, 'realtime_settings holds one row');

-- 1. submissions_submit_answer: an auto-marked MCQ ----------------------------------------------------
select tests.rt_mark();
select tests.authenticate_as(tests.w('P1'));
select lives_ok($$select public.submissions_submit_answer(tests.w('AM'), option_id => 'b')$$, 'P1 answers the MCQ');
select tests.clear_authentication();
select is((select count(*)::int from tests.rt_sent()), 2, 'two messages: one per class of P1 with L1 (W-7A, W-7C)');
select bag_eq(
  $$select topic, event, private, extension, payload from tests.rt_sent()$$,
  $$values
    (tests.rt_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7A', tests.w('P1'), tests.w('AM'), 'marked', 1, 'auto')),
    (tests.rt_topic('W-7C', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7C', tests.w('P1'), tests.w('AM'), 'marked', 1, 'auto'))$$,
  'submission_updated on W-7A and W-7C, private, broadcast: marked, 1, auto, with the submission''s fields'
);
select is(
  (select array_agg(k order by k) from (select payload from tests.rt_sent() limit 1) as m, jsonb_object_keys(m.payload) as k),
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
   from tests.rt_sent() limit 1),
  'submissionId, status, submittedAt and updatedAt are filled in'
);
select is(
  (select payload - 'assignmentId' from tests.rt_sent() where topic = tests.rt_topic('W-7A', 'L1')),
  (select c from jsonb_array_elements(public.read_assignment_results('W-7A', tests.w('L1')) -> 'cells') as c
   where c ->> 'pupilId' = tests.w('P1')::text and c ->> 'activityId' = tests.w('AM')::text),
  'the payload is the cell read_assignment_results shows, plus assignmentId'
);
select is_empty(
  $$select from tests.rt_sent() where topic like '%W-7B%' or topic like '%W-7D%'$$,
  'nothing goes to W-7B (not P1''s class) nor W-7D (P1''s class without L1)'
);

-- 2. An answer saved in progress (P2 is in W-7A only) -----------------------------------------------
select tests.rt_mark();
select tests.authenticate_as(tests.w('P2'));
select lives_ok($$select public.submissions_submit_answer(tests.w('AT'), 'draft', status => 'inprogress')$$,
  'P2 saves a draft answer');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.rt_sent()$$,
  $$values (tests.rt_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7A', tests.w('P2'), tests.w('AT'), 'awaiting_marking', null, null))$$,
  'one message on W-7A: awaiting_marking, no score'
);
select is((select payload ->> 'status' from tests.rt_sent()), 'inprogress', 'status inprogress');

-- 3. submissions_record_upload ----------------------------------------------------------------------
select tests.rt_mark();
select tests.authenticate_as(tests.w('P1'));
select lives_ok($$select public.submissions_record_upload(tests.w('AU'), 'work.pdf', 'p1/work.pdf')$$,
  'P1 uploads a file');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.rt_sent()$$,
  $$values
    (tests.rt_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7A', tests.w('P1'), tests.w('AU'), 'awaiting_marking', null, null)),
    (tests.rt_topic('W-7C', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7C', tests.w('P1'), tests.w('AU'), 'awaiting_marking', null, null))$$,
  'submission_updated on W-7A and W-7C: awaiting_marking'
);
select is(
  (select array_agg(distinct payload -> 'hasUpload') from tests.rt_sent()), array['true'::jsonb],
  'hasUpload is true'
);

-- 4. submissions_delete_upload: submission_deleted, only when something was deleted --------------------
select tests.rt_mark();
select tests.authenticate_as(tests.w('P1'));
select lives_ok($$select public.submissions_delete_upload(tests.w('AU'))$$, 'P1 deletes the upload');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.rt_sent()$$,
  $$values
    (tests.rt_topic('W-7A', 'L1'), 'submission_deleted', true, 'broadcast',
     tests.rt_payload('W-7A', tests.w('P1'), tests.w('AU'), 'untouched', 0, 'missing')),
    (tests.rt_topic('W-7C', 'L1'), 'submission_deleted', true, 'broadcast',
     tests.rt_payload('W-7C', tests.w('P1'), tests.w('AU'), 'untouched', 0, 'missing'))$$,
  'submission_deleted on W-7A and W-7C: untouched, 0, missing'
);
select is(
  (select jsonb_agg(distinct jsonb_build_object('submissionId', payload -> 'submissionId', 'status', payload -> 'status',
    'hasUpload', payload -> 'hasUpload', 'updatedAt', payload -> 'updatedAt')) from tests.rt_sent()),
  jsonb_build_array(jsonb_build_object('submissionId', null, 'status', null, 'hasUpload', false, 'updatedAt', now())),
  'submissionId and status null, hasUpload false, updatedAt the time of the write'
);
select tests.rt_mark();
select tests.authenticate_as(tests.w('P1'));
select is(public.submissions_delete_upload(tests.w('AU')) ->> 'deleted', 'false', 'deleting again deletes nothing');
select tests.clear_authentication();
select is_empty($$select from tests.rt_sent()$$, 'and broadcasts nothing');

-- 5. results_save_feedback: an override on work never handed in -------------------------------------
select tests.rt_mark();
select tests.authenticate_as(tests.w('T1'));
select lives_ok($$select public.results_save_feedback(tests.w('AT'), tests.w('P1'), override_score => 0.8)$$,
  'T1 overrides P1''s AT');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.rt_sent()$$,
  $$values
    (tests.rt_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7A', tests.w('P1'), tests.w('AT'), 'marked', 0.8, 'override')),
    (tests.rt_topic('W-7C', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7C', tests.w('P1'), tests.w('AT'), 'marked', 0.8, 'override'))$$,
  'submission_updated on W-7A and W-7C: marked, 0.8, override'
);
select is((select array_agg(distinct payload ->> 'status') from tests.rt_sent()), array['completed'],
  'status completed');

-- 6. results_reset_feedback --------------------------------------------------------------------------
select tests.rt_mark();
select tests.authenticate_as(tests.w('T1'));
select lives_ok($$select public.results_reset_feedback(tests.w('AT'), tests.w('P1'))$$, 'T1 resets P1''s AT');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.rt_sent()$$,
  $$values
    (tests.rt_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7A', tests.w('P1'), tests.w('AT'), 'awaiting_marking', null, null)),
    (tests.rt_topic('W-7C', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7C', tests.w('P1'), tests.w('AT'), 'awaiting_marking', null, null))$$,
  'submission_updated on W-7A and W-7C: awaiting_marking again'
);
select tests.rt_mark();
select tests.authenticate_as(tests.w('T1'));
select lives_ok($$select public.results_reset_feedback(tests.w('AN'), tests.w('P2'))$$,
  'T1 resets a cell with no submission');
select tests.clear_authentication();
select is_empty($$select from tests.rt_sent()$$, 'nothing changed, nothing is broadcast');

-- 7. results_apply_ai_marks: one message per pupil touched and class ----------------------------------
select tests.rt_mark();
select tests.authenticate_as(tests.w('T1'));
select is(
  public.results_apply_ai_marks(tests.w_assignment('W-7A', 'L1'), tests.w('AT'), format(
    '[{"pupil_id": "%s", "score": 0.4, "feedback": "fb1"}, {"pupil_id": "%s", "score": 0.6, "feedback": "fb2"}]',
    tests.w('P1'), tests.w('P2'))::jsonb) - 'errors',
  '{"updated": 2, "created": 0, "skipped": 0, "stale": []}'::jsonb,
  'T1 applies AI marks for P1 and P2'
);
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.rt_sent()$$,
  $$values
    (tests.rt_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7A', tests.w('P1'), tests.w('AT'), 'marked', 0.4, 'ai')),
    (tests.rt_topic('W-7C', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7C', tests.w('P1'), tests.w('AT'), 'marked', 0.4, 'ai')),
    (tests.rt_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7A', tests.w('P2'), tests.w('AT'), 'marked', 0.6, 'ai'))$$,
  'P1 on W-7A and W-7C, P2 on W-7A: marked from the AI'
);
select is(
  (select jsonb_build_object('aiScore', payload -> 'aiScore', 'aiFeedback', payload -> 'aiFeedback',
    'aiMarked', payload ->> 'aiMarkedAt' is not null)
   from tests.rt_sent() where payload ->> 'pupilId' = tests.w('P2')::text),
  '{"aiScore": 0.6, "aiFeedback": "fb2", "aiMarked": true}'::jsonb,
  'the AI fields are in the payload'
);
select tests.rt_mark();
select tests.authenticate_as(tests.w('T1'));
select is(
  public.results_apply_ai_marks(tests.w_assignment('W-7A', 'L1'), tests.w('AT'), format(
    '[{"pupil_id": "%s", "score": 0.4, "feedback": "fb1"}]', tests.w('P1'))::jsonb) ->> 'skipped',
  '1', 'the same AI mark again is skipped'
);
select tests.clear_authentication();
select is_empty($$select from tests.rt_sent()$$, 'and broadcasts nothing');
select tests.rt_mark();
select tests.authenticate_as(tests.w('T1'));
select is(
  public.results_apply_ai_marks(tests.w_assignment('W-7A', 'L1'), tests.w('AN'), format(
    '[{"pupil_id": "%s", "score": 0.3, "feedback": null}]', tests.w('P2'))::jsonb) ->> 'created',
  '1', 'an AI mark where P2 has no submission creates one'
);
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.rt_sent()$$,
  $$values (tests.rt_topic('W-7A', 'L1'), 'submission_updated', true, 'broadcast',
     tests.rt_payload('W-7A', tests.w('P2'), tests.w('AN'), 'marked', 0.3, 'ai'))$$,
  'the created submission is broadcast: marked, 0.3, ai'
);

-- 8. results_clear_ai_marks: the partial event, once per topic -----------------------------------------
select tests.rt_mark();
select tests.authenticate_as(tests.w('T1'));
select is(public.results_clear_ai_marks(tests.w_assignment('W-7A', 'L1'), tests.w('AT')) ->> 'cleared', '2',
  'T1 clears the AI marks of AT (P1, P2)');
select tests.clear_authentication();
select bag_eq(
  $$select topic, event, private, extension, payload from tests.rt_sent()$$,
  format($$values
    (tests.rt_topic('W-7A', 'L1'), 'activity_marks_cleared', true, 'broadcast',
     '{"assignmentId": "%1$s", "activityId": "%3$s", "pupilIds": ["%4$s", "%5$s"]}'::jsonb),
    (tests.rt_topic('W-7C', 'L1'), 'activity_marks_cleared', true, 'broadcast',
     '{"assignmentId": "%2$s", "activityId": "%3$s", "pupilIds": ["%4$s"]}'::jsonb)$$,
    tests.w_assignment('W-7A', 'L1'), tests.w_assignment('W-7C', 'L1'), tests.w('AT'), tests.w('P1'), tests.w('P2')),
  'activity_marks_cleared once on W-7A (P1, P2) and once on W-7C (P1): {assignmentId, activityId, pupilIds}'
);
select tests.rt_mark();
select tests.authenticate_as(tests.w('T1'));
select is(public.results_clear_ai_marks(tests.w_assignment('W-7A', 'L1'), tests.w('AT')) ->> 'cleared', '0',
  'clearing again clears nothing');
select tests.clear_authentication();
select is_empty($$select from tests.rt_sent()$$, 'and broadcasts nothing');

-- 9. A rolled-back write broadcasts nothing -----------------------------------------------------------
select tests.rt_mark();
savepoint before_write;
select tests.authenticate_as(tests.w('P1'));
select from public.submissions_submit_answer(tests.w('AM'), option_id => 'a');
select tests.clear_authentication();
select count(*) as rt_inside from tests.rt_sent() \gset
rollback to savepoint before_write;
select is(:rt_inside::int, 2, 'inside the write''s transaction the two messages exist');
select is_empty($$select from tests.rt_sent()$$, 'after the rollback no message remains');
select is(
  (select body from public.submissions where user_id = tests.w('P1') and activity_id = tests.w('AM')),
  '{"option_id": "b"}'::jsonb, 'and the write itself is undone'
);
select tests.rt_mark();
savepoint before_failure;
select tests.authenticate_as(tests.w('P1'));
select is(
  tests.w_sqlstate($$select public.submissions_submit_answer(tests.w('AM'), option_id => 'zzz')$$), 'PLV07',
  'a write that fails validation raises'
);
select tests.clear_authentication();
select is_empty($$select from tests.rt_sent()$$, 'and broadcasts nothing');
release savepoint before_failure;

-- 10. Broadcasts turned off ----------------------------------------------------------------------------
update private.realtime_settings set broadcasts_enabled = false;
select tests.rt_mark();
select tests.authenticate_as(tests.w('P1'));
select is(tests.brief_cell(public.submissions_submit_answer(tests.w('AM'), option_id => 'c') -> 'cell'),
  '{"state": "marked", "score": 0, "source": "auto"}', 'with broadcasts off the write works as before');
select tests.clear_authentication();
select tests.authenticate_as(tests.w('T1'));
select lives_ok($$select public.results_save_feedback(tests.w('AT'), tests.w('P2'), override_score => 0.5)$$,
  'T1 marks P2 with broadcasts off');
select is(public.results_clear_ai_marks(tests.w_assignment('W-7A', 'L1'), tests.w('AN')) ->> 'cleared', '1',
  'T1 clears AN''s AI marks with broadcasts off');
select tests.clear_authentication();
select is(tests.w_drain() ->> 'done', '2', 'the queue recalculates P1 and P2 with broadcasts off');
select is_empty($$select from tests.rt_sent()$$, 'nothing is broadcast while broadcasts_enabled is false');
update private.realtime_settings set broadcasts_enabled = true;

-- 11. report_updated after a recalculation that changed something --------------------------------------
select tests.w_clear_queue();
select tests.authenticate_as(tests.w('P1'));
select from public.submissions_submit_answer(tests.w('AM'), option_id => 'b');
select tests.clear_authentication();
select tests.rt_mark();
select is(tests.w_drain() ->> 'done', '1', 'the queue recalculates P1');
select ok(
  (select h.changed from private.report_job_history as h where h.pupil_id = tests.w('P1') order by h.history_id desc limit 1),
  'the recalculation changed P1''s report'
);
select bag_eq(
  $$select topic, event, private, extension, payload from tests.rt_sent()$$,
  $$select 'report:' || tests.w('P1') as topic, 'report_updated' as event, true as private, 'broadcast' as extension,
      jsonb_build_object('pupilId', tests.w('P1'), 'version', v.version) as payload
    from public.report_pupil_versions as v where v.pupil_id = tests.w('P1')$$,
  'one report_updated on report:{P1} with {pupilId, version} = the new version'
);
select tests.rt_mark();
select is(private.report_enqueue(array[tests.w('P1')], 'nothing changed'), 1, 'P1 is enqueued without a change');
select is(tests.w_drain() ->> 'done', '1', 'and recalculated');
select is_empty($$select from tests.rt_sent()$$, 'a recalculation that changed nothing broadcasts nothing');
select tests.rt_mark();
savepoint before_job;
select tests.authenticate_as(tests.w('P1'));
select from public.submissions_submit_answer(tests.w('AM'), option_id => 'c');
select tests.clear_authentication();
select from tests.w_drain();
select count(*) as rt_job_inside from tests.rt_sent() where event = 'report_updated' \gset
rollback to savepoint before_job;
select is(:rt_job_inside::int, 1, 'inside a batch the report_updated message exists');
select is_empty($$select from tests.rt_sent()$$, 'a rolled-back batch leaves no message');

-- 12. The broadcast functions never raise and send nothing for work that is not on the grid -------------
set local client_min_messages = error;
select is(private.broadcast_assignment_update(array[tests.w('P1')], tests.w('AM'), 'no_such_event'), 0,
  'an unknown event is dropped with a warning, not raised');
select is(private.broadcast_assignment_update('{}', tests.w('AM')), 0, 'no pupils, no message');
select is(private.broadcast_assignment_update(array[tests.w('P1')], tests.w('AD')), 0,
  'a display activity is not on the grid: no message');
select is(private.broadcast_assignment_update(array[tests.w('P4')], tests.w('AM')), 0,
  'a pupil in no class with the lesson: no message');
select is(private.broadcast_activity_marks_cleared('{}', tests.w('AT')), 0, 'marks cleared for nobody: no message');
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
