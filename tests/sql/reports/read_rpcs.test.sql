-- The report read RPCs as the teacher, a teacher of another class, the pupil, another pupil, anon
-- and the service role; unknown ids get their own error.
begin;
\ir ../helpers.psql
select plan(20);

select tests.build_worked_example();
select tests.create_user('other.teacher@example.test', 'Olga', 'Other', true, 'e0000000-0000-4000-8000-000000000011');
select tests.create_user('other.pupil@example.test', 'Omar', 'Other', false, 'e0000000-0000-4000-8000-000000000012');
insert into public.groups (group_id, subject, join_code) values ('WE-9Z-IT', 'WE-Computing', 'we-join-2');
insert into public.group_membership (group_id, user_id, role) values
  ('WE-9Z-IT', 'e0000000-0000-4000-8000-000000000011', 'teacher'),
  ('WE-9Z-IT', 'e0000000-0000-4000-8000-000000000012', 'pupil');
-- A classmate of the worked-example pupil.
select tests.create_user('classmate@example.test', 'Cleo', 'Classmate', false, 'e0000000-0000-4000-8000-000000000013');
insert into public.group_membership (group_id, user_id, role) values ('WE-8A-IT', 'e0000000-0000-4000-8000-000000000013', 'pupil');
select private.report_backfill_all(250);

-- The teacher of the class.
select tests.authenticate_as('e0000000-0000-4000-8000-000000000001');
select is(public.report_pupil('e0000000-0000-4000-8000-000000000002') #>> '{subjects,0,units,0,assessment_level}', '4M',
  'the teacher reads the pupil report');
select is(json_array_length(public.report_group('WE-8A-IT') -> 'pupils'), 2, 'the teacher reads the class report: 2 pupils');
select is(public.report_group('WE-8A-IT') #>> '{pupils,0,last_name}', 'Classmate', 'pupils sorted by last name');
select throws_ok($$select public.report_group('WE-9Z-IT')$$, '42501', 'class WE-9Z-IT is unknown or you do not teach it',
  'but not the report of a class taught by someone else');
select throws_ok($$select public.report_pupil('e0000000-0000-4000-8000-000000000012')$$, '42501', null,
  'nor a pupil of another class');

-- A teacher of another class.
select tests.authenticate_as('e0000000-0000-4000-8000-000000000011');
select throws_ok($$select public.report_pupil('e0000000-0000-4000-8000-000000000002')$$, '42501',
  'pupil e0000000-0000-4000-8000-000000000002 is unknown or you may not read their work',
  'a teacher of another class cannot read the pupil report');
select throws_ok($$select public.report_group('WE-8A-IT')$$, '42501', null, 'nor the class report');
select is_empty($$select * from public.report_pupil_unit_summaries where pupil_id = 'e0000000-0000-4000-8000-000000000002'$$,
  'nor the cached rows directly (RLS)');

-- The pupil.
select tests.authenticate_as('e0000000-0000-4000-8000-000000000002');
select is(public.report_pupil('e0000000-0000-4000-8000-000000000002') #>> '{subjects,0,units,0,assessment_average}', '0.6250',
  'the pupil reads their own report');
select throws_ok($$select public.report_group('WE-8A-IT')$$, '42501', null, 'a pupil cannot read the class report');
select throws_ok($$select public.report_pupil('e0000000-0000-4000-8000-000000000013')$$, '42501', null,
  'nor a classmate''s report');
select is((select count(*) from public.report_pupil_unit_summaries), 1::bigint, 'the pupil sees only their own cached rows');

-- Another pupil.
select tests.authenticate_as('e0000000-0000-4000-8000-000000000012');
select throws_ok($$select public.report_pupil('e0000000-0000-4000-8000-000000000002')$$, '42501', null,
  'another pupil cannot read the report');
select is_empty($$select * from public.report_pupil_criterion_scores$$, 'and sees no cached rows (has none)');

-- anon.
select tests.authenticate_as_anon();
select throws_ok($$select public.report_pupil('e0000000-0000-4000-8000-000000000002')$$, '42501', null,
  'anon cannot call report_pupil');
select throws_ok($$select public.report_group('WE-8A-IT')$$, '42501', null, 'anon cannot call report_group');
select throws_ok($$select * from public.report_pupil_unit_summaries$$, '42501', null, 'anon cannot read the cache tables');

-- Unknown ids (the service role sees everything, so the error is about the id).
select tests.authenticate_as_service_role();
select throws_ok($$select public.report_pupil('00000000-0000-4000-8000-00000000dead')$$, 'PLN01',
  'unknown pupil 00000000-0000-4000-8000-00000000dead', 'an unknown pupil: PLN01');
select throws_ok($$select public.report_group('NO-SUCH-CLASS')$$, 'PLN02', 'unknown class NO-SUCH-CLASS',
  'an unknown class: PLN02');
select throws_ok($$select public.report_pupil(null)$$, 'PLV01', 'pupil_id is required', 'a missing id: PLV01');

select * from finish();
rollback;
