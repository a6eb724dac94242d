-- The structural write RPCs: groups_add_member, groups_remove_member, lessons_assign, lessons_unassign,
-- activities_set_criteria, activities_update, lessons_set_active, units_update, level_boundaries_set.
-- Each returns the authoritative row, enqueues exactly the pupils whose reports it affects
-- (docs/workflow.md), and after a drain the cache of those pupils is exact. Bad input raises its SQLSTATE and
-- changes nothing; callers without the right get 42501.
-- Fixture: tests/sql/writes_helpers.psql (T1 teaches W-7A: P1, P2; T2 teaches W-7B: P3; T3 teaches nothing;
-- L1 is assigned to W-7A and W-7B, L9 (unit U9, year 9) to W-7B only).
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(152);

select tests.build_school();

-- 1. groups_add_member --------------------------------------------------------------------------------
select tests.authenticate_as_service_role();
select is(
  public.groups_add_member('W-7A', tests.school_id('P4'), 'pupil') - 'created_at',
  jsonb_build_object('group_id', 'W-7A', 'user_id', tests.school_id('P4'), 'role', 'pupil'),
  'the enrolment (service role) adds P4 to W-7A as a pupil: the membership row'
);
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P4')], 'P4 is enqueued, nobody else');
select from tests.drain_queue();
select is(
  (select activity_count from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P4') and unit_id = tests.school_id('U8')), 4,
  'P4 now has a report row for U8 (4 scorable activities)'
);
select is_empty($$select * from private.report_differences(array[tests.school_id('P4')])$$, 'P4''s cache is exact');

select tests.authenticate_as_service_role();
select is(public.groups_add_member('W-7A', tests.school_id('T3'), 'teacher') ->> 'role', 'teacher', 'the enrolment adds T3 as a teacher');
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'a new teacher enqueues nobody');

select tests.authenticate_as_service_role();
select is(public.groups_add_member('W-7A', tests.school_id('P2'), 'teacher') ->> 'role', 'teacher', 'the enrolment makes P2 a teacher of W-7A');
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P2')], 'pupil -> teacher enqueues P2');
select from tests.drain_queue();
select is_empty($$select from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P2')$$,
  'P2, a pupil nowhere now, has no report rows');
select is_empty($$select * from private.report_differences(array[tests.school_id('P2')])$$, 'P2''s cache is exact');

select tests.authenticate_as_service_role();
select is(public.groups_add_member('W-7A', tests.school_id('P2')) ->> 'role', 'pupil', 'the enrolment makes P2 a pupil again (the default role)');
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P2')], 'teacher -> pupil enqueues P2');
select from tests.drain_queue();
select is_empty($$select * from private.report_differences(array[tests.school_id('P2')])$$, 'P2''s cache is exact');

select tests.authenticate_as_service_role();
select is(public.groups_add_member('W-7A', tests.school_id('P1'), 'pupil') ->> 'role', 'pupil', 'adding P1 again as a pupil');
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'an unchanged membership enqueues nobody');

select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.groups_add_member('W-7A', tests.school_id('P3'))$$, '42501', null,
  'even the teacher of the class cannot enrol a pupil (it would open the pupil''s other work to them)');
select tests.clear_authentication();

-- 2. groups_remove_member ---------------------------------------------------------------------------
select tests.authenticate_as(tests.school_id('T1'));
select is(public.groups_remove_member('W-7A', tests.school_id('P4')), '{"removed": true, "role": "pupil"}',
  'T1 removes P4: removed, role pupil');
select tests.clear_authentication();
select is_empty($$select from public.group_membership where user_id = tests.school_id('P4')$$, 'the membership is gone');
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P4')], 'P4 is enqueued');
select from tests.drain_queue();
select is_empty($$select from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P4')$$,
  'P4''s report rows are gone');
select is_empty($$select * from private.report_differences(array[tests.school_id('P4')])$$, 'P4''s cache is exact');
select tests.authenticate_as(tests.school_id('T1'));
select is(public.groups_remove_member('W-7A', tests.school_id('P4')), '{"removed": false, "role": null}',
  'removing again: removed false');
select throws_ok($$select public.groups_remove_member('W-7A', tests.school_id('T3'))$$, '42501', null,
  'T1 may not remove the teacher T3: who teaches a class is the enrolment''s to say');
