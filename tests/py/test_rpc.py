"""glue.rpc and glue.api through every transport, against the demo school of supabase/seed.sql:
the worked example's report, the typed errors with SQLSTATE, detail and hint, a teacher's write and
its recalculation; and the PostgREST mapping of the test endpoint, over plain HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from glue_testing import (
    A4,
    ALGORITHMS,
    DAVID,
    HELEN,
    PRIYA,
    UNKNOWN,
    Transport,
    jobs,
    one,
    submissions_checksum,
    version,
)
from rest_endpoint import RestEndpoint, mint_jwt

from glue import api
from glue.rpc import InvalidInput, NotAllowed, NotFound, PgRpc, RpcClient, RpcError


def _algorithms(report: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Priya's Computing subject and its 'Algorithms' unit."""
    (subject,) = [s for s in report["subjects"] if s["subject"] == "Computing"]
    (unit,) = [u for u in subject["units"] if u["unit_id"] == ALGORITHMS]
    return subject, unit


def _check_worked_example(report: dict[str, Any]) -> None:
    assert report["pupil_id"] == PRIYA
    assert (report["first_name"], report["last_name"]) == ("Priya", "Patel")
    _subject, unit = _algorithms(report)
    assert unit["title"] == "Algorithms"
    assert unit["assessment_level"] == "4M"
    assert unit["activities_average"] == pytest.approx(0.75)
    assert unit["assessment_average"] == pytest.approx(0.625)
    assert (unit["activity_count"], unit["marked_count"], unit["missing_count"], unit["awaiting_marking_count"]) == (
        4,
        2,
        1,
        1,
    )


def test_report_pupil_as_service(transport: Transport, pg_rpc: PgRpc) -> None:
    report = api.report_pupil(transport.service(), PRIYA)
    _check_worked_example(report)
    if transport.local:  # the same JSON, value for value, as the psycopg transport gives
        assert json.dumps(report, sort_keys=True) == json.dumps(api.report_pupil(pg_rpc, PRIYA), sort_keys=True)


def test_report_pupil_as_her_teacher(transport: Transport, pg_rpc: PgRpc) -> None:
    report = api.report_pupil(transport.user(HELEN), PRIYA)
    _check_worked_example(report)
    assert json.dumps(report, sort_keys=True) == json.dumps(api.report_pupil(pg_rpc, PRIYA), sort_keys=True)


def test_unknown_pupil_is_not_found_with_its_detail(transport: Transport) -> None:
    with pytest.raises(NotFound) as caught:
        api.report_pupil(transport.service(), UNKNOWN)
    assert caught.value.sqlstate == "PLN01"
    assert UNKNOWN in caught.value.message
    assert caught.value.detail == "No profile has this user_id."
    assert str(caught.value).startswith("[PLN01] ")


def test_score_outside_0_1_is_invalid_input_and_writes_nothing(transport: Transport, glue_url: str) -> None:
    before = submissions_checksum(glue_url)
    with pytest.raises(InvalidInput) as caught:
        api.results_save_feedback(transport.user(HELEN), A4, PRIYA, override_score=1.5, feedback="too generous")
    assert caught.value.sqlstate == "PLV02"
    assert "override_score must be between 0 and 1" in caught.value.message
    assert caught.value.hint == "Scores are fractions: 0.75 means 75 %."
    assert submissions_checksum(glue_url) == before


def test_anon_is_not_allowed(transport: Transport) -> None:
    with pytest.raises(NotAllowed) as caught:
        api.report_pupil(transport.anon(), PRIYA)
    assert caught.value.sqlstate == "42501"


def test_teacher_of_another_class_may_not_mark(transport: Transport, glue_url: str) -> None:
    before = submissions_checksum(glue_url)
    with pytest.raises(NotAllowed) as caught:
        api.results_save_feedback(transport.user(DAVID), A4, PRIYA, override_score=0.5)
    assert caught.value.sqlstate == "42501"
    assert caught.value.message == "you do not teach this pupil this activity"
    assert caught.value.hint == (
        "Only teachers of the pupil's class in the activity's subject, with its lesson assigned, may mark it."
    )
    assert submissions_checksum(glue_url) == before


def test_unknown_function_is_not_found(transport: Transport) -> None:
    with pytest.raises(NotFound) as caught:
        transport.service().call("report_no_such_thing", {"pupil_id": PRIYA})
    assert caught.value.sqlstate == "PGRST202"
    assert "report_no_such_thing" in caught.value.message


@pytest.fixture
def priya_a4_unmarked(glue_url: str, pg_rpc: PgRpc) -> Iterator[None]:
    """Priya's A4 as the seed has it afterwards: the teacher's marks removed and her report recalculated."""
    assert (
        one(
            glue_url,
            "select override_score from public.submissions where user_id = %s and activity_id = %s",
            (PRIYA, A4),
        )
        is None
    )
    yield
    teacher = pg_rpc.as_user(HELEN)
    api.results_reset_feedback(teacher, A4, PRIYA)
    api.report_process_pupil(teacher, PRIYA)
    assert jobs(glue_url, PRIYA) == []
    assert _algorithms(api.report_pupil(pg_rpc, PRIYA))[1]["activities_average"] == pytest.approx(0.75)


