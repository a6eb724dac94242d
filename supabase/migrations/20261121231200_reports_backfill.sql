-- Fill the reports cache from the data already in the database, so that the reports work
-- immediately on current data. Set-based over every pupil in one statement (private.report_merge);
-- on a fresh database it writes nothing. For very large databases run the batched, resumable
-- private.report_backfill_batched() (or `glue backfill`) instead; this migration then finds
-- nothing left to change.
select private.report_merge(null);
