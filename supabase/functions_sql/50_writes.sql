-- The write RPCs. Each is one transaction: validate, write, enqueue the recalculation of exactly the
-- affected pupils (DOMAIN.md section 5), broadcast the changed cells to the open results grids
-- (60_realtime.sql; delivered on commit only), and return the authoritative row at once. API roles have no
-- direct INSERT/UPDATE/DELETE on the domain tables; these functions are the only write path.
-- Bad input raises a project SQLSTATE (docs/errors.md) before anything is written.

-- Raise PLV01 when a required parameter is NULL.
create or replace function private.require(value anyelement, name text)
returns anyelement
language plpgsql
immutable
set search_path = ''
as $$
begin
  if value is null then
    raise exception '% is required', name using errcode = 'PLV01';
  end if;
  return value;
end
$$;
comment on function private.require(anyelement, text) is 'Returns value, or raises PLV01 naming the missing parameter.';
revoke all on function private.require(anyelement, text) from public;

-- Raise PLV02 unless the score is a fraction in [0, 1] (NULL passes: it means "not given").
create or replace function private.assert_score(score numeric, name text)
returns numeric
language plpgsql
immutable
set search_path = ''
as $$
begin
  if score is not null and score not between 0 and 1 then
    raise exception '% must be between 0 and 1, not %', name, left(score::text, 40)
      using errcode = 'PLV02', hint = 'Scores are fractions: 0.75 means 75 %.';
  end if;
  -- A float printed in full (0.30000000000000004) has 17 places; thousands of digits are refused.
  if scale(trim_scale(score)) > 20 then
    raise exception '% has % decimal places; at most 20 are accepted', name, scale(trim_scale(score))
      using errcode = 'PLV02', hint = 'Send the score as a JSON number such as 0.75.';
  end if;
  return score;
end
$$;
comment on function private.assert_score(numeric, text) is
'Returns score, or raises PLV02 when it is outside [0, 1] or has more than 20 decimal places.';
revoke all on function private.assert_score(numeric, text) from public;

-- Raise PLV13 when a JSON document is larger than max_bytes as text or nests deeper than max_depth
-- (a scalar is depth 0, {"a": 1} depth 1). The size is checked first, so the walk is bounded.
create or replace function private.assert_json_limits(doc jsonb, name text, max_bytes integer, max_depth integer)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
declare
  v_bytes integer;
  v_depth integer;
begin
  if doc is null then
    return doc;
  end if;
  v_bytes := octet_length(doc::text);
  if v_bytes > max_bytes then
    raise exception '% is % bytes as JSON text; at most % are accepted', name, v_bytes, max_bytes
      using errcode = 'PLV13';
  end if;
  with recursive walk (value, depth) as (
    select doc, 0
    union all
    select c.value, w.depth + 1
    from walk as w
    cross join lateral (
      select e.value from jsonb_each(case when jsonb_typeof(w.value) = 'object' then w.value end) as e
      union all
      select e.value from jsonb_array_elements(case when jsonb_typeof(w.value) = 'array' then w.value end) as e
    ) as c
    where w.depth <= max_depth
  )

  select max(w.depth) + 1 into v_depth from walk as w where jsonb_typeof(w.value) in ('object', 'array');
  if v_depth > max_depth then
    raise exception '% nests deeper than % levels', name, max_depth using errcode = 'PLV13';
  end if;
  return doc;
end
$$;
comment on function private.assert_json_limits(jsonb, text, integer, integer) is
'Returns doc, or raises PLV13 when it is over max_bytes as text or nested deeper than max_depth. Callers: '
'results_apply_ai_marks (ai_meta: 16384 bytes, depth 8).';
revoke all on function private.assert_json_limits(jsonb, text, integer, integer) from public;

-- Raise PLV13 when a batch argument has more items than a call may carry.
create or replace function private.assert_batch_size(items integer, name text, max_items integer)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if items > max_items then
    raise exception '% has % items; at most % are accepted in one call', name, items, max_items
      using errcode = 'PLV13', hint = 'Split the batch into several calls.';
  end if;
end
$$;
comment on function private.assert_batch_size(integer, text, integer) is
'Raises PLV13 when items > max_items. Callers: results_save_feedback (criterion_scores: 100), '
'activities_set_criteria (success_criteria_ids: 100).';
revoke all on function private.assert_batch_size(integer, text, integer) from public;

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
  if not private.profile_exists(assert_can_mark.pupil_id) then
    raise exception 'unknown pupil %', assert_can_mark.pupil_id using errcode = 'PLN01';
  end if;
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
  if not private.profile_exists(assert_can_submit.pupil_id) then
    raise exception 'unknown pupil %', assert_can_submit.pupil_id using errcode = 'PLN01';
  end if;
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

