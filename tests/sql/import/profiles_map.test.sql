-- private.import_map_profiles: every profile becomes an auth user and a profile with the same id; an
-- email that is malformed or another person's is replaced and reported, a missing one replaced
-- silently; a second run writes nothing.
begin;
\ir mapper_helpers.psql
select plan(8);

select tests.create_user('taken@planner.test', 'Other', 'Person');
insert into legacy.profiles (user_id, first_name, last_name, email) values
('1e6ac000-0000-4000-8000-000000000004', 'Mal', 'Formed', 'nope'),
('1e6ac000-0000-4000-8000-000000000005', 'Dup', 'Licate', 'taken@planner.test');
create temporary table run on commit drop as select tests.import_until('profiles') as run_id;

select is(private.import_map_profiles((select run_id from run)), '{"profiles": 5}'::jsonb, 'five profiles written');
select is(tests.import_issues('profiles'), '{"email": 2}'::jsonb, 'the malformed and the taken email reported');
select is(
  (select array_agg(p.email order by p.user_id) from public.profiles as p where p.last_name in ('Formed', 'Licate')),
  array[
    '1e6ac000-0000-4000-8000-000000000004@planner-import.invalid', '1e6ac000-0000-4000-8000-000000000005@planner-import.invalid'
  ], 'a refused email becomes <id>@planner-import.invalid'
);
select is(
  (select (p.last_name, p.email) from public.profiles as p where p.user_id = '1e6ac000-0000-4000-8000-000000000003'),
  ('Unknown'::text, '1e6ac000-0000-4000-8000-000000000003@planner-import.invalid'::text),
  'a missing name and email are filled in'
);
select is(
  (select count(*)::int from auth.users as u where u.id::text like '1e6ac000-0000-4000-8000-00000000000_'), 5,
  'each has an auth user'
);
select is(
  (select count(*)::int from private.import_ids as m where m.kind = 'user' and m.first_run_id = (select run_id from run)),
  5, 'five user ids allocated in this run'
);
select is(private.import_map_profiles((select run_id from run)), '{"profiles": 0}'::jsonb, 'a second run writes nothing');
select ok(tests.import_private('private.import_map_profiles(bigint)'), 'no API role may call it');

select * from finish();
rollback;
