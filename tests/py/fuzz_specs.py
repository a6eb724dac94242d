"""The RPCs' fuzz specs (a support module of the test_hostile_*.py modules, not collected): per RPC,
the otherwise valid `base` parameters for each caller (the service role, Helen as a teacher) and the
spec's own hostile values (ids of another class, malformed JSON for jsonb parameters, deep nesting).
`test_every_rpc_has_a_fuzz_spec` fails until a new RPC has one here.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fuzz_values import (
    A1,
    A3,
    A5,
    BOTH,
    CRITERIA,
    FRACTIONS,
    LESSON_1,
    LESSON_MATHS,
    LESSON_UNASSIGNED,
    MATHS_ASSIGNMENT,
    MATHS_GROUP,
    MATHS_MCQ,
    MAX_RESULTS,
    NOBODY,
    ONLY_TEACHER,
    S4,
    UUID_RE,
    VIDEO,
    Callers,
    Hostile,
    Param,
    RpcSpec,
    _deep,
    between,
    length_between,
    one_of,
)
from glue_testing import A4, ALGORITHMS, ASSIGNMENT, GROUP, LESSON_2, PRIYA

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
        "report_jobs_claim": RpcSpec({"max_jobs": 1}, {"max_jobs": Param(accepts=between(1, 10_000))}),
        # Any id is accepted: one that is not a running job is reported missing (run) or not released.
        "report_jobs_run": RpcSpec({"job_id": 1}, {"job_id": Param()}),
        "report_jobs_release": RpcSpec({"job_id": 1}, {"job_id": Param()}),
        "report_jobs_refresh_groups": RpcSpec(
            {"max_groups": 1, "max_ms": 1},
            {"max_groups": Param(accepts=between(1, 10_000)), "max_ms": Param(accepts=between(1, 60_000))},
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
        "lessons_release_feedback": RpcSpec(
            {"group_id": GROUP, "lesson_id": LESSON_1, "feedback_visible": True},
            {
                "group_id": group,
                "lesson_id": Param(special=(Hostile("unassigned lesson", LESSON_UNASSIGNED, BOTH),)),
                "feedback_visible": Param(),
            },
        ),
        "read_pupil_submissions": RpcSpec(
            {"pupil_id": PRIYA, "lesson_id": LESSON_1},
            {"pupil_id": pupil, "lesson_id": Param(null=NOBODY, unknown=NOBODY)},
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
