"""Property-based consistency (hypothesis), on the demo school (supabase/seed.sql); the operations and
the runner are in properties_support.py.

1. Random sequences of every write RPC, structural ones and releases of feedback included, some invalid
   on purpose, interleaved with partial drains of the queue, each through the RPC layer (glue). After
   a full drain:
   - every pupil's cached report equals the live computation (report_verify_sweep, report_differences);
   - a ResultsMatrix that followed the broadcasts of one assignment for the whole example equals a fresh
     read_assignment_results once settled. It refetches (converge) only when a structural write touched
     that assignment: structural changes are not broadcast by design (docs/realtime.md); every other
     change reaches it as an event.
   A refused write (RpcError) must carry a SQLSTATE and change nothing. Each example starts from the
   seed's structure, restored through the RPCs.
2. Random sequences in one transaction each (properties_support.Sequences), with killed workers and
   imports of the legacy fixture besides: after a full drain every pupil's cache equals the live
   definition and every class page its rows; then everything is rolled back. A short run here;
   `make fuzz` runs 10,000 or more (FUZZ_SEQUENCES, FUZZ_SECONDS, FUZZ_SEED). A failure is shrunk by
   hypothesis and its minimal sequence saved to fuzz_regressions.json, which every run replays first.

Each module-scoped school is a database of its own (the tests change memberships, assignments,
curriculum and level boundaries). `pytest -s` prints how many writes of each kind ran."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from properties_support import (
    A1,
    A2,
    A3,
    ALGORITHMS,
    ASSIGNMENTS,
    DAVID,
    FRACTIONS_LESSON,
    GROUPS,
    HELEN,
    L1,
    L2,
    LESSON_OF,
    PUPILS,
    YEAR,
    Op,
    SequenceError,
    Sequences,
    op_of,
    operations,
    prepare_database,
    save_regression,
    saved_regressions,
    sequences,
)

from glue import api
from glue.realtime import BroadcastEvent, ResultsMatrix, subscribe, topic_for
from glue.rpc import NotFound, PgRpc, RpcClient, RpcError
from glue_tools.localdb import scratch_database
from glue_tools.migrate import migrate
from glue_tools.paths import SEED_SQL

TIMEOUT = 10.0


def touches(op: Op, group: str, lesson: str) -> bool:
    """Whether a (successful) structural write changes the grid of (group, lesson) without a broadcast."""
    p = op.params
    if op.fn in ("groups_add_member", "groups_remove_member"):
        return bool(p["group_id"] == group)
    if op.fn in ("lessons_assign", "lessons_unassign"):
        return bool(p["group_id"] == group and p["lesson_id"] == lesson)
    if op.fn in ("activities_set_criteria", "activities_update"):
        return LESSON_OF[p["activity_id"]] == lesson
    if op.fn == "lessons_set_active":
        return bool(p["lesson_id"] == lesson)
    if op.fn == "units_update":
        return "active" in p  # its lessons' columns come and go; the year is not on the grid
    return False


# --- the school --------------------------------------------------------------------------------------------


STATE = """
select md5(concat_ws('|',
  (select string_agg(t::text, ',' order by t::text) from public.submissions as t),
  (select string_agg(t::text, ',' order by t::text) from public.submission_criterion_scores as t),
  (select string_agg(t::text, ',' order by t::text) from public.group_membership as t),
  (select string_agg(t::text, ',' order by t::text) from public.lesson_assignments as t),
  (select string_agg(t::text, ',' order by t::text) from public.activities as t),
  (select string_agg(t::text, ',' order by t::text) from public.activity_success_criteria as t),
  (select string_agg(t::text, ',' order by t::text) from public.lessons as t),
  (select string_agg(t::text, ',' order by t::text) from public.units as t),
  (select string_agg(t::text, ',' order by t::text) from public.level_boundaries as t),
  (select string_agg(t::text, ',' order by t::text) from public.report_pupil_unit_summaries as t),
  (select string_agg((t.pupil_id, t.state, t.reason, t.coalesced_count)::text, ',' order by t.job_id)
   from private.report_jobs as t),
  (select count(*) from realtime.messages)
))
"""

STRUCTURE = """
select jsonb_build_object(
  'members', (select jsonb_agg(jsonb_build_array(group_id, user_id, role) order by group_id, user_id)
              from public.group_membership where group_id = any(%(groups)s)),
  'assignments', (select jsonb_agg(jsonb_build_array(group_id, lesson_id, start_date, feedback_visible)
                  order by group_id, lesson_id) from public.lesson_assignments where group_id = any(%(groups)s)),
  'activities', (select jsonb_object_agg(activity_id, jsonb_build_array(is_summative, active))
                 from public.activities where activity_id = any(%(activities)s::uuid[])),
  'links', (select jsonb_object_agg(a, coalesce((select jsonb_agg(l.success_criteria_id order by l.success_criteria_id)
            from public.activity_success_criteria as l where l.activity_id = a), '[]'))
            from unnest(%(activities)s::uuid[]) as a),
  'lessons', (select jsonb_object_agg(lesson_id, active) from public.lessons
              where lesson_id = any(%(lessons)s::uuid[])),
  'unit', (select jsonb_build_array(year, active) from public.units where unit_id = %(unit)s),
  'boundaries', (select jsonb_object_agg(label, min_percent) from public.level_boundaries where year = %(year)s)
)
"""


@dataclass
class School:
    url: str
    rpc: PgRpc
    owner: psycopg.Connection
    baseline: dict[str, Any]
    original_boundaries: dict[str, float]
    counts: Counter[str] = field(default_factory=Counter)
    examples: int = 0
    grids: Counter[str] = field(default_factory=Counter)  # how each example's followed grid was checked
    events: Counter[str] = field(default_factory=Counter)  # what the followers did with the broadcasts

    def client(self, actor: str) -> RpcClient:
        if actor == "service":
            return self.rpc
        return self.rpc.as_user({"helen": HELEN, "david": DAVID}.get(actor, actor))

    def one(self, query: str, params: Any = None) -> Any:
        row = self.owner.execute(query, params).fetchone()
        assert row is not None
        return row[0]

    def state(self) -> str:
        return str(self.one(STATE))

    def structure(self) -> dict[str, Any]:
        params = {
            "groups": list(GROUPS),
            "activities": list(LESSON_OF),
            "lessons": [L1, L2, FRACTIONS_LESSON],
            "unit": ALGORITHMS,
            "year": YEAR,
        }
        return dict(self.one(STRUCTURE, params))

    def drain(self, limit_s: float = 30.0) -> None:
        """Until no job is left (jobs briefly busy or backing off included); no recalculation may fail."""
        deadline = time.monotonic() + limit_s
        while True:
            done = api.report_jobs_process(self.rpc, max_jobs=100, max_ms=5000)
            assert (done["failed"], done["dead"]) == (0, 0), done
            if done["remaining"] == 0 and self.one("select count(*) from private.report_jobs") == 0:
                return
            assert time.monotonic() < deadline, f"the queue did not drain in {limit_s}s: {done}"
            if done["processed"] == 0:
                time.sleep(0.05)

    def restore(self) -> None:
        """The seed's structure again, through the RPCs (so every affected pupil is enqueued), then drained."""
        now = self.structure()
        if now == self.baseline:
            return
        want = self.baseline
        members = {(g, u): r for g, u, r in want["members"]}
        for g, u, _role in now["members"]:
            if (g, u) not in members:
                api.groups_remove_member(self.rpc, g, u)
        current = {(g, u): r for g, u, r in now["members"]}
        for (g, u), r in members.items():
            if current.get((g, u)) != r:
                api.groups_add_member(self.rpc, g, u, r)
        assigned = {(g, lesson): (d, v) for g, lesson, d, v in want["assignments"]}
        for g, lesson, d, v in now["assignments"]:
            if (g, lesson) not in assigned:
                api.lessons_unassign(self.rpc, g, lesson)
            elif assigned[(g, lesson)] != (d, v):
                api.lessons_assign(
                    self.rpc, g, lesson, start_date=assigned[(g, lesson)][0], feedback_visible=assigned[(g, lesson)][1]
                )
        present = {(g, lesson) for g, lesson, _d, _v in now["assignments"]}
        for (g, lesson), (d, v) in assigned.items():
            if (g, lesson) not in present:
                api.lessons_assign(self.rpc, g, lesson, start_date=d, feedback_visible=v)
        for activity, (summative, active) in want["activities"].items():
            if now["activities"][activity] != [summative, active]:
                api.activities_update(self.rpc, activity, is_summative=summative, active=active)
        for activity, links in want["links"].items():
            if now["links"][activity] != links:
                api.activities_set_criteria(self.rpc, activity, links)
        for lesson, active in want["lessons"].items():
            if now["lessons"][lesson] != active:
                api.lessons_set_active(self.rpc, lesson, active)
        if now["unit"] != want["unit"]:
            api.units_update(self.rpc, ALGORITHMS, year=want["unit"][0], active=want["unit"][1])
        if now["boundaries"] != want["boundaries"]:
            api.level_boundaries_set(self.rpc, YEAR, self.original_boundaries)
        assert self.structure() == self.baseline
        self.drain()


