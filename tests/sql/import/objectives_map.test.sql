-- private.import_map_objectives: every learning objective, with a stable id; a blank title is filled in.
begin;
\ir mapper_helpers.psql
select plan(4);

insert into legacy.learning_objectives (learning_objective_id, assessment_objective_id, title) values
('LG-O2', 'ao-1', '  ');
create temporary table run on commit drop as select tests.import_until('objectives') as run_id;

select is(
  private.import_map_objectives((select run_id from run)), '{"learning_objectives": 2}'::jsonb, 'two objectives written'
);
select is(
  (select (o.title, o.order_by) from public.learning_objectives as o
   where o.learning_objective_id = private.import_uuid('objective', 'LG-O2')),
  ('Untitled objective'::text, 0), 'a blank title becomes Untitled objective'
);
select is(
  private.import_map_objectives((select run_id from run)), '{"learning_objectives": 0}'::jsonb,
  'a second run writes nothing'
);
select ok(tests.import_private('private.import_map_objectives(bigint)'), 'no API role may call it');

select * from finish();
rollback;
