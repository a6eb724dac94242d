-- The results grid (docs/scoring.md): public.read_assignment_results and the targeted refetch
-- public.read_assignment_results_slice, on the worked example (tests.build_worked_example: teacher T
-- ...0001, pupil P ...0002 in WE-8A-IT; lesson b1 holds A1, A2; lesson b2 holds A3, A4 and the display
-- activity A5). Cells: A1 marked 1 auto, A2 marked 0.75 teacher_criteria, A3 untouched 0 (missing),
-- A4 awaiting_marking NULL; A5 is not a column. Means count missing work as 0 and leave out work
-- awaiting marking. Only teachers of the class (and service_role) may read it.
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(64);

select tests.build_worked_example();

create temporary table g (name text primary key, r jsonb) on commit drop;
grant select, insert on g to anon, authenticated, service_role;

-- The worked example's ids.
create or replace function tests.example_id(p_name text)
returns uuid
language sql
immutable
as $$
  select ('e0000000-0000-4000-8000-' || case p_name
    when 'T' then '000000000001' when 'P' then '000000000002' when 'Q' then '000000000003'
    when 'R' then '000000000004' when 'T2' then '000000000005'
    when 'L1' then '0000000000b1' when 'L2' then '0000000000b2' when 'L3' then '0000000000b3'
    when 'A1' then '0000000000d1' when 'A2' then '0000000000d2' when 'A3' then '0000000000d3'
    when 'A4' then '0000000000d4' when 'A5' then '0000000000d5'
    when 'E1' then '0000000000e1' when 'E2' then '0000000000e2' when 'E4' then '0000000000e4'
    when 'NONE' then '0000000000ff'
  end)::uuid
$$;

-- A cell of a stored grid.
create or replace function tests.example_cell(p_grid text, p_pupil text, p_activity text)
returns jsonb
language sql
as $$
  select c
  from g, jsonb_array_elements(g.r -> 'cells') as c
  where g.name = p_grid and c ->> 'pupilId' = tests.example_id(p_pupil)::text and c ->> 'activityId' = tests.example_id(p_activity)::text
$$;

-- The cells of a stored grid that match a pupil and/or an activity, in the grid's order.
create or replace function tests.example_cells(p_grid text, p_pupil text, p_activity text)
returns jsonb
language sql
as $$
  select coalesce(jsonb_agg(c order by n), '[]'::jsonb)
  from g, jsonb_array_elements(g.r -> 'cells') with ordinality as x (c, n)
  where
    g.name = p_grid
    and (p_pupil is null or c ->> 'pupilId' = tests.example_id(p_pupil)::text)
    and (p_activity is null or c ->> 'activityId' = tests.example_id(p_activity)::text)
$$;
grant execute on all functions in schema tests to anon, authenticated, service_role;

-- Another teacher with a class of their own, and a lesson of the unit that is not assigned.
select from tests.create_user('we.t2@example.test', 'Ted', 'Other', true, tests.example_id('T2'));
insert into public.groups (group_id, subject, join_code) values ('WE-8B-IT', 'WE-Computing', 'we-join-2');
insert into public.group_membership (group_id, user_id, role) values ('WE-8B-IT', tests.example_id('T2'), 'teacher');
insert into public.lessons (lesson_id, unit_id, title, order_by) values
(tests.example_id('L3'), 'e0000000-0000-4000-8000-0000000000a0', 'WE Lesson 3', 3);

-- 1. The worked example, lesson 1 ----------------------------------------------------------------------
select tests.authenticate_as(tests.example_id('T'));
select lives_ok($$insert into g select 'g1', public.read_assignment_results('WE-8A-IT', tests.example_id('L1'))$$,
  'T reads the grid of lesson 1');
select lives_ok($$insert into g select 'g2', public.read_assignment_results('WE-8A-IT', tests.example_id('L2'))$$,
  'T reads the grid of lesson 2');
