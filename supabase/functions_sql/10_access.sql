-- Access helpers used by the row level security policies and by every RPC that checks who may
-- read or write a pupil's data. SECURITY DEFINER so that a policy on group_membership can consult
-- group_membership without recursing into its own policy.
--
-- The scalar helpers here (and elsewhere) are PL/pgSQL rather than SQL on purpose: a SQL function
-- with a SET clause is never inlined, and a SQL function that is not inlined is parsed and planned
-- again on every call, while PL/pgSQL keeps its plans for the session. On the write path that was
-- a fifth of the time of a write RPC.

-- True when the current user teaches the class.
create or replace function private.is_group_teacher(group_id text)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (
    select
    from public.group_membership as gm
    where gm.group_id = is_group_teacher.group_id
      and gm.user_id = auth.uid()
      and gm.role = 'teacher'
  );
end
$$;
comment on function private.is_group_teacher(text) is
'True when auth.uid() teaches the class. Used by RLS policies and RPC checks.';
revoke all on function private.is_group_teacher(text) from public;
grant execute on function private.is_group_teacher(text) to authenticated, service_role;

-- True when the current user teaches a class in which the given user is a pupil.
create or replace function private.is_teacher_of_pupil(pupil_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (
    select
    from public.group_membership as t
    inner join public.group_membership as p
      on p.group_id = t.group_id
    where t.user_id = auth.uid()
      and t.role = 'teacher'
      and p.user_id = is_teacher_of_pupil.pupil_id
      and p.role = 'pupil'
  );
end
$$;
comment on function private.is_teacher_of_pupil(uuid) is
'True when auth.uid() teaches a class in which pupil_id is a pupil. Used by RLS policies and RPC checks.';
revoke all on function private.is_teacher_of_pupil(uuid) from public;
grant execute on function private.is_teacher_of_pupil(uuid) to authenticated, service_role;

-- True when the current user may read the pupil's work and reports: the pupil, or one of their teachers.
create or replace function private.can_read_pupil(pupil_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return coalesce(can_read_pupil.pupil_id = auth.uid(), false)
    or private.is_teacher_of_pupil(can_read_pupil.pupil_id);
end
$$;
comment on function private.can_read_pupil(uuid) is
'True when auth.uid() is the pupil or teaches them. Used by RLS policies on pupil-owned rows.';
revoke all on function private.can_read_pupil(uuid) from public;
grant execute on function private.can_read_pupil(uuid) to authenticated, service_role;

-- The pupils whose work the current user may read: themselves and the pupils of the classes they
-- teach. Used by the RLS policies as `pupil_id in (select private.readable_pupil_ids())`, which the
-- planner evaluates once per query.
create or replace function private.readable_pupil_ids()
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select auth.uid() where auth.uid() is not null
  union
  select p.user_id
  from public.group_membership as t
  inner join public.group_membership as p on t.group_id = p.group_id and p.role = 'pupil'
  where t.user_id = auth.uid() and t.role = 'teacher'
$$;
comment on function private.readable_pupil_ids() is
'auth.uid() and the pupils of the classes auth.uid() teaches. Used by RLS policies (evaluated once per query).';
revoke all on function private.readable_pupil_ids() from public;
grant execute on function private.readable_pupil_ids() to authenticated, service_role;

-- The classes the current user belongs to, in any role.
create or replace function private.member_group_ids()
returns setof text
language sql
stable
security definer
set search_path = ''
as $$
  select gm.group_id from public.group_membership as gm where gm.user_id = auth.uid()
$$;
comment on function private.member_group_ids() is 'The classes of auth.uid() in any role. Used by RLS policies.';
revoke all on function private.member_group_ids() from public;
grant execute on function private.member_group_ids() to authenticated, service_role;

-- The classes the current user teaches.
create or replace function private.taught_group_ids()
returns setof text
language sql
stable
security definer
set search_path = ''
as $$
  select gm.group_id from public.group_membership as gm where gm.user_id = auth.uid() and gm.role = 'teacher'
$$;
comment on function private.taught_group_ids() is 'The classes auth.uid() teaches. Used by RLS policies.';
revoke all on function private.taught_group_ids() from public;
grant execute on function private.taught_group_ids() to authenticated, service_role;

-- True when the calling role bypasses row level security (service_role, the database owner). It asks
-- about the role the session is acting as (SET ROLE, as PostgREST does), which SECURITY DEFINER
-- does not change, so it answers the same inside the RPCs.
create or replace function private.caller_bypasses_rls()
returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
  return coalesce((
    select r.rolbypassrls or r.rolsuper
    from pg_catalog.pg_roles as r
    where r.rolname = coalesce(nullif(current_setting('role', true), 'none'), session_user)
  ), false);
end
$$;
comment on function private.caller_bypasses_rls() is
'True when the role the session acts as (SET ROLE, else the login role) bypasses RLS: service_role, postgres. '
'Callers: the assert_* helpers and the RPCs.';
revoke all on function private.caller_bypasses_rls() from public;
grant execute on function private.caller_bypasses_rls() to authenticated, service_role;

-- Raise unless the caller may read the pupil's work and reports. A caller who may not gets the same
-- 42501 for an unknown pupil as for someone else's, so that ids cannot be probed; only a caller who
-- may see the pupil (the pupil, their teachers, the service role) learns that an id is unknown.
create or replace function private.assert_can_read_pupil(pupil_id uuid)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  perform private.require(assert_can_read_pupil.pupil_id, 'pupil_id', 'Pass the uuid of a pupil.');
  if not (private.caller_bypasses_rls() or private.can_read_pupil(assert_can_read_pupil.pupil_id)) then
    raise exception 'pupil % is unknown or you may not read their work', assert_can_read_pupil.pupil_id
      using errcode = '42501', hint = 'Only the pupil and the teachers of the pupil''s classes may.';
  end if;
  perform private.assert_profile_exists(assert_can_read_pupil.pupil_id);
end
$$;
comment on function private.assert_can_read_pupil(uuid) is
'Raises PLV01 (null), 42501 (not the pupil nor their teacher, whether or not the pupil exists) or PLN01 (unknown '
'pupil, for the service role and the signed-in user themselves). Callers: read RPCs.';
revoke all on function private.assert_can_read_pupil(uuid) from public;
grant execute on function private.assert_can_read_pupil(uuid) to authenticated, service_role;

-- Raise unless the caller teaches the class. A caller who does not teach it gets the same 42501
-- whether or not the class exists, so that class codes cannot be listed by trying them; only the
-- service role learns that a code is unknown (PLN02).
create or replace function private.assert_can_teach_group(group_id text)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  perform private.require(assert_can_teach_group.group_id, 'group_id', 'Pass a class code.');
  if private.caller_bypasses_rls() then
    if not private.group_exists(assert_can_teach_group.group_id) then
      raise exception 'unknown class %', assert_can_teach_group.group_id using errcode = 'PLN02';
    end if;
    return;
  end if;
  if not private.is_group_teacher(assert_can_teach_group.group_id) then
    raise exception 'class % is unknown or you do not teach it', assert_can_teach_group.group_id
      using errcode = '42501', hint = 'Only the teachers of a class may do this.';
  end if;
end
$$;
comment on function private.assert_can_teach_group(text) is
'Raises PLV01 (null), 42501 (not a teacher of the class, whether or not it exists) or, for the service role, '
'PLN02 (unknown class). Callers: RPCs.';
revoke all on function private.assert_can_teach_group(text) from public;
grant execute on function private.assert_can_teach_group(text) to authenticated, service_role;

-- Existence checks that see past RLS, so that an unknown id and a forbidden one get different errors.
create or replace function private.profile_exists(user_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (select from public.profiles as p where p.user_id = profile_exists.user_id);
end
$$;
comment on function private.profile_exists(uuid) is 'True when a profile has this user_id. Callers: assert_profile_exists.';
revoke all on function private.profile_exists(uuid) from public;
grant execute on function private.profile_exists(uuid) to authenticated, service_role;

-- Raise PLN01 unless a profile has this user_id: the one place that says a person is unknown (what:
-- 'pupil' or 'user', as the message names them). Callers check first whether the caller may know.
create or replace function private.assert_profile_exists(user_id uuid, what text default 'pupil')
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not private.profile_exists(assert_profile_exists.user_id) then
    raise exception 'unknown % %', assert_profile_exists.what, assert_profile_exists.user_id
      using errcode = 'PLN01', detail = 'No profile has this user_id.';
  end if;
end
$$;
comment on function private.assert_profile_exists(uuid, text) is
'Raises PLN01 (unknown pupil or user) unless a profile has user_id. Callers: assert_can_read_pupil, assert_can_submit, '
'assert_can_mark, report_recalculate_pupil, report_verify, report_process_pupil, read_assignment_results_slice, '
'groups_add_member.';
revoke all on function private.assert_profile_exists(uuid, text) from public;
grant execute on function private.assert_profile_exists(uuid, text) to authenticated, service_role;

create or replace function private.group_exists(group_id text)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return exists (select from public.groups as g where g.group_id = group_exists.group_id);
end
$$;
comment on function private.group_exists(text) is 'True when the class exists. Callers: assert_* helpers.';
revoke all on function private.group_exists(text) from public;
grant execute on function private.group_exists(text) to authenticated, service_role;

-- Feedback released to pupils (docs/architecture.md, "Released feedback"). A lesson's marks and
-- feedback reach a pupil only when every class of the pupil to which the lesson is assigned has
-- released them (lesson_assignments.feedback_visible); until then the lesson is withheld from the
-- pupil. Teachers and the service role see everything.

-- The lessons withheld from the pupil, with their unit and subject: assigned to a class in which the
-- pupil is a pupil, feedback not released there.
create or replace function private.withheld_lessons(pupil_id uuid)
returns table (lesson_id uuid, unit_id uuid, subject text)
language sql
stable
security definer
set search_path = ''
as $$
  select distinct la.lesson_id, l.unit_id, u.subject
  from public.group_membership as gm
  inner join public.lesson_assignments as la on gm.group_id = la.group_id and not la.feedback_visible
  inner join public.lessons as l on la.lesson_id = l.lesson_id
  inner join public.units as u on l.unit_id = u.unit_id
  where gm.user_id = withheld_lessons.pupil_id and gm.role = 'pupil'
$$;
comment on function private.withheld_lessons(uuid) is
'The lessons whose feedback is not released to the pupil (assigned to one of the pupil''s classes with '
'feedback_visible false), with their unit and subject. Callers: withheld_activity_ids, withheld_unit_ids, '
'withheld_subjects (the RLS policies), feedback_withheld, report_pupil_view, read_pupil_submissions.';
revoke all on function private.withheld_lessons(uuid) from public;
grant execute on function private.withheld_lessons(uuid) to service_role;

-- The activities of the lessons withheld from the signed-in user, for the RLS policies on the
-- pupil's work (evaluated once per query). Nothing for a teacher, the service role or anon.
create or replace function private.withheld_activity_ids()
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select a.activity_id
  from private.withheld_lessons(auth.uid()) as w
  inner join public.activities as a on w.lesson_id = a.lesson_id
  where auth.uid() is not null
$$;
comment on function private.withheld_activity_ids() is
'Activities of the lessons whose feedback is not released to auth.uid(). Callers: RLS policies on submissions and '
'submission_criterion_scores.';
revoke all on function private.withheld_activity_ids() from public;
grant execute on function private.withheld_activity_ids() to authenticated, service_role;

-- The units and subjects with a lesson withheld from the signed-in user, for the RLS policies on
-- the pupil's own cached report rows.
create or replace function private.withheld_unit_ids()
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select distinct w.unit_id from private.withheld_lessons(auth.uid()) as w where auth.uid() is not null
$$;
comment on function private.withheld_unit_ids() is
'Units with a lesson whose feedback is not released to auth.uid(). Callers: RLS policies on the unit and criterion '
'rows and unit documents of the reports cache.';
revoke all on function private.withheld_unit_ids() from public;
grant execute on function private.withheld_unit_ids() to authenticated, service_role;

create or replace function private.withheld_subjects()
returns setof text
language sql
stable
security definer
set search_path = ''
as $$
  select distinct w.subject from private.withheld_lessons(auth.uid()) as w where auth.uid() is not null
$$;
comment on function private.withheld_subjects() is
'Subjects with a lesson whose feedback is not released to auth.uid(). Callers: RLS policies on the subject rows and '
'subject documents of the reports cache.';
revoke all on function private.withheld_subjects() from public;
grant execute on function private.withheld_subjects() to authenticated, service_role;

-- True when the caller is the pupil themselves (not the service role) and the lesson is withheld
-- from them: what the RPCs check before returning marks to a pupil.
create or replace function private.feedback_withheld(pupil_id uuid, lesson_id uuid)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return coalesce(feedback_withheld.pupil_id = auth.uid(), false)
    and not private.caller_bypasses_rls()
    and exists (
      select from private.withheld_lessons(feedback_withheld.pupil_id) as w
      where w.lesson_id = feedback_withheld.lesson_id
    );
end
$$;
comment on function private.feedback_withheld(uuid, uuid) is
'True when auth.uid() is the pupil (not the service role) and the lesson''s feedback is not released to them. '
'Callers: submission_written.';
revoke all on function private.feedback_withheld(uuid, uuid) from public;
grant execute on function private.feedback_withheld(uuid, uuid) to service_role;
