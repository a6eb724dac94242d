-- plpgsql_check over every PL/pgSQL function and procedure of the project (schemas public and
-- private). sqlfluff cannot see inside PL/pgSQL bodies; this can. Any error fails the check;
-- warnings are printed for the reviewer.
\pset footer off
create temporary table plpgsql_findings as
select
  p.oid::regprocedure::text as routine,
  r.level,
  r.lineno,
  r.message,
  r.detail,
  r.hint
from pg_catalog.pg_proc as p
inner join pg_catalog.pg_namespace as n on p.pronamespace = n.oid
inner join pg_catalog.pg_language as l on p.prolang = l.oid
cross join lateral extensions.plpgsql_check_function_tb(p.oid, performance_warnings => false) as r
where
  n.nspname in ('public', 'private')
  and l.lanname = 'plpgsql'
  and p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype;

select routine, level, lineno, message, detail, hint from plpgsql_findings order by routine, lineno;

do $check$
declare
  v_routines integer;
  v_errors integer;
begin
  select count(*) into v_routines
  from pg_catalog.pg_proc as p
  inner join pg_catalog.pg_namespace as n on p.pronamespace = n.oid
  inner join pg_catalog.pg_language as l on p.prolang = l.oid
  where n.nspname in ('public', 'private') and l.lanname = 'plpgsql';
  select count(*) into v_errors from plpgsql_findings where level = 'error';
  if v_errors > 0 then
    raise exception 'plpgsql_check: % error(s) in % PL/pgSQL routines', v_errors, v_routines;
  end if;
  raise notice 'plpgsql_check: % PL/pgSQL routines, no errors', v_routines;
end
$check$;
