"""One typed wrapper per RPC. Parameter names are the JSON keys the RPCs take; each wrapper sends
only what was given (so the database's defaults apply) and returns the RPC's JSON result.
The SQL sources (supabase/functions_sql/) document each RPC: purpose, callers and error codes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, cast

from glue.rpc import JSON, RpcClient

Id = uuid.UUID | str


class CriterionScore(TypedDict):
    success_criteria_id: str
    score: float | None


class AiMark(TypedDict, total=False):
    pupil_id: str
    score: float
    feedback: str | None


def _plain(value: Any) -> Any:
    """Sequences and mappings of the caller's (tuples, TypedDicts) as the JSON lists and objects sent."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value


def _call(client: RpcClient, fn: str, **params: Any) -> Any:
    """Call public.<fn> with params, None left out (the function's default applies)."""
    return client.call(fn, {k: _plain(v) for k, v in params.items() if v is not None})


def _obj(value: JSON) -> dict[str, Any]:
    return cast(dict[str, Any], value)


# --- writes: pupils --------------------------------------------------------------------------------


def submissions_submit_answer(
    client: RpcClient,
    activity_id: Id,
    *,
    text: str | None = None,
    option_id: str | None = None,
    status: str | None = None,
    pupil_id: Id | None = None,
) -> dict[str, Any]:
    return _obj(
        _call(
            client,
            "submissions_submit_answer",
            activity_id=activity_id,
            text=text,
            option_id=option_id,
            status=status,
            pupil_id=pupil_id,
        )
    )


def submissions_record_upload(
    client: RpcClient, activity_id: Id, file_name: str, path: str, *, pupil_id: Id | None = None
) -> dict[str, Any]:
    return _obj(
        _call(
            client,
            "submissions_record_upload",
            activity_id=activity_id,
            file_name=file_name,
            path=path,
            pupil_id=pupil_id,
        )
    )


def submissions_delete_upload(client: RpcClient, activity_id: Id, *, pupil_id: Id | None = None) -> dict[str, Any]:
    return _obj(_call(client, "submissions_delete_upload", activity_id=activity_id, pupil_id=pupil_id))


# --- writes: teachers ------------------------------------------------------------------------------


def results_save_feedback(
    client: RpcClient,
    activity_id: Id,
    pupil_id: Id,
    *,
    override_score: float | None = None,
    criterion_scores: Sequence[CriterionScore] | None = None,
    feedback: str | None = None,
    expected_revision: int | None = None,
) -> dict[str, Any]:
    """With expected_revision (the cell's `revision`), a save for a changed answer raises Conflict (PLS03)."""
    return _obj(
        _call(
            client,
            "results_save_feedback",
            activity_id=activity_id,
            pupil_id=pupil_id,
            override_score=override_score,
            criterion_scores=criterion_scores,
            feedback=feedback,
            expected_revision=expected_revision,
        )
    )


def results_reset_feedback(client: RpcClient, activity_id: Id, pupil_id: Id) -> dict[str, Any]:
    return _obj(_call(client, "results_reset_feedback", activity_id=activity_id, pupil_id=pupil_id))


