"""Hostile input (issue 7, item 3): every RPC's parameters fuzzed through both transports, and the
AI marking webhook's parser fuzzed with random bodies.

The RPCs are enumerated from the catalog (every public function granted to authenticated or
service_role), so a new RPC is picked up at once, and `test_every_rpc_has_a_fuzz_spec` fails until it
has a spec here. For each parameter the hostile values come from its SQL type (wrong JSON types,
NULL, huge strings, out-of-range numbers, SQL-looking strings, empty and 10k-element arrays, a random
uuid, an omitted required parameter) plus the spec's own (ids of another class, malformed JSON for
jsonb parameters, deep nesting), and each value says for which callers it must be refused (the
service role, Helen as a teacher) given the spec's otherwise valid `base` parameters. Every call
sent is built to be invalid for its caller: at least one value it must refuse (or an unknown
parameter name), the other parameters hostile or valid at random. So every call must raise
`glue.rpc.RpcError` with a clean SQLSTATE (PL..., 42501, PGRST..., or classes 22/23/42/54), and the
checksums of every public table, private.report_jobs and realtime.messages must not move.

Inputs that once slipped through have a regression test each at the end of the file: JSON objects
and mixed-type arrays for non-jsonb parameters, NUL and lone surrogates in strings, deep nesting,
fractional numbers and booleans for integer parameters (the transports now send the arguments as
one JSON value converted by PostgreSQL, as PostgREST does), and webhook bodies nested too deep for
`json.loads` or with integers of over 4,300 digits.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from glue_testing import A4, ALGORITHMS, ASSIGNMENT, DAVID, GROUP, HELEN, LESSON_2, PRIYA, Transport, add_pupils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_endpoint import http_status

from glue.rpc import RpcClient, RpcError
from glue.webhook import MAX_BODY, PARAMETERS, REQUIRED, PayloadError, parse_ai_marks

MAX_RESULTS = 1000  # results_apply_ai_marks' batch limit (PLV05)

# --- who calls, and who must be refused ----------------------------------------------------------

SERVICE = "service"
TEACHER = "teacher"  # Helen Carter: teaches 25-8A-CS and 25-8B-CS (Computing)
CALLERS = (SERVICE, TEACHER)
Callers = frozenset[str]
BOTH: Callers = frozenset(CALLERS)
ONLY_TEACHER: Callers = frozenset({TEACHER})
NOBODY: Callers = frozenset()

# supabase/seed.sql, beyond what glue_testing names.
LESSON_1 = "00000000-0000-4000-8000-000000000301"  # assigned to 25-8A-CS and 25-8B-CS
LESSON_MATHS = "00000000-0000-4000-8000-000000000303"  # assigned to 25-8A-MATH (David)
LESSON_UNASSIGNED = "00000000-0000-4000-8000-000000000304"  # year 12, assigned to nobody
A1 = "00000000-0000-4000-8000-000000000601"  # MCQ in LESSON_1
A3 = "00000000-0000-4000-8000-000000000603"  # upload in LESSON_2
A5 = "00000000-0000-4000-8000-000000000605"  # display text in LESSON_1
MATHS_MCQ = "00000000-0000-4000-8000-000000000606"  # in LESSON_MATHS
VIDEO = "00000000-0000-4000-8000-000000000608"  # in LESSON_UNASSIGNED
S4 = "00000000-0000-4000-8000-000000000504"  # the only criterion linked to A4
CRITERIA = frozenset(f"00000000-0000-4000-8000-00000000050{i}" for i in range(1, 7))
FRACTIONS = "00000000-0000-4000-8000-000000000202"  # the Maths unit
MATHS_GROUP = "25-8A-MATH"
MATHS_ASSIGNMENT = f"{MATHS_GROUP}__{LESSON_MATHS}"

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)

# The examples per transport (every RPC is called once per caller in each example); more for a long run.
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "12"))
# Calls of a batch run concurrently: the test endpoint takes ~40 ms per request (its header and body
# are two writes: Nagle and delayed ACKs), the database a few. Not more than 16 over HTTP: the test
# endpoint's listen backlog is 5, and a burst of new connections gets resets.
WORKERS = {"pg": 8}
HTTP_WORKERS = 16


def clean_sqlstate(code: str | None) -> bool:
    """The SQLSTATEs a refused call may carry: the project's, 42501, PostgREST's, or a standard
    data (22), integrity (23), syntax/access (42) or limit (54) error."""
    if not code:
        return False
    if code.startswith("PGRST") or code == "42501":
        return True
    return len(code) == 5 and (code.startswith("PL") or code[:2] in {"22", "23", "42", "54"})


# --- hostile values ---------------------------------------------------------------------------------


class _Omitted:
    def __repr__(self) -> str:
        return "<omitted>"


OMIT: Any = _Omitted()  # the parameter is left out of the call


@dataclass(frozen=True)
class Hostile:
    """A value for one parameter and the callers that must be refused it (the other parameters
    being valid). `universal`: refused on any database (a type, a NULL, a range), so it is safe to
    send to a real project; `json`: it can travel as JSON (NaN cannot)."""

    label: str
    value: Any
    refused: Callers
    universal: bool = False
    json: bool = True


@dataclass(frozen=True)
class Param:
    """What a parameter refuses beyond its SQL type."""

    null: Callers = BOTH  # NULL
    unknown: Callers = BOTH  # uuid: a random uuid (no such row)
    text: Callable[[str], Callers] | None = None  # text: who is refused this text
    one_of: bool = False  # text: refused unless one of a few values (so random text is refused)
    accepts: Callable[[float], bool] | None = None  # numbers: the value may be accepted
    check: Callable[[Any], Callers] | None = None  # jsonb: explicit re-validation of any JSON
    special: tuple[Hostile, ...] = ()  # ids of other classes, malformed JSON, ...


@dataclass(frozen=True)
class RpcSpec:
    base: Mapping[str, Any]  # valid parameters for both callers (never sent as they are)
    params: Mapping[str, Param]
    refuses: Callers = NOBODY  # callers refused whatever the input (not only by EXECUTE grants)


@dataclass(frozen=True)
class Signature:
    """An RPC as the catalog has it."""

    name: str
    args: tuple[tuple[str, str, bool], ...]  # (name, SQL type, has a default)
    executable_by: Callers


@dataclass(frozen=True)
class Call:
    rpc: str
    caller: str
    params: Mapping[str, Any]
    mutated: tuple[str, ...]  # what was made hostile, for the report

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return f"{self.rpc}({shown}) as {self.caller} [{'; '.join(self.mutated)}]"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}...<{len(text)} chars>"


def one_of(*allowed: str) -> Callable[[str], Callers]:
    return lambda text: NOBODY if text in allowed else BOTH


def length_between(low: int, high: int) -> Callable[[str], Callers]:
    return lambda text: NOBODY if low <= len(text) <= high else BOTH


def between(low: float, high: float) -> Callable[[float], bool]:
    return lambda number: not math.isnan(number) and low <= number <= high


def _pg_text(value: Any) -> str:
    """The text PostgreSQL makes of a non-string parameter cast to text (ints, floats, booleans and
    simple arrays, as glue.rpc.PgRpc sends them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else repr(value)
    if isinstance(value, list):
        return "{" + ",".join(_pg_text(v) for v in value) + "}"
    return str(value)


SQL_STRINGS = (
    "'; drop table public.submissions; --",
    "1) or (1=1",
    "$$",
    "' or '1'='1' --",
    "\\x00",  # a backslash, an x and two zeros: legal text (the NUL character is a known bug, below)
    "%s %(x)s {0}",
    "null",
    "",
    "\u202edlrow \U0001f600",
)
HUGE_STRINGS = (("100 KB string", "x" * 100_000), ("1 MB string", "'" * 1_000_000))

# Wrong JSON types and out-of-range numbers, (label, value), tried on every parameter.
WRONG_TYPES: tuple[tuple[str, Any], ...] = (
    ("12345", 12345),
    ("-1", -1),
    ("0", 0),
    ("2**31", 2**31),
    ("10**30", 10**30),
    ("1.0000001", 1.0000001),
    ("1e308", 1e308),
    ("-1e308", -1e308),
    ("NaN", math.nan),
    ("true", True),
    ("false", False),
    ("[1, 2, 3]", [1, 2, 3]),
    ("[]", []),
    ('["a", "b"]', ["a", "b"]),
    ("[[1], [2]]", [[1], [2]]),
    ("10k array", [7] * 10_000),
)
INT_RANGE = {"integer": (-(2**31), 2**31 - 1), "bigint": (-(2**63), 2**63 - 1)}


def _json_ok(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


def _deep(depth: int, *, objects: bool) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value} if objects else [value]
    return value


def _looks_like_uuid(text: str) -> bool:
    return len(re.sub(r"[\s{}-]", "", text)) == 32 and re.fullmatch(r"[\s{}0-9a-fA-F-]*", text) is not None


def _pg_boolean_literal(text: str) -> bool:
    """Whether PostgreSQL's boolean input takes this text (a prefix of true/false/yes/no, of on/off
    from two letters, 1 or 0; case and surrounding spaces ignored)."""
    word = text.strip().lower()
    if word in ("1", "0") or (len(word) >= 2 and ("on".startswith(word) or "off".startswith(word))):
        return True
    return bool(word) and any(full.startswith(word) for full in ("true", "false", "yes", "no"))


def classify_generic(sql_type: str, param: Param, label: str, value: Any) -> Hostile | None:
    """A generic hostile value for a parameter of this type; None when it would only show a known bug."""
    universal = True
    refused: Callers
    if sql_type == "date" and isinstance(value, list | dict):
        return None  # PostgreSQL's date input reads the JSON text '[1, 2, 3]' as 2003-01-02 (as behind PostgREST)
    if sql_type in ("uuid", "date"):
        refused = BOTH  # nothing else generic parses as a uuid or a date
    elif sql_type == "uuid[]":
        refused = NOBODY if value == [] else BOTH
    elif sql_type == "boolean":
        if isinstance(value, bool):
            refused = NOBODY
        elif isinstance(value, int):
            refused = NOBODY if value in (0, 1) else BOTH  # PostgreSQL's boolean input takes 0 and 1
        elif isinstance(value, str):
            refused = NOBODY if _pg_boolean_literal(value) else BOTH
        else:
            refused = BOTH
    elif sql_type in ("integer", "bigint", "numeric"):
        if isinstance(value, bool):
            refused = BOTH
        elif isinstance(value, int | float):
            if sql_type != "numeric" and isinstance(value, float):
                refused = BOTH  # "7.6" or "7.0" is not an integer's input
            elif sql_type in INT_RANGE and not (INT_RANGE[sql_type][0] <= value <= INT_RANGE[sql_type][1]):
                refused = BOTH  # out of range for the type (NaN too)
            elif param.accepts is None:
                refused = NOBODY
            else:
                refused = NOBODY if param.accepts(float(value)) else BOTH
        elif isinstance(value, str):
            refused = BOTH  # no generic string is a number
        else:
            refused = BOTH  # arrays: no cast
    elif sql_type == "text":
        assert param.text is not None, "a text parameter needs a `text` rule"
        refused = param.text(value if isinstance(value, str) else _pg_text(value))
        universal = param.one_of or refused == BOTH
    elif sql_type == "jsonb":
        assert param.check is not None, "a jsonb parameter needs a `check` rule"
        refused = param.check(value)
    else:
        raise AssertionError(f"no hostile values for SQL type {sql_type}")
    return Hostile(label, value, refused, universal=universal and refused == BOTH, json=_json_ok(value))


def static_pool(sql_type: str, param: Param, has_default: bool) -> list[Hostile]:
    """Every fixed hostile value of a parameter (the explicit tables)."""
    pool = [Hostile("omitted", OMIT, NOBODY if has_default else BOTH, universal=not has_default)]
    pool.append(Hostile("null", None, param.null, universal=param.null == BOTH))
    candidates = [*WRONG_TYPES, *((f"{s!r}", s) for s in SQL_STRINGS), *HUGE_STRINGS]
    for label, value in candidates:
        hostile = classify_generic(sql_type, param, label, value)
        if hostile is not None:
            pool.append(hostile)
    if sql_type == "uuid":
        pool.append(Hostile("random uuid", str(uuid.uuid4()), param.unknown))
    if sql_type == "uuid[]":
        pool.append(Hostile("[null]", [None], BOTH))
        pool.append(Hostile("[random uuid]", [str(uuid.uuid4())], BOTH))
        pool.append(Hostile("10k random uuids", [str(uuid.uuid4()) for _ in range(10_000)], BOTH))
    pool.extend(param.special)
    return pool


# --- random values (hypothesis) -----------------------------------------------------------------------

SAFE_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)  # no surrogates, no NUL
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | SAFE_TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SAFE_TEXT, inner, max_size=4),
    max_leaves=20,
)


