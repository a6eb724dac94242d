-- private.import_map_assignments: one row per class and lesson from the lesson assignments and the
-- lessons of active unit assignments (the earliest start, feedback visible if any row says so); an
-- orphan or a lesson of another subject than the class's is reported and left out.
begin;
\ir mapper_helpers.psql
select plan(6);

insert into legacy.subjects (subject) values ('LG-Art');
insert into legacy.units (unit_id, title, subject, year) values ('LG-ART-8', 'Art', 'LG-Art', 8);
insert into legacy.lessons (lesson_id, unit_id, title, order_by) values ('LG-ART-L1', 'LG-ART-8', 'Art 1', 1);
insert into legacy.lesson_assignments (group_id, lesson_id, start_date) values
('WE 8A', 'LG-ART-L1', '2026-09-04'), ('NO-CLASS', '1e6ac000-0000-4000-8000-0000000000a1', '2026-09-04');
insert into legacy.assignments (group_id, unit_id, start_date, end_date) values
('WE 8A', 'NO-UNIT-X', '2026-09-01', '2026-10-01');
select tests.import_until('assignments');

select is(private.import_map_assignments(), '{"lesson_assignments": 3}'::jsonb, 'three lesson assignments written');
select is(
  (select jsonb_build_object('lesson', tests.import_issues('lesson_assignments'), 'unit', tests.import_issues('assignments'))),
  '{"lesson": {"orphan": 1, "cross_subject_assignment": 1}, "unit": {"orphan": 1}}'::jsonb,
  'the orphans and the art lesson in a computing class reported'
);
select is(
  (select (a.start_date, a.feedback_visible) from public.lesson_assignments as a
   where a.group_id = 'WE-8A' and a.lesson_id = '1e6ac000-0000-4000-8000-0000000000a1'),
  ('2026-09-01'::date, true), 'the earliest start (the unit''s), feedback visible as one row says'
);
select is(
  (select (a.start_date, a.feedback_visible) from public.lesson_assignments as a
   where a.group_id = 'WE-8A' and a.lesson_id = '1e6ac000-0000-4000-8000-0000000000a2'),
  ('2026-09-01'::date, false), 'a lesson of the assigned unit is assigned'
);
select is(private.import_map_assignments(), '{"lesson_assignments": 0}'::jsonb, 'a second run writes nothing');
select ok(tests.import_private('private.import_map_assignments()'), 'no API role may call it');

select * from finish();
rollback;
