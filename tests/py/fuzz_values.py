"""The hostile-input fuzzer's values (a support module of the test_hostile_*.py modules, not
collected): who calls and who must be refused, the hostile values of each SQL type, tried on every
parameter (static pools: wrong JSON types, NULL, huge strings, out-of-range numbers, SQL-looking
strings, empty and 10k-element arrays, a random uuid, an omitted required parameter; and random ones
drawn with hypothesis), each saying for which callers it must be refused, and the hostile calls built
from them: every call sent is invalid for its caller (at least one value it must refuse, or an
unknown parameter name), the other parameters hostile or valid at random.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

MAX_RESULTS = 1000  # results_apply_ai_marks' batch limit (PLV13)

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
