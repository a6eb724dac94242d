-- The pupil's write RPCs: submissions_submit_answer, submissions_record_upload, submissions_delete_upload.
-- Each returns the authoritative row, enqueues exactly the pupil, and after a drain the cache is exact.
-- Bad input raises its SQLSTATE and changes nothing; callers other than the pupil get 42501.
-- Fixture: tests/sql/writes_helpers.psql (P1 and P2 in W-7A, lesson L1 assigned).
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(93);

select tests.build_school();

-- 1. MCQ: auto-marked from body_data.correct_option_id ------------------------------------------------
select tests.authenticate_as(tests.school_id('P1'));
select lives_ok(
  $$insert into rpc_results select 'mcq_right', public.submissions_submit_answer(tests.school_id('AM'), option_id => 'b')$$,
  'P1 answers the MCQ (right answer)'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('user_id', r #> '{submission,user_id}', 'status', r #> '{submission,status}',
    'body', r #> '{submission,body}', 'auto_score', r #> '{submission,auto_score}') from rpc_results where name = 'mcq_right'),
  jsonb_build_object('user_id', tests.school_id('P1'), 'status', 'submitted', 'body', '{"option_id": "b"}'::jsonb, 'auto_score', 1),
  'the returned submission: P1, submitted, option b, auto_score 1'
);
select is((select tests.brief_cell(r -> 'cell') from rpc_results where name = 'mcq_right'), '{"state": "marked", "score": 1, "source": "auto"}',
  'the returned cell: marked, 1, auto');
select is(
  (select auto_score from public.submissions where user_id = tests.school_id('P1') and activity_id = tests.school_id('AM')), 1::numeric,
  'the stored auto_score is 1'
);
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued, nobody else');
select is(tests.drain_queue() ->> 'done', '1', 'the drain recalculates P1');
select is_empty($$select * from private.report_differences(array[tests.school_id('P1')])$$, 'P1''s cache equals the live computation');

select tests.authenticate_as(tests.school_id('P1'));
select lives_ok(
  $$insert into rpc_results select 'mcq_wrong', public.submissions_submit_answer(tests.school_id('AM'), option_id => 'c')$$,
  'P1 changes the MCQ answer (wrong answer)'
);
select tests.clear_authentication();
select is((select r #> '{submission,auto_score}' from rpc_results where name = 'mcq_wrong'), '0', 'a wrong option: auto_score 0');
select is((select tests.brief_cell(r -> 'cell') from rpc_results where name = 'mcq_wrong'), '{"state": "marked", "score": 0, "source": "auto"}',
  'the cell: marked, 0, auto');
select is((select count(*)::int from public.submissions where user_id = tests.school_id('P1') and activity_id = tests.school_id('AM')), 1,
  'still one submission row per (activity, pupil)');
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued again');
select is(tests.drain_queue() ->> 'done', '1', 'drained');
select is(
  (select activities_average from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P1') and unit_id = tests.school_id('U8')),
  0::numeric, 'the cached activities_average follows the wrong answer (0)'
);
select is_empty($$select * from private.report_differences(array[tests.school_id('P1')])$$, 'P1''s cache is exact');

-- 2. Text: the same answer keeps the marks, a new answer clears them ------------------------------------
select tests.authenticate_as(tests.school_id('P1'));
select lives_ok(
  $$insert into rpc_results select 'text1', public.submissions_submit_answer(tests.school_id('AT'), 'first answer')$$,
  'P1 submits a text answer'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('status', r #> '{submission,status}', 'body', r #> '{submission,body}',
    'auto_score', r #> '{submission,auto_score}', 'cell', tests.brief_cell(r -> 'cell')) from rpc_results where name = 'text1'),
  '{"status": "submitted", "body": {"text": "first answer"}, "auto_score": null,
    "cell": {"state": "awaiting_marking", "score": null, "source": null}}'::jsonb,
  'a text answer is unmarked: awaiting_marking'
);
-- It gets marked (AI, override, a criterion mark), then the pupil sends the same answer again.
update public.submissions
set ai_score = 0.6, ai_feedback = 'ai says', ai_meta = '{"model": "m"}', ai_marked_at = now(), override_score = 0.8,
  override_at = now(), override_by = tests.school_id('T1'), teacher_feedback = 'good'
where user_id = tests.school_id('P1') and activity_id = tests.school_id('AT');
insert into public.submission_criterion_scores (submission_id, success_criteria_id, score)
select submission_id, tests.school_id('C1'), 1 from public.submissions where user_id = tests.school_id('P1') and activity_id = tests.school_id('AT');
select tests.clear_queue();
select tests.authenticate_as(tests.school_id('P1'));
select lives_ok(
  $$insert into rpc_results select 'text_same', public.submissions_submit_answer(tests.school_id('AT'), 'first answer')$$,
  'P1 sends the same answer again'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('ai_score', r #> '{submission,ai_score}', 'override_score', r #> '{submission,override_score}',
    'teacher_feedback', r #> '{submission,teacher_feedback}', 'criterion_scores', r #> '{submission,criterion_scores}')
   from rpc_results where name = 'text_same'),
  jsonb_build_object('ai_score', 0.6, 'override_score', 0.8, 'teacher_feedback', 'good', 'criterion_scores',
    jsonb_build_array(jsonb_build_object('success_criteria_id', tests.school_id('C1'), 'score', 1))),
  'the same answer keeps every mark'
);
select is((select tests.brief_cell(r -> 'cell') from rpc_results where name = 'text_same'),
  '{"state": "marked", "score": 0.9, "source": "teacher_criteria"}',
  'the cell: C1 teacher mark 1 and C2 from the override 0.8 -> 0.9, teacher_criteria');
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued');

update public.submissions set status = 'completed' where user_id = tests.school_id('P1') and activity_id = tests.school_id('AT');
select tests.clear_queue();
select tests.authenticate_as(tests.school_id('P1'));
select lives_ok(
  $$insert into rpc_results select 'text_new', public.submissions_submit_answer(tests.school_id('AT'), 'second answer')$$,
  'P1 resubmits a different answer'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('status', status, 'body', body, 'ai_score', ai_score, 'ai_feedback', ai_feedback,
    'ai_meta', ai_meta, 'ai_marked_at', ai_marked_at, 'override_score', override_score, 'override_by', override_by,
    'override_at', override_at, 'teacher_feedback', teacher_feedback)
   from public.submissions where user_id = tests.school_id('P1') and activity_id = tests.school_id('AT')),
  '{"status": "submitted", "body": {"text": "second answer"}, "ai_score": null, "ai_feedback": null, "ai_meta": null,
    "ai_marked_at": null, "override_score": null, "override_by": null, "override_at": null, "teacher_feedback": null}'::jsonb,
  'a new answer clears ai_*, override_* and feedback, and the status is submitted again'
);
select is_empty(
  $$select from public.submission_criterion_scores as m join public.submissions as s using (submission_id)
    where s.user_id = tests.school_id('P1') and s.activity_id = tests.school_id('AT')$$,
  'and removes the criterion marks'
);
select is(
  (select jsonb_build_object('criterion_scores', r #> '{submission,criterion_scores}', 'cell', tests.brief_cell(r -> 'cell'))
   from rpc_results where name = 'text_new'),
  '{"criterion_scores": [], "cell": {"state": "awaiting_marking", "score": null, "source": null}}'::jsonb,
  'the returned row agrees: no marks, awaiting marking'
);
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued');
select is(tests.drain_queue() ->> 'done', '1', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P1')])$$, 'P1''s cache is exact');

-- 3. Saving in progress -------------------------------------------------------------------------------
select tests.authenticate_as(tests.school_id('P1'));
select lives_ok(
  $$insert into rpc_results select 'draft', public.submissions_submit_answer(tests.school_id('AN'), 'a draft', status => 'inprogress')$$,
  'P1 saves a draft (inprogress)'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('status', r #> '{submission,status}', 'submitted_at', r #> '{submission,submitted_at}',
    'state', r #> '{cell,state}') from rpc_results where name = 'draft'),
  '{"status": "inprogress", "submitted_at": null, "state": "awaiting_marking"}'::jsonb,
  'inprogress: no submitted_at (a row in any status counts as a submission)'
);
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued');
select tests.authenticate_as(tests.school_id('P1'));
select lives_ok(
  $$insert into rpc_results select 'final', public.submissions_submit_answer(tests.school_id('AN'), 'the final text')$$,
  'P1 then submits it'
);
select tests.clear_authentication();
select is(
  (select (status, submitted_at is not null, body ->> 'text')::text from public.submissions
   where user_id = tests.school_id('P1') and activity_id = tests.school_id('AN')),
  '(submitted,t,"the final text")', 'submitted, with submitted_at and the final text'
);
select is(tests.drain_queue() ->> 'done', '1', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P1')])$$, 'P1''s cache is exact');

-- 4. Uploads ------------------------------------------------------------------------------------------
select tests.authenticate_as(tests.school_id('P1'));
select lives_ok(
  $$insert into rpc_results select 'up1', public.submissions_record_upload(tests.school_id('AU'), 'essay.pdf', 'p1/essay.pdf')$$,
  'P1 records an upload'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('status', r #> '{submission,status}', 'body', r #> '{submission,body}', 'state', r #> '{cell,state}')
   from rpc_results where name = 'up1'),
  '{"status": "submitted", "body": {"file_name": "essay.pdf", "path": "p1/essay.pdf"}, "state": "awaiting_marking"}'::jsonb,
  'the upload is the submission: file name and path, awaiting marking'
);
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued');
select is(tests.drain_queue() ->> 'done', '1', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P1')])$$, 'P1''s cache is exact');

update public.submissions set override_score = 0.7, override_at = now()
where user_id = tests.school_id('P1') and activity_id = tests.school_id('AU');
select tests.authenticate_as(tests.school_id('P1'));
select is(
  public.submissions_record_upload(tests.school_id('AU'), 'essay.pdf', 'p1/essay.pdf') #> '{submission,override_score}', '0.7',
  'the same file again keeps the mark'
);
select is(
  public.submissions_record_upload(tests.school_id('AU'), 'essay-v2.pdf', 'p1/essay-v2.pdf') #> '{submission,override_score}',
  'null', 'a new file clears the mark'
);
select tests.clear_authentication();
select tests.clear_queue();

select tests.authenticate_as(tests.school_id('P1'));
select lives_ok(
  $$insert into rpc_results select 'del1', public.submissions_delete_upload(tests.school_id('AU'))$$,
  'P1 deletes the upload'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('deleted', r -> 'deleted', 'submission', r -> 'submission', 'cell', tests.brief_cell(r -> 'cell'))
   from rpc_results where name = 'del1'),
  '{"deleted": true, "submission": null, "cell": {"state": "untouched", "score": 0, "source": "missing"}}'::jsonb,
  'deleted: no submission, the cell is untouched again (missing counts 0)'
);
select is_empty($$select from public.submissions where user_id = tests.school_id('P1') and activity_id = tests.school_id('AU')$$,
  'the submission row is gone');
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued');
select is(tests.drain_queue() ->> 'done', '1', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P1')])$$, 'P1''s cache is exact');
select tests.authenticate_as(tests.school_id('P1'));
select is(public.submissions_delete_upload(tests.school_id('AU')) -> 'deleted', 'false', 'deleting when there is none: deleted false');
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'and nobody is enqueued');

-- 5. The service role submits on a pupil's behalf -----------------------------------------------------
select tests.authenticate_as_service_role();
select is(
  public.submissions_submit_answer(tests.school_id('AT'), 'sent by the service', pupil_id => tests.school_id('P2')) #>> '{submission,user_id}',
  tests.school_id('P2')::text, 'the service role submits for P2 (pupil_id)'
);
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P2')], 'P2 is enqueued, nobody else');
select is(tests.drain_queue() ->> 'done', '1', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P2')])$$, 'P2''s cache is exact');

-- 6. Bad input: the SQLSTATE, and nothing changes ---------------------------------------------------
insert into checksums select 'bad', tests.domain_checksum();
select tests.authenticate_as(tests.school_id('P1'));
select throws_ok($$select public.submissions_submit_answer(null, 'x')$$, 'PLV01', null, 'submit: activity_id NULL -> PLV01');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('NONE'), 'x')$$, 'PLN03', null,
  'submit: unknown activity -> PLN03');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), 'x', status => 'done')$$, 'PLV07', null,
  'submit: status done -> PLV07');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), 'x', status => null)$$, 'PLV07', null,
  'submit: status NULL -> PLV07');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AM'), 'b')$$, 'PLV07', null,
  'submit: MCQ answered with text -> PLV07');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AM'), 'b', 'b')$$, 'PLV07', null,
  'submit: MCQ with an option and text -> PLV07');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AM'), option_id => 'z')$$, 'PLV07', null,
  'submit: MCQ option that is not an option -> PLV07');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'))$$, 'PLV07', null,
  'submit: text activity without text -> PLV07');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), 'x', 'a')$$, 'PLV07', null,
  'submit: text activity with an option -> PLV07');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), repeat('x', 20001))$$, 'PLV07', null,
  'submit: 20001 characters -> PLV07');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AU'), 'x')$$, 'PLV06', null,
  'submit: an upload activity -> PLV06');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AD'), 'x')$$, 'PLV06', null,
  'submit: a display activity -> PLV06');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AX'), 'x')$$, 'PLV06', null,
  'submit: an inactive activity -> PLV06');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('A2'), 'x')$$, 'PLV04', null,
  'submit: a lesson not assigned to the pupil''s classes -> PLV04');