select tests.authenticate_as_service_role();
select is(public.groups_remove_member('W-7A', tests.school_id('T3')), '{"removed": true, "role": "teacher"}',
  'the service role removes the teacher T3');
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'neither enqueues anybody');

-- 3. lessons_assign / lessons_unassign ----------------------------------------------------------------
select tests.authenticate_as(tests.school_id('T1'));
select is(
  public.lessons_assign('W-7A', tests.school_id('L2'), '2026-10-01'),
  jsonb_build_object('group_id', 'W-7A', 'lesson_id', tests.school_id('L2'), 'start_date', '2026-10-01', 'feedback_visible', false),
  'T1 assigns L2 to W-7A: the assignment row'
);
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1'), tests.school_id('P2')], 'W-7A''s pupils are enqueued');
select from tests.drain_queue();
select is(
  (select activity_count from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P1') and unit_id = tests.school_id('U8')), 5,
  'P1''s U8 row counts L2''s activity too (5)'
);
select is_empty($$select * from private.report_differences(array[tests.school_id('P1'), tests.school_id('P2')])$$,
  'the cache of P1 and P2 is exact');
select tests.authenticate_as(tests.school_id('T1'));
select is(
  public.lessons_assign('W-7A', tests.school_id('L2'), feedback_visible => true) - 'group_id' - 'lesson_id',
  '{"start_date": "2026-10-01", "feedback_visible": true}',
  'assigning again changes feedback visibility and keeps the start date'
);
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'an existing assignment enqueues nobody');

select tests.authenticate_as(tests.school_id('T1'));
select is(public.lessons_unassign('W-7A', tests.school_id('L2')), '{"unassigned": true}', 'T1 unassigns L2');
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1'), tests.school_id('P2')], 'W-7A''s pupils are enqueued');
select from tests.drain_queue();
select is(
  (select activity_count from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P1') and unit_id = tests.school_id('U8')), 4,
  'P1''s U8 row is back to 4 activities'
);
select is_empty($$select * from private.report_differences(array[tests.school_id('P1'), tests.school_id('P2')])$$,
  'the cache of P1 and P2 is exact');
select tests.authenticate_as(tests.school_id('T1'));
select is(public.lessons_unassign('W-7A', tests.school_id('L2')), '{"unassigned": false}', 'unassigning again: false');
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'and enqueues nobody');

-- 4. activities_set_criteria (any teacher) ----------------------------------------------------------
select tests.authenticate_as(tests.school_id('T2'));
select is(
  public.activities_set_criteria(tests.school_id('AT'), array[tests.school_id('C4'), tests.school_id('C1')]),
  jsonb_build_object('activity_id', tests.school_id('AT'), 'success_criteria_ids', jsonb_build_array(tests.school_id('C1'), tests.school_id('C4')),
    'changed', true),
  'T2 replaces AT''s criteria with C1 and C4'
);
select tests.clear_authentication();
select set_eq(
  $$select success_criteria_id from public.activity_success_criteria where activity_id = tests.school_id('AT')$$,
  array[tests.school_id('C1'), tests.school_id('C4')], 'the stored links are C1 and C4'
);
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')],
  'the pupils of both classes with L1 assigned are enqueued');
select from tests.drain_queue();
select is(
  (select level from public.report_pupil_criterion_scores where pupil_id = tests.school_id('P3') and success_criteria_id = tests.school_id('C4')),
  3::smallint, 'P3''s cache now has criterion C4 (level 3)'
);
select is_empty($$select * from private.report_differences(array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')])$$,
  'their cache is exact');
select tests.authenticate_as(tests.school_id('T2'));
select is(public.activities_set_criteria(tests.school_id('AT'), array[tests.school_id('C1'), tests.school_id('C4')]) -> 'changed', 'false',
  'the same links again: changed false');
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'and nobody is enqueued');

-- 5. activities_update -------------------------------------------------------------------------------
select tests.authenticate_as(tests.school_id('T2'));
select is(
  public.activities_update(tests.school_id('AT'), is_summative => false) -> 'is_summative', 'false', 'AT is no longer summative'
);
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')],
  'summative changed: the pupils with L1 assigned are enqueued');
