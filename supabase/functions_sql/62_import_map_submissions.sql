-- The planner import's mappers of the pupils' work (docs/import.md), in the order import_map calls them:
-- the legacy submissions, feedback log and criterion marks are staged in private.import_work_*, checked,
-- and then written at once.

-- Submissions, into private.import_work_submissions (written by import_write_submissions): the
-- latest row per answer of an imported pupil and activity, scores read from its body (numbers or
-- numeric strings; anything else is kept in unreadable), is_correct only for multiple-choice
-- questions. Orphans are reported.
create or replace function private.import_map_submissions()
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_number constant text := private.import_number_pattern();
  v_score_keys constant text [] := array[
    'is_correct', 'ai_model_score', 'ai_model_feedback', 'teacher_override_score', 'teacher_feedback',
    'success_criteria_scores'
  ];
begin
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select
    'submissions', s.submission_id, 'orphan',
    case
      when u.legacy_id is null then format('user %s has no profile', s.user_id)
      else format('activity %s was not imported (unknown or skipped)', s.activity_id)
    end
  from private.import_legacy_submissions as s
  left join private.import_ids as u on u.kind = 'user' and s.user_id = u.legacy_id
  left join private.import_ids as a on a.kind = 'activity' and s.activity_id = a.legacy_id
  where u.legacy_id is null or a.legacy_id is null;

  with activity_map as materialized (
    select m.legacy_id, m.new_id::uuid as activity_id, t.answer_kind, k.correct_option_id
    from private.import_ids as m
    inner join public.activities as pa on m.new_id::uuid = pa.activity_id
    inner join public.activity_types as t on pa.type = t.type
    left join public.activity_answer_keys as k on pa.activity_id = k.activity_id
    where m.kind = 'activity'
  ),

  user_map as materialized (
    select m.legacy_id, m.new_id::uuid as user_id from private.import_ids as m where m.kind = 'user'
  )

  insert into private.import_work_submissions (
    legacy_id, submission_id, user_id, activity_id, answer_kind, status, submitted_at, body, auto_score, ai_score,
    ai_feedback, override_score, teacher_feedback, criterion_marks, unreadable
  )
  select
    s.submission_id,
    case
      when private.is_uuid(s.submission_id) then s.submission_id::uuid
      else private.import_uuid('submission', s.submission_id)
    end,
    u.user_id,
    a.activity_id,
    a.answer_kind,
    case
      when s.submitted_at is null then 'inprogress'
      when s.status in ('inprogress', 'submitted', 'completed', 'rejected') then s.status
      else 'submitted'
    end,
    s.submitted_at,
    case
      when a.answer_kind = 'mcq' and jsonb_typeof(s.body -> 'answer_chosen') = 'string'
        then (s.body - v_score_keys) || jsonb_build_object('option_id', s.body -> 'answer_chosen')
      when a.answer_kind = 'text' and jsonb_typeof(s.body -> 'answer') = 'string'
        then (s.body - v_score_keys) || jsonb_build_object('text', s.body -> 'answer')
      when a.answer_kind = 'upload' and jsonb_typeof(s.body -> 'upload_file_name') = 'string'
        then (s.body - v_score_keys) || jsonb_build_object(
          'file_name', s.body -> 'upload_file_name',
          'path', s.activity_id || '/' || s.user_id || '/' || (s.body ->> 'upload_file_name')
        )
      else s.body - v_score_keys
    end,
    case
      when a.answer_kind is distinct from 'mcq' then null
      when jsonb_typeof(s.body -> 'is_correct') = 'boolean' then (s.body -> 'is_correct')::boolean::integer
      when lower(s.body ->> 'is_correct') in ('true', 'false') then (lower(s.body ->> 'is_correct') = 'true')::integer
      when s.body ->> 'answer_chosen' is not null and a.correct_option_id is not null
        then (s.body ->> 'answer_chosen' = a.correct_option_id)::integer
    end,
    case jsonb_typeof(s.body -> 'ai_model_score')
      when 'number' then (s.body -> 'ai_model_score')::numeric
      when 'string' then case when s.body ->> 'ai_model_score' ~ v_number then trim(s.body ->> 'ai_model_score')::numeric end
    end,
    left(s.body ->> 'ai_model_feedback', 20000),
    case jsonb_typeof(s.body -> 'teacher_override_score')
      when 'number' then (s.body -> 'teacher_override_score')::numeric
      when 'string' then
        case
          when s.body ->> 'teacher_override_score' ~ v_number then trim(s.body ->> 'teacher_override_score')::numeric
        end
    end,
    left(s.body ->> 'teacher_feedback', 20000),
    case when jsonb_typeof(s.body -> 'success_criteria_scores') = 'object' then s.body -> 'success_criteria_scores' end,
    case
      when
        jsonb_typeof(s.body -> 'ai_model_score') in ('string', 'boolean', 'array', 'object')
        or jsonb_typeof(s.body -> 'teacher_override_score') in ('string', 'boolean', 'array', 'object')
        then nullif(array_remove(array[
          case when not coalesce(jsonb_typeof(s.body -> 'ai_model_score') in ('number', 'null')
            or s.body ->> 'ai_model_score' ~ v_number, true)
            then 'ai_model_score ' || (s.body ->> 'ai_model_score') end,
          case when not coalesce(jsonb_typeof(s.body -> 'teacher_override_score') in ('number', 'null')
            or s.body ->> 'teacher_override_score' ~ v_number, true)
            then 'teacher_override_score ' || (s.body ->> 'teacher_override_score') end
        ], null), '{}')
    end
  from private.import_legacy_submissions as s
  inner join user_map as u on s.user_id = u.legacy_id
  inner join activity_map as a on s.activity_id = a.legacy_id;