select throws_ok($$select public.submissions_record_upload(null, 'f.pdf', 'p/f.pdf')$$, 'PLV01', null,
  'upload: activity_id NULL -> PLV01');
select throws_ok($$select public.submissions_record_upload(tests.school_id('NONE'), 'f.pdf', 'p/f.pdf')$$, 'PLN03', null,
  'upload: unknown activity -> PLN03');
select throws_ok($$select public.submissions_record_upload(tests.school_id('AU'), null, 'p/f.pdf')$$, 'PLV07', null,
  'upload: file_name NULL -> PLV07');
select throws_ok($$select public.submissions_record_upload(tests.school_id('AU'), 'f.pdf', '')$$, 'PLV07', null,
  'upload: empty path -> PLV07');
select throws_ok($$select public.submissions_record_upload(tests.school_id('AU'), repeat('f', 256), 'p/f.pdf')$$, 'PLV07', null,
  'upload: file_name of 256 characters -> PLV07');
select throws_ok($$select public.submissions_record_upload(tests.school_id('AT'), 'f.pdf', 'p/f.pdf')$$, 'PLV06', null,
  'upload: a text activity -> PLV06');
select throws_ok($$select public.submissions_delete_upload(null)$$, 'PLV01', null, 'delete upload: activity_id NULL -> PLV01');
select throws_ok($$select public.submissions_delete_upload(tests.school_id('NONE'))$$, 'PLN03', null,
  'delete upload: unknown activity -> PLN03');
