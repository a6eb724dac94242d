-- Schedule the queue's safety net with pg_cron where it is installed: drain every minute (whatever
-- fire-and-forget and the glue workers left), and once an hour verify a sample of pupils against the
-- live computation and enqueue any mismatch. Where pg_cron is absent this does nothing: run
-- `glue worker` instead, or enable pg_cron and apply the two cron.schedule calls below by hand.
do $schedule$
begin
  if exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
    perform cron.schedule('report-jobs-drain', '* * * * *', 'call private.report_jobs_drain(100, 50)');
    perform cron.schedule('report-verify-sample', '17 * * * *', 'select public.report_verify_and_enqueue(200)');
  else
    raise notice 'pg_cron is not installed here: the report queue drain is not scheduled (run glue worker)';
  end if;
end
$schedule$;