@pytest.fixture(scope="module")
def school(database_url: str) -> Iterator[School]:
    """The demo school in a database of this module's own."""
    with scratch_database(database_url, "planner_props") as url:
        migrate(url)
        with psycopg.connect(url) as c, c.transaction():
            c.execute(SEED_SQL.read_bytes())
        rpc = PgRpc(url)
        with psycopg.connect(url, autocommit=True) as owner:
            rows = owner.execute("select label, min_percent from public.level_boundaries where year = %s", (YEAR,))
            original = {str(label): _number(value) for label, value in rows.fetchall()}
            s = School(url, rpc, owner, {}, original)
            s.baseline = s.structure()
            try:
                yield s
                s.restore()  # the original level boundaries (and all the rest) back
                assert s.structure()["boundaries"] == s.baseline["boundaries"]
            finally:
                rpc.close()


def _number(value: Decimal) -> float:
    return int(value) if value == value.to_integral_value() else float(value)


# --- following one assignment ------------------------------------------------------------------------------


class Follower:
    """A ResultsMatrix subscribed to one assignment's broadcasts for a whole example."""

    def __init__(self, school: School, group: str, lesson: str) -> None:
        self.school = school
        self.topic = topic_for(group, lesson)
        self.matrix = ResultsMatrix(school.client("helen"), group, lesson)
        self.seen = 0
        self.outcomes: Counter[str] = Counter()
        self.cond = threading.Condition()
        self.sub = subscribe(group, lesson, self._handle, dsn=school.url)
        assert self.sub.connected.wait(TIMEOUT)
        self.matrix.load()
        # Ids are random uuids on Supabase: what was sent since is a count, not an id range.
        self.before = int(school.one("select count(*) from realtime.messages where topic = %s", (self.topic,)))

    def _handle(self, event: BroadcastEvent) -> None:
        try:
            outcome = self.matrix.apply(event)
        except RpcError as exc:  # e.g. a refetch of a grid that a later write unassigned: converge() settles it
            outcome = f"failed: {exc.sqlstate}"
        with self.cond:
            self.seen += 1
            self.outcomes[outcome] += 1
            self.cond.notify_all()

    def wait_for_everything_sent(self) -> int:
        sent = (
            int(self.school.one("select count(*) from realtime.messages where topic = %s", (self.topic,))) - self.before
        )
        with self.cond:
            assert self.cond.wait_for(lambda: self.seen >= sent, TIMEOUT), f"{self.seen} of {sent} events arrived"
        return sent