def random_pool(sql_type: str, param: Param) -> st.SearchStrategy[Hostile]:
    """Values made up by hypothesis, classified by the same rules."""
    if sql_type == "uuid":
        return st.one_of(
            st.uuids().map(lambda u: Hostile("random uuid", str(u), param.unknown)),
            SAFE_TEXT.filter(lambda s: not _looks_like_uuid(s)).map(
                lambda s: Hostile("random text", s, BOTH, universal=True)
            ),
            st.integers().map(lambda i: Hostile("random integer", i, BOTH, universal=True)),
        )
    if sql_type == "uuid[]":
        return st.lists(st.uuids().map(str), min_size=1, max_size=50).map(
            lambda ids: Hostile("random uuids", ids, BOTH)
        )
    if sql_type == "text":
        assert param.text is not None
        rule = param.text
        return st.one_of(
            SAFE_TEXT.map(lambda s: Hostile("random text", s, rule(s), universal=param.one_of)),
            st.integers(1000, 50_000).map(lambda n: Hostile(f"{n}-char string", "é" * n, rule("é" * n))),
        )
    if sql_type in INT_RANGE:
        low, high = INT_RANGE[sql_type]
        accepts = param.accepts or (lambda _number: True)
        return st.integers(-(10**25), 10**25).map(
            lambda i: Hostile(
                "random integer", i, BOTH if not (low <= i <= high) or not accepts(i) else NOBODY, universal=True
            )
        )
    if sql_type == "numeric":
        accepts = param.accepts or (lambda _number: True)
        return st.floats(allow_nan=False, allow_infinity=False).map(
            lambda x: Hostile("random number", x, NOBODY if accepts(x) else BOTH, universal=True)
        )
    if sql_type == "boolean":
        return SAFE_TEXT.map(lambda s: Hostile("random text", s, NOBODY if _pg_boolean_literal(s) else BOTH))
    if sql_type == "date":
        return st.integers(-32768, 32767).map(lambda i: Hostile("random integer", i, BOTH, universal=True))
    if sql_type == "jsonb":
        assert param.check is not None
        check = param.check
        return st.one_of(
            JSON_VALUES.map(lambda v: Hostile("random JSON", v, check(v))),
            st.integers(50, 300).flatmap(
                lambda depth: st.booleans().map(
                    lambda objects: Hostile(
                        f"nested {depth} deep", _deep(depth, objects=objects), check(_deep(depth, objects=objects))
                    )
                )
            ),
        )
    raise AssertionError(f"no random values for SQL type {sql_type}")