select throws_ok($$select public.submissions_delete_upload(tests.school_id('AT'))$$, 'PLV06', null,
  'delete upload: a text activity -> PLV06');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('P4'));
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), 'x')$$, 'PLV04', null,
  'submit: a pupil in no class with the work -> PLV04');
select throws_ok($$select public.submissions_record_upload(tests.school_id('AU'), 'f.pdf', 'p/f.pdf')$$, 'PLV04', null,
  'upload: a pupil in no class with the work -> PLV04');
select tests.clear_authentication();
select tests.authenticate_as_service_role();
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), 'x')$$, 'PLV01', null,
  'submit as service role without pupil_id -> PLV01');
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), 'x', pupil_id => tests.school_id('NONE'))$$, 'PLN01', null,
  'submit as service role for an unknown pupil -> PLN01');
select throws_ok($$select public.submissions_delete_upload(tests.school_id('AU'))$$, 'PLV01', null,
  'delete upload as service role without pupil_id -> PLV01');
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'bad'),
  'after every bad call the domain tables and the queue are unchanged');

-- 7. Access -------------------------------------------------------------------------------------------
insert into checksums select 'access', tests.domain_checksum();
select tests.authenticate_as_anon();
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), 'x', pupil_id => tests.school_id('P1'))$$, '42501', null,
  'anon: submissions_submit_answer -> 42501');
