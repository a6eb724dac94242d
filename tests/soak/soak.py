"""The soak run (`make soak`): concurrent writers and workers for a bounded time, with worker
backends terminated mid-recalculation at random and one restart of the cluster during a drain.

Checks, and exits 1 if any fails:
- no write lost: every feedback write that returned is what the database holds (each writer owns
  its own cells, so "the last write" is well defined);
- no pupil recalculated by two sessions at once (job history intervals of one pupil never overlap);
- every pupil's cache equals the live computation after the final drain, except the poisoned pupil
  whose recalculation always fails, which is dead in the queue with its error visible.

It prints writes, recalculations, kills and restarts survived. It needs the embedded cluster (it
restarts it with scripts/localdb.sh) and creates and drops its own database.

`--mode pgbench` (`make soak SOAK_MODE=pgbench`): the writes come from pgbench at a fixed open-loop
rate (glue_tools.pgload: teachers' marks through results_save_feedback as PostgREST sends them),
in segments restarted whenever the server or a kill ends one, while the killer terminates worker and
pgbench backends and the cluster restarts once mid-load and once during the drain. What committed
is known from a write ledger: a trigger on public.submissions (in the soak's database only) records
every mark in the writing transaction, so a ledger row exists exactly when the write committed. Then
every cell holds its last committed mark, every pupil's cache equals the live computation (but the
poisoned one's), and the queue is empty (but the poisoned job, dead).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from glue import api  # noqa: E402
from glue.config import database_url  # noqa: E402
from glue.rpc import PgRpc, RpcError  # noqa: E402
from glue.worker import run as run_worker  # noqa: E402
from glue_tools import pgload, seed  # noqa: E402
from glue_tools.localdb import scratch_database  # noqa: E402
from glue_tools.migrate import migrate  # noqa: E402
from glue_tools.paths import LOCALDB  # noqa: E402


@dataclass
class Counters:
    writes: int = 0
    write_errors: int = 0
    kills: int = 0
    restarts: int = 0
    worker_errors: int = 0
    writer_kills: int = 0
    segments: int = 0
    segments_cut: int = 0
    logged: int = 0
    logged_failed: int = 0
    cut_reasons: list[str] = field(default_factory=list)
    last: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _say(msg: str) -> None:
    print(f"soak: {msg}", flush=True)


def _cells(db: str, count: int) -> list[tuple[str, str, str]]:
    """(teacher, pupil, activity) triples a teacher may mark, all distinct cells."""
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            """
            select distinct on (s.user_id, s.activity_id) t.user_id::text, s.user_id::text, s.activity_id::text
            from public.submissions as s
            join public.activities as a on a.activity_id = s.activity_id
            join public.group_membership as gm on gm.user_id = s.user_id and gm.role = 'pupil'
            join public.lesson_assignments as la on la.group_id = gm.group_id and la.lesson_id = a.lesson_id
            join public.group_membership as t on t.group_id = gm.group_id and t.role = 'teacher'
            order by s.user_id, s.activity_id, t.user_id
            """
        ).fetchall()
    random.shuffle(rows)
    return [(r[0], r[1], r[2]) for r in rows[:count]]


def _writer(rpc: PgRpc, cells: list[tuple[str, str, str]], stop: threading.Event, c: Counters) -> None:
    rng = random.Random()
    while not stop.is_set():
        teacher, pupil, activity = rng.choice(cells)
        score = round(rng.random(), 2)
        try:
            api.results_save_feedback(rpc.as_user(teacher), activity, pupil, override_score=score)
        except RpcError:
            with c.lock:
                c.write_errors += 1  # refused or the server was restarting: not written, not counted
            time.sleep(0.05)
            continue
        with c.lock:
            c.writes += 1
            c.last[(pupil, activity)] = score


def _killer(db: str, stop: threading.Event, every: float, c: Counters, writers_too: bool = False) -> None:
    """Terminate a backend that is busy running a worker's job or the drain, at random moments; with
    writers_too, one kill in three is of a pgbench writer's backend instead."""
    rng = random.Random()
    while not stop.wait(rng.uniform(0.5, 2 * every)):
        writer = writers_too and rng.random() < 1 / 3
        target = (
            "application_name = 'pgload'"
            if writer
            else "(query ilike '%report_jobs_run%' or query ilike '%report_jobs_process%'"
            " or query ilike '%report_jobs_drain%')"
        )
        try:
            with psycopg.connect(db, autocommit=True) as conn:
                row = conn.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity"
                    " where datname = current_database() and state = 'active' and pid <> pg_backend_pid()"
                    f" and {target} order by random() limit 1"
                ).fetchone()
            if row and row[0]:
                with c.lock:
                    if writer:
                        c.writer_kills += 1
                    else:
                        c.kills += 1
        except psycopg.Error:
            pass