UNKNOWN_NAMES = st.one_of(
    st.sampled_from(["'; drop table public.submissions; --", "PUPIL_ID", "pupil_id ", "", "__proto__", "x" * 1000]),
    st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20),
)


@dataclass(frozen=True)
class Plan:
    """An RPC's signature and spec with its hostile values, fixed (`static`) and random."""

    sig: Signature
    spec: RpcSpec
    static: Mapping[str, Sequence[Hostile]]
    random: Mapping[str, st.SearchStrategy[Hostile]]

    @classmethod
    def of(cls, sig: Signature, spec: RpcSpec) -> Plan:
        static = {n: static_pool(t, spec.params[n], d) for n, t, d in sig.args}
        random = {n: random_pool(t, spec.params[n]) for n, t, _d in sig.args}
        return cls(sig, spec, static, random)

    def __repr__(self) -> str:  # hypothesis shows the strategies' arguments: not megabytes of values
        return f"Plan({self.sig.name})"

    def always_refused(self, caller: str) -> bool:
        return caller not in self.sig.executable_by or caller in self.spec.refuses


def _named(name: str, values: st.SearchStrategy[Hostile]) -> st.SearchStrategy[tuple[str, Hostile | None]]:
    return values.map(lambda h: (name, h))


@st.composite
def hostile_call(draw: st.DrawFn, plan: Plan, caller: str, *, json_only: bool, universal_only: bool) -> Call:
    """A call that `caller` must be refused: one refused value (or an unknown parameter name), the
    other parameters valid or hostile at random. Random values are classified by the same rules;
    when the one drawn first is not refused, a fixed refused one is drawn as well (no filtering)."""
    always = plan.always_refused(caller)

    def usable(h: Hostile) -> bool:
        return (h.json or not json_only) and (h.universal or not universal_only)

    def refused(h: Hostile) -> bool:
        return usable(h) and (always or caller in h.refused)

    pools: dict[str, st.SearchStrategy[Hostile]] = {}
    fixed_anchors: list[st.SearchStrategy[tuple[str, Hostile | None]]] = []
    random_anchors: list[st.SearchStrategy[tuple[str, Hostile | None]]] = []
    for name, fixed in plan.static.items():
        usable_fixed = st.sampled_from([h for h in fixed if usable(h)])
        pools[name] = usable_fixed if universal_only else st.one_of(usable_fixed, plan.random[name])
        if any(refused(h) for h in fixed):
            fixed_anchors.append(_named(name, st.sampled_from([h for h in fixed if refused(h)])))
        if not universal_only:
            random_anchors.append(_named(name, plan.random[name]))
    # An unknown parameter name is refused before anything else (PGRST202): one call in ten.
    if not fixed_anchors or draw(st.integers(0, 9)) == 0:
        fixed_anchors.append(UNKNOWN_NAMES.map(lambda n: (n, None)))
    mutations: dict[str, Hostile] = {}
    unknown: dict[str, Any] = {}
    name, hostile = draw(st.one_of(*fixed_anchors, *random_anchors))
    if hostile is not None and not refused(hostile):  # a random value that may be valid: keep it, add a refused one
        mutations[name] = hostile
        name, hostile = draw(st.one_of(fixed_anchors))
    if hostile is None:
        unknown[name if name not in plan.static else f"{name}_"] = draw(JSON_SCALARS)
    else:
        mutations[name] = hostile
    for other in draw(st.lists(st.sampled_from(sorted(plan.static)), unique=True, max_size=2)) if plan.static else []:
        if other not in mutations:
            mutations[other] = draw(pools[other])
    params = dict(plan.spec.base)
    for arg, value in mutations.items():
        if value.value is OMIT:
            params.pop(arg, None)
        else:
            params[arg] = value.value
    params.update(unknown)
    described = [f"{n}: {h.label}" for n, h in mutations.items()] + [f"unknown parameter {n!r}" for n in unknown]
    assert always or unknown or any(caller in h.refused for h in mutations.values())
    return Call(plan.sig.name, caller, params, tuple(described))


# --- the RPCs' specs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """Ids of this module's own making: a class of David's (Maths, with LESSON_2 and LESSON_MATHS
    assigned) with one pupil who is in no class of Helen's, and a pupil in no class at all."""

    group: str
    other_pupil: str
    loner: str


def _ai_results(value: Any) -> Callers:
    """results_apply_ai_marks' rules for `results`; items for pupils outside the class are reported,
    not refused."""
    if not isinstance(value, list) or len(value) > MAX_RESULTS:
        return BOTH
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, dict):
            return BOTH
        pupil, score, feedback = item.get("pupil_id"), item.get("score"), item.get("feedback")
        if not isinstance(pupil, str) or not UUID_RE.fullmatch(pupil) or pupil.lower() in seen:
            return BOTH
        seen.add(pupil.lower())
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            return BOTH
        if feedback is not None and (not isinstance(feedback, str) or len(feedback) > 20_000):
            return BOTH
    return NOBODY


