"""`glue demo`: the product's tour on the embedded database (run by `make demo` after a reset).

1. a realistic school is generated next to the hand-written demo school, and the reports cache is
   backfilled for everyone;
2. a teacher saves feedback: each write returns the authoritative row at once, and the pupil's
   recalculation runs in the background (fire-and-forget); the report line before and after;
3. a pupil report and a class report, rendered from the cache;
4. the queue's health, and where the telemetry lines went.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg

from glue import api, telemetry
from glue.config import Settings
from glue.results import Results
from glue.rpc import PgRpc
from glue_tools import backfill, render, seed

WORKED_PUPIL = "00000000-0000-4000-8000-000000000101"  # Priya Patel, the worked example of docs/scoring.md
WORKED_TEACHER = "00000000-0000-4000-8000-000000000001"  # Helen Carter
WORKED_GROUP = "25-8A-CS"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _title(text: str) -> None:
    _say()
    _say(f"== {text} " + "=" * max(0, 70 - len(text)))


def _unit_line(report: dict[str, Any], unit_id: str) -> str:
    for subject in report["subjects"]:
        for unit in subject["units"] or []:
            if unit["unit_id"] == unit_id:
                return (
                    f"{unit['title']}: activities {render.pct(unit['activities_average'])}, "
                    f"assessment {render.pct(unit['assessment_average'])}, level {unit['assessment_level'] or '-'}, "
                    f"{unit['marked_count']} marked / {unit['awaiting_marking_count']} awaiting / "
                    f"{unit['missing_count']} missing (report version {report['version']})"
                )
    return f"(no row for unit {unit_id}; report version {report['version']})"


def _pick_work(url: str) -> list[dict[str, Any]]:
    """A teacher of a generated class and three pupils' submissions awaiting marking in one lesson."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            select t.user_id, s.user_id, s.activity_id, l.unit_id, gm.group_id, l.lesson_id
            from public.submissions as s
            join public.activities as a on a.activity_id = s.activity_id and a.active
            join public.activity_types as ty on ty.type = a.type and ty.answer_kind = 'text'
            join public.lessons as l on l.lesson_id = a.lesson_id and l.active
            join public.units as u on u.unit_id = l.unit_id and u.active
            join public.group_membership as gm on gm.user_id = s.user_id and gm.role = 'pupil'
            join public.lesson_assignments as la on la.group_id = gm.group_id and la.lesson_id = l.lesson_id
            join public.group_membership as t on t.group_id = gm.group_id and t.role = 'teacher'
            where s.override_score is null and s.ai_score is null and s.status = 'submitted'
              and not exists (
                select from public.submission_criterion_scores as m where m.submission_id = s.submission_id
              )
              and gm.group_id <> %s
            order by gm.group_id, l.lesson_id, s.user_id
            limit 3
            """,
            (WORKED_GROUP,),
        ).fetchall()
    keys = ("teacher", "pupil", "activity", "unit", "group", "lesson")
    return [{k: str(v) for k, v in zip(keys, r, strict=True)} for r in rows]


def run(url: str, *, pupils: int = 1000, seed_value: int = 1) -> None:
    # The tour records telemetry unless TELEM_ENABLED says not to.
    telem = telemetry.configure(telemetry.Telemetry.from_settings(Settings.from_env(), enabled=True))

    _title(f"1. A school of {pupils:,} pupils, then the reports cache for everyone")
    try:
        summary = seed.generate_and_load(url, pupils=pupils, seed=seed_value, replace=False, show_progress=True)
        _say(summary.describe())
    except ValueError as exc:
        _say(f"{exc}: using the school that is there (make demo starts from a fresh database)")
    done = backfill.run(url, show_progress=True)
    _say(
        f"backfill: {done['pupils_done']:,} pupils in {done['elapsed_s']}s "
        f"({done['pupils_changed']:,} had rows to write), one transaction per batch, resumable"
    )

    service = PgRpc(url)
    try:
        _title("2. A teacher marks work: each write returns at once, the report follows")
        picks = _pick_work(url)
        if not picks:
            _say("no unmarked text answers found to mark")
        teacher = service.as_user(picks[0]["teacher"]) if picks else service
        results = Results(teacher, telem=telem)
        before = {p["pupil"]: api.report_pupil(teacher, p["pupil"]) for p in picks}
        for p, score in zip(picks, (0.9, 0.45, 0.7), strict=False):
            _say(f"pupil {p['pupil'][:8]}… in {p['group']}, before: {_unit_line(before[p['pupil']], p['unit'])}")
            t0 = time.perf_counter()
            row = results.save_feedback(p["activity"], p["pupil"], override_score=score, feedback="Well argued.")
            ms = (time.perf_counter() - t0) * 1000
            cell = row["cell"]
            _say(
                f"  results_save_feedback(override {score}) returned in {ms:.1f} ms: cell {cell['state']}, "
                f"score {cell['score']}, source {cell['source']}"
            )
        results.close()  # waits for the background recalculations
        for outcome in results.processed:
            _say(
                f"  background recalculation of {str(outcome.get('pupil_id'))[:8]}…: {outcome.get('outcome')}, "
                f"waited {outcome.get('waited_ms')} ms in the queue, ran {outcome.get('run_ms')} ms, "
                f"report version {outcome.get('version')}"
            )
        for p in picks:
            after = api.report_pupil(teacher, p["pupil"])
            _say(f"pupil {p['pupil'][:8]}…, after:  {_unit_line(after, p['unit'])}")

        _title("3. Reports from the cache")
        helen = service.as_user(WORKED_TEACHER)
        t0 = time.perf_counter()
        report = api.report_pupil(helen, WORKED_PUPIL)
        _say(
            f"report_pupil as her teacher, {(time.perf_counter() - t0) * 1000:.1f} ms "
            "(the worked example of docs/scoring.md is the Algorithms unit: 75.0%, 62.5%, 4M):"
        )
        _say(render.pupil_report(report, criteria=True))
        _say()
        if picks:
            t0 = time.perf_counter()
            group = api.report_group(teacher, picks[0]["group"])
            _say(f"report_group {picks[0]['group']} as its teacher, {(time.perf_counter() - t0) * 1000:.1f} ms:")
            _say(render.group_report(group))

        _title("4. Operations")
        _say(render.queue_health(api.report_queue_health(service), api.report_jobs_failures(service)))
        sweep = api.report_verify_sweep(service, 100)
        _say(
            f"verification of 100 random pupils against the live computation: "
            f"{sweep['pupils_mismatched']} mismatched, {sweep['differences']} differences"
        )
        path = Path(telem.file)
        lines = path.read_text(encoding="utf-8").count("\n") if path.exists() else 0
        _say(f"telemetry: {lines} JSON lines in {path.resolve()} (TELEM_ENABLED, TELEM_PATH)")
    finally:
        service.close()
