-- The tables of the data contract: names, types, nullability, keys, uniqueness and CHECKs.
-- The table and column names are a contract (tests, glue and outside callers rely on them).
begin;
create extension if not exists pgtap with schema extensions;
select plan(310);

-- The contract: every column of the data contract with its type and whether it may be NULL.
create temp table contract (tbl name, col name, typ text, not_null boolean, pos serial) on commit drop;
insert into contract (tbl, col, typ, not_null) values
('profiles', 'user_id', 'uuid', true),
('profiles', 'first_name', 'text', true),
('profiles', 'last_name', 'text', true),
('profiles', 'email', 'text', true),
('profiles', 'is_teacher', 'boolean', true),
('subjects', 'subject', 'text', true),
('subjects', 'active', 'boolean', true),
('groups', 'group_id', 'text', true),
('groups', 'subject', 'text', true),
('groups', 'join_code', 'text', true),
('groups', 'active', 'boolean', true),
('group_membership', 'group_id', 'text', true),
('group_membership', 'user_id', 'uuid', true),
('group_membership', 'role', 'text', true),
('units', 'unit_id', 'uuid', true),
('units', 'title', 'text', true),
('units', 'subject', 'text', true),
('units', 'description', 'text', false),
('units', 'year', 'integer', true),
('units', 'active', 'boolean', true),
('lessons', 'lesson_id', 'uuid', true),
('lessons', 'unit_id', 'uuid', true),
('lessons', 'title', 'text', true),
('lessons', 'order_by', 'integer', true),
('lessons', 'active', 'boolean', true),
('lesson_assignments', 'group_id', 'text', true),
('lesson_assignments', 'lesson_id', 'uuid', true),
('lesson_assignments', 'start_date', 'date', false),
('lesson_assignments', 'feedback_visible', 'boolean', true),
('learning_objectives', 'learning_objective_id', 'uuid', true),
('learning_objectives', 'title', 'text', true),
('learning_objectives', 'order_by', 'integer', true),
('success_criteria', 'success_criteria_id', 'uuid', true),
('success_criteria', 'learning_objective_id', 'uuid', true),
('success_criteria', 'description', 'text', true),
('success_criteria', 'level', 'integer', true),
('activity_types', 'type', 'text', true),
('activity_types', 'scorable', 'boolean', true),
('activities', 'activity_id', 'uuid', true),
('activities', 'lesson_id', 'uuid', true),
('activities', 'title', 'text', true),
('activities', 'type', 'text', true),
('activities', 'body_data', 'jsonb', true),
('activities', 'is_summative', 'boolean', true),
('activities', 'active', 'boolean', true),
('activities', 'order_by', 'integer', true),
('activity_success_criteria', 'activity_id', 'uuid', true),
('activity_success_criteria', 'success_criteria_id', 'uuid', true),
('submissions', 'submission_id', 'uuid', true),
('submissions', 'activity_id', 'uuid', true),
('submissions', 'user_id', 'uuid', true),
('submissions', 'status', 'text', true),
('submissions', 'submitted_at', 'timestamp with time zone', false),
('submissions', 'body', 'jsonb', true),
('submissions', 'auto_score', 'numeric', false),
('submissions', 'ai_score', 'numeric', false),
('submissions', 'ai_feedback', 'text', false),
('submissions', 'ai_meta', 'jsonb', false),
('submissions', 'ai_marked_at', 'timestamp with time zone', false),
('submissions', 'override_score', 'numeric', false),
('submissions', 'teacher_feedback', 'text', false),
('submissions', 'override_by', 'uuid', false),
('submissions', 'override_at', 'timestamp with time zone', false),
('submission_criterion_scores', 'submission_id', 'uuid', true),
('submission_criterion_scores', 'success_criteria_id', 'uuid', true),
('submission_criterion_scores', 'score', 'numeric', true),
('level_boundaries', 'year', 'integer', true),
('level_boundaries', 'label', 'text', true),
('level_boundaries', 'rank', 'integer', true),
('level_boundaries', 'min_percent', 'numeric', true);

