-- private.import_map_activity_criteria: a link of an imported activity and criterion; an orphan is
-- reported.
begin;
\ir mapper_helpers.psql
select plan(4);

select tests.import_until('activity_criteria');

select is(
  private.import_map_activity_criteria(), '{"activity_success_criteria": 8}'::jsonb, 'eight links written'
);
select is(
  (select array_agg(w.legacy_key) from private.import_work_issues as w
   where w.table_name = 'activity_success_criteria' and w.rule = 'orphan'),
  array['1e6ac000-0000-4000-8000-0000000000d7 / S-GONE'], 'the link to an unknown criterion reported'
);
select is(
  private.import_map_activity_criteria(), '{"activity_success_criteria": 0}'::jsonb, 'a second run writes nothing'
);
select ok(tests.import_private('private.import_map_activity_criteria()'), 'no API role may call it');

select * from finish();
rollback;
