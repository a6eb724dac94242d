"""Machinery of the random write sequences (tests/py/test_properties.py and `make fuzz`, docs/reliability.md
"Random sequences"): the demo school's ids (supabase/seed.sql), the operations as hypothesis strategies
(every write RPC, valid and invalid on purpose, releases, partial drains; for the sequences also worker
crashes and imports of the legacy fixture), and `Sequences`, which runs one sequence in one transaction
on a seeded database, drains the queue as a worker would, lists every difference between the cache and
the live definition (report_differences, the class pages), and rolls everything back."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from hypothesis import strategies as st

from glue_tools.paths import ROOT

# supabase/seed.sql
HELEN = "00000000-0000-4000-8000-000000000001"  # teaches 25-8A-CS and 25-8B-CS
DAVID = "00000000-0000-4000-8000-000000000002"  # teaches 25-8A-MATH
PRIYA, BEN, CHLOE, DANIEL, EMMA, FARID = (f"00000000-0000-4000-8000-00000000010{i}" for i in range(1, 7))
PUPILS = (PRIYA, BEN, CHLOE, DANIEL, EMMA, FARID)  # 25-8A-CS: Priya..Daniel; 25-8B-CS: Emma, Farid
GROUPS = ("25-8A-CS", "25-8B-CS")
ALGORITHMS = "00000000-0000-4000-8000-000000000201"
L1, L2, FRACTIONS_LESSON = (f"00000000-0000-4000-8000-00000000030{i}" for i in (1, 2, 3))
A1, A2, A3, A4, A5 = (f"00000000-0000-4000-8000-00000000060{i}" for i in range(1, 6))
LESSON_OF = {A1: L1, A2: L1, A5: L1, A3: L2, A4: L2}
CRITERIA = tuple(f"00000000-0000-4000-8000-00000000050{i}" for i in range(1, 5))  # S1..S4
UNKNOWN = "00000000-0000-4000-8000-00000000dead"
ASSIGNMENTS = tuple((g, lesson) for g in GROUPS for lesson in (L1, L2))  # the grids a matrix may follow
YEAR = 8


# --- the operations ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One RPC call: `actor` is service, helen, david or a pupil's id; `invalid` lists the SQLSTATEs a
    write that is invalid on purpose may be refused with (empty: meant to be valid)."""

    fn: str
    actor: str
    params: dict[str, Any]
    invalid: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        bad = f" invalid{sorted(self.invalid)}" if self.invalid else ""
        return f"{self.fn}[{self.actor[-4:]}]({self.params}){bad}"


def op_of(fn: str, actor: str, invalid: frozenset[str] = frozenset(), **params: Any) -> Op:
    return Op(fn, actor, {k: v for k, v in params.items() if v is not None}, invalid)


def bad(*codes: str) -> frozenset[str]:
    return frozenset(codes)


pupils = st.sampled_from(PUPILS)
groups = st.sampled_from(GROUPS)
scores = st.integers(0, 20).map(lambda i: i / 20)
maybe_score = st.none() | scores
maybe_bool = st.none() | st.booleans()
texts = st.sampled_from(("1, 2, 3", "1, 2, 3, then it stops", "Making tea", "idk", "A loop prints 1 2 3"))
feedback = st.none() | st.sampled_from(("Good.", "Show your working.", "Draw the decision as a diamond."))
statuses = st.sampled_from(("submitted", "submitted", "inprogress"))
assignment_ids = st.sampled_from(ASSIGNMENTS).map(lambda a: f"{a[0]}__{a[1]}")


@st.composite
def criterion_scores(draw: st.DrawFn) -> list[dict[str, Any]]:
    chosen = draw(st.lists(st.sampled_from(CRITERIA), min_size=1, max_size=2, unique=True))
    return [{"success_criteria_id": c, "score": draw(maybe_score)} for c in chosen]


@st.composite
def ai_batch(draw: st.DrawFn) -> tuple[str, str, list[dict[str, Any]]]:
    group, lesson = draw(st.sampled_from(ASSIGNMENTS))
    activity = draw(st.sampled_from([a for a, lesson_id in LESSON_OF.items() if lesson_id == lesson]))
    who = draw(st.lists(pupils, min_size=1, max_size=4, unique=True))  # pupils of other classes: reported
    marks = [{"pupil_id": p, "score": draw(scores), "feedback": draw(feedback)} for p in who]
    return f"{group}__{lesson}", activity, marks