-- 1. Tables and columns (15 tables, 70 columns: 15 + 3 x 70 tests) ------------------------------
select is((select count(distinct tbl) from contract)::int, 15, 'the contract lists the 15 tables of the data contract');
select is((select count(*) from contract)::int, 70, 'the contract lists the 70 columns of the data contract');

select has_table('public', tbl, format('table public.%s exists', tbl))
from (select tbl, min(pos) as pos from contract group by tbl) as t
order by pos;

select has_column('public', tbl, col, format('column %s.%s exists', tbl, col))
from contract order by pos;

select col_type_is('public', tbl, col, typ, format('%s.%s is %s', tbl, col, typ))
from contract order by pos;

select case
  when not_null then col_not_null('public', tbl, col, format('%s.%s is not null', tbl, col))
  else col_is_null('public', tbl, col, format('%s.%s is nullable', tbl, col))
end
from contract order by pos;

-- 2. Primary keys (15) ----------------------------------------------------------------------------
select col_is_pk('public', 'profiles', 'user_id', 'profiles: primary key user_id');
select col_is_pk('public', 'subjects', 'subject', 'subjects: primary key subject');
select col_is_pk('public', 'groups', 'group_id', 'groups: primary key group_id');
select col_is_pk('public', 'group_membership', array['group_id', 'user_id']::name[], 'group_membership: primary key (group_id, user_id)');
select col_is_pk('public', 'units', 'unit_id', 'units: primary key unit_id');
select col_is_pk('public', 'lessons', 'lesson_id', 'lessons: primary key lesson_id');
select col_is_pk('public', 'lesson_assignments', array['group_id', 'lesson_id']::name[], 'lesson_assignments: primary key (group_id, lesson_id)');
select col_is_pk('public', 'learning_objectives', 'learning_objective_id', 'learning_objectives: primary key learning_objective_id');
select col_is_pk('public', 'success_criteria', 'success_criteria_id', 'success_criteria: primary key success_criteria_id');
select col_is_pk('public', 'activity_types', 'type', 'activity_types: primary key type');
select col_is_pk('public', 'activities', 'activity_id', 'activities: primary key activity_id');
select col_is_pk('public', 'activity_success_criteria', array['activity_id', 'success_criteria_id']::name[], 'activity_success_criteria: primary key (activity_id, success_criteria_id)');
select col_is_pk('public', 'submissions', 'submission_id', 'submissions: primary key submission_id');
select col_is_pk('public', 'submission_criterion_scores', array['submission_id', 'success_criteria_id']::name[], 'submission_criterion_scores: primary key (submission_id, success_criteria_id)');
select col_is_pk('public', 'level_boundaries', array['year', 'label']::name[], 'level_boundaries: primary key (year, label)');

-- 3. Foreign keys (18) ----------------------------------------------------------------------------
select fk_ok('public', 'profiles', 'user_id', 'auth', 'users', 'id', 'profiles.user_id references auth.users(id)');
select fk_ok('public', 'groups', 'subject', 'public', 'subjects', 'subject', 'groups.subject references subjects');
select fk_ok('public', 'group_membership', 'group_id', 'public', 'groups', 'group_id', 'group_membership.group_id references groups');
select fk_ok('public', 'group_membership', 'user_id', 'public', 'profiles', 'user_id', 'group_membership.user_id references profiles');
select fk_ok('public', 'units', 'subject', 'public', 'subjects', 'subject', 'units.subject references subjects');
select fk_ok('public', 'lessons', 'unit_id', 'public', 'units', 'unit_id', 'lessons.unit_id references units');
select fk_ok('public', 'lesson_assignments', 'group_id', 'public', 'groups', 'group_id', 'lesson_assignments.group_id references groups');
select fk_ok('public', 'lesson_assignments', 'lesson_id', 'public', 'lessons', 'lesson_id', 'lesson_assignments.lesson_id references lessons');
select fk_ok('public', 'success_criteria', 'learning_objective_id', 'public', 'learning_objectives', 'learning_objective_id', 'success_criteria.learning_objective_id references learning_objectives');
select fk_ok('public', 'activities', 'lesson_id', 'public', 'lessons', 'lesson_id', 'activities.lesson_id references lessons');
select fk_ok('public', 'activities', 'type', 'public', 'activity_types', 'type', 'activities.type references activity_types');
select fk_ok('public', 'activity_success_criteria', 'activity_id', 'public', 'activities', 'activity_id', 'activity_success_criteria.activity_id references activities');
select fk_ok('public', 'activity_success_criteria', 'success_criteria_id', 'public', 'success_criteria', 'success_criteria_id', 'activity_success_criteria.success_criteria_id references success_criteria');
select fk_ok('public', 'submissions', 'activity_id', 'public', 'activities', 'activity_id', 'submissions.activity_id references activities');
select fk_ok('public', 'submissions', 'user_id', 'public', 'profiles', 'user_id', 'submissions.user_id references profiles');
select fk_ok('public', 'submissions', 'override_by', 'public', 'profiles', 'user_id', 'submissions.override_by references profiles');
select fk_ok('public', 'submission_criterion_scores', 'submission_id', 'public', 'submissions', 'submission_id', 'submission_criterion_scores.submission_id references submissions');
select fk_ok('public', 'submission_criterion_scores', 'success_criteria_id', 'public', 'success_criteria', 'success_criteria_id', 'submission_criterion_scores.success_criteria_id references success_criteria');

