"""glue.realtime on the local relay (platform/shim.sql: realtime.send NOTIFYs channel realtime_broadcast on
commit) against the session's database: writes in another connection reach a subscribed ResultsMatrix,
nothing is delivered for a rolled-back write, who may subscribe, the ResultsMatrix rules with synthetic
events built from real cells, convergence after lost events, reconnects, RESULTS_REALTIME_ENABLED=false
and `glue watch`.

The seeded pupils of 25-8A-CS are left as the other suites expect them: the writes are made on pupils of
this module's own making (pupils of 25-8A-CS too), and the one write on Priya's A2 is undone."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
import queue
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
import pytest
from glue_testing import A4, DAVID, GROUP, HELEN, LESSON_2, PRIYA, add_pupils, one, rows

from glue import api, realtime
from glue.realtime import BroadcastEvent, ResultsMatrix, Subscription, subscribe, topic_for
from glue.rpc import JSON, PgRpc, RpcClient, RpcError
from glue_tools.paths import ROOT

LESSON_1 = "00000000-0000-4000-8000-000000000301"  # 'What is an algorithm?': A1 (MCQ), A2 (text), A5 (display)
A1 = "00000000-0000-4000-8000-000000000601"
A2 = "00000000-0000-4000-8000-000000000602"
A3 = "00000000-0000-4000-8000-000000000603"  # upload, in LESSON_2
S3 = "00000000-0000-4000-8000-000000000503"  # linked to A2 and A3
ACTIVITIES = {LESSON_1: (A1, A2), LESSON_2: (A3, A4)}
ASSIGNMENTS = {LESSON_1: f"{GROUP}__{LESSON_1}", LESSON_2: f"{GROUP}__{LESSON_2}"}
TIMEOUT = 10.0  # the longest wait for an event that must come
QUIET = 2.0  # how long "nothing is delivered" is watched


# --- helpers -----------------------------------------------------------------------------------------


class Counting:
    """A real client that counts the RPCs called through it (which refetch a matrix used)."""

    def __init__(self, inner: RpcClient) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def call(self, fn: str, params: Mapping[str, JSON] | None = None) -> JSON:
        self.calls[fn] += 1
        return self.inner.call(fn, params)

    def close(self) -> None:
        pass


class Follower:
    """A ResultsMatrix of (GROUP, lesson) subscribed on the local relay. The handler applies every event
    to the matrix from the relay's thread (or drops it, with probability `drop`, as a lossy network would)
    and reports (event, outcome) on `received`."""

    def __init__(
        self,
        url: str,
        client: RpcClient,
        lesson_id: str,
        *,
        drop: float = 0.0,
        seed: int = 0,
        user_id: str | None = None,
    ) -> None:
        self.topic = topic_for(GROUP, lesson_id)
        self.matrix = ResultsMatrix(client, GROUP, lesson_id)
        self.drop = drop
        self.rng = random.Random(seed)
        self.received: queue.Queue[tuple[BroadcastEvent, str]] = queue.Queue()
        self.count = 0
        self.dropped = 0
        self._seen = threading.Condition()
        self.sub: Subscription = subscribe(GROUP, lesson_id, self._handle, dsn=url, user_id=user_id)
        assert self.sub.connected.wait(TIMEOUT), "the relay did not connect"
        self.matrix.load()  # after listening: no write falls between the read and the first event

    def _handle(self, event: BroadcastEvent) -> None:
        if event.event != "resync" and self.drop and self.rng.random() < self.drop:
            outcome = "dropped"
            self.dropped += 1
        else:
            outcome = self.matrix.apply(event)
        with self._seen:
            self.count += 1
            self._seen.notify_all()
        self.received.put((event, outcome))

    def next(self, timeout: float = TIMEOUT) -> tuple[BroadcastEvent, str]:
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event on {self.topic} within {timeout}s") from None

    def wait_for(self, count: int, timeout: float = TIMEOUT) -> None:
        """Until the handler has seen `count` events (dropped ones included)."""
        with self._seen:
            assert self._seen.wait_for(lambda: self.count >= count, timeout), (
                f"{self.count} of {count} events on {self.topic} after {timeout}s"
            )

    def close(self) -> None:
        self.sub.close()


def messages_on(url: str, topics: Sequence[str]) -> dict[str, int]:
    """How many messages each topic has had (ids are random uuids: counts, never id order, tell what
    was sent since)."""
    counted = dict(
        rows(url, "select topic, count(*) from realtime.messages where topic = any(%s) group by topic", (list(topics),))
    )
    return {t: int(counted.get(t, 0)) for t in topics}


def fresh(client: RpcClient, lesson_id: str) -> dict[str, Any]:
    return api.read_assignment_results(client, GROUP, lesson_id)


def fresh_cell(client: RpcClient, lesson_id: str, pupil_id: str, activity_id: str) -> dict[str, Any]:
    cells: list[dict[str, Any]] = fresh(client, lesson_id)["cells"]
    (cell,) = [c for c in cells if (c["pupilId"], c["activityId"]) == (pupil_id, activity_id)]
    return cell


def comparable(grid: Mapping[str, Any]) -> dict[str, Any]:
    """What must be equal between a matrix and a fresh read."""
    return {k: grid.get(k) for k in ("cells", "pupils", "activities", "rowMeans", "columnMeans")}


def event_for(
    cell: Mapping[str, Any], lesson_id: str, event: str = "submission_updated", **changes: Any
) -> BroadcastEvent:
    """A broadcast as private.broadcast_assignment_update builds it, from a real cell."""
    payload = {"assignmentId": ASSIGNMENTS[lesson_id], **cell, **changes}
    return BroadcastEvent(topic_for(GROUP, lesson_id), event, payload)


def later(stamp: str | None, seconds: float) -> str:
    """An updatedAt `seconds` after stamp (after a fixed time when the cell has none)."""
    base = dt.datetime.fromisoformat(stamp or "2030-01-01T00:00:00+00:00")
    return (base + dt.timedelta(seconds=seconds)).isoformat()


@pytest.fixture(scope="module")
def helen(pg_rpc: PgRpc) -> RpcClient:
    return pg_rpc.as_user(HELEN)


@pytest.fixture(scope="module")
def pupils(glue_url: str, pg_rpc: PgRpc) -> Iterator[list[str]]:
    """Four pupils of 25-8A-CS of this module's own making; their recalculations are run at the end."""
    made = add_pupils(glue_url, 4)
    yield made
    for pupil in made:
        api.report_process_pupil(pg_rpc, pupil)
    assert rows(glue_url, "select pupil_id from private.report_jobs where pupil_id = any(%s::uuid[])", (made,)) == []