def _criterion_scores(value: Any) -> Callers:
    """results_save_feedback's rules for `criterion_scores` (on A4, or on another activity)."""
    if value is None:
        return NOBODY
    if not isinstance(value, list):
        return BOTH
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, dict) or "score" not in item:
            return BOTH
        criterion, score = item.get("success_criteria_id"), item["score"]
        if not isinstance(criterion, str) or not UUID_RE.fullmatch(criterion) or criterion.lower() in seen:
            return BOTH
        seen.add(criterion.lower())
        if criterion.lower() not in CRITERIA:
            return BOTH  # unknown criterion (PLN05) whatever the activity
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1):
            return BOTH
    return NOBODY


def _boundaries(value: Any) -> Callers:
    """level_boundaries_set's rules: {label: min_percent}, 0 at 0, increasing with rank, within 0-100."""
    if not isinstance(value, dict):
        return BOTH
    ranked: list[tuple[int, float]] = []
    for label, percent in value.items():
        if label == "0":
            rank = 0
        elif re.fullmatch(r"[1-9][LMH]", label):
            rank = (int(label[0]) - 1) * 3 + "LMH".index(label[1]) + 1
        else:
            return BOTH
        if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
            return BOTH
        ranked.append((rank, float(percent)))
    if (0, 0.0) not in ranked:
        return BOTH
    for rank, percent in ranked:
        if any(r < rank and p >= percent for r, p in ranked):
            return BOTH
    return NOBODY


def _ai_meta(value: Any) -> Callers:
    return NOBODY if value is None or isinstance(value, dict) else BOTH


def _bad_items(make: Callable[[Any], dict[str, Any]], label: str) -> Hostile:
    return Hostile(label, [make(i) for i in range(3)], BOTH)


