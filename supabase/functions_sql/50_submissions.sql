-- A pupil's own writes: an answer (text or multiple choice), an upload, an upload deleted. Each is
-- one transaction: check the pupil may submit, write, enqueue the pupil's recalculation
-- (docs/workflow.md), broadcast the changed cell to the open results grids (35_realtime.sql;
-- delivered on commit only) and return the authoritative row. API roles have no direct
-- INSERT/UPDATE/DELETE on the domain tables; these functions and those of 52-56 are the only write
-- path. Bad input raises a project SQLSTATE (docs/errors.md) before anything is written.

-- Who may submit work: the pupil themselves (or the service role on their behalf), on an active,
-- answerable activity assigned to one of their classes. Returns the pupil id and the activity.
create or replace function private.assert_can_submit(pupil_id uuid, activity_id uuid, answer_kind text)
returns public.activities
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_activity public.activities;
  v_kind text;
begin
  perform private.require(assert_can_submit.activity_id, 'activity_id');
  if assert_can_submit.pupil_id is null then
    raise exception 'pupil_id is required when the caller is not a signed-in pupil' using errcode = 'PLV01';
  end if;
  if not private.caller_bypasses_rls() and assert_can_submit.pupil_id is distinct from auth.uid() then
    raise exception 'you may only submit your own work' using errcode = '42501';
  end if;
  select a.* into v_activity from public.activities as a where a.activity_id = assert_can_submit.activity_id;
  if not found then
    raise exception 'unknown activity %', assert_can_submit.activity_id using errcode = 'PLN03';
  end if;
  perform private.assert_profile_exists(assert_can_submit.pupil_id);
  select t.answer_kind into v_kind from public.activity_types as t where t.type = v_activity.type;
  if v_kind is distinct from assert_can_submit.answer_kind or not v_activity.active then
    raise exception 'activity % does not take this kind of answer', assert_can_submit.activity_id
      using errcode = 'PLV06',
      detail = format('It is a %s activity%s.', v_activity.type, case when v_activity.active then '' else ' (inactive)' end);
  end if;
  if not exists (
    select
    from public.group_membership as gm
    inner join public.lesson_assignments as la on gm.group_id = la.group_id
    where gm.user_id = assert_can_submit.pupil_id and gm.role = 'pupil' and la.lesson_id = v_activity.lesson_id
  ) then
    raise exception 'this activity is not assigned to any of your classes'
      using errcode = 'PLV04';
  end if;
  return v_activity;
end
$$;
comment on function private.assert_can_submit(uuid, uuid, text) is
'Returns the activity if the pupil may submit this kind of answer to it. Errors: PLV01, 42501, PLN03, PLN01, '
'PLV06, PLV04.';
revoke all on function private.assert_can_submit(uuid, uuid, text) from public;

-- A submission as JSON (to_jsonb of the row with criterion_scores) without its marks: what a pupil
-- gets while the lesson's feedback is not released. NULL stays NULL.
create or replace function private.withhold_marks(submission jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
  return withhold_marks.submission || jsonb_build_object(
    'auto_score', null, 'ai_score', null, 'ai_feedback', null, 'ai_meta', null, 'ai_marked_at', null,
    'override_score', null, 'teacher_feedback', null, 'override_by', null, 'override_at', null,
    'criterion_scores', '[]'::jsonb, 'feedback_withheld', true
  );
end
$$;
comment on function private.withhold_marks(jsonb) is
'The submission''s JSON with every mark and feedback field NULL, no criterion_scores and feedback_withheld true. '
'Callers: submission_written, read_pupil_submissions.';
revoke all on function private.withhold_marks(jsonb) from public;

-- The end of every submission write: the cell is computed once (private.result_cells, the grid's
-- cell), broadcast to the classes that show it (private.broadcast_assignment_update; event NULL when
-- the write changed nothing), and returned with the submission and its criterion marks as the
-- authoritative row. The submission is NULL when there is none; the cell is NULL when the activity
-- is not on a grid (inactive, not scorable). A pupil whose lesson's feedback is not released gets
-- the row without its marks (private.feedback_withheld): every mark and feedback column NULL, no
-- criterion marks, the cell's score, source and AI fields NULL and its state withheld (untouched
-- stays untouched), and feedback_withheld true. The teachers' broadcast carries the whole cell.
create or replace function private.submission_written(pupil_id uuid, activity_id uuid, event text)
returns jsonb
language plpgsql
security definer
set search_path = ''
set plan_cache_mode = 'force_generic_plan'
as $$
declare
  v_lesson uuid;
  v_cell jsonb;
  v_submission jsonb;
