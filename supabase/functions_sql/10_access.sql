-- Access helpers used by the row level security policies and by every RPC that checks who may
-- read or write a pupil's data. SECURITY DEFINER so that a policy on group_membership can consult
-- group_membership without recursing into its own policy.

-- True when the current user teaches the class.
create or replace function private.is_group_teacher(group_id text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select
    from public.group_membership as gm
    where gm.group_id = is_group_teacher.group_id
      and gm.user_id = auth.uid()
      and gm.role = 'teacher'
  )
$$;
comment on function private.is_group_teacher(text) is
'True when auth.uid() teaches the class. Used by RLS policies and RPC checks.';

-- True when the current user belongs to the class in any role.
create or replace function private.is_group_member(group_id text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select
    from public.group_membership as gm
    where gm.group_id = is_group_member.group_id
      and gm.user_id = auth.uid()
  )
$$;
comment on function private.is_group_member(text) is
'True when auth.uid() is a pupil or teacher of the class. Used by RLS policies.';

-- True when the current user teaches a class in which the given user is a pupil.
create or replace function private.is_teacher_of_pupil(pupil_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select
    from public.group_membership as t
    inner join public.group_membership as p
      on p.group_id = t.group_id
    where t.user_id = auth.uid()
      and t.role = 'teacher'
      and p.user_id = is_teacher_of_pupil.pupil_id
      and p.role = 'pupil'
  )
$$;
comment on function private.is_teacher_of_pupil(uuid) is
'True when auth.uid() teaches a class in which pupil_id is a pupil. Used by RLS policies and RPC checks.';

-- True when the current user may read the pupil's work and reports: the pupil, or one of their teachers.
create or replace function private.can_read_pupil(pupil_id uuid)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select can_read_pupil.pupil_id = auth.uid()
    or private.is_teacher_of_pupil(can_read_pupil.pupil_id)
$$;
comment on function private.can_read_pupil(uuid) is
'True when auth.uid() is the pupil or teaches them. Used by RLS policies on pupil-owned rows.';

revoke all on function private.is_group_teacher(text) from public;
revoke all on function private.is_group_member(text) from public;
revoke all on function private.is_teacher_of_pupil(uuid) from public;
revoke all on function private.can_read_pupil(uuid) from public;
grant execute on function private.is_group_teacher(text) to authenticated, service_role;
grant execute on function private.is_group_member(text) to authenticated, service_role;
grant execute on function private.is_teacher_of_pupil(uuid) to authenticated, service_role;
grant execute on function private.can_read_pupil(uuid) to authenticated, service_role;