def comparable(grid: dict[str, Any]) -> dict[str, Any]:
    return {k: grid.get(k) for k in ("cells", "pupils", "activities", "rowMeans", "columnMeans")}


# --- the property ------------------------------------------------------------------------------------------


def attempt(client: RpcClient, op: Op) -> tuple[Any, RpcError | None]:
    """The RPC's result, or its refusal."""
    try:
        return client.call(op.fn, op.params), None
    except RpcError as exc:
        return None, exc


def run_example(school: School, followed: tuple[str, str], ops: list[Op]) -> None:
    school.restore()
    group, lesson = followed
    follower = Follower(school, group, lesson)
    structural_touch = False
    try:
        for op in ops:
            before = school.state()
            result, refused = attempt(school.client(op.actor), op)
            if refused is not None:
                assert len(refused.sqlstate) == 5, f"{op!r}: {refused}"
                assert school.state() == before, f"{op!r} was refused ({refused}) but changed something"
                assert not op.invalid or refused.sqlstate in op.invalid, f"{op!r}: refused with {refused}"
                school.counts[f"{op.fn} invalid" if op.invalid else f"{op.fn} refused"] += 1
                continue
            assert not op.invalid, f"{op!r} was accepted: {result}"
            if op.fn == "report_jobs_process":
                assert (result["failed"], result["dead"]) == (0, 0), result
            school.counts[op.fn] += 1
            structural_touch = structural_touch or touches(op, group, lesson)
        school.drain()
        sweep = api.report_verify_sweep(school.rpc)
        assert (sweep["pupils_checked"], sweep["pupils_mismatched"], sweep["differences"]) == (len(PUPILS), 0, 0), sweep
        assert school.one("select count(*) from private.report_differences(null)") == 0

        follower.wait_for_everything_sent()
        want, missing = attempt(
            school.client("helen"), op_of("read_assignment_results", "helen", group_id=group, lesson_id=lesson)
        )
        school.events.update(follower.outcomes)
        if missing is not None:  # the lesson was unassigned: only a structural write can do that
            assert structural_touch
            assert (type(missing), missing.sqlstate) == (NotFound, "PLN07")
            school.grids["unassigned"] += 1
            return
        if structural_touch:
            follower.matrix.converge()
        follower.matrix.settle()
        assert comparable(follower.matrix.snapshot()) == comparable(want), (
            f"the matrix of {group}/{lesson} after {follower.outcomes} (structural: {structural_touch})"
        )
        school.grids["converged" if structural_touch else "from events only"] += 1
    finally:
        follower.sub.close()
        school.examples += 1


