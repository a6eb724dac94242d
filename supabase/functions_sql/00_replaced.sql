-- Functions whose return type changed. `create or replace` cannot change a return type, so the old
-- definition is dropped first; this file renders at the top of every functions migration, so the
-- drop and the new definition always land in the same transaction. Dropping is safe: no view,
-- policy or default depends on these functions, and the files below recreate them with their
-- grants and comments.

-- report_pupil and report_group returned jsonb until 2026-11-22; they return json now (see
-- 30_reports.sql).
drop function if exists public.report_pupil(uuid);
drop function if exists public.report_group(text);
