-- Access control audit (issue 7, item 4). The catalog checks enumerate pg_class and pg_proc, so a table
-- or function added later is audited without touching this file; the lists of who may execute which RPC
-- are explicit, so a new RPC fails here until it is consciously added (and called by outsiders below).
--   1. tables: RLS enabled on every public table, forced nowhere, a policy wherever authenticated may read;
--      answer keys out of pupils' reach, no cross-subject assignment, every written text, JSON and score
--      column bounded
--   2. every SECURITY DEFINER function of public and private pins search_path = ''; no function that may
--      write forces custom plans (that would re-plan its foreign-key checks row by row)
--   3. functions: nothing executable by anon or PUBLIC; the RPCs of signed-in users and the service-only
--      RPCs are explicit lists
--   4. table privileges: nothing in private for the API roles; authenticated never writes a public table
--   5. every RPC of signed-in users called by its owner (allowed), a teacher of another class, a pupil,
--      another pupil and anon (denied with 42501, unless the design allows it), and the denied calls
--      changed nothing; the service-only RPCs refuse even the class's teacher
--   6. private realtime topics: outsiders receive nothing and cannot send
-- Fixture: tests/sql/writes_helpers.psql (T1 teaches W-7A: P1, P2; T2 teaches W-7B: P3; P4 is in no
-- class; lesson L1 is assigned to W-7A and W-7B, L2 to nobody).
begin;
\ir ../helpers.psql
\ir ../writes_helpers.psql
select plan(175);

-- The project's functions and procedures: schemas public and private, minus anything an extension owns.
-- acl is the effective ACL (a NULL proacl means the default: EXECUTE to PUBLIC).
create or replace function tests.audit_functions()
returns table (
  fn_oid oid, schema_name name, name text, signature text, security_definer boolean, config text [], acl aclitem []
)
language sql
stable
as $$
  select
    p.oid, n.nspname, n.nspname || '.' || p.proname, p.oid::regprocedure::text, p.prosecdef, p.proconfig,
    coalesce(p.proacl, acldefault('f', p.proowner))
  from pg_catalog.pg_proc as p
  inner join pg_catalog.pg_namespace as n on p.pronamespace = n.oid
  where
    n.nspname in ('public', 'private')
    and not exists (
      select from pg_catalog.pg_depend as d
      where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
    )
$$;

-- The relations of a schema (tables, partitioned tables, views, materialized views, foreign tables, sequences).
create or replace function tests.audit_relations(p_schema name)
returns table (rel_oid oid, name text, kind "char", rls boolean, forced boolean, options text [])
language sql
stable
as $$
  select c.oid, n.nspname || '.' || c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.reloptions
  from pg_catalog.pg_class as c
  inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
  where n.nspname = p_schema and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
$$;

-- Runs a statement as a fixture user ('T1', 'P2', ...), 'anon' or 'service_role', the way PostgREST
-- does (role and JWT claims), and returns 'ok' or the SQLSTATE it raised. p_rollback: undo what a
-- successful statement did (the allowed calls); otherwise its effects stay, so that a call that should
-- have been denied but was not shows up in the checksum too.
create or replace function tests.audit_call(p_who text, p_sql text, p_rollback boolean default false)
returns text
language plpgsql
as $$
declare
  v_state text := 'ok';
begin
  if p_who = 'anon' then
    perform tests.authenticate_as_anon();
  elsif p_who = 'service_role' then
    perform tests.authenticate_as_service_role();
  else
    perform tests.authenticate_as(tests.school_id(p_who));
  end if;
  begin
    execute p_sql;
    if p_rollback then
      raise exception 'audit_call rollback' using errcode = 'TA999';
    end if;
  exception when others then
    v_state := case when sqlstate = 'TA999' then 'ok' else sqlstate end;
  end;
  perform tests.clear_authentication();
  return v_state;
end
$$;

-- The realtime messages there were before the calls under audit (ids are random uuids on Supabase:
-- messages are never compared by id order).
create temporary table audit_mark (id text primary key) on commit drop;
grant select on audit_mark to anon, authenticated, service_role;

