-- private.import_map_criteria: the success criteria of imported objectives at levels 0-9; the others
-- are reported.
begin;
\ir mapper_helpers.psql
select plan(5);

insert into legacy.success_criteria (success_criteria_id, learning_objective_id, level, description) values
('LG-C10', '1e6ac000-0000-4000-8000-0000000000b0', 10, 'Ten'), ('LG-CX', 'NO-OBJ', 1, 'X');
create temporary table run on commit drop as select tests.import_until('criteria') as run_id;

select is(private.import_map_criteria((select run_id from run)), '{"success_criteria": 4}'::jsonb, 'four criteria written');
select is(
  tests.import_issues('success_criteria'), '{"orphan": 1, "level_out_of_range": 1}'::jsonb, 'the others reported'
);
select is(
  (select (c.learning_objective_id, c.level, c.description) from public.success_criteria as c
   where c.success_criteria_id = '1e6ac000-0000-4000-8000-0000000000c3'),
  ('1e6ac000-0000-4000-8000-0000000000b0'::uuid, 2, 'S3'::text), 'a criterion keeps its uuid, objective and level'
);
select is(
  private.import_map_criteria((select run_id from run)), '{"success_criteria": 0}'::jsonb, 'a second run writes nothing'
);
select ok(tests.import_private('private.import_map_criteria(bigint)'), 'no API role may call it');

select * from finish();
rollback;
