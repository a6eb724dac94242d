-- Row level security and grants: who reads what through the API roles.
--
-- Fixture: teacher T1 teaches class G1 (pupils P1, P2); teacher T2 teaches G2 (pupil P3); O is a
-- signed-in user in no class. Lesson L1 is assigned to G1, L2 to G2. Each pupil has one submission
-- (S1, S2, S3) with one criterion mark.
--   T1 = 5ec00000-0000-4000-8000-000000000001   P1 = ...0011   S1 = ...00a1
--   T2 = 5ec00000-0000-4000-8000-000000000002   P2 = ...0012   S2 = ...00a2
--   O  = 5ec00000-0000-4000-8000-000000000020   P3 = ...0013   S3 = ...00a3
-- Impersonation as PostgREST does it: set local role, then the JWT claims (`select from set_config`
-- discards the value set_config returns, so only TAP reaches pg_prove).
begin;
create extension if not exists pgtap with schema extensions;
select plan(84);

-- 1. Catalogue: RLS everywhere, no grants to anon, SELECT only for authenticated ------------------
select cmp_ok(
  (select count(*)::int from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
   where n.nspname = 'public' and c.relkind in ('r', 'p')),
  '>=', 15, 'schema public holds at least the 15 domain tables'
);
select is_empty(
  $$select c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relrowsecurity$$,
  'row level security is enabled on every table in schema public'
);
select is_empty(
  $$select c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and (has_table_privilege('anon', c.oid, 'select, insert, update, delete, truncate, references, trigger')
           or has_any_column_privilege('anon', c.oid, 'select, insert, update, references'))$$,
  'anon holds no privilege on any table, view or column in schema public (directly or through PUBLIC)'
);
select is_empty(
  $$select c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and (has_table_privilege('authenticated', c.oid, 'insert, update, delete, truncate, references, trigger')
           or has_any_column_privilege('authenticated', c.oid, 'insert, update, references'))$$,
  'authenticated can never write any table in schema public (writes go through the RPCs)'
);
select is_empty(
  $$select t from unnest(array[
      'profiles', 'subjects', 'groups', 'group_membership', 'units', 'lessons', 'lesson_assignments',
      'learning_objectives', 'success_criteria', 'activity_types', 'activities',
      'activity_success_criteria', 'submissions', 'submission_criterion_scores', 'level_boundaries'
    ]) as t
    where not has_table_privilege('authenticated', format('public.%I', t), 'select')$$,
  'authenticated may SELECT every domain table (RLS decides which rows)'
);
select is_empty(
  $$select c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p')
      and not has_table_privilege('service_role', c.oid, 'select, insert, update, delete')$$,
  'service_role holds full privileges on every table in schema public'
);
select ok(
  (select rolbypassrls from pg_roles where rolname = 'service_role'),
  'service_role bypasses row level security'
);

