-- A teacher's marks on one cell: an override score, per-criterion marks, feedback text, and their
-- reset. Marking authority follows the subject (private.assert_can_mark). Each write enqueues the pupil
-- and returns the cell as 50_submissions.sql's private.submission_written builds and broadcasts it.

-- Who may mark a pupil's work on an activity: the service role, or a teacher of a class in which the
-- pupil is a pupil, the activity's lesson is assigned, and whose subject is the activity's subject (an
-- assignment of the teacher's own can never widen what they may mark). The caller is checked first:
-- anyone else gets the same 42501 whether or not the pupil, the activity or the assignment exists.
-- Returns the activity row.
create or replace function private.assert_can_mark(pupil_id uuid, activity_id uuid)
returns public.activities
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_activity public.activities;
  v_subject text;
begin
  perform private.require(assert_can_mark.pupil_id, 'pupil_id');
  perform private.require(assert_can_mark.activity_id, 'activity_id');
  if not private.caller_bypasses_rls() then
    -- One lookup per key (the activity, its subject), then one probe of the caller's classes.
    select a.* into v_activity from public.activities as a where a.activity_id = assert_can_mark.activity_id;
    select u.subject into v_subject
    from public.lessons as l
    inner join public.units as u on l.unit_id = u.unit_id
    where l.lesson_id = v_activity.lesson_id;
    if v_subject is null or not exists (
      select
      from public.group_membership as t
      inner join public.group_membership as p on t.group_id = p.group_id
      inner join public.lesson_assignments as la on t.group_id = la.group_id
      inner join public.groups as g on t.group_id = g.group_id
      where
        t.user_id = auth.uid() and t.role = 'teacher' and p.user_id = assert_can_mark.pupil_id and p.role = 'pupil'
        and la.lesson_id = v_activity.lesson_id and g.subject = v_subject
    ) then
      raise exception 'you do not teach this pupil this activity'
        using errcode = '42501',
        hint = 'Only teachers of the pupil''s class in the activity''s subject, with its lesson assigned, may mark it.';
    end if;
    return v_activity;
  end if;
  select a.* into v_activity from public.activities as a where a.activity_id = assert_can_mark.activity_id;
  if not found then
    raise exception 'unknown activity %', assert_can_mark.activity_id using errcode = 'PLN03';
  end if;
  perform private.assert_profile_exists(assert_can_mark.pupil_id);
  if not exists (
    select
    from public.group_membership as gm
    inner join public.lesson_assignments as la on gm.group_id = la.group_id
    where gm.user_id = assert_can_mark.pupil_id and gm.role = 'pupil' and la.lesson_id = v_activity.lesson_id
  ) then
    raise exception 'pupil % has no class with this activity assigned', assert_can_mark.pupil_id
      using errcode = 'PLV04', hint = 'Assign the lesson to one of the pupil''s classes first.';
  end if;
  return v_activity;
end
$$;
comment on function private.assert_can_mark(uuid, uuid) is
'Returns the activity if the caller may mark the pupil''s work on it. Errors: PLV01; 42501 for anyone but the '
'service role who does not teach the pupil this activity in its subject (unknown ids included); for the service '
'role PLN03, PLN01, PLV04.';
revoke all on function private.assert_can_mark(uuid, uuid) from public;

-- A teacher's feedback on one cell: an override score, per-criterion marks and/or feedback text.
-- NULL leaves a part unchanged; a criterion given with score NULL removes that mark. With
-- expected_revision (the cell's revision the teacher was looking at), a save for an answer the pupil
-- has since changed is refused (PLS03) instead of landing on the new, unmarked work.
create or replace function public.results_save_feedback(
  activity_id uuid,
  pupil_id uuid,
  override_score numeric default null,
  criterion_scores jsonb default null,
  feedback text default null,
  expected_revision bigint default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_activity public.activities;
  v_submission_id uuid;
  v_revision bigint;
  v_item jsonb;
  v_criterion uuid;
  v_score numeric;
  v_marks jsonb := '[]'::jsonb;
  v_index integer := 0;
begin
  v_activity := private.assert_can_mark(results_save_feedback.pupil_id, results_save_feedback.activity_id);
  if results_save_feedback.override_score is null and results_save_feedback.criterion_scores is null
    and results_save_feedback.feedback is null then
    raise exception 'nothing to save: give override_score, criterion_scores and/or feedback' using errcode = 'PLV01';
  end if;
  perform private.assert_score(results_save_feedback.override_score, 'override_score');
  perform private.assert_text_length(results_save_feedback.feedback, 'feedback');
  -- Validate every criterion mark before writing anything.
  if results_save_feedback.criterion_scores is not null then
    if jsonb_typeof(results_save_feedback.criterion_scores) <> 'array' then
      raise exception 'criterion_scores must be an array of {success_criteria_id, score}' using errcode = 'PLV10';
    end if;
    perform private.assert_batch_size(jsonb_array_length(results_save_feedback.criterion_scores), 'criterion_scores', 100);
    for v_item in select e from jsonb_array_elements(results_save_feedback.criterion_scores) as e loop
      if coalesce(
        jsonb_typeof(v_item) <> 'object' or jsonb_typeof(v_item -> 'success_criteria_id') is distinct from 'string'
        or coalesce(jsonb_typeof(v_item -> 'score'), 'missing') not in ('number', 'null')
        or not private.is_uuid(v_item ->> 'success_criteria_id'),
        true
      ) then
        raise exception 'criterion_scores[%] must be {"success_criteria_id": uuid, "score": number or null}', v_index
          using errcode = 'PLV10';
      end if;
      v_criterion := (v_item ->> 'success_criteria_id')::uuid;
      v_score := private.assert_score((v_item ->> 'score')::numeric, format('criterion_scores[%s].score', v_index));
      if not exists (select from public.success_criteria as sc where sc.success_criteria_id = v_criterion) then
        raise exception 'unknown success criterion %', v_criterion using errcode = 'PLN05';
      end if;
      if not exists (
        select from public.activity_success_criteria as l
        where l.activity_id = v_activity.activity_id and l.success_criteria_id = v_criterion
      ) then
        raise exception 'success criterion % is not linked to this activity', v_criterion using errcode = 'PLV03';
      end if;
      if v_marks @> jsonb_build_array(jsonb_build_object('id', v_criterion)) then
        raise exception 'criterion_scores names success criterion % twice', v_criterion using errcode = 'PLV10';
      end if;
      v_marks := v_marks || jsonb_build_array(jsonb_build_object('id', v_criterion, 'score', v_score));
      v_index := v_index + 1;
    end loop;
  end if;

  select s.submission_id, s.revision into v_submission_id, v_revision
  from public.submissions as s
  where s.user_id = results_save_feedback.pupil_id and s.activity_id = v_activity.activity_id
  for update;
  -- Checked with the row locked: a resubmission either committed before (and is seen here) or waits.
  if results_save_feedback.expected_revision is not null
    and v_revision is distinct from results_save_feedback.expected_revision then
    raise exception 'the pupil''s answer has changed since revision %', results_save_feedback.expected_revision
      using errcode = 'PLS03',
      detail = format('The current revision is %s.', coalesce(v_revision::text, 'none (no submission)')),
      hint = 'Reload the cell and mark the new answer.';
  end if;
  if v_submission_id is null then
    -- Marking work that was never submitted (for example done on paper) records it as completed; it
    -- needs a mark, or the cell would go from missing (0) to awaiting marking (no score).
    if results_save_feedback.override_score is null and not exists (
      select from jsonb_array_elements(v_marks) as x where x -> 'score' <> 'null'
    ) then
      raise exception 'pupil % has not handed this work in: give a score to mark it', results_save_feedback.pupil_id
        using errcode = 'PLS02', hint = 'Feedback alone cannot be saved on missing work.';
    end if;
    insert into public.submissions (activity_id, user_id, status, submitted_at, updated_at)
    values (v_activity.activity_id, results_save_feedback.pupil_id, 'completed', now(), clock_timestamp())
    on conflict on constraint submissions_user_activity_key do nothing;
    select s.submission_id into strict v_submission_id
    from public.submissions as s
    where s.user_id = results_save_feedback.pupil_id and s.activity_id = v_activity.activity_id
    for update;
  end if;
  update public.submissions as s
  set
    override_score = coalesce(results_save_feedback.override_score, s.override_score),
    teacher_feedback = coalesce(results_save_feedback.feedback, s.teacher_feedback),
    override_by = auth.uid(),
    override_at = now(),
    updated_at = clock_timestamp()
  where s.submission_id = v_submission_id;
  delete from public.submission_criterion_scores as m
  using jsonb_array_elements(v_marks) as x
  where m.submission_id = v_submission_id and m.success_criteria_id = (x ->> 'id')::uuid and x -> 'score' = 'null';
  insert into public.submission_criterion_scores as m (submission_id, success_criteria_id, score, marked_by, marked_at)
  select v_submission_id, (x ->> 'id')::uuid, (x ->> 'score')::numeric, auth.uid(), now()
  from jsonb_array_elements(v_marks) as x
  where x -> 'score' <> 'null'
  on conflict (submission_id, success_criteria_id) do update
    set score = excluded.score, marked_by = excluded.marked_by, marked_at = excluded.marked_at;
  perform private.report_enqueue(array[results_save_feedback.pupil_id], 'feedback', private.activity_unit_ids(array[v_activity.activity_id]));
  return private.submission_written(results_save_feedback.pupil_id, v_activity.activity_id, 'submission_updated');
end
$$;
comment on function public.results_save_feedback(uuid, uuid, numeric, jsonb, text, bigint) is
'A teacher''s override score, per-criterion marks and/or feedback on one cell (creates a completed submission '
'when there is none); with expected_revision, refuses a save for an answer that has changed since. Enqueues the '
'pupil; returns {submission, cell}. Callers: teachers of the pupil''s class in the activity''s subject, '
'service_role. Errors: PLV01, PLV02, PLV03, PLV04, PLV07, PLV10, PLV13 (over 100 criterion_scores), PLN01, PLN03, '
'PLN05, PLS02 (feedback alone on work not handed in), PLS03 (stale expected_revision), 42501.';
revoke all on function public.results_save_feedback(uuid, uuid, numeric, jsonb, text, bigint) from public, anon;
grant execute on function public.results_save_feedback(uuid, uuid, numeric, jsonb, text, bigint) to authenticated, service_role;

-- A teacher removes their override, feedback and criterion marks from one cell (AI marks stay).
create or replace function public.results_reset_feedback(activity_id uuid, pupil_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_activity public.activities;
  v_submission_id uuid;
begin
  v_activity := private.assert_can_mark(results_reset_feedback.pupil_id, results_reset_feedback.activity_id);
  select s.submission_id into v_submission_id
  from public.submissions as s
  where s.user_id = results_reset_feedback.pupil_id and s.activity_id = v_activity.activity_id
  for update;
  if v_submission_id is not null then
    delete from public.submission_criterion_scores as m where m.submission_id = v_submission_id;
    update public.submissions as s
    set override_score = null, teacher_feedback = null, override_by = null, override_at = null, updated_at = clock_timestamp()
    where s.submission_id = v_submission_id;
    perform private.report_enqueue(
      array[results_reset_feedback.pupil_id], 'feedback reset', private.activity_unit_ids(array[v_activity.activity_id])
    );
  end if;
  return private.submission_written(
    results_reset_feedback.pupil_id, v_activity.activity_id,
    case when v_submission_id is not null then 'submission_updated' end
  );
end
$$;
comment on function public.results_reset_feedback(uuid, uuid) is
'Removes the teacher''s override, feedback and criterion marks of one cell (AI and auto marks stay). Enqueues '
'the pupil; returns {submission, cell}. Callers: teachers, service_role. Errors: PLV01, PLV04, PLN01, PLN03, 42501.';
revoke all on function public.results_reset_feedback(uuid, uuid) from public, anon;
grant execute on function public.results_reset_feedback(uuid, uuid) to authenticated, service_role;
