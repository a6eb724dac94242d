-- Who may read what. RLS is enabled on every public table; API roles get SELECT only (writes go
-- through the RPCs, which check the caller and enqueue the recalculation); anon gets nothing.
--   curriculum and reference data: any signed-in user
--   classes, memberships, assignments: members of the class (teachers see the whole class list)
--   a pupil's work: the pupil and the teachers of the classes the pupil is in
-- service_role bypasses RLS, as on Supabase.

do $access$
declare
  v_table text;
begin
  foreach v_table in array array[
    'profiles', 'subjects', 'groups', 'group_membership', 'units', 'lessons', 'lesson_assignments',
    'learning_objectives', 'success_criteria', 'activity_types', 'activities',
    'activity_success_criteria', 'submissions', 'submission_criterion_scores', 'level_boundaries'
  ] loop
    execute format('alter table public.%I enable row level security', v_table);
    execute format('revoke all on table public.%I from public, anon, authenticated', v_table);
    execute format('grant select on table public.%I to authenticated', v_table);
    execute format('grant all on table public.%I to service_role', v_table);
  end loop;
end
$access$;

-- Reference data and the curriculum: readable by every signed-in user.
create policy subjects_select on public.subjects for select to authenticated using (true);
create policy units_select on public.units for select to authenticated using (true);
create policy lessons_select on public.lessons for select to authenticated using (true);
create policy learning_objectives_select on public.learning_objectives
for select to authenticated using (true);
create policy success_criteria_select on public.success_criteria for select to authenticated using (true);
create policy activity_types_select on public.activity_types for select to authenticated using (true);
create policy activities_select on public.activities for select to authenticated using (true);
create policy activity_success_criteria_select on public.activity_success_criteria
for select to authenticated using (true);
create policy level_boundaries_select on public.level_boundaries for select to authenticated using (true);

-- People: yourself, and the pupils of the classes you teach.
create policy profiles_select on public.profiles
for select to authenticated
using (user_id = (select auth.uid()) or private.is_teacher_of_pupil(user_id));

-- Classes: the classes you belong to.
create policy groups_select on public.groups
for select to authenticated
using (private.is_group_member(group_id));

-- Memberships: your own, and every membership of the classes you teach.
create policy group_membership_select on public.group_membership
for select to authenticated
using (user_id = (select auth.uid()) or private.is_group_teacher(group_id));

-- Assignments: those of the classes you belong to.
create policy lesson_assignments_select on public.lesson_assignments
for select to authenticated
using (private.is_group_member(group_id));

-- A pupil's work: the pupil and their teachers.
create policy submissions_select on public.submissions
for select to authenticated
using (private.can_read_pupil(user_id));

create policy submission_criterion_scores_select on public.submission_criterion_scores
for select to authenticated
using (
  exists (
    select
    from public.submissions as s
    where
      s.submission_id = submission_criterion_scores.submission_id
      and private.can_read_pupil(s.user_id)
  )
);