@pytest.fixture
def priya_a2_restored(glue_url: str, pg_rpc: PgRpc) -> Iterator[None]:
    """Priya's A2 (the worked example) exactly as it was afterwards, and her report recalculated."""
    query = "select to_jsonb(s) from public.submissions as s where s.user_id = %s and s.activity_id = %s"
    before = one(glue_url, query, (PRIYA, A2))
    yield
    with psycopg.connect(glue_url) as conn, conn.transaction():
        conn.execute(
            "update public.submissions as s set teacher_feedback = r.teacher_feedback, override_by = r.override_by,"
            " override_at = r.override_at, override_score = r.override_score, updated_at = r.updated_at"
            " from jsonb_populate_record(null::public.submissions, %s) as r where s.submission_id = r.submission_id",
            (psycopg.types.json.Jsonb(before),),
        )
    assert one(glue_url, query, (PRIYA, A2)) == before
    api.report_process_pupil(pg_rpc, PRIYA)


@pytest.fixture
def followers(glue_url: str) -> Iterator[list[Follower]]:
    """Followers made by a test (append to the list); closed afterwards."""
    made: list[Follower] = []
    yield made
    for follower in made:
        follower.close()


# --- end to end: writes reach a subscribed matrix -------------------------------------------------------


@pytest.mark.usefixtures("priya_a2_restored")
def test_each_kind_of_write_reaches_the_subscribed_matrix(
    glue_url: str, pg_rpc: PgRpc, helen: RpcClient, pupils: list[str], followers: list[Follower]
) -> None:
    lesson_1 = Follower(glue_url, helen, LESSON_1, user_id=HELEN)  # authorised as Helen, as Supabase would
    lesson_2 = Follower(glue_url, pg_rpc, LESSON_2)  # the service role may read every grid
    followers += [lesson_1, lesson_2]
    pupil = pupils[0]
    as_pupil = pg_rpc.as_user(pupil)

    def check(follower: Follower, event: str, pupil_id: str, activity_id: str, outcome: str = "patched") -> None:
        got, did = follower.next()
        assert (got.topic, got.event, did) == (follower.topic, event, outcome)
        assert (got.payload["pupilId"], got.payload["activityId"]) == (pupil_id, activity_id)
        assert got.payload["assignmentId"] == f"{GROUP}__{follower.matrix.lesson_id}"
        want = fresh_cell(pg_rpc, follower.matrix.lesson_id, pupil_id, activity_id)
        assert follower.matrix.cell(pupil_id, activity_id) == want
        assert {k: got.payload[k] for k in want if k != "updatedAt"} == {
            k: v for k, v in want.items() if k != "updatedAt"
        }

    # A teacher's feedback on the worked example's A2 (feedback only: Priya's score stays 0.75).
    api.results_save_feedback(helen, A2, PRIYA, feedback="Draw the diamond bigger.")
    check(lesson_1, "submission_updated", PRIYA, A2)
    assert lesson_1.matrix.cell(PRIYA, A2)["source"] == "teacher_criteria"

    # A pupil's answer, auto-marked.
    api.submissions_submit_answer(as_pupil, A1, option_id="b")
    check(lesson_1, "submission_updated", pupil, A1)
    assert (lesson_1.matrix.cell(pupil, A1)["score"], lesson_1.matrix.cell(pupil, A1)["source"]) == (1.0, "auto")

    # An upload, then its deletion (the cell is untouched again).
    api.submissions_record_upload(as_pupil, A3, "flowchart.png", f"{GROUP}/{A3}/{pupil}/flowchart.png")
    check(lesson_2, "submission_updated", pupil, A3, "patched")
    assert lesson_2.matrix.cell(pupil, A3)["hasUpload"] is True
    assert lesson_2.matrix.cell(pupil, A3)["state"] == "awaiting_marking"
    api.submissions_delete_upload(as_pupil, A3)
    check(lesson_2, "submission_deleted", pupil, A3)
    assert lesson_2.matrix.cell(pupil, A3)["state"] == "untouched"

    # The AI marker's results, then clearing them: a partial event, the column is refetched.
    api.results_apply_ai_marks(helen, ASSIGNMENTS[LESSON_1], A1, [{"pupil_id": pupil, "score": 0.35, "feedback": "ok"}])
    check(lesson_1, "submission_updated", pupil, A1)
    assert (lesson_1.matrix.cell(pupil, A1)["source"], lesson_1.matrix.cell(pupil, A1)["aiScore"]) == ("ai", 0.35)
    refetches = lesson_1.matrix.refetches
    api.results_clear_ai_marks(helen, ASSIGNMENTS[LESSON_1], A1)
    got, did = lesson_1.next()
    assert (got.event, did) == ("activity_marks_cleared", "refetched column")
    assert got.payload == {
        "assignmentId": ASSIGNMENTS[LESSON_1],
        "activityId": A1,
        "pupilIds": [pupil],
        "id": got.message_id,  # added by realtime.send, as on Supabase
    }
    assert lesson_1.matrix.refetches == refetches + 1
    assert lesson_1.matrix.cell(pupil, A1) == fresh_cell(pg_rpc, LESSON_1, pupil, A1)
    assert lesson_1.matrix.cell(pupil, A1)["source"] == "auto"

    # The whole matrix, means included, is the database's grid.
    for follower in (lesson_1, lesson_2):
        follower.matrix.settle()
        assert comparable(follower.matrix.snapshot()) == comparable(fresh(pg_rpc, follower.matrix.lesson_id))
        assert follower.received.empty()