select from tests.drain_queue();
select is(
  (select assessment_average from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P3') and unit_id = tests.school_id('U8')),
  0::numeric, 'P3''s U8 assessment average now counts only AU (missing: 0)'
);
select is_empty($$select * from private.report_differences(array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')])$$,
  'their cache is exact');
select tests.authenticate_as(tests.school_id('T2'));
select is(public.activities_update(tests.school_id('AT'), active => false) -> 'active', 'false', 'AT is deactivated');
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')],
  'active changed: enqueued');
select tests.clear_queue();
select tests.authenticate_as(tests.school_id('T2'));
select is(
  public.activities_update(tests.school_id('AT'), active => true, type => 'long-text-question') - 'activity_id' - 'lesson_id'
    - 'title' - 'body_data' - 'order_by',
  '{"type": "long-text-question", "active": true, "is_summative": false}', 'AT is active again, as a long text question'
);
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')],
  'type changed: enqueued');
select from tests.drain_queue();
select is_empty($$select * from private.report_differences(array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')])$$,
  'their cache is exact');
select tests.authenticate_as(tests.school_id('T2'));
select is(public.activities_update(tests.school_id('AT'), is_summative => false) ->> 'type', 'long-text-question',
  'an update that changes nothing returns the activity');
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'and enqueues nobody');

-- 6. lessons_set_active -------------------------------------------------------------------------------
select tests.authenticate_as(tests.school_id('T2'));
select is(public.lessons_set_active(tests.school_id('L9'), false) -> 'active', 'false', 'L9 is deactivated');
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P3')], 'only P3 (W-7B has L9) is enqueued');
select from tests.drain_queue();
select is_empty($$select from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P3') and unit_id = tests.school_id('U9')$$,
  'P3''s U9 row is gone');
select is_empty($$select * from private.report_differences(array[tests.school_id('P3')])$$, 'P3''s cache is exact');
select tests.authenticate_as(tests.school_id('T2'));
select is(public.lessons_set_active(tests.school_id('L9'), false) -> 'active', 'false', 'deactivating again');
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'an unchanged lesson enqueues nobody');
select tests.authenticate_as(tests.school_id('T2'));
select is(public.lessons_set_active(tests.school_id('L9'), true) -> 'active', 'true', 'L9 is active again');
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P3')], 'P3 is enqueued');
select from tests.drain_queue();
select is(
  (select assessment_level from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P3') and unit_id = tests.school_id('U9')),
  '5M', 'P3''s U9 row is back: 70 % in Year 9 is 5M'
);

-- 7. level_boundaries_set (service role) --------------------------------------------------------------
select tests.authenticate_as_service_role();
select is(public.level_boundaries_set(9, '{"0": 0, "1L": 50, "2L": 80}'), '{"year": 9, "labels": 3}',
  'the service role replaces the Year 9 boundaries');
select tests.clear_authentication();
select results_eq(
  $$select label, rank, min_percent from public.level_boundaries where year = 9 order by rank$$,
  $$values ('0', 0, 0::numeric), ('1L', 1, 50), ('2L', 4, 80)$$,
  'Year 9 has exactly the new boundaries, with their ranks'
);
select is((select count(*)::int from public.level_boundaries where year = 8), 18, 'Year 8 is untouched');
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P3')],
  'only P3 (work in a Year 9 unit) is enqueued');
select from tests.drain_queue();
select is(
  (select assessment_level from public.report_pupil_unit_summaries where pupil_id = tests.school_id('P3') and unit_id = tests.school_id('U9')),
  '1L', 'the stored level follows the new boundaries: 70 % is now 1L'
);
select is_empty($$select * from private.report_differences(array[tests.school_id('P3')])$$, 'P3''s cache is exact');

-- 8. units_update --------------------------------------------------------------------------------------
select tests.authenticate_as(tests.school_id('T2'));
select is(public.units_update(tests.school_id('U9'), year => 10) -> 'year', '10', 'U9 moves to Year 10');
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P3')], 'P3 is enqueued');
select from tests.drain_queue();
select is(
  (select (unit_year, assessment_level)::text from public.report_pupil_unit_summaries
   where pupil_id = tests.school_id('P3') and unit_id = tests.school_id('U9')),
  '(10,6M)', 'P3''s row: Year 10, and 70 % in Year 10 is 6M'
);
select tests.authenticate_as(tests.school_id('T2'));
select is(public.units_update(tests.school_id('U9'), active => false) -> 'active', 'false', 'U9 is deactivated');
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P3')], 'P3 is enqueued');
select tests.authenticate_as(tests.school_id('T2'));
select is(public.units_update(tests.school_id('U8'), active => false) -> 'active', 'false', 'U8 is deactivated');
select tests.clear_authentication();
select set_eq($$select * from tests.pending_pupils()$$, array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')],
  'every pupil with a lesson of U8 is enqueued');