end
$$;
comment on function private.import_map_submissions() is
'Stages the planner''s latest submission per answer in private.import_work_submissions (scores read from the '
'body), reporting orphans in private.import_work_issues. Callers: import_map. docs/import.md.';
revoke all on function private.import_map_submissions() from public;

-- The feedback log, onto private.import_work_submissions: per answer, the latest row of each source is
-- what the planner showed. A row counts when it names the submission imported, or names none and is
-- not older than it; a row of an earlier submission was superseded by the new answer (new work is
-- unmarked work).
create or replace function private.import_map_feedback()
returns void
language plpgsql
set search_path = ''
as $$
begin
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select
    'pupil_activity_feedback', f.pupil_id || ' / ' || f.activity_id || ' / ' || f.source,
    case
      when u.legacy_id is null or a.legacy_id is null then 'orphan'
      when f.source not in ('teacher', 'ai', 'auto') then 'unknown_source'
      else 'feedback_without_submission'
    end,
    case
      when u.legacy_id is null then format('user %s has no profile', f.pupil_id)
      when a.legacy_id is null then format('activity %s was not imported (unknown or skipped)', f.activity_id)
      when f.source not in ('teacher', 'ai', 'auto') then format('source %s is not teacher, ai or auto', f.source)
      else 'a mark of work the pupil never handed in: not imported'
    end
  from private.import_legacy_feedback as f
  left join private.import_ids as u on u.kind = 'user' and f.pupil_id = u.legacy_id
  left join private.import_ids as a on a.kind = 'activity' and f.activity_id = a.legacy_id
  where
    u.legacy_id is null or a.legacy_id is null or f.source not in ('teacher', 'ai', 'auto')
    or not exists (
      select from private.import_work_submissions as w
      where w.user_id = u.new_id::uuid and w.activity_id = a.new_id::uuid
    );
  update private.import_work_submissions as w
  set
    auto_score = case when f.has_auto then f.auto_score else w.auto_score end,
    ai_score = case when f.has_ai then f.ai_score else w.ai_score end,
    ai_feedback = case when f.has_ai then left(f.ai_feedback, 20000) else w.ai_feedback end,
    ai_marked_at = case when f.has_ai then f.ai_at else w.ai_marked_at end,
    override_score = case when f.has_teacher then f.teacher_score else w.override_score end,
    teacher_feedback = case when f.has_teacher then left(f.teacher_feedback, 20000) else w.teacher_feedback end,
    override_at = case when f.has_teacher then f.teacher_at else w.override_at end
  from (
    select
      x.user_id,
      x.activity_id,
      bool_or(x.source = 'auto') as has_auto,
      max(x.score) filter (where x.source = 'auto') as auto_score,
      bool_or(x.source = 'ai') as has_ai,
      max(x.score) filter (where x.source = 'ai') as ai_score,
      max(x.feedback_text) filter (where x.source = 'ai') as ai_feedback,
      max(x.created_at) filter (where x.source = 'ai') as ai_at,
      bool_or(x.source = 'teacher') as has_teacher,
      max(x.score) filter (where x.source = 'teacher') as teacher_score,
      max(x.feedback_text) filter (where x.source = 'teacher') as teacher_feedback,
      max(x.created_at) filter (where x.source = 'teacher') as teacher_at
    from (
      select w2.user_id, w2.activity_id, f.source, f.score, f.feedback_text, coalesce(f.created_at, now()) as created_at
      from private.import_legacy_feedback as f
      inner join private.import_ids as u on u.kind = 'user' and f.pupil_id = u.legacy_id
      inner join private.import_ids as a on a.kind = 'activity' and f.activity_id = a.legacy_id
      inner join private.import_work_submissions as w2
        on u.new_id::uuid = w2.user_id and a.new_id::uuid = w2.activity_id
      where
        f.submission_id = w2.legacy_id
        or (f.submission_id is null and f.created_at >= coalesce(w2.submitted_at, '-infinity'))
    ) as x
    group by x.user_id, x.activity_id
  ) as f
  where w.user_id = f.user_id and w.activity_id = f.activity_id;
