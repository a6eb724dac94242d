-- The AI marker's RPCs: results_apply_ai_marks and results_clear_ai_marks for one activity of one
-- assignment ({groupId}__{lessonId}). Teacher overrides and criterion marks are kept; pupils outside the
-- class are reported, not applied; exactly the pupils touched are enqueued; after a drain the cache is exact.
-- Fixture: tests/sql/writes_helpers.psql (T1 teaches W-7A: P1, P2; P3 is in W-7B, which has L1 too).
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(75);

select tests.build_school();
-- P1 answered AT and T1 marked it (override 0.9, C1 = 1); P1 also has an AI mark on AN.
insert into public.submissions (activity_id, user_id, status, submitted_at, body, override_score, override_at, override_by)
values (tests.school_id('AT'), tests.school_id('P1'), 'submitted', now(), '{"text": "p1 answer"}', 0.9, now(), tests.school_id('T1'));
insert into public.submission_criterion_scores (submission_id, success_criteria_id, score)
select submission_id, tests.school_id('C1'), 1 from public.submissions where user_id = tests.school_id('P1') and activity_id = tests.school_id('AT');
insert into public.submissions (activity_id, user_id, status, submitted_at, body, ai_score, ai_feedback, ai_marked_at)
values (tests.school_id('AN'), tests.school_id('P1'), 'submitted', now(), '{"text": "p1 on an"}', 0.2, 'an feedback', now());
select from private.report_merge(array[tests.school_id('P1')]);

-- 1. Apply: updated, created, errors -----------------------------------------------------------------
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok(
  format($$insert into rpc_results select 'ai1', public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0.4, "feedback": "fb1"}, {"pupil_id": "%s", "score": 0.6, "feedback": "fb2"},
      {"pupil_id": "%s", "score": 0.7, "feedback": "not mine"}]', '{"model": "m1"}')$$,
    tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')),
  'T1 applies a batch of AI marks'
);
select tests.clear_authentication();
select is((select r - 'errors' from rpc_results where name = 'ai1'), '{"updated": 1, "created": 1, "skipped": 0, "stale": []}'::jsonb,
  'P1''s submission updated, P2''s created, none skipped');
select is(
  (select jsonb_agg(e - 'message') from rpc_results, jsonb_array_elements(r -> 'errors') as e where name = 'ai1'),
  jsonb_build_array(jsonb_build_object('index', 2, 'pupil_id', tests.school_id('P3'), 'code', 'PLV04')),
  'the pupil of another class is reported as error PLV04 at index 2'
);
select is(
  (select jsonb_build_object('ai_score', ai_score, 'ai_feedback', ai_feedback, 'ai_meta', ai_meta,
    'ai_marked', ai_marked_at is not null, 'override_score', override_score, 'override_by', override_by)
   from public.submissions where user_id = tests.school_id('P1') and activity_id = tests.school_id('AT')),
  jsonb_build_object('ai_score', 0.4, 'ai_feedback', 'fb1', 'ai_meta', '{"model": "m1"}'::jsonb, 'ai_marked', true,
    'override_score', 0.9, 'override_by', tests.school_id('T1')),
  'P1: AI score, feedback and meta stored; the teacher''s override kept'
);
select is(private.submission_written(tests.school_id('P1'), tests.school_id('AT'), null) #> '{submission,criterion_scores,0,score}', '1',
  'P1: the criterion mark kept');
select is(tests.brief_cell(private.submission_written(tests.school_id('P1'), tests.school_id('AT'), null) -> 'cell'),
  '{"state": "marked", "score": 0.95, "source": "teacher_criteria"}',
  'P1''s cell still uses the teacher''s marks: mean(C1 1, C2 override 0.9) = 0.95');
