-- private.import_map_units: a unit of a known subject and a year of 7-13 gets a stable id; an
-- untitled one its code as title; the others are reported.
begin;
\ir mapper_helpers.psql
select plan(6);

insert into legacy.units (unit_id, title, subject, year) values
('LG-U14', 'Too old', 'LG-Computing', 14), ('LG-UX', 'Elsewhere', 'Nope', 8), ('LG-UNT', null, 'LG-Computing', 9);
create temporary table run on commit drop as select tests.import_until('units') as run_id;

select is(private.import_map_units((select run_id from run)), '{"units": 3}'::jsonb, 'three units written');
select is(
  tests.import_issues('units'), '{"unknown_subject": 1, "year_out_of_range": 1}'::jsonb, 'the others reported'
);
select is(
  (select u.title from public.units as u where u.unit_id = private.import_uuid('unit', 'BEBRAS-7')), 'Bebras challenge',
  'a unit code gets the uuid import_uuid derives'
);
select is(
  (select u.title from public.units as u where u.unit_id = private.import_uuid('unit', 'LG-UNT')), 'LG-UNT',
  'an untitled unit is titled with its code'
);
select is(private.import_map_units((select run_id from run)), '{"units": 0}'::jsonb, 'a second run writes nothing');
select ok(tests.import_private('private.import_map_units(bigint)'), 'no API role may call it');

select * from finish();
rollback;
