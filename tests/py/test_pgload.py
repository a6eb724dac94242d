"""glue_tools.pgload: pgbench writes through the write RPC, and its logs counted as the database did."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from glue_tools import pgload
from glue_tools.localdb import scratch_database
from glue_tools.seed import generate_and_load
from glue_tools.supabase_cli import push

WRITES_COUNTED = """
select coalesce(sum(j.coalesced_count + 1), 0)::integer
from private.report_jobs as j
where j.reason = 'feedback'
"""


@pytest.fixture(scope="module")
def school(database_url: str) -> Iterator[str]:
    """A migrated scratch database with a generated school of 40 pupils and an empty queue."""
    with scratch_database(database_url, "planner_pgload") as url:
        push(url)
        generate_and_load(url, pupils=40, seed=3)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("delete from private.report_jobs")
        yield url


def _writes(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(WRITES_COUNTED).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("role", ["service_role", "authenticated"])
def test_every_logged_transaction_is_one_write_in_the_database(school: str, role: str, tmp_path: Path) -> None:
    """Nothing drains the queue here, so every write is an enqueue or a coalesce into its pupil's
    waiting job: the sum of (coalesced_count + 1) counts the writes that committed."""
    cells = pgload.markable_cells(school, 40)
    assert len(cells) >= 20
    before = _writes(school)
    with pgload.cells_table(school, cells) as n:
        result = pgload.run(
            pgload.LoadSpec(school, rate=40, seconds=2, cells=n, clients=4, role=role), keep_dir=tmp_path
        )
    assert result.exit_code == 0, result.errors
    assert result.failed == 0
    assert result.errors == []
    assert result.transactions > 0
    assert _writes(school) - before == result.transactions
    assert result.rate == result.transactions / 2
    assert 0 < result.latency_ms_p50 <= result.latency_ms_p95 <= result.latency_ms_max
    assert result.cpu_s > 0
    assert (tmp_path / "write.sql").read_text(encoding="utf-8").count("results_save_feedback") == 1
    with psycopg.connect(school, autocommit=True) as conn:
        assert conn.execute("select to_regnamespace('pgload')").fetchone() == (None,)


def test_fire_and_forget_recalculates_what_it_wrote(school: str) -> None:
    """With fire_and_forget the client recalculates its pupil after each write. One client, so no
    write lands while another recalculates: each write's job is done before the next write."""
    cells = pgload.markable_cells(school, 40)
    with psycopg.connect(school, autocommit=True) as conn:
        conn.execute("delete from private.report_jobs")
        done_before = conn.execute("select count(*) from private.report_job_history where outcome = 'done'").fetchone()
    with pgload.cells_table(school, cells) as n:
        result = pgload.run(pgload.LoadSpec(school, rate=20, seconds=2, cells=n, clients=1, fire_and_forget=True))
    assert result.exit_code == 0, result.errors
    assert result.transactions > 0
    with psycopg.connect(school, autocommit=True) as conn:
        waiting = conn.execute("select count(*) from private.report_jobs").fetchone()
        done_after = conn.execute("select count(*) from private.report_job_history where outcome = 'done'").fetchone()
    assert waiting == (0,)
    assert done_before is not None
    assert done_after is not None
    assert done_after[0] - done_before[0] == result.transactions


def test_parse_logs_counts_failed_and_skipped(tmp_path: Path) -> None:
    log = tmp_path / "pgbench_log.1"
    log.write_text(
        "0 1 2500 0 1796654146 501927 213\n0 2 failed 0 1796654146 601927 100\n1 1 skipped 0 1796654146 1 5\n"
        "1 2 7500 0 1796654146 701927 1000\n",
        encoding="utf-8",
    )
    summary = pgload.parse_logs([log])
    assert summary.latencies_ms == [2.5, 7.5]
    assert summary.lags_ms == [0.213, 1.0]
    assert (summary.failed, summary.skipped) == (1, 1)
    assert pgload.percentile(summary.latencies_ms, 0.5) == 5.0