select tests.clear_authentication();
select is(
  (select array_agg(k order by k) from g, jsonb_object_keys(g.r) as k where g.name = 'g1'),
  array['activities', 'assignmentId', 'cells', 'columnMeans', 'feedbackVisible', 'groupId', 'lessonId', 'lessonTitle', 'pupils', 'rowMeans'],
  'the grid''s keys'
);
select is(
  (select jsonb_build_object('assignmentId', r -> 'assignmentId', 'groupId', r -> 'groupId', 'lessonId', r -> 'lessonId',
    'lessonTitle', r -> 'lessonTitle') from g where name = 'g1'),
  jsonb_build_object('assignmentId', 'WE-8A-IT__' || tests.example_id('L1'), 'groupId', 'WE-8A-IT', 'lessonId', tests.example_id('L1'),
    'lessonTitle', 'WE Lesson 1'),
  'assignmentId {groupId}__{lessonId}, groupId, lessonId, lessonTitle'
);
select is((select r -> 'pupils' from g where name = 'g1'),
  jsonb_build_array(jsonb_build_object('pupilId', tests.example_id('P'), 'firstName', 'Pat', 'lastName', 'Pupil')),
  'pupils: P');
select is((select r -> 'activities' from g where name = 'g1'),
  jsonb_build_array(
    jsonb_build_object('activityId', tests.example_id('A1'), 'title', 'A1', 'type', 'multiple-choice-question',
      'isSummative', false, 'orderBy', 1),
    jsonb_build_object('activityId', tests.example_id('A2'), 'title', 'A2', 'type', 'short-text-question',
      'isSummative', true, 'orderBy', 2)),
  'activities of lesson 1: A1, A2 by order_by');
select is((select jsonb_array_length(r -> 'cells') from g where name = 'g1'), 2, 'two cells');
select is(
  (select array_agg(k order by k) from jsonb_object_keys(tests.example_cell('g1', 'P', 'A1')) as k),
  array['activityId', 'aiFeedback', 'aiMarkedAt', 'aiScore', 'hasUpload', 'pupilId', 'revision', 'score', 'source',
    'state', 'status', 'submissionId', 'submittedAt', 'updatedAt'],
  'a cell''s keys'
);
select is(tests.example_cell('g1', 'P', 'A1') - 'updatedAt',
  jsonb_build_object('pupilId', tests.example_id('P'), 'activityId', tests.example_id('A1'), 'state', 'marked', 'score', 1,
    'source', 'auto', 'submissionId', tests.example_id('E1'), 'status', 'submitted',
    'revision', (select s.revision from public.submissions as s where s.submission_id = tests.example_id('E1')),
    'submittedAt', '2026-09-10 09:00+00'::timestamptz, 'hasUpload', false, 'aiScore', null, 'aiFeedback', null,
    'aiMarkedAt', null),
  'A1: marked, 1, auto');
select is(tests.example_cell('g1', 'P', 'A2') - 'updatedAt',
  jsonb_build_object('pupilId', tests.example_id('P'), 'activityId', tests.example_id('A2'), 'state', 'marked', 'score', 0.75,
    'source', 'teacher_criteria', 'submissionId', tests.example_id('E2'), 'status', 'submitted',
    'revision', (select s.revision from public.submissions as s where s.submission_id = tests.example_id('E2')),
    'submittedAt', '2026-09-10 09:05+00'::timestamptz, 'hasUpload', false, 'aiScore', 0.6, 'aiFeedback', null,
    'aiMarkedAt', '2026-09-10 10:00+00'::timestamptz),
  'A2: marked, 0.75 (the teacher''s criterion marks outrank the AI score 0.6), teacher_criteria, with the AI fields');
select is(tests.example_cell('g1', 'P', 'A1') -> 'updatedAt',
  (select to_jsonb(s.updated_at) from public.submissions as s where s.submission_id = tests.example_id('E1')),
  'updatedAt is the submission''s updated_at');
select is((select r -> 'rowMeans' from g where name = 'g1'), jsonb_build_object(tests.example_id('P'), 0.875),
  'row mean of P: mean(1, 0.75) = 0.875');