def test_a_large_payload_travels_by_id_and_is_delivered(
    glue_url: str, pg_rpc: PgRpc, helen: RpcClient, pupils: list[str], followers: list[Follower]
) -> None:
    """AI feedback of 9,000 characters: the shim's NOTIFY carries only the message id (8000-byte limit) and
    the relay reads the payload from realtime.messages."""
    follower = Follower(glue_url, helen, LESSON_1)
    followers.append(follower)
    pupil = pupils[1]
    feedback = "Well explained. " * 560
    api.results_apply_ai_marks(
        helen, ASSIGNMENTS[LESSON_1], A2, [{"pupil_id": pupil, "score": 0.8, "feedback": feedback}]
    )
    got, did = follower.next()
    assert (got.event, did) == ("submission_updated", "patched")
    assert got.message_id is not None
    assert got.payload["id"] == got.message_id  # the field Supabase's realtime.send adds to every payload
    assert got.payload["aiFeedback"] == feedback
    # The matrix takes the cell's own fields and ignores any other ("id" here).
    assert "id" not in follower.matrix.cell(pupil, A2)
    assert follower.matrix.cell(pupil, A2) == fresh_cell(pg_rpc, LESSON_1, pupil, A2)


def test_only_committed_writes_are_delivered(
    glue_url: str, helen: RpcClient, pupils: list[str], followers: list[Follower]
) -> None:
    follower = Follower(glue_url, helen, LESSON_1)
    followers.append(follower)
    pupil = pupils[2]
    before = follower.matrix.cell(pupil, A1)
    claims = json.dumps({"sub": HELEN, "role": "authenticated"})
    with psycopg.connect(glue_url) as conn:  # one transaction, as PostgREST runs a call, then rolled back
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)", (claims,)
        )
        written = conn.execute(
            "select public.results_save_feedback(activity_id => %s, pupil_id => %s, override_score => 0.3)",
            (A1, pupil),
        ).fetchone()
        assert written is not None
        assert written[0]["cell"]["score"] == 0.3  # the write happened, and broadcast, inside the transaction
        conn.rollback()
    with pytest.raises(queue.Empty):
        follower.received.get(timeout=QUIET)
    assert follower.matrix.cell(pupil, A1) == before

    api.results_save_feedback(helen, A1, pupil, override_score=0.3)  # the same write, committed
    got, did = follower.next()
    assert (got.event, did, got.payload["score"]) == ("submission_updated", "patched", 0.3)