end
$$;
comment on function private.import_map_feedback() is
'Applies the planner''s pupil_activity_feedback to the staged submissions in private.import_work_submissions, '
'reporting orphans, unknown sources and marks without a submission in private.import_work_issues. Callers: '
'import_map. docs/import.md.';
revoke all on function private.import_map_feedback() from public;

-- The staged scores and criterion marks: scores outside [0, 1] are clamped and reported; unreadable
-- ones are left out and reported; a score with more than 20 decimal places is rounded to 20 (the
-- tables' limit); an answer imported before keeps its submission id; the non-null entries of
-- success_criteria_scores, for criteria linked to the activity, go to private.import_work_marks.
create or replace function private.import_map_marks()
returns void
language plpgsql
set search_path = ''
as $$
declare
  v_number constant text := private.import_number_pattern();
begin
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select 'submissions', w.legacy_id, 'score_out_of_range', format('%s %s is outside [0, 1]: clamped', v.name, v.score)
  from private.import_work_submissions as w
  cross join lateral (
    values ('auto score', w.auto_score), ('ai_model_score', w.ai_score), ('teacher_override_score', w.override_score)
  ) as v (name, score)
  where
    v.score not between 0 and 1
    and (w.auto_score not between 0 and 1 or w.ai_score not between 0 and 1 or w.override_score not between 0 and 1)
  union all
  select 'submissions', w.legacy_id, 'unreadable_score', format('%s is not a number: left out', x.what)
  from private.import_work_submissions as w
  cross join lateral unnest(w.unreadable) as x (what)
  where w.unreadable is not null;
  update private.import_work_submissions as w
  set
    auto_score = case when w.auto_score is not null then trim_scale(round(least(greatest(w.auto_score, 0), 1), 20)) end,
    ai_score = case when w.ai_score is not null then trim_scale(round(least(greatest(w.ai_score, 0), 1), 20)) end,
    override_score = case
      when w.override_score is not null then trim_scale(round(least(greatest(w.override_score, 0), 1), 20))
    end
  where
    w.auto_score not between 0 and 1 or w.ai_score not between 0 and 1 or w.override_score not between 0 and 1
    or scale(w.auto_score) > 20 or scale(w.ai_score) > 20 or scale(w.override_score) > 20;

  -- An answer imported before keeps its submission id (and its row).
  update private.import_work_submissions as w
  set submission_id = t.submission_id, existing = true
  from public.submissions as t
  where t.user_id = w.user_id and t.activity_id = w.activity_id;

  -- Criterion marks: the non-null entries of success_criteria_scores, for criteria linked to the
  -- activity, clamped to [0, 1].
  with src as (
    select
      w.submission_id,
      w.legacy_id,
      w.activity_id,
      e.key as legacy_criterion,
      c.new_id::uuid as success_criteria_id,
      case
        when jsonb_typeof(e.value) = 'number' or e.value #>> '{}' ~ v_number then trim(e.value #>> '{}')::numeric
      end as score,
      e.value #>> '{}' as raw,
      coalesce(w.override_at, w.submitted_at, now()) as marked_at
    from private.import_work_submissions as w
    cross join lateral jsonb_each(w.criterion_marks) as e (key, value)
    left join private.import_ids as c on c.kind = 'criterion' and e.key = c.legacy_id
    where w.criterion_marks is not null and jsonb_typeof(e.value) <> 'null'
  ),

  checked as (
    select
      s.*,
      case
        when s.success_criteria_id is null then 'orphan'
        when not exists (
          select from public.activity_success_criteria as l
          where l.activity_id = s.activity_id and l.success_criteria_id = s.success_criteria_id
        ) then 'criterion_not_linked'
        when s.score is null then 'unreadable_score'
        when s.score not between 0 and 1 then 'score_out_of_range'
      end as rule
    from src as s
  ),

  issues as (
    insert into private.import_work_issues (table_name, legacy_key, rule, detail)
    select
      'submissions', c.legacy_id || ' / ' || c.legacy_criterion, c.rule,
      case c.rule
        when 'orphan' then format('success criterion %s was not imported (unknown or skipped)', c.legacy_criterion)
        when 'criterion_not_linked' then format('success criterion %s is not linked to the activity', c.legacy_criterion)
        when 'unreadable_score' then format('criterion score %s is not a number: left out', c.raw)
        else format('criterion score %s is outside [0, 1]: clamped', c.score)
      end
    from checked as c
    where c.rule is not null
  )

  insert into private.import_work_marks (submission_id, legacy_submission_id, success_criteria_id, score, marked_at)
  select
    c.submission_id, c.legacy_id, c.success_criteria_id,
    case
      when c.score between 0 and 1 and scale(c.score) <= 20 then c.score
      else trim_scale(round(least(greatest(c.score, 0), 1), 20))
    end,
    c.marked_at
  from checked as c
  where c.rule is null or c.rule = 'score_out_of_range';
end
$$;
comment on function private.import_map_marks() is
'Clamps and reports the staged scores of private.import_work_submissions, finds answers imported before, and '
'stages their criterion marks in private.import_work_marks, reporting those it cannot map in '
'private.import_work_issues. Callers: import_map. docs/import.md.';
revoke all on function private.import_map_marks() from public;

-- Writes the staged submissions and criterion marks (private.import_work_*). Returns {submissions: rows
-- written, submission_criterion_scores: rows written}.
create or replace function private.import_write_submissions()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
  v_changed bigint;
  v_written jsonb;
  v_bulk boolean;
  v_foreign_keys text [] [];
  v_indexes text [] [];
begin
  -- A bulk import (over 10,000 new answers) checks the foreign keys of submissions and criterion
  -- marks once per constraint instead of once per row, and builds their plain indexes once: they are
  -- dropped and made again, as pg_restore does, in this transaction (which then holds an exclusive
  -- lock on both tables until it commits; docs/import.md). The definitions are read from the catalog
  -- and restored exactly.
  select count(*) > 10000 into v_bulk from private.import_work_submissions as w where not w.existing;
  if v_bulk then
    select
      array_agg(array[c.conrelid::regclass::text, c.conname::text, pg_get_constraintdef(c.oid)] order by c.conname)
    into v_foreign_keys
    from pg_catalog.pg_constraint as c
    where
      c.contype = 'f'
      and c.conrelid in ('public.submissions'::regclass, 'public.submission_criterion_scores'::regclass);
    for v_index in 1 .. coalesce(array_length(v_foreign_keys, 1), 0) loop
      execute format('alter table %s drop constraint %I', v_foreign_keys[v_index][1], v_foreign_keys[v_index][2]);
    end loop;
    -- Likewise the plain indexes (no constraint behind them): built once, after, by a sort.
    select array_agg(array[i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)] order by i.indexrelid)
    into v_indexes
    from pg_catalog.pg_index as i
    where
      i.indrelid in ('public.submissions'::regclass, 'public.submission_criterion_scores'::regclass)
      and not exists (select from pg_catalog.pg_constraint as c where c.conindid = i.indexrelid);
    for v_index in 1 .. coalesce(array_length(v_indexes, 1), 0) loop
      execute format('drop index %s', v_indexes[v_index][1]);
    end loop;
  end if;

  -- The writes: new answers in one insert, in the order of the working table (that of the legacy
  -- rows, by pupil and activity: uuid order for uuid ids, the unique index's), changed ones updated
  -- (a new answer takes a new revision), marks replaced by the planner's.
  insert into public.submissions (
    submission_id, activity_id, user_id, status, submitted_at, body, auto_score, ai_score, ai_feedback, ai_marked_at,
    override_score, teacher_feedback, override_at, created_at, updated_at
  )
  select
    w.submission_id, w.activity_id, w.user_id, w.status, w.submitted_at, w.body, w.auto_score, w.ai_score,
    w.ai_feedback, w.ai_marked_at, w.override_score, w.teacher_feedback, w.override_at,
    coalesce(w.submitted_at, now()), coalesce(greatest(w.submitted_at, w.ai_marked_at, w.override_at), now())
  from (
    -- When an AI score or an override is not from the feedback log, the planner did not record when
    -- it was given: the submission's time stands in.
    select
      x.submission_id, x.activity_id, x.user_id, x.status, x.submitted_at, x.body, x.auto_score, x.ai_score,
      x.ai_feedback, x.override_score, x.teacher_feedback,
      case when x.ai_score is not null then coalesce(x.ai_marked_at, x.submitted_at, now()) end as ai_marked_at,
      case when x.override_score is not null then coalesce(x.override_at, x.submitted_at, now()) end as override_at
    from private.import_work_submissions as x
    where not x.existing
  ) as w;
  get diagnostics v_n = row_count;
  update public.submissions as t
  set
    status = w.status, submitted_at = w.submitted_at, body = w.body, auto_score = w.auto_score, ai_score = w.ai_score,
    ai_feedback = w.ai_feedback, ai_marked_at = w.ai_marked_at, override_score = w.override_score,
    teacher_feedback = w.teacher_feedback, override_at = w.override_at, updated_at = now(),
    revision = case when t.body is distinct from w.body then nextval('public.submissions_revision_seq') else t.revision end
  from (
    select
      x.submission_id, x.status, x.submitted_at, x.body, x.auto_score, x.ai_score, x.ai_feedback, x.override_score,
      x.teacher_feedback,
      case when x.ai_score is not null then coalesce(x.ai_marked_at, x.submitted_at, now()) end as ai_marked_at,
      case when x.override_score is not null then coalesce(x.override_at, x.submitted_at, now()) end as override_at
    from private.import_work_submissions as x
    where x.existing
  ) as w
  where
    t.submission_id = w.submission_id
    and (
      t.status, t.submitted_at, t.body, t.auto_score, t.ai_score, t.ai_feedback, t.ai_marked_at, t.override_score,
      t.teacher_feedback, t.override_at
    ) is distinct from (
      w.status, w.submitted_at, w.body, w.auto_score, w.ai_score, w.ai_feedback, w.ai_marked_at, w.override_score,
      w.teacher_feedback, w.override_at
    );
  get diagnostics v_changed = row_count;
  v_written := jsonb_build_object('submissions', v_n + v_changed);

  delete from public.submission_criterion_scores as t
  using private.import_work_submissions as w
  where
    w.existing and t.submission_id = w.submission_id
    and not exists (
      select from private.import_work_marks as m
      where m.submission_id = t.submission_id and m.success_criteria_id = t.success_criteria_id
    );
  get diagnostics v_changed = row_count;
  insert into public.submission_criterion_scores as t (submission_id, success_criteria_id, score, marked_at)
  select m.submission_id, m.success_criteria_id, m.score, m.marked_at
  from private.import_work_marks as m
  order by m.submission_id, m.success_criteria_id
  on conflict (submission_id, success_criteria_id) do update set score = excluded.score, marked_at = excluded.marked_at
  where t.score is distinct from excluded.score;
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('submission_criterion_scores', v_n + v_changed);

  for v_index in 1 .. coalesce(array_length(v_indexes, 1), 0) loop
    execute v_indexes[v_index][2];
  end loop;
  for v_index in 1 .. coalesce(array_length(v_foreign_keys, 1), 0) loop
    execute format(
      'alter table %s add constraint %I %s', v_foreign_keys[v_index][1], v_foreign_keys[v_index][2],
      v_foreign_keys[v_index][3]
    );
  end loop;
  return v_written;
end
$$;
comment on function private.import_write_submissions() is
'Writes the staged submissions (new ones in one insert, changed ones updated, a new answer a new revision) and '
'replaces their criterion marks; over 10,000 new answers, drops and restores the foreign keys and plain indexes '
'of both tables around the writes. Returns {submissions, submission_criterion_scores}: rows written. Callers: '
'import_map. docs/import.md.';
revoke all on function private.import_write_submissions() from public;
