-- Schemas and default privileges.
--
-- public   the tables of DOMAIN.md and the RPC entry points (exposed through the API)
-- private  internal helpers, the arithmetic, the queue (never exposed through the API)
--
-- Nothing is executable or readable by default: every function is granted per signature and every
-- table per role, in the migration or functions_sql file that creates it.

create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

-- PostgreSQL grants EXECUTE on every new function to PUBLIC by a global default; revoke that default
-- (a per-schema default privilege cannot take it away), then the API roles' per-schema grants.
alter default privileges for role postgres revoke execute on functions from public;
alter default privileges for role postgres in schema public revoke all on tables from anon, authenticated;
alter default privileges for role postgres in schema public revoke all on sequences from anon, authenticated;
alter default privileges for role postgres in schema public revoke execute on functions from anon, authenticated;