-- Fixture: one teacher, one pupil, one class, one unit with a lesson, an activity, a criterion and
-- a submission. Distinctive keys so the file also runs on a seeded database.
insert into auth.users (id, email) values
('7ab1e500-0000-4000-8000-000000000001', 'tap.teacher@example.test'),
('7ab1e500-0000-4000-8000-000000000002', 'tap.pupil@example.test'),
('7ab1e500-0000-4000-8000-000000000003', 'tap.other@example.test');
insert into public.profiles (user_id, first_name, last_name, email, is_teacher) values
('7ab1e500-0000-4000-8000-000000000001', 'Tess', 'Teacher', 'Tap.Teacher@example.test', true),
('7ab1e500-0000-4000-8000-000000000002', 'Pip', 'Pupil', 'tap.pupil@example.test', false);
insert into public.subjects (subject) values ('tap-subject');
insert into public.groups (group_id, subject, join_code) values ('tap-g1', 'tap-subject', 'TAPJOIN1');
insert into public.group_membership (group_id, user_id, role) values
('tap-g1', '7ab1e500-0000-4000-8000-000000000001', 'teacher'),
('tap-g1', '7ab1e500-0000-4000-8000-000000000002', 'pupil');
insert into public.units (unit_id, title, subject, year) values
('7ab1e500-0000-4000-8000-0000000000a1', 'Tap unit', 'tap-subject', 8);
insert into public.lessons (lesson_id, unit_id, title) values
('7ab1e500-0000-4000-8000-0000000000b1', '7ab1e500-0000-4000-8000-0000000000a1', 'Tap lesson');
insert into public.lesson_assignments (group_id, lesson_id) values ('tap-g1', '7ab1e500-0000-4000-8000-0000000000b1');
insert into public.learning_objectives (learning_objective_id, title) values
('7ab1e500-0000-4000-8000-0000000000c1', 'Tap objective');
insert into public.success_criteria (success_criteria_id, learning_objective_id, description, level) values
('7ab1e500-0000-4000-8000-0000000000c2', '7ab1e500-0000-4000-8000-0000000000c1', 'Tap criterion', 3);
insert into public.activities (activity_id, lesson_id, title, type) values
('7ab1e500-0000-4000-8000-0000000000d1', '7ab1e500-0000-4000-8000-0000000000b1', 'Tap question', 'short-text-question'),
('7ab1e500-0000-4000-8000-0000000000d2', '7ab1e500-0000-4000-8000-0000000000b1', 'Tap question 2', 'multiple-choice-question');
insert into public.activity_success_criteria (activity_id, success_criteria_id) values
('7ab1e500-0000-4000-8000-0000000000d1', '7ab1e500-0000-4000-8000-0000000000c2');
insert into public.submissions (submission_id, activity_id, user_id) values
('7ab1e500-0000-4000-8000-0000000000e1', '7ab1e500-0000-4000-8000-0000000000d1', '7ab1e500-0000-4000-8000-000000000002');
insert into public.submission_criterion_scores (submission_id, success_criteria_id, score) values
('7ab1e500-0000-4000-8000-0000000000e1', '7ab1e500-0000-4000-8000-0000000000c2', 0.5);