def test_random_writes_keep_the_cache_and_the_followed_grid_consistent(school: School) -> None:
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        followed=st.sampled_from(ASSIGNMENTS),
        ops=st.lists(operations(school.original_boundaries), min_size=8, max_size=30),
    )
    def consistent(followed: tuple[str, str], ops: list[Op]) -> None:
        run_example(school, followed, ops)

    consistent()
    counts = school.counts
    writes = {
        k: v for k, v in counts.items() if not k.endswith((" invalid", " refused")) and k != "report_jobs_process"
    }
    refused = sum(v for k, v in counts.items() if k.endswith(" refused"))
    invalid = sum(v for k, v in counts.items() if k.endswith(" invalid"))
    print(
        f"\n{school.examples} examples: {sum(writes.values())} writes accepted "
        + ", ".join(f"{k} {v}" for k, v in sorted(writes.items()))
        + f"; {refused} refused by the state; {invalid} invalid on purpose, all refused;"
        f" {counts['report_jobs_process']} partial drains; followed grids {dict(school.grids)};"
        f" events {dict(school.events)}"
    )
    assert invalid > 0
    assert school.grids["from events only"] > 0
    assert school.events["patched"] > 0
    assert all(writes.get(fn, 0) > 0 for fn in ("results_save_feedback", "groups_add_member", "level_boundaries_set"))


# --- sequences in one transaction each (make fuzz) -------------------------------------------------------


@pytest.fixture(scope="module")
def runner(database_url: str) -> Iterator[tuple[Sequences, dict[str, float]]]:
    """The demo school and the legacy fixture in a database of this module's own; one Sequences on it."""
    with scratch_database(database_url, "planner_fuzz") as url:
        migrate(url)
        prepare_database(url, SEED_SQL.read_bytes())
        seqs = Sequences(url)
        try:
            rows = seqs.conn.execute("select label, min_percent from public.level_boundaries where year = %s", (YEAR,))
            original = {str(label): _number(value) for label, value in rows.fetchall()}
            seqs.conn.rollback()
            yield seqs, original
        finally:
            seqs.close()


