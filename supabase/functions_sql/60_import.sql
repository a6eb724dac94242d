-- Importing a school from the planner's own database (docs/import.md). The legacy tables sit in a
-- schema of this database (glue import planner copies them there); private.import_planner reads
-- them, maps every row it can into this schema in the caller's transaction, and reports per table
-- what it read and wrote and every row it could not map (table, row, rule). Nothing here computes a
-- score: marks are carried over as the planner stored them; the backfill computes the reports.

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

-- Map the legacy rows of private.import_legacy_* into this schema (docs/import.md has every rule and
-- why). Ids are allocated in private.import_ids only for rows that can be imported; a row that
-- cannot is written to private.import_work_issues (table, row, rule, detail) and left out, with
-- whatever depends on it. Every write is an upsert that changes only what differs, so a re-import
-- writes nothing when nothing changed. Returns the rows written per table.
create or replace function private.import_map(run_id bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  v_n bigint;
  v_changed bigint;
  v_written jsonb := '{}'::jsonb;
  v_number constant text := '^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*$';
  v_score_keys constant text [] := array[
    'is_correct', 'ai_model_score', 'ai_model_feedback', 'teacher_override_score', 'teacher_feedback',
    'success_criteria_scores'
  ];
  v_bulk boolean;
  v_foreign_keys text [] [];
  v_indexes text [] [];
begin
  -- Subjects.
  insert into public.subjects as t (subject, active)
  select distinct on (s.subject) s.subject, coalesce(s.active, true)
  from private.import_legacy_subjects as s
  where length(s.subject) between 1 and 100
  order by s.subject
  on conflict (subject) do update set active = excluded.active
  where t.active is distinct from excluded.active;
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('subjects', v_n);

  -- People: every profile. An email that is missing, malformed or another person's becomes
  -- <user_id>@planner-import.invalid (reported unless missing). An auth user is created when none exists.
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'user', p.user_id, private.import_uuid('user', p.user_id)::text, import_map.run_id
  from private.import_legacy_profiles as p
  where p.user_id is not null
  on conflict do nothing;
  with src as (
    select distinct on (m.new_id)
      m.new_id::uuid as user_id,
      p.user_id as legacy_id,
      coalesce(nullif(left(trim(p.first_name), 200), ''), 'Unknown') as first_name,
      coalesce(nullif(left(trim(p.last_name), 200), ''), 'Unknown') as last_name,
      nullif(trim(p.email), '') as email,
      coalesce(p.is_teacher, false) as is_teacher
    from private.import_legacy_profiles as p
    inner join private.import_ids as m on m.kind = 'user' and p.user_id = m.legacy_id
    order by m.new_id
  ),

  checked as (
    select
      s.*,
      s.email is not null and (
        s.email not like '_%@_%' or length(s.email) > 255
        or count(*) over (partition by lower(s.email)) > 1
        or exists (
          select from public.profiles as o where lower(o.email) = lower(s.email) and o.user_id <> s.user_id
        )
      ) as refused
    from src as s
  ),

  final as (
    select
      c.*,
      case when c.email is null or c.refused then c.user_id::text || '@planner-import.invalid' else c.email end
        as final_email
    from checked as c
  ),

  issues as (
    insert into private.import_work_issues (table_name, legacy_key, rule, detail)
    select
      'profiles', f.legacy_id, 'email',
      format('email %s is malformed or shared with another person; imported as %s', f.email, f.final_email)
    from final as f
    where f.refused
  ),

  auth_users as (
    insert into auth.users (id, email, created_at, updated_at)
    select f.user_id, f.final_email, now(), now() from final as f
    on conflict do nothing
  )

  insert into public.profiles as t (user_id, first_name, last_name, email, is_teacher)
  select f.user_id, f.first_name, f.last_name, f.final_email, f.is_teacher from final as f
  on conflict (user_id) do update set
    first_name = excluded.first_name, last_name = excluded.last_name, email = excluded.email,
    is_teacher = excluded.is_teacher
  where
    (t.first_name, t.last_name, t.email, t.is_teacher)
    is distinct from (excluded.first_name, excluded.last_name, excluded.email, excluded.is_teacher);
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('profiles', v_n);

  -- Classes: a subject that exists; the code kept when the rule accepts it, else mapped (docs/import.md).
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select 'groups', g.group_id, 'unknown_subject', format('subject %s is not a subject', coalesce(g.subject, '(none)'))
  from private.import_legacy_groups as g
  where g.group_id is not null and not exists (select from public.subjects as s where s.subject = g.subject);
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'group', g.group_id, private.import_class_code(g.group_id, pass.salted), import_map.run_id
  from
    private.import_legacy_groups as g,
    unnest(array[false, false, true]) with ordinality as pass (salted, n)
  where
    g.group_id is not null and exists (select from public.subjects as s where s.subject = g.subject)
    and (pass.n > 1 or g.group_id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$')
    and (pass.n < 3 or not exists (
      select from private.import_ids as m where m.kind = 'group' and m.legacy_id = g.group_id
    ))
  order by pass.n, g.group_id
  on conflict do nothing;
  with src as (
    select distinct on (m.new_id)
      m.new_id as group_id,
      g.group_id as legacy_id,
      g.subject,
      nullif(left(trim(g.join_code), 100), '') as join_code,
      coalesce(g.active, true) as active
    from private.import_legacy_groups as g
    inner join private.import_ids as m on m.kind = 'group' and g.group_id = m.legacy_id
    order by m.new_id
  )

  insert into public.groups as t (group_id, subject, join_code, active)
  select
    s.group_id,
    s.subject,
    case
      when
        s.join_code is null
        or count(*) over (partition by s.join_code) > 1
        or exists (select from public.groups as o where o.join_code = s.join_code and o.group_id <> s.group_id)
        then 'planner-' || left(md5(s.legacy_id), 12)
      else s.join_code
    end,
    s.active
  from src as s
  on conflict (group_id) do update set
    subject = excluded.subject, join_code = excluded.join_code, active = excluded.active
  where (t.subject, t.join_code, t.active) is distinct from (excluded.subject, excluded.join_code, excluded.active);
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('groups', v_n);

  -- Memberships: both ends imported; a profile marked as a teacher is a teacher of the class even
  -- where the planner lists them as a pupil.
  with src as (
    select
      gm.group_id as legacy_group,
      gm.user_id as legacy_user,
      gm.role,
      g.new_id as group_id,
      u.new_id::uuid as user_id,
      coalesce(p.is_teacher, false) as is_teacher
    from private.import_legacy_memberships as gm
    left join private.import_ids as g on g.kind = 'group' and gm.group_id = g.legacy_id
    left join private.import_ids as u on u.kind = 'user' and gm.user_id = u.legacy_id
    left join private.import_legacy_profiles as p on gm.user_id = p.user_id
  ),

  issues as (
    insert into private.import_work_issues (table_name, legacy_key, rule, detail)
    select
      'group_membership', coalesce(s.legacy_group, '?') || ' / ' || coalesce(s.legacy_user, '?'),
      case when s.group_id is null or s.user_id is null then 'orphan' else 'unknown_role' end,
      case
        when s.group_id is null then format('class %s was not imported (unknown or skipped)', s.legacy_group)
        when s.user_id is null then format('user %s has no profile', s.legacy_user)
        else format('role %s is neither pupil nor teacher', s.role)
      end
    from src as s
    where s.group_id is null or s.user_id is null or s.role not in ('pupil', 'teacher')
  )

  insert into public.group_membership as t (group_id, user_id, role)
  select distinct on (s.group_id, s.user_id)
    s.group_id,
    s.user_id,
    case when s.role = 'teacher' or s.is_teacher then 'teacher' else 'pupil' end
  from src as s
  where s.group_id is not null and s.user_id is not null and coalesce(s.role in ('pupil', 'teacher'), true)
  order by s.group_id, s.user_id, s.role = 'teacher' desc
  on conflict (group_id, user_id) do update set role = excluded.role
  where t.role <> excluded.role;
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('group_membership', v_n);

  -- Units: a known subject and a year of 7-13.
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select
    'units', u.unit_id,
    case when s.subject is null then 'unknown_subject' else 'year_out_of_range' end,
    case
      when s.subject is null then format('subject %s is not a subject', coalesce(u.subject, '(none)'))
      else format('year %s is not 7-13', coalesce(u.year::text, '(none)'))
    end
  from private.import_legacy_units as u
  left join public.subjects as s on u.subject = s.subject
  where u.unit_id is not null and (s.subject is null or coalesce(u.year not between 7 and 13, true));
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'unit', u.unit_id, private.import_uuid('unit', u.unit_id)::text, import_map.run_id
  from private.import_legacy_units as u
  where
    u.unit_id is not null and u.year between 7 and 13
    and exists (select from public.subjects as s where s.subject = u.subject)
  on conflict do nothing;
  insert into public.units as t (unit_id, title, subject, description, year, active)
  select distinct on (m.new_id)
    m.new_id::uuid, coalesce(nullif(left(trim(u.title), 500), ''), u.unit_id), u.subject, u.description, u.year,
    coalesce(u.active, true)
  from private.import_legacy_units as u
  inner join private.import_ids as m on m.kind = 'unit' and u.unit_id = m.legacy_id
  where u.year between 7 and 13 and exists (select from public.subjects as s where s.subject = u.subject)
  order by m.new_id
  on conflict (unit_id) do update set
    title = excluded.title, subject = excluded.subject, description = excluded.description, year = excluded.year,
    active = excluded.active
  where
    (t.title, t.subject, t.description, t.year, t.active)
    is distinct from (excluded.title, excluded.subject, excluded.description, excluded.year, excluded.active);
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('units', v_n);

  -- Lessons of imported units.
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select 'lessons', l.lesson_id, 'orphan', format('unit %s was not imported (unknown or skipped)', l.unit_id)
  from private.import_legacy_lessons as l
  where
    l.lesson_id is not null
    and not exists (select from private.import_ids as m where m.kind = 'unit' and m.legacy_id = l.unit_id);
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'lesson', l.lesson_id, private.import_uuid('lesson', l.lesson_id)::text, import_map.run_id
  from private.import_legacy_lessons as l
  where
    l.lesson_id is not null
    and exists (select from private.import_ids as m where m.kind = 'unit' and m.legacy_id = l.unit_id)
  on conflict do nothing;
  insert into public.lessons as t (lesson_id, unit_id, title, order_by, active)
  select distinct on (m.new_id)
    m.new_id::uuid, u.new_id::uuid, coalesce(nullif(left(trim(l.title), 500), ''), 'Untitled lesson'),
    coalesce(l.order_by, 0), coalesce(l.active, true)
  from private.import_legacy_lessons as l
  inner join private.import_ids as m on m.kind = 'lesson' and l.lesson_id = m.legacy_id
  inner join private.import_ids as u on u.kind = 'unit' and l.unit_id = u.legacy_id
  order by m.new_id
  on conflict (lesson_id) do update set
    unit_id = excluded.unit_id, title = excluded.title, order_by = excluded.order_by, active = excluded.active
  where
    (t.unit_id, t.title, t.order_by, t.active)
    is distinct from (excluded.unit_id, excluded.title, excluded.order_by, excluded.active);
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('lessons', v_n);

  -- Lesson assignments, and the lessons of each active unit-level assignment (docs/import.md): one
  -- row per class and lesson, the earliest start date, feedback visible if any row says so; never a
  -- lesson of another subject than the class's (lessons_assign refuses those, PLV14).
  with src as (
    select
      x.legacy_key,
      x.source_table,
      g.new_id as group_id,
      l.new_id::uuid as lesson_id,
      x.start_date,
      x.feedback_visible,
      pg.subject as group_subject,
      pu.subject as unit_subject
    from (
      select
        a.group_id, a.lesson_id, a.start_date, coalesce(a.feedback_visible, false) as feedback_visible,
        a.group_id || ' / ' || a.lesson_id as legacy_key, 'lesson_assignments' as source_table
      from private.import_legacy_lesson_assignments as a
      union all
      select
        a.group_id, coalesce(l.lesson_id, '(unit ' || a.unit_id || ')'), a.start_date, false,
        a.group_id || ' / ' || a.unit_id || coalesce(' / ' || l.lesson_id, ''), 'assignments'
      from private.import_legacy_assignments as a
      left join private.import_legacy_lessons as l on a.unit_id = l.unit_id
      where
        coalesce(a.active, true)
        and (
          l.lesson_id is not null
          or not exists (select from private.import_ids as u where u.kind = 'unit' and u.legacy_id = a.unit_id)
        )
    ) as x
    left join private.import_ids as g on g.kind = 'group' and x.group_id = g.legacy_id
    left join private.import_ids as l on l.kind = 'lesson' and x.lesson_id = l.legacy_id
    left join public.groups as pg on g.new_id = pg.group_id
    left join public.lessons as pl on l.new_id::uuid = pl.lesson_id
    left join public.units as pu on pl.unit_id = pu.unit_id
  ),

  issues as (
    insert into private.import_work_issues (table_name, legacy_key, rule, detail)
    select
      s.source_table, s.legacy_key,
      case when s.group_id is null or s.lesson_id is null then 'orphan' else 'cross_subject_assignment' end,
      case
        when s.group_id is null then 'the class was not imported (unknown or skipped)'
        when s.lesson_id is null then 'the lesson (or unit) was not imported (unknown or skipped)'
        else format('a %s lesson assigned to a %s class', s.unit_subject, s.group_subject)
      end
    from src as s
    where s.group_id is null or s.lesson_id is null or s.group_subject <> s.unit_subject
  )

  insert into public.lesson_assignments as t (group_id, lesson_id, start_date, feedback_visible)
  select s.group_id, s.lesson_id, min(s.start_date), bool_or(s.feedback_visible)
  from src as s
  where s.group_id is not null and s.lesson_id is not null and s.group_subject = s.unit_subject
  group by s.group_id, s.lesson_id
  on conflict (group_id, lesson_id) do update set
    start_date = excluded.start_date, feedback_visible = excluded.feedback_visible
  where (t.start_date, t.feedback_visible) is distinct from (excluded.start_date, excluded.feedback_visible);
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('lesson_assignments', v_n);

  -- Learning objectives and success criteria (levels 0-9).
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'objective', o.learning_objective_id, private.import_uuid('objective', o.learning_objective_id)::text,
    import_map.run_id
  from private.import_legacy_objectives as o
  where o.learning_objective_id is not null
  on conflict do nothing;
  insert into public.learning_objectives as t (learning_objective_id, title, order_by)
  select distinct on (m.new_id)
    m.new_id::uuid, coalesce(nullif(trim(o.title), ''), 'Untitled objective'), coalesce(o.order_index, 0)
  from private.import_legacy_objectives as o
  inner join private.import_ids as m on m.kind = 'objective' and o.learning_objective_id = m.legacy_id
  order by m.new_id
  on conflict (learning_objective_id) do update set title = excluded.title, order_by = excluded.order_by
  where (t.title, t.order_by) is distinct from (excluded.title, excluded.order_by);
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('learning_objectives', v_n);

  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select
    'success_criteria', c.success_criteria_id,
    case when o.legacy_id is null then 'orphan' else 'level_out_of_range' end,
    case
      when o.legacy_id is null then format('learning objective %s is unknown', c.learning_objective_id)
      else format('level %s is not 0-9', coalesce(c.level::text, '(none)'))
    end
  from private.import_legacy_criteria as c
  left join private.import_ids as o on o.kind = 'objective' and c.learning_objective_id = o.legacy_id
  where c.success_criteria_id is not null and (o.legacy_id is null or coalesce(c.level not between 0 and 9, true));
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'criterion', c.success_criteria_id, private.import_uuid('criterion', c.success_criteria_id)::text,
    import_map.run_id
  from private.import_legacy_criteria as c
  where
    c.success_criteria_id is not null and c.level between 0 and 9
    and exists (select from private.import_ids as o where o.kind = 'objective' and o.legacy_id = c.learning_objective_id)
  on conflict do nothing;
  insert into public.success_criteria as t (success_criteria_id, learning_objective_id, description, level, order_by)
  select distinct on (m.new_id)
    m.new_id::uuid, o.new_id::uuid, coalesce(nullif(trim(c.description), ''), 'Untitled criterion'), c.level,
    coalesce(c.order_index, 0)
  from private.import_legacy_criteria as c
  inner join private.import_ids as m on m.kind = 'criterion' and c.success_criteria_id = m.legacy_id
  inner join private.import_ids as o on o.kind = 'objective' and c.learning_objective_id = o.legacy_id
  where c.level between 0 and 9
  order by m.new_id
  on conflict (success_criteria_id) do update set
    learning_objective_id = excluded.learning_objective_id, description = excluded.description,
    level = excluded.level, order_by = excluded.order_by
  where
    (t.learning_objective_id, t.description, t.level, t.order_by)
    is distinct from (excluded.learning_objective_id, excluded.description, excluded.level, excluded.order_by);
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('success_criteria', v_n);

  -- Activity types this layer does not know are created, not scorable, and every activity of one is
  -- reported (the planner's text is this layer's display-text).
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select distinct 'activity_type', coalesce(a.type, 'untyped'), coalesce(a.type, 'untyped'), import_map.run_id
  from private.import_legacy_activities as a
  where
    coalesce(a.type, 'untyped') <> 'text'
    and not exists (select from public.activity_types as t where t.type = coalesce(a.type, 'untyped'))
  on conflict do nothing;
  insert into public.activity_types (type, scorable, answer_kind)
  select m.new_id, false, null
  from private.import_ids as m
  where m.kind = 'activity_type'
  on conflict do nothing;

  -- Activities of imported lessons, the answer keys moved out of body_data.
  insert into private.import_work_issues (table_name, legacy_key, rule, detail)
  select
    'activities', a.activity_id,
    case when l.legacy_id is null then 'orphan' else 'unknown_activity_type' end,
    case
      when l.legacy_id is null then format('lesson %s was not imported (unknown or skipped)', coalesce(a.lesson_id, '(none)'))
      else format('type %s is not a type of this layer: imported as not scorable', coalesce(a.type, '(none)'))
    end
  from private.import_legacy_activities as a
  left join private.import_ids as l on l.kind = 'lesson' and a.lesson_id = l.legacy_id
  where
    a.activity_id is not null
    and (
      l.legacy_id is null
      or exists (
        select from private.import_ids as m where m.kind = 'activity_type' and m.legacy_id = coalesce(a.type, 'untyped')
      )
    );
  insert into private.import_ids (kind, legacy_id, new_id, first_run_id)
  select 'activity', a.activity_id, private.import_uuid('activity', a.activity_id)::text, import_map.run_id
  from private.import_legacy_activities as a
  where
    a.activity_id is not null
    and exists (select from private.import_ids as l where l.kind = 'lesson' and l.legacy_id = a.lesson_id)
  on conflict do nothing;
  with src as (
    select distinct on (m.new_id)
      m.new_id::uuid as activity_id,
      l.new_id::uuid as lesson_id,
      coalesce(nullif(trim(a.title), ''), 'Untitled activity') as title,
      case coalesce(a.type, 'untyped') when 'text' then 'display-text' else coalesce(a.type, 'untyped') end as type,
      case
        when jsonb_typeof(a.body_data) = 'object' then a.body_data
        when a.body_data is null then '{}'::jsonb
        else jsonb_build_object('value', a.body_data)
      end as body,
      coalesce(a.is_summative, false) as is_summative,
      coalesce(a.active, true) as active,
      coalesce(a.order_by, 0) as order_by
    from private.import_legacy_activities as a
    inner join private.import_ids as m on m.kind = 'activity' and a.activity_id = m.legacy_id
    inner join private.import_ids as l on l.kind = 'lesson' and a.lesson_id = l.legacy_id
    order by m.new_id
  ),

  keys as (
    insert into public.activity_answer_keys as k (activity_id, correct_option_id, model_answer)
    select s.activity_id, x.correct_option_id, x.model_answer
    from src as s
    cross join lateral (
      select
        nullif(left(coalesce(s.body ->> 'correctOptionId', s.body ->> 'correct_option_id'), 100), '') as correct_option_id,
        left(coalesce(s.body ->> 'modelAnswer', s.body ->> 'model_answer'), 20000) as model_answer
    ) as x
    where x.correct_option_id is not null or x.model_answer is not null
    on conflict (activity_id) do update set
      correct_option_id = excluded.correct_option_id, model_answer = excluded.model_answer, updated_at = now()
    where (k.correct_option_id, k.model_answer) is distinct from (excluded.correct_option_id, excluded.model_answer)
  )

  insert into public.activities as t (activity_id, lesson_id, title, type, body_data, is_summative, active, order_by)
  select
    s.activity_id, s.lesson_id, s.title, s.type,
    s.body - 'correctOptionId' - 'correct_option_id' - 'modelAnswer' - 'model_answer',
    s.is_summative, s.active, s.order_by
  from src as s
  on conflict (activity_id) do update set
    lesson_id = excluded.lesson_id, title = excluded.title, type = excluded.type, body_data = excluded.body_data,
    is_summative = excluded.is_summative, active = excluded.active, order_by = excluded.order_by
  where
    (t.lesson_id, t.title, t.type, t.body_data, t.is_summative, t.active, t.order_by)
    is distinct from (
      excluded.lesson_id, excluded.title, excluded.type, excluded.body_data, excluded.is_summative, excluded.active,
      excluded.order_by
    );
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('activities', v_n);

  -- Which criteria each activity scores (links are added, never removed).
  with src as (
    select
      x.activity_id as legacy_activity, x.success_criteria_id as legacy_criterion,
      a.new_id::uuid as activity_id, c.new_id::uuid as success_criteria_id
    from private.import_legacy_activity_criteria as x
    left join private.import_ids as a on a.kind = 'activity' and x.activity_id = a.legacy_id
    left join private.import_ids as c on c.kind = 'criterion' and x.success_criteria_id = c.legacy_id
  ),

  issues as (
    insert into private.import_work_issues (table_name, legacy_key, rule, detail)
    select
      'activity_success_criteria', coalesce(s.legacy_activity, '?') || ' / ' || coalesce(s.legacy_criterion, '?'),
      'orphan',
      case
        when s.activity_id is null then format('activity %s was not imported (unknown or skipped)', s.legacy_activity)
        else format('success criterion %s was not imported (unknown or skipped)', s.legacy_criterion)
      end
    from src as s
    where s.activity_id is null or s.success_criteria_id is null
  )

  insert into public.activity_success_criteria (activity_id, success_criteria_id)
  select distinct s.activity_id, s.success_criteria_id
  from src as s
  where s.activity_id is not null and s.success_criteria_id is not null
  on conflict do nothing;
  get diagnostics v_n = row_count;
  v_written := v_written || jsonb_build_object('activity_success_criteria', v_n);

  -- Submissions: the latest row per answer, scores read from its body (numbers or numeric strings;
  -- anything else is reported as unreadable), is_correct only for multiple-choice questions.
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

  -- The feedback log: per answer, the latest row of each source is what the planner showed. A row
  -- counts when it names the submission imported, or names none and is not older than it; a row of
  -- an earlier submission was superseded by the new answer (new work is unmarked work).
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

  -- Scores outside [0, 1] are clamped and reported; unreadable ones are left out and reported; a
  -- score with more than 20 decimal places is rounded to 20 (the tables' limit).
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
  v_written := v_written || jsonb_build_object('submissions', v_n + v_changed);

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
comment on function private.import_map(bigint) is
'Maps the legacy rows of private.import_legacy_* into this schema (upserts that write only what differs), records '
'every row it cannot map in private.import_work_issues; returns rows written per table. Callers: import_planner. '
'docs/import.md.';
revoke all on function private.import_map(bigint) from public;

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

-- Import a school from the planner's tables in source_schema, in the caller's transaction: read them
-- (import_load), map them (import_map), record the run in private.import_runs and return its report:
-- {run_id, dry_run, read: {legacy table: rows}, written: {table: rows}, skipped: {rule: rows},
-- issue_count, issues: [{table, row, rule, detail}] (the first 1,000)}. A dry run maps everything in
-- a subtransaction it then rolls back, so it reports exactly what a real run would do and changes
-- nothing but its own line in import_runs. strict: any row that cannot be mapped refuses the whole
-- import (PLV15), dry or not. One import at a time (PLS05).
create or replace function private.import_planner(source_schema text, dry_run boolean default false, strict boolean default false)
returns jsonb
language plpgsql
security definer
set search_path = ''
set work_mem = '256MB'
as $$
declare
  v_run_id bigint;
  v_read jsonb;
  v_written jsonb;
  v_issue_count integer;
  v_issues jsonb;
  v_skipped jsonb;
  v_first private.import_work_issues;
  v_report jsonb;
begin
  perform private.require(import_planner.source_schema, 'source_schema');
  perform private.require(import_planner.dry_run, 'dry_run');
  perform private.require(import_planner.strict, 'strict');
  if not pg_try_advisory_xact_lock(hashtext('private.import_planner')) then
    raise exception 'another planner import is running' using errcode = 'PLS05',
      hint = 'Wait for it to finish: imports of one school run one at a time.';
  end if;
  insert into private.import_runs (source_schema, dry_run, strict)
  values (import_planner.source_schema, import_planner.dry_run, import_planner.strict)
  returning run_id into v_run_id;
  perform private.import_clear();
  v_read := private.import_load(import_planner.source_schema);

  begin
    v_written := private.import_map(v_run_id);
    select count(*)::integer into v_issue_count from private.import_work_issues;
    select
      coalesce(jsonb_agg(jsonb_build_object('table', i.table_name, 'row', i.legacy_key, 'rule', i.rule, 'detail', i.detail)
        order by i.table_name, i.rule, i.legacy_key), '[]'::jsonb)
    into v_issues
    from (
      select x.* from private.import_work_issues as x order by x.table_name, x.rule, x.legacy_key limit 1000
    ) as i;
    select coalesce(jsonb_object_agg(r.rule, r.n), '{}'::jsonb) into v_skipped
    from (select x.rule, count(*) as n from private.import_work_issues as x group by x.rule) as r;
    select x.* into v_first from private.import_work_issues as x order by x.table_name, x.rule, x.legacy_key limit 1;
    if import_planner.dry_run then
      raise exception 'dry run' using errcode = 'PLX01';  -- undoes the mapping; caught below
    end if;
  exception when sqlstate 'PLX01' then
    null;
  end;

  if import_planner.strict and v_issue_count > 0 then
    raise exception 'planner import refused: % row(s) cannot be mapped; the first is table %, row %: % (%)',
      v_issue_count, v_first.table_name, v_first.legacy_key, v_first.detail, v_first.rule
      using errcode = 'PLV15', detail = format('Rows by rule: %s', v_skipped),
      hint = 'Fix them in the planner, or import without --strict to skip them (--dry-run lists them all).';
  end if;

  perform private.import_clear();
  v_report := jsonb_build_object(
    'run_id', v_run_id,
    'dry_run', import_planner.dry_run,
    'source_schema', import_planner.source_schema,
    'read', v_read,
    'written', v_written,
    'skipped', v_skipped,
    'issue_count', v_issue_count,
    'issues', v_issues
  );
  update private.import_runs as r
  set
    finished_at = clock_timestamp(), counts = jsonb_build_object('read', v_read, 'written', v_written),
    issue_count = v_issue_count, issues = v_issues
  where r.run_id = v_run_id;
  if not import_planner.dry_run and exists (select from jsonb_each_text(v_written) as w where w.value <> '0') then
    raise notice 'planner import run %: the reports are not filled yet', v_run_id
      using hint = 'Backfill them: glue backfill, or call private.report_backfill_batched(); glue import planner does.';
  end if;
  return v_report;
end
$$;
comment on function private.import_planner(text, boolean, boolean) is
'Imports a school from the planner''s tables in source_schema (docs/import.md) in the caller''s transaction; '
'returns {run_id, dry_run, source_schema, read, written, skipped, issue_count, issues}. Callers: glue import '
'planner (as postgres or the service role). Errors: PLV01 a NULL argument, PLN09 schema or table missing, PLS05 '
'another import running, PLV15 strict and a row cannot be mapped.';
revoke all on function private.import_planner(text, boolean, boolean) from public;
grant execute on function private.import_planner(text, boolean, boolean) to service_role;