-- What a fixture user (or anon) receives when joining a realtime topic, as Supabase Realtime checks a
-- private channel: role and claims, realtime.topic() set to the topic, a select on realtime.messages.
-- Counts the fixture's messages (any of its topics) not in audit_mark; a SQLSTATE when the select is
-- refused.
create or replace function tests.audit_visible(p_who text, p_topic text)
returns text
language plpgsql
as $$
declare
  v_result text;
begin
  if p_who = 'anon' then
    perform tests.authenticate_as_anon();
  else
    perform tests.authenticate_as(tests.school_id(p_who));
  end if;
  perform set_config('realtime.topic', p_topic, true);
  begin
    select count(*)::text into v_result
    from realtime.messages as m
    where
      not exists (select from audit_mark as k where k.id = m.id::text)
      and (m.topic like 'assignment_results:W-%' or m.topic like 'report:c1000000-%');
  exception when others then
    v_result := sqlstate;
  end;
  perform tests.clear_authentication();
  return v_result;
end
$$;

-- One checksum per public table, private.report_jobs and the fixture's realtime messages (as the owner).
create or replace function tests.audit_checksum()
returns text
language plpgsql
as $$
declare
  v_rel regclass;
  v_part text;
  v_all text := '';
begin
  for v_rel in
    select r.rel_oid::regclass from tests.audit_relations('public') as r where r.kind in ('r', 'p')
    union all select 'private.report_jobs'::regclass
    order by 1
  loop
    execute format('select md5(coalesce(string_agg(t::text, '','' order by t::text), '''')) from %s as t', v_rel)
    into v_part;
    v_all := v_all || v_rel::text || '=' || v_part || ' ';
  end loop;
  select v_all || 'realtime.messages=' || md5(coalesce(string_agg(m.topic || m.event || (m.payload - 'id')::text, ',' order by m.topic || m.event || (m.payload - 'id')::text), ''))
  into v_all
  from realtime.messages as m
  where
    not exists (select from audit_mark as k where k.id = m.id::text)
    and (m.topic like 'assignment_results:W-%' or m.topic like 'report:c1000000-%');
  return v_all;
end
$$;
grant execute on all functions in schema tests to anon, authenticated, service_role;

-- 1. Tables ---------------------------------------------------------------------------------------------
select cmp_ok(
  (select count(*)::int from tests.audit_relations('public') where kind in ('r', 'p')), '>=', 19,
  'the audit sees the tables of schema public'
);
select is_empty(
  $$select name from tests.audit_relations('public') where kind in ('r', 'p') and not rls$$,
  'row level security is enabled on every table in schema public'
);
select is_empty(
  $$select name from tests.audit_relations('public') where forced
    union all select name from tests.audit_relations('private') where forced$$,
  'row level security is forced on no table of public or private (the owner and service_role bypass it by design)'
);
select is_empty(
  $$select r.name from tests.audit_relations('public') as r
    where r.kind in ('r', 'p')
      and has_table_privilege('authenticated', r.rel_oid, 'select, insert, update, delete')
      and not exists (
        select from pg_catalog.pg_policy as p
        where p.polrelid = r.rel_oid and (0::oid = any(p.polroles) or 'authenticated'::regrole::oid = any(p.polroles))
      )$$,
  'every public table that authenticated may read has a policy for authenticated (no grant without a policy)'
);
select is_empty(
  $$select tablename || '.' || policyname from pg_catalog.pg_policies
    where schemaname = 'public' and (cmd <> 'SELECT' or roles <> array['authenticated']::name[])$$,
  'every policy in schema public is SELECT for authenticated only (writes go through the RPCs; anon has none)'
);
select is_empty(
  $$select r.name from tests.audit_relations('public') as r
    where r.kind in ('v', 'm', 'f')
      and (has_table_privilege('anon', r.rel_oid, 'select') or has_table_privilege('authenticated', r.rel_oid, 'select'))
      and not (r.kind = 'v' and coalesce(r.options, '{}') && array['security_invoker=true', 'security_invoker=on'])$$,
  'no view, materialized view or foreign table in public is readable by the API roles around RLS (views: security_invoker)'
);

-- 1b. What a hostile pupil or teacher relied on (tests/sql/security/hostile.test.sql tries each) -------------
select is(
  (select convalidated from pg_catalog.pg_constraint
   where conrelid = 'public.activities'::regclass and conname = 'activities_body_data_answer_key_check'),
  true, 'activities.body_data may hold no answer key (a validated CHECK): pupils read that column'
);
select is_empty(
  $$select p.policyname from pg_catalog.pg_policies as p
    where p.schemaname = 'public' and p.tablename = 'activity_answer_keys' and p.qual = 'true'
    union all select 'no policy' where not exists (
      select from pg_catalog.pg_policies as p where p.schemaname = 'public' and p.tablename = 'activity_answer_keys')$$,
  'the answer keys have a policy, and it is not open to every signed-in user'
);
select is_empty(
  $$select la.group_id || ' / ' || la.lesson_id
    from public.lesson_assignments as la
    inner join public.groups as g on la.group_id = g.group_id
    inner join public.lessons as l on la.lesson_id = l.lesson_id
    inner join public.units as u on l.unit_id = u.unit_id
    where u.subject <> g.subject$$,
  'no lesson is assigned to a class of another subject (marking authority trusts assignments)'
);
insert into public.subjects (subject) values ('audit-subject-a'), ('audit-subject-b');
insert into public.groups (group_id, subject, join_code) values ('audit-b', 'audit-subject-b', 'audit-b-join');
insert into public.units (unit_id, title, subject, year) values
('a0d17000-0000-4000-8000-0000000000a1', 'audit unit', 'audit-subject-a', 8);
insert into public.lessons (lesson_id, unit_id, title) values
('a0d17000-0000-4000-8000-0000000000b1', 'a0d17000-0000-4000-8000-0000000000a1', 'audit lesson');
select tests.authenticate_as_service_role();
select throws_ok($$select public.lessons_assign('audit-b', 'a0d17000-0000-4000-8000-0000000000b1')$$, 'PLV14', null,
  'and none can be made: lessons_assign refuses another subject''s lesson, even for the service role');
select tests.clear_authentication();
select is_empty(
  $$select c.relname || '.' || a.attname
    from pg_catalog.pg_attribute as a
    inner join pg_catalog.pg_class as c on a.attrelid = c.oid
    where c.oid in ('public.submissions'::regclass, 'public.submission_criterion_scores'::regclass,
        'public.activity_answer_keys'::regclass)
      and a.attnum > 0 and not a.attisdropped
      and a.atttypid in ('text'::regtype, 'jsonb'::regtype, 'numeric'::regtype)
      and not exists (
        select from pg_catalog.pg_constraint as k
        where k.conrelid = c.oid and k.contype = 'c' and a.attnum = any(k.conkey)
          and pg_catalog.pg_get_constraintdef(k.oid) ~ case a.atttypid
            when 'numeric'::regtype then 'scale\('
            else '(length\(|= ANY)'
          end
      )$$,
  'every text, JSON and score column that callers write is bounded by a CHECK (length, size, or decimal places)'
);

select is_empty(
  $$select c.conrelid::regclass || ' ' || c.conname
    from pg_catalog.pg_constraint as c
    where c.contype = 'f' and c.confrelid in ('public.profiles'::regclass, 'auth.users'::regclass)
      -- the project's own tables: the platform's (storage, auth) are Supabase's to index
      and c.connamespace in ('public'::regnamespace, 'private'::regnamespace)
      and not exists (
        select from pg_catalog.pg_index as i
        where i.indrelid = c.conrelid and (i.indkey::int2 [])[0:cardinality(c.conkey) - 1] = c.conkey
      )$$,
  'every foreign key from the project''s tables to a user is indexed: deleting a user scans none of them'
);

-- 2. SECURITY DEFINER functions pin search_path ------------------------------------------------------------
select cmp_ok(
  (select count(*)::int from tests.audit_functions() where security_definer), '>=', 40,
  'the audit sees the SECURITY DEFINER functions of public and private'
);
select is_empty(
  $$select signature from tests.audit_functions()
    where security_definer and not coalesce('search_path=""' = any(config), false)$$,
  'every SECURITY DEFINER function in public and private has set search_path = '''''
);
-- A function-level plan_cache_mode applies to everything the function runs, including the foreign-key
-- checks its writes fire: force_custom_plan would plan each of them again, for every row written.
select is_empty(
  $$select f.signature from tests.audit_functions() as f
    inner join pg_catalog.pg_proc as p on f.fn_oid = p.oid
    where p.provolatile = 'v' and coalesce('plan_cache_mode=force_custom_plan' = any(f.config), false)$$,
  'no function that may write sets plan_cache_mode = force_custom_plan'
);