def test_who_may_subscribe(glue_url: str, helen: RpcClient) -> None:
    sub = subscribe(GROUP, LESSON_1, lambda _e: None, dsn=glue_url, user_id=HELEN)
    try:
        assert sub.active
        assert sub.connected.wait(TIMEOUT)
    finally:
        sub.close()
    for outsider in (DAVID, PRIYA):  # a teacher of another class; a pupil of the class
        handler_calls: list[BroadcastEvent] = []
        with pytest.raises(PermissionError, match=outsider):
            subscribe(GROUP, LESSON_1, handler_calls.append, dsn=glue_url, user_id=outsider)
        assert handler_calls == []


# --- ResultsMatrix: its rules, with synthetic events built from real cells -------------------------------


@pytest.fixture
def matrix(pg_rpc: PgRpc, pupils: list[str]) -> tuple[ResultsMatrix, Counting]:
    client = Counting(pg_rpc.as_user(HELEN))
    m = ResultsMatrix(client, GROUP, LESSON_1)
    m.load()
    return m, client


def test_the_same_event_twice_changes_nothing(matrix: tuple[ResultsMatrix, Counting]) -> None:
    m, _client = matrix
    cell = m.cell(PRIYA, A1)
    event = event_for(cell, LESSON_1, score=0.4242, source="override", updatedAt=later(cell["updatedAt"], 60))
    assert m.apply(event) == "patched"
    once = copy.deepcopy(m.snapshot())
    assert m.apply(event) == "ignored: duplicate"
    assert m.snapshot() == once
    assert (m.applied, m.ignored) == (1, 1)
    assert m.cell(PRIYA, A1)["score"] == 0.4242


def test_an_older_event_arriving_late_is_ignored(matrix: tuple[ResultsMatrix, Counting]) -> None:
    m, _client = matrix
    cell = m.cell(PRIYA, A1)
    newer = event_for(cell, LESSON_1, score=0.9, updatedAt=later(cell["updatedAt"], 120))
    older = event_for(cell, LESSON_1, score=0.1, updatedAt=later(cell["updatedAt"], 60))
    assert m.apply(newer) == "patched"
    assert m.apply(older) == "ignored: older"
    assert m.cell(PRIYA, A1)["score"] == 0.9
    # A delete leaves an untouched cell (no updatedAt on the grid) but still outranks older events.
    untouched = {**cell, "state": "untouched", "score": 0, "source": "missing", "submissionId": None, "status": None}
    deleted = event_for(untouched, LESSON_1, "submission_deleted", updatedAt=later(cell["updatedAt"], 180))
    assert m.apply(deleted) == "patched"
    assert m.cell(PRIYA, A1)["updatedAt"] is None
    assert m.apply(newer) == "ignored: older"
    assert m.cell(PRIYA, A1)["state"] == "untouched"