-- Fixture (as postgres) -------------------------------------------------------------------------
insert into auth.users (id, email) values
('5ec00000-0000-4000-8000-000000000001', 'rls.t1@example.test'),
('5ec00000-0000-4000-8000-000000000002', 'rls.t2@example.test'),
('5ec00000-0000-4000-8000-000000000011', 'rls.p1@example.test'),
('5ec00000-0000-4000-8000-000000000012', 'rls.p2@example.test'),
('5ec00000-0000-4000-8000-000000000013', 'rls.p3@example.test'),
('5ec00000-0000-4000-8000-000000000020', 'rls.o@example.test');
insert into public.profiles (user_id, first_name, last_name, email, is_teacher) values
('5ec00000-0000-4000-8000-000000000001', 'Tina', 'One', 'rls.t1@example.test', true),
('5ec00000-0000-4000-8000-000000000002', 'Tom', 'Two', 'rls.t2@example.test', true),
('5ec00000-0000-4000-8000-000000000011', 'Pia', 'One', 'rls.p1@example.test', false),
('5ec00000-0000-4000-8000-000000000012', 'Pat', 'Two', 'rls.p2@example.test', false),
('5ec00000-0000-4000-8000-000000000013', 'Poe', 'Three', 'rls.p3@example.test', false),
('5ec00000-0000-4000-8000-000000000020', 'Oli', 'Outside', 'rls.o@example.test', false);
insert into public.subjects (subject) values ('rls-subject');
insert into public.groups (group_id, subject, join_code) values
('rls-g1', 'rls-subject', 'RLSJOIN1'),
('rls-g2', 'rls-subject', 'RLSJOIN2');
insert into public.group_membership (group_id, user_id, role) values
('rls-g1', '5ec00000-0000-4000-8000-000000000001', 'teacher'),
('rls-g1', '5ec00000-0000-4000-8000-000000000011', 'pupil'),
('rls-g1', '5ec00000-0000-4000-8000-000000000012', 'pupil'),
('rls-g2', '5ec00000-0000-4000-8000-000000000002', 'teacher'),
('rls-g2', '5ec00000-0000-4000-8000-000000000013', 'pupil');
insert into public.units (unit_id, title, subject, year) values
('5ec00000-0000-4000-8000-0000000000c1', 'RLS unit', 'rls-subject', 8);
insert into public.lessons (lesson_id, unit_id, title) values
('5ec00000-0000-4000-8000-0000000000d1', '5ec00000-0000-4000-8000-0000000000c1', 'RLS lesson 1'),
('5ec00000-0000-4000-8000-0000000000d2', '5ec00000-0000-4000-8000-0000000000c1', 'RLS lesson 2');
insert into public.lesson_assignments (group_id, lesson_id, feedback_visible) values
('rls-g1', '5ec00000-0000-4000-8000-0000000000d1', true),
('rls-g2', '5ec00000-0000-4000-8000-0000000000d2', true);
insert into public.learning_objectives (learning_objective_id, title) values
('5ec00000-0000-4000-8000-0000000000e1', 'RLS objective');
insert into public.success_criteria (success_criteria_id, learning_objective_id, description, level) values
('5ec00000-0000-4000-8000-0000000000e2', '5ec00000-0000-4000-8000-0000000000e1', 'RLS criterion', 2);
insert into public.activities (activity_id, lesson_id, title, type) values
('5ec00000-0000-4000-8000-0000000000f1', '5ec00000-0000-4000-8000-0000000000d1', 'RLS activity 1', 'short-text-question'),
('5ec00000-0000-4000-8000-0000000000f2', '5ec00000-0000-4000-8000-0000000000d2', 'RLS activity 2', 'short-text-question');
insert into public.activity_success_criteria (activity_id, success_criteria_id) values
('5ec00000-0000-4000-8000-0000000000f1', '5ec00000-0000-4000-8000-0000000000e2'),
('5ec00000-0000-4000-8000-0000000000f2', '5ec00000-0000-4000-8000-0000000000e2');
insert into public.submissions (submission_id, activity_id, user_id, status, submitted_at, body) values
('5ec00000-0000-4000-8000-0000000000a1', '5ec00000-0000-4000-8000-0000000000f1', '5ec00000-0000-4000-8000-000000000011', 'submitted', now(), '{"text": "p1"}'),
('5ec00000-0000-4000-8000-0000000000a2', '5ec00000-0000-4000-8000-0000000000f1', '5ec00000-0000-4000-8000-000000000012', 'submitted', now(), '{"text": "p2"}'),
('5ec00000-0000-4000-8000-0000000000a3', '5ec00000-0000-4000-8000-0000000000f2', '5ec00000-0000-4000-8000-000000000013', 'submitted', now(), '{"text": "p3"}');
insert into public.submission_criterion_scores (submission_id, success_criteria_id, score) values
('5ec00000-0000-4000-8000-0000000000a1', '5ec00000-0000-4000-8000-0000000000e2', 1),
('5ec00000-0000-4000-8000-0000000000a2', '5ec00000-0000-4000-8000-0000000000e2', 0.5),
('5ec00000-0000-4000-8000-0000000000a3', '5ec00000-0000-4000-8000-0000000000e2', 0);

-- What the owner sees of the curriculum, to compare with what a signed-in user sees.
select from set_config('rls_test.units', (select count(*) from public.units)::text, true);
select from set_config('rls_test.lessons', (select count(*) from public.lessons)::text, true);
select from set_config('rls_test.activities', (select count(*) from public.activities)::text, true);
select from set_config('rls_test.activity_types', (select count(*) from public.activity_types)::text, true);
select from set_config('rls_test.learning_objectives', (select count(*) from public.learning_objectives)::text, true);
select from set_config('rls_test.success_criteria', (select count(*) from public.success_criteria)::text, true);
select from set_config('rls_test.activity_success_criteria', (select count(*) from public.activity_success_criteria)::text, true);
select from set_config('rls_test.level_boundaries', (select count(*) from public.level_boundaries)::text, true);
select from set_config('rls_test.subjects', (select count(*) from public.subjects)::text, true);

