"""The queue's locking and visibility, proved by interleaving two sessions step by step (as pgmq's
isolation specs do), never by sleeping: each step is a statement on one connection, the other's
state is read between steps, and a step that must wait for the other's lock is run with a
lock_timeout and must time out until the other commits.

- coalescing while a job runs: a write for a pupil whose job is claimed (running) makes a new
  pending job instead of joining the running one, so the write is never lost;
- SKIP LOCKED: two workers claiming at once get disjoint jobs, and neither waits;
- the lease: a worker that claimed a job and died leaves it running until its lease expires; the
  reap then fails it (PLQ02) and it is claimed again;
- a backfill keeps ANALYZE (autovacuum's or anyone's) off the cache tables while it runs, and the
  workers' merges go on beside it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from glue_testing import A4, ALGORITHMS, HELEN, add_pupils

FRACTIONS = "00000000-0000-4000-8000-000000000202"  # supabase/seed.sql: Maths, year 8


@pytest.fixture
def two(glue_url: str) -> Iterator[tuple[psycopg.Connection, psycopg.Connection]]:
    """Two sessions as the database owner (what a worker and a writer hold), outside transactions
    until a test opens them; the queue emptied before and after."""
    with psycopg.connect(glue_url, autocommit=True) as a, psycopg.connect(glue_url, autocommit=True) as b:
        a.execute("delete from private.report_jobs")
        yield a, b
        a.execute("rollback")
        b.execute("rollback")
        a.execute("delete from private.report_jobs")


def jobs_of(conn: psycopg.Connection, pupil: str) -> list[tuple[str, int]]:
    return [
        (str(state), int(coalesced))
        for state, coalesced in conn.execute(
            "select state::text, coalesced_count from private.report_jobs where pupil_id = %s order by job_id",
            (pupil,),
        ).fetchall()
    ]


def test_a_write_while_the_pupils_job_runs_makes_a_new_pending_job(
    glue_url: str, two: tuple[psycopg.Connection, psycopg.Connection]
) -> None:
    worker, writer = two
    (pupil,) = add_pupils(glue_url, 1)
    writer.execute("select private.report_enqueue(array[%s::uuid], 'write 1')", (pupil,))
    writer.execute("select private.report_enqueue(array[%s::uuid], 'write 2')", (pupil,))
    assert jobs_of(writer, pupil) == [("pending", 1)]  # two writes, one job

    # Step 1, worker: claim (the two-phase drain commits the claim: the job is running).
    claimed = worker.execute("select private.report_jobs_claim(10, 'isolation-worker')").fetchall()
    assert len(claimed) == 1
    # Step 2, writer: a write arrives while the job runs.
    writer.execute("select private.report_enqueue(array[%s::uuid], 'write 3')", (pupil,))
    assert jobs_of(writer, pupil) == [("running", 1), ("pending", 0)]
    # Step 3, worker: the running job is done; the new write's job stays.
    worker.execute("select private.report_job_run(%s, 'isolation-worker')", (claimed[0][0],))
    assert jobs_of(writer, pupil) == [("pending", 0)]
    # Step 4, another claim while nothing runs for the pupil picks the new job up.
    assert len(worker.execute("select private.report_jobs_claim(10, 'isolation-worker')").fetchall()) == 1


def test_two_workers_claim_disjoint_jobs_without_waiting(
    glue_url: str, two: tuple[psycopg.Connection, psycopg.Connection]
) -> None:
    first, second = two
    pupils = add_pupils(glue_url, 4)
    first.execute("select private.report_enqueue(%s::uuid[], 'isolation')", (pupils,))

    # Step 1, first worker: claim two jobs in a transaction that stays open (rows locked).
    first.execute("begin")
    mine = {r[0] for r in first.execute("select private.report_jobs_claim(2, 'worker-1')").fetchall()}
    assert len(mine) == 2
    # Step 2, second worker: claims at once (SKIP LOCKED: no wait even with a 100 ms lock_timeout)
    # and gets the other two, not the first's.
    second.execute("begin")
    second.execute("set local lock_timeout = '100ms'")
    theirs = {r[0] for r in second.execute("select private.report_jobs_claim(10, 'worker-2')").fetchall()}
    assert len(theirs) == 2
    assert not mine & theirs
    # Step 3: the second cannot see the first's claims as running yet (not committed), and a third
    # claim by it finds nothing left.
    assert second.execute("select count(*) from private.report_jobs where locked_by = 'worker-1'").fetchone() == (0,)
    assert second.execute("select private.report_jobs_claim(10, 'worker-2')").fetchall() == []
    first.execute("commit")
    second.execute("commit")
    states = first.execute("select locked_by, count(*) from private.report_jobs group by 1 order by 1").fetchall()
    assert states == [("worker-1", 2), ("worker-2", 2)]


def test_the_job_of_a_killed_worker_is_reaped_after_its_lease_and_claimed_again(
    glue_url: str, two: tuple[psycopg.Connection, psycopg.Connection]
) -> None:
    watcher, _unused = two
    (pupil,) = add_pupils(glue_url, 1)
    watcher.execute("select private.report_enqueue(array[%s::uuid], 'isolation')", (pupil,))
    # Step 1, a worker claims the job (committed: running, with a lease) and is killed.
    with psycopg.connect(glue_url, autocommit=True) as doomed:
        (job_id,) = doomed.execute("select private.report_jobs_claim(1, 'doomed-worker')").fetchone() or (None,)
        assert job_id is not None
        pid = doomed.info.backend_pid
        watcher.execute("select pg_terminate_backend(%s)", (pid,))
    # Step 2, while the lease lasts the job stays running: the reap leaves it, nobody else claims it.
    assert watcher.execute("select private.report_jobs_reap()").fetchone() == (0,)
    assert watcher.execute("select private.report_jobs_claim(1, 'rescuer')").fetchall() == []
    assert jobs_of(watcher, pupil) == [("running", 0)]
    # Step 3, the lease runs out (moved into the past, instead of waiting five minutes).
    watcher.execute(
        "update private.report_jobs set lease_expires_at = now() - interval '1 second' where job_id = %s", (job_id,)
    )
    assert watcher.execute("select private.report_jobs_reap()").fetchone() == (1,)
    failed = watcher.execute(
        "select state::text, last_error_code, attempts from private.report_jobs where job_id = %s", (job_id,)
    ).fetchone()
    assert failed == ("failed", "PLQ02", 1)
    # Step 4, once its backoff is over the job is claimed again and runs.
    watcher.execute("update private.report_jobs set run_after = now() where job_id = %s", (job_id,))
    assert watcher.execute("select private.report_jobs_claim(1, 'rescuer')").fetchall() == [(job_id,)]
    outcome = watcher.execute("select private.report_job_run(%s, 'rescuer')", (job_id,)).fetchone()
    assert outcome is not None
    assert jobs_of(watcher, pupil) == []


def units_of(conn: psycopg.Connection, pupil: str) -> list[tuple[str, list[str] | None]]:
    """The pupil's jobs as (state, sorted unit set or None for every unit), oldest first."""
    return [
        (str(state), None if units is None else sorted(str(u) for u in units))
        for state, units in conn.execute(
            "select state::text, unit_ids from private.report_jobs where pupil_id = %s order by job_id", (pupil,)
        ).fetchall()
    ]


