-- The teacher's marking RPCs: results_save_feedback and results_reset_feedback. Each returns the
-- submission with its criterion marks and the cell (docs/scoring.md, "Cells"), enqueues exactly the pupil, and
-- after a drain the cache is exact. Bad input raises its SQLSTATE and changes nothing; only teachers of
-- the pupil's class (with the lesson assigned) may mark.
-- Fixture: tests/sql/writes_helpers.psql (T1 teaches W-7A: P1, P2; AT is linked to C1 and C2).
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(71);

select tests.build_school();
-- P2 has an AI-marked answer on AT.
insert into public.submissions (activity_id, user_id, status, submitted_at, body, ai_score, ai_feedback, ai_marked_at)
values (tests.school_id('AT'), tests.school_id('P2'), 'submitted', now(), '{"text": "p2 answer"}', 0.3, 'ai feedback', now());
select from private.report_merge(array[tests.school_id('P2')]);

-- 1. An override on work never submitted (done on paper) ---------------------------------------------
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok(
  $$insert into rpc_results select 'ov', public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), override_score => 0.8)$$,
  'T1 saves an override for P1'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('user_id', r #> '{submission,user_id}', 'status', r #> '{submission,status}',
    'override_score', r #> '{submission,override_score}', 'override_by', r #> '{submission,override_by}',
    'teacher_feedback', r #> '{submission,teacher_feedback}', 'criterion_scores', r #> '{submission,criterion_scores}')
   from rpc_results where name = 'ov'),
  jsonb_build_object('user_id', tests.school_id('P1'), 'status', 'completed', 'override_score', 0.8, 'override_by', tests.school_id('T1'),
    'teacher_feedback', null, 'criterion_scores', '[]'::jsonb),
  'a completed submission is created with override_score 0.8 by T1 and no criterion marks'
);
select is((select tests.brief_cell(r -> 'cell') from rpc_results where name = 'ov'), '{"state": "marked", "score": 0.8, "source": "override"}',
  'the cell: marked, 0.8, override');
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued, nobody else');
select is(tests.drain_queue() ->> 'done', '1', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P1')])$$, 'P1''s cache is exact');

-- 2. Criterion marks only: the override stays, the cell uses the mark where there is one ---------------
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok(
  format($$insert into rpc_results select 'crit', public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": 1}]')$$, tests.school_id('C1')),
  'T1 saves a criterion mark C1 = 1'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('override_score', r #> '{submission,override_score}', 'criterion_scores', r #> '{submission,criterion_scores}')
   from rpc_results where name = 'crit'),
  jsonb_build_object('override_score', 0.8, 'criterion_scores',
    jsonb_build_array(jsonb_build_object('success_criteria_id', tests.school_id('C1'), 'score', 1))),
  'override kept, C1 marked 1'
);
select is((select tests.brief_cell(r -> 'cell') from rpc_results where name = 'crit'), '{"state": "marked", "score": 0.9, "source": "teacher_criteria"}',
  'the cell: mean(C1 mark 1, C2 override 0.8) = 0.9, teacher_criteria');
select is(
  (select m.marked_by from public.submission_criterion_scores as m join public.submissions as s using (submission_id)
   where s.user_id = tests.school_id('P1') and s.activity_id = tests.school_id('AT')),
  tests.school_id('T1'), 'the stored mark records who marked it'
);
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued');

-- 3. Feedback only ------------------------------------------------------------------------------------
select tests.clear_queue();
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok(
  $$insert into rpc_results select 'fb', public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), feedback => 'Well done')$$,
  'T1 saves feedback text only'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('teacher_feedback', r #> '{submission,teacher_feedback}', 'override_score', r #> '{submission,override_score}',
    'marks', jsonb_array_length(r #> '{submission,criterion_scores}'), 'score', r #> '{cell,score}') from rpc_results where name = 'fb'),
  '{"teacher_feedback": "Well done", "override_score": 0.8, "marks": 1, "score": 0.9}'::jsonb,
  'feedback saved; override, criterion mark and cell unchanged'
);
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued');

-- 4. Both criteria, then a criterion score NULL removes that mark --------------------------------------
select tests.authenticate_as(tests.school_id('T1'));
select is(
  tests.brief_cell(public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), criterion_scores => jsonb_build_array(
    jsonb_build_object('success_criteria_id', tests.school_id('C1'), 'score', 0.5),
    jsonb_build_object('success_criteria_id', tests.school_id('C2'), 'score', 0.25))) -> 'cell'),
  '{"state": "marked", "score": 0.375, "source": "teacher_criteria"}',
  'both criteria marked: mean(0.5, 0.25) = 0.375'
);
select lives_ok(
  format($$insert into rpc_results select 'rm', public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": null}]')$$, tests.school_id('C2')),
  'T1 sends C2 with score NULL'
);
select tests.clear_authentication();
select is(
  (select r #> '{submission,criterion_scores}' from rpc_results where name = 'rm'),
  jsonb_build_array(jsonb_build_object('success_criteria_id', tests.school_id('C1'), 'score', 0.5)),
  'C2''s mark is removed, C1''s stays'
);
select is((select tests.brief_cell(r -> 'cell') from rpc_results where name = 'rm'), '{"state": "marked", "score": 0.65, "source": "teacher_criteria"}',
  'the cell: mean(C1 mark 0.5, C2 override 0.8) = 0.65');
select is(
  (select count(*)::int from public.submission_criterion_scores as m join public.submissions as s using (submission_id)
   where s.user_id = tests.school_id('P1') and s.activity_id = tests.school_id('AT')),
  1, 'one criterion mark is stored'
);
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1')], 'P1 is enqueued');
select is(tests.drain_queue() ->> 'done', '1', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P1')])$$, 'P1''s cache is exact');

-- 5. An activity without criteria uses the override directly ----------------------------------------
select tests.authenticate_as(tests.school_id('T1'));
select is(
  tests.brief_cell(public.results_save_feedback(tests.school_id('AN'), tests.school_id('P2'), override_score => 0.4) -> 'cell'),
  '{"state": "marked", "score": 0.4, "source": "override"}', 'no criteria: the cell is the override'
);
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P2')], 'P2 is enqueued');

-- 6. Reset keeps the AI marks ---------------------------------------------------------------------------
select tests.authenticate_as(tests.school_id('T1'));
select is(
  tests.brief_cell(public.results_save_feedback(tests.school_id('AT'), tests.school_id('P2'), 0.9,
    jsonb_build_array(jsonb_build_object('success_criteria_id', tests.school_id('C1'), 'score', 1)), 'nice') -> 'cell'),
  '{"state": "marked", "score": 0.95, "source": "teacher_criteria"}',
  'P2 marked by T1 over the AI score: mean(1, 0.9) = 0.95'
);
select tests.clear_authentication();
select from tests.drain_queue();
select tests.authenticate_as(tests.school_id('T1'));
select lives_ok(
  $$insert into rpc_results select 'reset', public.results_reset_feedback(tests.school_id('AT'), tests.school_id('P2'))$$,
  'T1 resets P2''s feedback'
);
select tests.clear_authentication();
select is(
  (select jsonb_build_object('ai_score', ai_score, 'ai_feedback', ai_feedback, 'override_score', override_score,
    'override_by', override_by, 'override_at', override_at, 'teacher_feedback', teacher_feedback)
   from public.submissions where user_id = tests.school_id('P2') and activity_id = tests.school_id('AT')),
  '{"ai_score": 0.3, "ai_feedback": "ai feedback", "override_score": null, "override_by": null, "override_at": null,
    "teacher_feedback": null}'::jsonb,
  'reset: override and feedback gone, the AI mark kept'
);
select is_empty(
  $$select from public.submission_criterion_scores as m join public.submissions as s using (submission_id)
    where s.user_id = tests.school_id('P2') and s.activity_id = tests.school_id('AT')$$,
  'reset: the criterion marks are gone'
);
select is(
  (select jsonb_build_object('criterion_scores', r #> '{submission,criterion_scores}', 'cell', tests.brief_cell(r -> 'cell')) from rpc_results where name = 'reset'),
  '{"criterion_scores": [], "cell": {"state": "marked", "score": 0.3, "source": "ai"}}'::jsonb,
  'the returned cell falls back to the AI score 0.3'
);
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P2')], 'P2 is enqueued, nobody else');
select is(tests.drain_queue() ->> 'done', '1', 'drained');
select is_empty($$select * from private.report_differences(array[tests.school_id('P2')])$$, 'P2''s cache is exact');

select tests.authenticate_as(tests.school_id('T1'));
select is(
  (select jsonb_build_object('submission', r -> 'submission', 'cell', tests.brief_cell(r -> 'cell'))
   from public.results_reset_feedback(tests.school_id('AN'), tests.school_id('P1')) as r),
  '{"submission": null, "cell": {"state": "untouched", "score": 0, "source": "missing"}}'::jsonb,
  'reset where there is no submission returns the untouched cell'
);
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'and enqueues nobody');

-- 7. Bad input: the SQLSTATE, and nothing changes ---------------------------------------------------
insert into checksums select 'bad', tests.domain_checksum();
select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.results_save_feedback(null, tests.school_id('P1'), 0.5)$$, 'PLV01', null, 'save: activity_id NULL -> PLV01');
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), null, 0.5)$$, 'PLV01', null, 'save: pupil_id NULL -> PLV01');
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'))$$, 'PLV01', null,
  'save: nothing to save -> PLV01');