-- 2. T1, teacher of G1 ---------------------------------------------------------------------------
set local role authenticated;
select from set_config('request.jwt.claims', json_build_object('sub', '5ec00000-0000-4000-8000-000000000001', 'role', 'authenticated')::text, true);

select is(auth.uid(), '5ec00000-0000-4000-8000-000000000001'::uuid, 'T1: acting as T1');
select set_eq(
  $$select user_id from public.submissions$$,
  array['5ec00000-0000-4000-8000-000000000011', '5ec00000-0000-4000-8000-000000000012']::uuid[],
  'T1 sees the submissions of P1 and P2 (G1) and no others'
);
select is_empty(
  $$select from public.submissions where user_id = '5ec00000-0000-4000-8000-000000000013'$$,
  'T1 does not see P3''s submission (G2)'
);
select set_eq(
  $$select user_id from public.profiles$$,
  array['5ec00000-0000-4000-8000-000000000001', '5ec00000-0000-4000-8000-000000000011', '5ec00000-0000-4000-8000-000000000012']::uuid[],
  'T1 sees their own profile and those of P1 and P2'
);
select set_eq(
  $$select group_id, user_id from public.group_membership$$,
  $$values ('rls-g1', '5ec00000-0000-4000-8000-000000000001'::uuid), ('rls-g1', '5ec00000-0000-4000-8000-000000000011'),
           ('rls-g1', '5ec00000-0000-4000-8000-000000000012')$$,
  'T1 sees every membership of G1 and none of G2'
);
select set_eq(
  $$select submission_id from public.submission_criterion_scores$$,
  array['5ec00000-0000-4000-8000-0000000000a1', '5ec00000-0000-4000-8000-0000000000a2']::uuid[],
  'T1 sees the criterion marks of S1 and S2 only'
);
select set_eq($$select group_id from public.groups$$, array['rls-g1'], 'T1 sees class G1 only');
select set_eq(
  $$select group_id, lesson_id from public.lesson_assignments$$,
  $$values ('rls-g1', '5ec00000-0000-4000-8000-0000000000d1'::uuid)$$,
  'T1 sees the lesson assignments of G1 only'
);
select throws_ok(
  $$insert into public.submissions (activity_id, user_id, status, submitted_at)
    values ('5ec00000-0000-4000-8000-0000000000f1', '5ec00000-0000-4000-8000-000000000001', 'submitted', now())$$,
  '42501', null, 'T1 cannot insert a submission directly'
);
select throws_ok(
  $$update public.submissions set override_score = 1, override_at = now()
    where submission_id = '5ec00000-0000-4000-8000-0000000000a1'$$,
  '42501', null, 'T1 cannot update a submission directly (marks go through the RPCs)'
);
select throws_ok(
  $$delete from public.submissions where submission_id = '5ec00000-0000-4000-8000-0000000000a1'$$,
  '42501', null, 'T1 cannot delete a submission directly'
);
select throws_ok(
  $$insert into public.submission_criterion_scores (submission_id, success_criteria_id, score)
    values ('5ec00000-0000-4000-8000-0000000000a3', '5ec00000-0000-4000-8000-0000000000e2', 1)$$,
  '42501', null, 'T1 cannot insert a criterion mark directly'
);
select throws_ok(
  $$insert into public.group_membership (group_id, user_id, role)
    values ('rls-g2', '5ec00000-0000-4000-8000-000000000001', 'teacher')$$,
  '42501', null, 'T1 cannot add themselves to another class'
);
select throws_ok(
  $$update public.level_boundaries set min_percent = 0 where year = 8$$,
  '42501', null, 'T1 cannot change the level boundaries'
);
reset role;

-- 3. T2, teacher of another class (G2) -----------------------------------------------------------
set local role authenticated;
select from set_config('request.jwt.claims', json_build_object('sub', '5ec00000-0000-4000-8000-000000000002', 'role', 'authenticated')::text, true);