def _drainer(db: str, stop: threading.Event, c: Counters) -> None:
    """The pg_cron path: two-phase claims with a lease (private.report_jobs_drain)."""
    while not stop.wait(0.3):
        try:
            with psycopg.connect(db, autocommit=True, application_name="soak-drain") as conn:
                conn.execute("call private.report_jobs_drain(20, 5)")
        except psycopg.Error:
            with c.lock:
                c.worker_errors += 1


def _restart(c: Counters) -> None:
    subprocess.run([str(LOCALDB), "restart"], check=True, capture_output=True)
    with c.lock:
        c.restarts += 1


def _query(db: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    for attempt in range(30):
        try:
            with psycopg.connect(db, autocommit=True) as conn:
                cur = conn.execute(sql.encode(), params)
                return cur.fetchall() if cur.description else []
        except psycopg.OperationalError:
            time.sleep(0.5 + attempt * 0.1)
    raise RuntimeError("the database did not come back")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the write phase (default 60)")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pupils", type=int, default=120)
    parser.add_argument("--kill-every", type=float, default=2.0, help="mean seconds between backend kills")
    parser.add_argument("--no-restart", action="store_true", help="skip the cluster restart(s)")
    parser.add_argument("--mode", choices=("threads", "pgbench"), default="threads", help="who writes (see above)")
    parser.add_argument("--rate", type=float, default=100.0, help="pgbench mode: writes per second (default 100)")
    args = parser.parse_args(argv)
    if args.mode == "pgbench":
        return main_pgbench(args)

    url = database_url()
    c = Counters()
    with scratch_database(url, "planner_soak") as db:
        migrate(db)
        seed.generate_and_load(db, pupils=args.pupils, seed=11)
        _query(db, "select private.report_merge(null)")
        _query(
            db,
            "update private.report_queue_settings set max_attempts = 3, backoff_base = '50 ms', "
            "backoff_max = '1 s', lease = '2 s'",
        )
        cells = _cells(db, 400)
        poison = cells[0][1]
        _query(
            db,
            "alter table public.report_pupil_unit_summaries add constraint soak_poison "
            f"check (pupil_id <> '{poison}') not valid",
        )
        _say(
            f"{args.pupils} pupils, {len(cells)} cells, {args.writers} writers, {args.workers} workers, "
            f"{args.seconds:.0f}s; pupil {poison[:8]} is poisoned (its recalculation always fails)"
        )
        shards = [cells[i :: args.writers] for i in range(args.writers)]
        shards[0].insert(0, cells[0])

        rpc = PgRpc(db, max_size=args.writers + args.workers + 2)
        stop_writes, stop_workers, stop_killer = threading.Event(), threading.Event(), threading.Event()
        writers = [threading.Thread(target=_writer, args=(rpc, s, stop_writes, c)) for s in shards]
        workers = [
            threading.Thread(
                target=lambda: run_worker(
                    PgRpc(db, max_size=2), batch_size=20, max_ms=200, idle_max=0.2, stop=stop_workers
                ),
            )
            for _ in range(args.workers)
        ]
        drainer = threading.Thread(target=_drainer, args=(db, stop_workers, c))
        killer = threading.Thread(target=_killer, args=(db, stop_killer, args.kill_every, c))
        started = time.monotonic()
        for t in writers:
            t.start()
        time.sleep(args.seconds * 0.3)  # let a backlog build before the workers start
        for t in [*workers, drainer, killer]:
            t.start()
        time.sleep(args.seconds * 0.7)
        stop_writes.set()
        for t in writers:
            t.join()
        _say(f"write phase over: {c.writes} writes ({c.write_errors} refused or interrupted), {c.kills} kills")
        if not args.no_restart:
            backlog = _query(db, "select count(*) from private.report_jobs where state <> 'dead'")[0][0]
            _say(f"restarting the cluster during the drain ({backlog} jobs waiting)")
            _restart(c)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            waiting = _query(db, "select count(*) from private.report_jobs where state <> 'dead'")[0][0]
            if waiting == 0:
                break
            time.sleep(0.5)
        stop_killer.set()
        stop_workers.set()
        for t in [*workers, drainer, killer]:
            t.join()
        rpc.close()

        # 1. No write lost.
        held = {
            (str(r[0]), str(r[1])): float(r[2])
            for r in _query(
                db,
                "select user_id, activity_id, override_score from public.submissions where override_score is not null",
            )
        }
        lost = [k for k, v in c.last.items() if held.get(k) != v]
        # 2. Nobody recalculated twice at once.
        overlaps = _query(
            db,
            """
            select count(*) from private.report_job_history as a
            join private.report_job_history as b
              on a.pupil_id = b.pupil_id and a.history_id < b.history_id
             and a.started_at < b.finished_at and b.started_at < a.finished_at
            """,
        )[0][0]
        # 3. Every pupil consistent but the poisoned one, which is dead with its error.
        sweep = _query(db, "select pupils_mismatched, mismatched_pupils from public.report_verify_sweep()")[0]
        mismatched = {str(p) for p in sweep[1]}
        # 4. Every class page: the changes still recorded are rebuilt, then each stored page must equal
        # the page derived from the cached rows.
        _query(db, "select private.report_groups_refresh(null)")
        stale_pages = _query(db, "select group_id, difference from private.report_group_differences(null)")
        dead = _query(db, "select pupil_id, last_error from private.report_jobs where state = 'dead' order by job_id")
        recalcs = _query(db, "select count(*) from private.report_job_history where outcome = 'done'")[0][0]
        elapsed = time.monotonic() - started

    ok = True
    _say(
        f"{c.writes} writes, {recalcs} recalculations, {c.kills} worker backends killed, "
        f"{c.restarts} cluster restart(s) survived, in {elapsed:.0f}s"
    )
    if lost:
        ok = False
        _say(f"FAIL: {len(lost)} writes lost, e.g. {lost[:3]}")
    else:
        _say(f"ok: no write lost ({len(c.last)} cells checked against their last write)")
    if overlaps:
        ok = False
        _say(f"FAIL: {overlaps} overlapping recalculations of one pupil")
    else:
        _say("ok: no pupil was recalculated by two sessions at once")
    if mismatched - {poison}:
        ok = False
        _say(f"FAIL: {len(mismatched - {poison})} pupils differ from the live computation")
    else:
        _say("ok: every pupil's cache equals the live computation (but the poisoned one)")
    if stale_pages:
        ok = False
        _say(f"FAIL: {len(stale_pages)} class pages differ from their cached rows, e.g. {stale_pages[:3]}")
    else:
        _say("ok: every class page equals the page derived from its cached rows")
    dead_poison = [d for d in dead if str(d[0]) == poison]
    if dead_poison and "soak_poison" in str(dead_poison[0][1]):
        _say(f"ok: the poisoned pupil's job is dead and shows its error: {str(dead_poison[0][1])[:90]}")
    else:
        ok = False
        _say(f"FAIL: expected the poisoned pupil dead with its error, found {dead}")
    _say("passed" if ok else "FAILED")
    return 0 if ok else 1


