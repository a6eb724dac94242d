-- private.import_map_memberships: a membership of an imported class and user; a teacher listed as a
-- pupil is a teacher; an orphan or an unknown role is reported and left out.
begin;
\ir mapper_helpers.psql
select plan(5);

insert into legacy.group_membership (group_id, user_id, role) values
('WE 8A', '1e6ac000-0000-4000-8000-000000000003', 'admin');
select tests.import_until('memberships');

select is(private.import_map_memberships(), '{"group_membership": 4}'::jsonb, 'four memberships written');
select is(tests.import_issues('group_membership'), '{"orphan": 1, "unknown_role": 1}'::jsonb, 'the ghost and the admin reported');
select is(
  (select m.role from public.group_membership as m
   where m.group_id = '25-7A-IT' and m.user_id = '1e6ac000-0000-4000-8000-000000000001'),
  'teacher', 'a teacher listed as a pupil is a teacher'
);
select is(private.import_map_memberships(), '{"group_membership": 0}'::jsonb, 'a second run writes nothing');
select ok(tests.import_private('private.import_map_memberships()'), 'no API role may call it');

select * from finish();
rollback;