select is(
  (select j.unit_ids from private.report_jobs as j where j.pupil_id = tests.school_id('P3') and j.state = 'pending'),
  (select array_agg(u order by u) from unnest(array[tests.school_id('U8'), tests.school_id('U9')]) as u),
  'P3''s one job coalesces both units: U8 and U9, sorted'
);
select from tests.drain_queue();
select is_empty($$select from public.report_pupil_unit_summaries where pupil_id in (tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3'))$$,
  'no active unit left: no report rows');
select is_empty($$select * from private.report_differences(array[tests.school_id('P1'), tests.school_id('P2'), tests.school_id('P3')])$$,
  'their cache is exact');
select tests.authenticate_as(tests.school_id('T2'));
select is(public.units_update(tests.school_id('U8'), year => 8, active => false) -> 'year', '8', 'an update that changes nothing');
select tests.clear_authentication();
select is_empty($$select * from tests.pending_pupils()$$, 'enqueues nobody');

-- 9. Bad input: the SQLSTATE, and nothing changes ---------------------------------------------------
insert into checksums select 'bad', tests.domain_checksum();
select tests.authenticate_as(tests.school_id('T1'));
select tests.authenticate_as_service_role();
select throws_ok($$select public.groups_add_member(null, tests.school_id('P4'))$$, 'PLV01', null, 'add member: group_id NULL -> PLV01');
select throws_ok($$select public.groups_add_member('W-7A', null)$$, 'PLV01', null, 'add member: user_id NULL -> PLV01');
select throws_ok($$select public.groups_add_member('NOPE', tests.school_id('P4'))$$, 'PLN02', null, 'add member: unknown class -> PLN02');
select throws_ok($$select public.groups_add_member('W-7A', tests.school_id('NONE'))$$, 'PLN01', null, 'add member: unknown user -> PLN01');
select throws_ok($$select public.groups_add_member('W-7A', tests.school_id('P4'), 'admin')$$, 'PLV11', null,
  'add member: role admin -> PLV11');
select throws_ok($$select public.groups_add_member('W-7A', tests.school_id('P4'), null)$$, 'PLV11', null, 'add member: role NULL -> PLV11');
select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.groups_remove_member(null, tests.school_id('P1'))$$, 'PLV01', null, 'remove member: group_id NULL -> PLV01');
select throws_ok($$select public.groups_remove_member('W-7A', null)$$, 'PLV01', null, 'remove member: user_id NULL -> PLV01');
select throws_ok($$select public.groups_remove_member('NOPE', tests.school_id('P1'))$$, '42501', null, 'remove member: unknown class -> 42501 to a teacher');
select throws_ok($$select public.lessons_assign(null, tests.school_id('L2'))$$, 'PLV01', null, 'assign: group_id NULL -> PLV01');
select throws_ok($$select public.lessons_assign('W-7A', null)$$, 'PLV01', null, 'assign: lesson_id NULL -> PLV01');
select throws_ok($$select public.lessons_assign('NOPE', tests.school_id('L2'))$$, '42501', null, 'assign: unknown class -> 42501 to a teacher');
select throws_ok($$select public.lessons_assign('W-7A', tests.school_id('NONE'))$$, 'PLN04', null, 'assign: unknown lesson -> PLN04');
select throws_ok($$select public.lessons_unassign(null, tests.school_id('L1'))$$, 'PLV01', null, 'unassign: group_id NULL -> PLV01');
select throws_ok($$select public.lessons_unassign('W-7A', null)$$, 'PLV01', null, 'unassign: lesson_id NULL -> PLV01');
select throws_ok($$select public.lessons_unassign('NOPE', tests.school_id('L1'))$$, '42501', null, 'unassign: unknown class -> 42501 to a teacher');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('T2'));
select throws_ok($$select public.activities_set_criteria(null, array[tests.school_id('C1')])$$, 'PLV01', null,
  'set criteria: activity_id NULL -> PLV01');
select throws_ok($$select public.activities_set_criteria(tests.school_id('AT'), null)$$, 'PLV01', null,
  'set criteria: success_criteria_ids NULL -> PLV01');
select throws_ok($$select public.activities_set_criteria(tests.school_id('NONE'), array[tests.school_id('C1')])$$, 'PLN03', null,
  'set criteria: unknown activity -> PLN03');