select is(
  (select jsonb_build_object('status', status, 'ai_score', ai_score, 'ai_feedback', ai_feedback, 'body', body)
   from public.submissions where user_id = tests.school_id('P2') and activity_id = tests.school_id('AT')),
  '{"status": "submitted", "ai_score": 0.6, "ai_feedback": "fb2", "body": {}}'::jsonb,
  'P2: a submitted submission is created with the AI mark'
);
select is(tests.brief_cell(private.submission_written(tests.school_id('P2'), tests.school_id('AT'), null) -> 'cell'), '{"state": "marked", "score": 0.6, "source": "ai"}',
  'P2''s cell: 0.6 from the AI');
select is(
  (select (ai_score, ai_feedback)::text from public.submissions where user_id = tests.school_id('P3') and activity_id = tests.school_id('AT')),
  '(0.5,half)', 'P3 (not in W-7A) is not touched'
);
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1'), tests.school_id('P2')], 'P1 and P2 are enqueued, not P3');
select is(tests.drain_queue() ->> 'done', '2', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P1'), tests.school_id('P2')])$$,
  'the cache of P1 and P2 is exact');

-- 2. The same values again are skipped; a change is an update -----------------------------------------
select tests.authenticate_as(tests.school_id('T1'));
select is(
  public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), jsonb_build_array(
    jsonb_build_object('pupil_id', tests.school_id('P1'), 'score', 0.4, 'feedback', 'fb1'),
    jsonb_build_object('pupil_id', tests.school_id('P2'), 'score', 0.6, 'feedback', 'fb2'))),
  '{"updated": 0, "created": 0, "skipped": 2, "errors": [], "stale": []}'::jsonb,
  'the same values again: skipped 2'
);
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'nothing changed, nobody is enqueued');
select tests.authenticate_as(tests.school_id('T1'));
select is(
  public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), jsonb_build_array(
    jsonb_build_object('pupil_id', tests.school_id('P1'), 'score', 0.4, 'feedback', 'fb1'),
    jsonb_build_object('pupil_id', tests.school_id('P2'), 'score', 0.65, 'feedback', 'fb2'))),
  '{"updated": 1, "created": 0, "skipped": 1, "errors": [], "stale": []}'::jsonb,
  'one new score: updated 1, skipped 1'
);
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P2')], 'only P2 is enqueued');
select is(tests.drain_queue() ->> 'done', '1', 'drained');

-- 3. The AI webhook (service role) -----------------------------------------------------------------
select tests.authenticate_as_service_role();
select is(
  public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AN'),
    jsonb_build_array(jsonb_build_object('pupil_id', tests.school_id('P2'), 'score', 0.9))) - 'errors',
  '{"updated": 0, "created": 1, "skipped": 0, "stale": []}'::jsonb,
  'the service role applies a mark without feedback: created 1'
);
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P2')], 'P2 is enqueued');
select is(tests.drain_queue() ->> 'done', '1', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P2')])$$, 'P2''s cache is exact');

-- 4. Clear: only this activity, only this class's pupils ------------------------------------------------
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok(
  $$insert into rpc_results select 'clear', public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'))$$,
  'T1 clears the AI marks of AT'
);
select tests.clear_authentication();
select is((select (r -> 'cleared')::int from rpc_results where name = 'clear'), 2, 'cleared 2');
select set_eq(
  $$select jsonb_array_elements_text(r -> 'pupil_ids')::uuid from rpc_results where name = 'clear'$$,
  array[tests.school_id('P1'), tests.school_id('P2')], 'the pupils cleared: P1 and P2'
);
select is(
  (select jsonb_build_object('ai_score', ai_score, 'ai_feedback', ai_feedback, 'ai_meta', ai_meta, 'ai_marked_at', ai_marked_at,
    'override_score', override_score)
   from public.submissions where user_id = tests.school_id('P1') and activity_id = tests.school_id('AT')),
  '{"ai_score": null, "ai_feedback": null, "ai_meta": null, "ai_marked_at": null, "override_score": 0.9}'::jsonb,
  'P1''s AT: every AI field cleared, the override kept'
);
select is(
  (select (ai_score, ai_feedback)::text from public.submissions where user_id = tests.school_id('P1') and activity_id = tests.school_id('AN')),
  '(0.2,"an feedback")', 'P1''s AI mark on another activity (AN) is kept'
);
select is(
  (select ai_score from public.submissions where user_id = tests.school_id('P2') and activity_id = tests.school_id('AN')), 0.9::numeric,
  'P2''s AI mark on AN is kept'
);
select is(
  (select ai_score from public.submissions where user_id = tests.school_id('P3') and activity_id = tests.school_id('AT')), 0.5::numeric,
  'P3''s AI mark on AT (another class) is kept'
);
select is(tests.brief_cell(private.submission_written(tests.school_id('P2'), tests.school_id('AT'), null) -> 'cell'),
  '{"state": "awaiting_marking", "score": null, "source": null}', 'P2''s AT cell is awaiting marking again');
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1'), tests.school_id('P2')], 'P1 and P2 are enqueued, not P3');
select is(tests.drain_queue() ->> 'done', '2', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')])$$,
  'the cache of P1, P2 and P3 is exact');
select tests.authenticate_as(tests.school_id('T1'));
select is(public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT')), '{"cleared": 0, "pupil_ids": []}',
  'clearing again clears nothing');
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'and enqueues nobody');

