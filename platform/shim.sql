-- The local platform: the parts of Supabase's Postgres that plain PostgreSQL lacks.
--
-- Installed by `make db-reset` (glue_tools.platform) on local and CI databases only, BEFORE the migrations,
-- as the platform's superuser supabase_admin; the migrations and the seed then run as postgres, which
-- is not a superuser, exactly as on Supabase (docs/platform.md). It is never part of
-- supabase/migrations/: on a real Supabase project all of this already exists.
-- Every object is created only where absent, with Supabase's names, signatures and semantics:
--   roles      anon, authenticated, service_role (bypasses RLS), authenticator
--   auth       auth.users, auth.uid(), auth.role(), auth.jwt()
--   realtime   realtime.messages, realtime.send(payload, event, topic, private), realtime.topic()
--              send() never raises; locally it also pg_notify()s channel 'realtime_broadcast' so a
--              Python listener can relay committed broadcasts (NOTIFY is delivered on commit only).
--   extensions pgtap, plpgsql_check and pg_stat_statements in schema extensions, pg_cron where the
--              server preloads it; postgres may drop and update them (supautils' rights on Supabase).

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
grant usage on schema extensions to postgres, anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists pgtap with schema extensions;
create extension if not exists plpgsql_check with schema extensions;
do $shim$
begin
  if exists (
    select from pg_catalog.pg_available_extensions where name = 'pg_cron'
  ) and pg_catalog.current_setting('shared_preload_libraries', true) like '%pg_cron%'
    and pg_catalog.current_database() = pg_catalog.current_setting('cron.database_name', true) then
    -- Where Supabase puts it: the extension in pg_catalog, its objects in schema cron, which postgres
    -- may use (jobs run as the role that scheduled them).
    create extension if not exists pg_cron with schema pg_catalog;
    grant usage on schema cron to postgres;
    grant all on all tables in schema cron to postgres;
    grant all on all sequences in schema cron to postgres;
  end if;
  -- As on a project, query statistics for `supabase inspect db outliers` and `calls`, where the
  -- server preloads the library (scripts/localdb.sh does).
  if pg_catalog.current_setting('shared_preload_libraries', true) like '%pg_stat_statements%' then
    create extension if not exists pg_stat_statements with schema extensions;
  end if;
end
$shim$;

-- Supabase's supautils lets postgres drop and update these extensions although a superuser made
-- them (its privileged extensions): here postgres is made their owner, which gives it the same
-- rights without being a superuser, so that `supabase db reset --db-url` can drop them as it does on
-- a project. Creating them stays the platform's part (this file; docs/platform.md).
update pg_catalog.pg_extension
set extowner = 'postgres'::regrole
where extname in ('pgtap', 'plpgsql_check', 'pg_cron')
  and extowner <> 'postgres'::regrole;

-- auth -----------------------------------------------------------------------------------------
create schema if not exists auth;
grant usage on schema auth to postgres, anon, authenticated, service_role;

-- The columns of GoTrue's auth.users that the project, its seeds and supabase-py's admin calls touch,
-- with GoTrue's types; everything else of GoTrue's (tokens, MFA, identities) is left out.
create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key default gen_random_uuid(),
  aud character varying(255),
  role character varying(255),
  email character varying(255),
  encrypted_password character varying(255),
  email_confirmed_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  phone text unique default null,
  phone_confirmed_at timestamptz,
  banned_until timestamptz,
  deleted_at timestamptz,
  is_sso_user boolean not null default false,
  is_anonymous boolean not null default false
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

grant execute on function auth.uid(), auth.role(), auth.jwt() to postgres, anon, authenticated, service_role;
grant all on auth.users to postgres;

-- realtime -------------------------------------------------------------------------------------
-- As Supabase's Realtime tenant schema: owned by supabase_realtime_admin (postgres is a member, so
-- the project's migrations create their policies on realtime.messages without being superuser);
-- messages have uuid ids and are range-partitioned by inserted_at into daily partitions, which
-- Supabase's Realtime server creates ahead of time; here the shim creates yesterday's to a week
-- ahead (docs/platform.md). Every message of one transaction has the same inserted_at and ids are
-- random: nothing may order messages by id.
do $shim$
begin
  if not exists (select from pg_catalog.pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin nologin noinherit;
  end if;
end
$shim$;
grant supabase_realtime_admin to postgres;
-- The schema itself belongs to supabase_admin, as on Supabase: `supabase db reset` keeps the schemas
-- supabase_admin owns (docs/platform.md).
create schema if not exists realtime authorization supabase_admin;
alter schema realtime owner to supabase_admin;
grant usage on schema realtime to postgres, anon, authenticated, service_role;

create table if not exists realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp without time zone not null default now(),
  inserted_at timestamp without time zone not null default now(),
  id uuid not null default gen_random_uuid(),
  primary key (id, inserted_at)
) partition by range (inserted_at);
alter table realtime.messages owner to supabase_realtime_admin;
alter table realtime.messages enable row level security;
grant select, insert, update on realtime.messages to anon, authenticated, service_role;
grant all on realtime.messages to postgres;

do $shim$
declare
  v_day date;
begin
  for v_day in select d::date from pg_catalog.generate_series(current_date - 1, current_date + 7, interval '1 day') as d loop
    if pg_catalog.to_regclass(pg_catalog.format('realtime.messages_%s', pg_catalog.to_char(v_day, 'YYYY_MM_DD'))) is null then
      execute pg_catalog.format(
        'create table realtime.%I partition of realtime.messages for values from (%L) to (%L)',
        'messages_' || pg_catalog.to_char(v_day, 'YYYY_MM_DD'), v_day, v_day + 1
      );
      execute pg_catalog.format(
        'alter table realtime.%I owner to supabase_realtime_admin', 'messages_' || pg_catalog.to_char(v_day, 'YYYY_MM_DD')
      );
    end if;
  end loop;
end
$shim$;

do $shim$
begin
  if pg_catalog.to_regprocedure('realtime.topic()') is null then
    create function realtime.topic() returns text
    language sql stable
    as $f$
      select nullif(current_setting('realtime.topic', true), '')::text
    $f$;
    alter function realtime.topic() owner to supabase_realtime_admin;
  end if;

  if pg_catalog.to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null then
    -- Supabase's signature and behaviour: the message gets a random uuid, added to the payload as
    -- "id" when the payload has none; the row is inserted with the topic set for the policies; any
    -- failure (no partition for today, a policy, a bad payload) becomes a WARNING and never fails
    -- the caller's transaction. Locally it also notifies the relay, delivered on commit only, unless
    -- the session sets planner.relay_notify = off: every committing transaction that notified takes
    -- one cluster-wide lock until its commit is done, which Supabase's realtime.send never does (its
    -- messages reach clients from the table), so the load benchmark turns it off (docs/platform.md).
    create function realtime.send(
      payload jsonb, event text, topic text, private boolean default true
    ) returns void
    language plpgsql
    as $f$
    declare
      v_id uuid := gen_random_uuid();
      v_payload jsonb;
      v_note text;
    begin
      begin
        v_payload := case when payload ? 'id' then payload else jsonb_set(payload, '{id}', to_jsonb(v_id)) end;
        perform set_config('realtime.topic', topic, true);
        insert into realtime.messages (id, payload, event, topic, private, extension)
        values (v_id, v_payload, event, topic, private, 'broadcast');
        v_note := jsonb_build_object(
          'id', v_id, 'topic', topic, 'event', event, 'private', private, 'payload', v_payload
        )::text;
        if octet_length(v_note) > 7900 then
          -- NOTIFY payloads are limited to 8000 bytes: send the message id, the relay reads the row.
          v_note := jsonb_build_object('id', v_id, 'topic', topic, 'event', event, 'private', private)::text;
        end if;
        if coalesce(current_setting('planner.relay_notify', true), '') <> 'off' then
          perform pg_notify('realtime_broadcast', v_note);
        end if;
      exception when others then
        raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
      end;
    end
    $f$;
    alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
  end if;
end
$shim$;

grant execute on function realtime.topic() to anon, authenticated, service_role;
grant execute on function realtime.send(jsonb, text, text, boolean) to postgres, authenticated, service_role;

-- What API sessions see, as on Supabase: public first, then extensions.
do $shim$
begin
  execute pg_catalog.format(
    'alter database %I set search_path = "$user", public, extensions', pg_catalog.current_database()
  );
end
$shim$;
