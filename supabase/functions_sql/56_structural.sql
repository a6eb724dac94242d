-- Structural writes: who is in a class, which lessons a class has, what an activity, lesson or unit
-- counts for, the level boundaries. Each enqueues every pupil whose report it can change
-- (docs/workflow.md). None of them lets a caller create a fact that another check trusts to widen
-- what they may read or mark (docs/reliability.md, "Threat model").

-- The pupils of classes to which any of the lessons is assigned.
create or replace function private.pupils_assigned_lessons(lesson_ids uuid[])
returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(array_agg(distinct gm.user_id), '{}')
  from public.lesson_assignments as la
  inner join public.group_membership as gm on la.group_id = gm.group_id and gm.role = 'pupil'
  where la.lesson_id = any(pupils_assigned_lessons.lesson_ids)
$$;
comment on function private.pupils_assigned_lessons(uuid[]) is
'Pupils of the classes that have any of the lessons assigned: whom a curriculum change affects.';
revoke all on function private.pupils_assigned_lessons(uuid[]) from public;

-- Add a person to a class (or change their role in it).
create or replace function public.groups_add_member(group_id text, user_id uuid, role text default 'pupil')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_old text;
  v_row public.group_membership;
begin
  perform private.require(groups_add_member.user_id, 'user_id');
  perform private.assert_can_teach_group(groups_add_member.group_id);
  -- Enrolling someone gives the class's teachers read access to all of that pupil's work, so it is
  -- for the enrolment flow (join codes, the school's roster sync) running as the service role.
  if not private.caller_bypasses_rls() then
    raise exception 'class membership is managed by the school''s enrolment (service role)'
      using errcode = '42501', hint = 'Pupils join with the class join code.';
  end if;
  if groups_add_member.role is null or groups_add_member.role not in ('pupil', 'teacher') then
    raise exception 'role must be pupil or teacher, not %', groups_add_member.role using errcode = 'PLV11';
  end if;
  perform private.assert_profile_exists(groups_add_member.user_id, 'user');
  select gm.role into v_old from public.group_membership as gm
  where gm.group_id = groups_add_member.group_id and gm.user_id = groups_add_member.user_id
  for update;
  insert into public.group_membership as gm (group_id, user_id, role)
  values (groups_add_member.group_id, groups_add_member.user_id, groups_add_member.role)
  on conflict on constraint group_membership_pkey do update set role = excluded.role
  returning gm.* into v_row;
  if 'pupil' in (v_old, groups_add_member.role) and v_old is distinct from groups_add_member.role then
    perform private.report_enqueue(array[groups_add_member.user_id], 'membership');
    perform private.report_groups_changed(array[groups_add_member.group_id]);
  end if;
  return to_jsonb(v_row);
end
$$;
comment on function public.groups_add_member(text, uuid, text) is
'Adds a person to a class as pupil or teacher (or changes the role). Enqueues them when their pupil membership '
'changed; returns the membership row. Callers: the enrolment flow (service_role only: enrolling a pupil opens '
'their work to the class''s teachers). Errors: PLV01, PLV11, PLN01, PLN02, 42501.';
revoke all on function public.groups_add_member(text, uuid, text) from public, anon, authenticated;
grant execute on function public.groups_add_member(text, uuid, text) to service_role;

-- Remove a person from a class.
create or replace function public.groups_remove_member(group_id text, user_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_old text;
begin
  perform private.require(groups_remove_member.user_id, 'user_id');
  perform private.assert_can_teach_group(groups_remove_member.group_id);
  -- A teacher may take pupils off their class list; who teaches a class is the enrolment's to say.
  if not private.caller_bypasses_rls() and exists (
    select from public.group_membership as gm
    where gm.group_id = groups_remove_member.group_id and gm.user_id = groups_remove_member.user_id
      and gm.role = 'teacher'
  ) then
    raise exception 'only the school''s enrolment (service role) may remove a teacher from a class'
      using errcode = '42501';
  end if;
  delete from public.group_membership as gm
  where gm.group_id = groups_remove_member.group_id and gm.user_id = groups_remove_member.user_id
  returning gm.role into v_old;
  if v_old = 'pupil' then
    perform private.report_enqueue(array[groups_remove_member.user_id], 'membership');
    perform private.report_groups_changed(array[groups_remove_member.group_id]);
  end if;
  return jsonb_build_object('removed', v_old is not null, 'role', v_old);
end
$$;
comment on function public.groups_remove_member(text, uuid) is
'Removes a person from a class (idempotent). Enqueues a removed pupil; returns {removed, role}. Callers: teachers of '
'the class (pupils only), service_role. Errors: PLV01, PLN02 (service role), 42501.';
revoke all on function public.groups_remove_member(text, uuid) from public, anon;
grant execute on function public.groups_remove_member(text, uuid) to authenticated, service_role;

-- Assign a lesson to a class (or change its start date and feedback visibility).
create or replace function public.lessons_assign(
  group_id text, lesson_id uuid, start_date date default null, feedback_visible boolean default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.lesson_assignments;
  v_new boolean;
  v_old_visible boolean;
  v_lesson_subject text;
  v_group_subject text;
begin
  perform private.require(lessons_assign.lesson_id, 'lesson_id');
  perform private.assert_can_teach_group(lessons_assign.group_id);
  select u.subject into v_lesson_subject
  from public.lessons as l
  inner join public.units as u on l.unit_id = u.unit_id
  where l.lesson_id = lessons_assign.lesson_id;
  if not found then
    raise exception 'unknown lesson %', lessons_assign.lesson_id using errcode = 'PLN04';
  end if;
  -- The assignment is what marking authority trusts (assert_can_mark): a class only ever gets lessons
  -- of its own subject, whoever asks.
  select g.subject into v_group_subject from public.groups as g where g.group_id = lessons_assign.group_id;
  if v_lesson_subject is distinct from v_group_subject then
    raise exception 'lesson % is a % lesson; class % studies %', lessons_assign.lesson_id, v_lesson_subject,
      lessons_assign.group_id, v_group_subject
      using errcode = 'PLV14', hint = 'Assign lessons of a unit of the class''s subject.';
  end if;
  select la.feedback_visible into v_old_visible
  from public.lesson_assignments as la
  where la.group_id = lessons_assign.group_id and la.lesson_id = lessons_assign.lesson_id;
  v_new := not found;
  insert into public.lesson_assignments as la (group_id, lesson_id, start_date, feedback_visible)
  values (lessons_assign.group_id, lessons_assign.lesson_id, lessons_assign.start_date,
    coalesce(lessons_assign.feedback_visible, false))
  on conflict on constraint lesson_assignments_pkey do update
    set
      start_date = coalesce(excluded.start_date, la.start_date),
      feedback_visible = coalesce(lessons_assign.feedback_visible, la.feedback_visible)
  returning la.* into v_row;
  if v_new then
    perform private.report_enqueue(
      array(select gm.user_id from public.group_membership as gm
        where gm.group_id = lessons_assign.group_id and gm.role = 'pupil'),
      'lesson assigned',
      array(select l.unit_id from public.lessons as l where l.lesson_id = lessons_assign.lesson_id)
    );
    perform private.report_groups_changed(array[lessons_assign.group_id]);
  elsif v_old_visible is distinct from v_row.feedback_visible then
    perform private.feedback_visibility_changed(lessons_assign.group_id, lessons_assign.lesson_id, v_row.feedback_visible);
  end if;
  return to_jsonb(v_row);
end
$$;
comment on function public.lessons_assign(text, uuid, date, boolean) is
'Assigns a lesson of the class''s subject to a class (the start date does not affect reports; feedback_visible '
'releases the lesson''s feedback to the pupils, as lessons_release_feedback). Enqueues the class''s pupils when newly '
'assigned; returns the assignment row. Callers: teachers of the class, '
'service_role. Errors: PLV01, PLN02 (service role), PLN04, PLV14 (the lesson is of another subject), 42501.';
revoke all on function public.lessons_assign(text, uuid, date, boolean) from public, anon;
grant execute on function public.lessons_assign(text, uuid, date, boolean) to authenticated, service_role;

-- After a class's feedback on a lesson was released or withdrawn: what its pupils may see of their
-- report changed (the cached rows, the teachers' figures, did not: docs/scoring.md, "Released
-- feedback"), so each pupil's report version grows and report_updated goes to report:{pupilId}, and
-- the class's results grid hears feedback_visibility_changed {assignmentId, feedbackVisible}; all in
-- the writer's transaction, delivered on commit.
create or replace function private.feedback_visibility_changed(group_id text, lesson_id uuid, feedback_visible boolean)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_pupil record;
  v_count integer := 0;
begin
  for v_pupil in
    insert into public.report_pupil_versions as v (pupil_id, version, changed_at)
    select gm.user_id, 1, now()
    from public.group_membership as gm
    where gm.group_id = feedback_visibility_changed.group_id and gm.role = 'pupil'
    order by gm.user_id
    on conflict (pupil_id) do update set version = v.version + 1, changed_at = excluded.changed_at
    returning v.pupil_id, v.version
  loop
    perform private.broadcast_report_updated(v_pupil.pupil_id, v_pupil.version);
    v_count := v_count + 1;
  end loop;
  if private.realtime_broadcasts_enabled() then
    begin
      perform realtime.send(
        jsonb_build_object(
          'assignmentId', feedback_visibility_changed.group_id || '__' || feedback_visibility_changed.lesson_id,
          'feedbackVisible', feedback_visibility_changed.feedback_visible
        ),
        'feedback_visibility_changed',
        'assignment_results:' || feedback_visibility_changed.group_id || ':' || feedback_visibility_changed.lesson_id,
        true
      );
    exception when others then
      raise warning 'feedback_visibility_changed: no broadcast sent: % (%)', sqlerrm, sqlstate;
    end;
  end if;
  return v_count;
end
$$;
comment on function private.feedback_visibility_changed(text, uuid, boolean) is
'Bumps the report version of the class''s pupils and broadcasts report_updated to each and '
'feedback_visibility_changed to the class''s grid; returns the number of pupils. Callers: lessons_release_feedback, '
'lessons_assign (when feedback_visible changed).';
revoke all on function private.feedback_visibility_changed(text, uuid, boolean) from public;

-- Release a lesson's feedback to a class (or withdraw it): the pupils of the class see the marks and
-- feedback of the lesson's activities, in their report and their submissions, once released.
create or replace function public.lessons_release_feedback(
  group_id text, lesson_id uuid, feedback_visible boolean default true
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_row public.lesson_assignments;
  v_old boolean;
  v_pupils integer := 0;
begin
  perform private.require(lessons_release_feedback.lesson_id, 'lesson_id');
  perform private.assert_can_teach_group(lessons_release_feedback.group_id);
  perform private.require(
    lessons_release_feedback.feedback_visible, 'feedback_visible', 'Pass true to release, false to withdraw.'
  );
  select la.feedback_visible into v_old
  from public.lesson_assignments as la
  where la.group_id = lessons_release_feedback.group_id and la.lesson_id = lessons_release_feedback.lesson_id
  for update;
  if not found then
    raise exception 'lesson % is not assigned to class %', lessons_release_feedback.lesson_id,
      lessons_release_feedback.group_id
      using errcode = 'PLN07', hint = 'Assign the lesson to the class first.';
  end if;
  update public.lesson_assignments as la
  set feedback_visible = lessons_release_feedback.feedback_visible
  where la.group_id = lessons_release_feedback.group_id and la.lesson_id = lessons_release_feedback.lesson_id
  returning la.* into v_row;
  if v_old is distinct from lessons_release_feedback.feedback_visible then
    v_pupils := private.feedback_visibility_changed(
      lessons_release_feedback.group_id, lessons_release_feedback.lesson_id, lessons_release_feedback.feedback_visible
    );
  end if;
  return to_jsonb(v_row) || jsonb_build_object(
    'changed', v_old is distinct from lessons_release_feedback.feedback_visible, 'pupils_notified', v_pupils
  );
end
$$;
comment on function public.lessons_release_feedback(text, uuid, boolean) is
'Releases (true) or withdraws (false) the feedback of a lesson assigned to a class: until released, the class''s '
'pupils see none of the marks and feedback of its activities. Bumps the pupils'' report versions and broadcasts '
'when it changed; returns the assignment row with changed and pupils_notified. Callers: teachers of the class, '
'service_role. Errors: PLV01, PLN02 (service role), PLN07 (not assigned), 42501 (not a teacher of the class).';
revoke all on function public.lessons_release_feedback(text, uuid, boolean) from public, anon;
grant execute on function public.lessons_release_feedback(text, uuid, boolean) to authenticated, service_role;

-- Unassign a lesson from a class.
create or replace function public.lessons_unassign(group_id text, lesson_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_deleted integer;
begin
  perform private.require(lessons_unassign.lesson_id, 'lesson_id');
  perform private.assert_can_teach_group(lessons_unassign.group_id);
  delete from public.lesson_assignments as la
  where la.group_id = lessons_unassign.group_id and la.lesson_id = lessons_unassign.lesson_id;
  get diagnostics v_deleted = row_count;
  if v_deleted > 0 then
    perform private.report_enqueue(
      array(select gm.user_id from public.group_membership as gm
        where gm.group_id = lessons_unassign.group_id and gm.role = 'pupil'),
      'lesson unassigned',
      array(select l.unit_id from public.lessons as l where l.lesson_id = lessons_unassign.lesson_id)
    );
    perform private.report_groups_changed(array[lessons_unassign.group_id]);
  end if;
  return jsonb_build_object('unassigned', v_deleted > 0);
end
$$;
comment on function public.lessons_unassign(text, uuid) is
'Unassigns a lesson from a class (idempotent). Enqueues the class''s pupils; returns {unassigned}. Callers: '
'teachers of the class, service_role. Errors: PLV01, PLN02, 42501.';
revoke all on function public.lessons_unassign(text, uuid) from public, anon;
grant execute on function public.lessons_unassign(text, uuid) to authenticated, service_role;

-- Raise 42501 unless the caller may change this unit's curriculum: the service role, or a teacher of
-- a class of the unit's subject (a curriculum change moves those classes' reports).
create or replace function private.assert_can_edit_curriculum(unit_id uuid)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if private.caller_bypasses_rls() then
    return;
  end if;
  if not exists (
    select
    from public.units as u
    inner join public.groups as g on u.subject = g.subject
    inner join public.group_membership as gm on g.group_id = gm.group_id and gm.role = 'teacher'
    where u.unit_id = assert_can_edit_curriculum.unit_id and gm.user_id = auth.uid()
  ) then
    raise exception 'only teachers of this subject may change its curriculum' using errcode = '42501';
  end if;
end
$$;
comment on function private.assert_can_edit_curriculum(uuid) is
'Raises 42501 unless the caller is the service role or teaches a class of the unit''s subject. Callers: '
'activities_set_criteria, activities_update, lessons_set_active, units_update.';
revoke all on function private.assert_can_edit_curriculum(uuid) from public;

-- Replace the success criteria an activity scores.
create or replace function public.activities_set_criteria(activity_id uuid, success_criteria_ids uuid[])
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_activity public.activities;
  v_missing uuid;
  v_changed integer := 0;
  v_n integer;
begin
  perform private.require(activities_set_criteria.activity_id, 'activity_id');
  perform private.require(activities_set_criteria.success_criteria_ids, 'success_criteria_ids');
  perform private.assert_batch_size(cardinality(activities_set_criteria.success_criteria_ids), 'success_criteria_ids', 100);
  select a.* into v_activity from public.activities as a where a.activity_id = activities_set_criteria.activity_id
  for update;
  if not found then
    raise exception 'unknown activity %', activities_set_criteria.activity_id using errcode = 'PLN03';
  end if;
  perform private.assert_can_edit_curriculum(
    (select l.unit_id from public.lessons as l where l.lesson_id = v_activity.lesson_id)
  );
  select x into v_missing
  from unnest(activities_set_criteria.success_criteria_ids) as x
  where x is null or not exists (select from public.success_criteria as sc where sc.success_criteria_id = x)
  limit 1;
  if found then
    raise exception 'unknown success criterion %', coalesce(v_missing::text, 'NULL') using errcode = 'PLN05';
  end if;
  delete from public.activity_success_criteria as l
  where l.activity_id = v_activity.activity_id and l.success_criteria_id <> all(activities_set_criteria.success_criteria_ids);
  get diagnostics v_n = row_count;
  v_changed := v_changed + v_n;
  insert into public.activity_success_criteria (activity_id, success_criteria_id)
  select distinct v_activity.activity_id, x from unnest(activities_set_criteria.success_criteria_ids) as x
  on conflict do nothing;
  get diagnostics v_n = row_count;
  v_changed := v_changed + v_n;
  if v_changed > 0 then
    perform private.report_enqueue(
      private.pupils_assigned_lessons(array[v_activity.lesson_id]), 'criteria links',
      private.activity_unit_ids(array[v_activity.activity_id])
    );
  end if;
  return jsonb_build_object(
    'activity_id', v_activity.activity_id,
    'success_criteria_ids', (
      select coalesce(jsonb_agg(l.success_criteria_id order by l.success_criteria_id), '[]'::jsonb)
      from public.activity_success_criteria as l where l.activity_id = v_activity.activity_id
    ),
    'changed', v_changed > 0
  );
end
$$;
comment on function public.activities_set_criteria(uuid, uuid[]) is
'Replaces the success criteria linked to an activity. Enqueues the pupils with that lesson assigned when the '
'links changed; returns the links. Callers: teachers of the subject, service_role. Errors: PLV01, PLN03, PLN05, '
'PLV13 (over 100 criteria), 42501.';
revoke all on function public.activities_set_criteria(uuid, uuid[]) from public, anon;
grant execute on function public.activities_set_criteria(uuid, uuid[]) to authenticated, service_role;

-- Change an activity's summative flag, active flag or type.
create or replace function public.activities_update(
  activity_id uuid, is_summative boolean default null, active boolean default null, type text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_old public.activities;
  v_new public.activities;
begin
  perform private.require(activities_update.activity_id, 'activity_id');
  select a.* into v_old from public.activities as a where a.activity_id = activities_update.activity_id for update;
  if not found then
    raise exception 'unknown activity %', activities_update.activity_id using errcode = 'PLN03';
  end if;
  perform private.assert_can_edit_curriculum(
    (select l.unit_id from public.lessons as l where l.lesson_id = v_old.lesson_id)
  );
  if activities_update.type is not null
    and not exists (select from public.activity_types as t where t.type = activities_update.type) then
    raise exception 'unknown activity type %', activities_update.type using errcode = 'PLV06';
  end if;
  update public.activities as a
  set
    is_summative = coalesce(activities_update.is_summative, a.is_summative),
    active = coalesce(activities_update.active, a.active),
    type = coalesce(activities_update.type, a.type)
  where a.activity_id = v_old.activity_id
  returning a.* into v_new;
  if (v_new.is_summative, v_new.active, v_new.type) is distinct from (v_old.is_summative, v_old.active, v_old.type) then
    perform private.report_enqueue(
      private.pupils_assigned_lessons(array[v_new.lesson_id]), 'activity changed',
      private.activity_unit_ids(array[v_new.activity_id])
    );
  end if;
  return to_jsonb(v_new);
end
$$;
comment on function public.activities_update(uuid, boolean, boolean, text) is
'Changes an activity''s is_summative, active or type (NULL: unchanged). Enqueues the pupils with that lesson '
'assigned when something changed; returns the activity. Callers: teachers of the subject, service_role. Errors: PLV01, PLV06, '
'PLN03, 42501.';
revoke all on function public.activities_update(uuid, boolean, boolean, text) from public, anon;
grant execute on function public.activities_update(uuid, boolean, boolean, text) to authenticated, service_role;

-- Activate or deactivate a lesson.
create or replace function public.lessons_set_active(lesson_id uuid, active boolean)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_old boolean;
  v_row public.lessons;
begin
  perform private.require(lessons_set_active.lesson_id, 'lesson_id');
  perform private.require(lessons_set_active.active, 'active');
  select l.active into v_old from public.lessons as l where l.lesson_id = lessons_set_active.lesson_id for update;
  if not found then
    raise exception 'unknown lesson %', lessons_set_active.lesson_id using errcode = 'PLN04';
  end if;
  perform private.assert_can_edit_curriculum(
    (select l.unit_id from public.lessons as l where l.lesson_id = lessons_set_active.lesson_id)
  );
  update public.lessons as l set active = lessons_set_active.active
  where l.lesson_id = lessons_set_active.lesson_id
  returning l.* into v_row;
  if v_old <> lessons_set_active.active then
    perform private.report_enqueue(
      private.pupils_assigned_lessons(array[v_row.lesson_id]), 'lesson active', array[v_row.unit_id]
    );
  end if;
  return to_jsonb(v_row);
end
$$;
comment on function public.lessons_set_active(uuid, boolean) is
'Activates or deactivates a lesson. Enqueues the pupils with it assigned when it changed; returns the lesson. '
'Callers: teachers of the subject, service_role. Errors: PLV01, PLN04, 42501.';
revoke all on function public.lessons_set_active(uuid, boolean) from public, anon;
grant execute on function public.lessons_set_active(uuid, boolean) to authenticated, service_role;

-- Change a unit's year or active flag.
create or replace function public.units_update(unit_id uuid, year integer default null, active boolean default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_old public.units;
  v_new public.units;
begin
  perform private.require(units_update.unit_id, 'unit_id');
  if units_update.year is not null and units_update.year not between 7 and 13 then
    raise exception 'year must be between 7 and 13, not %', units_update.year using errcode = 'PLV08';
  end if;
  select u.* into v_old from public.units as u where u.unit_id = units_update.unit_id for update;
  if not found then
    raise exception 'unknown unit %', units_update.unit_id using errcode = 'PLN06';
  end if;
  perform private.assert_can_edit_curriculum(v_old.unit_id);
  update public.units as u
  set year = coalesce(units_update.year, u.year), active = coalesce(units_update.active, u.active)
  where u.unit_id = v_old.unit_id
  returning u.* into v_new;
  if (v_new.year, v_new.active) is distinct from (v_old.year, v_old.active) then
    perform private.report_enqueue(
      private.pupils_assigned_lessons(array(select l.lesson_id from public.lessons as l where l.unit_id = v_new.unit_id)),
      'unit changed',
      array[v_new.unit_id]
    );
    -- The unit's year is on the page of every class assigned one of its lessons.
    perform private.report_groups_changed(array(
      select la.group_id from public.lesson_assignments as la
      inner join public.lessons as l on la.lesson_id = l.lesson_id
      where l.unit_id = v_new.unit_id
    ));
  end if;
  return to_jsonb(v_new);
end
$$;
comment on function public.units_update(uuid, integer, boolean) is
'Changes a unit''s year (7-13) or active flag (NULL: unchanged). Enqueues the pupils with any of its lessons '
'assigned when something changed; returns the unit. Callers: teachers of the subject, service_role. Errors: PLV01, PLV08, PLN06, 42501.';
revoke all on function public.units_update(uuid, integer, boolean) from public, anon;
grant execute on function public.units_update(uuid, integer, boolean) to authenticated, service_role;

-- Replace the level boundaries of one year: {"0": 0, "1L": 6, ...}. Every pupil with work in a unit
-- of that year is enqueued.
create or replace function public.level_boundaries_set(year integer, boundaries jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_rows integer;
  v_problem text;
begin
  perform private.require(level_boundaries_set.year, 'year');
  perform private.require(level_boundaries_set.boundaries, 'boundaries');
  if not private.caller_bypasses_rls() then
    raise exception 'only the service role may change the level boundaries' using errcode = '42501';
  end if;
  if level_boundaries_set.year not between 7 and 13 then
    raise exception 'year must be between 7 and 13, not %', level_boundaries_set.year using errcode = 'PLV08';
  end if;
  if jsonb_typeof(level_boundaries_set.boundaries) <> 'object' then
    raise exception 'boundaries must be an object {label: min_percent}' using errcode = 'PLV09';
  end if;
  with b as (
    select
      e.key as label,
      e.value as v,
      case when e.key = '0' then 0
        when e.key ~ '^[1-9][LMH]$' then (left(e.key, 1)::integer - 1) * 3 + strpos('LMH', right(e.key, 1))
      end as rank
    from jsonb_each(level_boundaries_set.boundaries) as e
  )

  select string_agg(problem, '; ') into v_problem
  from (
    select format('%s is not a level label', b.label) as problem from b where b.rank is null
    union all
    select format('%s must be a number between 0 and 100', b.label) from b
    where jsonb_typeof(b.v) <> 'number' or (b.v #>> '{}')::numeric not between 0 and 100
    union all
    select 'label 0 must be present with min_percent 0'
    where not exists (select from b where b.label = '0' and b.v = '0'::jsonb)
    union all
    select format('%s must need more than the label below it', b.label)
    from b
    where b.rank > 0 and jsonb_typeof(b.v) = 'number' and exists (
      select from b as lower
      where lower.rank < b.rank and jsonb_typeof(lower.v) = 'number'
        and (lower.v #>> '{}')::numeric >= (b.v #>> '{}')::numeric
    )
  ) as p;
  if v_problem is not null then
    raise exception 'invalid level boundaries for year %: %', level_boundaries_set.year, v_problem
      using errcode = 'PLV09';
  end if;
  delete from public.level_boundaries as lb where lb.year = level_boundaries_set.year;
  insert into public.level_boundaries (year, label, rank, min_percent)
  select
    level_boundaries_set.year, e.key,
    case when e.key = '0' then 0 else (left(e.key, 1)::integer - 1) * 3 + strpos('LMH', right(e.key, 1)) end,
    (e.value #>> '{}')::numeric
  from jsonb_each(level_boundaries_set.boundaries) as e;
  get diagnostics v_rows = row_count;
  perform private.report_enqueue(
    private.pupils_assigned_lessons(array(
      select l.lesson_id from public.lessons as l
      inner join public.units as u on l.unit_id = u.unit_id
      where u.year = level_boundaries_set.year
    )),
    'level boundaries',
    array(select u.unit_id from public.units as u where u.year = level_boundaries_set.year)
  );
  return jsonb_build_object('year', level_boundaries_set.year, 'labels', v_rows);
end
$$;
comment on function public.level_boundaries_set(integer, jsonb) is
'Replaces the level boundaries of a year ({label: min_percent}, increasing with rank, 0 at 0). Enqueues every '
'pupil with work in a unit of that year; returns {year, labels}. Callers: administrators (service_role). Errors: '
'PLV01, PLV08, PLV09, 42501.';
revoke all on function public.level_boundaries_set(integer, jsonb) from public, anon, authenticated;
grant execute on function public.level_boundaries_set(integer, jsonb) to service_role;