def shifted(original: dict[str, float], shift: int) -> dict[str, float]:
    """A valid table: every boundary but label 0 moved by `shift` points (the original has gaps >= 5)."""
    table = {label: (0 if label == "0" else min(100, value + shift)) for label, value in original.items()}
    ordered = sorted(table.values())
    assert len(set(ordered)) == len(ordered)
    return table


def operations(original: dict[str, float]) -> st.SearchStrategy[Op]:
    """Every write RPC (valid, and invalid on purpose) and partial drains."""
    pupil_writes = [
        st.builds(
            lambda p, o, s: op_of("submissions_submit_answer", p, activity_id=A1, option_id=o, status=s),
            pupils,
            st.sampled_from("abcd"),
            statuses,
        ),
        st.builds(
            lambda p, a, t, s: op_of("submissions_submit_answer", p, activity_id=a, text=t, status=s),
            pupils,
            st.sampled_from((A2, A4)),
            texts,
            statuses,
        ),
        st.builds(
            lambda p, a, t: op_of("submissions_submit_answer", "service", activity_id=a, text=t, pupil_id=p),
            pupils,
            st.sampled_from((A2, A4)),
            texts,
        ),
        st.builds(
            lambda p, n: op_of("submissions_record_upload", p, activity_id=A3, file_name=n, path=f"x/{A3}/{p}/{n}"),
            pupils,
            st.sampled_from(("flowchart.png", "road.pdf")),
        ),
        st.builds(lambda p: op_of("submissions_delete_upload", p, activity_id=A3), pupils),
    ]
    teacher_writes = [
        st.builds(
            lambda p, a, o, c, f: op_of(
                "results_save_feedback",
                "helen",
                activity_id=a,
                pupil_id=p,
                override_score=o,
                criterion_scores=c,
                feedback=f,
            ),
            pupils,
            st.sampled_from((A1, A2, A3, A4)),
            maybe_score,
            st.none() | criterion_scores(),
            feedback,
        ),
        st.builds(
            lambda p, a: op_of("results_reset_feedback", "helen", activity_id=a, pupil_id=p),
            pupils,
            st.sampled_from((A1, A2, A3, A4)),
        ),
        st.builds(
            lambda b, who: op_of(
                "results_apply_ai_marks",
                who,
                group_assignment_id=b[0],
                activity_id=b[1],
                results=b[2],
                ai_meta={"model": "t"},
            ),
            ai_batch(),
            st.sampled_from(("helen", "service")),
        ),
        st.builds(
            lambda ga, a: op_of("results_clear_ai_marks", "helen", group_assignment_id=ga, activity_id=a),
            assignment_ids,
            st.sampled_from((A1, A2, A3, A4)),
        ),
    ]
    structural = [
        st.builds(
            lambda g, p, r: op_of("groups_add_member", "service", group_id=g, user_id=p, role=r),
            groups,
            pupils,
            st.sampled_from(("pupil", "pupil", "pupil", "teacher")),
        ),
        st.builds(lambda g, p: op_of("groups_remove_member", "service", group_id=g, user_id=p), groups, pupils),
        st.builds(
            lambda g, lesson, who: op_of("lessons_assign", who, group_id=g, lesson_id=lesson),
            groups,
            st.sampled_from((L1, L2, FRACTIONS_LESSON)),
            st.sampled_from(("helen", "service")),
        ),
        st.builds(
            lambda g, lesson: op_of("lessons_unassign", "helen", group_id=g, lesson_id=lesson),
            groups,
            st.sampled_from((L1, L2, FRACTIONS_LESSON)),
        ),
        st.builds(
            lambda a, c: op_of("activities_set_criteria", "helen", activity_id=a, success_criteria_ids=c),
            st.sampled_from((A1, A2, A3, A4)),
            st.lists(st.sampled_from(CRITERIA), max_size=3, unique=True),
        ),
        st.builds(
            lambda a, s, on: op_of("activities_update", "helen", activity_id=a, is_summative=s, active=on),
            st.sampled_from((A1, A2, A3, A4, A5)),
            maybe_bool,
            maybe_bool,
        ),
        st.builds(
            lambda lesson, on: op_of("lessons_set_active", "helen", lesson_id=lesson, active=on),
            st.sampled_from((L1, L2)),
            st.booleans(),
        ),
        st.builds(
            lambda y, on: op_of("units_update", "helen", unit_id=ALGORITHMS, year=y, active=on),
            st.none() | st.sampled_from((7, 8, 9)),
            maybe_bool,
        ),
        st.builds(
            lambda s: op_of("level_boundaries_set", "service", year=YEAR, boundaries=shifted(original, s)),
            st.sampled_from((-5, -3, -1, 1, 2, 4, 6)),
        ),
        st.builds(
            lambda a, v, who: op_of("lessons_release_feedback", who, group_id=a[0], lesson_id=a[1], feedback_visible=v),
            st.sampled_from(ASSIGNMENTS),
            st.booleans(),
            st.sampled_from(("helen", "service")),
        ),
    ]
    top = max(original, key=lambda label: original[label])
    not_increasing = {**original, top: 0.5}
    invalid = [
        st.builds(
            lambda p: op_of(
                "results_save_feedback",
                "helen",
                bad("PLV02", "PLV04", "42501"),
                activity_id=A2,
                pupil_id=p,
                override_score=1.5,
            ),
            pupils,
        ),
        st.builds(
            lambda p: op_of(
                "results_save_feedback", "david", bad("42501", "PLV04"), activity_id=A1, pupil_id=p, override_score=0.5
            ),
            pupils,
        ),
        st.builds(
            lambda p: op_of(
                "submissions_submit_answer", p, bad("PLV07", "PLV06", "PLV04"), activity_id=A1, option_id="z"
            ),
            pupils,
        ),
        st.builds(
            lambda p, q: op_of(
                "submissions_submit_answer", p, bad("42501"), activity_id=A2, text="not mine", pupil_id=q
            ),
            pupils,
            pupils,
        ).filter(lambda op: op.actor != op.params["pupil_id"]),
        st.builds(
            lambda p: op_of(
                "submissions_record_upload", p, bad("PLV07", "PLV06", "PLV04"), activity_id=A3, file_name="", path="x"
            ),
            pupils,
        ),
        st.builds(
            lambda ga, p: op_of(
                "results_apply_ai_marks",
                "helen",
                bad("PLV05", "PLN07"),
                group_assignment_id=ga,
                activity_id=A1 if ga.endswith(L1) else A3,
                results=[{"pupil_id": p, "score": 0.5}, {"pupil_id": p, "score": 0.6}],
            ),
            assignment_ids,
            pupils,
        ),
        st.just(op_of("results_clear_ai_marks", "helen", bad("PLV12"), group_assignment_id="25-8A-CS", activity_id=A1)),
        st.builds(
            lambda g, p: op_of("groups_add_member", "helen", bad("42501"), group_id=g, user_id=p), groups, pupils
        ),
        st.builds(
            lambda p: op_of("groups_add_member", "service", bad("PLV11"), group_id="25-8A-CS", user_id=p, role="admin"),
            pupils,
        ),
        st.just(
            op_of(
                "activities_set_criteria",
                "helen",
                bad("PLN05"),
                activity_id=A2,
                success_criteria_ids=[CRITERIA[0], UNKNOWN],
            )
        ),
        st.just(op_of("units_update", "helen", bad("PLV08"), unit_id=ALGORITHMS, year=99)),
        st.just(op_of("lessons_set_active", "david", bad("42501"), lesson_id=L1, active=False)),
        st.just(op_of("level_boundaries_set", "service", bad("PLV09"), year=YEAR, boundaries=not_increasing)),
        st.just(op_of("level_boundaries_set", "helen", bad("42501"), year=YEAR, boundaries=original)),
        st.builds(
            lambda a, who: op_of(
                "lessons_release_feedback", who, bad("42501"), group_id=a[0], lesson_id=a[1], feedback_visible=True
            ),
            st.sampled_from(ASSIGNMENTS),
            st.sampled_from(("david", *PUPILS)),
        ),
        st.just(
            op_of("lessons_release_feedback", "helen", bad("PLN07"), group_id="25-8A-CS", lesson_id=FRACTIONS_LESSON)
        ),
    ]
    drains = st.builds(
        lambda k, ms: op_of("report_jobs_process", "service", max_jobs=k, max_ms=ms),
        st.integers(1, 3),
        st.sampled_from((50, 500)),
    )
    # Weighted: mostly submission writes (broadcast), a structural write in five, a few invalid
    # writes and partial drains. Drawing the kind first keeps the mix steady across examples.
    weighted: list[tuple[int, st.SearchStrategy[Op]]] = [
        *((3, s) for s in pupil_writes),
        *((4, s) for s in teacher_writes),
        *((1, s) for s in structural),
        (5, st.one_of(invalid)),
        (5, drains),
    ]
    choices = [strategy for weight, strategy in weighted for _ in range(weight)]
    return st.integers(0, len(choices) - 1).flatmap(lambda i: choices[i])


