-- Functions whose return type or parameters changed. `create or replace` can change neither, so the
-- old definition is dropped first. This file renders at the top of every functions migration, so
-- the drop and the new definition always land in the same transaction. Dropping is safe: no view,
-- policy or default depends on these functions, and the files below recreate them with their
-- grants and comments.

-- report_pupil and report_group returned jsonb until 2026-11-22; they return json now (see
-- 30_reports.sql).
drop function if exists public.report_pupil(uuid);
drop function if exists public.report_group(text);

-- live_criterion_rows(pupil_ids) was a projection of live_report_rows; it is now a layer of the
-- arithmetic with an optional lesson_ids, like live_cells (see 20_scoring.sql).
drop function if exists private.live_criterion_rows(uuid[]);
