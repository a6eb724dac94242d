-- The drain of seconds: where pg_cron is installed, reinstall the queue's schedule with
-- report_queue_schedule's defaults (every 5 seconds where pg_cron takes seconds, else every minute
-- with a drain that polls within its minute), replacing the first schedule's drain of once a minute.
-- Where pg_cron is absent this does nothing: enable it, then run `glue schedule`.
do $schedule$
begin
  if exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
    perform public.report_queue_schedule();
  else
    raise notice 'pg_cron is not installed here: the report queue drain is not scheduled (enable pg_cron, then glue schedule)';
  end if;
end
$schedule$;