LEDGER = """
create schema soak;
create table soak.ledger (
  id bigserial primary key, pupil_id uuid not null, activity_id uuid not null, score numeric not null,
  at timestamptz not null default clock_timestamp()
);
create function soak.record() returns trigger language plpgsql as $$
begin
  if new.override_score is not null then
    insert into soak.ledger (pupil_id, activity_id, score) values (new.user_id, new.activity_id, new.override_score);
  end if;
  return new;
end
$$;
create trigger soak_ledger after insert or update of override_score on public.submissions
for each row execute function soak.record();
"""

# Cells whose held mark is not the last committed one. A cell's ledger ids follow its commit order:
# the trigger runs after the update took the row's lock, so a later writer takes a later id.
LOST = """
select count(*) from (
  select distinct on (l.pupil_id, l.activity_id) l.pupil_id, l.activity_id, l.score
  from soak.ledger as l order by l.pupil_id, l.activity_id, l.id desc
) as last
join public.submissions as s on s.user_id = last.pupil_id and s.activity_id = last.activity_id
where s.override_score is distinct from last.score
"""


def _load(spec: pgload.LoadSpec, stop: threading.Event, until: float, c: Counters) -> None:
    """pgbench segments of at most 10 s until `until`; a segment a restart or a kill cut short is
    followed by the next one (pgbench does not reconnect)."""
    while not stop.is_set() and time.monotonic() < until - 1:
        seconds = max(1, min(10, int(until - time.monotonic())))
        try:
            result = pgload.run(
                pgload.LoadSpec(
                    spec.url, rate=spec.rate, seconds=seconds, cells=spec.cells, clients=spec.clients, role=spec.role
                )
            )
        except (OSError, ValueError) as exc:
            _say(f"pgbench did not run: {exc}")
            time.sleep(1)
            continue
        with c.lock:
            c.segments += 1
            c.segments_cut += result.exit_code != 0
            c.logged += result.transactions
            c.logged_failed += result.failed
        if result.exit_code != 0:
            c.cut_reasons.append(f"exit {result.exit_code}: {'; '.join(result.errors[:2])[:200]}")
            time.sleep(0.5)  # the server may be restarting