# --- sequences in one transaction each -----------------------------------------------------------------------

LEGACY_FIXTURE = ROOT / "tests" / "sql" / "import" / "legacy_fixture.psql"
REGRESSIONS = ROOT / "tests" / "py" / "fuzz_regressions.json"

# Changes to the planner's data before an import (variant 0: as it is); a re-import updates rows.
IMPORT_VARIANTS = (
    "select 1",
    "update legacy.submissions set body = jsonb_set(body::jsonb, '{teacher_override_score}', '0.35')::json"
    " where submission_id = (select min(submission_id) from legacy.submissions)",
    "update legacy.lesson_assignments set feedback_visible = not coalesce(feedback_visible, false)",
    "update legacy.units set year = 9 where year = 8",
)


def sequence_operations(original: dict[str, float]) -> st.SearchStrategy[Op]:
    """operations() and, for the sequences, killed workers and imports of the legacy fixture:
    - crash_batch: a single-transaction batch (report_jobs_process) whose backend dies: rolled back;
    - crash_claim: the pg_cron drain claims jobs with a lease, runs some, dies; the lease runs out and
      the reaper fails them, to be retried;
    - crash_worker: glue's worker (public.report_jobs_claim, report_jobs_run) runs some of its claim,
      then is killed (its leases run out) or stops (report_jobs_release puts the rest back);
    - report_jobs_refresh_groups: the worker's rebuild of class pages;
    - import: the planner import of the legacy fixture (a variant of it), then the backfill, as
      `glue import planner` runs them."""
    crashes = st.one_of(
        st.builds(lambda k: op_of("crash_batch", "service", max_jobs=k), st.integers(1, 4)),
        st.builds(
            lambda k, r, e: op_of("crash_worker", "service", max_jobs=k, run=r, ending=e),
            st.integers(1, 4),
            st.integers(0, 2),
            st.sampled_from(("killed", "stopped")),
        ),
        st.builds(lambda g: op_of("report_jobs_refresh_groups", "service", max_groups=g), st.integers(1, 3)),
        st.builds(
            lambda k, r: op_of("crash_claim", "service", max_jobs=k, run=r), st.integers(1, 4), st.integers(0, 2)
        ),
    )
    imports = st.builds(lambda v: op_of("import", "service", variant=v), st.integers(0, len(IMPORT_VARIANTS) - 1))
    base = operations(original)
    # One step in ten kills a worker, one in sixty imports (an import and its backfill cost as much
    # as a whole sequence of writes).
    return st.integers(0, 59).flatmap(lambda i: crashes if i < 6 else imports if i == 6 else base)