-- 4. Uniqueness (9) -------------------------------------------------------------------------------
select col_is_unique('public', 'groups', 'join_code', 'groups.join_code is unique');
select throws_ok(
  $$insert into public.groups (group_id, subject, join_code) values ('tap-g2', 'tap-subject', 'TAPJOIN1')$$,
  '23505', null, 'a second class with the same join_code is refused'
);
select col_is_unique('public', 'submissions', array['user_id', 'activity_id']::name[], 'submissions: (user_id, activity_id) is unique');
select throws_ok(
  $$insert into public.submissions (activity_id, user_id)
    values ('7ab1e500-0000-4000-8000-0000000000d1', '7ab1e500-0000-4000-8000-000000000002')$$,
  '23505', null, 'a second submission row for the same pupil and activity is refused'
);
select has_index('public', 'profiles', 'profiles_email_key', 'lower(email)', 'profiles has an index on lower(email)');
select index_is_unique('public', 'profiles', 'profiles_email_key', 'the lower(email) index on profiles is unique');
select throws_ok(
  $$insert into public.profiles (user_id, first_name, last_name, email)
    values ('7ab1e500-0000-4000-8000-000000000003', 'Other', 'Person', 'TAP.PUPIL@EXAMPLE.TEST')$$,
  '23505', null, 'profiles.email is unique regardless of case'
);
select lives_ok(
  $$insert into public.profiles (user_id, first_name, last_name, email)
    values ('7ab1e500-0000-4000-8000-000000000003', 'Other', 'Person', 'tap.other@example.test')$$,
  'a profile with a different email is accepted'
);
select col_is_unique('public', 'level_boundaries', array['year', 'rank']::name[], 'level_boundaries: (year, rank) is unique');

-- 5. Foreign keys are enforced (2) ----------------------------------------------------------------
select throws_ok(
  $$insert into public.submissions (activity_id, user_id)
    values ('7ab1e500-0000-4000-8000-0000000000ff', '7ab1e500-0000-4000-8000-000000000002')$$,
  '23503', null, 'a submission for an unknown activity is refused'
);
select throws_ok(
  $$insert into public.profiles (user_id, first_name, last_name, email)
    values ('7ab1e500-0000-4000-8000-0000000000ff', 'No', 'Account', 'no.account@example.test')$$,
  '23503', null, 'a profile without an auth user is refused'
);

-- 6. CHECK constraints (every refused value next to an accepted one) ------------------------------
-- Scores are fractions in [0, 1]: both ends accepted, just outside refused.
select lives_ok($$update public.submissions set auto_score = 0 where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'auto_score 0 accepted');
select lives_ok($$update public.submissions set auto_score = 1 where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'auto_score 1 accepted');
select throws_ok($$update public.submissions set auto_score = 1.0001 where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'auto_score above 1 refused');
select throws_ok($$update public.submissions set auto_score = -0.0001 where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'auto_score below 0 refused');

select lives_ok($$update public.submissions set ai_score = 0, ai_marked_at = now() where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'ai_score 0 accepted');
select lives_ok($$update public.submissions set ai_score = 1, ai_marked_at = now() where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'ai_score 1 accepted');
select throws_ok($$update public.submissions set ai_score = 1.5, ai_marked_at = now() where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'ai_score above 1 refused');
select throws_ok($$update public.submissions set ai_score = -0.1, ai_marked_at = now() where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'ai_score below 0 refused');
select throws_ok($$update public.submissions set ai_score = 0.5, ai_marked_at = null where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'ai_score without ai_marked_at refused');

select lives_ok($$update public.submissions set override_score = 0, override_at = now() where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'override_score 0 accepted');
select lives_ok($$update public.submissions set override_score = 1, override_at = now() where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'override_score 1 accepted');
select throws_ok($$update public.submissions set override_score = 1.01, override_at = now() where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'override_score above 1 refused');
select throws_ok($$update public.submissions set override_score = -1, override_at = now() where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'override_score below 0 refused');