def test_a_partial_event_refetches_only_its_column(matrix: tuple[ResultsMatrix, Counting], pg_rpc: PgRpc) -> None:
    m, client = matrix
    a1_cell = m.cell(PRIYA, A1)
    m.apply(event_for(a1_cell, LESSON_1, score=0.1111, updatedAt=later(a1_cell["updatedAt"], 60)))  # a stale A1
    a2_cell = m.cell(PRIYA, A2)
    m.apply(event_for(a2_cell, LESSON_1, score=0.2222, updatedAt=later(a2_cell["updatedAt"], 60)))  # a local A2
    others = {key: cell for key, cell in m.cells.items() if key[1] != A1}
    calls = Counter(client.calls)

    cleared = BroadcastEvent(
        topic_for(GROUP, LESSON_1),
        "activity_marks_cleared",
        {"assignmentId": ASSIGNMENTS[LESSON_1], "activityId": A1, "pupilIds": [PRIYA]},
    )
    assert m.apply(cleared) == "refetched column"
    assert client.calls - calls == Counter({"read_assignment_results_slice": 1})
    for key, cell in others.items():  # the other column: the same objects, the local patch kept
        assert m.cells[key] is cell
    assert m.cell(PRIYA, A2)["score"] == 0.2222
    grid = fresh(pg_rpc, LESSON_1)
    assert [m.cells[(c["pupilId"], A1)] for c in grid["cells"] if c["activityId"] == A1] == [
        c for c in grid["cells"] if c["activityId"] == A1
    ]


def test_an_unknown_pupil_or_column_refetches_everything(
    matrix: tuple[ResultsMatrix, Counting], glue_url: str, pg_rpc: PgRpc
) -> None:
    m, client = matrix
    (newcomer,) = add_pupils(glue_url, 1)  # joined the class after the matrix was loaded
    try:
        cell = fresh_cell(pg_rpc, LESSON_1, newcomer, A1)
        loads = client.calls["read_assignment_results"]
        assert m.apply(event_for(cell, LESSON_1, updatedAt=later(None, 0))) == "refetched all"
        assert client.calls["read_assignment_results"] == loads + 1
        assert m.cell(newcomer, A1) == cell
        assert comparable(m.snapshot()) == comparable(fresh(pg_rpc, LESSON_1))
        unknown_column = BroadcastEvent(
            topic_for(GROUP, LESSON_1), "activity_marks_cleared", {"activityId": str(uuid.uuid4()), "pupilIds": []}
        )
        assert m.apply(unknown_column) == "refetched all"
        assert client.calls["read_assignment_results"] == loads + 2
        assert client.calls["read_assignment_results_slice"] == 0
    finally:
        api.report_process_pupil(pg_rpc, newcomer)


def test_an_optimistic_edit_shows_until_the_authoritative_event(matrix: tuple[ResultsMatrix, Counting]) -> None:
    m, _client = matrix
    cell = m.cell(PRIYA, A1)
    m.set_optimistic(PRIYA, A1, score=0.55, source="override", state="marked")
    shown = m.cell(PRIYA, A1)
    assert (shown["score"], shown["source"], shown["optimistic"]) == (0.55, "override", True)
    assert m.cells[(PRIYA, A1)] == cell  # the authoritative cell is untouched underneath
    # An event older than what the matrix holds is no answer to the edit: it stays.
    assert m.apply(event_for(cell, LESSON_1, score=0.2, updatedAt=later(cell["updatedAt"], -60))) == "ignored: older"
    assert m.cell(PRIYA, A1)["optimistic"] is True
    # The database's answer replaces it (here with another value than the edit).
    answer = event_for(cell, LESSON_1, score=0.5, source="override", updatedAt=later(cell["updatedAt"], 60))
    assert m.apply(answer) == "patched"
    shown = m.cell(PRIYA, A1)
    assert "optimistic" not in shown
    assert shown["score"] == 0.5
    # An edit the database confirms unchanged (a duplicate event) is cleared as well.
    m.set_optimistic(PRIYA, A1, score=0.5)
    assert m.apply(answer) == "ignored: duplicate"
    assert "optimistic" not in m.cell(PRIYA, A1)


