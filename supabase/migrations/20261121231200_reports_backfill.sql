-- Fill the reports cache from the data already in the database, so that the reports work
-- immediately on current data: every pupil at once, set-based in one statement
-- (private.report_merge(null)). On a fresh database it finds nobody and writes nothing. For very large
-- databases run the batched, resumable private.report_backfill_batched() (or `glue backfill`) first:
-- it commits per batch, and this migration then finds nothing left to change.
select private.report_merge(null);