select is((select r -> 'columnMeans' from g where name = 'g1'),
  jsonb_build_object(tests.example_id('A1'), 1, tests.example_id('A2'), 0.75), 'column means: A1 1, A2 0.75');

-- 2. The worked example, lesson 2 ----------------------------------------------------------------------
select is((select jsonb_agg(a -> 'title') from g, jsonb_array_elements(r -> 'activities') as a where name = 'g2'),
  '["A3", "A4"]', 'activities of lesson 2: A3, A4 (A5 is display only: not a column)');
select is_empty(
  $$select from g, jsonb_array_elements(r -> 'cells') as c where name = 'g2' and c ->> 'activityId' = tests.example_id('A5')::text$$,
  'no cell for A5'
);
select is(tests.example_cell('g2', 'P', 'A3'),
  jsonb_build_object('pupilId', tests.example_id('P'), 'activityId', tests.example_id('A3'), 'state', 'untouched', 'score', 0,
    'source', 'missing', 'submissionId', null, 'revision', null, 'status', null, 'submittedAt', null, 'hasUpload', false,
    'aiScore', null, 'aiFeedback', null, 'aiMarkedAt', null, 'updatedAt', null),
  'A3: untouched, 0 (missing work counts against the pupil), source missing');
select is(tests.example_cell('g2', 'P', 'A4') - 'updatedAt',
  jsonb_build_object('pupilId', tests.example_id('P'), 'activityId', tests.example_id('A4'), 'state', 'awaiting_marking',
    'score', null, 'source', null, 'submissionId', tests.example_id('E4'), 'status', 'submitted',
    'revision', (select s.revision from public.submissions as s where s.submission_id = tests.example_id('E4')),
    'submittedAt', '2026-09-11 09:00+00'::timestamptz, 'hasUpload', false, 'aiScore', null, 'aiFeedback', null,
    'aiMarkedAt', null),
  'A4: awaiting_marking, no score, no source');
select is((select r -> 'rowMeans' from g where name = 'g2'), jsonb_build_object(tests.example_id('P'), 0),
  'row mean of P: 0 (A3 missing counts 0, A4 awaiting marking is left out)');
select is((select r -> 'columnMeans' from g where name = 'g2'),
  jsonb_build_object(tests.example_id('A3'), 0, tests.example_id('A4'), null),
  'column means: A3 0, A4 NULL (nothing in it has a score)');

-- 3. The one definition: every cell's score and source are private.live_cells' ---------------------------
select is(
  (select count(*)::int
   from g, jsonb_array_elements(g.r -> 'cells') as c
   inner join private.live_cells(array[tests.example_id('P')]) as l
     on l.pupil_id = (c ->> 'pupilId')::uuid and l.activity_id = (c ->> 'activityId')::uuid
   where g.name in ('g1', 'g2')
     and (c -> 'score') = coalesce(to_jsonb(l.cell_score), 'null') and (c -> 'source') = coalesce(to_jsonb(l.source), 'null')
     and (c ->> 'submissionId')::uuid is not distinct from l.submission_id),
  (select count(*)::int from private.live_cells(array[tests.example_id('P')])),
  'every cell of the two grids carries live_cells'' score, source and submission, and every live cell is on a grid'
);
-- A call filtered to activities computes only their scores and gives exactly their cells (what a write
-- returns and broadcasts).
select bag_eq(
  $$select f.* from private.live_cells(array[tests.example_id('P')]) as c
    cross join lateral private.live_cells(array[tests.example_id('P')], null, array[c.activity_id]) as f$$,
  $$select * from private.live_cells(array[tests.example_id('P')])$$,
  'live_cells filtered to one activity gives that activity''s cell of the unfiltered call, once'
);
select is(
  (select count(*)::int from private.live_cells(array[tests.example_id('P')], null, array[tests.example_id('A5')])),
  0,
  'live_cells filtered to the display activity A5 (not scorable) gives no cell'
);