def sequences(original: dict[str, float], max_size: int = 10) -> st.SearchStrategy[list[Op]]:
    return st.lists(sequence_operations(original), min_size=1, max_size=max_size)


def op_to_json(op: Op) -> dict[str, Any]:
    return {"fn": op.fn, "actor": op.actor, "params": op.params, "invalid": sorted(op.invalid)}


def op_from_json(doc: dict[str, Any]) -> Op:
    return Op(doc["fn"], doc["actor"], dict(doc["params"]), frozenset(doc.get("invalid", ())))


def saved_regressions(path: Path = REGRESSIONS) -> list[list[Op]]:
    """The minimal failing sequences found so far (each fixed since), replayed by make test."""
    if not path.exists():
        return []
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [[op_from_json(o) for o in entry["ops"]] for entry in doc["sequences"]]


def save_regression(ops: list[Op], error: str, path: Path = REGRESSIONS) -> None:
    doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"sequences": []}
    doc["sequences"].append(
        {"found": time.strftime("%Y-%m-%d", time.gmtime()), "error": error[:500], "ops": [op_to_json(o) for o in ops]}
    )
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n", encoding="utf-8")


_SIGNATURE = """
select coalesce(p.proargnames, '{}'), array(select format_type(t, null) from unnest(p.proargtypes) as t)
from pg_proc as p join pg_namespace as n on p.pronamespace = n.oid
where n.nspname = 'public' and p.proname = %s
"""

