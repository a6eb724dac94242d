"""`glue` (`python -m glue_tools`) as users run it (a subprocess), against the session's database: reports,
verification (and what it does about a tampered cache), queue health, backfill, migrate, and the
exit codes and messages when something is wrong. SUPABASE_URL is not set: the CLI uses psycopg."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from glue_testing import ALGORITHMS, PRIYA, UNKNOWN, add_group, add_pupils, execute, jobs, one, version

from glue import api
from glue.rpc import PgRpc
from glue_tools.localdb import scratch_database
from glue_tools.paths import ROOT
from glue_tools.supabase_cli import push

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/postgres"


def glue(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "TELEM_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "glue_tools", "--database-url", url, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_the_commands() -> None:
    done = subprocess.run([sys.executable, "-m", "glue_tools", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0
    for command in ("migrate", "backfill", "worker", "report", "verify", "health", "serve", "demo"):
        assert command in done.stdout


def test_report_pupil(glue_url: str) -> None:
    done = glue(glue_url, "report", "pupil", PRIYA)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Priya Patel  (report version ")
    (line,) = [x for x in done.stdout.splitlines() if "Algorithms" in x]
    assert "4M" in line.split()
    assert "75.0%" in line  # activities average
    assert "62.5%" in line  # assessment average


def test_report_pupil_criteria(glue_url: str) -> None:
    done = glue(glue_url, "report", "pupil", PRIYA, "--criteria")
    assert done.returncode == 0, done.stderr
    levels = [x.strip() for x in done.stdout.splitlines() if x.strip().startswith("level ")]
    (level_1,) = [x for x in levels if x.startswith("level 1: S1: I can say what an algor")]
    assert level_1.count("100.0%") == 2  # S1 and S2, both from A1 (right) and the teacher's S2 mark
    (level_2,) = [x for x in levels if x.startswith("level 2: S3: ")]
    assert "S4: " in level_2


def test_report_pupil_json(glue_url: str) -> None:
    done = glue(glue_url, "report", "pupil", PRIYA, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["pupil_id"] == PRIYA
    (unit,) = [u for s in report["subjects"] for u in s["units"] if u["unit_id"] == ALGORITHMS]
    assert (unit["assessment_level"], unit["activities_average"]) == ("4M", 0.75)


def test_report_unknown_pupil_exits_1_without_a_traceback(glue_url: str) -> None:
    done = glue(glue_url, "report", "pupil", UNKNOWN)
    assert done.returncode == 1
    assert f"glue: [PLN01] unknown pupil {UNKNOWN}" in done.stderr
    assert "detail: No profile has this user_id." in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_report_group(glue_url: str) -> None:
    done = glue(glue_url, "report", "group", "25-8A-CS")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Class 25-8A-CS (Computing): ")
    for name in ("Patel, Priya", "Adams, Ben", "Brown, Chloe", "Clarke, Daniel"):
        assert name in done.stdout
    assert "Davies, Emma" not in done.stdout  # 25-8B-CS
    (priya,) = [x for x in done.stdout.splitlines() if "Patel, Priya" in x]
    assert "4M 62.5%" in priya


def test_report_unknown_group_exits_1(glue_url: str) -> None:
    done = glue(glue_url, "report", "group", "99-NO-SUCH-CLASS")
    assert done.returncode == 1
    assert "[PLN02]" in done.stderr
    assert "Traceback" not in done.stderr


def test_verify_a_sample_and_one_pupil(glue_url: str) -> None:
    done = glue(glue_url, "verify", "--sample", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checked 5 pupils: 0 mismatched, 0 differences" in done.stdout
    done = glue(glue_url, "verify", "--pupil", PRIYA)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "0 differences"


def test_verify_finds_a_tampered_cache_row_and_enqueues_it(glue_url: str, pg_rpc: PgRpc) -> None:
    (pupil,) = add_pupils(glue_url, 1)  # a pupil of 25-8A-CS with nothing handed in: averages 0
    assert glue(glue_url, "verify", "--pupil", pupil).returncode == 0
    execute(
        glue_url,
        "update public.report_pupil_unit_summaries set activities_average = 0.4321"
        " where pupil_id = %s and unit_id = %s",
        (pupil, ALGORITHMS),
    )
    v0 = version(glue_url, pupil)
    try:
        done = glue(glue_url, "verify", "--pupil", pupil)
        assert done.returncode == 1
        assert f"unit {ALGORITHMS}: different" in done.stdout
        stored, live = (x.strip() for x in done.stdout.splitlines()[1:3])
        assert stored.startswith("stored ")
        assert "'activities_average': 0.4321" in stored
        assert live.startswith("live ")
        assert "'activities_average': 0.0" in live
        assert done.stdout.strip().endswith("1 differences")

        # Every pupil is checked, not a sample of the RPC's default 100: make sure there are more.
        everyone = int(one(glue_url, "select count(*) from private.report_backfill_pupils(null, null)"))
        if everyone <= 100:
            add_pupils(glue_url, 101 - everyone, add_group(glue_url, "VERIFY"))
            everyone = 101
        done = glue(glue_url, "verify", "--enqueue")
        assert done.returncode == 1
        assert done.stdout.startswith(f"checked {everyone} pupils: 1 mismatched (")
        assert "1 enqueued for recalculation" in done.stdout
        assert [(state, reason) for _job, state, reason in jobs(glue_url, pupil)] == [("pending", "verification sweep")]
    finally:
        result = api.report_process_pupil(pg_rpc, pupil)  # what a worker would do with the job
    assert result["outcome"] == "done"
    assert version(glue_url, pupil) == v0 + 1
    done = glue(glue_url, "verify", "--pupil", pupil)
    assert (done.returncode, done.stdout.strip()) == (0, "0 differences")


def test_health_without_pg_cron_says_so_and_exits_1(glue_url: str) -> None:
    """The session's scratch database has no pg_cron, as a new project (or one a reset left without
    it): health says so, with the recovery, and exits 1. (With pg_cron: tests/py/test_pg_cron_drain.py.)"""
    done = glue(glue_url, "health")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("queue: ")
    assert " 0 dead;" in done.stdout
    assert "PROBLEM pg_cron_absent: pg_cron is not installed in this database" in done.stdout
    assert "then run `glue schedule`" in done.stdout
    done = glue(glue_url, "health", "--json")
    assert done.returncode == 1
    queue = json.loads(done.stdout)["queue"]
    assert queue["dead"] == 0
    assert [p["problem"] for p in queue["problems"]] == ["pg_cron_absent"]


def test_health_exits_1_when_a_job_is_dead(glue_url: str) -> None:
    (pupil,) = add_pupils(glue_url, 1)
    execute(
        glue_url,
        "insert into private.report_jobs (pupil_id, reason, state, attempts, max_attempts, last_error,"
        " last_error_code, failed_at, dead_at) values (%s, 'test', 'dead', 5, 5, 'test: it kept failing', 'XX000',"
        " now(), now())",
        (pupil,),
    )
    try:
        done = glue(glue_url, "health")
        assert done.returncode == 1
        assert " 1 dead;" in done.stdout
        assert f"pupil {pupil}: dead after 5/5 attempts: [XX000] test: it kept failing" in done.stdout
        assert "PROBLEM dead_jobs: 1 job(s) dead" in done.stdout
    finally:
        execute(glue_url, "delete from private.report_jobs where pupil_id = %s", (pupil,))
    assert "PROBLEM dead_jobs" not in glue(glue_url, "health").stdout


def test_health_says_loudly_when_nothing_drains_and_schedule_needs_pg_cron(database_url: str) -> None:
    """A new project as Supabase makes it: pg_cron off when the migrations ran (scratch databases have
    no pg_cron), no worker running. A write's job waits, and nothing will ever run it."""
    with scratch_database(database_url, "planner_nodrain") as url:
        push(url)
        (pupil,) = add_pupils(url, 1, group_id=None)
        execute(url, "select private.report_enqueue(array[%s::uuid], 'test')", (pupil,))

        done = glue(url, "health")
        assert done.returncode == 1
        assert done.stdout.startswith("NOTHING DRAINS THE QUEUE")
        assert "glue schedule" in done.stdout
        assert json.loads(glue(url, "health", "--json").stdout)["queue"]["nothing_drains"] is True

        done = glue(url, "schedule")
        assert done.returncode == 1
        assert "pg_cron is not enabled in this database" in done.stderr
        assert "Enable it" in done.stderr
        assert "Traceback" not in done.stderr

        assert glue(url, "worker", "--until-empty").returncode == 0  # a worker drains it
        done = glue(url, "health")
        assert not done.stdout.startswith("NOTHING DRAINS THE QUEUE")
        assert done.returncode == 1  # pg_cron is still absent: said, with the recovery
        assert [line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("PROBLEM")] == [
            "PROBLEM pg_cron_absent"
        ]


def test_backfill(glue_url: str) -> None:
    done = glue(glue_url, "backfill", "--batch-size", "50")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("backfilled ")
    assert " pupils in " in done.stdout
    assert glue(glue_url, "verify").returncode == 0  # the backfill leaves the cache exact


def test_migrate_on_an_up_to_date_database(glue_url: str) -> None:
    done = glue(glue_url, "migrate")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "nothing to apply: the database is up to date"
    done = glue(glue_url, "migrate", "--status")
    assert (done.returncode, done.stdout.strip()) == (0, "0 pending")


@pytest.mark.parametrize(
    "args",
    [
        ("report", "pupil", PRIYA),
        ("verify", "--sample", "1"),
        ("health",),
        ("worker", "--until-empty"),
        ("backfill",),
        ("migrate",),
    ],
    ids=lambda args: args[0],
)
def test_an_unreachable_database_exits_3_with_a_readable_message(args: tuple[str, ...]) -> None:
    done = glue(UNREACHABLE, *args)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stderr.startswith("glue: cannot reach the database: ")
    assert "Connection refused" in done.stderr
    assert "Traceback" not in done.stderr