-- 4. More pupils: sorted by last then first name, means rounded half-up ---------------------------------
-- Q (Bea Adams): A1 overridden 0.0001 on paper, nothing else; R (Ann Pupil): nothing.
select from tests.create_user('we.q@example.test', 'Bea', 'Adams', false, tests.example_id('Q'));
select from tests.create_user('we.r@example.test', 'Ann', 'Pupil', false, tests.example_id('R'));
insert into public.group_membership (group_id, user_id, role) values
('WE-8A-IT', tests.example_id('Q'), 'pupil'), ('WE-8A-IT', tests.example_id('R'), 'pupil');
insert into public.submissions (activity_id, user_id, status, submitted_at, override_score, override_at)
values (tests.example_id('A1'), tests.example_id('Q'), 'completed', now(), 0.0001, now());
select tests.authenticate_as(tests.example_id('T'));
select lives_ok($$insert into g select 'g3', public.read_assignment_results('WE-8A-IT', tests.example_id('L1'))$$,
  'T reads lesson 1 with three pupils');
select tests.clear_authentication();
select is((select jsonb_agg(p -> 'pupilId') from g, jsonb_array_elements(r -> 'pupils') as p where name = 'g3'),
  jsonb_build_array(tests.example_id('Q'), tests.example_id('R'), tests.example_id('P')), 'pupils: Adams Bea, Pupil Ann, Pupil Pat');
select is(
  (select jsonb_agg(jsonb_build_array(c -> 'pupilId', c -> 'activityId')) from g, jsonb_array_elements(r -> 'cells') as c
   where name = 'g3'),
  jsonb_build_array(
    jsonb_build_array(tests.example_id('Q'), tests.example_id('A1')), jsonb_build_array(tests.example_id('Q'), tests.example_id('A2')),
    jsonb_build_array(tests.example_id('R'), tests.example_id('A1')), jsonb_build_array(tests.example_id('R'), tests.example_id('A2')),
    jsonb_build_array(tests.example_id('P'), tests.example_id('A1')), jsonb_build_array(tests.example_id('P'), tests.example_id('A2'))),
  'cells: pupil by pupil in the pupils'' order, activities in their order'
);
select is((select r -> 'rowMeans' from g where name = 'g3'),
  jsonb_build_object(tests.example_id('Q'), 0.0001, tests.example_id('R'), 0, tests.example_id('P'), 0.875),
  'row means: Q mean(0.0001, 0) = 0.00005 rounds half-up to 0.0001; R 0; P 0.875');
select is((select r -> 'columnMeans' from g where name = 'g3'),
  jsonb_build_object(tests.example_id('A1'), 0.3334, tests.example_id('A2'), 0.25),
  'column means: A1 mean(0.0001, 0, 1) = 0.3334; A2 mean(0, 0, 0.75) = 0.25');
select is(tests.example_cell('g3', 'Q', 'A1') ->> 'source', 'override', 'Q''s A1: source override');

-- 5. The slice: one row, one column or one cell, equal to the matching part of the grid ---------------------
select tests.authenticate_as(tests.example_id('T'));
select lives_ok(
  $$insert into g select 'row_p', public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), pupil_id => tests.example_id('P'))$$,
  'T reads P''s row');
select lives_ok(
  $$insert into g select 'col_a1', public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), activity_id => tests.example_id('A1'))$$,
  'T reads A1''s column');
select lives_ok(
  $$insert into g select 'cell', public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), tests.example_id('Q'), tests.example_id('A2'))$$,
  'T reads one cell');
select lives_ok(
  $$insert into g select 'col_a5', public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L2'), activity_id => tests.example_id('A5'))$$,
  'T reads the column of the display activity A5');
select tests.clear_authentication();
select is((select r - 'cells' from g where name = 'row_p'),
  jsonb_build_object('assignmentId', 'WE-8A-IT__' || tests.example_id('L1'), 'groupId', 'WE-8A-IT', 'lessonId', tests.example_id('L1'),
    'pupilId', tests.example_id('P'), 'activityId', null),
  'the slice says which assignment, pupil and activity it holds');