-- 3. Who may execute what ----------------------------------------------------------------------------------
select is_empty(
  $$select signature from tests.audit_functions() where has_function_privilege('anon', fn_oid, 'execute')$$,
  'anon may execute no function of public or private (none is designed for anon)'
);
select is_empty(
  $$select f.signature from tests.audit_functions() as f, aclexplode(f.acl) as a
    where a.grantee = 0 and a.privilege_type = 'EXECUTE'$$,
  'no function of public or private grants EXECUTE to PUBLIC (a missing ACL counts as the default grant)'
);
select ok(not has_schema_privilege('anon', 'private', 'usage'), 'anon has no USAGE on schema private');
-- The RPCs of signed-in users. A new one must be added here and called by outsiders in section 5.
select set_eq(
  $$select name from tests.audit_functions()
    where schema_name = 'public' and has_function_privilege('authenticated', fn_oid, 'execute')$$,
  array[
    'public.report_pupil', 'public.report_group', 'public.report_process_pupil',
    'public.submissions_submit_answer', 'public.submissions_record_upload', 'public.submissions_delete_upload',
    'public.results_save_feedback', 'public.results_reset_feedback',
    'public.results_apply_ai_marks', 'public.results_clear_ai_marks',
    'public.groups_remove_member', 'public.lessons_assign', 'public.lessons_unassign',
    'public.lessons_release_feedback', 'public.read_pupil_submissions', 'public.activities_set_criteria', 'public.activities_update', 'public.lessons_set_active', 'public.units_update',
    'public.read_assignment_results', 'public.read_assignment_results_slice'
  ],
  'the public functions authenticated may execute are exactly the RPCs designed for signed-in users'
);
select set_eq(
  $$select name from tests.audit_functions()
    where schema_name = 'public' and not has_function_privilege('authenticated', fn_oid, 'execute')$$,
  array[
    'public.report_verify', 'public.report_verify_sweep', 'public.report_jobs_process', 'public.report_queue_health',
    'public.report_jobs_failures', 'public.report_jobs_requeue', 'public.report_verify_and_enqueue',
    'public.level_boundaries_set', 'public.groups_add_member', 'public.report_queue_schedule',
    'public.report_jobs_claim', 'public.report_jobs_run', 'public.report_jobs_release',
    'public.report_jobs_refresh_groups'
  ],
  'the public functions authenticated may not execute are exactly the service-only ones'
);
select ok(
  not has_function_privilege('authenticated', 'public.groups_add_member(text, uuid, text)', 'execute'),
  'groups_add_member (enrolment opens a pupil''s work to the class''s teachers) is not executable by authenticated'
);
-- Private helpers authenticated needs: those the RLS policies call (and the invoker RPCs report_pupil
-- and report_group through the assert_* helpers; report_group also reads its class's stored page,
-- report_group_stored, which checks the caller teaches the class, or derives it with the invoker's
-- rights, report_group_document; report_pupil builds the pupil's own view with report_pupil_view,
-- which checks the caller may read the pupil; the released-feedback policies call the withheld_*
-- sets). Everything else in private is owner/service_role only.
select set_eq(
  $$select name from tests.audit_functions()
    where schema_name = 'private' and has_function_privilege('authenticated', fn_oid, 'execute')$$,
  array[
    'private.is_group_teacher', 'private.is_teacher_of_pupil', 'private.can_read_pupil',
    'private.readable_pupil_ids', 'private.member_group_ids', 'private.taught_group_ids',
    'private.caller_bypasses_rls', 'private.assert_can_read_pupil', 'private.assert_can_teach_group',
    'private.profile_exists', 'private.assert_profile_exists', 'private.group_exists', 'private.realtime_can_receive', 'private.require',
    'private.report_group_stored', 'private.report_group_document',
    'private.withheld_activity_ids', 'private.withheld_unit_ids', 'private.withheld_subjects',
    'private.report_pupil_view'
  ],
  'the private functions authenticated may execute are exactly the helpers of the RLS policies and invoker RPCs'
);
select is_empty(
  $$select signature from tests.audit_functions()
    where schema_name = 'public' and not has_function_privilege('service_role', fn_oid, 'execute')$$,
  'service_role may execute every public function'
);
select is_empty(
  $$select name from tests.audit_functions() group by name having count(*) > 1$$,
  'no function of public or private is overloaded (PostgREST cannot choose between overloads)'
);