# One of each kind of step, with a release and a withdrawal, killed workers of both kinds and an import.
WRITTEN_SEQUENCE = [
    op_of("submissions_submit_answer", PUPILS[4], activity_id=A2, text="a loop", status="submitted"),
    op_of("lessons_release_feedback", "helen", group_id="25-8B-CS", lesson_id=L2, feedback_visible=True),
    op_of("submissions_record_upload", PUPILS[4], activity_id=A3, file_name="f.pdf", path="x/f.pdf"),
    op_of("crash_claim", "service", max_jobs=2, run=1),
    op_of("results_save_feedback", "helen", activity_id=A3, pupil_id=PUPILS[4], override_score=0.5, feedback="Good."),
    op_of("crash_batch", "service", max_jobs=3),
    op_of("submissions_submit_answer", PUPILS[5], activity_id=A2, text="idk", status="submitted"),
    op_of("crash_worker", "service", max_jobs=2, run=0, ending="killed"),
    op_of("submissions_submit_answer", PUPILS[1], activity_id=A2, text="a loop", status="submitted"),
    op_of("crash_worker", "service", max_jobs=3, run=1, ending="stopped"),
    op_of("report_jobs_refresh_groups", "service", max_groups=2),
    op_of("lessons_release_feedback", "helen", group_id="25-8A-CS", lesson_id=L1, feedback_visible=False),
    op_of("import", "service", variant=2),
    op_of(
        "lessons_release_feedback",
        PUPILS[0],
        frozenset({"42501"}),
        group_id="25-8A-CS",
        lesson_id=L1,
        feedback_visible=True,
    ),
    op_of("report_jobs_process", "service", max_jobs=1, max_ms=50),
    op_of("submissions_submit_answer", PUPILS[0], activity_id=A1, option_id="b", status="submitted"),
]


def test_saved_and_written_sequences_leave_the_cache_exact(runner: tuple[Sequences, dict[str, float]]) -> None:
    seqs, _original = runner
    for ops in [*saved_regressions(), WRITTEN_SEQUENCE]:
        outcome = seqs.run(ops)
        assert outcome.differences == []
    done = seqs.totals.accepted
    kinds = ("crash_claim", "crash_batch", "crash_worker", "report_jobs_refresh_groups", "import")
    assert all(done[k] > 0 for k in (*kinds, "lessons_release_feedback")), done
    assert seqs.totals.refused["lessons_release_feedback invalid"] > 0


def test_random_sequences_in_transactions_leave_the_cache_exact(runner: tuple[Sequences, dict[str, float]]) -> None:
    """FUZZ_SEQUENCES sequences (default 60), or fewer when FUZZ_SECONDS runs out, in hypothesis runs of
    up to 500 examples each with seeds FUZZ_SEED, FUZZ_SEED + 1, ..."""
    seqs, original = runner
    target = int(os.environ.get("FUZZ_SEQUENCES", "60"))
    seconds = float(os.environ.get("FUZZ_SECONDS", "0")) or None
    base_seed = int(os.environ.get("FUZZ_SEED", "0"))
    started = time.monotonic()
    failing: list[list[Op]] = []
    run = 0
    while seqs.sequences < target and (seconds is None or time.monotonic() - started < seconds):
        examples = min(500, target - seqs.sequences)

        @seed(base_seed + run)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(ops=sequences(original))
        def exact(ops: list[Op]) -> None:
            try:
                seqs.run(ops)
            except SequenceError:
                failing.append(ops)  # hypothesis replays the minimal failing sequence last
                raise

        try:
            exact()
        except SequenceError as exc:
            save_regression(failing[-1], str(exc))
            raise
        run += 1
    elapsed = time.monotonic() - started
    print(
        f"\n{seqs.sequences} sequences in {elapsed:.0f} s (seed {base_seed}, {run} runs):"
        f" accepted {dict(sorted(seqs.totals.accepted.items()))}; refused {dict(sorted(seqs.totals.refused.items()))}"
    )
    assert seqs.sequences >= min(target, 1)
    assert seqs.totals.accepted["report_jobs_process"] > 0
