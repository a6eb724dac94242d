-- The stored class pages (public.report_group_documents): every change to what a class page shows
-- records the class in private.report_group_changes; report_group never returns a stale page (it
-- derives the page while a change waits); the queue's drain rebuilds each changed class once; the
-- verification finds a tampered page. Fixture: tests/sql/writes_helpers.psql.
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(22);

select tests.build_school();
select private.report_groups_refresh(null);

-- The classes with a change waiting.
create function tests.changed_groups()
returns setof text
language sql
as $$
  select distinct c.group_id from private.report_group_changes as c
$$;

select is_empty($$select * from tests.changed_groups()$$, 'after a refresh no class waits');
select is(
  (select count(*)::integer from public.report_group_documents where group_id in ('W-7A', 'W-7B')), 2,
  'both classes have a stored page'
);
select is(
  private.report_group_stored('W-7B')::text, private.report_group_document('W-7B')::text,
  'the stored page of W-7B is the page derived from the cached rows'
);
select is_empty($$select * from private.report_group_differences(null)$$, 'no class page differs');

-- A teacher reads the stored page; a teacher of another class gets nothing from the stored read.
select tests.authenticate_as(tests.school_id('T2'));
select is(public.report_group('W-7B')::text, private.report_group_document('W-7B')::text, 'T2 reads W-7B''s page');
select ok(private.report_group_stored('W-7B') is not null, 'from the stored document');
select ok(private.report_group_stored('W-7A') is null, 'the stored read of a class T2 does not teach gives nothing');
select tests.clear_authentication();

-- A mark changes P3's U9 row: W-7B (assigned L9 of U9, P3 a pupil) waits; W-7A does not.
select tests.authenticate_as(tests.school_id('T2'));
select public.results_save_feedback(tests.school_id('A9'), tests.school_id('P3'), 0.3);
select tests.clear_authentication();
select is_empty($$select * from tests.changed_groups()$$, 'the write itself records no class: the recalculation does');
select from private.report_recalculate_pupil(tests.school_id('P3'), array[tests.school_id('U9')]);
select set_eq($$select * from tests.changed_groups()$$, array['W-7B'], 'the recalculation records W-7B only');
select ok(private.report_group_stored('W-7B') is null, 'its stored page is not served while the change waits');
select ok(
  public.report_group('W-7B')::text like '%0.3000%',
  'report_group derives the page meanwhile: it shows the new mark'
);
select tests.clear_queue();
select is((public.report_jobs_process(10, 1000) ->> 'groups_refreshed')::integer, 1, 'the next drain refreshes W-7B');
select is_empty($$select * from tests.changed_groups()$$, 'and nothing waits');
select is(
  private.report_group_stored('W-7B')::text, private.report_group_document('W-7B')::text,
  'the stored page shows the new mark'
);

-- Changes that do not pass through a pupil's rows.
select tests.authenticate_as(tests.school_id('T1'));
select public.lessons_assign('W-7A', tests.school_id('L2'));
select tests.clear_authentication();
select set_eq($$select * from tests.changed_groups()$$, array['W-7A'], 'a lesson assigned records its class');
select public.groups_add_member('W-7B', tests.school_id('P4'), 'pupil');
select set_eq($$select * from tests.changed_groups()$$, array['W-7A', 'W-7B'], 'a pupil added records the class');
select tests.authenticate_as(tests.school_id('T2'));
select public.units_update(tests.school_id('U9'), year => 10);
select tests.clear_authentication();
select is(
  (select count(*)::integer from private.report_group_changes where group_id = 'W-7B'), 2,
  'a unit''s year changed records the classes assigned its lessons'
);
select from tests.drain_queue();
select is_empty($$select * from tests.changed_groups()$$, 'the drain refreshes them all');
select is_empty($$select * from private.report_group_differences(null)$$, 'every stored page is current and exact');

-- A change committed while a refresh builds is kept: the refresh deletes only the changes it saw.
select private.report_groups_changed(array['W-7A']);
create temporary table seen on commit drop as select change_id from private.report_group_changes;
select private.report_groups_changed(array['W-7A']);
delete from private.report_group_changes where change_id in (select change_id from seen);
select is((select count(*)::integer from private.report_group_changes), 1, 'a later change stays recorded');
select from private.report_groups_refresh(null);

-- The verification finds a tampered page and records it for a refresh.
update public.report_group_documents set document = '{"tampered": true}' where group_id = 'W-7A';
select set_eq(
  $$select group_id, difference from private.report_group_differences(null)$$,
  $$values ('W-7A', 'different')$$,
  'report_group_differences finds the tampered page'
);
select is(
  (public.report_verify_and_enqueue(null) ->> 'groups_mismatched')::integer, 1,
  'report_verify_and_enqueue counts it and records the class, so report_group derives the page until the refresh'
);

select * from finish();
rollback;