def test_a_resync_event_refetches_everything(matrix: tuple[ResultsMatrix, Counting], pg_rpc: PgRpc) -> None:
    m, client = matrix
    cell = m.cell(PRIYA, A2)
    m.apply(event_for(cell, LESSON_1, score=0.0123, updatedAt=later(cell["updatedAt"], 60)))
    m.settle()
    assert comparable(m.snapshot()) != comparable(fresh(pg_rpc, LESSON_1))
    loads = client.calls["read_assignment_results"]
    assert m.apply(BroadcastEvent(topic_for(GROUP, LESSON_1), "resync", {})) == "refetched all"
    assert client.calls["read_assignment_results"] == loads + 1
    assert comparable(m.snapshot()) == comparable(fresh(pg_rpc, LESSON_1))
    assert m.apply(BroadcastEvent(topic_for(GROUP, LESSON_1), "something_new", {})) == "ignored: unknown event"


# --- convergence after lost events -----------------------------------------------------------------------


def _random_write(rng: random.Random, pg_rpc: PgRpc, helen: RpcClient, pupils: list[str]) -> str:
    """One write of a random kind by Helen or a pupil of 25-8A-CS on lesson 1 or 2; returns its kind
    (suffixed ' refused' when the database refused it, which broadcasts nothing)."""
    pupil = rng.choice(pupils)
    as_pupil = pg_rpc.as_user(pupil)
    lesson = rng.choice((LESSON_1, LESSON_2))
    activity = rng.choice(ACTIVITIES[lesson])
    kind = rng.choice(
        ("answer", "answer", "upload", "delete upload", "feedback", "feedback", "reset", "ai marks", "clear ai")
    )
    try:
        if kind == "answer":
            if activity == A1:
                api.submissions_submit_answer(
                    as_pupil, A1, option_id=rng.choice("abcd"), status=rng.choice(("inprogress", "submitted"))
                )
            else:
                text_activity = rng.choice((A2, A4))
                api.submissions_submit_answer(
                    as_pupil, text_activity, text=rng.choice(("1, 2, 3", "tea", "a loop", "stop"))
                )
        elif kind == "upload":
            api.submissions_record_upload(as_pupil, A3, f"f{rng.randrange(5)}.png", f"{GROUP}/{A3}/{pupil}/f.png")
        elif kind == "delete upload":
            api.submissions_delete_upload(as_pupil, A3)
        elif kind == "feedback":
            choice = rng.randrange(3)
            if choice == 0:
                api.results_save_feedback(helen, activity, pupil, override_score=round(rng.random(), 2))
            elif choice == 1 and activity in (A2, A3):
                api.results_save_feedback(
                    helen,
                    activity,
                    pupil,
                    criterion_scores=[{"success_criteria_id": S3, "score": rng.choice((0, 0.5, 1, None))}],
                )
            else:
                api.results_save_feedback(helen, activity, pupil, feedback=rng.choice(("Good.", "Try again.")))
        elif kind == "reset":
            api.results_reset_feedback(helen, activity, pupil)
        elif kind == "ai marks":
            marked = rng.sample(pupils, rng.randint(1, len(pupils)))
            api.results_apply_ai_marks(
                helen,
                ASSIGNMENTS[lesson],
                activity,
                [{"pupil_id": p, "score": round(rng.random(), 2), "feedback": "AI"} for p in marked],
            )
        else:
            # A1 and A3: the only columns where no seeded pupil has an AI mark to lose.
            api.results_clear_ai_marks(helen, ASSIGNMENTS[lesson], A1 if lesson == LESSON_1 else A3)
    except RpcError as exc:
        refused = exc  # a clean refusal: a SQLSTATE, nothing written
    else:
        return kind
    assert len(refused.sqlstate) == 5, refused
    return f"{kind} refused"