-- 4. Table privileges of the API roles ---------------------------------------------------------------------
select is_empty(
  $$select r.name from tests.audit_relations('private') as r, unnest(array['anon', 'authenticated']) as role_name
    where r.kind <> 'S'
      and (has_table_privilege(role_name, r.rel_oid, 'select, insert, update, delete, truncate, references, trigger')
           or has_any_column_privilege(role_name, r.rel_oid, 'select, insert, update, references'))$$,
  'anon and authenticated hold no privilege on any table or view in schema private'
);
select is_empty(
  $$select r.name from tests.audit_relations('private') as r, unnest(array['anon', 'authenticated']) as role_name
    where r.kind = 'S' and has_sequence_privilege(role_name, r.rel_oid, 'usage, select, update')$$,
  'anon and authenticated hold no privilege on any sequence in schema private'
);
select is_empty(
  $$select r.name from tests.audit_relations('public') as r
    where r.kind <> 'S'
      and (has_table_privilege('authenticated', r.rel_oid, 'insert, update, delete, truncate')
           or has_any_column_privilege('authenticated', r.rel_oid, 'insert, update'))$$,
  'authenticated holds no INSERT, UPDATE, DELETE or TRUNCATE on any table of schema public'
);
select is_empty(
  $$select r.name from tests.audit_relations('public') as r
    where (r.kind <> 'S'
           and (has_table_privilege('anon', r.rel_oid, 'select, insert, update, delete, truncate, references, trigger')
                or has_any_column_privilege('anon', r.rel_oid, 'select, insert, update, references')))
       or (r.kind = 'S' and has_sequence_privilege('anon', r.rel_oid, 'usage, select, update'))$$,
  'anon holds no privilege on any relation of schema public'
);