def mark_as_helen(conn: psycopg.Connection, pupil: str, score: float) -> None:
    """Helen marks the pupil's answer to A4 (unit 'Algorithms') through the RPC, committed."""
    with conn.transaction():
        conn.execute("set local role authenticated")
        conn.execute(
            "select set_config('request.jwt.claims', %s, true)",
            (f'{{"sub": "{HELEN}", "role": "authenticated"}}',),
        )
        conn.execute("select public.results_save_feedback(%s::uuid, %s::uuid, %s::numeric)", (A4, pupil, score))


def differences(conn: psycopg.Connection, pupil: str) -> int:
    return int(
        (conn.execute("select count(*) from private.report_differences(array[%s::uuid])", (pupil,)).fetchone() or (0,))[
            0
        ]
    )


def test_a_write_committed_while_its_units_job_computes_is_redone(
    glue_url: str, two: tuple[psycopg.Connection, psycopg.Connection]
) -> None:
    worker, writer = two
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    writer.execute(
        "select private.report_enqueue(array[%s::uuid], 'a mark', array[%s::uuid, %s::uuid])",
        (pupil, ALGORITHMS, FRACTIONS),
    )
    # Step 1, worker: claims the job for {Algorithms, Fractions} and computes it in a transaction
    # that it has not committed yet (the computation read the pupil's work before the mark below).
    (job_id,) = worker.execute("select private.report_jobs_claim(1, 'isolation-worker')").fetchone() or (None,)
    worker.execute("begin")
    worker.execute("select private.report_job_run(%s, 'isolation-worker')", (job_id,))
    # Step 2, writer: Helen marks A4 (Algorithms) and commits without waiting for the worker.
    writer.execute("set lock_timeout = '2s'")
    mark_as_helen(writer, pupil, 0.5)
    # The mark made a new job for the written unit only, beside the one that is computing.
    assert units_of(writer, pupil) == [("running", sorted([ALGORITHMS, FRACTIONS])), ("pending", [ALGORITHMS])]
    # Step 3, worker: commits a result computed before the mark; the cache is one mark behind.
    worker.execute("commit")
    assert units_of(writer, pupil) == [("pending", [ALGORITHMS])]
    assert differences(writer, pupil) > 0
    # Step 4: the pending job redoes Algorithms and the cache is exact, with the mark counted.
    (job_id,) = worker.execute("select private.report_jobs_claim(1, 'isolation-worker')").fetchone() or (None,)
    worker.execute("select private.report_job_run(%s, 'isolation-worker')", (job_id,))
    assert units_of(writer, pupil) == []
    assert differences(writer, pupil) == 0
    marked = writer.execute(
        "select marked_count from public.report_pupil_unit_summaries where pupil_id = %s and unit_id = %s",
        (pupil, ALGORITHMS),
    ).fetchone()
    assert marked == (1,)


