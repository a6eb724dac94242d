-- The planner import's working tables get primary keys, and import_ids an index on its foreign key
-- (splinter's no_primary_key and unindexed_foreign_keys; docs/platform.md, "Advisors").
--   import_legacy_* and import_work_*: a row number (an identity, filled as rows are added); the
--     legacy rows have no key of their own the import could trust (a planner's table may repeat an
--     id or leave it NULL, and the import reports such rows rather than refuse them). The column is
--     added last, so the import's positional inserts (select of the legacy columns) are unchanged.
--   import_ids (first_run_id): the run that first mapped an id; deleting an old run checks it.
do $keys$
declare
  v_table text;
begin
  for v_table in
    select c.relname::text from pg_catalog.pg_class as c
    where
      c.relnamespace = 'private'::regnamespace and c.relkind = 'r'
      and (c.relname like 'import\_legacy\_%' or c.relname like 'import\_work\_%')
    order by c.relname
  loop
    execute format(
      'alter table private.%I add column row_id bigint generated always as identity primary key', v_table
    );
  end loop;
end
$keys$;

create index import_ids_first_run_id_idx on private.import_ids (first_run_id);