-- Only the service role is told which id is unknown or unassigned; a teacher gets 42501 for each
-- (tests/sql/security/hostile.test.sql).
select tests.authenticate_as_service_role();
select throws_ok($$select public.results_save_feedback(tests.school_id('NONE'), tests.school_id('P1'), 0.5)$$, 'PLN03', null,
  'save: unknown activity -> PLN03');
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('NONE'), 0.5)$$, 'PLN01', null,
  'save: unknown pupil -> PLN01');
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P4'), 0.5)$$, 'PLV04', null,
  'save: a pupil in no class with this work -> PLV04');
select throws_ok($$select public.results_save_feedback(tests.school_id('A2'), tests.school_id('P1'), 0.5)$$, 'PLV04', null,
  'save: a lesson not assigned to the pupil''s classes -> PLV04');
select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), -0.1)$$, 'PLV02', null,
  'save: override -0.1 -> PLV02');
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), 1.1)$$, 'PLV02', null,
  'save: override 1.1 -> PLV02');
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": 1.1}]')$$, tests.school_id('C1')),
  'PLV02', null, 'save: criterion score 1.1 -> PLV02'
);
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": -0.1}]')$$, tests.school_id('C1')),
  'PLV02', null, 'save: criterion score -0.1 -> PLV02'
);
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": 1}]')$$, tests.school_id('C4')),
  'PLV03', null, 'save: a criterion not linked to the activity -> PLV03'
);
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": 1}, {"success_criteria_id": "%s", "score": 1}]')$$,
    tests.school_id('C2'), tests.school_id('C4')),
  'PLV03', null, 'save: a valid mark followed by an unlinked one -> PLV03 (the valid one is not written)'
);
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": 1}]')$$, tests.school_id('NONE')),
  'PLN05', null, 'save: unknown criterion -> PLN05'
);
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '{"success_criteria_id": "%s", "score": 1}')$$, tests.school_id('C1')),
  'PLV10', null, 'save: criterion_scores not an array -> PLV10'
);
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s"}]')$$, tests.school_id('C1')),
  'PLV10', null, 'save: an item without score -> PLV10'
);
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": "1"}]')$$, tests.school_id('C1')),
  'PLV10', null, 'save: a score given as a string -> PLV10'
);
select throws_ok(
  $$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "not-a-uuid", "score": 1}]')$$,
  'PLV10', null, 'save: a criterion id that is not a uuid -> PLV10'
);
select throws_ok(
  format($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'),
    criterion_scores => '[{"success_criteria_id": "%s", "score": 1}, {"success_criteria_id": "%s", "score": 0}]')$$,
    tests.school_id('C1'), tests.school_id('C1')),
  'PLV10', null, 'save: the same criterion twice -> PLV10'
);
select throws_ok(
  $$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), criterion_scores => '[{"score": 0.5}]')$$,
  'PLV10', null, 'save: an item without success_criteria_id -> PLV10'
);
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), feedback => repeat('x', 20001))$$,
  'PLV07', null, 'save: feedback of 20001 characters -> PLV07');