select throws_ok($$select public.activities_set_criteria(tests.school_id('AT'), array[tests.school_id('C1'), tests.school_id('NONE')])$$, 'PLN05', null,
  'set criteria: unknown criterion -> PLN05');
select throws_ok($$select public.activities_set_criteria(tests.school_id('AT'), array[tests.school_id('C1'), null])$$, 'PLN05', null,
  'set criteria: a NULL criterion -> PLN05');
select throws_ok($$select public.activities_update(null, true)$$, 'PLV01', null, 'activity update: activity_id NULL -> PLV01');
select throws_ok($$select public.activities_update(tests.school_id('NONE'), true)$$, 'PLN03', null, 'activity update: unknown activity -> PLN03');
select throws_ok($$select public.activities_update(tests.school_id('AT'), type => 'essay')$$, 'PLV06', null,
  'activity update: unknown type -> PLV06');
select throws_ok($$select public.lessons_set_active(null, true)$$, 'PLV01', null, 'lesson active: lesson_id NULL -> PLV01');
select throws_ok($$select public.lessons_set_active(tests.school_id('L1'), null)$$, 'PLV01', null, 'lesson active: active NULL -> PLV01');
select throws_ok($$select public.lessons_set_active(tests.school_id('NONE'), true)$$, 'PLN04', null, 'lesson active: unknown lesson -> PLN04');
select throws_ok($$select public.units_update(null, 8)$$, 'PLV01', null, 'unit update: unit_id NULL -> PLV01');
select throws_ok($$select public.units_update(tests.school_id('NONE'), 8)$$, 'PLN06', null, 'unit update: unknown unit -> PLN06');
select throws_ok($$select public.units_update(tests.school_id('U8'), 6)$$, 'PLV08', null, 'unit update: year 6 -> PLV08');
select throws_ok($$select public.units_update(tests.school_id('U8'), 14)$$, 'PLV08', null, 'unit update: year 14 -> PLV08');
select tests.clear_authentication();
select tests.authenticate_as_service_role();
select throws_ok($$select public.level_boundaries_set(null, '{"0": 0}')$$, 'PLV01', null, 'boundaries: year NULL -> PLV01');
select throws_ok($$select public.level_boundaries_set(8, null)$$, 'PLV01', null, 'boundaries: boundaries NULL -> PLV01');
select throws_ok($$select public.level_boundaries_set(6, '{"0": 0}')$$, 'PLV08', null, 'boundaries: year 6 -> PLV08');
select throws_ok($$select public.level_boundaries_set(8, '[0, 6]')$$, 'PLV09', null, 'boundaries: not an object -> PLV09');
select throws_ok($$select public.level_boundaries_set(8, '{"0": 0, "10X": 50}')$$, 'PLV09', null,
  'boundaries: label 10X -> PLV09');
select throws_ok($$select public.level_boundaries_set(8, '{"0": 0, "1L": 20, "1M": 10}')$$, 'PLV09', null,
  'boundaries: decreasing percents -> PLV09');
select throws_ok($$select public.level_boundaries_set(8, '{"0": 0, "1L": 20, "1M": 20}')$$, 'PLV09', null,
  'boundaries: equal percents -> PLV09');
select throws_ok($$select public.level_boundaries_set(8, '{"1L": 6, "1M": 11}')$$, 'PLV09', null,
  'boundaries: label 0 missing -> PLV09');
select throws_ok($$select public.level_boundaries_set(8, '{"0": 5, "1L": 6}')$$, 'PLV09', null,
  'boundaries: label 0 not at 0 -> PLV09');
select throws_ok($$select public.level_boundaries_set(8, '{"0": 0, "1L": 101}')$$, 'PLV09', null,
  'boundaries: 101 % -> PLV09');
select throws_ok($$select public.level_boundaries_set(8, '{"0": 0, "1L": "six"}')$$, 'PLV09', null,
  'boundaries: a percent that is not a number -> PLV09');
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'bad'),
  'after every bad call the domain tables and the queue are unchanged');