select lives_ok($$update public.submission_criterion_scores set score = 0 where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'criterion score 0 accepted');
select lives_ok($$update public.submission_criterion_scores set score = 1 where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'criterion score 1 accepted');
select throws_ok($$update public.submission_criterion_scores set score = 1.01 where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'criterion score above 1 refused');
select throws_ok($$update public.submission_criterion_scores set score = -0.01 where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'criterion score below 0 refused');

select is(
  (select (auto_score, ai_score, override_score)::text from public.submissions where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'),
  '(1,1,1)', 'the refused updates changed nothing: the last accepted scores stand'
);

-- Status and submitted_at.
select throws_ok($$update public.submissions set status = 'done', submitted_at = now() where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'an unknown status is refused');
select throws_ok($$update public.submissions set status = 'submitted', submitted_at = null where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, '23514', null, 'status submitted without submitted_at refused');
select lives_ok($$update public.submissions set status = 'submitted', submitted_at = now() where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'status submitted with submitted_at accepted');
select lives_ok($$update public.submissions set status = 'completed' where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'status completed accepted');
select lives_ok($$update public.submissions set status = 'rejected' where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'status rejected accepted');
select lives_ok($$update public.submissions set status = 'inprogress', submitted_at = null where submission_id = '7ab1e500-0000-4000-8000-0000000000e1'$$, 'status inprogress without submitted_at accepted');

-- Membership role.
select throws_ok($$update public.group_membership set role = 'admin' where group_id = 'tap-g1' and user_id = '7ab1e500-0000-4000-8000-000000000002'$$, '23514', null, 'a membership role other than pupil/teacher is refused');
select lives_ok(
  $$insert into public.group_membership (group_id, user_id, role) values ('tap-g1', '7ab1e500-0000-4000-8000-000000000003', 'pupil')$$,
  'a pupil membership is accepted'
);

-- Unit year 7-13.
select throws_ok($$update public.units set year = 6 where unit_id = '7ab1e500-0000-4000-8000-0000000000a1'$$, '23514', null, 'unit year 6 refused');
select throws_ok($$update public.units set year = 14 where unit_id = '7ab1e500-0000-4000-8000-0000000000a1'$$, '23514', null, 'unit year 14 refused');
select lives_ok($$update public.units set year = 7 where unit_id = '7ab1e500-0000-4000-8000-0000000000a1'$$, 'unit year 7 accepted');
select lives_ok($$update public.units set year = 13 where unit_id = '7ab1e500-0000-4000-8000-0000000000a1'$$, 'unit year 13 accepted');

-- Criterion level 0-9.
select throws_ok($$update public.success_criteria set level = 10 where success_criteria_id = '7ab1e500-0000-4000-8000-0000000000c2'$$, '23514', null, 'criterion level 10 refused');
select throws_ok($$update public.success_criteria set level = -1 where success_criteria_id = '7ab1e500-0000-4000-8000-0000000000c2'$$, '23514', null, 'criterion level -1 refused');
select lives_ok($$update public.success_criteria set level = 0 where success_criteria_id = '7ab1e500-0000-4000-8000-0000000000c2'$$, 'criterion level 0 accepted');
select lives_ok($$update public.success_criteria set level = 9 where success_criteria_id = '7ab1e500-0000-4000-8000-0000000000c2'$$, 'criterion level 9 accepted');

-- Level boundaries: the rank is fixed by the label.
select throws_ok($$insert into public.level_boundaries (year, label, rank, min_percent) values (12, '1L', 2, 10)$$, '23514', null, 'label 1L with rank 2 refused');
select throws_ok($$insert into public.level_boundaries (year, label, rank, min_percent) values (12, '0', 1, 0)$$, '23514', null, 'label 0 with rank 1 refused');
select throws_ok($$insert into public.level_boundaries (year, label, rank, min_percent) values (12, '9h', 27, 96)$$, '23514', null, 'a lower-case label refused');
select throws_ok($$insert into public.level_boundaries (year, label, rank, min_percent) values (12, '10L', 28, 99)$$, '23514', null, 'rank 28 refused');
select lives_ok($$insert into public.level_boundaries (year, label, rank, min_percent) values (12, '1L', 1, 10), (12, '9H', 27, 96)$$, 'labels matching their ranks accepted');

select * from finish();
rollback;
