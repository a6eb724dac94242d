-- The AI marker's writes for one activity of one assignment ({groupId}__{lessonId}): marks applied
-- (skipping those for an answer the pupil has since changed) and cleared. Callers: the webhook (as the
-- service role) and the class's teachers in the lesson's subject.

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
  if v_group = '' or not private.is_uuid(v_lesson) then
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
  perform private.assert_batch_size(jsonb_array_length(results_apply_ai_marks.results), 'results', 1000);
  -- Validate the whole batch before writing anything.
  for v_item in select e from jsonb_array_elements(results_apply_ai_marks.results) as e loop
    if coalesce(
      jsonb_typeof(v_item) <> 'object' or jsonb_typeof(v_item -> 'pupil_id') is distinct from 'string'
      or not private.is_uuid(v_item ->> 'pupil_id')
      or jsonb_typeof(v_item -> 'score') is distinct from 'number'
      or coalesce(jsonb_typeof(v_item -> 'feedback'), 'null') not in ('string', 'null')
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
    perform private.assert_text_length(v_item ->> 'feedback', format('results[%s].feedback', v_index));
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
  perform private.report_enqueue(v_touched, 'ai marks', private.activity_unit_ids(array[v_activity.activity_id]));
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
'lesson''s subject. Errors: PLV01, PLV02, PLV05, PLV06, PLV07 (a feedback over 20,000 characters), PLV12, PLV13 '
'(ai_meta over 16384 bytes or depth 8, over 1000 results), PLN02, PLN03, PLN04, PLN07, 42501.';
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
  perform private.report_enqueue(v_touched, 'ai marks cleared', private.activity_unit_ids(array[v_activity.activity_id]));
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