select is((select r -> 'cells' from g where name = 'row_p'), tests.example_cells('g3', 'P', null),
  'P''s row equals P''s cells of the full grid');
select is((select r -> 'cells' from g where name = 'col_a1'), tests.example_cells('g3', null, 'A1'),
  'A1''s column equals A1''s cells of the full grid, in the same order');
select is((select r -> 'cells' from g where name = 'cell'), tests.example_cells('g3', 'Q', 'A2'),
  'the single cell equals that cell of the full grid');
select is((select jsonb_array_length(r -> 'cells') from g where name = 'col_a1'), 3, 'a column has a cell per pupil');
select is((select r -> 'cells' from g where name = 'col_a5'), '[]'::jsonb, 'A5 is not on the grid: no cells');

-- 6. Errors ------------------------------------------------------------------------------------------
select tests.authenticate_as(tests.example_id('T'));
select is(tests.sqlstate_of($$select public.read_assignment_results('NOPE', tests.example_id('L1'))$$), '42501',
  'unknown class: 42501 to a teacher, the same answer as a class someone else teaches');
select is(tests.sqlstate_of($$select public.read_assignment_results('WE-8A-IT', tests.example_id('L3'))$$), 'PLN07',
  'a lesson not assigned to the class: PLN07');
select is(tests.sqlstate_of($$select public.read_assignment_results('WE-8A-IT', tests.example_id('NONE'))$$), 'PLN04',
  'unknown lesson: PLN04');
select is(tests.sqlstate_of($$select public.read_assignment_results('WE-8A-IT', null)$$), 'PLV01', 'no lesson: PLV01');
select is(tests.sqlstate_of($$select public.read_assignment_results(null, tests.example_id('L1'))$$), 'PLV01', 'no class: PLV01');
select is(tests.sqlstate_of($$select public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'))$$), 'PLV01',
  'a slice of nothing: PLV01');
select is(
  tests.sqlstate_of($$select public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), tests.example_id('NONE'))$$),
  'PLV04', 'a slice of an unknown pupil: PLV04 to a teacher (not a pupil of the class: profiles are not theirs to probe)');
select is(
  tests.sqlstate_of($$select public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), tests.example_id('T'))$$),
  'PLV04', 'a slice of someone who is not a pupil of the class: PLV04');
select is(
  tests.sqlstate_of($$select public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), activity_id => tests.example_id('NONE'))$$),
  'PLN03', 'a slice of an unknown activity: PLN03');
select is(
  tests.sqlstate_of($$select public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), activity_id => tests.example_id('A3'))$$),
  'PLV06', 'a slice of an activity of another lesson: PLV06');
select is(tests.sqlstate_of($$select public.read_assignment_results_slice('NOPE', tests.example_id('L1'), tests.example_id('P'))$$),
  '42501', 'a slice of an unknown class: 42501 to a teacher');
select tests.authenticate_as_service_role();
select is(tests.sqlstate_of($$select public.read_assignment_results('NOPE', tests.example_id('L1'))$$), 'PLN02',
  'unknown class: PLN02 to the service role');
select is(
  tests.sqlstate_of($$select public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), tests.example_id('NONE'))$$),
  'PLN01', 'a slice of an unknown pupil: PLN01 to the service role');
select is(tests.sqlstate_of($$select public.read_assignment_results_slice('NOPE', tests.example_id('L1'), tests.example_id('P'))$$),
  'PLN02', 'a slice of an unknown class: PLN02 to the service role');
select tests.clear_authentication();

-- 7. Access ----------------------------------------------------------------------------------------------
select tests.authenticate_as(tests.example_id('T2'));
select is(tests.sqlstate_of($$select public.read_assignment_results('WE-8A-IT', tests.example_id('L1'))$$), '42501',
  'a teacher of another class: 42501');