select throws_ok($$select public.submissions_record_upload(tests.school_id('AU'), 'f', 'p', tests.school_id('P1'))$$, '42501', null,
  'anon: submissions_record_upload -> 42501');
select throws_ok($$select public.submissions_delete_upload(tests.school_id('AU'), tests.school_id('P1'))$$, '42501', null,
  'anon: submissions_delete_upload -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('P2'));
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), 'x', pupil_id => tests.school_id('P1'))$$, '42501', null,
  'a classmate submitting for P1 -> 42501');
select throws_ok($$select public.submissions_record_upload(tests.school_id('AU'), 'f', 'p', tests.school_id('P1'))$$, '42501', null,
  'a classmate uploading for P1 -> 42501');
select throws_ok($$select public.submissions_delete_upload(tests.school_id('AU'), tests.school_id('P1'))$$, '42501', null,
  'a classmate deleting P1''s upload -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.submissions_submit_answer(tests.school_id('AT'), 'x', pupil_id => tests.school_id('P1'))$$, '42501', null,
  'P1''s teacher submitting for P1 -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('P1'));
select throws_ok(
  $$insert into public.submissions (activity_id, user_id, status, submitted_at) values (tests.school_id('AU'), tests.school_id('P1'), 'submitted', now())$$,
  '42501', null, 'a direct insert into public.submissions as authenticated -> 42501'
);
select throws_ok(
  $$update public.submissions set auto_score = 1 where user_id = tests.school_id('P1')$$,
  '42501', null, 'a direct update of public.submissions as authenticated -> 42501'
);
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'access'), 'refused callers changed nothing');

select * from finish();
rollback;
