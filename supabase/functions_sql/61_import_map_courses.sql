-- The planner import's mappers of the school and its courses (docs/import.md), one per legacy table,
-- in the order import_map calls them: each records the rows it cannot map in private.import_work_issues,
-- allocates ids in private.import_ids for those it can, upserts them (writing only what differs) and
-- returns {table: rows written}.

-- Subjects: the legacy subjects of a name of 1-100 characters. Returns {subjects: rows written}.
create or replace function private.import_map_subjects()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  insert into public.subjects as t (subject, active)
  select distinct on (s.subject) s.subject, coalesce(s.active, true)
  from private.import_legacy_subjects as s
  where length(s.subject) between 1 and 100
  order by s.subject
  on conflict (subject) do update set active = excluded.active
  where t.active is distinct from excluded.active;
  get diagnostics v_n = row_count;
  return jsonb_build_object('subjects', v_n);
end
$$;
comment on function private.import_map_subjects() is
'Maps the planner''s subjects into public.subjects (an upsert that writes only what differs); returns {subjects: '
'rows written}. Callers: import_map. docs/import.md.';
revoke all on function private.import_map_subjects() from public;

-- People: every legacy profile. An email that is missing, malformed or another person's becomes
-- <user_id>@planner-import.invalid (reported unless missing). An auth user is created when none exists.
-- Allocates the user ids (first seen in run_id). Returns {profiles: rows written}.
create or replace function private.import_map_profiles(run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'user', p.user_id, private.import_uuid('user', p.user_id)::text, import_map_profiles.run_id
  from private.import_legacy_profiles as p
  where p.user_id is not null
  on conflict do nothing;
  with src as (
    select distinct on (m.new_id)
      m.new_id::uuid as user_id,
      p.user_id as legacy_id,
      coalesce(nullif(left(trim(p.first_name), 200), ''), 'Unknown') as first_name,
      coalesce(nullif(left(trim(p.last_name), 200), ''), 'Unknown') as last_name,
      nullif(trim(p.email), '') as email,
      coalesce(p.is_teacher, false) as is_teacher
    from private.import_legacy_profiles as p
    inner join private.import_ids as m on m.kind = 'user' and p.user_id = m.legacy_id
    order by m.new_id
  ),

  checked as (
    select
      s.*,
      s.email is not null and (
        s.email not like '_%@_%' or length(s.email) > 255
        or count(*) over (partition by lower(s.email)) > 1
        or exists (
          select from public.profiles as o where lower(o.email) = lower(s.email) and o.user_id <> s.user_id
        )
      ) as refused
    from src as s
  ),

  final as (
    select
      c.*,
      case when c.email is null or c.refused then c.user_id::text || '@planner-import.invalid' else c.email end
        as final_email
    from checked as c
  ),

  issues as (
    insert into private.import_work_issues (table_name, legacy_key, rule, detail)
    select
      'profiles', f.legacy_id, 'email',
      format('email %s is malformed or shared with another person; imported as %s', f.email, f.final_email)
    from final as f
    where f.refused
  ),

  auth_users as (
    insert into auth.users (id, email, created_at, updated_at)
    select f.user_id, f.final_email, now(), now() from final as f
    on conflict do nothing
  )

  insert into public.profiles as t (user_id, first_name, last_name, email, is_teacher)
  select f.user_id, f.first_name, f.last_name, f.final_email, f.is_teacher from final as f
  on conflict (user_id) do update set
    first_name = excluded.first_name, last_name = excluded.last_name, email = excluded.email,
    is_teacher = excluded.is_teacher
  where
    (t.first_name, t.last_name, t.email, t.is_teacher)
    is distinct from (excluded.first_name, excluded.last_name, excluded.email, excluded.is_teacher);
  get diagnostics v_n = row_count;
  return jsonb_build_object('profiles', v_n);
end
$$;
comment on function private.import_map_profiles(bigint) is
'Maps the planner''s profiles into auth.users and public.profiles, allocating user ids in private.import_ids and '
'reporting a refused email in private.import_work_issues; returns {profiles: rows written}. Callers: import_map. '
'docs/import.md.';
revoke all on function private.import_map_profiles(bigint) from public;

-- Classes: a subject that exists; the code kept when the rule accepts it, else mapped (docs/import.md);
-- a join code that is missing or taken becomes planner-<hash>. Returns {groups: rows written}.
create or replace function private.import_map_groups(run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select 'groups', g.group_id, 'unknown_subject', format('subject %s is not a subject', coalesce(g.subject, '(none)'))
  from private.import_legacy_groups as g
  where g.group_id is not null and not exists (select from public.subjects as s where s.subject = g.subject);
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'group', g.group_id, private.import_class_code(g.group_id, pass.salted), import_map_groups.run_id
  from
    private.import_legacy_groups as g,
    unnest(array[false, false, true]) with ordinality as pass (salted, n)
  where
    g.group_id is not null and exists (select from public.subjects as s where s.subject = g.subject)
    and (pass.n > 1 or g.group_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$')
    and (pass.n < 3 or not exists (
      select from private.import_ids as m where m.kind = 'group' and m.legacy_id = g.group_id
    ))
  order by pass.n, g.group_id
  on conflict do nothing;
  with src as (
    select distinct on (m.new_id)
      m.new_id as group_id,
      g.group_id as legacy_id,
      g.subject,
      nullif(left(trim(g.join_code), 100), '') as join_code,
      coalesce(g.active, true) as active
    from private.import_legacy_groups as g
    inner join private.import_ids as m on m.kind = 'group' and g.group_id = m.legacy_id
    order by m.new_id
  )

  insert into public.groups as t (group_id, subject, join_code, active)
  select
    s.group_id,
    s.subject,
    case
      when
        s.join_code is null
        or count(*) over (partition by s.join_code) > 1
        or exists (select from public.groups as o where o.join_code = s.join_code and o.group_id <> s.group_id)
        then 'planner-' || left(md5(s.legacy_id), 12)
      else s.join_code
    end,
    s.active
  from src as s
  on conflict (group_id) do update set
    subject = excluded.subject, join_code = excluded.join_code, active = excluded.active
  where (t.subject, t.join_code, t.active) is distinct from (excluded.subject, excluded.join_code, excluded.active);
  get diagnostics v_n = row_count;
  return jsonb_build_object('groups', v_n);
end
$$;
comment on function private.import_map_groups(bigint) is
'Maps the planner''s classes into public.groups, allocating class codes in private.import_ids and reporting an '
'unknown subject in private.import_work_issues; returns {groups: rows written}. Callers: import_map. '
'docs/import.md.';
revoke all on function private.import_map_groups(bigint) from public;

-- Memberships: both ends imported; a profile marked as a teacher is a teacher of the class even
-- where the planner lists them as a pupil. Returns {group_membership: rows written}.
create or replace function private.import_map_memberships()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  with src as (
    select
      gm.group_id as legacy_group,
      gm.user_id as legacy_user,
      gm.role,
      g.new_id as group_id,
      u.new_id::uuid as user_id,
      coalesce(p.is_teacher, false) as is_teacher
    from private.import_legacy_memberships as gm
    left join private.import_ids as g on g.kind = 'group' and gm.group_id = g.legacy_id
    left join private.import_ids as u on u.kind = 'user' and gm.user_id = u.legacy_id
    left join private.import_legacy_profiles as p on gm.user_id = p.user_id
  ),

  issues as (
    insert into private.import_work_issues (table_name, legacy_key, rule, detail)
    select
      'group_membership', coalesce(s.legacy_group, '?') || ' / ' || coalesce(s.legacy_user, '?'),
      case when s.group_id is null or s.user_id is null then 'orphan' else 'unknown_role' end,
      case
        when s.group_id is null then format('class %s was not imported (unknown or skipped)', s.legacy_group)
        when s.user_id is null then format('user %s has no profile', s.legacy_user)
        else format('role %s is neither pupil nor teacher', s.role)
      end
    from src as s
    where s.group_id is null or s.user_id is null or s.role not in ('pupil', 'teacher')
  )

  insert into public.group_membership as t (group_id, user_id, role)
  select distinct on (s.group_id, s.user_id)
    s.group_id,
    s.user_id,
    case when s.role = 'teacher' or s.is_teacher then 'teacher' else 'pupil' end
  from src as s
  where s.group_id is not null and s.user_id is not null and coalesce(s.role in ('pupil', 'teacher'), true)
  order by s.group_id, s.user_id, s.role = 'teacher' desc
  on conflict (group_id, user_id) do update set role = excluded.role
  where t.role <> excluded.role;
  get diagnostics v_n = row_count;
  return jsonb_build_object('group_membership', v_n);
end
$$;
comment on function private.import_map_memberships() is
'Maps the planner''s group_membership into public.group_membership, reporting orphans and unknown roles in '
'private.import_work_issues; returns {group_membership: rows written}. Callers: import_map. docs/import.md.';
revoke all on function private.import_map_memberships() from public;

-- Units: a known subject and a year of 7-13. Returns {units: rows written}.
create or replace function private.import_map_units(run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select
    'units', u.unit_id,
    case when s.subject is null then 'unknown_subject' else 'year_out_of_range' end,
    case
      when s.subject is null then format('subject %s is not a subject', coalesce(u.subject, '(none)'))
      else format('year %s is not 7-13', coalesce(u.year::text, '(none)'))
    end
  from private.import_legacy_units as u
  left join public.subjects as s on u.subject = s.subject
  where u.unit_id is not null and (s.subject is null or coalesce(u.year not between 7 and 13, true));
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'unit', u.unit_id, private.import_uuid('unit', u.unit_id)::text, import_map_units.run_id
  from private.import_legacy_units as u
  where
    u.unit_id is not null and u.year between 7 and 13
    and exists (select from public.subjects as s where s.subject = u.subject)
  on conflict do nothing;
  insert into public.units as t (unit_id, title, subject, description, year, active)
  select distinct on (m.new_id)
    m.new_id::uuid, coalesce(nullif(left(trim(u.title), 500), ''), u.unit_id), u.subject, u.description, u.year,
    coalesce(u.active, true)
  from private.import_legacy_units as u
  inner join private.import_ids as m on m.kind = 'unit' and u.unit_id = m.legacy_id
  where u.year between 7 and 13 and exists (select from public.subjects as s where s.subject = u.subject)
  order by m.new_id
  on conflict (unit_id) do update set
    title = excluded.title, subject = excluded.subject, description = excluded.description, year = excluded.year,
    active = excluded.active
  where
    (t.title, t.subject, t.description, t.year, t.active)
    is distinct from (excluded.title, excluded.subject, excluded.description, excluded.year, excluded.active);
  get diagnostics v_n = row_count;
  return jsonb_build_object('units', v_n);
end
$$;
comment on function private.import_map_units(bigint) is
'Maps the planner''s units into public.units, allocating unit ids in private.import_ids and reporting an unknown '
'subject or a year out of range in private.import_work_issues; returns {units: rows written}. Callers: '
'import_map. docs/import.md.';
revoke all on function private.import_map_units(bigint) from public;

-- Lessons of imported units. Returns {lessons: rows written}.
create or replace function private.import_map_lessons(run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select 'lessons', l.lesson_id, 'orphan', format('unit %s was not imported (unknown or skipped)', l.unit_id)
  from private.import_legacy_lessons as l
  where
    l.lesson_id is not null
    and not exists (select from private.import_ids as m where m.kind = 'unit' and m.legacy_id = l.unit_id);
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'lesson', l.lesson_id, private.import_uuid('lesson', l.lesson_id)::text, import_map_lessons.run_id
  from private.import_legacy_lessons as l
  where
    l.lesson_id is not null
    and exists (select from private.import_ids as m where m.kind = 'unit' and m.legacy_id = l.unit_id)
  on conflict do nothing;
  insert into public.lessons as t (lesson_id, unit_id, title, order_by, active)
  select distinct on (m.new_id)
    m.new_id::uuid, u.new_id::uuid, coalesce(nullif(left(trim(l.title), 500), ''), 'Untitled lesson'),
    coalesce(l.order_by, 0), coalesce(l.active, true)
  from private.import_legacy_lessons as l
  inner join private.import_ids as m on m.kind = 'lesson' and l.lesson_id = m.legacy_id
  inner join private.import_ids as u on u.kind = 'unit' and l.unit_id = u.legacy_id
  order by m.new_id
  on conflict (lesson_id) do update set
    unit_id = excluded.unit_id, title = excluded.title, order_by = excluded.order_by, active = excluded.active
  where
    (t.unit_id, t.title, t.order_by, t.active)
    is distinct from (excluded.unit_id, excluded.title, excluded.order_by, excluded.active);
  get diagnostics v_n = row_count;
  return jsonb_build_object('lessons', v_n);
end
$$;
comment on function private.import_map_lessons(bigint) is
'Maps the planner''s lessons of imported units into public.lessons, allocating lesson ids in private.import_ids '
'and reporting orphans in private.import_work_issues; returns {lessons: rows written}. Callers: import_map. '
'docs/import.md.';
revoke all on function private.import_map_lessons(bigint) from public;

-- Lesson assignments, and the lessons of each active unit-level assignment (docs/import.md): one
-- row per class and lesson, the earliest start date, feedback visible if any row says so; never a
-- lesson of another subject than the class's (lessons_assign refuses those, PLV14). Returns
-- {lesson_assignments: rows written}.
create or replace function private.import_map_assignments()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  with src as (
    select
      x.legacy_key,
      x.source_table,
      g.new_id as group_id,
      l.new_id::uuid as lesson_id,
      x.start_date,
      x.feedback_visible,
      pg.subject as group_subject,
      pu.subject as unit_subject
    from (
      select
        a.group_id, a.lesson_id, a.start_date, coalesce(a.feedback_visible, false) as feedback_visible,
        a.group_id || ' / ' || a.lesson_id as legacy_key, 'lesson_assignments' as source_table
      from private.import_legacy_lesson_assignments as a
      union all
      select
        a.group_id, coalesce(l.lesson_id, '(unit ' || a.unit_id || ')'), a.start_date, false,
        a.group_id || ' / ' || a.unit_id || coalesce(' / ' || l.lesson_id, ''), 'assignments'
      from private.import_legacy_assignments as a
      left join private.import_legacy_lessons as l on a.unit_id = l.unit_id
      where
        coalesce(a.active, true)
        and (
          l.lesson_id is not null
          or not exists (select from private.import_ids as u where u.kind = 'unit' and u.legacy_id = a.unit_id)
        )
    ) as x
    left join private.import_ids as g on g.kind = 'group' and x.group_id = g.legacy_id
    left join private.import_ids as l on l.kind = 'lesson' and x.lesson_id = l.legacy_id
    left join public.groups as pg on g.new_id = pg.group_id
    left join public.lessons as pl on l.new_id::uuid = pl.lesson_id
    left join public.units as pu on pl.unit_id = pu.unit_id
  ),

  issues as (
    insert into private.import_work_issues (table_name, legacy_key, rule, detail)
    select
      s.source_table, s.legacy_key,
      case when s.group_id is null or s.lesson_id is null then 'orphan' else 'cross_subject_assignment' end,
      case
        when s.group_id is null then 'the class was not imported (unknown or skipped)'
        when s.lesson_id is null then 'the lesson (or unit) was not imported (unknown or skipped)'
        else format('a %s lesson assigned to a %s class', s.unit_subject, s.group_subject)
      end
    from src as s
    where s.group_id is null or s.lesson_id is null or s.group_subject <> s.unit_subject
  )

  insert into public.lesson_assignments as t (group_id, lesson_id, start_date, feedback_visible)
  select s.group_id, s.lesson_id, min(s.start_date), bool_or(s.feedback_visible)
  from src as s
  where s.group_id is not null and s.lesson_id is not null and s.group_subject = s.unit_subject
  group by s.group_id, s.lesson_id
  on conflict (group_id, lesson_id) do update set
    start_date = excluded.start_date, feedback_visible = excluded.feedback_visible
  where (t.start_date, t.feedback_visible) is distinct from (excluded.start_date, excluded.feedback_visible);
  get diagnostics v_n = row_count;
  return jsonb_build_object('lesson_assignments', v_n);
end
$$;
comment on function private.import_map_assignments() is
'Maps the planner''s lesson_assignments and active assignments into public.lesson_assignments, reporting orphans '
'and cross-subject assignments in private.import_work_issues; returns {lesson_assignments: rows written}. '
'Callers: import_map. docs/import.md.';
revoke all on function private.import_map_assignments() from public;

-- Learning objectives. Returns {learning_objectives: rows written}.
create or replace function private.import_map_objectives(run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'objective', o.learning_objective_id, private.import_uuid('objective', o.learning_objective_id)::text,
    import_map_objectives.run_id
  from private.import_legacy_objectives as o
  where o.learning_objective_id is not null
  on conflict do nothing;
  insert into public.learning_objectives as t (learning_objective_id, title, order_by)
  select distinct on (m.new_id)
    m.new_id::uuid, coalesce(nullif(trim(o.title), ''), 'Untitled objective'), coalesce(o.order_index, 0)
  from private.import_legacy_objectives as o
  inner join private.import_ids as m on m.kind = 'objective' and o.learning_objective_id = m.legacy_id
  order by m.new_id
  on conflict (learning_objective_id) do update set title = excluded.title, order_by = excluded.order_by
  where (t.title, t.order_by) is distinct from (excluded.title, excluded.order_by);
  get diagnostics v_n = row_count;
  return jsonb_build_object('learning_objectives', v_n);
end
$$;
comment on function private.import_map_objectives(bigint) is
'Maps the planner''s learning objectives into public.learning_objectives, allocating their ids in '
'private.import_ids; returns {learning_objectives: rows written}. Callers: import_map. docs/import.md.';
revoke all on function private.import_map_objectives(bigint) from public;

-- Success criteria of imported objectives, levels 0-9. Returns {success_criteria: rows written}.
create or replace function private.import_map_criteria(run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select
    'success_criteria', c.success_criteria_id,
    case when o.legacy_id is null then 'orphan' else 'level_out_of_range' end,
    case
      when o.legacy_id is null then format('learning objective %s is unknown', c.learning_objective_id)
      else format('level %s is not 0-9', coalesce(c.level::text, '(none)'))
    end
  from private.import_legacy_criteria as c
  left join private.import_ids as o on o.kind = 'objective' and c.learning_objective_id = o.legacy_id
  where c.success_criteria_id is not null and (o.legacy_id is null or coalesce(c.level not between 0 and 9, true));
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'criterion', c.success_criteria_id, private.import_uuid('criterion', c.success_criteria_id)::text,
    import_map_criteria.run_id
  from private.import_legacy_criteria as c
  where
    c.success_criteria_id is not null and c.level between 0 and 9
    and exists (select from private.import_ids as o where o.kind = 'objective' and o.legacy_id = c.learning_objective_id)
  on conflict do nothing;
  insert into public.success_criteria as t (success_criteria_id, learning_objective_id, description, level, order_by)
  select distinct on (m.new_id)
    m.new_id::uuid, o.new_id::uuid, coalesce(nullif(trim(c.description), ''), 'Untitled criterion'), c.level,
    coalesce(c.order_index, 0)
  from private.import_legacy_criteria as c
  inner join private.import_ids as m on m.kind = 'criterion' and c.success_criteria_id = m.legacy_id
  inner join private.import_ids as o on o.kind = 'objective' and c.learning_objective_id = o.legacy_id
  where c.level between 0 and 9
  order by m.new_id
  on conflict (success_criteria_id) do update set
    learning_objective_id = excluded.learning_objective_id, description = excluded.description,
    level = excluded.level, order_by = excluded.order_by
  where
    (t.learning_objective_id, t.description, t.level, t.order_by)
    is distinct from (excluded.learning_objective_id, excluded.description, excluded.level, excluded.order_by);
  get diagnostics v_n = row_count;
  return jsonb_build_object('success_criteria', v_n);
end
$$;
comment on function private.import_map_criteria(bigint) is
'Maps the planner''s success criteria into public.success_criteria, allocating their ids in private.import_ids '
'and reporting orphans and levels out of range in private.import_work_issues; returns {success_criteria: rows '
'written}. Callers: import_map. docs/import.md.';
revoke all on function private.import_map_criteria(bigint) from public;

-- Activities of imported lessons, the answer keys moved out of body_data. Activity types this layer
-- does not know are created, not scorable, and every activity of one is reported (the planner's text
-- is this layer's display-text). Returns {activities: rows written}.
create or replace function private.import_map_activities(run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select distinct
    'activity_type', coalesce(a.type, 'untyped'), coalesce(a.type, 'untyped'), import_map_activities.run_id
  from private.import_legacy_activities as a
  where
    coalesce(a.type, 'untyped') <> 'text'
    and not exists (select from public.activity_types as t where t.type = coalesce(a.type, 'untyped'))
  on conflict do nothing;
  insert into public.activity_types (type, scorable, answer_kind)
  select m.new_id, false, null
  from private.import_ids as m
  where m.kind = 'activity_type'
  on conflict do nothing;

  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select
    'activities', a.activity_id,
    case when l.legacy_id is null then 'orphan' else 'unknown_activity_type' end,
    case
      when l.legacy_id is null then format('lesson %s was not imported (unknown or skipped)', coalesce(a.lesson_id, '(none)'))
      else format('type %s is not a type of this layer: imported as not scorable', coalesce(a.type, '(none)'))
    end
  from private.import_legacy_activities as a
  left join private.import_ids as l on l.kind = 'lesson' and a.lesson_id = l.legacy_id
  where
    a.activity_id is not null
    and (
      l.legacy_id is null
      or exists (
        select from private.import_ids as m where m.kind = 'activity_type' and m.legacy_id = coalesce(a.type, 'untyped')
      )
    );
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'activity', a.activity_id, private.import_uuid('activity', a.activity_id)::text, import_map_activities.run_id
  from private.import_legacy_activities as a
  where
    a.activity_id is not null
    and exists (select from private.import_ids as l where l.kind = 'lesson' and l.legacy_id = a.lesson_id)
  on conflict do nothing;
  with src as (
    select distinct on (m.new_id)
      m.new_id::uuid as activity_id,
      l.new_id::uuid as lesson_id,
      coalesce(nullif(trim(a.title), ''), 'Untitled activity') as title,
      case coalesce(a.type, 'untyped') when 'text' then 'display-text' else coalesce(a.type, 'untyped') end as type,
      case
        when jsonb_typeof(a.body_data) = 'object' then a.body_data
        when a.body_data is null then '{}'::jsonb
        else jsonb_build_object('value', a.body_data)
      end as body,
      coalesce(a.is_summative, false) as is_summative,
      coalesce(a.active, true) as active,
      coalesce(a.order_by, 0) as order_by
    from private.import_legacy_activities as a
    inner join private.import_ids as m on m.kind = 'activity' and a.activity_id = m.legacy_id
    inner join private.import_ids as l on l.kind = 'lesson' and a.lesson_id = l.legacy_id
    order by m.new_id
  ),

  keys as (
    insert into public.activity_answer_keys as k (activity_id, correct_option_id, model_answer)
    select s.activity_id, x.correct_option_id, x.model_answer
    from src as s
    cross join lateral (
      select
        nullif(left(coalesce(s.body ->> 'correctOptionId', s.body ->> 'correct_option_id'), 100), '') as correct_option_id,
        left(coalesce(s.body ->> 'modelAnswer', s.body ->> 'model_answer'), 20000) as model_answer
    ) as x
    where x.correct_option_id is not null or x.model_answer is not null
    on conflict (activity_id) do update set
      correct_option_id = excluded.correct_option_id, model_answer = excluded.model_answer, updated_at = now()
    where (k.correct_option_id, k.model_answer) is distinct from (excluded.correct_option_id, excluded.model_answer)
  )

  insert into public.activities as t (activity_id, lesson_id, title, type, body_data, is_summative, active, order_by)
  select
    s.activity_id, s.lesson_id, s.title, s.type,
    s.body - 'correctOptionId' - 'correct_option_id' - 'modelAnswer' - 'model_answer',
    s.is_summative, s.active, s.order_by
  from src as s
  on conflict (activity_id) do update set
    lesson_id = excluded.lesson_id, title = excluded.title, type = excluded.type, body_data = excluded.body_data,
    is_summative = excluded.is_summative, active = excluded.active, order_by = excluded.order_by
  where
    (t.lesson_id, t.title, t.type, t.body_data, t.is_summative, t.active, t.order_by)
    is distinct from (
      excluded.lesson_id, excluded.title, excluded.type, excluded.body_data, excluded.is_summative, excluded.active,
      excluded.order_by
    );
  get diagnostics v_n = row_count;
  return jsonb_build_object('activities', v_n);
end
$$;
comment on function private.import_map_activities(bigint) is
'Maps the planner''s activities into public.activities and public.activity_answer_keys, creating unknown activity'
' types (not scorable), allocating activity ids in private.import_ids and reporting orphans and unknown types in '
'private.import_work_issues; returns {activities: rows written}. Callers: import_map. docs/import.md.';
revoke all on function private.import_map_activities(bigint) from public;

-- Which criteria each activity scores (links are added, never removed). Returns
-- {activity_success_criteria: rows written}.
create or replace function private.import_map_activity_criteria()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
begin
  with src as (
    select
      x.activity_id as legacy_activity, x.success_criteria_id as legacy_criterion,
      a.new_id::uuid as activity_id, c.new_id::uuid as success_criteria_id
    from private.import_legacy_activity_criteria as x
    left join private.import_ids as a on a.kind = 'activity' and x.activity_id = a.legacy_id
    left join private.import_ids as c on c.kind = 'criterion' and x.success_criteria_id = c.legacy_id
  ),

  issues as (
    insert into private.import_work_issues (table_name, legacy_key, rule, detail)
    select
      'activity_success_criteria', coalesce(s.legacy_activity, '?') || ' / ' || coalesce(s.legacy_criterion, '?'),
      'orphan',
      case
        when s.activity_id is null then format('activity %s was not imported (unknown or skipped)', s.legacy_activity)
        else format('success criterion %s was not imported (unknown or skipped)', s.legacy_criterion)
      end
    from src as s
    where s.activity_id is null or s.success_criteria_id is null
  )

  insert into public.activity_success_criteria (activity_id, success_criteria_id)
  select distinct s.activity_id, s.success_criteria_id
  from src as s
  where s.activity_id is not null and s.success_criteria_id is not null
  on conflict do nothing;
  get diagnostics v_n = row_count;
  return jsonb_build_object('activity_success_criteria', v_n);
end
$$;
comment on function private.import_map_activity_criteria() is
'Maps the planner''s activity_success_criteria into public.activity_success_criteria (adds links, never removes '
'one), reporting orphans in private.import_work_issues; returns {activity_success_criteria: rows written}. '
'Callers: import_map. docs/import.md.';
revoke all on function private.import_map_activity_criteria() from public;