select is(auth.uid(), '5ec00000-0000-4000-8000-000000000002'::uuid, 'T2: acting as T2');
select set_eq(
  $$select user_id from public.submissions$$,
  array['5ec00000-0000-4000-8000-000000000013']::uuid[],
  'T2 sees P3''s submission only'
);
select is_empty(
  $$select from public.submissions where user_id in ('5ec00000-0000-4000-8000-000000000011', '5ec00000-0000-4000-8000-000000000012')$$,
  'T2 sees none of G1''s submissions'
);
select is_empty($$select from public.group_membership where group_id = 'rls-g1'$$, 'T2 sees none of G1''s memberships');
select is_empty(
  $$select from public.profiles where user_id in ('5ec00000-0000-4000-8000-000000000001', '5ec00000-0000-4000-8000-000000000011', '5ec00000-0000-4000-8000-000000000012')$$,
  'T2 sees no profile of G1'
);
select is_empty(
  $$select from public.submission_criterion_scores where submission_id in ('5ec00000-0000-4000-8000-0000000000a1', '5ec00000-0000-4000-8000-0000000000a2')$$,
  'T2 sees none of G1''s criterion marks'
);
select set_eq($$select group_id from public.groups$$, array['rls-g2'], 'T2 sees class G2 only');
select is_empty($$select from public.lesson_assignments where group_id = 'rls-g1'$$, 'T2 sees none of G1''s lesson assignments');
reset role;

-- 4. P1, pupil of G1 -----------------------------------------------------------------------------
set local role authenticated;
select from set_config('request.jwt.claims', json_build_object('sub', '5ec00000-0000-4000-8000-000000000011', 'role', 'authenticated')::text, true);

select is(auth.uid(), '5ec00000-0000-4000-8000-000000000011'::uuid, 'P1: acting as P1');
select set_eq(
  $$select submission_id from public.submissions$$,
  array['5ec00000-0000-4000-8000-0000000000a1']::uuid[],
  'P1 sees their own submission only'
);
select is_empty(
  $$select from public.submissions where user_id = '5ec00000-0000-4000-8000-000000000012'$$,
  'P1 does not see the submission of P2, a classmate'
);
select set_eq(
  $$select user_id from public.profiles$$,
  array['5ec00000-0000-4000-8000-000000000011']::uuid[],
  'P1 sees their own profile only'
);
select set_eq(
  $$select group_id, user_id from public.group_membership$$,
  $$values ('rls-g1', '5ec00000-0000-4000-8000-000000000011'::uuid)$$,
  'P1 sees their own membership only (not the class list)'
);
select set_eq(
  $$select submission_id from public.submission_criterion_scores$$,
  array['5ec00000-0000-4000-8000-0000000000a1']::uuid[],
  'P1 sees the criterion marks of their own submission only'
);
select set_eq($$select group_id from public.groups$$, array['rls-g1'], 'P1 sees their class G1 only');
select set_eq(
  $$select group_id, lesson_id from public.lesson_assignments$$,
  $$values ('rls-g1', '5ec00000-0000-4000-8000-0000000000d1'::uuid)$$,
  'P1 sees the lesson assignments of G1 only'
);
select throws_ok(
  $$update public.submissions set body = '{"text": "changed"}' where submission_id = '5ec00000-0000-4000-8000-0000000000a1'$$,
  '42501', null, 'P1 cannot update even their own submission directly'
);
select throws_ok(
  $$update public.profiles set first_name = 'X' where user_id = '5ec00000-0000-4000-8000-000000000011'$$,
  '42501', null, 'P1 cannot update their own profile directly'
);
reset role;

-- 5. O, signed in but in no class: curriculum and reference data only ---------------------------
set local role authenticated;
select from set_config('request.jwt.claims', json_build_object('sub', '5ec00000-0000-4000-8000-000000000020', 'role', 'authenticated')::text, true);

