"""pg_cron's drain for real, in the database `make db-reset` reset (the one with pg_cron): a write made
by a bare RPC call becomes fresh through pg_cron alone, and `glue health` (psycopg and the API) says
what is wrong, exiting 1, when the drain is inactive, missing or failing on every run, and 0 when it
is healthy. Skipped, with the reason, where the database has no pg_cron or no running scheduler to
test (tests/sql/queue/schedule.test.sql then tests the verdicts on their facts).

The waits are correctness bounds (the drain's interval plus its run, on a busy machine), never
measurements of speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from glue_testing import A4, HELEN, PRIYA, one, rows, version
from rest_endpoint import RestEndpoint, mint_jwt

from glue import api
from glue.rpc import PgRpc
from glue_tools.paths import ROOT

RUN_ALLOWANCE_S = 30.0  # a drain run's start and its batch, on a machine shared by several test runs


def _health(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set role service_role")
        row = conn.execute("select public.report_queue_health()").fetchone()
    assert row is not None
    return dict(row[0])


@pytest.fixture(scope="module")
def cron_url(database_url: str) -> str:
    """The database `make db-reset` reset, when its pg_cron scheduler runs the drain there."""
    facts = _health(database_url)["drain"]
    if not facts.get("pg_cron"):
        pytest.skip("pg_cron is not installed in this database (the no-pg_cron path: schedule.test.sql, test_cli)")
    if not facts.get("scheduler_running"):
        pytest.fail("pg_cron is installed but its scheduler is not running: a reset stopped it (see glue health)")
    return database_url


def _interval_s(url: str) -> float:
    return float(_health(url)["drain"]["interval_s"])


def _wait_for(what: str, ready: Callable[[], bool], bound_s: float) -> None:
    deadline = time.monotonic() + bound_s
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {bound_s:.0f} s: {what}")
        time.sleep(0.25)


def glue(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "TELEM_", "DATABASE_URL"))}
    command = [sys.executable, "-m", "glue_tools", *(["--database-url", url] if env is None else []), *args]
    return subprocess.run(command, cwd=ROOT, env={**base, **(env or {})}, capture_output=True, text=True, timeout=60)


def _problems(done: subprocess.CompletedProcess[str]) -> list[str]:
    lines = done.stdout.splitlines()
    return [line.split(":")[0].removeprefix("PROBLEM ") for line in lines if line.startswith("PROBLEM ")]


def _runs_since(url: str, runid: int) -> list[tuple[int, str]]:
    """The drain job's runs from runid on (pg_cron's records), oldest first."""
    found = rows(
        url,
        "select r.runid, r.status from cron.job_run_details as r join cron.job as j using (jobid)"
        " where j.jobname = 'report-jobs-drain' and r.runid >= %s order by r.runid",
        (runid,),
    )
    return [(int(r[0]), str(r[1])) for r in found]


def _last_runid(url: str) -> int:
    return int(one(url, "select coalesce(max(runid), 0) from cron.job_run_details"))


def test_a_bare_rpc_write_is_fresh_through_pg_cron_alone(cron_url: str) -> None:
    """No worker, no fire-and-forget: a teacher's save through the RPC layer, as supabase-js makes it,
    then only pg_cron's drain. The report's version changes within the interval plus a run, and the
    job's history names pg_cron's drain as the one that ran it."""
    before = version(cron_url, PRIYA)
    current = one(
        cron_url, "select override_score from public.submissions where activity_id = %s and user_id = %s", (A4, PRIYA)
    )
    score = 0.25 if current is None or float(current) != 0.25 else 0.75  # a save that changes the report
    client = PgRpc(cron_url)
    try:
        saved = api.results_save_feedback(client.as_user(HELEN), A4, PRIYA, override_score=score, feedback="drain test")
    finally:
        client.close()
    assert saved["pupil_id"] == PRIYA
    bound = _interval_s(cron_url) + RUN_ALLOWANCE_S
    _wait_for("the report's version changed through pg_cron", lambda: version(cron_url, PRIYA) > before, bound)
    worker = one(
        cron_url,
        "select worker from private.report_job_history where pupil_id = %s order by finished_at desc limit 1",
        (PRIYA,),
    )
    assert str(worker).startswith("pg_cron:"), worker


def test_glue_health_is_healthy_and_exits_0(cron_url: str) -> None:
    done = glue(cron_url, "health")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "drain: pg_cron " in done.stdout
    assert "scheduler running" in done.stdout
    assert _problems(done) == []
    assert json.loads(glue(cron_url, "health", "--json").stdout)["queue"]["problems"] == []


@pytest.fixture
def restore_schedule(cron_url: str) -> Iterator[None]:
    yield
    assert glue(cron_url, "schedule").returncode == 0


def test_an_inactive_then_a_missing_drain_exit_1(cron_url: str, restore_schedule: None) -> None:
    with psycopg.connect(cron_url, autocommit=True) as conn:
        conn.execute("update cron.job set active = false where jobname = 'report-jobs-drain'")
    done = glue(cron_url, "health")
    assert done.returncode == 1
    assert _problems(done) == ["drain_inactive"]
    assert "`glue schedule` reactivates it" in done.stdout
    with psycopg.connect(cron_url, autocommit=True) as conn:
        conn.execute("select cron.unschedule('report-jobs-drain')")
    done = glue(cron_url, "health")
    assert done.returncode == 1
    assert _problems(done) == ["drain_missing"]
    done = glue(cron_url, "schedule")
    assert done.returncode == 0
    assert "scheduled report-jobs-drain: " in done.stdout
    assert glue(cron_url, "health").returncode == 0


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        ("every now", "'every now' is not a pg_cron schedule [PLV16]"),
        ("*/5 * * * *", "the drain interval '*/5 * * * *' is longer than the maximum of one minute [PLV16]"),
        ("90 seconds", "'90 seconds' is not a pg_cron schedule [PLV16]"),
    ],
)
def test_glue_schedule_refuses_a_bad_interval_and_changes_nothing(cron_url: str, interval: str, message: str) -> None:
    jobs = "select jobid, jobname, schedule, command, active from cron.job order by jobid"
    before = rows(cron_url, jobs)
    done = glue(cron_url, "schedule", "--interval", interval)
    assert done.returncode == 2
    assert done.stderr.startswith(f"glue: {message}"), done.stderr
    assert "Traceback" not in done.stderr
    assert rows(cron_url, jobs) == before


def test_a_drain_that_fails_on_every_run_exits_1_with_its_error(cron_url: str) -> None:
    """A revoked grant: the drain's runs fail in pg_cron (the running one at its next poll, every later
    one at once); health quotes the error. Once the grant is back, a run succeeds again."""
    revoke = "revoke execute on function private.report_jobs_claim(integer, text) from postgres"
    grant = "grant execute on function private.report_jobs_claim(integer, text) to postgres"
    interval = _interval_s(cron_url)
    since = _last_runid(cron_url)  # the run under way, if any, fails at its next poll
    with psycopg.connect(cron_url, autocommit=True) as conn:
        conn.execute(revoke)
    try:
        _wait_for(
            "a drain run failed",
            lambda: any(status == "failed" for _runid, status in _runs_since(cron_url, since)),
            interval + RUN_ALLOWANCE_S,
        )
        done = glue(cron_url, "health")
        assert done.returncode == 1
        assert "drain_failing" in _problems(done)
        assert "permission denied for function report_jobs_claim" in done.stdout
    finally:
        with psycopg.connect(cron_url, autocommit=True) as conn:
            conn.execute(grant)
    after = _last_runid(cron_url) + 1
    _wait_for(
        "a drain run after the grant did not fail",
        lambda: any(status != "failed" for _runid, status in _runs_since(cron_url, after)),
        interval + RUN_ALLOWANCE_S,
    )


def test_health_through_the_api_as_the_service_role(cron_url: str, restore_schedule: None) -> None:
    """`glue health` over PostgREST's protocol (supabase-py, the service role, its 8 s timeout):
    the same verdicts and exit codes."""
    endpoint = RestEndpoint(cron_url)
    env = {"SUPABASE_URL": endpoint.url, "SUPABASE_SERVICE_ROLE_KEY": mint_jwt({"role": "service_role"})}
    try:
        done = glue(cron_url, "health", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        with psycopg.connect(cron_url, autocommit=True) as conn:
            conn.execute("update cron.job set active = false where jobname = 'report-jobs-drain'")
        done = glue(cron_url, "health", env=env)
        assert done.returncode == 1
        assert _problems(done) == ["drain_inactive"]
    finally:
        endpoint.close()