-- The end of every submission write: the cell is computed once (private.result_cells, the grid's
-- cell), broadcast to the classes that show it (private.broadcast_assignment_update; event NULL when
-- the write changed nothing), and returned with the submission and its criterion marks as the
-- authoritative row. The submission is NULL when there is none; the cell is NULL when the activity
-- is not on a grid (inactive, not scorable).
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
  return jsonb_build_object(
    'pupil_id', submission_written.pupil_id,
    'activity_id', submission_written.activity_id,
    'submission', (
      select to_jsonb(s) || jsonb_build_object('criterion_scores', coalesce((
        select jsonb_agg(
          jsonb_build_object('success_criteria_id', m.success_criteria_id, 'score', m.score)
          order by m.success_criteria_id
        )
        from public.submission_criterion_scores as m
        where m.submission_id = s.submission_id
      ), '[]'::jsonb))
      from public.submissions as s
      where s.user_id = submission_written.pupil_id and s.activity_id = submission_written.activity_id
    ),
    'cell', v_cell
  );
end
$$;
comment on function private.submission_written(uuid, uuid, text) is
'Computes the written cell once, broadcasts it (event submission_updated or submission_deleted; NULL: nothing '
'changed, no broadcast) and returns {pupil_id, activity_id, submission (with criterion_scores), cell (the '
'results-grid cell)}. Callers: the submission write RPCs, after writing and enqueueing.';
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
    if length(submissions_submit_answer.text) > 20000 then
      raise exception 'the answer is % characters long; at most 20000 are accepted', length(submissions_submit_answer.text)
        using errcode = 'PLV07';
    end if;
    v_body := jsonb_build_object('text', submissions_submit_answer.text);
  end if;
  perform private.save_answer(v_pupil, v_activity.activity_id, v_body, v_auto, submissions_submit_answer.status);
  perform private.report_enqueue(array[v_pupil], 'submission');
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
  perform private.report_enqueue(array[v_pupil], 'upload');
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
    perform private.report_enqueue(array[v_pupil], 'upload deleted');
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
  if length(results_save_feedback.feedback) > 20000 then
    raise exception 'feedback is % characters long; at most 20000 are accepted', length(results_save_feedback.feedback)
      using errcode = 'PLV07';
  end if;
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
        or (v_item ->> 'success_criteria_id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
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
  perform private.report_enqueue(array[results_save_feedback.pupil_id], 'feedback');
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
    perform private.report_enqueue(array[results_reset_feedback.pupil_id], 'feedback reset');
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

-- Parse '{groupId}__{lessonId}' and check the assignment exists and the caller teaches the class.
create or replace function private.resolve_assignment(group_assignment_id text, activity_id uuid)
returns public.activities
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_group text;
  v_lesson text;
  v_activity public.activities;
begin
  perform private.require(resolve_assignment.group_assignment_id, 'group_assignment_id');
  perform private.require(resolve_assignment.activity_id, 'activity_id');
  v_group := split_part(resolve_assignment.group_assignment_id, '__', 1);
  v_lesson := substr(resolve_assignment.group_assignment_id, length(v_group) + 3);
  if v_group = '' or v_lesson !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    raise exception 'group_assignment_id must be {groupId}__{lessonId}, not %', resolve_assignment.group_assignment_id
      using errcode = 'PLV12';
  end if;
  perform private.assert_can_teach_group(v_group);
  if not exists (select from public.lessons as l where l.lesson_id = v_lesson::uuid) then
    raise exception 'unknown lesson %', v_lesson using errcode = 'PLN04';
  end if;
  if not exists (
    select from public.lesson_assignments as la where la.group_id = v_group and la.lesson_id = v_lesson::uuid
  ) then
    raise exception 'lesson % is not assigned to class %', v_lesson, v_group using errcode = 'PLN07';
  end if;
  select a.* into v_activity from public.activities as a where a.activity_id = resolve_assignment.activity_id;
  if not found then
    raise exception 'unknown activity %', resolve_assignment.activity_id using errcode = 'PLN03';
  end if;
  if v_activity.lesson_id <> v_lesson::uuid then
    raise exception 'activity % is not part of lesson %', v_activity.activity_id, v_lesson using errcode = 'PLV06';
  end if;
  -- Marking authority follows the subject: a lesson of another subject assigned to the class (which
  -- lessons_assign refuses, but older data may hold) gives its teachers no right to mark it.
  if not private.caller_bypasses_rls() and not exists (
    select
    from public.lessons as l
    inner join public.units as u on l.unit_id = u.unit_id
    inner join public.groups as g on u.subject = g.subject
    where l.lesson_id = v_lesson::uuid and g.group_id = v_group
  ) then
    raise exception 'lesson % is not a lesson of class %''s subject', v_lesson, v_group
      using errcode = '42501', hint = 'Only teachers of the lesson''s subject may mark it.';
  end if;
  return v_activity;
end
$$;
comment on function private.resolve_assignment(text, uuid) is
'Checks {groupId}__{lessonId} and the activity and that the caller teaches the class in the lesson''s subject; '
'returns the activity. Errors: PLV01, PLV12, PLN02 (service role), 42501, PLN04, PLN07, PLN03, PLV06.';
revoke all on function private.resolve_assignment(text, uuid) from public;

-- The AI marker's results for one activity of one assignment. Teacher overrides and criterion marks
-- are kept (they outrank the AI score). Items for pupils outside the class are reported, not applied.
-- An item that names the revision it marked is applied only while that is still the pupil's answer:
-- a mark for an answer the pupil has since changed is skipped and reported in `stale`.
create or replace function public.results_apply_ai_marks(
  group_assignment_id text, activity_id uuid, results jsonb, ai_meta jsonb default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_activity public.activities;
  v_group text := split_part(results_apply_ai_marks.group_assignment_id, '__', 1);
  v_item jsonb;
  v_index integer := 0;
  v_seen uuid [] := '{}'::uuid [];
  v_pupil uuid;
  v_errors jsonb := '[]'::jsonb;
  v_valid jsonb := '[]'::jsonb;
  v_stale jsonb;
  v_counts record;
  v_touched uuid [];
begin
  v_activity := private.resolve_assignment(results_apply_ai_marks.group_assignment_id, results_apply_ai_marks.activity_id);
  perform private.require(results_apply_ai_marks.results, 'results');
  if jsonb_typeof(results_apply_ai_marks.results) <> 'array' then
    raise exception 'results must be an array of {pupil_id, score, feedback}' using errcode = 'PLV05';
  end if;
  if results_apply_ai_marks.ai_meta is not null and jsonb_typeof(results_apply_ai_marks.ai_meta) <> 'object' then
    raise exception 'ai_meta must be an object' using errcode = 'PLV05';
  end if;
  perform private.assert_json_limits(results_apply_ai_marks.ai_meta, 'ai_meta', 16384, 8);
  if jsonb_array_length(results_apply_ai_marks.results) > 1000 then
    raise exception 'at most 1000 results per batch, not %', jsonb_array_length(results_apply_ai_marks.results)
      using errcode = 'PLV05';
  end if;
  -- Validate the whole batch before writing anything.
  for v_item in select e from jsonb_array_elements(results_apply_ai_marks.results) as e loop
    if coalesce(
      jsonb_typeof(v_item) <> 'object' or jsonb_typeof(v_item -> 'pupil_id') is distinct from 'string'
      or (v_item ->> 'pupil_id') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
      or jsonb_typeof(v_item -> 'score') is distinct from 'number'
      or coalesce(jsonb_typeof(v_item -> 'feedback'), 'null') not in ('string', 'null')
      or coalesce(length(v_item ->> 'feedback'), 0) > 20000
      or coalesce(jsonb_typeof(v_item -> 'revision'), 'null') not in ('number', 'null')
      or (coalesce(jsonb_typeof(v_item -> 'revision') = 'number', false)
        and (v_item ->> 'revision') !~ '^[0-9]{1,18}$'),
      true
    ) then
      raise exception
        'results[%] must be {"pupil_id": uuid, "score": number, "feedback": text or null, "revision": integer or null}',
        v_index
        using errcode = 'PLV05', detail = left(v_item::text, 200);
    end if;
    perform private.assert_score((v_item ->> 'score')::numeric, format('results[%s].score', v_index));
    v_pupil := (v_item ->> 'pupil_id')::uuid;
    if v_pupil = any(v_seen) then
      raise exception 'results names pupil % twice', v_pupil using errcode = 'PLV05';
    end if;
    v_seen := v_seen || v_pupil;
    if exists (
      select from public.group_membership as gm
      where gm.group_id = v_group and gm.user_id = v_pupil and gm.role = 'pupil'
    ) then
      v_valid := v_valid || jsonb_build_array(v_item);
    else
      v_errors := v_errors || jsonb_build_array(jsonb_build_object(
        'index', v_index, 'pupil_id', v_pupil, 'code', 'PLV04', 'message', 'not a pupil of class ' || v_group
      ));
    end if;
    v_index := v_index + 1;
  end loop;

  -- Lock the batch's submissions (in key order, so two batches cannot deadlock), then leave out every
  -- mark made for a revision that is no longer the pupil's answer (or for work since deleted).
  perform
  from public.submissions as s
  where
    s.activity_id = v_activity.activity_id
    and s.user_id in (select (x ->> 'pupil_id')::uuid from jsonb_array_elements(v_valid) as x)
  order by s.user_id
  for update;
  select coalesce(jsonb_agg(jsonb_build_object(
    'pupil_id', x.value ->> 'pupil_id', 'revision', (x.value ->> 'revision')::bigint, 'current_revision', s.revision
  ) order by x.n), '[]'::jsonb)
  into v_stale
  from jsonb_array_elements(v_valid) with ordinality as x (value, n)
  left join public.submissions as s
    on s.activity_id = v_activity.activity_id and s.user_id = (x.value ->> 'pupil_id')::uuid
  where jsonb_typeof(x.value -> 'revision') = 'number' and s.revision is distinct from (x.value ->> 'revision')::bigint;
  if jsonb_array_length(v_stale) > 0 then
    select coalesce(jsonb_agg(x.value order by x.n), '[]'::jsonb) into v_valid
    from jsonb_array_elements(v_valid) with ordinality as x (value, n)
    where not v_stale @> jsonb_build_array(jsonb_build_object('pupil_id', x.value ->> 'pupil_id'));
  end if;

  with items as (
    select (x ->> 'pupil_id')::uuid as pupil_id, (x ->> 'score')::numeric as score, x ->> 'feedback' as feedback
    from jsonb_array_elements(v_valid) as x
  ),

  updated as (
    update public.submissions as s
    set
      ai_score = i.score, ai_feedback = i.feedback, ai_meta = results_apply_ai_marks.ai_meta,
      ai_marked_at = now(), updated_at = clock_timestamp()
    from items as i
    where
      s.user_id = i.pupil_id and s.activity_id = v_activity.activity_id
      and (s.ai_score is distinct from i.score or s.ai_feedback is distinct from i.feedback)
    returning s.user_id
  ),

  created as (
    insert into public.submissions as n (
      activity_id, user_id, status, submitted_at, ai_score, ai_feedback, ai_meta, ai_marked_at, updated_at
    )
    select
      v_activity.activity_id, i.pupil_id, 'submitted', now(), i.score, i.feedback, results_apply_ai_marks.ai_meta,
      now(), clock_timestamp()
    from items as i
    where not exists (
      select from public.submissions as s where s.user_id = i.pupil_id and s.activity_id = v_activity.activity_id
    )
    on conflict on constraint submissions_user_activity_key do nothing
    returning n.user_id
  )

  select
    (select count(*) from updated) as updated,
    (select count(*) from created) as created,
    (select array_agg(x.user_id) from (select u.user_id from updated as u union all select c.user_id from created as c) as x)
      as touched
  into v_counts;
  v_touched := coalesce(v_counts.touched, '{}');
  perform private.report_enqueue(v_touched, 'ai marks');
  perform private.broadcast_assignment_update(v_touched, v_activity.activity_id);
  return jsonb_build_object(
    'updated', v_counts.updated,
    'created', v_counts.created,
    'skipped', jsonb_array_length(v_valid) - v_counts.updated - v_counts.created,
    'errors', v_errors,
    'stale', v_stale
  );
end
$$;
comment on function public.results_apply_ai_marks(text, uuid, jsonb, jsonb) is
'Applies AI scores and feedback for one activity of one assignment ({groupId}__{lessonId}); keeps teacher '
'overrides and criterion marks; creates a submission where there was none; skips an item whose revision is no '
'longer the pupil''s answer. Enqueues the pupils touched; returns {updated, created, skipped, errors, stale: '
'[{pupil_id, revision, current_revision}]}. Callers: the AI webhook (service_role), teachers of the class in the '
'lesson''s subject. Errors: PLV01, PLV02, PLV05, PLV06, PLV12, PLV13 (ai_meta over 16384 bytes or depth 8), '
'PLN02, PLN03, PLN04, PLN07, 42501.';
revoke all on function public.results_apply_ai_marks(text, uuid, jsonb, jsonb) from public, anon;
grant execute on function public.results_apply_ai_marks(text, uuid, jsonb, jsonb) to authenticated, service_role;

-- Clear the AI marks of one activity for the pupils of one assignment's class.
create or replace function public.results_clear_ai_marks(group_assignment_id text, activity_id uuid)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_activity public.activities;
  v_group text := split_part(results_clear_ai_marks.group_assignment_id, '__', 1);
  v_touched uuid [];
begin
  v_activity := private.resolve_assignment(results_clear_ai_marks.group_assignment_id, results_clear_ai_marks.activity_id);
  with cleared as (
    update public.submissions as s
    set ai_score = null, ai_feedback = null, ai_meta = null, ai_marked_at = null, updated_at = clock_timestamp()
    from public.group_membership as gm
    where
      gm.group_id = v_group and gm.role = 'pupil' and s.user_id = gm.user_id
      and s.activity_id = v_activity.activity_id
      and (s.ai_score is not null or s.ai_feedback is not null or s.ai_meta is not null)
    returning s.user_id
  )

  select coalesce(array_agg(c.user_id), '{}') into v_touched from cleared as c;
  perform private.report_enqueue(v_touched, 'ai marks cleared');
  perform private.broadcast_activity_marks_cleared(v_touched, v_activity.activity_id);
  return jsonb_build_object('cleared', cardinality(v_touched), 'pupil_ids', to_jsonb(v_touched));
end
$$;
comment on function public.results_clear_ai_marks(text, uuid) is
'Clears the AI score, feedback and metadata of one activity for the pupils of the class. Enqueues each pupil '
'touched; returns {cleared, pupil_ids}. Callers: teachers of the class, service_role. Errors: as '
'results_apply_ai_marks.';
revoke all on function public.results_clear_ai_marks(text, uuid) from public, anon;
grant execute on function public.results_clear_ai_marks(text, uuid) to authenticated, service_role;

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
  if not private.profile_exists(groups_add_member.user_id) then
    raise exception 'unknown user %', groups_add_member.user_id using errcode = 'PLN01';
  end if;
  select gm.role into v_old from public.group_membership as gm
  where gm.group_id = groups_add_member.group_id and gm.user_id = groups_add_member.user_id
  for update;
  insert into public.group_membership as gm (group_id, user_id, role)
  values (groups_add_member.group_id, groups_add_member.user_id, groups_add_member.role)
  on conflict on constraint group_membership_pkey do update set role = excluded.role
  returning gm.* into v_row;
  if 'pupil' in (v_old, groups_add_member.role) and v_old is distinct from groups_add_member.role then
    perform private.report_enqueue(array[groups_add_member.user_id], 'membership');
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
  v_new := not exists (
    select from public.lesson_assignments as la
    where la.group_id = lessons_assign.group_id and la.lesson_id = lessons_assign.lesson_id
  );
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
      'lesson assigned'
    );
  end if;
  return to_jsonb(v_row);
end
$$;
comment on function public.lessons_assign(text, uuid, date, boolean) is
'Assigns a lesson of the class''s subject to a class (start date and feedback visibility do not affect reports). '
'Enqueues the class''s pupils when newly assigned; returns the assignment row. Callers: teachers of the class, '
'service_role. Errors: PLV01, PLN02 (service role), PLN04, PLV14 (the lesson is of another subject), 42501.';
revoke all on function public.lessons_assign(text, uuid, date, boolean) from public, anon;
grant execute on function public.lessons_assign(text, uuid, date, boolean) to authenticated, service_role;

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
      'lesson unassigned'
    );
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
    perform private.report_enqueue(private.pupils_assigned_lessons(array[v_activity.lesson_id]), 'criteria links');
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
    perform private.report_enqueue(private.pupils_assigned_lessons(array[v_new.lesson_id]), 'activity changed');
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
    perform private.report_enqueue(private.pupils_assigned_lessons(array[v_row.lesson_id]), 'lesson active');
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
      'unit changed'
    );
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
    'level boundaries'
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
