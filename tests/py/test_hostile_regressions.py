"""Inputs that once slipped through the transports, a regression test each: JSON objects and
mixed-type arrays for non-jsonb parameters, NUL and lone surrogates in strings, deep nesting,
fractional numbers and booleans for integer parameters (the transports now send the arguments as
one JSON value converted by PostgreSQL, as PostgREST does).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from fuzz_values import (
    LESSON_1,
    SERVICE,
    Call,
    _deep,
)
from fuzzing import (
    Outcome,
    problem,
)
from glue_testing import ALGORITHMS, ASSIGNMENT, Transport

from glue.rpc import RpcClient

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
