-- Realtime broadcasts from the database (docs/realtime.md): the setting that turns them off.
--
-- Every write RPC that changes a submission, and the queue after a recalculation that changed a
-- pupil's report, calls a private.broadcast_* function (supabase/functions_sql/60_realtime.sql), which
-- sends with realtime.send(..., private => true) inside the write's transaction. With
-- broadcasts_enabled = false those functions send nothing; the writes themselves are unaffected.
-- Who may receive is decided by the RLS policy on realtime.messages (20261121231160_realtime_access.sql).

-- One row. Changed by operators with plain UPDATE:
--   update private.realtime_settings set broadcasts_enabled = false;
create table private.realtime_settings (
  singleton boolean primary key default true,
  broadcasts_enabled boolean not null default true,
  constraint realtime_settings_singleton_check check (singleton)
);
insert into private.realtime_settings default values;
comment on table private.realtime_settings is
'Realtime settings, one row. broadcasts_enabled = false: the write RPCs and the queue send no broadcasts.';

revoke all on table private.realtime_settings from public, anon, authenticated;
grant select on table private.realtime_settings to service_role;