def specs(world: World) -> dict[str, RpcSpec]:
    other, loner = world.other_pupil, world.loner
    group_text = one_of(GROUP, "25-8B-CS", MATHS_GROUP, world.group)
    # A pupil of one of Helen's classes is a valid pupil for her; these are not.
    pupil = Param(
        special=(
            Hostile("pupil of David's class", other, ONLY_TEACHER),
            Hostile("pupil of no class", loner, ONLY_TEACHER),
        )
    )
    readable_pupil_ids = Param(special=(Hostile("pupil of David's class", other, NOBODY),))
    group = Param(
        text=group_text,
        one_of=True,
        special=(
            Hostile("David's class", MATHS_GROUP, ONLY_TEACHER),
            Hostile("David's other class", world.group, ONLY_TEACHER),
        ),
    )
    assignment = Param(
        text=lambda text: NOBODY if text in (ASSIGNMENT, MATHS_ASSIGNMENT, f"{world.group}__{LESSON_2}") else BOTH,
        one_of=True,
        special=(
            Hostile("David's assignment", MATHS_ASSIGNMENT, ONLY_TEACHER),
            Hostile("David's other class's assignment", f"{world.group}__{LESSON_2}", ONLY_TEACHER),
            Hostile("unknown lesson", f"{GROUP}__{uuid.uuid4()}", BOTH),
            Hostile("lesson not assigned", f"{GROUP}__{LESSON_UNASSIGNED}", BOTH),
            Hostile("no separator", f"{GROUP}{LESSON_2}", BOTH, universal=True),
            Hostile("SQL after the separator", f"{GROUP}__'; drop table public.submissions; --", BOTH, universal=True),
        ),
    )
    marked_activity = Param(
        special=(
            Hostile("activity of a lesson assigned to nobody", VIDEO, BOTH),
            Hostile("David's activity", MATHS_MCQ, ONLY_TEACHER),
        )
    )
    submitted_activity = Param(
        special=(
            Hostile("display text (takes no answer)", A5, BOTH),
            Hostile("video of an unassigned lesson", VIDEO, BOTH),
        )
    )
    # Helen is no pupil: every submission of hers is refused (42501 for another pupil, PLV04 for herself).
    submitter = Param(
        special=(
            Hostile("pupil of David's class", other, ONLY_TEACHER),
            Hostile("pupil of no class", loner, BOTH),
        )
    )
    score = Param(null=NOBODY, accepts=between(0, 1))
    feedback = Param(null=NOBODY, text=length_between(0, 20_000))
    optional_flag = Param(null=NOBODY)
    sample_size = Param(null=NOBODY, accepts=between(1, 2**31 - 1))
    unit_year = Param(null=NOBODY, accepts=between(7, 13))
    ai_results_special = (
        Hostile("10k items", [{"pupil_id": str(uuid.uuid4()), "score": 0.5} for _ in range(10_000)], BOTH),
        Hostile("1001 items", [{"pupil_id": str(uuid.uuid4()), "score": 0.5} for _ in range(1001)], BOTH),
        _bad_items(
            lambda i: {"pupil_id": PRIYA if i else "'; drop table public.submissions; --", "score": 0.5}, "SQL id"
        ),
        _bad_items(
            lambda i: {"pupil_id": str(uuid.uuid4()), "score": [-1, 1.0000001, 1e308][i]}, "scores out of range"
        ),
        _bad_items(lambda i: {"pupil_id": str(uuid.uuid4()), "score": "0.5"}, "score as text"),
        _bad_items(lambda i: {"pupil_id": str(uuid.uuid4()), "score": 0.5, "feedback": {"x": i}}, "feedback object"),
        _bad_items(lambda i: {"pupil_id": str(uuid.uuid4()), "score": 0.5, "feedback": "x" * 20_001}, "feedback huge"),
        Hostile("a pupil twice", [{"pupil_id": PRIYA, "score": 0.5}, {"pupil_id": PRIYA.upper(), "score": 0.4}], BOTH),
        Hostile("score NaN", [{"pupil_id": PRIYA, "score": math.nan}], BOTH, json=False),
        Hostile("nested 250 deep", _deep(250, objects=False), BOTH),
        Hostile("pupils of other classes", [{"pupil_id": p, "score": 0.5} for p in (other, loner)], NOBODY),
    )
    criterion_special = (
        Hostile("unknown criterion", [{"success_criteria_id": str(uuid.uuid4()), "score": 0.5}], BOTH),
        Hostile("score 1.0000001", [{"success_criteria_id": S4, "score": 1.0000001}], BOTH),
        Hostile("score -1e308", [{"success_criteria_id": S4, "score": -1e308}], BOTH),
        Hostile("score NaN", [{"success_criteria_id": S4, "score": math.nan}], BOTH, json=False),
        Hostile(
            "criterion twice",
            [{"success_criteria_id": S4, "score": 0.5}, {"success_criteria_id": S4, "score": 1}],
            BOTH,
        ),
        Hostile("no score", [{"success_criteria_id": S4}], BOTH),
        Hostile("10k unknown criteria", [{"success_criteria_id": str(uuid.uuid4()), "score": 1}] * 10_000, BOTH),
        Hostile("nested 250 deep", _deep(250, objects=False), BOTH),
    )
    boundaries_special = (
        Hostile("{}", {}, BOTH),
        Hostile("SQL label", {"0": 0, "'; drop table public.level_boundaries; --": 5}, BOTH),
        Hostile("percent 1e308", {"0": 0, "1L": 1e308}, BOTH),
        Hostile("percent NaN", {"0": 0, "1L": math.nan}, BOTH, json=False),
        Hostile("not increasing", {"0": 0, "1L": 20, "1M": 10}, BOTH),
        Hostile("0 as text", {"0": "0"}, BOTH),
        Hostile("nested 250 deep", _deep(250, objects=True), BOTH),
        Hostile("10k labels", {f"x{i}": i for i in range(10_000)}, BOTH),
    )
    ai_meta_special = (
        Hostile("nested 250 deep", _deep(250, objects=True), NOBODY),
        Hostile("SQL keys", {"'; drop table public.submissions; --": "$$"}, NOBODY),
    )
    return {
        "report_verify": RpcSpec({"pupil_id": PRIYA}, {"pupil_id": readable_pupil_ids}),
        "report_verify_sweep": RpcSpec({"sample_size": 1}, {"sample_size": sample_size}),
        "report_pupil": RpcSpec({"pupil_id": PRIYA}, {"pupil_id": pupil}),
        "report_group": RpcSpec({"group_id": GROUP}, {"group_id": group}),
        "report_queue_health": RpcSpec({}, {}),
        "report_process_pupil": RpcSpec({"pupil_id": PRIYA}, {"pupil_id": pupil}),
        "report_jobs_process": RpcSpec(
            {"max_jobs": 1, "max_ms": 1},
            {"max_jobs": Param(accepts=between(1, 10_000)), "max_ms": Param(accepts=between(1, 60_000))},
        ),
        "report_jobs_failures": RpcSpec({}, {}),
        "report_queue_schedule": RpcSpec(
            {}, {"drain_interval": Param(null=NOBODY, text=one_of("* * * * *", "5 seconds"), one_of=True)}
        ),
        # Job ids start at 1; a positive id may be a dead job (whose requeue is a valid write).
        "report_jobs_requeue": RpcSpec({"job_id": 1}, {"job_id": Param(accepts=lambda n: n >= 1)}),
        "report_verify_and_enqueue": RpcSpec({"sample_size": 1}, {"sample_size": sample_size}),
        "results_apply_ai_marks": RpcSpec(
            {
                "group_assignment_id": ASSIGNMENT,
                "activity_id": A4,
                "results": [{"pupil_id": PRIYA, "score": 0.5, "feedback": "fuzz"}],
                "ai_meta": {"model": "fuzz"},
            },
            {
                "group_assignment_id": assignment,
                "activity_id": Param(
                    special=(
                        Hostile("activity of another lesson", A1, BOTH),
                        Hostile("David's activity", MATHS_MCQ, ONLY_TEACHER),
                    )
                ),
                "results": Param(check=_ai_results, special=ai_results_special),
                "ai_meta": Param(null=NOBODY, check=_ai_meta, special=ai_meta_special),
            },
        ),
        "submissions_submit_answer": RpcSpec(
            {"activity_id": A4, "text": "fuzz answer", "status": "submitted", "pupil_id": PRIYA},
            {
                "activity_id": submitted_activity,
                "text": Param(text=length_between(0, 20_000)),
                "option_id": Param(null=NOBODY, text=lambda _text: BOTH),  # A4 takes text, not an option
                "status": Param(text=one_of("inprogress", "submitted"), one_of=True),
                "pupil_id": submitter,
            },
            refuses=ONLY_TEACHER,
        ),
        "submissions_record_upload": RpcSpec(
            {"activity_id": A3, "file_name": "flowchart.png", "path": "25-8A-CS/fuzz/flowchart.png", "pupil_id": PRIYA},
            {
                "activity_id": Param(special=(*submitted_activity.special, Hostile("text activity", A4, BOTH))),
                "file_name": Param(text=length_between(1, 255)),
                "path": Param(text=length_between(1, 1024)),
                "pupil_id": submitter,
            },
            refuses=ONLY_TEACHER,
        ),
        "submissions_delete_upload": RpcSpec(
            {"activity_id": A3, "pupil_id": PRIYA},
            {
                "activity_id": Param(special=(*submitted_activity.special, Hostile("text activity", A4, BOTH))),
                "pupil_id": submitter,
            },
            refuses=ONLY_TEACHER,
        ),
        "results_save_feedback": RpcSpec(
            {
                "activity_id": A4,
                "pupil_id": PRIYA,
                "override_score": 0.5,
                "criterion_scores": [{"success_criteria_id": S4, "score": 0.5}],
                "feedback": "fuzz feedback",
            },
            {
                "activity_id": marked_activity,
                "pupil_id": Param(
                    special=(
                        Hostile("pupil of David's class", other, ONLY_TEACHER),
                        Hostile("pupil of no class", loner, BOTH),
                    )
                ),
                "override_score": score,
                "criterion_scores": Param(null=NOBODY, check=_criterion_scores, special=criterion_special),
                "feedback": feedback,
                # Any whole number may happen to be the current revision (then it is accepted); a stale
                # one is refused with PLS03, which tests/sql/security/hostile.test.sql asserts.
                "expected_revision": Param(null=NOBODY, accepts=lambda _: True),
            },
        ),
        "results_reset_feedback": RpcSpec(
            {"activity_id": A4, "pupil_id": PRIYA},
            {
                "activity_id": marked_activity,
                "pupil_id": Param(
                    special=(
                        Hostile("pupil of David's class", other, ONLY_TEACHER),
                        Hostile("pupil of no class", loner, BOTH),
                    )
                ),
            },
        ),
        "results_clear_ai_marks": RpcSpec(
            {"group_assignment_id": ASSIGNMENT, "activity_id": A4},
            {
                "group_assignment_id": assignment,
                "activity_id": Param(
                    special=(
                        Hostile("activity of another lesson", A1, BOTH),
                        Hostile("David's activity", MATHS_MCQ, ONLY_TEACHER),
                    )
                ),
            },
        ),
        "groups_add_member": RpcSpec(
            {"group_id": world.group, "user_id": loner, "role": "pupil"},
            {
                "group_id": Param(text=group_text, one_of=True),
                "user_id": Param(),
                "role": Param(text=one_of("pupil", "teacher"), one_of=True),
            },
        ),
        "groups_remove_member": RpcSpec(
            {"group_id": GROUP, "user_id": loner},  # not a member: a valid no-op
            {"group_id": group, "user_id": Param(unknown=NOBODY, special=(Hostile("pupil elsewhere", other, NOBODY),))},
        ),
        "lessons_assign": RpcSpec(
            {"group_id": GROUP, "lesson_id": LESSON_1, "start_date": "2025-09-15", "feedback_visible": True},
            {
                "group_id": group,
                "lesson_id": Param(special=(Hostile("unassigned lesson", LESSON_UNASSIGNED, NOBODY),)),
                "start_date": Param(null=NOBODY, special=(Hostile("month 13", "2025-13-45", BOTH, universal=True),)),
                "feedback_visible": optional_flag,
            },
        ),
        "lessons_unassign": RpcSpec(
            {"group_id": GROUP, "lesson_id": LESSON_UNASSIGNED},  # not assigned: a valid no-op
            {"group_id": group, "lesson_id": Param(unknown=NOBODY)},
        ),
        "activities_set_criteria": RpcSpec(
            {"activity_id": A4, "success_criteria_ids": [S4]},
            {
                "activity_id": Param(special=(Hostile("David's activity", MATHS_MCQ, ONLY_TEACHER),)),
                "success_criteria_ids": Param(),
            },
        ),
        "activities_update": RpcSpec(
            {"activity_id": A4, "is_summative": False, "active": True, "type": "short-text-question"},
            {
                "activity_id": Param(special=(Hostile("David's activity", MATHS_MCQ, ONLY_TEACHER),)),
                "is_summative": optional_flag,
                "active": optional_flag,
                "type": Param(null=NOBODY, text=one_of("short-text-question"), one_of=True),
            },
        ),
        "lessons_set_active": RpcSpec(
            {"lesson_id": LESSON_1, "active": True},
            {"lesson_id": Param(special=(Hostile("David's lesson", LESSON_MATHS, ONLY_TEACHER),)), "active": Param()},
        ),
        "units_update": RpcSpec(
            {"unit_id": ALGORITHMS, "year": 8, "active": True},
            {
                "unit_id": Param(special=(Hostile("David's unit", FRACTIONS, ONLY_TEACHER),)),
                "year": unit_year,
                "active": optional_flag,
            },
        ),
        "level_boundaries_set": RpcSpec(
            {"year": 8, "boundaries": {"0": 0, "1L": 5, "1M": 10}},
            {
                "year": Param(accepts=between(7, 13)),
                "boundaries": Param(check=_boundaries, special=boundaries_special),
            },
        ),
        "read_assignment_results": RpcSpec(
            {"group_id": GROUP, "lesson_id": LESSON_2},
            {
                "group_id": group,
                "lesson_id": Param(
                    special=(
                        Hostile("lesson assigned to nobody", LESSON_UNASSIGNED, BOTH),
                        Hostile("David's lesson", LESSON_MATHS, ONLY_TEACHER),
                    )
                ),
            },
        ),
        "read_assignment_results_slice": RpcSpec(
            {"group_id": GROUP, "lesson_id": LESSON_2, "pupil_id": PRIYA, "activity_id": A4},
            {
                "group_id": group,
                "lesson_id": Param(
                    special=(
                        Hostile("lesson assigned to nobody", LESSON_UNASSIGNED, BOTH),
                        Hostile("David's lesson", LESSON_MATHS, ONLY_TEACHER),
                    )
                ),
                "pupil_id": Param(
                    null=NOBODY,
                    special=(
                        Hostile("pupil of David's class", other, ONLY_TEACHER),
                        Hostile("pupil of no class", loner, BOTH),
                    ),
                ),
                "activity_id": Param(
                    null=NOBODY,
                    special=(
                        Hostile("activity of another lesson", A1, BOTH),
                        Hostile("David's activity", MATHS_MCQ, ONLY_TEACHER),
                    ),
                ),
            },
        ),
    }


