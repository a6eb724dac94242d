"""Hostile input to the AI marking webhook's parser: random bodies and content types are refused
with a 4xx or accepted as a valid payload; a body over 1 MB, one nested too deep for `json.loads`
and one with an integer of over 4,300 digits are refused with a 4xx.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fuzz_values import (
    JSON_SCALARS,
    JSON_VALUES,
    SAFE_TEXT,
    SQL_STRINGS,
)
from glue_testing import A4, ASSIGNMENT, PRIYA
from hypothesis import given, settings
from hypothesis import strategies as st

from glue.webhook import MAX_BODY, PARAMETERS, REQUIRED, PayloadError, parse_ai_marks

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
