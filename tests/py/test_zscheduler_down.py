"""A pg_cron scheduler that is not running, for real: its launcher ended (as a dropped database ends
it), `glue health` names it and exits 1; restarting the server brings it back. It restarts the
embedded cluster, so this module runs last (its name sorts last) and only on the cluster of this
checkout; elsewhere it is skipped, with the reason."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from glue.config import Settings, admin_url
from glue_tools.paths import LOCALDB, ROOT


def _launcher_pids(url: str) -> set[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("select pid from pg_stat_activity where backend_type = 'pg_cron launcher'").fetchall()
    return {int(r[0]) for r in found}


def _health(url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "TELEM_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "glue_tools", "--database-url", url, "health"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _problems(done: subprocess.CompletedProcess[str]) -> list[str]:
    lines = done.stdout.splitlines()
    return [line.split(":")[0].removeprefix("PROBLEM ") for line in lines if line.startswith("PROBLEM ")]


def test_a_scheduler_that_is_not_running_exits_1_until_the_server_restarts(database_url: str) -> None:
    params = conninfo_to_dict(database_url)
    if str(params.get("host")) not in {"127.0.0.1", "localhost"} or str(params.get("port")) != str(
        Settings.from_env().pgport
    ):
        pytest.skip("not the embedded cluster of this checkout: the test must restart the server")
    before = _launcher_pids(database_url)
    if not before:
        pytest.fail("pg_cron's scheduler was not running before the test (glue health says why)")
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'pg_cron launcher'")
    try:
        # It ends when its loop next wakes (at the latest on the minute); pg_cron 1.6 then starts anew.
        deadline = time.monotonic() + 75
        while (pids := _launcher_pids(database_url)) and pids == before and time.monotonic() < deadline:
            time.sleep(0.5)
        if pids and pids != before:
            pytest.skip("this pg_cron restarts its scheduler when it is terminated: it cannot be left stopped")
        assert not pids, "the scheduler did not end within 75 s of being terminated"
        done = _health(database_url)
        assert done.returncode == 1
        assert _problems(done)[0] == "scheduler_not_running"
        assert "pg_cron is installed but its scheduler is not running" in done.stdout
        assert "scheduler DOWN" in done.stdout
    finally:
        subprocess.run([str(LOCALDB), "restart"], check=True, capture_output=True, timeout=120)
    deadline = time.monotonic() + 30
    while not _launcher_pids(database_url):
        assert time.monotonic() < deadline, "the scheduler did not come back after the restart"
        time.sleep(0.5)
    assert "scheduler_not_running" not in _problems(_health(database_url))
