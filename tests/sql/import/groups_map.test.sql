-- private.import_map_groups: a class of a known subject keeps a code the rule accepts and gets one
-- otherwise; a missing join code becomes planner-<hash>; an unknown subject is reported.
begin;
\ir mapper_helpers.psql
select plan(7);

insert into legacy.groups (group_id, join_code, subject, active) values
('LG-NOPE', 'lgjoin3', 'No-Subject', true), ('LG-9C', null, 'LG-Computing', false);
create temporary table run on commit drop as select tests.import_until('groups') as run_id;

select is(private.import_map_groups((select run_id from run)), '{"groups": 3}'::jsonb, 'three classes written');
select is(tests.import_issues('groups'), '{"unknown_subject": 1}'::jsonb, 'the class of an unknown subject reported');
select is(
  (select new_id from private.import_ids where kind = 'group' and legacy_id = '25-7A-IT'), '25-7A-IT',
  'a code the rule accepts is kept'
);
select is(
  (select new_id from private.import_ids where kind = 'group' and legacy_id = 'WE 8A'), 'WE-8A',
  'a code with a space is mapped'
);
select is(
  (select (g.join_code, g.active) from public.groups as g where g.group_id = 'LG-9C'),
  ('planner-' || left(md5('LG-9C'), 12), false), 'a missing join code becomes planner-<hash>'
);
select is(private.import_map_groups((select run_id from run)), '{"groups": 0}'::jsonb, 'a second run writes nothing');
select ok(tests.import_private('private.import_map_groups(bigint)'), 'no API role may call it');

select * from finish();
rollback;