@pytest.mark.usefixtures("priya_a4_unmarked")
def test_teacher_write_returns_the_row_enqueues_and_recalculates(transport: Transport, glue_url: str) -> None:
    if not transport.local:
        pytest.skip("inspects the queue with psycopg: needs the session's database")
    teacher: RpcClient = transport.user(HELEN)
    v0 = version(glue_url, PRIYA)
    row = api.results_save_feedback(teacher, A4, PRIYA, override_score=0.5, feedback="Trace one more step.")
    assert row["pupil_id"] == PRIYA
    assert row["activity_id"] == A4
    assert row["submission"]["override_score"] == pytest.approx(0.5)
    assert row["submission"]["teacher_feedback"] == "Trace one more step."
    assert row["submission"]["override_by"] == HELEN
    cell = row["cell"]
    assert (cell["state"], cell["score"], cell["source"]) == ("marked", pytest.approx(0.5), "override")

    queued = jobs(glue_url, PRIYA)
    assert [(state, reason) for _job, state, reason in queued] == [("pending", "feedback")]
    assert version(glue_url, PRIYA) == v0  # the write only enqueued: the cache is not touched yet

    result = api.report_process_pupil(teacher, PRIYA)
    assert result["processed"] is True
    assert result["outcome"] == "done"
    assert result["changed"] is True
    assert result["version"] == v0 + 1
    assert version(glue_url, PRIYA) == v0 + 1
    assert jobs(glue_url, PRIYA) == []
    _subject, unit = _algorithms(api.report_pupil(teacher, PRIYA))
    assert unit["activities_average"] == pytest.approx(0.75 * 3 / 4 + 0.5 / 4)  # A4 now 0.5 instead of 0
    assert api.report_process_pupil(teacher, PRIYA) == {"processed": False, "reason": "no due job"}


# --- the endpoint's PostgREST mapping, over plain HTTP -------------------------------------------


def _post(rest: RestEndpoint, fn: str, body: dict[str, Any], token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{rest.url}/rest/v1/rpc/{fn}", json=body, headers=headers, timeout=10)


def test_endpoint_maps_errors_as_postgrest_does(rest: RestEndpoint, glue_url: str) -> None:
    helen = mint_jwt({"role": "authenticated", "sub": HELEN})
    before = submissions_checksum(glue_url)

    r = _post(rest, "results_save_feedback", {"activity_id": A4, "pupil_id": PRIYA, "override_score": 1.5}, helen)
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"code", "message", "details", "hint"}
    assert body["code"] == "PLV02"
    assert body["hint"] == "Scores are fractions: 0.75 means 75 %."
    assert submissions_checksum(glue_url) == before

    david = mint_jwt({"role": "authenticated", "sub": DAVID})
    r = _post(rest, "results_save_feedback", {"activity_id": A4, "pupil_id": PRIYA, "override_score": 0.5}, david)
    assert (r.status_code, r.json()["code"]) == (403, "42501")

    r = _post(rest, "report_pupil", {"pupil_id": PRIYA}, mint_jwt({"role": "anon"}))
    assert (r.status_code, r.json()["code"]) == (401, "42501")

    r = _post(rest, "report_no_such_thing", {}, mint_jwt({"role": "service_role"}))
    assert (r.status_code, r.json()["code"]) == (404, "PGRST202")

    other_secret = "not-the-project-secret-0123456789abcdef"  # noqa: S105 - a test-only key
    forged = mint_jwt({"role": "service_role"}, other_secret)
    r = _post(rest, "report_pupil", {"pupil_id": PRIYA}, forged)
    assert (r.status_code, r.json()["code"]) == (401, "PGRST301")

    r = _post(rest, "report_pupil", {"pupil_id": PRIYA}, mint_jwt({"role": "service_role"}))
    assert r.status_code == 200
    assert r.json()["pupil_id"] == PRIYA
    assert submissions_checksum(glue_url) == before


# --- the API roles' timeouts, as PostgREST applies them ------------------------------------------


@pytest.fixture
def timeout_probe(glue_url: str) -> Iterator[str]:
    """Two functions of this test's own: the timeouts a call runs under, and a sleep."""
    with psycopg.connect(glue_url, autocommit=True) as c:
        c.execute(
            "create function public.test_request_timeouts() returns json language sql as"
            " $$ select json_build_array(current_setting('statement_timeout'), current_setting('lock_timeout')) $$;"
            " create function public.test_request_sleep(seconds float8) returns boolean language sql as"
            " $$ select pg_sleep(seconds) is not null $$;"
            " grant execute on function public.test_request_timeouts(), public.test_request_sleep(float8)"
            " to anon, authenticated, service_role"
        )
        try:
            yield glue_url
        finally:
            c.execute("drop function public.test_request_timeouts(); drop function public.test_request_sleep(float8)")


def test_each_api_role_runs_under_supabases_timeouts(timeout_probe: str) -> None:
    client = PgRpc(timeout_probe)
    try:
        seen = {
            "anon": client.as_role("anon").call("test_request_timeouts"),
            "authenticated": client.as_user(PRIYA).call("test_request_timeouts"),
            "service_role": client.call("test_request_timeouts"),
        }
        assert seen == {
            "anon": ["3s", "8s"],  # anon's own statement_timeout, the authenticator's lock_timeout
            "authenticated": ["8s", "8s"],
            "service_role": ["8s", "8s"],  # no settings of its own: the authenticator's
        }
        assert client.as_role("anon").call("test_request_sleep", {"seconds": 0.1}) is True
        with pytest.raises(RpcError) as caught:
            client.as_role("anon").call("test_request_sleep", {"seconds": 3.5})
        assert caught.value.sqlstate == "57014"  # canceled by anon's 3 s statement_timeout
    finally:
        client.close()
