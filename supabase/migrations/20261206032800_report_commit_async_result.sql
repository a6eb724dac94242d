-- The bridge between the restored functions migrations of 2026-12-05/06 and 20261206032842.
--
-- 20261206031457 created private.report_commit_async() returning boolean; 20261206032842, written
-- before that migration was restored to the history, redefines it returning void with CREATE OR
-- REPLACE, which cannot change a result type. This drops the boolean version so that
-- 20261206032842 applies, on a fresh replay and on a database whose last migration is
-- 20261206031457. Where the function already returns void (a database that applied
-- 20261206032842), it does nothing. Its callers are PL/pgSQL bodies, which resolve it at run time;
-- 20261206032842 creates it again in the same push.
do $$
begin
  if exists (
    select
    from pg_catalog.pg_proc
    where
      oid = pg_catalog.to_regprocedure('private.report_commit_async()')
      and prorettype <> 'pg_catalog.void'::pg_catalog.regtype
  ) then
    drop function private.report_commit_async();
  end if;
end
$$;