# --- the catalog, the database's checksums, the clients ------------------------------------------------

_RPCS = """
select p.proname, p.proargnames, p.proargmodes,
       array(select format_type(t, null) from unnest(p.proargtypes) as t), p.pronargs, p.pronargdefaults,
       has_function_privilege('service_role', p.oid, 'execute'),
       has_function_privilege('authenticated', p.oid, 'execute')
from pg_proc as p
join pg_namespace as n on n.oid = p.pronamespace
where n.nspname = 'public' and p.prokind = 'f'
  and (has_function_privilege('authenticated', p.oid, 'execute')
       or has_function_privilege('service_role', p.oid, 'execute'))
order by p.proname
"""


def catalog(url: str) -> dict[str, Signature]:
    found: dict[str, Signature] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, names, modes, types, nargs, ndefaults, service, authenticated in conn.execute(_RPCS):
            inputs = [n for n, m in zip(names or [], modes or ["i"] * len(names or []), strict=True) if m in "ibv"]
            assert len(inputs) == nargs == len(types), f"{name}: unnamed or variadic parameters"
            args = tuple((n, t, i >= nargs - ndefaults) for i, (n, t) in enumerate(zip(inputs, types, strict=True)))
            callers = {c for c, ok in ((SERVICE, service), (TEACHER, authenticated)) if ok}
            assert name not in found, f"{name} is overloaded"
            found[name] = Signature(name, args, frozenset(callers))
    return found


class Checksums:
    """md5 of every row (as text, in order) of every public table, private.report_jobs and
    realtime.messages, as the database owner."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        tables = [
            r[0]
            for r in self.conn.execute(
                "select format('%I.%I', n.nspname, c.relname) from pg_class as c"
                " join pg_namespace as n on n.oid = c.relnamespace"
                " where c.relkind in ('r', 'p') and (n.nspname = 'public'"
                " or (n.nspname, c.relname) in (('private', 'report_jobs'), ('realtime', 'messages')))"
                " order by 1"
            )
        ]
        assert {"public.submissions", "private.report_jobs", "realtime.messages"} <= set(tables)
        self.query = " union all ".join(
            f"select '{t}', md5(coalesce(string_agg(x::text, ',' order by x::text), '')) from {t} as x" for t in tables
        )

    def take(self) -> dict[str, str]:
        return {t: s for t, s in self.conn.execute(self.query).fetchall()}

    def close(self) -> None:
        self.conn.close()


class Clients:
    """One client per caller, shared by the worker threads (PgRpc has a pool; supabase-py's httpx
    client is thread-safe and keeps its connections alive)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.lock = threading.Lock()
        self.clients: dict[str, RpcClient] = {}

    def get(self, caller: str) -> RpcClient:
        with self.lock:
            if caller not in self.clients:
                self.clients[caller] = self.transport.service() if caller == SERVICE else self.transport.user(HELEN)
            return self.clients[caller]


@dataclass
class Outcome:
    call: Call
    result: Any = None
    error: BaseException | None = None
    seconds: float = 0.0


def _run(clients: Clients, call: Call) -> Outcome:
    started = time.perf_counter()
    try:
        result = clients.get(call.caller).call(call.rpc, call.params)
    except Exception as exc:  # judged by the caller: only RpcError is acceptable
        return Outcome(call, error=exc, seconds=time.perf_counter() - started)
    return Outcome(call, result=result, seconds=time.perf_counter() - started)


