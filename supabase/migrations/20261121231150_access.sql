-- Who may read what. RLS is enabled on every public table; API roles get SELECT only (writes go
-- through the RPCs, which check the caller and enqueue the recalculation); anon gets nothing.
--   curriculum and reference data: any signed-in user
--   classes and assignments: members of the class; memberships: your own and those of classes you teach
--   a pupil's work and reports: the pupil and the teachers of the classes the pupil is in
-- service_role bypasses RLS, as on Supabase.
--
-- The policies compare with a set computed once per query (`col in (select private.readable_pupil_ids())`)
-- rather than calling a function per row: a teacher reading 35,000 submissions takes milliseconds,
-- not seconds.

do $access$
declare
  v_table text;
begin
  foreach v_table in array array[
    'profiles', 'subjects', 'groups', 'group_membership', 'units', 'lessons', 'lesson_assignments',
    'learning_objectives', 'success_criteria', 'activity_types', 'activities',
    'activity_success_criteria', 'submissions', 'submission_criterion_scores', 'level_boundaries',
    'report_pupil_versions', 'report_pupil_unit_summaries', 'report_pupil_criterion_scores',
    'report_pupil_subject_summaries'
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
using (user_id in (select private.readable_pupil_ids()));

-- Classes and their assignments: the classes you belong to.
create policy groups_select on public.groups
for select to authenticated
using (group_id in (select private.member_group_ids()));

create policy lesson_assignments_select on public.lesson_assignments
for select to authenticated
using (group_id in (select private.member_group_ids()));

-- Memberships: your own, and every membership of the classes you teach.
create policy group_membership_select on public.group_membership
for select to authenticated
using (user_id = (select auth.uid()) or group_id in (select private.taught_group_ids()));

-- A pupil's work: the pupil and their teachers.
create policy submissions_select on public.submissions
for select to authenticated
using (user_id in (select private.readable_pupil_ids()));

create policy submission_criterion_scores_select on public.submission_criterion_scores
for select to authenticated
using (
  submission_id in (
    select s.submission_id
    from public.submissions as s
    where s.user_id in (select private.readable_pupil_ids())
  )
);

-- The reports cache: the pupil and their teachers.
create policy report_pupil_versions_select on public.report_pupil_versions
for select to authenticated
using (pupil_id in (select private.readable_pupil_ids()));

create policy report_pupil_unit_summaries_select on public.report_pupil_unit_summaries
for select to authenticated
using (pupil_id in (select private.readable_pupil_ids()));

create policy report_pupil_criterion_scores_select on public.report_pupil_criterion_scores
for select to authenticated
using (pupil_id in (select private.readable_pupil_ids()));

create policy report_pupil_subject_summaries_select on public.report_pupil_subject_summaries
for select to authenticated
using (pupil_id in (select private.readable_pupil_ids()));