select is(
  tests.sqlstate_of($$select public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), tests.example_id('P'))$$), '42501',
  'a teacher of another class, slice: 42501');
select is(tests.sqlstate_of($$select public.read_assignment_results('WE-8A-IT', tests.example_id('L3'))$$), '42501',
  'a teacher of another class learns nothing about the class''s lessons: 42501 before PLN07');
select tests.clear_authentication();
select tests.authenticate_as(tests.example_id('P'));
select is(tests.sqlstate_of($$select public.read_assignment_results('WE-8A-IT', tests.example_id('L1'))$$), '42501',
  'a pupil of the class: 42501');
select is(
  tests.sqlstate_of($$select public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), tests.example_id('P'))$$), '42501',
  'a pupil of the class, own row: 42501');
select tests.clear_authentication();
select tests.authenticate_as_anon();
select is(tests.sqlstate_of($$select public.read_assignment_results('WE-8A-IT', tests.example_id('L1'))$$), '42501',
  'anon: 42501');
select is(
  tests.sqlstate_of($$select public.read_assignment_results_slice('WE-8A-IT', tests.example_id('L1'), tests.example_id('P'))$$), '42501',
  'anon, slice: 42501');
select tests.clear_authentication();
select tests.authenticate_as_service_role();
select is(public.read_assignment_results('WE-8A-IT', tests.example_id('L1')), (select r from g where name = 'g3'),
  'service_role reads the same grid as the teacher');
select tests.clear_authentication();
select ok(
  not has_function_privilege('anon', 'public.read_assignment_results(text, uuid)', 'execute')
  and not has_function_privilege('anon', 'public.read_assignment_results_slice(text, uuid, uuid, uuid)', 'execute'),
  'anon may not execute either RPC'
);
select ok(
  has_function_privilege('authenticated', 'public.read_assignment_results(text, uuid)', 'execute')
  and has_function_privilege('authenticated', 'public.read_assignment_results_slice(text, uuid, uuid, uuid)', 'execute')
  and has_function_privilege('service_role', 'public.read_assignment_results(text, uuid)', 'execute')
  and has_function_privilege('service_role', 'public.read_assignment_results_slice(text, uuid, uuid, uuid)', 'execute'),
  'authenticated and service_role may execute both'
);

-- 8. A class without pupils, an inactive lesson ---------------------------------------------------------
insert into public.lesson_assignments (group_id, lesson_id) values ('WE-8B-IT', tests.example_id('L1'));
select tests.authenticate_as(tests.example_id('T2'));
select is(
  (select jsonb_build_object('pupils', x -> 'pupils', 'activities', jsonb_array_length(x -> 'activities'), 'cells', x -> 'cells',
    'rowMeans', x -> 'rowMeans', 'columnMeans', x -> 'columnMeans')
   from public.read_assignment_results('WE-8B-IT', tests.example_id('L1')) as x),
  jsonb_build_object('pupils', '[]'::jsonb, 'activities', 2, 'cells', '[]'::jsonb, 'rowMeans', '{}'::jsonb,
    'columnMeans', jsonb_build_object(tests.example_id('A1'), null, tests.example_id('A2'), null)),
  'a class without pupils: the columns, no cells, NULL column means'
);
select tests.clear_authentication();
update public.lessons set active = false where lesson_id = tests.example_id('L1');
select tests.authenticate_as(tests.example_id('T'));
select is(
  (select jsonb_build_object('activities', x -> 'activities', 'cells', x -> 'cells', 'rowMeans', x -> 'rowMeans')
   from public.read_assignment_results('WE-8A-IT', tests.example_id('L1')) as x),
  jsonb_build_object('activities', '[]'::jsonb, 'cells', '[]'::jsonb,
    'rowMeans', jsonb_build_object(tests.example_id('Q'), null, tests.example_id('R'), null, tests.example_id('P'), null)),
  'an inactive lesson counts for nothing: no columns, no cells'
);
select tests.clear_authentication();

select * from finish();
rollback;