def test_after_random_writes_with_lost_events_the_matrix_converges(
    glue_url: str, pg_rpc: PgRpc, helen: RpcClient, pupils: list[str], followers: list[Follower]
) -> None:
    rng = random.Random(20261121)
    lossless = {lesson: Follower(glue_url, helen, lesson) for lesson in (LESSON_1, LESSON_2)}
    lossy = {
        lesson: Follower(glue_url, helen, lesson, drop=0.3, seed=i) for i, lesson in enumerate((LESSON_1, LESSON_2))
    }
    followers += [*lossless.values(), *lossy.values()]
    start = messages_on(glue_url, [topic_for(GROUP, lesson) for lesson in (LESSON_1, LESSON_2)])
    kinds: Counter[str] = Counter()
    differed = 0
    total = rng.randint(30, 60)
    for n in range(1, total + 1):
        kinds[_random_write(rng, pg_rpc, helen, pupils)] += 1
        if n % 10 and n != total:
            continue
        # A checkpoint: every event sent so far has reached the handlers.
        for lesson in (LESSON_1, LESSON_2):
            topic = topic_for(GROUP, lesson)
            sent = messages_on(glue_url, [topic])[topic] - start[topic]
            want = comparable(fresh(pg_rpc, lesson))
            lossless[lesson].wait_for(sent)
            lossless[lesson].matrix.settle()
            assert comparable(lossless[lesson].matrix.snapshot()) == want, f"after {n} writes, lesson {lesson}"
            lossy[lesson].wait_for(sent)
            lossy[lesson].matrix.settle()
            if comparable(lossy[lesson].matrix.snapshot()) != want:
                differed += 1
    dropped = sum(f.dropped for f in lossy.values())
    assert dropped > 0
    assert differed > 0, "the lost events never showed: this test could not fail"
    for lesson, follower in lossy.items():
        follower.matrix.converge()
        assert comparable(follower.matrix.snapshot()) == comparable(fresh(pg_rpc, lesson))
    assert sum(kinds.values()) == total
    print(
        f"\n{total} writes ({dict(sorted(kinds.items()))}); {dropped} events dropped; lossy matrix differed {differed}x"
    )


# --- reconnects -------------------------------------------------------------------------------------------


def test_a_lost_connection_reconnects_and_resyncs(
    glue_url: str, helen: RpcClient, pupils: list[str], followers: list[Follower]
) -> None:
    follower = Follower(glue_url, helen, LESSON_1)
    followers.append(follower)
    loads = follower.matrix.refetches
    killed = rows(
        glue_url,
        "select pg_terminate_backend(pid) from pg_stat_activity"
        " where application_name = 'glue-realtime' and datname = current_database()",
    )
    assert (True,) in killed  # the follower's relay (the only subscription open now)
    event, outcome = follower.next()
    assert (event.event, outcome) == ("resync", "refetched all")
    assert follower.sub.connected.wait(TIMEOUT)
    assert follower.sub.reconnects >= 1
    assert follower.matrix.refetches == loads + 1

    api.results_save_feedback(helen, A1, pupils[3], override_score=0.65)
    event, outcome = follower.next()
    assert (event.event, outcome, event.payload["pupilId"]) == ("submission_updated", "patched", pupils[3])
    assert follower.matrix.cell(pupils[3], A1)["score"] == 0.65


# --- RESULTS_REALTIME_ENABLED=false -----------------------------------------------------------------------


def test_realtime_disabled_subscribes_to_nothing_and_says_so_once(
    glue_url: str,
    helen: RpcClient,
    pupils: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("RESULTS_REALTIME_ENABLED", "false")
    monkeypatch.setattr(realtime, "_disabled_said", False)
    caplog.set_level(logging.DEBUG, logger="glue.realtime")
    calls: list[BroadcastEvent] = []
    subs = [subscribe(GROUP, LESSON_1, calls.append, dsn=glue_url) for _ in range(2)]
    assert [s.active for s in subs] == [False, False]  # no relay thread, no connection
    api.results_save_feedback(helen, A1, pupils[3], override_score=0.15)  # broadcast by the database all the same
    time.sleep(QUIET)
    for s in subs:
        assert not s.connected.is_set()
        s.close()
    assert calls == []
    records = [r for r in caplog.records if r.name == "glue.realtime"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.INFO, "RESULTS_REALTIME_ENABLED=false: not subscribing to realtime results")
    ]


