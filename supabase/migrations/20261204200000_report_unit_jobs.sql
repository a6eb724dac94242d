-- Per-unit recalculation: a job carries the units to redo. A write that changes one activity's cell
-- enqueues its pupil with that activity's unit; coalescing merges the sets; NULL means every unit
-- (structural writes that change what counts for the whole pupil, the sweep, a requeue). A set that
-- would grow past 64 units becomes NULL: a whole-pupil recalculation is then the cheaper job.

alter table private.report_jobs add column unit_ids uuid[];
alter table private.report_jobs add constraint report_jobs_unit_ids_check check (
  unit_ids is null or cardinality(unit_ids) between 1 and 64
);
comment on column private.report_jobs.unit_ids is
'The units to recalculate, sorted and distinct; NULL: every unit of the pupil.';

alter table private.report_job_history add column unit_ids uuid[];
comment on column private.report_job_history.unit_ids is 'The units the attempt recalculated; NULL: every unit.';
