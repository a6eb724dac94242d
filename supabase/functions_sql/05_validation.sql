-- Input validation shared by every RPC: a required parameter, a score, the size of a JSON document
-- or of a batch. Each raises a project SQLSTATE (docs/errors.md) with a message naming the parameter,
-- before anything is written. Numbered first: every later file may call them.

-- Raise PLV01 when a required parameter is NULL (with a hint for the caller, when given).
create or replace function private.require(value anyelement, name text, hint text default null)
returns anyelement
language plpgsql
immutable
set search_path = ''
as $$
begin
  if value is null and hint is null then
    raise exception '% is required', name using errcode = 'PLV01';
  elsif value is null then
    raise exception '% is required', name using errcode = 'PLV01', hint = hint;
  end if;
  return value;
end
$$;
comment on function private.require(anyelement, text, text) is
'Returns value, or raises PLV01 naming the missing parameter (and the hint, if any). Callers: every RPC.';
revoke all on function private.require(anyelement, text, text) from public;
grant execute on function private.require(anyelement, text, text) to authenticated, service_role;

-- True when the text is a uuid in its canonical 8-4-4-4-12 hex form (any case): what a JSON field or a
-- part of a composite id must be before it is cast, so that a malformed one gets the RPC's own SQLSTATE.
create or replace function private.is_uuid(value text)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
  return value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
end
$$;
comment on function private.is_uuid(text) is
'True when value is a uuid written 8-4-4-4-12 (NULL for NULL). Callers: results_save_feedback, resolve_assignment, '
'results_apply_ai_marks, import_uuid, import_map.';
revoke all on function private.is_uuid(text) from public;

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
'activities_set_criteria (success_criteria_ids: 100), results_apply_ai_marks (results: 1000).';
revoke all on function private.assert_batch_size(integer, text, integer) from public;

-- Raise PLV07 when a text a person wrote (an answer, a teacher's or the AI's feedback) is longer than
-- the 20,000 characters every caller may send; NULL passes.
create or replace function private.assert_text_length(value text, name text)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if length(assert_text_length.value) > 20000 then
    raise exception '% is % characters long; at most 20000 are accepted', assert_text_length.name,
      length(assert_text_length.value)
      using errcode = 'PLV07';
  end if;
end
$$;
comment on function private.assert_text_length(text, text) is
'Raises PLV07 when value is over 20,000 characters. Callers: submissions_submit_answer (text), '
'results_save_feedback (feedback), results_apply_ai_marks (each result''s feedback).';
revoke all on function private.assert_text_length(text, text) from public;