def test_a_job_for_two_units_and_a_later_write_to_a_third_coalesce(
    glue_url: str, two: tuple[psycopg.Connection, psycopg.Connection]
) -> None:
    worker, writer = two
    (pupil,) = add_pupils(glue_url, 1, submit_a4=True)
    other = str(uuid.uuid4())  # a unit id with no work: a job for it has nothing to recompute
    writer.execute(
        "select private.report_enqueue(array[%s::uuid], 'marks', array[%s::uuid, %s::uuid])",
        (pupil, FRACTIONS, other),
    )
    # A pending job {Fractions, other} and a later write to Algorithms: one job for the three.
    mark_as_helen(writer, pupil, 0.75)
    assert units_of(writer, pupil) == [("pending", sorted([ALGORITHMS, FRACTIONS, other]))]
    # Claimed and running, a job takes no more units: the next write to Algorithms waits apart,
    # and a later write to Fractions joins that waiting job, not the running one.
    (job_id,) = worker.execute("select private.report_jobs_claim(1, 'isolation-worker')").fetchone() or (None,)
    mark_as_helen(writer, pupil, 0.25)
    writer.execute("select private.report_enqueue(array[%s::uuid], 'a mark', array[%s::uuid])", (pupil, FRACTIONS))
    assert units_of(writer, pupil) == [
        ("running", sorted([ALGORITHMS, FRACTIONS, other])),
        ("pending", sorted([ALGORITHMS, FRACTIONS])),
    ]
    worker.execute("select private.report_job_run(%s, 'isolation-worker')", (job_id,))
    (job_id,) = worker.execute("select private.report_jobs_claim(1, 'isolation-worker')").fetchone() or (None,)
    worker.execute("select private.report_job_run(%s, 'isolation-worker')", (job_id,))
    assert units_of(writer, pupil) == []
    assert differences(writer, pupil) == 0
    score = writer.execute(
        "select override_score from public.submissions where user_id = %s and activity_id = %s", (pupil, A4)
    ).fetchone()
    assert score is not None
    assert float(score[0]) == 0.25


CACHE_TABLES = (
    "public.report_pupil_versions",
    "public.report_pupil_unit_summaries",
    "public.report_pupil_criterion_scores",
    "public.report_pupil_subject_summaries",
    "public.report_pupil_unit_documents",
    "public.report_pupil_subject_documents",
)


def test_a_backfill_keeps_analyze_off_the_cache_tables_and_workers_go_on(
    glue_url: str, two: tuple[psycopg.Connection, psycopg.Connection]
) -> None:
    backfill, other = two
    pupils = add_pupils(glue_url, 3)
    # Step 1, backfill: a run over several pupils, its transaction open.
    backfill.execute("begin")
    backfill.execute("select private.report_merge(%s::uuid[])", (pupils[:2],))
    # Step 2, other session: ANALYZE as autovacuum runs it (SKIP_LOCKED) skips every cache table.
    notices: list[str] = []
    other.add_notice_handler(lambda d: notices.append(str(d.message_primary)))
    other.execute(f"analyze (skip_locked) {', '.join(CACHE_TABLES)}")
    assert len([n for n in notices if n.startswith("skipping analyze of")]) == len(CACHE_TABLES), notices
    # Step 3, other session: a worker's merge of another pupil does not wait for the backfill.
    other.execute("set lock_timeout = '200ms'")
    other.execute("select private.report_recalculate_pupil(%s)", (pupils[2],))
    other.execute("reset lock_timeout")
    backfill.execute("commit")
    # After the backfill ANALYZE takes the tables again.
    notices.clear()
    other.execute(f"analyze (skip_locked) {', '.join(CACHE_TABLES)}")
    assert notices == []