-- 5. Bad input: the SQLSTATE, and nothing changes ---------------------------------------------------
insert into checksums select 'bad', tests.domain_checksum();
select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.results_apply_ai_marks(null, tests.school_id('AT'), '[]')$$, 'PLV01', null,
  'apply: group_assignment_id NULL -> PLV01');
select throws_ok($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), null, '[]')$$, 'PLV01', null,
  'apply: activity_id NULL -> PLV01');
select throws_ok($$select public.results_apply_ai_marks('garbage', tests.school_id('AT'), '[]')$$, 'PLV12', null,
  'apply: group_assignment_id without __ -> PLV12');
select throws_ok($$select public.results_apply_ai_marks('W-7A__not-a-uuid', tests.school_id('AT'), '[]')$$, 'PLV12', null,
  'apply: lesson part not a uuid -> PLV12');
select throws_ok($$select public.results_apply_ai_marks('__' || tests.school_id('L1'), tests.school_id('AT'), '[]')$$, 'PLV12', null,
  'apply: empty class part -> PLV12');
select throws_ok($$select public.results_apply_ai_marks(tests.assignment_id('NOPE', 'L1'), tests.school_id('AT'), '[]')$$, '42501', null,
  'apply: unknown class -> 42501, as for a class the teacher does not teach');
select throws_ok($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'NONE'), tests.school_id('AT'), '[]')$$, 'PLN04', null,
  'apply: unknown lesson -> PLN04');
select throws_ok($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L2'), tests.school_id('A2'), '[]')$$, 'PLN07', null,
  'apply: lesson not assigned to the class -> PLN07');
select throws_ok($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('NONE'), '[]')$$, 'PLN03', null,
  'apply: unknown activity -> PLN03');
select throws_ok($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('A2'), '[]')$$, 'PLV06', null,
  'apply: activity not part of the lesson -> PLV06');
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '{"pupil_id": "%s", "score": 0.5}')$$, tests.school_id('P1')),
  'PLV05', null, 'apply: results not an array -> PLV05'
);
select ok(
  tests.sqlstate_of($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), null)$$)
    in ('PLV01', 'PLV05'),
  'apply: results NULL is refused (PLV01 or PLV05)'
);
select throws_ok($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), '[1]')$$, 'PLV05', null,
  'apply: an item that is not an object -> PLV05');