-- 5. Every RPC as its owner and as outsiders ---------------------------------------------------------------
-- Fixture: P1 has AT answered, AI-marked, overridden and criterion-marked by T1, and an upload on AU; P2
-- has AT answered; P1 has a pending recalculation (so that a wrongly allowed report_process_pupil or
-- write would show in the checksum).
select tests.build_school();
select tests.authenticate_as(tests.school_id('P1'));
select from public.submissions_submit_answer(tests.school_id('AT'), 'p1 answer');
select from public.submissions_record_upload(tests.school_id('AU'), 'p1.pdf', 'p1/p1.pdf');
select tests.authenticate_as(tests.school_id('P2'));
select from public.submissions_submit_answer(tests.school_id('AT'), 'p2 answer');
select tests.authenticate_as(tests.school_id('T1'));
select from public.results_apply_ai_marks(
  tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
  jsonb_build_array(jsonb_build_object('pupil_id', tests.school_id('P1'), 'score', 0.4, 'feedback', 'ai says')));
select from public.results_save_feedback(
  tests.school_id('AT'), tests.school_id('P1'), override_score => 0.6, feedback => 'good',
  criterion_scores => jsonb_build_array(jsonb_build_object('success_criteria_id', tests.school_id('C1'), 'score', 1)));
select tests.clear_authentication();
select from tests.drain_queue();
select from private.report_enqueue(array[tests.school_id('P1')], 'audit');
insert into audit_mark (id) select m.id::text from realtime.messages as m;

-- Each RPC of signed-in users with realistic arguments aimed at class W-7A and pupil P1, its owner (who
-- may call it), the pupil who plays "a pupil" (P1 for the teachers' RPCs; P3, a pupil of another class,
-- for the RPCs P1 owns) and what a teacher of another class (T2) gets. Curriculum edits are open to
-- every teacher by design (private.assert_teacher), so T2 is allowed those.
create temporary table audit_rpcs (
  n integer generated always as identity, rpc text not null, owner_name text not null, pupil_name text not null,
  other_teacher text not null, call text not null
) on commit drop;
insert into audit_rpcs (rpc, owner_name, pupil_name, other_teacher, call) values
('report_pupil', 'P1', 'P3', '42501', format('select public.report_pupil(%L)', tests.school_id('P1'))),
('report_process_pupil', 'P1', 'P3', '42501', format('select public.report_process_pupil(%L)', tests.school_id('P1'))),
('submissions_submit_answer', 'P1', 'P3', '42501',
 format('select public.submissions_submit_answer(%L, %L, pupil_id => %L)', tests.school_id('AT'), 'forged', tests.school_id('P1'))),