begin
  select a.lesson_id into v_lesson from public.activities as a where a.activity_id = submission_written.activity_id;
  select c.cell into v_cell
  from private.result_cells(array[submission_written.pupil_id], v_lesson, submission_written.activity_id) as c;
  if v_cell is not null and submission_written.event is not null then
    perform private.broadcast_assignment_update(
      array[submission_written.pupil_id], submission_written.activity_id, submission_written.event,
      jsonb_build_array(v_cell)
    );
  end if;
  select to_jsonb(s) || jsonb_build_object('criterion_scores', coalesce((
    select jsonb_agg(
      jsonb_build_object('success_criteria_id', m.success_criteria_id, 'score', m.score)
      order by m.success_criteria_id
    )
    from public.submission_criterion_scores as m
    where m.submission_id = s.submission_id
  ), '[]'::jsonb)) into v_submission
  from public.submissions as s
  where s.user_id = submission_written.pupil_id and s.activity_id = submission_written.activity_id;
  if private.feedback_withheld(submission_written.pupil_id, v_lesson) then
    v_submission := private.withhold_marks(v_submission);
    v_cell := v_cell || jsonb_build_object(
      'state', case when v_cell ->> 'state' = 'untouched' then 'untouched' else 'withheld' end,
      'score', null, 'source', null, 'aiScore', null, 'aiFeedback', null, 'aiMarkedAt', null,
      'feedbackWithheld', true
    );
  end if;
  return jsonb_build_object(
    'pupil_id', submission_written.pupil_id,
    'activity_id', submission_written.activity_id,
    'submission', v_submission,
    'cell', v_cell
  );
end
$$;
comment on function private.submission_written(uuid, uuid, text) is
'Computes the written cell once, broadcasts it (event submission_updated or submission_deleted; NULL: nothing '
'changed, no broadcast) and returns {pupil_id, activity_id, submission (with criterion_scores), cell (the '
'results-grid cell)}, without marks to a pupil whose lesson''s feedback is not released (feedback_withheld). '
'Callers: the submission write RPCs, after writing and enqueueing.';
revoke all on function private.submission_written(uuid, uuid, text) from public;

