-- Which work counts (docs/scoring.md): assigned, active, scorable; counted once; no summative
-- work; years outside 7-11; rows that vanish.
begin;
\ir ../helpers.psql
select plan(16);

select tests.build_class(8);
create temporary table ids (name text primary key, id uuid) on commit drop;
insert into ids values
  ('a1', tests.add_activity('f0000000-0000-4000-8000-0000000000b1', 'short-text-question', false, '{1}')),
  ('display', tests.add_activity('f0000000-0000-4000-8000-0000000000b1', 'display-text', false, '{1}')),
  ('inactive', tests.add_activity('f0000000-0000-4000-8000-0000000000b1', 'short-text-question', false, '{1}'));
update public.activities set active = false where activity_id = (select id from ids where name = 'inactive');
select tests.submit('f0000000-0000-4000-8000-000000000002', (select id from ids where name = 'a1'), p_ai => 0.8);
select private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002');

select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).activity_count, 1,
  'unscorable and inactive activities are ignored');
select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).assessment_average, null::numeric,
  'no summative work: assessment_average is NULL');
select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).assessment_level, null,
  'no summative work: no assessment level');
select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).activities_average, 0.8::numeric,
  'the activities average still counts');

-- A second class of the same pupil with the same lesson assigned: counted once.
insert into public.groups (group_id, subject, join_code) values ('SC-CLASS-2', 'SC-Subject', 'sc-join-2');
insert into public.group_membership (group_id, user_id, role) values ('SC-CLASS-2', 'f0000000-0000-4000-8000-000000000002', 'pupil');
insert into public.lesson_assignments (group_id, lesson_id) values ('SC-CLASS-2', 'f0000000-0000-4000-8000-0000000000b1');
select is(
  private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002') ->> 'changed', 'false',
  'a lesson assigned to two of the pupil''s classes changes nothing'
);
select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).activity_count, 1, 'and is counted once');

-- An unassigned lesson of the same unit does not count.
insert into public.lessons (lesson_id, unit_id, title) values
  ('f0000000-0000-4000-8000-0000000000b2', 'f0000000-0000-4000-8000-0000000000a0', 'Unassigned lesson');
select tests.add_activity('f0000000-0000-4000-8000-0000000000b2', 'short-text-question', true, '{2}');
select is(
  private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002') ->> 'changed', 'false',
  'an unassigned lesson does not count'
);

-- Summative work with a level: Year 8 at 80 % is 5M (78 needed; 5H needs 83).
update public.activities set is_summative = true where activity_id = (select id from ids where name = 'a1');
select private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002');
select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).assessment_level, '5M', 'Year 8 at 80 % is 5M');

-- A year outside 7-11 has no boundaries: no level, averages still computed.
update public.units set year = 12 where unit_id = 'f0000000-0000-4000-8000-0000000000a0';
select private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002');
select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).assessment_level, null, 'Year 12: no level');
select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).assessment_average, 0.8::numeric,
  'Year 12: the average is still there');
select is((tests.unit_row('f0000000-0000-4000-8000-000000000002')).unit_year, 12, 'the unit year is refreshed');

-- An inactive lesson, then an inactive unit: the unit row vanishes (no row where A(p, u) is empty).
update public.units set year = 8 where unit_id = 'f0000000-0000-4000-8000-0000000000a0';
update public.lessons set active = false where lesson_id = 'f0000000-0000-4000-8000-0000000000b1';
select is(
  private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002') -> 'units' ->> 'deleted', '1',
  'an inactive lesson removes the unit row'
);
select is_empty(
  $$select 1 from public.report_pupil_criterion_scores where pupil_id = 'f0000000-0000-4000-8000-000000000002'
    union all select 1 from public.report_pupil_subject_summaries where pupil_id = 'f0000000-0000-4000-8000-000000000002'$$,
  'with its criteria and subject rows'
);
update public.lessons set active = true where lesson_id = 'f0000000-0000-4000-8000-0000000000b1';
update public.units set active = false where unit_id = 'f0000000-0000-4000-8000-0000000000a0';
select is(
  private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002') ->> 'changed', 'false',
  'an inactive unit counts for nothing'
);

-- Leaving every class removes the pupil's rows.
update public.units set active = true where unit_id = 'f0000000-0000-4000-8000-0000000000a0';
select private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002');
delete from public.group_membership where user_id = 'f0000000-0000-4000-8000-000000000002';
select is(
  private.report_recalculate_pupil('f0000000-0000-4000-8000-000000000002') -> 'units' ->> 'deleted', '1',
  'a pupil removed from every class loses the unit row'
);
select is(
  (select version from public.report_pupil_versions where pupil_id = 'f0000000-0000-4000-8000-000000000002'),
  6::bigint, 'every recalculation that changed something bumped the version: 6 of the 8'
);

select * from finish();
rollback;