-- 10. Access -------------------------------------------------------------------------------------------
insert into checksums select 'access', tests.domain_checksum();
select tests.authenticate_as_anon();
select throws_ok($$select public.groups_add_member('W-7A', tests.school_id('P4'))$$, '42501', null, 'anon: groups_add_member -> 42501');
select throws_ok($$select public.groups_remove_member('W-7A', tests.school_id('P1'))$$, '42501', null, 'anon: groups_remove_member -> 42501');
select throws_ok($$select public.lessons_assign('W-7A', tests.school_id('L2'))$$, '42501', null, 'anon: lessons_assign -> 42501');
select throws_ok($$select public.lessons_unassign('W-7A', tests.school_id('L1'))$$, '42501', null, 'anon: lessons_unassign -> 42501');
select throws_ok($$select public.activities_set_criteria(tests.school_id('AT'), array[tests.school_id('C1')])$$, '42501', null,
  'anon: activities_set_criteria -> 42501');
select throws_ok($$select public.activities_update(tests.school_id('AT'), true)$$, '42501', null, 'anon: activities_update -> 42501');
select throws_ok($$select public.lessons_set_active(tests.school_id('L1'), false)$$, '42501', null, 'anon: lessons_set_active -> 42501');
select throws_ok($$select public.units_update(tests.school_id('U8'), 9)$$, '42501', null, 'anon: units_update -> 42501');
select throws_ok($$select public.level_boundaries_set(8, '{"0": 0}')$$, '42501', null, 'anon: level_boundaries_set -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('T2'));
select throws_ok($$select public.groups_add_member('W-7A', tests.school_id('P4'))$$, '42501', null,
  'a teacher of another class (T2): groups_add_member on W-7A -> 42501');
select throws_ok($$select public.groups_remove_member('W-7A', tests.school_id('P1'))$$, '42501', null,
  'T2: groups_remove_member on W-7A -> 42501');
select throws_ok($$select public.lessons_assign('W-7A', tests.school_id('L2'))$$, '42501', null, 'T2: lessons_assign on W-7A -> 42501');
select throws_ok($$select public.lessons_unassign('W-7A', tests.school_id('L1'))$$, '42501', null, 'T2: lessons_unassign on W-7A -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('P1'));
select throws_ok($$select public.groups_add_member('W-7A', tests.school_id('P4'))$$, '42501', null, 'a pupil: groups_add_member -> 42501');
select throws_ok($$select public.groups_remove_member('W-7A', tests.school_id('P2'))$$, '42501', null,
  'a pupil: groups_remove_member -> 42501');
select throws_ok($$select public.lessons_assign('W-7A', tests.school_id('L2'))$$, '42501', null, 'a pupil: lessons_assign -> 42501');
select throws_ok($$select public.lessons_unassign('W-7A', tests.school_id('L1'))$$, '42501', null, 'a pupil: lessons_unassign -> 42501');
select throws_ok($$select public.activities_set_criteria(tests.school_id('AT'), array[tests.school_id('C1')])$$, '42501', null,
  'a pupil: activities_set_criteria -> 42501');
select throws_ok($$select public.activities_update(tests.school_id('AT'), true)$$, '42501', null, 'a pupil: activities_update -> 42501');
select throws_ok($$select public.lessons_set_active(tests.school_id('L1'), false)$$, '42501', null, 'a pupil: lessons_set_active -> 42501');
select throws_ok($$select public.units_update(tests.school_id('U8'), 9)$$, '42501', null, 'a pupil: units_update -> 42501');
select throws_ok($$select public.level_boundaries_set(8, '{"0": 0}')$$, '42501', null, 'a pupil: level_boundaries_set -> 42501');
select tests.clear_authentication();
select tests.authenticate_as(tests.school_id('T1'));
select throws_ok($$select public.level_boundaries_set(8, '{"0": 0}')$$, '42501', null, 'a teacher: level_boundaries_set -> 42501');
select throws_ok(
  $$insert into public.group_membership (group_id, user_id, role) values ('W-7A', tests.school_id('P4'), 'pupil')$$,
  '42501', null, 'a direct insert into public.group_membership as authenticated -> 42501'
);
select tests.clear_authentication();
select is(tests.domain_checksum(), (select ck from checksums where name = 'access'), 'refused callers changed nothing');

-- A teacher of no class of the subject may not change its curriculum (it would move other classes' reports).
select tests.authenticate_as(tests.school_id('T3'));
select throws_ok($$select public.activities_update(tests.school_id('AT'), is_summative => true)$$, '42501',
  'only teachers of this subject may change its curriculum', 'T3 (no class of the subject): activities_update -> 42501');
select throws_ok($$select public.units_update(tests.school_id('U8'), year => 9)$$, '42501', null,
  'T3: units_update -> 42501');
select tests.clear_authentication();

select * from finish();
rollback;