def problem(outcome: Outcome, transport: str) -> str | None:
    """Why the outcome of a call that must be refused is not a clean refusal (None: it is)."""
    exc = outcome.error
    if exc is None:
        return f"accepted: {outcome.call!r} -> {_short(outcome.result)}"
    if not isinstance(exc, RpcError):
        return f"leaked {type(exc).__name__}: {_short(str(exc))} from {outcome.call!r}"
    if not clean_sqlstate(exc.sqlstate):
        return f"SQLSTATE {exc.sqlstate!r} ({_short(exc.message)}) from {outcome.call!r}"
    role = "service_role" if outcome.call.caller == SERVICE else "authenticated"
    if transport != "pg" and http_status(exc.sqlstate, role) >= 500:
        return f"HTTP {http_status(exc.sqlstate, role)} for {exc.sqlstate} from {outcome.call!r}"
    return None


@dataclass
class Fuzzer:
    transport: Transport
    checksums: Checksums | None
    clients: Clients
    pool: ThreadPoolExecutor
    calls: int = 0
    batches: int = 0
    refusals: dict[str, int] = field(default_factory=dict)

    def run(self, calls: Sequence[Call]) -> None:
        """Run a batch concurrently between two checksums; every call must be a clean refusal and
        the checksums must not move (on a mismatch, the calls are replayed one by one to find it)."""
        before = self.checksums.take() if self.checksums else None
        outcomes = list(self.pool.map(lambda c: _run(self.clients, c), calls))
        after = self.checksums.take() if self.checksums else None
        self.calls += len(calls)
        self.batches += 1
        for o in outcomes:
            if isinstance(o.error, RpcError):
                self.refusals[o.error.sqlstate] = self.refusals.get(o.error.sqlstate, 0) + 1
        problems = [p for o in outcomes if (p := problem(o, self.transport.name)) is not None]
        if before != after:
            assert before is not None
            assert after is not None
            changed = sorted(t for t in before if before[t] != after.get(t))
            culprits = self._bisect(calls)
            problems.append(f"partial write: {changed} changed; replayed one by one, the writers: {culprits}")
        assert not problems, f"{len(problems)} problems in a batch of {len(calls)} calls:\n" + "\n".join(problems[:20])

    def _bisect(self, calls: Sequence[Call]) -> list[str]:
        assert self.checksums is not None
        culprits: list[str] = []
        for call in calls:
            before = self.checksums.take()
            outcome = _run(self.clients, call)
            if self.checksums.take() != before:
                culprits.append(f"{call!r} -> {_short(outcome.error or outcome.result)}")
        return culprits or ["(none reproduced the write)"]


@pytest.fixture(scope="module")
def world(glue_url: str) -> World:
    group = f"HOSTILE-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(glue_url) as conn, conn.transaction():
        conn.execute(
            "insert into public.groups (group_id, subject, join_code) values (%s, 'Maths', %s)", (group, group)
        )
        conn.execute(
            "insert into public.group_membership (group_id, user_id, role) values (%s, %s, 'teacher')", (group, DAVID)
        )
        conn.execute(
            "insert into public.lesson_assignments (group_id, lesson_id, start_date)"
            " select %s, x, current_date from unnest(%s::uuid[]) as x",
            (group, [LESSON_2, LESSON_MATHS]),
        )
    (other,) = add_pupils(glue_url, 1, group)
    (loner,) = add_pupils(glue_url, 1, None)
    return World(group, other, loner)


@pytest.fixture(scope="module")
def signatures(glue_url: str) -> dict[str, Signature]:
    return catalog(glue_url)


@pytest.fixture(scope="module")
def rpc_specs(world: World) -> dict[str, RpcSpec]:
    return specs(world)


@pytest.fixture(scope="module")
def plans(signatures: dict[str, Signature], rpc_specs: dict[str, RpcSpec]) -> dict[str, Plan]:
    missing = sorted(set(signatures) - set(rpc_specs))
    assert not missing, f"RPCs without a fuzz spec: {missing}"
    return {name: Plan.of(sig, rpc_specs[name]) for name, sig in signatures.items()}


@pytest.fixture
def fuzzer(transport: Transport, glue_url: str) -> Iterator[Fuzzer]:
    checksums = Checksums(glue_url) if transport.local else None
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS.get(transport.name, HTTP_WORKERS), thread_name_prefix="hostile") as pool:
        fuzzer = Fuzzer(transport, checksums, Clients(transport), pool)
        yield fuzzer
    if checksums:
        checksums.close()
    print(
        f"\n{transport.name}: {fuzzer.calls} hostile calls in {fuzzer.batches} batches"
        f"{' between checksums' if checksums else ''}, {time.perf_counter() - started:.1f}s;"
        f" SQLSTATEs {dict(sorted(fuzzer.refusals.items()))}"
    )


def _callers(transport: Transport) -> tuple[str, ...]:
    # A real project (supabase-project) gives the tests no user tokens: the service role only.
    return CALLERS if transport.local else (SERVICE,)


# --- the tests: RPCs ------------------------------------------------------------------------------------


def test_every_rpc_has_a_fuzz_spec(signatures: dict[str, Signature], rpc_specs: dict[str, RpcSpec]) -> None:
    assert signatures, "the catalog query found no RPC"
    assert sorted(set(signatures) - set(rpc_specs)) == [], "RPCs without a fuzz spec"
    assert sorted(set(rpc_specs) - set(signatures)) == [], "fuzz specs of RPCs that are gone"
    for name, sig in signatures.items():
        spec = rpc_specs[name]
        names = [n for n, _t, _d in sig.args]
        assert sorted(spec.params) == sorted(names), f"{name}: the spec's parameters are not the function's"
        assert set(spec.base) <= set(names), name
        for arg, typ, default in sig.args:
            pool = static_pool(typ, spec.params[arg], default)
            assert any(h.refused for h in pool), f"{name}.{arg}: nothing it must refuse"


def test_each_hostile_value_alone_is_refused(transport: Transport, fuzzer: Fuzzer, plans: dict[str, Plan]) -> None:
    """The explicit tables: every RPC, every parameter, every fixed hostile value alone (the other
    parameters valid), as each caller that must be refused it; plus an unknown parameter name.
    One batch per RPC between two checksums."""
    callers = _callers(transport)
    for name, plan in plans.items():
        calls: list[Call] = []
        for caller in callers:
            unknown = {**plan.spec.base, "'; drop table public.submissions; --": 1}
            calls.append(Call(name, caller, unknown, ("unknown parameter name",)))
        turn = 0
        for arg, pool in plan.static.items():
            for h in pool:
                if (not h.json and transport.name != "pg") or (not transport.local and not h.universal):
                    continue
                # Each value as a caller that must be refused it; a value both must refuse, as one
                # of them in turn (so is a caller refused by the grants whatever the value).
                must = [c for c in callers if c in h.refused or plan.always_refused(c)]
                if not must:
                    continue
                turn += 1
                params = {k: v for k, v in plan.spec.base.items() if k != arg}
                if h.value is not OMIT:
                    params[arg] = h.value
                calls.append(Call(name, must[turn % len(must)], params, (f"{arg}: {h.label}",)))
        fuzzer.run(calls)