('submissions_record_upload', 'P1', 'P3', '42501',
 format('select public.submissions_record_upload(%L, %L, %L, pupil_id => %L)', tests.school_id('AU'), 'forged.pdf', 'x/forged.pdf',
   tests.school_id('P1'))),
('submissions_delete_upload', 'P1', 'P3', '42501',
 format('select public.submissions_delete_upload(%L, pupil_id => %L)', tests.school_id('AU'), tests.school_id('P1'))),
('results_save_feedback', 'T1', 'P1', '42501',
 format('select public.results_save_feedback(%L, %L, override_score => 1, feedback => %L)', tests.school_id('AT'), tests.school_id('P1'), 'forged')),
('results_reset_feedback', 'T1', 'P1', '42501',
 format('select public.results_reset_feedback(%L, %L)', tests.school_id('AT'), tests.school_id('P1'))),
('results_apply_ai_marks', 'T1', 'P1', '42501',
 format('select public.results_apply_ai_marks(%L, %L, %L)', tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'),
   jsonb_build_array(jsonb_build_object('pupil_id', tests.school_id('P1'), 'score', 1, 'feedback', 'forged')))),
('results_clear_ai_marks', 'T1', 'P1', '42501',
 format('select public.results_clear_ai_marks(%L, %L)', tests.assignment_id('W-7A', 'L1'), tests.school_id('AT'))),
('groups_add_member', 'service_role', 'P1', '42501',
 format('select public.groups_add_member(%L, %L, %L)', 'W-7A', tests.school_id('P4'), 'pupil')),
('groups_remove_member', 'T1', 'P1', '42501',
 format('select public.groups_remove_member(%L, %L)', 'W-7A', tests.school_id('P1'))),
('lessons_assign', 'T1', 'P1', '42501', format('select public.lessons_assign(%L, %L)', 'W-7A', tests.school_id('L2'))),
('lessons_unassign', 'T1', 'P1', '42501', format('select public.lessons_unassign(%L, %L)', 'W-7A', tests.school_id('L1'))),
('lessons_release_feedback', 'T1', 'P1', '42501',
 format('select public.lessons_release_feedback(%L, %L, false)', 'W-7A', tests.school_id('L1'))),
('read_pupil_submissions', 'P1', 'P3', '42501', format('select public.read_pupil_submissions(%L)', tests.school_id('P1'))),
('activities_set_criteria', 'T1', 'P1', 'ok',
 format('select public.activities_set_criteria(%L, %L)', tests.school_id('AT'), array[tests.school_id('C1')])),
('activities_update', 'T1', 'P1', 'ok',
 format('select public.activities_update(%L, is_summative => false)', tests.school_id('AT'))),
('lessons_set_active', 'T1', 'P1', 'ok', format('select public.lessons_set_active(%L, false)', tests.school_id('L1'))),
('units_update', 'T1', 'P1', 'ok', format('select public.units_update(%L, active => false)', tests.school_id('U8'))),
('report_group', 'T1', 'P1', '42501', format('select public.report_group(%L)', 'W-7A')),
('read_assignment_results', 'T1', 'P1', '42501',
 format('select public.read_assignment_results(%L, %L)', 'W-7A', tests.school_id('L1'))),
('read_assignment_results_slice', 'T1', 'P1', '42501',
 format('select public.read_assignment_results_slice(%L, %L, pupil_id => %L)', 'W-7A', tests.school_id('L1'), tests.school_id('P1')));

