-- Importing a school from the planner's own database (docs/import.md). The legacy tables sit in a
-- schema of this database (glue import planner copies them there); private.import_planner reads
-- them, maps every row it can into this schema in the caller's transaction, and reports per table
-- what it read and wrote and every row it could not map (table, row, rule). Nothing here computes a
-- score: marks are carried over as the planner stored them; the backfill computes the reports. This
-- file: the helpers the mappers share, the read of the source into the working tables, and their clearing.

-- The pattern of a number written as text (' 0.5', '+1', '.25'): the planner stored some scores as
-- strings; the import reads those that match and reports the rest as unreadable.
create or replace function private.import_number_pattern()
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select '^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*$'
$$;
comment on function private.import_number_pattern() is
'The regular expression of a number written as text, as the planner import reads scores. Callers: '
'import_map_submissions, import_map_marks.';
revoke all on function private.import_number_pattern() from public;

-- The id here of a legacy id: a uuid stays itself; anything else (a unit code such as BEBRAS-7) gets
-- a uuid derived from md5(kind:id), version 5 style, so that every import finds the same one.
create or replace function private.import_uuid(kind text, legacy_id text)
returns uuid
language sql
immutable
set search_path = ''
as $$
  select case
    when private.is_uuid(import_uuid.legacy_id) then import_uuid.legacy_id::uuid
    else (
      substr(h.h, 1, 8) || '-' || substr(h.h, 9, 4) || '-5' || substr(h.h, 14, 3) || '-'
      || substr('89ab', (get_byte(decode(substr(h.h, 17, 2), 'hex'), 0) & 3) + 1, 1) || substr(h.h, 18, 3) || '-'
      || substr(h.h, 21, 12)
    )::uuid
  end
  from (select md5(import_uuid.kind || ':' || import_uuid.legacy_id) as h) as h
$$;
comment on function private.import_uuid(text, text) is
'The uuid of a legacy id: itself when it is a uuid, else derived from md5(kind:legacy_id) (stable across imports). '
'Callers: import_planner (through import_map). docs/import.md, "Ids".';
revoke all on function private.import_uuid(text, text) from public;

-- The class code of a legacy class id. A code the rule of public.groups accepts stays itself; any
-- other (a space, an accent, a leading dash) becomes its letters, digits, _ and - with every other run
-- of characters replaced by one dash; salted adds a suffix from md5 for when that code is taken.
create or replace function private.import_class_code(legacy_id text, salted boolean)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when not import_class_code.salted and import_class_code.legacy_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$'
      then import_class_code.legacy_id
    else coalesce(
      nullif(left(regexp_replace(regexp_replace(import_class_code.legacy_id, '[^A-Za-z0-9_-]+', '-', 'g'),
        '^[^A-Za-z0-9]+', ''), 56), ''),
      'class'
    ) || case when import_class_code.salted then '-' || left(md5(import_class_code.legacy_id), 7) else '' end
  end
$$;
comment on function private.import_class_code(text, boolean) is
'A class code public.groups accepts for a legacy class id (itself when valid; salted: with an md5 suffix). '
'Callers: import_map. docs/import.md, "Class codes".';
revoke all on function private.import_class_code(text, boolean) from public;

-- The select list that reads one legacy table: each wanted column cast to its type, or NULL when the
-- source table has no such column (older and newer planner schemas differ: profiles.email,
-- group_membership.role, lesson_assignments.feedback_visible, submissions.submission_status).
create or replace function private.import_columns(
  source_schema text, source_table text, columns text[], types text[]
)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  v_list text [] := '{}'::text [];
begin
  for v_index in 1 .. cardinality(import_columns.columns) loop
    if exists (
      select from pg_catalog.pg_attribute as a
      where
        a.attrelid = format('%I.%I', import_columns.source_schema, import_columns.source_table)::regclass
        and a.attname = import_columns.columns[v_index] and a.attnum > 0 and not a.attisdropped
    ) then
      v_list := v_list || format('s.%I::%s', import_columns.columns[v_index], import_columns.types[v_index]);
    else
      v_list := v_list || format('null::%s', import_columns.types[v_index]);
    end if;
  end loop;
  return array_to_string(v_list, ', ');