select is(auth.uid(), '5ec00000-0000-4000-8000-000000000020'::uuid, 'O: acting as O');
select is((select count(*) from public.units)::text, current_setting('rls_test.units'), 'O reads every unit');
select is((select count(*) from public.lessons)::text, current_setting('rls_test.lessons'), 'O reads every lesson');
select is((select count(*) from public.activities)::text, current_setting('rls_test.activities'), 'O reads every activity');
select is((select count(*) from public.activity_types)::text, current_setting('rls_test.activity_types'), 'O reads every activity type');
select is((select count(*) from public.learning_objectives)::text, current_setting('rls_test.learning_objectives'), 'O reads every learning objective');
select is((select count(*) from public.success_criteria)::text, current_setting('rls_test.success_criteria'), 'O reads every success criterion');
select is((select count(*) from public.activity_success_criteria)::text, current_setting('rls_test.activity_success_criteria'), 'O reads every activity-criterion link');
select is((select count(*) from public.level_boundaries)::text, current_setting('rls_test.level_boundaries'), 'O reads every level boundary');
select is((select count(*) from public.subjects)::text, current_setting('rls_test.subjects'), 'O reads every subject');
select results_eq(
  $$select title from public.activities where lesson_id = '5ec00000-0000-4000-8000-0000000000d2' order by title$$,
  $$values ('RLS activity 2')$$,
  'O reads the activities of a lesson assigned to a class they are not in'
);
select is_empty($$select from public.submissions$$, 'O sees no submission');
select is_empty($$select from public.submission_criterion_scores$$, 'O sees no criterion mark');
select is_empty($$select from public.groups$$, 'O sees no class');
select is_empty($$select from public.group_membership$$, 'O sees no membership');
select is_empty($$select from public.lesson_assignments$$, 'O sees no lesson assignment');
select set_eq(
  $$select user_id from public.profiles$$,
  array['5ec00000-0000-4000-8000-000000000020']::uuid[],
  'O sees their own profile only'
);
reset role;

-- 6. authenticated without a user id (no JWT claims) sees no personal rows ------------------------
set local role authenticated;
select from set_config('request.jwt.claims', '', true);
select is(auth.uid(), null, 'no claims: auth.uid() is null');
select is_empty($$select from public.submissions$$, 'no claims: no submission');
select is_empty($$select from public.profiles$$, 'no claims: no profile');
select is_empty($$select from public.group_membership$$, 'no claims: no membership');
reset role;

-- 7. anon reads nothing: every domain table refuses it outright --------------------------------------
set local role anon;
select throws_ok(format('select * from public.%I', t), '42501', null, format('anon cannot select from %s', t))
from unnest(array[
  'profiles', 'subjects', 'groups', 'group_membership', 'units', 'lessons', 'lesson_assignments',
  'learning_objectives', 'success_criteria', 'activity_types', 'activities',
  'activity_success_criteria', 'submissions', 'submission_criterion_scores', 'level_boundaries'
]) with ordinality as x (t, n)
order by n;
select from set_config('request.jwt.claims', json_build_object('sub', '5ec00000-0000-4000-8000-000000000011', 'role', 'anon')::text, true);
select throws_ok(
  $$select * from public.submissions$$, '42501', null,
  'anon carrying a pupil''s user id still cannot select submissions'
);
select throws_ok(
  $$insert into public.subjects (subject) values ('anon-subject')$$, '42501', null,
  'anon cannot insert'
);
reset role;

-- 8. service_role sees everything (bypasses RLS) ----------------------------------------------------
set local role service_role;
select from set_config('request.jwt.claims', json_build_object('role', 'service_role')::text, true);
select set_eq(
  $$select user_id from public.submissions where submission_id::text like '5ec00000-%'$$,
  array['5ec00000-0000-4000-8000-000000000011', '5ec00000-0000-4000-8000-000000000012', '5ec00000-0000-4000-8000-000000000013']::uuid[],
  'service_role sees the submissions of P1, P2 and P3'
);
select is(
  (select count(*)::int from public.profiles where user_id::text like '5ec00000-%'), 6,
  'service_role sees all six fixture profiles'
);
select is(
  (select count(*)::int from public.group_membership where group_id in ('rls-g1', 'rls-g2')), 5,
  'service_role sees every membership of G1 and G2'
);
select is(
  (select count(*)::int from public.submission_criterion_scores where submission_id::text like '5ec00000-%'), 3,
  'service_role sees every criterion mark'
);
select set_eq($$select group_id from public.groups where group_id like 'rls-%'$$, array['rls-g1', 'rls-g2'], 'service_role sees both classes');
select lives_ok(
  $$update public.submissions set teacher_feedback = 'service write' where submission_id = '5ec00000-0000-4000-8000-0000000000a3'$$,
  'service_role can write'
);
select is(
  (select teacher_feedback from public.submissions where submission_id = '5ec00000-0000-4000-8000-0000000000a3'),
  'service write', 'service_role''s write took effect'
);
reset role;

select * from finish();
rollback;