-- The calls: owner (allowed, rolled back), then a teacher of another class, a pupil, another pupil (P2,
-- P1's classmate) and anon. Extra: the class's own teacher may not enrol (groups_add_member is for the
-- enrolment flow), and the service-only RPCs refuse even the class's teacher.
create temporary table audit_cases (
  n integer generated always as identity, rpc text not null, who text not null, part text not null,
  call text not null, expect text not null
) on commit drop;
insert into audit_cases (rpc, who, part, call, expect)
select r.rpc, c.who, c.part, r.call, c.expect
from audit_rpcs as r
cross join lateral (values
  (1, r.owner_name, 'owner', 'ok'),
  (2, 'T2', 'teacher of another class', r.other_teacher),
  (3, r.pupil_name, 'a pupil', '42501'),
  (4, 'P2', 'another pupil', '42501'),
  (5, 'anon', 'anon', '42501')
) as c (k, who, part, expect)
order by r.n, c.k;
insert into audit_cases (rpc, who, part, call, expect)
select 'groups_add_member', 'T1', 'teacher of the class', call, '42501' from audit_rpcs where rpc = 'groups_add_member';
insert into audit_cases (rpc, who, part, call, expect)
select s.rpc, 'T1', 'teacher of the class, service-only RPC', s.call, '42501'
from (values
  ('report_verify', format('select * from public.report_verify(%L)', tests.school_id('P1'))),
  ('report_verify_sweep', 'select * from public.report_verify_sweep(1)'),
  ('report_jobs_process', 'select public.report_jobs_process(10, 100)'),
  ('report_jobs_claim', 'select public.report_jobs_claim(10)'),
  ('report_jobs_run', 'select public.report_jobs_run(1)'),
  ('report_jobs_release', 'select public.report_jobs_release(1)'),
  ('report_jobs_refresh_groups', 'select public.report_jobs_refresh_groups(10, 100)'),
  ('report_queue_health', 'select public.report_queue_health()'),
  ('report_jobs_failures', 'select * from public.report_jobs_failures()'),
  ('report_jobs_requeue', 'select public.report_jobs_requeue(1)'),
  ('report_verify_and_enqueue', 'select public.report_verify_and_enqueue(1)'),
  ('report_queue_schedule', 'select public.report_queue_schedule()'),
  ('level_boundaries_set', 'select public.level_boundaries_set(8, ''{"0": 0, "1L": 1}'')')
) as s (rpc, call);

select is_empty(
  $$select name from tests.audit_functions()
    where schema_name = 'public' and has_function_privilege('authenticated', fn_oid, 'execute')
    except
    select 'public.' || rpc from audit_cases
    group by rpc
    having count(distinct part) filter (
      where part in ('owner', 'teacher of another class', 'a pupil', 'another pupil', 'anon')) = 5$$,
  'every RPC authenticated may execute is called below by its owner and the four kinds of outsider'
);

select is(
  tests.audit_call(who, call, true), expect,
  format('%s: allowed for its owner %s (the arguments are realistic)', rpc, who)
)
from audit_cases where part = 'owner' order by n;

select from set_config('audit.before', tests.audit_checksum(), true);
select is(
  tests.audit_call(who, call, expect = 'ok'), expect,
  format('%s as %s: %s', rpc, case when who = part then who else who || ' (' || part || ')' end,
    case expect when 'ok' then 'allowed by design (curriculum edits are open to every teacher)'
      else 'denied with ' || expect end)
)
from audit_cases where part <> 'owner' order by n;
select is(
  tests.audit_checksum(), current_setting('audit.before'),
  'the denied calls changed nothing: every public table, private.report_jobs and the broadcasts are as before'
);

-- No rows of others: a class sharing a lesson with another sees only its own pupils, and a teacher cannot
-- reach a pupil of another class through a read RPC's pupil argument.
select tests.authenticate_as(tests.school_id('T2'));
select is_empty(
  format(
    $$select c from jsonb_array_elements(public.read_assignment_results('W-7B', %L) -> 'cells') as c
      where c ->> 'pupilId' in (%L, %L)
      union all
      select p from jsonb_array_elements(public.read_assignment_results('W-7B', %L) -> 'pupils') as p
      where p ->> 'pupilId' in (%L, %L)$$,
    tests.school_id('L1'), tests.school_id('P1'), tests.school_id('P2'), tests.school_id('L1'), tests.school_id('P1'), tests.school_id('P2')),
  'T2''s results grid of W-7B for L1 (also assigned to W-7A) holds no pupil or cell of P1, P2'
);
select is_empty(
  format(
    $$select p from json_array_elements(public.report_group('W-7B') -> 'pupils') as p
      where p ->> 'pupil_id' in (%L, %L)$$,
    tests.school_id('P1'), tests.school_id('P2')),
  'T2''s class report of W-7B holds no row of P1, P2'
);
select tests.clear_authentication();
select is(
  tests.audit_call('T1', format('select public.read_assignment_results_slice(%L, %L, pupil_id => %L)',
    'W-7A', tests.school_id('L1'), tests.school_id('P3'))),
  'PLV04', 'T1 cannot read P3 (a pupil of W-7B) through the W-7A results slice: PLV04, no cells'
);
select is(
  tests.audit_call('T1', format('select public.report_pupil(%L)', tests.school_id('P3'))), '42501',
  'T1 cannot read the report of P3, a pupil of another class (42501)'
);

-- 6. Private realtime topics -------------------------------------------------------------------------------
select ok(
  (select c.relrowsecurity from pg_catalog.pg_class as c where c.oid = 'realtime.messages'::regclass),
  'row level security is enabled on realtime.messages'
);
select is_empty(
  $$select policyname from pg_catalog.pg_policies
    where schemaname = 'realtime' and tablename = 'messages'
      and (cmd <> 'SELECT' or roles && array['anon', 'public']::name[])$$,
  'no policy on realtime.messages lets anyone send (insert) or lets anon receive'
);
select
from (values ('assignment_results:W-7A:' || tests.school_id('L1')), ('assignment_results:W-7B:' || tests.school_id('L1')),
  ('report:' || tests.school_id('P1'))) as x (topic)
cross join lateral realtime.send('{"audit": 1}', 'submission_updated', x.topic, true);
select from set_config('audit.topic_a', 'assignment_results:W-7A:' || tests.school_id('L1'), true);
select from set_config('audit.topic_b', 'assignment_results:W-7B:' || tests.school_id('L1'), true);
select from set_config('audit.topic_p1', 'report:' || tests.school_id('P1'), true);

select is(tests.audit_visible('T1', current_setting('audit.topic_a')), '1',
  'assignment_results:W-7A:L1: T1, its teacher, receives the message');
select is(tests.audit_visible('T2', current_setting('audit.topic_a')), '0',
  'assignment_results:W-7A:L1: T2 (teacher of another class with the same lesson) receives nothing');
select is(tests.audit_visible('P1', current_setting('audit.topic_a')), '0',
  'assignment_results:W-7A:L1: P1, a pupil of the class, receives nothing');
select is(tests.audit_visible('P3', current_setting('audit.topic_a')), '0',
  'assignment_results:W-7A:L1: P3, a pupil of another class, receives nothing');
select ok(tests.audit_visible('anon', current_setting('audit.topic_a')) in ('42501', '0'),
  'assignment_results:W-7A:L1: anon receives nothing (42501 or no row)');
select is(tests.audit_visible('T2', current_setting('audit.topic_b')), '1',
  'assignment_results:W-7B:L1: T2 receives its own class''s message and not W-7A''s');
select is(tests.audit_visible('P1', current_setting('audit.topic_p1')), '1', 'report:P1: P1 receives their own report events');
select is(tests.audit_visible('T1', current_setting('audit.topic_p1')), '1', 'report:P1: T1, P1''s teacher, receives them');
select is(tests.audit_visible('P2', current_setting('audit.topic_p1')), '0', 'report:P1: P2, a classmate, receives nothing');
select is(tests.audit_visible('T2', current_setting('audit.topic_p1')), '0', 'report:P1: T2, teacher of another class, receives nothing');
select ok(tests.audit_visible('anon', current_setting('audit.topic_p1')) in ('42501', '0'),
  'report:P1: anon receives nothing (42501 or no row)');
select is(
  tests.audit_call(who, format(
    $$insert into realtime.messages (topic, extension, event, payload, private) values (%L, 'broadcast', 'submission_updated', '{"forged": true}', true)$$,
    current_setting('audit.topic_a'))),
  '42501', format('%s cannot send (insert) a broadcast on assignment_results:W-7A:L1', who)
)
from unnest(array['T2', 'P1', 'anon']) with ordinality as x (who, k)
order by k;
select is(
  (select count(*)::int from realtime.messages
   where not exists (select from audit_mark as k where k.id = realtime.messages.id::text) and topic = current_setting('audit.topic_a')),
  1, 'the refused sends left only the one real message on the topic'
);

select * from finish();
rollback;
