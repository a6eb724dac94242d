"""glue.worker against the session's database: it drains the queue, several workers side by side
never run a job twice nor a pupil twice at once, a stop request ends it after the batch, an idle
worker polls and picks up a new job, a write sends no NOTIFY, a write to a pupil whose job a worker
has claimed does not wait for it, and `glue worker` stops cleanly on SIGTERM and SIGINT."""

from __future__ import annotations

import itertools
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from glue_testing import add_group, add_pupils, enqueue, execute, one, rows

from glue import api, worker
from glue.rpc import PgRpc
from glue_tools.paths import ROOT


@pytest.fixture(scope="module")
def group(glue_url: str) -> str:
    """A class of this module's own making: its pupils have real reports to recalculate."""
    return add_group(glue_url, "WORKER")


@pytest.fixture
def empty_queue(glue_url: str, pg_rpc: PgRpc) -> Iterator[None]:
    """Start from a drained queue (whatever ran before), and leave one."""
    worker.run(pg_rpc, until_empty=True, idle_min=0.01)
    assert _due(glue_url) == 0
    yield
    worker.run(pg_rpc, until_empty=True, idle_min=0.01)


def _due(url: str) -> int:
    return int(one(url, "select count(*) from private.report_jobs where state in ('pending', 'failed')"))


def _waiting(url: str, pupils: list[str]) -> int:
    return int(one(url, "select count(*) from private.report_jobs where pupil_id = any(%s::uuid[])", (pupils,)))


def _history(url: str, pupils: list[str]) -> list[tuple[Any, ...]]:
    """(job_id, pupil_id, outcome, started_at, finished_at) of the pupils' processed jobs."""
    return rows(
        url,
        "select job_id, pupil_id::text, outcome, started_at, finished_at from private.report_job_history"
        " where pupil_id = any(%s::uuid[]) order by pupil_id, started_at",
        (pupils,),
    )


@pytest.mark.usefixtures("empty_queue")
def test_run_until_empty_processes_every_job(glue_url: str, pg_rpc: PgRpc, group: str) -> None:
    pupils = add_pupils(glue_url, 40, group)
    assert enqueue(glue_url, pupils) == 40
    batches: list[dict[str, Any]] = []
    stats = worker.run(pg_rpc, batch_size=15, until_empty=True, idle_min=0.01, on_batch=batches.append)
    assert (stats.processed, stats.done, stats.failed, stats.dead, stats.errors) == (40, 40, 0, 0, 0)
    assert stats.batches == len(batches)
    # Claims of 15, 15 and 10; then the class pages those jobs changed; then a round that finds nothing.
    assert [b["processed"] for b in batches if b["processed"]] == [15, 15, 10]
    assert [b["remaining"] for b in batches if b["processed"]] == [25, 10, 0]
    assert batches[3]["groups_refreshed"] >= 1
    assert (batches[-1]["processed"], batches[-1]["groups_refreshed"], batches[-1]["remaining"]) == (0, 0, 0)
    assert int(one(glue_url, "select count(*) from private.report_group_changes")) == 0
    assert _waiting(glue_url, pupils) == 0
    assert _due(glue_url) == 0
    history = _history(glue_url, pupils)
    assert sorted(h[1] for h in history) == sorted(pupils)
    assert {h[2] for h in history} == {"done"}


@pytest.mark.usefixtures("empty_queue")
def test_two_workers_side_by_side_run_each_job_once(glue_url: str, group: str) -> None:
    pupils = add_pupils(glue_url, 60, group)
    assert enqueue(glue_url, pupils) == 60
    first_batch = threading.Event()

    def on_batch(result: dict[str, Any]) -> None:
        if result["processed"]:
            first_batch.set()

    stats: list[worker.WorkerStats] = []
    clients = [PgRpc(glue_url, max_size=1), PgRpc(glue_url, max_size=1)]

    def drain(client: PgRpc) -> None:
        stats.append(worker.run(client, batch_size=4, until_empty=True, idle_min=0.01, on_batch=on_batch))

    threads = [threading.Thread(target=drain, args=(c,)) for c in clients]
    try:
        for t in threads:
            t.start()
        # While the workers run, pupils already recalculated are written to again: a second job each.
        assert first_batch.wait(20)
        again = sorted({h[1] for h in _history(glue_url, pupils)})
        assert again
        assert enqueue(glue_url, again, "test: second write") == len(again)
        for t in threads:
            t.join(30)
            assert not t.is_alive()
    finally:
        for c in clients:
            c.close()
    late_client = PgRpc(glue_url, max_size=1)  # for jobs enqueued after both workers had finished
    try:
        late = worker.run(late_client, until_empty=True, idle_min=0.01)
    finally:
        late_client.close()
    assert _waiting(glue_url, pupils) == 0

    history = _history(glue_url, pupils)
    job_ids = [h[0] for h in history]
    assert len(job_ids) == len(set(job_ids)) == 60 + len(again)  # every job exactly once
    assert {h[2] for h in history} == {"done"}
    assert sum(s.done for s in stats) + late.done == len(history)
    assert sum(s.errors for s in stats) == 0
    by_pupil: dict[str, list[tuple[Any, ...]]] = {}
    for h in history:
        by_pupil.setdefault(h[1], []).append(h)
    assert sorted(len(v) for v in by_pupil.values()) == sorted([1] * (60 - len(again)) + [2] * len(again))
    for runs in by_pupil.values():  # one pupil is never recalculated by two sessions at once
        for earlier, later in itertools.pairwise(runs):
            assert later[3] >= earlier[4], f"overlapping runs for pupil {earlier[1]}: {earlier} and {later}"