select throws_ok($$select public.results_reset_feedback(null, tests.school_id('P1'))$$, 'PLV01', null, 'reset: activity_id NULL -> PLV01');
select throws_ok($$select public.results_reset_feedback(tests.school_id('AT'), null)$$, 'PLV01', null, 'reset: pupil_id NULL -> PLV01');
select tests.authenticate_as_service_role();
select throws_ok($$select public.results_reset_feedback(tests.school_id('NONE'), tests.school_id('P1'))$$, 'PLN03', null,
  'reset: unknown activity -> PLN03');
select throws_ok($$select public.results_reset_feedback(tests.school_id('AT'), tests.school_id('NONE'))$$, 'PLN01', null,
  'reset: unknown pupil -> PLN01');
select throws_ok($$select public.results_reset_feedback(tests.school_id('AT'), tests.school_id('P4'))$$, 'PLV04', null,
  'reset: a pupil in no class with this work -> PLV04');
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'bad'),
  'after every bad call the domain tables and the queue are unchanged');

-- 8. Access -------------------------------------------------------------------------------------------
insert into checksums select 'access', tests.domain_checksum();
select tests.authenticate_as_anon();
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), 0.5)$$, '42501', null,
  'anon: results_save_feedback -> 42501');
select throws_ok($$select public.results_reset_feedback(tests.school_id('AT'), tests.school_id('P1'))$$, '42501', null,
  'anon: results_reset_feedback -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('T2'));
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), 0.5)$$, '42501', null,
  'a teacher of another class (T2) marking P1 -> 42501');
select throws_ok($$select public.results_reset_feedback(tests.school_id('AT'), tests.school_id('P1'))$$, '42501', null,
  'T2 resetting P1''s feedback -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P3'), 0.5)$$, '42501', null,
  'T1 marking P3 (a pupil of another class with the same lesson) -> 42501');
select throws_ok($$select public.results_reset_feedback(tests.school_id('AT'), tests.school_id('P3'))$$, '42501', null,
  'T1 resetting P3''s feedback -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('P1'));
select throws_ok($$select public.results_save_feedback(tests.school_id('AT'), tests.school_id('P1'), 1)$$, '42501', null,
  'a pupil marking their own work -> 42501');
select throws_ok($$select public.results_reset_feedback(tests.school_id('AT'), tests.school_id('P1'))$$, '42501', null,
  'a pupil resetting their own feedback -> 42501');
select throws_ok(
  $$insert into public.submission_criterion_scores (submission_id, success_criteria_id, score)
    select submission_id, tests.school_id('C2'), 1 from public.submissions where user_id = tests.school_id('P1')$$,
  '42501', null, 'a direct insert of a criterion mark as authenticated -> 42501'
);
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'access'), 'refused callers changed nothing');

select * from finish();
rollback;
