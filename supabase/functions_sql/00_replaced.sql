-- Functions removed, or whose return type or arguments changed. `create or replace` cannot change
-- a return type, and with new arguments it would add a second function beside the old one, so the
-- old definition is dropped first; this file renders at the top of every functions migration, so
-- the drop and the new definition always land in the same transaction. Dropping is safe: no view,
-- policy or default depends on these functions, and the files below recreate them with their
-- grants and comments.

-- report_pupil and report_group returned jsonb until 2026-11-22; they return json now (see
-- 30_reports.sql).
drop function if exists public.report_pupil(uuid);
drop function if exists public.report_group(text);

-- The live functions took (pupil_ids, lesson_ids) until 2026-11-22; they take activity_ids as well
-- now (see 20_scoring.sql).
drop function if exists private.live_cells(uuid[], uuid[]);
drop function if exists private.live_report_rows(uuid[], uuid[]);
drop function if exists private.live_criterion_scores(uuid[], uuid[]);
drop function if exists private.live_pupil_work(uuid[], uuid[]);

-- private.is_group_member(text) was removed on 2026-11-22: no policy or RPC calls it since the
-- policies compare with sets (private.member_group_ids()).
drop function if exists private.is_group_member(text);

-- results_save_feedback took five arguments until 2026-12-04; it takes expected_revision as well now
-- (see 50_writes.sql).
drop function if exists public.results_save_feedback(uuid, uuid, numeric, jsonb, text);