# --- glue watch -------------------------------------------------------------------------------------------


def _glue_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SUPABASE_", "TELEM_", "DATABASE_URL", "RESULTS_REALTIME"))
    }


def test_watch_once_prints_the_grid(glue_url: str, pg_rpc: PgRpc) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "glue_tools", "--database-url", glue_url, "watch", GROUP, LESSON_1, "--once"],
        cwd=ROOT,
        env=_glue_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    grid = fresh(pg_rpc, LESSON_1)
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{ASSIGNMENTS[LESSON_1]}  What is an algorithm?  [snapshot]")
    for activity in grid["activities"]:
        assert activity["title"][:8] in lines[1]
    assert "A5: Algo" not in lines[1]  # display text is not a column
    for pupil in grid["pupils"]:
        assert any(x.startswith(f"{pupil['lastName']}, {pupil['firstName']}"[:25]) for x in lines)
    (priya,) = [x for x in lines if x.startswith("Patel, Priya")]
    assert priya.split() == ["Patel,", "Priya", "100.0%", "75.0%", "87.5%"]  # A1 auto 1, A2 criteria 0.75
    assert lines[-1].startswith("mean")


def test_watch_prints_a_new_frame_when_a_write_arrives(glue_url: str, pg_rpc: PgRpc, helen: RpcClient) -> None:
    (pupil,) = add_pupils(glue_url, 1)  # nothing handed in yet: every cell untouched
    name = f"Pupil 000 {pupil[:8]}, Test"
    watch = subprocess.Popen(
        [sys.executable, "-m", "glue_tools", "--database-url", glue_url, "watch", GROUP, LESSON_1, "--seconds", "3"],
        cwd=ROOT,
        env=_glue_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in watch.stdout or []:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        first: list[str] = []
        while not (first and first[-1].startswith("mean")):
            first.append(lines.get(timeout=30).rstrip("\n"))
        assert "[live]" in first[0]
        (row,) = [x for x in first if x.startswith(name)]
        assert row.split()[-3:] == ["--", "--", "0.0%"]
        api.results_save_feedback(helen, A2, pupil, override_score=0.123)
        assert watch.wait(timeout=30) == 0, watch.stderr.read() if watch.stderr else ""
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
        api.report_process_pupil(pg_rpc, pupil)
    reader.join(5)
    rest = [lines.get_nowait().rstrip("\n") for _ in range(lines.qsize())]
    headers = [x for x in rest if x.startswith(ASSIGNMENTS[LESSON_1])]
    assert headers, "no new frame after the write"
    assert "submission_updated: patched" in headers[0]
    (row,) = [x for x in rest[rest.index(headers[0]) :] if x.startswith(name)][:1]
    assert row.split()[-3:] == ["--", "12.3%*", "6.2%"]  # the patched cell, marked; the mean recomputed


def test_relay_notify_off_stores_the_message_without_a_notification(glue_url: str) -> None:
    """planner.relay_notify = off (the load benchmark's setting): realtime.send inserts the message as
    Supabase's does and sends no pg_notify; without it the local relay is notified."""
    topic = f"relay-notify-test:{uuid.uuid4()}"
    with psycopg.connect(glue_url, autocommit=True) as listener, psycopg.connect(glue_url, autocommit=True) as sender:
        listener.execute("listen realtime_broadcast")
        sender.execute("set planner.relay_notify = off")
        sender.execute("select realtime.send('{\"n\": 1}', 'probe', %s, false)", (topic,))
        assert [n for n in listener.notifies(timeout=0.5) if topic in n.payload] == []
        sender.execute("reset planner.relay_notify")
        sender.execute("select realtime.send('{\"n\": 2}', 'probe', %s, false)", (topic,))
        heard = [json.loads(n.payload)["payload"]["n"] for n in listener.notifies(timeout=QUIET, stop_after=1)]
        assert heard == [2]
        stored = sender.execute(
            "select (payload ->> 'n')::int from realtime.messages where topic = %s order by inserted_at, id", (topic,)
        ).fetchall()
        assert sorted(r[0] for r in stored) == [1, 2]
        sender.execute("delete from realtime.messages where topic = %s", (topic,))