-- Clear every mark of a submission: new work is unmarked work.
create or replace function private.clear_marks(submission_id uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.submission_criterion_scores as m where m.submission_id = clear_marks.submission_id;
  update public.submissions as s
  set
    ai_score = null, ai_feedback = null, ai_meta = null, ai_marked_at = null, override_score = null,
    teacher_feedback = null, override_by = null, override_at = null
  where s.submission_id = clear_marks.submission_id;
end
$$;
comment on function private.clear_marks(uuid) is 'Removes AI, override and criterion marks of a submission. Callers: resubmissions.';
revoke all on function private.clear_marks(uuid) from public;

-- Save a pupil's answer (or resubmit it) and record it as the current submission.
create or replace function private.save_answer(pupil_id uuid, activity_id uuid, body jsonb, auto_score numeric, status text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_existing public.submissions;
begin
  -- The first answer inserts; a concurrent first answer to the same activity finds the row and
  -- becomes a resubmission instead of failing on the unique key.
  insert into public.submissions (activity_id, user_id, status, submitted_at, body, auto_score, updated_at)
  values (
    save_answer.activity_id, save_answer.pupil_id, save_answer.status,
    case when save_answer.status <> 'inprogress' then now() end, save_answer.body, save_answer.auto_score,
    clock_timestamp()
  )
  on conflict on constraint submissions_user_activity_key do nothing;
  if found then
    return;
  end if;
  select s.* into strict v_existing
  from public.submissions as s
  where s.user_id = save_answer.pupil_id and s.activity_id = save_answer.activity_id
  for update;
  if v_existing.body is distinct from save_answer.body then
    perform private.clear_marks(v_existing.submission_id);
  end if;
  update public.submissions as s
  set
    body = save_answer.body,
    auto_score = save_answer.auto_score,
    status = save_answer.status,
    submitted_at = case when save_answer.status <> 'inprogress' then now() else s.submitted_at end,
    revision = case
      when v_existing.body is distinct from save_answer.body then nextval('public.submissions_revision_seq')
      else s.revision
    end,
    updated_at = clock_timestamp()
  where s.submission_id = v_existing.submission_id;
end
$$;
comment on function private.save_answer(uuid, uuid, jsonb, numeric, text) is
'Inserts or resubmits a pupil''s answer; a changed answer clears every mark and takes a new revision. Callers: '
'submissions_* RPCs.';
revoke all on function private.save_answer(uuid, uuid, jsonb, numeric, text) from public;

-- A pupil submits (or saves in progress) a text or multiple-choice answer.
create or replace function public.submissions_submit_answer(
  activity_id uuid,
  text text default null,
  option_id text default null,
  status text default 'submitted',
  pupil_id uuid default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_pupil uuid := coalesce(submissions_submit_answer.pupil_id, auth.uid());
  v_activity public.activities;
  v_kind text;
  v_body jsonb;
  v_auto numeric;
  v_correct text;
begin
  if submissions_submit_answer.status is null or submissions_submit_answer.status not in ('inprogress', 'submitted') then
    raise exception 'status must be inprogress or submitted, not %', submissions_submit_answer.status
      using errcode = 'PLV07';
  end if;
  select t.answer_kind into v_kind
  from public.activities as a
  inner join public.activity_types as t on a.type = t.type
  where a.activity_id = submissions_submit_answer.activity_id;
  v_activity := private.assert_can_submit(v_pupil, submissions_submit_answer.activity_id, coalesce(
    case when v_kind in ('mcq', 'text') then v_kind end, 'text'
  ));
  if v_kind = 'mcq' then
    if submissions_submit_answer.option_id is null or submissions_submit_answer.text is not null then
      raise exception 'a multiple-choice answer is an option_id (and no text)' using errcode = 'PLV07';
    end if;
    if length(submissions_submit_answer.option_id) > 100 then
      raise exception 'option_id is % characters long; at most 100 are accepted', length(submissions_submit_answer.option_id)
        using errcode = 'PLV07';
    end if;
    if jsonb_typeof(v_activity.body_data -> 'options') = 'array' and not exists (
      select from jsonb_array_elements(v_activity.body_data -> 'options') as o
      where o ->> 'id' = submissions_submit_answer.option_id
    ) then
      raise exception 'option % is not one of this question''s options', submissions_submit_answer.option_id
        using errcode = 'PLV07';
    end if;
    v_body := jsonb_build_object('option_id', submissions_submit_answer.option_id);
    -- The key is read here, inside the RPC: pupils cannot read public.activity_answer_keys.
    select k.correct_option_id into v_correct
    from public.activity_answer_keys as k where k.activity_id = v_activity.activity_id;
    v_auto := (submissions_submit_answer.option_id = v_correct)::integer;
  else
    if submissions_submit_answer.text is null or submissions_submit_answer.option_id is not null then
      raise exception 'a text answer is a text (and no option_id)' using errcode = 'PLV07';
    end if;
    perform private.assert_text_length(submissions_submit_answer.text, 'the answer');
    v_body := jsonb_build_object('text', submissions_submit_answer.text);
  end if;
  perform private.save_answer(v_pupil, v_activity.activity_id, v_body, v_auto, submissions_submit_answer.status);
  perform private.report_enqueue(array[v_pupil], 'submission', private.activity_unit_ids(array[v_activity.activity_id]));
  return private.submission_written(v_pupil, v_activity.activity_id, 'submission_updated');
end
$$;
comment on function public.submissions_submit_answer(uuid, text, text, text, uuid) is
'A pupil saves (inprogress) or submits a text or MCQ answer; MCQ is auto-marked from activity_answer_keys; '
'a changed answer clears every mark. Enqueues the pupil; returns {submission, cell}. Callers: pupils, service_role '
'(pupil_id). Errors: PLV01, PLV06, PLV07, PLV04, PLN01, PLN03, 42501.';
revoke all on function public.submissions_submit_answer(uuid, text, text, text, uuid) from public, anon;
grant execute on function public.submissions_submit_answer(uuid, text, text, text, uuid) to authenticated, service_role;

-- A pupil uploads a file for an upload activity (the file itself lives in Storage).
create or replace function public.submissions_record_upload(
  activity_id uuid, file_name text, path text, pupil_id uuid default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_pupil uuid := coalesce(submissions_record_upload.pupil_id, auth.uid());
  v_activity public.activities;
begin
  v_activity := private.assert_can_submit(v_pupil, submissions_record_upload.activity_id, 'upload');
  if coalesce(length(submissions_record_upload.file_name), 0) not between 1 and 255
    or coalesce(length(submissions_record_upload.path), 0) not between 1 and 1024 then
    raise exception 'file_name (1-255 characters) and path (1-1024 characters) are required'
      using errcode = 'PLV07';
  end if;
  perform private.save_answer(
    v_pupil, v_activity.activity_id,
    jsonb_build_object('file_name', submissions_record_upload.file_name, 'path', submissions_record_upload.path),
    null, 'submitted'
  );
  perform private.report_enqueue(array[v_pupil], 'upload', private.activity_unit_ids(array[v_activity.activity_id]));
  return private.submission_written(v_pupil, v_activity.activity_id, 'submission_updated');
end
$$;
comment on function public.submissions_record_upload(uuid, text, text, uuid) is
'Records an uploaded file as the pupil''s submission (a new file clears every mark). Enqueues the pupil; returns '
'{submission, cell}. Callers: pupils, service_role (pupil_id). Errors: PLV01, PLV06, PLV07, PLV04, PLN01, PLN03, 42501.';
revoke all on function public.submissions_record_upload(uuid, text, text, uuid) from public, anon;
grant execute on function public.submissions_record_upload(uuid, text, text, uuid) to authenticated, service_role;

-- A pupil deletes their uploaded file: the submission goes, the cell is untouched again.
create or replace function public.submissions_delete_upload(activity_id uuid, pupil_id uuid default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_pupil uuid := coalesce(submissions_delete_upload.pupil_id, auth.uid());
  v_activity public.activities;
  v_deleted integer;
begin
  v_activity := private.assert_can_submit(v_pupil, submissions_delete_upload.activity_id, 'upload');
  delete from public.submissions as s where s.user_id = v_pupil and s.activity_id = v_activity.activity_id;
  get diagnostics v_deleted = row_count;
  if v_deleted > 0 then
    perform private.report_enqueue(array[v_pupil], 'upload deleted', private.activity_unit_ids(array[v_activity.activity_id]));
  end if;
  return private.submission_written(
    v_pupil, v_activity.activity_id, case when v_deleted > 0 then 'submission_deleted' end
  ) || jsonb_build_object('deleted', v_deleted > 0);
end
$$;
comment on function public.submissions_delete_upload(uuid, uuid) is
'Deletes the pupil''s upload submission (idempotent: deleted false when there was none). Enqueues the pupil; '
'returns {submission: null, cell, deleted}. Callers: pupils, service_role. Errors: PLV01, PLV06, PLV04, PLN01, PLN03, 42501.';
revoke all on function public.submissions_delete_upload(uuid, uuid) from public, anon;
grant execute on function public.submissions_delete_upload(uuid, uuid) to authenticated, service_role;

-- A pupil's submissions (optionally of one lesson), each with its criterion marks, ordered by
-- activity: how the pupil reads back their own work, and their teachers read it too. To the pupil,
-- the submissions of lessons whose feedback is not released come without their marks
-- (private.withhold_marks), while the table's RLS hides those rows from them.
create or replace function public.read_pupil_submissions(pupil_id uuid, lesson_id uuid default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_withheld uuid[] := '{}';
begin
  perform private.assert_can_read_pupil(read_pupil_submissions.pupil_id);
  if read_pupil_submissions.pupil_id = auth.uid() and not private.caller_bypasses_rls() then
    select coalesce(array_agg(a.activity_id), '{}') into v_withheld
    from private.withheld_lessons(read_pupil_submissions.pupil_id) as w
    inner join public.activities as a on w.lesson_id = a.lesson_id;
  end if;
  return coalesce((
    select jsonb_agg(
      case when s.activity_id = any(v_withheld) then private.withhold_marks(x.doc) else x.doc end
      order by s.activity_id
    )
    from public.submissions as s
    inner join public.activities as a on s.activity_id = a.activity_id
    cross join lateral (
      select to_jsonb(s) || jsonb_build_object('criterion_scores', coalesce((
        select jsonb_agg(
          jsonb_build_object('success_criteria_id', m.success_criteria_id, 'score', m.score)
          order by m.success_criteria_id
        )
        from public.submission_criterion_scores as m
        where m.submission_id = s.submission_id
      ), '[]'::jsonb)) as doc
    ) as x
    where
      s.user_id = read_pupil_submissions.pupil_id
      and (read_pupil_submissions.lesson_id is null or a.lesson_id = read_pupil_submissions.lesson_id)
  ), '[]'::jsonb);
end
$$;
comment on function public.read_pupil_submissions(uuid, uuid) is
'The pupil''s submissions (of one lesson, or all) with criterion_scores, by activity; to the pupil, those of lessons '
'whose feedback is not released without marks (feedback_withheld true). Callers: the pupil, their teachers, '
'service_role. Errors: PLV01 null, PLN01 unknown pupil, 42501 not allowed.';
revoke all on function public.read_pupil_submissions(uuid, uuid) from public, anon;
grant execute on function public.read_pupil_submissions(uuid, uuid) to authenticated, service_role;
