-- private.import_map_lessons: the lessons of imported units; a lesson of an unknown unit is reported.
begin;
\ir mapper_helpers.psql
select plan(5);

insert into legacy.lessons (lesson_id, unit_id, title, order_by) values ('LG-L-BLANK', 'BEBRAS-7', '  ', 7);
create temporary table run on commit drop as select tests.import_until('lessons') as run_id;

select is(private.import_map_lessons((select run_id from run)), '{"lessons": 4}'::jsonb, 'four lessons written');
select is(tests.import_issues('lessons'), '{"orphan": 1}'::jsonb, 'the lesson of an unknown unit reported');
select is(
  (select (l.unit_id, l.title, l.order_by) from public.lessons as l
   where l.lesson_id = private.import_uuid('lesson', 'LG-L-BLANK')),
  (private.import_uuid('unit', 'BEBRAS-7'), 'Untitled lesson'::text, 7),
  'a blank title becomes Untitled lesson, under its unit'
);
select is(private.import_map_lessons((select run_id from run)), '{"lessons": 0}'::jsonb, 'a second run writes nothing');
select ok(tests.import_private('private.import_map_lessons(bigint)'), 'no API role may call it');

select * from finish();
rollback;
