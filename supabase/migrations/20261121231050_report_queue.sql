-- The recalculation queue: one waiting job per pupil at most (a burst of writes is one
-- recalculation), claimed with FOR UPDATE SKIP LOCKED, retried with exponential backoff and jitter,
-- dead after max_attempts and kept visible until re-queued. Finished jobs are deleted; what
-- operations need to know about them (waits, run times, coalescing) goes to report_job_history.

-- Ordered: a job moves forward through these states (failed goes back to waiting for its retry).
create type private.report_job_state as enum ('pending', 'running', 'failed', 'dead');

create table private.report_jobs (
  job_id bigint generated always as identity primary key,
  pupil_id uuid not null references public.profiles (user_id) on delete cascade,
  state private.report_job_state not null default 'pending',
  reason text not null,
  attempts integer not null default 0,
  max_attempts integer not null default 5,
  run_after timestamptz not null default now(),
  enqueued_at timestamptz not null default now(),
  last_enqueued_at timestamptz not null default now(),
  coalesced_count integer not null default 0,
  locked_at timestamptz,
  locked_by text,
  lease_expires_at timestamptz,
  last_error text,
  last_error_code text,
  failed_at timestamptz,
  dead_at timestamptz,
  constraint report_jobs_attempts_check check (attempts between 0 and max_attempts and max_attempts > 0),
  constraint report_jobs_enqueued_check check (last_enqueued_at >= enqueued_at and coalesced_count >= 0),
  constraint report_jobs_running_check check (
    (state = 'running') = (locked_at is not null and locked_by is not null and lease_expires_at is not null)
  ),
  constraint report_jobs_failed_check check (
    state not in ('failed', 'dead') or (last_error is not null and failed_at is not null and attempts > 0)
  ),
  constraint report_jobs_dead_check check ((state = 'dead') = (dead_at is not null)),
  constraint report_jobs_reason_check check (length(reason) between 1 and 200)
);
-- At most one waiting job per pupil: the target of the enqueue's ON CONFLICT DO UPDATE.
create unique index report_jobs_waiting_pupil_key on private.report_jobs (pupil_id)
where state in ('pending', 'failed');
-- The claim: waiting jobs due now, oldest first.
create index report_jobs_due_idx on private.report_jobs (run_after, job_id)
where state in ('pending', 'failed');
create index report_jobs_running_idx on private.report_jobs (pupil_id, lease_expires_at)
where state = 'running';
comment on table private.report_jobs is
'Pending, running, failed (waiting for a retry) and dead recalculations of a pupil''s cached report.';

-- What happened to each processed job, for latency figures and operations. Pruned after a day.
create table private.report_job_history (
  history_id bigint generated always as identity primary key,
  job_id bigint not null,
  pupil_id uuid not null,
  outcome text not null,
  reason text not null,
  enqueued_at timestamptz not null,
  last_enqueued_at timestamptz not null,
  started_at timestamptz not null,
  finished_at timestamptz not null,
  attempts integer not null,
  coalesced_count integer not null,
  worker text not null,
  changed boolean,
  error text,
  constraint report_job_history_outcome_check check (outcome in ('done', 'failed', 'dead', 'gone')),
  constraint report_job_history_times_check check (
    last_enqueued_at >= enqueued_at and finished_at >= started_at
  )
);
create index report_job_history_finished_idx on private.report_job_history (finished_at);
comment on table private.report_job_history is
'One row per processed job attempt: waits (started_at - enqueued_at), run times, coalesced writes.';

-- Queue settings, one row. Changed by operators with plain UPDATE.
create table private.report_queue_settings (
  singleton boolean primary key default true,
  max_attempts integer not null default 5,
  backoff_base interval not null default '2 seconds',
  backoff_max interval not null default '10 minutes',
  lease interval not null default '5 minutes',
  history_retention interval not null default '1 day',
  constraint report_queue_settings_singleton_check check (singleton),
  constraint report_queue_settings_values_check check (
    max_attempts > 0 and backoff_base > '0'::interval and backoff_max >= backoff_base and lease > '0'::interval
  )
);
insert into private.report_queue_settings default values;
comment on table private.report_queue_settings is 'Retry, backoff, lease and retention settings of the report queue.';

revoke all on table private.report_jobs, private.report_job_history, private.report_queue_settings
from public, anon, authenticated;
grant select on table private.report_jobs, private.report_job_history, private.report_queue_settings to service_role;