def main_pgbench(args: argparse.Namespace) -> int:
    url = database_url()
    c = Counters()
    with scratch_database(url, "planner_soak") as db:
        migrate(db)
        seed.generate_and_load(db, pupils=args.pupils, seed=11)
        _query(db, "select private.report_merge(null)")
        _query(
            db,
            "update private.report_queue_settings set max_attempts = 3, backoff_base = '50 ms', "
            "backoff_max = '1 s', lease = '2 s'",
        )
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(LEDGER.encode())
        cells = pgload.markable_cells(db, args.pupils)
        poison = cells[0].pupil_id
        _query(
            db,
            "alter table public.report_pupil_unit_summaries add constraint soak_poison "
            f"check (pupil_id <> '{poison}') not valid",
        )
        with pgload.cells_table(db, cells) as n:
            _say(
                f"{args.pupils} pupils, {n} cells, pgbench at {args.rate:g} writes/s, {args.workers} workers, "
                f"{args.seconds:.0f}s; pupil {poison[:8]} is poisoned (its recalculation always fails)"
            )
            spec = pgload.LoadSpec(db, rate=args.rate, seconds=1, cells=n, clients=8, role="authenticated")
            stop_load, stop_workers, stop_killer = threading.Event(), threading.Event(), threading.Event()
            started = time.monotonic()
            load = threading.Thread(target=_load, args=(spec, stop_load, started + args.seconds, c))
            workers = [
                threading.Thread(
                    target=lambda: run_worker(
                        PgRpc(db, max_size=2), batch_size=20, max_ms=200, idle_max=0.2, stop=stop_workers
                    ),
                )
                for _ in range(args.workers)
            ]
            drainer = threading.Thread(target=_drainer, args=(db, stop_workers, c))
            killer = threading.Thread(target=_killer, args=(db, stop_killer, args.kill_every, c, True))
            for t in [load, *workers, drainer, killer]:
                t.start()
            if not args.no_restart:
                time.sleep(args.seconds * 0.5)
                _say("restarting the cluster under load")
                _restart(c)
            load.join()
            written = _query(db, "select count(*) from soak.ledger")[0][0]
            _say(
                f"write phase over: {written} writes committed (ledger), pgbench logged {c.logged} "
                f"({c.logged_failed} failed) in {c.segments} segments ({c.segments_cut} cut short), "
                f"{c.kills} worker and {c.writer_kills} writer backends killed"
            )
            for reason in c.cut_reasons[:5]:
                _say(f"a segment ended early: {reason}")
            if not args.no_restart:
                backlog = _query(db, "select count(*) from private.report_jobs where state <> 'dead'")[0][0]
                _say(f"restarting the cluster during the drain ({backlog} jobs waiting)")
                _restart(c)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                if _query(db, "select count(*) from private.report_jobs where state <> 'dead'")[0][0] == 0:
                    break
                time.sleep(0.5)
            stop_killer.set()
            stop_workers.set()
            for t in [*workers, drainer, killer]:
                t.join()
        lost = _query(db, LOST)[0][0]
        cells_written = _query(db, "select count(distinct (pupil_id, activity_id)) from soak.ledger")[0][0]
        sweep = _query(db, "select pupils_checked, mismatched_pupils from public.report_verify_sweep()")[0]
        mismatched = {str(p) for p in sweep[1]} - {poison}
        waiting = _query(db, "select count(*) from private.report_jobs where state <> 'dead'")[0][0]
        dead = _query(db, "select pupil_id::text, last_error from private.report_jobs where state = 'dead'")
        _query(db, "select private.report_groups_refresh(null)")
        stale_pages = _query(db, "select group_id, difference from private.report_group_differences(null)")
        overlaps = _query(
            db,
            """
            select count(*) from private.report_job_history as a
            join private.report_job_history as b
              on a.pupil_id = b.pupil_id and a.history_id < b.history_id
             and a.started_at < b.finished_at and b.started_at < a.finished_at
            """,
        )[0][0]
        recalcs = _query(db, "select count(*) from private.report_job_history where outcome = 'done'")[0][0]
        elapsed = time.monotonic() - started

    checks = [
        (
            lost == 0,
            f"no write lost: {cells_written} cells hold their last committed mark",
            f"{lost} cells lost a write",
        ),
        (
            not mismatched,
            f"every pupil's cache equals the live computation ({sweep[0]} pupils, the poisoned one aside)",
            f"{len(mismatched)} pupils differ from the live computation",
        ),
        (waiting == 0, "the queue is empty", f"{waiting} jobs still waiting"),
        (
            bool(dead) and all(d[0] == poison and "soak_poison" in str(d[1]) for d in dead),
            f"only the poisoned pupil's jobs are dead ({len(dead)}, one per write after the last died), with the error",
            f"dead jobs: {dead}",
        ),
        (not stale_pages, "every class page equals its cached rows", f"stale class pages: {stale_pages[:3]}"),
        (overlaps == 0, "no pupil was recalculated by two sessions at once", f"{overlaps} overlapping recalculations"),
        (
            c.logged <= written,
            "every write pgbench logged is in the ledger",
            f"{c.logged} logged > {written} committed",
        ),
    ]
    _say(
        f"{written} writes committed at {args.rate:g}/s target ({c.logged} logged by pgbench), {recalcs} "
        f"recalculations, {c.kills} worker and {c.writer_kills} writer backends killed, {c.restarts} cluster "
        f"restart(s) survived, in {elapsed:.0f}s"
    )
    for ok, good, bad in checks:
        _say(f"ok: {good}" if ok else f"FAIL: {bad}")
    passed = all(ok for ok, _g, _b in checks)
    _say("passed" if passed else "FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