select throws_ok(
  $$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), '[{"score": 0.5, "feedback": "x"}]')$$,
  'PLV05', null, 'apply: an item without pupil_id -> PLV05'
);
select throws_ok(
  $$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), '[{"pupil_id": "P1", "score": 0.5}]')$$,
  'PLV05', null, 'apply: a pupil_id that is not a uuid -> PLV05'
);
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": "0.5"}]')$$, tests.school_id('P1')),
  'PLV05', null, 'apply: score given as a string -> PLV05'
);
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "feedback": "no score"}]')$$, tests.school_id('P1')),
  'PLV05', null, 'apply: an item without score -> PLV05'
);
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0.5, "feedback": 7}]')$$, tests.school_id('P1')),
  'PLV05', null, 'apply: feedback that is not text -> PLV05'
);
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0.5}, {"pupil_id": "%s", "score": 0.6}]')$$, tests.school_id('P1'), tests.school_id('P1')),
  'PLV05', null, 'apply: the same pupil twice -> PLV05'
);
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 0.5}, {"pupil_id": "%s", "score": "x"}]')$$, tests.school_id('P1'), tests.school_id('P2')),
  'PLV05', null, 'apply: a valid item then a malformed one -> PLV05 (the valid one is not applied)'
);
select throws_ok(
  $$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), '[]', '[1]')$$,
  'PLV05', null, 'apply: ai_meta not an object -> PLV05'
);
select throws_ok(
  $$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    (select jsonb_agg(jsonb_build_object('pupil_id', gen_random_uuid(), 'score', 0.5)) from generate_series(1, 1001)))$$,
  'PLV13', null, 'apply: 1001 items -> PLV13'
);
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 1.1}]')$$, tests.school_id('P1')),
  'PLV02', null, 'apply: score 1.1 -> PLV02'
);
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": -0.1}]')$$, tests.school_id('P1')),
  'PLV02', null, 'apply: score -0.1 -> PLV02'
);
select throws_ok($$select public.results_clear_ai_marks(null, tests.school_id('AT'))$$, 'PLV01', null,
  'clear: group_assignment_id NULL -> PLV01');
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), null)$$, 'PLV01', null,
  'clear: activity_id NULL -> PLV01');
select throws_ok($$select public.results_clear_ai_marks('W-7A', tests.school_id('AT'))$$, 'PLV12', null,
  'clear: malformed group_assignment_id -> PLV12');
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('NOPE', 'L1'), tests.school_id('AT'))$$, '42501', null,
  'clear: unknown class -> 42501, as for a class the teacher does not teach');
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('W-7A', 'NONE'), tests.school_id('AT'))$$, 'PLN04', null,
  'clear: unknown lesson -> PLN04');
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L2'), tests.school_id('A2'))$$, 'PLN07', null,
  'clear: lesson not assigned to the class -> PLN07');
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('NONE'))$$, 'PLN03', null,
  'clear: unknown activity -> PLN03');
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('A2'))$$, 'PLV06', null,
  'clear: activity not part of the lesson -> PLV06');
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'bad'),
  'after every bad call the domain tables and the queue are unchanged');

-- 6. Access -------------------------------------------------------------------------------------------
insert into checksums select 'access', tests.domain_checksum();
select tests.authenticate_as_anon();
select throws_ok($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), '[]')$$, '42501', null,
  'anon: results_apply_ai_marks -> 42501');
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'))$$, '42501', null,
  'anon: results_clear_ai_marks -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('T2'));
select throws_ok($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'), '[]')$$, '42501', null,
  'a teacher of another class (T2) applying marks to W-7A -> 42501');
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'))$$, '42501', null,
  'T2 clearing W-7A''s marks -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('W-7B', 'L1'), tests.school_id('AT'))$$, '42501', null,
  'T1 clearing the marks of W-7B (not their class) -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('P1'));
select throws_ok(
  format($$select public.results_apply_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
    '[{"pupil_id": "%s", "score": 1}]')$$, tests.school_id('P1')),
  '42501', null, 'a pupil applying AI marks -> 42501'
);
select throws_ok($$select public.results_clear_ai_marks(tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'))$$, '42501', null,
  'a pupil clearing AI marks -> 42501');
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'access'), 'refused callers changed nothing');

select * from finish();
rollback;