_DRAIN = "select public.report_jobs_process(1000, 60000)"


@dataclass
class Outcome:
    """What one sequence did: the calls accepted and refused, and every difference found after it."""

    accepted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    differences: list[tuple[Any, ...]] = field(default_factory=list)


class SequenceError(AssertionError):
    pass


class Sequences:
    """Runs sequences of operations on one seeded database, each in one transaction rolled back at its
    end: a cheap reset, so that thousands run on one school. Actors act as PostgREST makes them act
    (SET LOCAL ROLE and the JWT claims); every operation runs in a savepoint, so that a refusal undoes
    exactly that operation, as a refused RPC does."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url)
        self.signatures: dict[str, tuple[list[str], list[str]]] = {}
        self.totals = Outcome()
        self.sequences = 0

    def close(self) -> None:
        self.conn.close()

    def one(self, query: str, params: Any = None) -> Any:
        row = self.conn.execute(query, params).fetchone()
        assert row is not None
        return row[0]

    def _act(self, actor: str) -> None:
        if actor == "service":
            role, claims = "service_role", {"role": "service_role"}
        else:
            user = {"helen": HELEN, "david": DAVID}.get(actor, actor)
            role, claims = "authenticated", {"sub": user, "role": "authenticated"}
        self.conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
            (role, json.dumps(claims)),
        )

    def _owner(self) -> None:
        self.conn.execute("reset role; select set_config('request.jwt.claims', '', true)")

    def call(self, actor: str, fn: str, params: dict[str, Any]) -> Any:
        if fn not in self.signatures:
            row = self.conn.execute(_SIGNATURE, (fn,)).fetchone()
            assert row is not None, f"no function public.{fn}"
            self.signatures[fn] = (list(row[0]), list(row[1]))
        names, types = self.signatures[fn]
        kinds = dict(zip(names, types, strict=False))
        args, values = [], []
        for name, value in params.items():
            args.append(f"{name} => %s::{kinds[name]}")
            if kinds[name] in ("jsonb", "json"):
                values.append(json.dumps(value))
            elif isinstance(value, float):
                values.append(repr(value))
            else:
                values.append(value)
        self._act(actor)
        result = self.one(f"select public.{fn}({', '.join(args)})", values)
        self._owner()  # after an error, the rollback to the operation's savepoint undoes the role
        return result

    def step(self, op: Op, outcome: Outcome) -> None:
        self.conn.execute("savepoint op")
        try:
            if op.fn == "crash_batch":
                self.conn.execute("savepoint killed")
                self.call("service", "report_jobs_process", {"max_jobs": op.params["max_jobs"], "max_ms": 1000})
                self.conn.execute("rollback to savepoint killed")  # the backend died: nothing of the batch stays
            elif op.fn == "crash_claim":
                jobs = self.conn.execute(
                    "select c from private.report_jobs_claim(%s, 'fuzz-killed') as c", (op.params["max_jobs"],)
                ).fetchall()
                for (job_id,) in jobs[: op.params["run"]]:
                    self.conn.execute("select private.report_job_run(%s, 'fuzz-killed')", (job_id,))
                # The worker dies holding the rest: their leases run out, the reaper fails them.
                self.conn.execute(
                    "update private.report_jobs set lease_expires_at = now() - interval '1 second'"
                    " where state = 'running' and locked_by = 'fuzz-killed'"
                )
                self.conn.execute("select private.report_jobs_reap()")
            elif op.fn == "crash_worker":
                claimed = self.call("service", "report_jobs_claim", {"max_jobs": op.params["max_jobs"]})
                job_ids = [int(j) for j in claimed["job_ids"]]
                for job_id in job_ids[: op.params["run"]]:
                    ran = self.call("service", "report_jobs_run", {"job_id": job_id})
                    assert ran["outcome"] in ("done", "busy", "gone", "missing"), f"{op!r}: {ran}"
                rest = job_ids[op.params["run"] :]
                if op.params["ending"] == "stopped":
                    for job_id in rest:
                        self.call("service", "report_jobs_release", {"job_id": job_id})
                else:  # killed holding the rest: their leases run out, the reaper fails them
                    self.conn.execute(
                        "update private.report_jobs set lease_expires_at = now() - interval '1 second'"
                        " where job_id = any(%s) and state = 'running'",
                        (rest,),
                    )
                    self.conn.execute("select private.report_jobs_reap()")
            elif op.fn == "import":
                self.conn.execute(IMPORT_VARIANTS[op.params["variant"]])
                self.conn.execute("select private.import_planner('legacy', false, false)")
                self.conn.execute("select private.report_backfill_all(50)")
            else:
                result = self.call(op.actor, op.fn, op.params)
                if op.fn == "report_jobs_process":
                    assert (result["failed"], result["dead"]) == (0, 0), f"{op!r}: {result}"
        except psycopg.Error as exc:
            self.conn.execute("rollback to savepoint op")
            code = exc.sqlstate or ""
            if len(code) != 5:
                raise SequenceError(f"{op!r} failed without a SQLSTATE: {exc}") from exc
            if op.invalid and code not in op.invalid:
                raise SequenceError(f"{op!r} was refused with {code} ({exc.diag.message_primary})") from exc
            if not op.invalid and op.fn in ("crash_batch", "crash_claim", "crash_worker", "import"):
                raise SequenceError(f"{op!r} failed: {code} {exc.diag.message_primary}") from exc
            outcome.refused[f"{op.fn} invalid" if op.invalid else f"{op.fn} refused"] += 1
            return
        self.conn.execute("release savepoint op")
        if op.invalid:
            raise SequenceError(f"{op!r} was accepted")
        outcome.accepted[op.fn] += 1

    def drain(self) -> None:
        """Until the queue is empty, as the workers get there: leases of dead workers run out, backoffs
        pass (the transaction's clock stands still), and a job that its killed workers left dead is
        re-queued by the operator (public.report_jobs_requeue). No recalculation may fail."""
        for _ in range(50):
            self.conn.execute(
                "update private.report_jobs set lease_expires_at = now() - interval '1 second' where state = 'running'"
            )
            self.conn.execute("select private.report_jobs_reap()")
            dead = self.conn.execute(
                "select job_id, last_error_code, last_error from private.report_jobs where state = 'dead'"
            ).fetchall()
            for job_id, code, error in dead:
                if code != "PLQ02":
                    raise SequenceError(f"job {job_id} is dead: {code} {error}")
                self.conn.execute("select public.report_jobs_requeue(%s)", (job_id,))
            self.conn.execute("update private.report_jobs set run_after = now() where run_after > now()")
            done = self.one(_DRAIN)
            if (done["failed"], done["dead"]) != (0, 0):
                raise SequenceError(f"a recalculation failed: {done}")
            if self.one("select count(*) from private.report_jobs") == 0:
                self.conn.execute("select private.report_groups_refresh(1000)")
                return
        raise SequenceError("the queue did not drain in 50 rounds")

    def differences(self) -> list[tuple[Any, ...]]:
        """Every pupil's cache against the live definition (report_verify for each: rows, documents and
        the page a pupil sees while feedback is withheld), and every class page against its rows."""
        rows = self.conn.execute(
            "select d.pupil_id::text, d.kind, d.key, d.difference"
            " from private.report_differences(array("
            "   select b.pupil_id from private.report_backfill_pupils(null, null) as b)) as d"
            " union all"
            " select null, 'class page', g.group_id, g.difference from private.report_group_differences(null) as g"
        ).fetchall()
        return [tuple(r) for r in rows]

    def run(self, ops: list[Op]) -> Outcome:
        """One sequence, then a full drain and the check; rolled back whatever happens."""
        outcome = Outcome()
        try:
            for op in ops:
                self.step(op, outcome)
            self.drain()
            outcome.differences = self.differences()
        finally:
            self.conn.rollback()
        self.sequences += 1
        self.totals.accepted.update(outcome.accepted)
        self.totals.refused.update(outcome.refused)
        if outcome.differences:
            raise SequenceError(f"the cache differs from the live definition: {outcome.differences[:5]}")
        return outcome


def prepare_database(url: str, seed_sql: bytes) -> None:
    """Migrations are applied; load the demo school and the legacy fixture (schema legacy), committed."""
    with psycopg.connect(url) as c, c.transaction():
        c.execute(seed_sql)
        c.execute(LEGACY_FIXTURE.read_text(encoding="utf-8"))
