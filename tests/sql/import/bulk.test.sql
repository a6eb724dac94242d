-- A bulk import (over 10,000 new answers, docs/import.md "Speed") drops the foreign keys and plain
-- indexes of submissions and criterion marks and makes them again: afterwards the catalog holds
-- exactly the same definitions, every row is there, and the keys hold.
begin;
\ir ../helpers.psql
select plan(7);

create temporary table catalog_before on commit drop as
select 'c' as kind, c.conname::text as name, pg_get_constraintdef(c.oid) as def
from pg_catalog.pg_constraint as c
where c.conrelid in ('public.submissions'::regclass, 'public.submission_criterion_scores'::regclass)
union all
select 'i', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
from pg_catalog.pg_index as i
where i.indrelid in ('public.submissions'::regclass, 'public.submission_criterion_scores'::regclass);

-- 101 pupils x 100 MCQ activities of one lesson, each answered once, with one criterion mark each.
create schema bulk;
create table bulk.profiles (user_id text, first_name text, last_name text, is_teacher boolean, email text);
create table bulk.subjects (subject text, active boolean);
create table bulk.groups (group_id text, join_code text, subject text, active boolean);
create table bulk.group_membership (group_id text, user_id text, role text);
create table bulk.units (unit_id text, title text, subject text, active boolean, description text, year integer);
create table bulk.lessons (lesson_id text, unit_id text, title text, active boolean, order_by integer);
create table bulk.lesson_assignments (group_id text, lesson_id text, start_date date);
create table bulk.learning_objectives (learning_objective_id text, title text, order_index integer);
create table bulk.success_criteria (
  success_criteria_id text, learning_objective_id text, level integer, description text, order_index integer
);
create table bulk.activities (
  activity_id text, lesson_id text, title text, type text, body_data jsonb, order_by integer, active boolean,
  is_summative boolean
);
create table bulk.activity_success_criteria (activity_id text, success_criteria_id text);
create table bulk.submissions (submission_id text, activity_id text, user_id text, submitted_at timestamptz, body json);
insert into bulk.profiles select 'bulk-pupil-' || n, 'Bulk', 'Pupil ' || n, false, 'bulk' || n || '@planner.test'
from generate_series(1, 101) as n;
insert into bulk.subjects values ('Bulk-Subject', true);
insert into bulk.groups values ('BULK 1', 'bulkjoin', 'Bulk-Subject', true);
insert into bulk.group_membership select 'BULK 1', 'bulk-pupil-' || n, 'pupil' from generate_series(1, 101) as n;
insert into bulk.units values ('BULK-UNIT', 'Bulk unit', 'Bulk-Subject', true, null, 9);
insert into bulk.lessons values ('bulk-lesson', 'BULK-UNIT', 'Bulk lesson', true, 1);
insert into bulk.lesson_assignments values ('BULK 1', 'bulk-lesson', '2026-09-01');
insert into bulk.learning_objectives values ('bulk-lo', 'Bulk objective', 1);
insert into bulk.success_criteria values ('bulk-sc', 'bulk-lo', 3, 'Bulk criterion', 1);
insert into bulk.activities
select 'bulk-activity-' || n, 'bulk-lesson', 'Q' || n, 'multiple-choice-question',
  '{"question": "?", "options": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}], "correctOptionId": "a"}', n, true,
  n % 4 = 0
from generate_series(1, 100) as n;
insert into bulk.activity_success_criteria select 'bulk-activity-' || n, 'bulk-sc' from generate_series(1, 100) as n;
insert into bulk.submissions
select 'bulk-sub-' || p || '-' || a, 'bulk-activity-' || a, 'bulk-pupil-' || p, '2026-09-10 09:00+00',
  json_build_object('answer_chosen', 'a', 'is_correct', (p + a) % 3 > 0, 'success_criteria_scores', json_build_object('bulk-sc', 0.5))
from generate_series(1, 101) as p, generate_series(1, 100) as a;

select is(
  (select private.import_planner('bulk', false, false) -> 'written' -> 'submissions'), '10100'::jsonb,
  'a bulk import writes every answer (10,100)'
);
select is(
  (select count(*)::int from public.submission_criterion_scores as m
   inner join public.submissions as s on m.submission_id = s.submission_id
   where s.user_id = private.import_uuid('user', 'bulk-pupil-1')),
  100, 'and their criterion marks'
);
select is(
  (select sum(auto_score)::int from public.submissions where activity_id = private.import_uuid('activity', 'bulk-activity-1')),
  67, 'is_correct read per answer (67 of 101 right on the first question)'
);
select set_eq(
  $$select 'c', c.conname::text, pg_get_constraintdef(c.oid) from pg_catalog.pg_constraint as c
    where c.conrelid in ('public.submissions'::regclass, 'public.submission_criterion_scores'::regclass)
    union all select 'i', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) from pg_catalog.pg_index as i
    where i.indrelid in ('public.submissions'::regclass, 'public.submission_criterion_scores'::regclass)$$,
  $$select kind, name, def from catalog_before$$,
  'the constraints and indexes of submissions and criterion marks are exactly as before'
);
select is(
  (select bool_and(c.convalidated) from pg_catalog.pg_constraint as c
   where c.contype = 'f' and c.conrelid in ('public.submissions'::regclass, 'public.submission_criterion_scores'::regclass)),
  true, 'the foreign keys are validated'
);
select throws_ok(
  $$insert into public.submissions (activity_id, user_id) values (gen_random_uuid(), private.import_uuid('user', 'bulk-pupil-1'))$$,
  '23503', null, 'and enforced again'
);
select is(
  (select private.import_planner('bulk', false, false) -> 'written' -> 'submissions'), '0'::jsonb,
  'a second bulk import writes nothing'
);

select * from finish();
rollback;
