-- Each branch of the criterion score (docs/scoring.md, "Cells"), activities without criteria, and
-- resubmission clearing marks.
begin;
\ir ../helpers.psql
select plan(20);

-- The scalar definition, rule by rule.
select is(private.criterion_score(false, 1, 1, 1, 1), 0::numeric, 'rule 1: no submission scores 0 whatever else');
select is(private.criterion_score(true, 0.3, 0.9, 0.8, 1), 0.3::numeric, 'rule 2: the teacher mark wins');
select is(private.criterion_score(true, null, 0.9, 0.8, 1), 0.9::numeric, 'rule 3: then the override');
select is(private.criterion_score(true, null, null, 0.8, 1), 0.8::numeric, 'rule 4: then the AI score');
select is(private.criterion_score(true, null, null, null, 1), 1::numeric, 'rule 5: then the auto score');
select is(private.criterion_score(true, null, null, null, null), null::numeric, 'rule 6: else NULL (awaiting marking)');
select is(private.criterion_score(true, 0, 1, 1, 1), 0::numeric, 'a teacher mark of 0 is a mark, not a gap');
select results_eq(
  $$values (private.score_source(false, null, null, null, null)), (private.score_source(true, 1, 1, 1, 1)),
    (private.score_source(true, null, 1, 1, 1)), (private.score_source(true, null, null, 1, 1)),
    (private.score_source(true, null, null, null, 1)), (private.score_source(true, null, null, null, null))$$,
  $$values ('missing'), ('teacher_criteria'), ('override'), ('ai'), ('auto'), (null::text)$$,
  'score_source names the rule that applied'
);

-- Through the tables.
select tests.build_class(8);
create temporary table ids (name text primary key, id uuid) on commit drop;
insert into ids values
  ('crit', tests.add_activity('f0000000-0000-4000-8000-0000000000b1', 'short-text-question', false, '{1,2}')),
  ('plain', tests.add_activity('f0000000-0000-4000-8000-0000000000b1', 'short-text-question', false, '{}')),
  ('mcq', tests.add_activity('f0000000-0000-4000-8000-0000000000b1', 'multiple-choice-question', false, '{}'));
insert into ids select 'sub', tests.submit('f0000000-0000-4000-8000-000000000002', (select id from ids where name = 'crit'), p_ai => 0.4);
insert into public.submission_criterion_scores (submission_id, success_criteria_id, score)
select (select id from ids where name = 'sub'), l.success_criteria_id, 0.9
from public.activity_success_criteria as l
join public.success_criteria as sc using (success_criteria_id)
where l.activity_id = (select id from ids where name = 'crit') and sc.level = 1;

select is(
  tests.cell('f0000000-0000-4000-8000-000000000002', (select id from ids where name = 'crit')),
  0.6500::numeric, 'a cell mixes a teacher criterion mark (0.9) and the AI fallback (0.4): 0.65'
);
select is(
  (select source from private.live_cells(array['f0000000-0000-4000-8000-000000000002'::uuid])
   where activity_id = (select id from ids where name = 'crit')),
  'teacher_criteria', 'the cell source is teacher_criteria when any criterion has a teacher mark'
);

-- Activities without criteria use rules 1, 3, 4, 5, 6 directly.
select is(
  tests.cell('f0000000-0000-4000-8000-000000000002', (select id from ids where name = 'plain')),
  0::numeric, 'no criteria, nothing submitted: 0'
);
select tests.submit('f0000000-0000-4000-8000-000000000002', (select id from ids where name = 'plain'), p_ai => 0.7, p_override => 0.2);
select is(
  tests.cell('f0000000-0000-4000-8000-000000000002', (select id from ids where name = 'plain')),
  0.2::numeric, 'no criteria: the override beats the AI score'
);
select tests.submit('f0000000-0000-4000-8000-000000000002', (select id from ids where name = 'mcq'), p_auto => 1);
select is(
  tests.cell('f0000000-0000-4000-8000-000000000002', (select id from ids where name = 'mcq')),
  1::numeric, 'no criteria: the auto score'
);
select tests.submit('f0000000-0000-4000-8000-000000000003', (select id from ids where name = 'plain'));
select is(
  tests.cell('f0000000-0000-4000-8000-000000000003', (select id from ids where name = 'plain')),
  null::numeric, 'no criteria, submitted and unmarked: NULL'
);

select lives_ok($$select private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000003')$$, 'recalculates');
select results_eq(
  $$select activity_count, marked_count, missing_count, awaiting_marking_count
    from tests.unit_row('f0000000-0000-4000-8000-000000000003')$$,
  $$values (3, 0, 2, 1)$$,
  'pupil 2: one awaiting, two missing'
);

-- Resubmission: new work is unmarked work. The marks are cleared and the cell goes back to awaiting.
select private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002');
select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).awaiting_marking_count, 0, 'before: nothing awaiting');
delete from public.submission_criterion_scores where submission_id = (select id from ids where name = 'sub');
update public.submissions
set ai_score = null, ai_feedback = null, ai_meta = null, ai_marked_at = null, override_score = null,
  override_at = null, override_by = null, teacher_feedback = null, body = '{"text": "new answer"}'
where submission_id = (select id from ids where name = 'sub');
select is(
  private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002') ->> 'changed', 'true',
  'the resubmission changes the report'
);
select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).awaiting_marking_count, 1, 'after: the cell awaits marking');
select is(
  (select count(*) from public.report_pupil_criterion_scores
   where pupil_id = 'f0000000-0000-4000-8000-000000000002' and activities_score is not null),
  0::bigint, 'and its criteria have no score (awaiting marking is excluded from every average)'
);

select * from finish();
rollback;
