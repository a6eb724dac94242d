-- Realtime: the results grid and the broadcasts that keep an open grid or report page up to date
-- (docs/realtime.md, docs/scoring.md "Cells").
--
-- One cell definition: private.result_cells builds the cells of a grid from private.live_cells (the
-- one definition of a cell's score and source); read_assignment_results, read_assignment_results_slice
-- and private.broadcast_assignment_update all use it, so a broadcast payload is a grid cell plus its
-- assignmentId.
--
-- Broadcasts are explicit calls from the write RPCs (50-54) and the queue (40_queue.sql), never
-- triggers. They run inside the write's transaction through realtime.send(..., private => true): a
-- rolled-back write broadcasts nothing, and delivery happens on commit. They never raise (a failed
-- broadcast never fails the write) and send nothing while private.realtime_settings.broadcasts_enabled
-- is false or where realtime.send does not exist.
--
-- Topics and events:
--   assignment_results:{groupId}:{lessonId}  submission_updated, submission_deleted (a full cell),
--                                            activity_marks_cleared (partial: refetch that column)
--   report:{pupilId}                         report_updated {pupilId, version}
--
-- Errors raised by the read RPCs: PLV01 missing parameter, PLN01 unknown pupil, PLN02 unknown class,
-- PLN03 unknown activity, PLN04 unknown lesson, PLN07 lesson not assigned to class, PLV04 pupil not in
-- the class, PLV06 activity not part of the lesson, 42501 not a teacher of the class.

-- The columns of a results grid: the lesson's active scorable activities, when the lesson and its unit
-- are active (the same work that counts in live_pupil_work; inactive work is not on the grid).
create or replace function private.result_activities(lesson_id uuid)
returns setof public.activities
language sql
stable
as $$
  select a.*
  from public.activities as a
  inner join public.activity_types as t on a.type = t.type and t.scorable
  inner join public.lessons as l on a.lesson_id = l.lesson_id and l.active
  inner join public.units as u on l.unit_id = u.unit_id and u.active
  where a.lesson_id = result_activities.lesson_id and a.active
$$;
comment on function private.result_activities(uuid) is
'The activities that are columns of a lesson''s results grid (active, scorable, in an active lesson and unit). '
'Callers: read_assignment_results, broadcast_activity_marks_cleared.';
revoke all on function private.result_activities(uuid) from public;
grant execute on function private.result_activities(uuid) to service_role;

-- The cells of a results grid for some pupils and one lesson, optionally one activity only: every
-- (pupil, activity) whose work counts (private.live_cells), as the grid and the broadcasts show it.
-- state: untouched (no submission; score 0, source missing), awaiting_marking (a submission, score
-- NULL) or marked (score and source).
create or replace function private.result_cells(pupil_ids uuid[], lesson_id uuid, activity_id uuid default null)
returns table (pupil_id uuid, activity_id uuid, score numeric, cell jsonb)
language sql
stable
as $$
  select
    c.pupil_id,
    c.activity_id,
    c.cell_score,
    jsonb_build_object(
      'pupilId', c.pupil_id,
      'activityId', c.activity_id,
      'state', case
        when c.submission_id is null then 'untouched'
        when c.cell_score is null then 'awaiting_marking'
        else 'marked'
      end,
      'score', c.cell_score,
      'source', c.source,
      'submissionId', c.submission_id,
      'revision', s.revision,
      'status', s.status,
      'submittedAt', s.submitted_at,
      'hasUpload', coalesce(s.body ? 'path', false),
      'aiScore', s.ai_score,
      'aiFeedback', s.ai_feedback,
      'aiMarkedAt', s.ai_marked_at,
      'updatedAt', s.updated_at
    )
  -- With an activity, only that activity's scores are computed: a cell depends on nothing else.
  from private.live_cells(
    result_cells.pupil_ids, array[result_cells.lesson_id],
    case when result_cells.activity_id is not null then array[result_cells.activity_id] end
  ) as c
  left join public.submissions as s on c.submission_id = s.submission_id
$$;
comment on function private.result_cells(uuid[], uuid, uuid) is
'The results-grid cells of the pupils for one lesson (optionally one activity), from private.live_cells: '
'{pupilId, activityId, state, score, source, submissionId, revision, status, submittedAt, hasUpload, aiScore, '
'aiFeedback, aiMarkedAt, updatedAt}. Callers: read_assignment_results, read_assignment_results_slice, '
'broadcast_assignment_update.';
revoke all on function private.result_cells(uuid[], uuid, uuid) from public;
grant execute on function private.result_cells(uuid[], uuid, uuid) to service_role;

-- Raise unless the caller may read the results grid of (group, lesson); returns the lesson.
create or replace function private.assert_can_read_assignment(group_id text, lesson_id uuid)
returns public.lessons
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_lesson public.lessons;
begin
  perform private.require(assert_can_read_assignment.lesson_id, 'lesson_id');
  perform private.assert_can_teach_group(assert_can_read_assignment.group_id);
  select l.* into v_lesson from public.lessons as l where l.lesson_id = assert_can_read_assignment.lesson_id;
  if not found then
    raise exception 'unknown lesson %', assert_can_read_assignment.lesson_id using errcode = 'PLN04';
  end if;
  if not exists (
    select from public.lesson_assignments as la
    where la.group_id = assert_can_read_assignment.group_id and la.lesson_id = assert_can_read_assignment.lesson_id
  ) then
    raise exception 'lesson % is not assigned to class %', assert_can_read_assignment.lesson_id,
      assert_can_read_assignment.group_id
      using errcode = 'PLN07', hint = 'Assign the lesson to the class first.';
  end if;
  return v_lesson;
end
$$;
comment on function private.assert_can_read_assignment(text, uuid) is
'Returns the lesson if the caller (a teacher of the class, service_role) may read the results grid of the '
'assignment. Errors: PLV01, PLN02, 42501, PLN04, PLN07. Callers: read_assignment_results(_slice).';
revoke all on function private.assert_can_read_assignment(text, uuid) from public;

-- The results grid of one assignment (/results/assignments/{groupId}__{lessonId}).
create or replace function public.read_assignment_results(group_id text, lesson_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = 'force_custom_plan'
as $$
declare
  v_lesson public.lessons;
  v_grid jsonb;
begin
  v_lesson := private.assert_can_read_assignment(read_assignment_results.group_id, read_assignment_results.lesson_id);
  with pupils as (
    select
      p.user_id,
      p.first_name,
      p.last_name,
      row_number() over (order by p.last_name, p.first_name, p.user_id) as n
    from public.group_membership as gm
    inner join public.profiles as p on gm.user_id = p.user_id
    where gm.group_id = read_assignment_results.group_id and gm.role = 'pupil'
  ),

  activities as (
    select
      a.activity_id,
      a.title,
      a.type,
      a.is_summative,
      a.order_by,
      row_number() over (order by a.order_by, a.title, a.activity_id) as n
    from private.result_activities(v_lesson.lesson_id) as a
  ),

  cells as materialized (
    select
      c.pupil_id,
      c.activity_id,
      c.score,
      c.cell,
      p.n as pupil_n,
      a.n as activity_n
    from private.result_cells(array(select p.user_id from pupils as p), v_lesson.lesson_id) as c
    inner join pupils as p on c.pupil_id = p.user_id
    inner join activities as a on c.activity_id = a.activity_id
  )

  select jsonb_build_object(
    'assignmentId', read_assignment_results.group_id || '__' || v_lesson.lesson_id,
    'groupId', read_assignment_results.group_id,
    'lessonId', v_lesson.lesson_id,
    'lessonTitle', v_lesson.title,
    'feedbackVisible', (
      select la.feedback_visible from public.lesson_assignments as la
      where la.group_id = read_assignment_results.group_id and la.lesson_id = v_lesson.lesson_id
    ),
    'pupils', coalesce((
      select jsonb_agg(
        jsonb_build_object('pupilId', p.user_id, 'firstName', p.first_name, 'lastName', p.last_name) order by p.n
      )
      from pupils as p
    ), '[]'::jsonb),
    'activities', coalesce((
      select jsonb_agg(
        jsonb_build_object(
          'activityId', a.activity_id, 'title', a.title, 'type', a.type, 'isSummative', a.is_summative,
          'orderBy', a.order_by
        ) order by a.n
      )
      from activities as a
    ), '[]'::jsonb),
    'cells', coalesce((
      select jsonb_agg(c.cell order by c.pupil_n, c.activity_n) from cells as c
    ), '[]'::jsonb),
    -- Means with missing work counted as 0 (its cell score is 0) and awaiting-marking cells (score
    -- NULL) left out; NULL when nothing in the row or column has a score. Rounded half-up to 4 places.
    'rowMeans', coalesce((
      select jsonb_object_agg(
        p.user_id, (select round(avg(c.score), 4) from cells as c where c.pupil_id = p.user_id)
      )
      from pupils as p
    ), '{}'::jsonb),
    'columnMeans', coalesce((
      select jsonb_object_agg(
        a.activity_id, (select round(avg(c.score), 4) from cells as c where c.activity_id = a.activity_id)
      )
      from activities as a
    ), '{}'::jsonb)
  ) into v_grid;
  return v_grid;
end
$$;
comment on function public.read_assignment_results(text, uuid) is
'The results grid of an assignment (docs/scoring.md "Cells"): {assignmentId, groupId, lessonId, lessonTitle, '
'feedbackVisible (released to the pupils), pupils '
'(by last then first name), activities (by order_by), cells (pupil x activity: state, score, source, submissionId, '
'status, submittedAt, hasUpload, aiScore, aiFeedback, aiMarkedAt, updatedAt), rowMeans, columnMeans (missing = 0, '
'awaiting marking left out)}. Callers: the results page, glue ResultsMatrix (teachers of the class, service_role). '
'Errors: PLV01, PLN02, PLN04, PLN07, 42501.';
revoke all on function public.read_assignment_results(text, uuid) from public, anon;
grant execute on function public.read_assignment_results(text, uuid) to authenticated, service_role;

-- One row or one column of the results grid, for a targeted refetch after a partial event.
create or replace function public.read_assignment_results_slice(
  group_id text, lesson_id uuid, pupil_id uuid default null, activity_id uuid default null
)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
set plan_cache_mode = 'force_custom_plan'
as $$
declare
  v_lesson public.lessons;
  v_lesson_of uuid;
  v_cells jsonb;
begin
  v_lesson := private.assert_can_read_assignment(
    read_assignment_results_slice.group_id, read_assignment_results_slice.lesson_id
  );
  if read_assignment_results_slice.pupil_id is null and read_assignment_results_slice.activity_id is null then
    raise exception 'pupil_id or activity_id is required' using errcode = 'PLV01',
      hint = 'Give pupil_id for one row, activity_id for one column, both for one cell.';
  end if;
  if read_assignment_results_slice.pupil_id is not null then
    -- Only the service role learns that a uuid is nobody's: to a teacher, an unknown pupil is just
    -- not a pupil of the class (profiles are not theirs to probe).
    if private.caller_bypasses_rls() then
      perform private.assert_profile_exists(read_assignment_results_slice.pupil_id);
    end if;
    if not exists (
      select from public.group_membership as gm
      where gm.group_id = read_assignment_results_slice.group_id and gm.user_id = read_assignment_results_slice.pupil_id
        and gm.role = 'pupil'
    ) then
      raise exception '% is not a pupil of class %', read_assignment_results_slice.pupil_id,
        read_assignment_results_slice.group_id
        using errcode = 'PLV04';
    end if;
  end if;
  if read_assignment_results_slice.activity_id is not null then
    select a.lesson_id into v_lesson_of
    from public.activities as a where a.activity_id = read_assignment_results_slice.activity_id;
    if not found then
      raise exception 'unknown activity %', read_assignment_results_slice.activity_id using errcode = 'PLN03';
    end if;
    if v_lesson_of <> v_lesson.lesson_id then
      raise exception 'activity % is not part of lesson %', read_assignment_results_slice.activity_id,
        v_lesson.lesson_id
        using errcode = 'PLV06';
    end if;
  end if;
  -- The same cells in the same order as read_assignment_results.
  select coalesce(
    jsonb_agg(c.cell order by p.last_name, p.first_name, p.user_id, a.order_by, a.title, a.activity_id),
    '[]'::jsonb
  ) into v_cells
  from private.result_cells(
    array(
      select gm.user_id from public.group_membership as gm
      where
        gm.group_id = read_assignment_results_slice.group_id and gm.role = 'pupil'
        and (read_assignment_results_slice.pupil_id is null or gm.user_id = read_assignment_results_slice.pupil_id)
    ),
    v_lesson.lesson_id,
    read_assignment_results_slice.activity_id
  ) as c
  inner join public.profiles as p on c.pupil_id = p.user_id
  inner join private.result_activities(v_lesson.lesson_id) as a on c.activity_id = a.activity_id;
  return jsonb_build_object(
    'assignmentId', read_assignment_results_slice.group_id || '__' || v_lesson.lesson_id,
    'groupId', read_assignment_results_slice.group_id,
    'lessonId', v_lesson.lesson_id,
    'pupilId', read_assignment_results_slice.pupil_id,
    'activityId', read_assignment_results_slice.activity_id,
    'cells', v_cells
  );
end
$$;
comment on function public.read_assignment_results_slice(text, uuid, uuid, uuid) is
'One row (pupil_id), one column (activity_id) or one cell (both) of read_assignment_results, same cell shape and '
'order: {assignmentId, groupId, lessonId, pupilId, activityId, cells}. Callers: glue ResultsMatrix after a partial '
'event (teachers of the class, service_role). Errors: PLV01, PLN01, PLN02, PLN03, PLN04, PLN07, PLV04, PLV06, 42501.';
revoke all on function public.read_assignment_results_slice(text, uuid, uuid, uuid) from public, anon;
grant execute on function public.read_assignment_results_slice(text, uuid, uuid, uuid) to authenticated, service_role;

-- True when broadcasts are on (private.realtime_settings, on when the row is missing) and
-- realtime.send exists here.
create or replace function private.realtime_broadcasts_enabled()
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return coalesce((select s.broadcasts_enabled from private.realtime_settings as s), true)
    and pg_catalog.to_regprocedure('realtime.send(jsonb, text, text, boolean)') is not null;
end
$$;
comment on function private.realtime_broadcasts_enabled() is
'True when private.realtime_settings.broadcasts_enabled (default on) and realtime.send exists. Callers: the '
'broadcast_* functions.';
revoke all on function private.realtime_broadcasts_enabled() from public;

-- Broadcast the current cell of each pupil for one activity to every class of the pupil (role pupil)
-- that has the activity's lesson assigned: one message per pupil and class, on
-- assignment_results:{groupId}:{lessonId}, payload = the grid cell + assignmentId, updatedAt the
-- submission's updated_at (now() when there is none). Sends nothing for work that is not on the grid.
create or replace function private.broadcast_assignment_update(
  pupil_ids uuid[], activity_id uuid, event text default 'submission_updated', cells jsonb default null
)
returns integer
language plpgsql
security definer
set search_path = ''
set plan_cache_mode = 'force_generic_plan'
as $$
declare
  v_message record;
  v_sent integer := 0;
  v_lesson uuid;
  v_cells jsonb := broadcast_assignment_update.cells;
begin
  if not private.realtime_broadcasts_enabled() or coalesce(cardinality(broadcast_assignment_update.pupil_ids), 0) = 0 then
    return 0;
  end if;
  if broadcast_assignment_update.event is null
    or broadcast_assignment_update.event not in ('submission_updated', 'submission_deleted') then
    raise exception 'unknown assignment event %', broadcast_assignment_update.event using errcode = 'PLV01';
  end if;
  select a.lesson_id into v_lesson from public.activities as a where a.activity_id = broadcast_assignment_update.activity_id;
  if v_cells is null then
    -- A batch: compute the cells here (one write computes its cell itself and passes it).
    select jsonb_agg(r.cell) into v_cells
    from private.result_cells(broadcast_assignment_update.pupil_ids, v_lesson, broadcast_assignment_update.activity_id) as r;
  end if;
  for v_message in
    select
      'assignment_results:' || la.group_id || ':' || la.lesson_id as topic,
      jsonb_build_object('assignmentId', la.group_id || '__' || la.lesson_id) || c.cell
      || jsonb_build_object('updatedAt', coalesce(nullif(c.cell -> 'updatedAt', 'null'::jsonb), to_jsonb(now())))
        as payload
    -- Driven by the pupils' memberships (an index lookup per pupil), then matched to their cells.
    from public.group_membership as gm
    inner join public.lesson_assignments as la on gm.group_id = la.group_id and la.lesson_id = v_lesson
    inner join jsonb_array_elements(coalesce(v_cells, '[]'::jsonb)) as c (cell)
      on (c.cell ->> 'pupilId')::uuid = gm.user_id
    where gm.user_id = any(broadcast_assignment_update.pupil_ids) and gm.role = 'pupil'
    order by la.group_id, gm.user_id
  loop
    perform realtime.send(v_message.payload, broadcast_assignment_update.event, v_message.topic, true);
    v_sent := v_sent + 1;
  end loop;
  return v_sent;
exception when others then
  -- Never fail the write: drop this broadcast (clients converge by refetching) and say why.
  raise warning 'broadcast_assignment_update: no broadcast sent: % (%)', sqlerrm, sqlstate;
  return 0;
end
$$;
comment on function private.broadcast_assignment_update(uuid[], uuid, text, jsonb) is
'Sends event submission_updated or submission_deleted with each pupil''s current cell of the activity to '
'assignment_results:{groupId}:{lessonId} of every class of the pupil that has the lesson; returns the number sent. '
'Never raises; sends nothing when broadcasts are off. cells: the pupils'' cells when the caller computed them '
'(one write), else computed here. Callers: private.submission_written, results_apply_ai_marks.';
revoke all on function private.broadcast_assignment_update(uuid[], uuid, text, jsonb) from public;

-- Broadcast the partial event activity_marks_cleared once per class (role pupil) of the pupils that
-- has the activity's lesson assigned: {assignmentId, activityId, pupilIds} (the class's pupils among
-- pupil_ids, sorted). The client refetches that column.
create or replace function private.broadcast_activity_marks_cleared(pupil_ids uuid[], activity_id uuid)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_message record;
  v_sent integer := 0;
begin
  if not private.realtime_broadcasts_enabled()
    or coalesce(cardinality(broadcast_activity_marks_cleared.pupil_ids), 0) = 0 then
    return 0;
  end if;
  for v_message in
    select
      'assignment_results:' || la.group_id || ':' || la.lesson_id as topic,
      jsonb_build_object(
        'assignmentId', la.group_id || '__' || la.lesson_id,
        'activityId', a.activity_id,
        'pupilIds', jsonb_agg(distinct gm.user_id order by gm.user_id)
      ) as payload
    from public.activities as x
    cross join lateral private.result_activities(x.lesson_id) as a
    inner join public.lesson_assignments as la on a.lesson_id = la.lesson_id
    inner join public.group_membership as gm
      on
        la.group_id = gm.group_id and gm.role = 'pupil'
        and gm.user_id = any(broadcast_activity_marks_cleared.pupil_ids)
    where x.activity_id = broadcast_activity_marks_cleared.activity_id and a.activity_id = x.activity_id
    group by la.group_id, la.lesson_id, a.activity_id
    order by la.group_id
  loop
    perform realtime.send(v_message.payload, 'activity_marks_cleared', v_message.topic, true);
    v_sent := v_sent + 1;
  end loop;
  return v_sent;
exception when others then
  raise warning 'broadcast_activity_marks_cleared: no broadcast sent: % (%)', sqlerrm, sqlstate;
  return 0;
end
$$;
comment on function private.broadcast_activity_marks_cleared(uuid[], uuid) is
'Sends the partial event activity_marks_cleared {assignmentId, activityId, pupilIds} once per class of the pupils '
'that has the lesson; returns the number sent. Never raises; sends nothing when broadcasts are off. Callers: '
'results_clear_ai_marks.';
revoke all on function private.broadcast_activity_marks_cleared(uuid[], uuid) from public;

-- Broadcast report_updated {pupilId, version} on report:{pupilId} after a recalculation that changed
-- the pupil's report.
create or replace function private.broadcast_report_updated(pupil_id uuid, version bigint)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
begin
  if broadcast_report_updated.pupil_id is null or not private.realtime_broadcasts_enabled() then
    return 0;
  end if;
  perform realtime.send(
    jsonb_build_object('pupilId', broadcast_report_updated.pupil_id, 'version', broadcast_report_updated.version),
    'report_updated',
    'report:' || broadcast_report_updated.pupil_id,
    true
  );
  return 1;
exception when others then
  raise warning 'broadcast_report_updated: no broadcast sent: % (%)', sqlerrm, sqlstate;
  return 0;
end
$$;
comment on function private.broadcast_report_updated(uuid, bigint) is
'Sends report_updated {pupilId, version} on report:{pupilId}; returns the number sent. Never raises; sends nothing '
'when broadcasts are off. Callers: report_job_run (after a recalculation that changed something).';
revoke all on function private.broadcast_report_updated(uuid, bigint) from public;

-- Whether the current user may receive the private broadcasts of a topic (the RLS policy on
-- realtime.messages): assignment_results:{groupId}:{lessonId} the teachers of the class;
-- report:{pupilId} the pupil and the teachers of the pupil's classes; any other topic nobody.
create or replace function private.realtime_can_receive(topic text)
returns boolean
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_match text [];
begin
  v_match := regexp_match(
    realtime_can_receive.topic,
    '^assignment_results:(.+):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'
  );
  if v_match is not null then
    return private.is_group_teacher(v_match[1]);
  end if;
  v_match := regexp_match(
    realtime_can_receive.topic, '^report:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'
  );
  if v_match is not null then
    return private.can_read_pupil(v_match[1]::uuid);
  end if;
  return false;
end
$$;
comment on function private.realtime_can_receive(text) is
'True when auth.uid() may receive the topic''s private broadcasts: assignment_results:{groupId}:{lessonId} teachers '
'of the class, report:{pupilId} the pupil and their teachers; false for any other topic or NULL. Callers: the RLS '
'policy planner_broadcasts_receive on realtime.messages.';
revoke all on function private.realtime_can_receive(text) from public;
grant execute on function private.realtime_can_receive(text) to authenticated, service_role;