end
$$;
comment on function private.import_columns(text, text, text[], text[]) is
'The select list reading columns of source_schema.source_table as types, NULL for a column the table lacks. '
'Callers: import_load.';
revoke all on function private.import_columns(text, text, text[], text[]) from public;

-- Read the legacy tables of source_schema into the working tables private.import_legacy_*: every row
-- of the small tables, the latest submission per (pupil, activity) and the latest feedback-log row
-- per (pupil, activity, source). Returns the rows read per legacy table.
create or replace function private.import_load(source_schema text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_required constant text [] := array[
    'profiles', 'subjects', 'groups', 'group_membership', 'units', 'lessons', 'lesson_assignments',
    'learning_objectives', 'success_criteria', 'activities', 'activity_success_criteria', 'submissions'
  ];
  v_table text;
  v_count bigint;
  v_read jsonb := '{}'::jsonb;
  v_copies constant text [] [] := array[
    ['profiles', 'import_legacy_profiles', 'user_id,first_name,last_name,email,is_teacher', 'text,text,text,text,boolean'],
    ['subjects', 'import_legacy_subjects', 'subject,active', 'text,boolean'],
    ['groups', 'import_legacy_groups', 'group_id,subject,join_code,active', 'text,text,text,boolean'],
    ['group_membership', 'import_legacy_memberships', 'group_id,user_id,role', 'text,text,text'],
    ['units', 'import_legacy_units', 'unit_id,title,subject,description,year,active', 'text,text,text,text,integer,boolean'],
    ['lessons', 'import_legacy_lessons', 'lesson_id,unit_id,title,order_by,active', 'text,text,text,integer,boolean'],
    ['assignments', 'import_legacy_assignments', 'group_id,unit_id,start_date,active', 'text,text,date,boolean'],
    [
      'lesson_assignments', 'import_legacy_lesson_assignments', 'group_id,lesson_id,start_date,feedback_visible',
      'text,text,date,boolean'
    ],
    ['learning_objectives', 'import_legacy_objectives', 'learning_objective_id,title,order_index', 'text,text,integer'],
    [
      'success_criteria', 'import_legacy_criteria', 'success_criteria_id,learning_objective_id,level,description,order_index',
      'text,text,integer,text,integer'
    ],
    [
      'activities', 'import_legacy_activities', 'activity_id,lesson_id,title,type,body_data,order_by,active,is_summative',
      'text,text,text,text,jsonb,integer,boolean,boolean'
    ],
    ['activity_success_criteria', 'import_legacy_activity_criteria', 'activity_id,success_criteria_id', 'text,text']
  ];
begin
  if to_regnamespace(quote_ident(import_load.source_schema)) is null then
    raise exception 'planner import: schema % does not exist', import_load.source_schema
      using errcode = 'PLN09', hint = 'glue import planner --source URL|FILE.sql copies the planner''s tables into one.';
  end if;
  foreach v_table in array v_required loop
    if to_regclass(format('%I.%I', import_load.source_schema, v_table)) is null then
      raise exception 'planner import: table %.% is missing', import_load.source_schema, v_table
        using errcode = 'PLN09', detail = format('The planner''s tables are %s.', array_to_string(v_required, ', ')),
        hint = 'Is this the planner''s database (and the right --source-schema)?';
    end if;
  end loop;

  for v_index in 1 .. array_length(v_copies, 1) loop
    if to_regclass(format('%I.%I', import_load.source_schema, v_copies[v_index][1])) is null then
      v_read := v_read || jsonb_build_object(v_copies[v_index][1], 0);  -- an optional table (assignments)
      continue;
    end if;
    execute format(
      'insert into private.%I select %s from %I.%I as s', v_copies[v_index][2],
      private.import_columns(
        import_load.source_schema, v_copies[v_index][1],
        string_to_array(v_copies[v_index][3], ','), string_to_array(v_copies[v_index][4], ',')
      ),
      import_load.source_schema, v_copies[v_index][1]
    );
    get diagnostics v_count = row_count;
    v_read := v_read || jsonb_build_object(v_copies[v_index][1], v_count);
  end loop;

  -- The latest row of each answer, sorted on its narrow text keys (byte order), its body cast to
  -- jsonb once, for the chosen row only.
  execute format(
    $sql$
    insert into private.import_legacy_submissions (submission_id, activity_id, user_id, submitted_at, status, body)
    select
      l.submission_id, l.activity_id, l.user_id, l.submitted_at, l.status,
      case
        when json_typeof(l.body) = 'object' then l.body::jsonb
        when l.body is null then '{}'::jsonb
        else jsonb_build_object('value', l.body::jsonb)
      end
    from (
      select distinct on (s.user_id::text collate "C", s.activity_id::text collate "C")
        s.submission_id::text, s.activity_id::text, s.user_id::text, s.submitted_at::timestamptz,
        %s as status, s.body::json
      from %I.submissions as s
      order by
        s.user_id::text collate "C", s.activity_id::text collate "C", s.submitted_at desc nulls last,
        s.submission_id::text collate "C" desc
    ) as l
    $sql$,
    private.import_columns(import_load.source_schema, 'submissions', array['submission_status'], array['text']),
    import_load.source_schema
  );
  execute format('select count(*) from %I.submissions', import_load.source_schema) into v_count;
  v_read := v_read || jsonb_build_object('submissions', v_count);

  if to_regclass(format('%I.pupil_activity_feedback', import_load.source_schema)) is null then
    v_read := v_read || jsonb_build_object('pupil_activity_feedback', 0);
  else
    execute format(
      $sql$
      insert into private.import_legacy_feedback
      select distinct on (s.pupil_id::text collate "C", s.activity_id::text collate "C", s.source::text collate "C")
        s.activity_id::text, s.pupil_id::text, s.submission_id::text, s.source::text, s.score::numeric,
        s.feedback_text::text, s.created_at::timestamptz
      from %I.pupil_activity_feedback as s
      order by
        s.pupil_id::text collate "C", s.activity_id::text collate "C", s.source::text collate "C",
        s.created_at desc nulls last
      $sql$,
      import_load.source_schema
    );
    execute format('select count(*) from %I.pupil_activity_feedback', import_load.source_schema) into v_count;
    v_read := v_read || jsonb_build_object('pupil_activity_feedback', v_count);
  end if;
  analyze private.import_legacy_submissions;
  analyze private.import_legacy_feedback;
  return v_read;
end
$$;
comment on function private.import_load(text) is
'Reads the planner''s tables of source_schema into private.import_legacy_* (latest submission per answer, latest '
'feedback-log row per answer and source); returns rows read per table. Callers: import_planner. Errors: PLN09 '
'schema or a required table missing.';
revoke all on function private.import_load(text) from public;

-- Empty the working tables of an import (private.import_legacy_* and private.import_work_*): before a
-- run reads the source, and after it, so that no pupil's data lingers there.
create or replace function private.import_clear()
returns void
language plpgsql
set search_path = ''
as $$
begin
  truncate
    private.import_legacy_profiles, private.import_legacy_subjects, private.import_legacy_groups,
    private.import_legacy_memberships, private.import_legacy_units, private.import_legacy_lessons,
    private.import_legacy_assignments, private.import_legacy_lesson_assignments, private.import_legacy_objectives,
    private.import_legacy_criteria, private.import_legacy_activities, private.import_legacy_activity_criteria,
    private.import_legacy_submissions, private.import_legacy_feedback, private.import_work_submissions,
    private.import_work_marks, private.import_work_issues;
end
$$;
comment on function private.import_clear() is
'Empties the planner import''s working tables (private.import_legacy_*, private.import_work_*). Callers: '
'import_planner, at its start and end.';
revoke all on function private.import_clear() from public;