def test_one_pupils_merge_leaves_analyze_alone(
    glue_url: str, two: tuple[psycopg.Connection, psycopg.Connection]
) -> None:
    worker, other = two
    (pupil,) = add_pupils(glue_url, 1)
    worker.execute("begin")
    worker.execute("select private.report_recalculate_pupil(%s)", (pupil,))
    notices: list[str] = []
    other.add_notice_handler(lambda d: notices.append(str(d.message_primary)))
    other.execute(f"analyze (skip_locked) {', '.join(CACHE_TABLES)}")
    assert notices == []
    worker.execute("commit")


def test_a_jobs_transaction_commits_asynchronously_and_a_writes_never_does(
    glue_url: str, two: tuple[psycopg.Connection, psycopg.Connection]
) -> None:
    session, _ = two

    def commit_mode_after(*statements: tuple[str, tuple[object, ...]]) -> str:
        session.execute("begin")
        for query, params in statements:
            session.execute(query, params)
        row = session.execute("select current_setting('synchronous_commit')").fetchone()
        session.execute("commit")
        assert row is not None
        return str(row[0])

    (pupil,) = add_pupils(glue_url, 1)
    enqueue = ("select private.report_enqueue(array[%s::uuid], 'commit mode')", (pupil,))
    # A transaction that starts with the job: derived rows and the job's state, lost together.
    session.execute(*enqueue)
    assert commit_mode_after(("select public.report_process_pupil(%s)", (pupil,))) == "off"
    session.execute(*enqueue)
    assert commit_mode_after(("select public.report_jobs_process(10, 100)", ())) == "off"
    # The worker's two phases: the claim (lost in a crash, its jobs are waiting as before) and the run.
    session.execute(*enqueue)
    assert commit_mode_after(("select public.report_jobs_claim(10)", ())) == "off"
    claimed = session.execute("select job_id from private.report_jobs where pupil_id = %s", (pupil,)).fetchone()
    assert claimed is not None
    assert commit_mode_after(("select public.report_jobs_run(%s)", (claimed[0],))) == "off"
    assert commit_mode_after(("select public.report_jobs_refresh_groups(10, 100)", ())) == "off"
    # A transaction that wrote first (here the enqueue, as a write RPC does) keeps waiting for its WAL.
    assert commit_mode_after(enqueue, ("select public.report_process_pupil(%s)", (pupil,))) == "on"
    assert commit_mode_after(enqueue, ("select public.report_jobs_process(10, 100)", ())) == "on"
    # And the next transaction of the session is synchronous again.
    assert commit_mode_after(("select 1", ())) == "on"


def test_a_job_put_back_while_a_write_enqueues_its_pupil_folds_into_the_writes_job(
    glue_url: str, two: tuple[psycopg.Connection, psycopg.Connection]
) -> None:
    """The worker gives a claimed job back (report_jobs_release) while a write for the same pupil has
    enqueued a waiting job but not committed: the put-back cannot see that job, waits on the unique
    key of waiting jobs, and once the write commits folds into it instead of failing."""
    worker, writer = two
    (pupil,) = add_pupils(glue_url, 1)
    writer.execute("select private.report_enqueue(array[%s::uuid], 'write 1', array[%s::uuid])", (pupil, FRACTIONS))
    (claimed,) = worker.execute("select private.report_jobs_claim(10, 'isolation-worker')").fetchall()
    assert jobs_of(worker, pupil) == [("running", 0)]

    writer.execute("begin")
    writer.execute("select private.report_enqueue(array[%s::uuid], 'write 2', array[%s::uuid])", (pupil, ALGORITHMS))
    outcome: list[object] = []

    def release() -> None:
        with psycopg.connect(glue_url, autocommit=True) as conn:
            try:
                outcome.append(conn.execute("select public.report_jobs_release(%s)", (claimed[0],)).fetchone())
            except psycopg.Error as exc:
                outcome.append(exc)

    thread = threading.Thread(target=release)
    thread.start()
    thread.join(timeout=1.0)
    assert thread.is_alive()  # the put-back waits for the write's uncommitted waiting job
    writer.execute("commit")
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert not isinstance(outcome[0], psycopg.Error), outcome[0]
    assert jobs_of(worker, pupil) == [("pending", 1)]  # one waiting job: the write's, with the claimed one's
    assert sorted(u for _, units in units_of(worker, pupil) for u in units or []) == sorted([FRACTIONS, ALGORITHMS])