@pytest.mark.usefixtures("empty_queue")
def test_stop_ends_the_worker_after_the_batch(glue_url: str, pg_rpc: PgRpc, group: str) -> None:
    pupils = add_pupils(glue_url, 12, group)
    enqueue(glue_url, pupils)
    stop = threading.Event()
    seen: list[dict[str, Any]] = []

    def on_batch(result: dict[str, Any]) -> None:
        seen.append(result)
        stop.set()

    stats = worker.run(pg_rpc, batch_size=5, stop=stop, on_batch=on_batch)
    assert stats.batches == len(seen) == 1
    assert stats.processed == stats.done == 5
    assert seen[0]["remaining"] == 7
    assert _waiting(glue_url, pupils) == 7


@pytest.mark.usefixtures("empty_queue")
def test_an_idle_worker_polls_and_picks_up_a_new_job(glue_url: str, pg_rpc: PgRpc, group: str) -> None:
    (pupil,) = add_pupils(glue_url, 1, group)
    batches: queue.Queue[dict[str, Any]] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run,
        args=(pg_rpc,),
        kwargs={"idle_min": 0.01, "idle_max": 0.05, "stop": stop, "on_batch": batches.put},
    )
    thread.start()
    try:
        first = batches.get(timeout=10)
        assert (first["processed"], first["remaining"]) == (0, 0)
        enqueue(glue_url, [pupil])
        while (found := batches.get(timeout=10))["processed"] == 0:
            assert found["remaining"] == 0
        assert (found["processed"], found["done"]) == (1, 1)
        assert _waiting(glue_url, [pupil]) == 0
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_a_write_sends_no_notification(glue_url: str, group: str) -> None:
    """Every transaction that NOTIFYs takes PostgreSQL's one notification lock at its commit: the
    enqueue in every write must not, so a session listening on the old channel hears nothing."""
    (pupil,) = add_pupils(glue_url, 1, group)
    with psycopg.connect(glue_url, autocommit=True) as listener:
        listener.execute("listen report_jobs")
        assert enqueue(glue_url, [pupil]) == 1
        listener.execute("listen report_jobs_test_marker")
        execute(glue_url, "select pg_notify('report_jobs_test_marker', 'marker')")
        heard = [n.channel for n in listener.notifies(timeout=10, stop_after=1)]
    assert heard == ["report_jobs_test_marker"]


@pytest.mark.usefixtures("empty_queue")
def test_a_write_to_a_claimed_pupil_does_not_wait_for_the_worker(glue_url: str, pg_rpc: PgRpc, group: str) -> None:
    """Phase one committed (the job is running); while the worker's run transaction holds the job,
    a write to the same pupil enqueues a new waiting job at once (lock_timeout would fail it)."""
    (pupil,) = add_pupils(glue_url, 1, group)
    enqueue(glue_url, [pupil])
    claim = api.report_jobs_claim(pg_rpc, 10)
    (job_id,) = claim["job_ids"]
    with psycopg.connect(glue_url) as held, psycopg.connect(glue_url, autocommit=True) as writer:
        held.execute("select private.report_job_run(%s, 'test-held')", (job_id,))  # uncommitted: rows held
        writer.execute("set lock_timeout = '2s'")
        assert writer.execute(
            "select private.report_enqueue(array[%s]::uuid[], 'test: write')", (pupil,)
        ).fetchone() == (1,)
        held.rollback()
    states = rows(glue_url, "select state::text from private.report_jobs where pupil_id = %s order by job_id", (pupil,))
    assert states == [("running",), ("pending",)]
    assert api.report_jobs_run(pg_rpc, job_id)["outcome"] == "done"
    assert rows(glue_url, "select state::text from private.report_jobs where pupil_id = %s", (pupil,)) == [("pending",)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.usefixtures("empty_queue")
def test_glue_worker_stops_cleanly_on_a_signal(glue_url: str, signum: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "TELEM_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "glue_tools", "--database-url", glue_url, "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "glue worker printed nothing"
        assert proc.stdout.readline().startswith("worker: draining report jobs")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("worker: ")
    assert " batches, " in summary
    assert summary.endswith(" errors")