# psycopg_pool's background threads draw from `random` (connection lifetimes) while hypothesis draws.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hostile_calls_are_refused_cleanly_and_write_nothing(
    data: st.DataObject, transport: Transport, fuzzer: Fuzzer, plans: dict[str, Plan]
) -> None:
    """hypothesis: per example, one hostile call per RPC and caller (several parameters hostile at
    once, random uuids, text, numbers and JSON), run as one batch between two checksums."""
    calls = [
        data.draw(
            hostile_call(plan, caller, json_only=transport.name != "pg", universal_only=not transport.local),
            label=f"{name} as {caller}",
        )
        for caller in _callers(transport)
        for name, plan in plans.items()
    ]
    fuzzer.run(calls)


# --- the tests: the webhook's parser ---------------------------------------------------------------------

CONTENT_TYPES = st.one_of(
    st.sampled_from(["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", ""]),
    st.text(max_size=30),
)
ITEMS = st.one_of(
    st.fixed_dictionaries(
        {"pupil_id": st.one_of(st.uuids().map(str), JSON_SCALARS), "score": st.one_of(st.floats(), JSON_SCALARS)},
        optional={"feedback": st.one_of(st.none(), SAFE_TEXT, JSON_VALUES)},
    ),
    JSON_VALUES,
)
PAYLOADS = st.fixed_dictionaries(
    {},
    optional={
        "group_assignment_id": st.one_of(st.just(ASSIGNMENT), st.sampled_from(SQL_STRINGS), JSON_VALUES),
        "activity_id": st.one_of(st.just(A4), st.uuids().map(str), JSON_VALUES),
        "results": st.one_of(
            st.lists(ITEMS, max_size=5), JSON_VALUES, st.just([{"pupil_id": PRIYA, "score": 0.5}] * 1001)
        ),
        "ai_meta": JSON_VALUES,
    },
)
BODIES = st.one_of(
    st.binary(max_size=2000),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    PAYLOADS.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    PAYLOADS.map(lambda v: json.dumps(v, ensure_ascii=False, allow_nan=True).encode("utf-16")),
    st.sampled_from([b"", b"{", b"NaN", b"[1e999]", b'"\\ud800"', b"\xff\xfe\x00", b"{} {}"]),
)


def _valid_webhook_params(params: dict[str, Any]) -> bool:
    """The contract parse_ai_marks promises for what it accepts: the transport's only (the values are
    results_apply_ai_marks' to judge): exactly the RPC's parameters, the required ones present."""
    return tuple(params) == PARAMETERS and all(params[name] is not None for name in REQUIRED)


@settings(max_examples=250, deadline=None)
@given(body=BODIES, content_type=CONTENT_TYPES)
def test_webhook_parser_refuses_with_a_4xx_or_accepts_a_valid_payload(body: bytes, content_type: str) -> None:
    refusal: PayloadError | None = None
    try:
        params = parse_ai_marks(body, content_type)
    except PayloadError as exc:  # anything else fails the test
        refusal = exc
    if refusal is not None:
        assert 400 <= refusal.status < 500, refusal.status
        assert refusal.message
        return
    assert "json" in content_type.lower()
    assert _valid_webhook_params(params), params


def test_webhook_parser_refuses_a_body_over_1_mb() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_ai_marks(b" " * (MAX_BODY + 1), "application/json")
    assert caught.value.status == 413


# --- regressions: inputs that once slipped through the transports or the webhook parser ---------------------


def _expect_clean_refusal(client: RpcClient, fn: str, params: Mapping[str, Any], transport: str) -> None:
    outcome = _run_one(client, fn, params)
    reason = problem(outcome, transport)
    assert reason is None, reason


def _run_one(client: RpcClient, fn: str, params: Mapping[str, Any]) -> Outcome:
    call = Call(fn, SERVICE, params, ("regression",))
    try:
        return Outcome(call, result=client.call(fn, params))
    except Exception as exc:
        return Outcome(call, error=exc)


def test_bug_object_for_a_uuid_or_text_parameter(transport: Transport) -> None:
    _expect_clean_refusal(transport.service(), "report_group", {"group_id": {"a": 1}}, transport.name)


def test_bug_mixed_array_for_a_parameter(transport: Transport) -> None:
    _expect_clean_refusal(transport.service(), "report_pupil", {"pupil_id": [1, "a"]}, transport.name)


def test_bug_nul_character_in_a_text_parameter(transport: Transport) -> None:
    _expect_clean_refusal(transport.service(), "report_group", {"group_id": "25-8A\x00-CS"}, transport.name)


def test_bug_lone_surrogate_in_a_string(transport: Transport) -> None:
    _expect_clean_refusal(transport.service(), "report_group", {"group_id": "25-8A-CS\ud800"}, transport.name)


def test_bug_jsonb_nested_600_deep(transport: Transport) -> None:
    # An unknown activity: refused (PLN03) once the arguments reach the database.
    params = {"group_assignment_id": ASSIGNMENT, "activity_id": str(uuid.uuid4()), "results": []}
    _expect_clean_refusal(
        transport.service(), "results_apply_ai_marks", {**params, "ai_meta": _deep(600, objects=True)}, transport.name
    )


@pytest.mark.parametrize(
    ("fn", "params"),
    [
        pytest.param("units_update", {"unit_id": ALGORITHMS, "year": 7.6}, id="year-7.6-rounded-to-8"),
        pytest.param("report_verify_sweep", {"sample_size": True}, id="sample_size-true-is-1"),
        pytest.param("lessons_set_active", {"lesson_id": LESSON_1, "active": 70_000}, id="active-70000-is-true"),
    ],
)
def test_bug_numbers_coerced_into_integer_or_boolean_parameters(
    transport: Transport, fn: str, params: dict[str, Any]
) -> None:
    # Chosen so that the coerced call changes nothing: the Algorithms unit is year 8, lesson 1 is active.
    _expect_clean_refusal(transport.service(), fn, params, transport.name)


def test_bug_webhook_body_nested_too_deep() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(PayloadError) as caught:
        parse_ai_marks(body, "application/json")
    assert 400 <= caught.value.status < 500


def test_bug_webhook_integer_over_4300_digits() -> None:
    body = b'{"group_assignment_id": "x", "results": [' + b"1" * 5000 + b"]}"
    with pytest.raises(PayloadError) as caught:
        parse_ai_marks(body, "application/json")
    assert 400 <= caught.value.status < 500
