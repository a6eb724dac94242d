-- private.import_map_subjects: a subject of 1-100 characters is upserted (active when the planner
-- says nothing), any other is left out; a second run writes nothing.
begin;
\ir mapper_helpers.psql
select plan(5);

insert into legacy.subjects (subject, active) values ('LG-Old', false), ('', true), (repeat('x', 101), true);
select tests.import_until('subjects');
select is(private.import_map_subjects(), '{"subjects": 2}'::jsonb, 'two subjects written');
select is(
  (select array_agg(s.active order by s.subject) from public.subjects as s where s.subject like 'LG-%'),
  array[true, false], 'LG-Computing active, LG-Old as the planner had it'
);
select is_empty(
  $$select from public.subjects where subject = '' or length(subject) > 100$$, 'an empty or too long name is left out'
);
select is(private.import_map_subjects(), '{"subjects": 0}'::jsonb, 'a second run writes nothing');
select ok(tests.import_private('private.import_map_subjects()'), 'no API role may call it');

select * from finish();
rollback;