def results_apply_ai_marks(
    client: RpcClient,
    group_assignment_id: str,
    activity_id: Id,
    results: Sequence[Mapping[str, Any]],
    *,
    ai_meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return _obj(
        _call(
            client,
            "results_apply_ai_marks",
            group_assignment_id=group_assignment_id,
            activity_id=activity_id,
            results=results,
            ai_meta=ai_meta,
        )
    )


def results_clear_ai_marks(client: RpcClient, group_assignment_id: str, activity_id: Id) -> dict[str, Any]:
    return _obj(
        _call(client, "results_clear_ai_marks", group_assignment_id=group_assignment_id, activity_id=activity_id)
    )


# --- writes: structure -----------------------------------------------------------------------------


def groups_add_member(client: RpcClient, group_id: str, user_id: Id, role: str = "pupil") -> dict[str, Any]:
    return _obj(_call(client, "groups_add_member", group_id=group_id, user_id=user_id, role=role))


def groups_remove_member(client: RpcClient, group_id: str, user_id: Id) -> dict[str, Any]:
    return _obj(_call(client, "groups_remove_member", group_id=group_id, user_id=user_id))


def lessons_assign(
    client: RpcClient,
    group_id: str,
    lesson_id: Id,
    *,
    start_date: str | None = None,
    feedback_visible: bool | None = None,
) -> dict[str, Any]:
    return _obj(
        _call(
            client,
            "lessons_assign",
            group_id=group_id,
            lesson_id=lesson_id,
            start_date=start_date,
            feedback_visible=feedback_visible,
        )
    )


def lessons_unassign(client: RpcClient, group_id: str, lesson_id: Id) -> dict[str, Any]:
    return _obj(_call(client, "lessons_unassign", group_id=group_id, lesson_id=lesson_id))


def activities_set_criteria(client: RpcClient, activity_id: Id, success_criteria_ids: Sequence[Id]) -> dict[str, Any]:
    return _obj(
        _call(
            client,
            "activities_set_criteria",
            activity_id=activity_id,
            success_criteria_ids=[str(i) for i in success_criteria_ids],
        )
    )


def activities_update(
    client: RpcClient,
    activity_id: Id,
    *,
    is_summative: bool | None = None,
    active: bool | None = None,
    type: str | None = None,
) -> dict[str, Any]:
    return _obj(
        _call(
            client,
            "activities_update",
            activity_id=activity_id,
            is_summative=is_summative,
            active=active,
            type=type,
        )
    )


def lessons_set_active(client: RpcClient, lesson_id: Id, active: bool) -> dict[str, Any]:
    return _obj(_call(client, "lessons_set_active", lesson_id=lesson_id, active=active))


def units_update(
    client: RpcClient, unit_id: Id, *, year: int | None = None, active: bool | None = None
) -> dict[str, Any]:
    return _obj(_call(client, "units_update", unit_id=unit_id, year=year, active=active))


def level_boundaries_set(client: RpcClient, year: int, boundaries: Mapping[str, float]) -> dict[str, Any]:
    return _obj(_call(client, "level_boundaries_set", year=year, boundaries=boundaries))


# --- the queue -------------------------------------------------------------------------------------


def report_process_pupil(client: RpcClient, pupil_id: Id) -> dict[str, Any]:
    return _obj(_call(client, "report_process_pupil", pupil_id=pupil_id))


def report_jobs_process(client: RpcClient, max_jobs: int | None = None, max_ms: int | None = None) -> dict[str, Any]:
    """One batch of the queue; max_jobs and max_ms default to the SQL function's (40_queue.sql)."""
    return _obj(_call(client, "report_jobs_process", max_jobs=max_jobs, max_ms=max_ms))


def report_jobs_claim(client: RpcClient, max_jobs: int | None = None) -> dict[str, Any]:
    """Claim due jobs as running (the first of the worker's two phases); max_jobs None: the SQL's default."""
    return _obj(_call(client, "report_jobs_claim", max_jobs=max_jobs))


def report_jobs_run(client: RpcClient, job_id: int) -> dict[str, Any]:
    return _obj(_call(client, "report_jobs_run", job_id=job_id))


def report_jobs_release(client: RpcClient, job_id: int) -> dict[str, Any]:
    return _obj(_call(client, "report_jobs_release", job_id=job_id))


def report_jobs_refresh_groups(
    client: RpcClient, max_groups: int | None = None, max_ms: int | None = None
) -> dict[str, Any]:
    """Rebuild changed class pages unless pupil jobs are due; None limits: the SQL's defaults."""
    return _obj(_call(client, "report_jobs_refresh_groups", max_groups=max_groups, max_ms=max_ms))


def report_queue_health(client: RpcClient) -> dict[str, Any]:
    return _obj(_call(client, "report_queue_health"))


def report_queue_schedule(client: RpcClient, drain_interval: str | None = None) -> dict[str, Any]:
    """Install or repair the queue's pg_cron jobs (service role); Conflict (PLS04) without pg_cron,
    InvalidInput (PLV16) for a drain_interval that is not a pg_cron schedule or is over a minute."""
    return _obj(_call(client, "report_queue_schedule", drain_interval=drain_interval))


def report_jobs_failures(client: RpcClient) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], _call(client, "report_jobs_failures"))


def report_jobs_requeue(client: RpcClient, job_id: int) -> dict[str, Any]:
    return _obj(_call(client, "report_jobs_requeue", job_id=job_id))


def report_verify_and_enqueue(client: RpcClient, sample_size: int | None = None) -> dict[str, Any]:
    """sample_size None checks every pupil: it is sent as null, not left out, since the RPC's own
    default is a sample of 100 (what pg_cron runs)."""
    return _obj(client.call("report_verify_and_enqueue", {"sample_size": sample_size}))


# --- reads -----------------------------------------------------------------------------------------


def report_pupil(client: RpcClient, pupil_id: Id) -> dict[str, Any]:
    return _obj(_call(client, "report_pupil", pupil_id=pupil_id))


def report_group(client: RpcClient, group_id: str) -> dict[str, Any]:
    return _obj(_call(client, "report_group", group_id=group_id))


def report_verify(client: RpcClient, pupil_id: Id) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], _call(client, "report_verify", pupil_id=pupil_id))


def report_verify_sweep(client: RpcClient, sample_size: int | None = None) -> dict[str, Any]:
    rows = cast(list[dict[str, Any]], _call(client, "report_verify_sweep", sample_size=sample_size))
    return rows[0]


def read_assignment_results(client: RpcClient, group_id: str, lesson_id: Id) -> dict[str, Any]:
    return _obj(_call(client, "read_assignment_results", group_id=group_id, lesson_id=lesson_id))


def read_assignment_results_slice(
    client: RpcClient, group_id: str, lesson_id: Id, *, pupil_id: Id | None = None, activity_id: Id | None = None
) -> list[dict[str, Any]]:
    """The cells of one row (pupil_id), one column (activity_id) or one cell (both)."""
    result = _obj(
        _call(
            client,
            "read_assignment_results_slice",
            group_id=group_id,
            lesson_id=lesson_id,
            pupil_id=pupil_id,
            activity_id=activity_id,
        )
    )
    return cast(list[dict[str, Any]], result["cells"])
