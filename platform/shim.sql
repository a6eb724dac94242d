-- The local platform: the parts of Supabase's Postgres that plain PostgreSQL lacks.
--
-- Installed by `make db-reset` (glue.platform) on local and CI databases only, BEFORE the migrations.
-- It is never part of supabase/migrations/: on a real Supabase project all of this already exists.
-- Every object is created only where absent, with Supabase's names, signatures and semantics:
--   roles      anon, authenticated, service_role (bypasses RLS), authenticator
--   auth       auth.users, auth.uid(), auth.role(), auth.jwt()
--   realtime   realtime.messages, realtime.send(payload, event, topic, private), realtime.topic()
--              send() never raises; locally it also pg_notify()s channel 'realtime_broadcast' so a
--              Python listener can relay committed broadcasts (NOTIFY is delivered on commit only).
--   extensions pgtap and plpgsql_check in schema extensions, pg_cron where the server preloads it.

-- Roles ----------------------------------------------------------------------------------------
do $shim$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$shim$;

grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;

-- Supabase's role settings: a request as anon may run 3 s, as authenticated 8 s; the authenticator
-- (PostgREST's login) runs 8 s and waits at most 8 s for a lock. PostgREST applies the impersonated
-- role's settings per request, and glue.rpc.PgRpc does the same.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';

-- Supabase's default privileges: objects that postgres creates in public are granted to the API
-- roles. Migrations must revoke what they do not mean to expose; the local platform behaves the same.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant execute on functions to anon, authenticated, service_role;

-- Extensions -----------------------------------------------------------------------------------
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists pgtap with schema extensions;
create extension if not exists plpgsql_check with schema extensions;
do $shim$
begin
  if exists (
    select from pg_catalog.pg_available_extensions where name = 'pg_cron'
  ) and pg_catalog.current_setting('shared_preload_libraries', true) like '%pg_cron%'
    and pg_catalog.current_database() = pg_catalog.current_setting('cron.database_name', true) then
    create extension if not exists pg_cron;
  end if;
end
$shim$;

-- auth -----------------------------------------------------------------------------------------
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  id uuid primary key default gen_random_uuid(),
  email text,
  raw_user_meta_data jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

do $shim$
begin
  if pg_catalog.to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid
    language sql stable
    as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $f$;
  end if;
  if pg_catalog.to_regprocedure('auth.role()') is null then
    create function auth.role() returns text
    language sql stable
    as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
      )::text
    $f$;
  end if;
  if pg_catalog.to_regprocedure('auth.jwt()') is null then
    create function auth.jwt() returns jsonb
    language sql stable
    as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $f$;
  end if;
end
$shim$;

grant execute on function auth.uid(), auth.role(), auth.jwt() to anon, authenticated, service_role;

-- realtime -------------------------------------------------------------------------------------
create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;

create table if not exists realtime.messages (
  id bigint generated always as identity,
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp without time zone not null default now(),
  inserted_at timestamp without time zone not null default now(),
  primary key (id, inserted_at)
);
alter table realtime.messages enable row level security;
grant select, insert on realtime.messages to authenticated;
grant all on realtime.messages to service_role;

do $shim$
begin
  if pg_catalog.to_regprocedure('realtime.topic()') is null then
    create function realtime.topic() returns text
    language sql stable
    as $f$
      select nullif(current_setting('realtime.topic', true), '')::text
    $f$;
  end if;

  if pg_catalog.to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null then
    -- Supabase's signature and behaviour: insert a broadcast row; never raise (a failed broadcast
    -- must not fail the write that sent it). Locally it also notifies the relay on commit.
    create function realtime.send(
      payload jsonb, event text, topic text, private boolean default true
    ) returns void
    language plpgsql
    as $f$
    declare
      v_id bigint;
      v_note text;
    begin
      begin
        perform set_config('realtime.topic', topic, true);
        insert into realtime.messages (payload, event, topic, private, extension)
        values (payload, event, topic, private, 'broadcast')
        returning id into v_id;
        v_note := jsonb_build_object(
          'id', v_id, 'topic', topic, 'event', event, 'private', private, 'payload', payload
        )::text;
        if octet_length(v_note) > 7900 then
          -- NOTIFY payloads are limited to 8000 bytes: send the row id, the relay reads the row.
          v_note := jsonb_build_object('id', v_id, 'topic', topic, 'event', event, 'private', private)::text;
        end if;
        perform pg_notify('realtime_broadcast', v_note);
      exception when others then
        raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
      end;
    end
    $f$;
  end if;
end
$shim$;

grant execute on function realtime.topic() to anon, authenticated, service_role;
grant execute on function realtime.send(jsonb, text, text, boolean) to authenticated, service_role;

-- What API sessions see, as on Supabase: public first, then extensions.
do $shim$
begin
  execute pg_catalog.format(
    'alter database %I set search_path = "$user", public, extensions', pg_catalog.current_database()
  );
end
$shim$;
