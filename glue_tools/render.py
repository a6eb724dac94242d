"""Readable text for the report RPCs' JSON. Formatting only: every number comes from SQL as it is
(fractions shown as percentages); nothing here computes a score."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any


def pct(value: Any) -> str:
    """0.625 -> '62.5%' (half-up, like the database's rounding); None -> '-'."""
    if value is None:
        return "-"
    shown = (Decimal(str(value)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{shown}%"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def pupil_report(report: dict[str, Any], *, criteria: bool = False) -> str:
    """The pupil report page as text: subjects, their units, and optionally the criteria by level."""
    lines = [
        f"{report['first_name']} {report['last_name']}  (report version {report['version']}"
        + (f", changed {str(report['changed_at'])[:19]})" if report.get("changed_at") else ")")
    ]
    if not report["subjects"]:
        lines.append("  no assigned scorable work yet")
        return "\n".join(lines)
    header = (
        f"  {'unit':<30} {'year':>4} {'activities':>10} {'assessment':>10} {'level':>5} {'working':>7}"
        f" {'marked':>6} {'missing':>7} {'awaiting':>8}"
    )
    for subject in report["subjects"]:
        lines.append("")
        lines.append(
            f"{subject['subject']}: activities {pct(subject['activities_average'])}, "
            f"assessment {pct(subject['assessment_average'])}, typical level {subject['typical_level'] or '-'} "
            f"over {subject['unit_count']} unit{'s' if subject['unit_count'] != 1 else ''}"
        )
        lines.append(header)
        for unit in subject["units"] or []:
            lines.append(
                f"  {_cut(unit['title'], 30):<30} {unit['year']:>4} {pct(unit['activities_average']):>10}"
                f" {pct(unit['assessment_average']):>10} {unit['assessment_level'] or '-':>5}"
                f" {unit['working_level'] if unit['working_level'] is not None else '-':>7}"
                f" {unit['marked_count']:>6} {unit['missing_count']:>7} {unit['awaiting_marking_count']:>8}"
            )
            if criteria:
                for level in unit["criteria_by_level"] or []:
                    parts = ", ".join(
                        f"{_cut(c['description'], 28)} {pct(c['activities_score'])}" for c in level["criteria"]
                    )
                    lines.append(f"      level {level['level']}: {parts}")
    return "\n".join(lines)


def group_report(report: dict[str, Any], *, max_units: int = 8) -> str:
    """The class report as text: pupils by name, units as columns (level and assessment average)."""
    units = report["units"][:max_units]
    lines = [
        f"Class {report['group_id']} ({report['subject']}): {len(report['pupils'])} pupils, "
        f"{len(report['units'])} units" + (f" (first {max_units} shown)" if len(report["units"]) > max_units else "")
    ]
    width = 12
    lines.append(f"  {'pupil':<24}" + "".join(f" {_cut(u['title'], width):>{width}}" for u in units))
    for pupil in report["pupils"]:
        cells = []
        for unit in units:
            cell = pupil["units"].get(unit["unit_id"])
            if cell is None:
                cells.append("-")
            else:
                cells.append(f"{cell['assessment_level'] or '-'} {pct(cell['assessment_average'])}")
        name = _cut(f"{pupil['last_name']}, {pupil['first_name']}", 24)
        lines.append(f"  {name:<24}" + "".join(f" {c:>{width}}" for c in cells))
    lines.append(f"  {'cohort mean':<24}" + "".join(f" {pct(u['cohort_assessment_average']):>{width}}" for u in units))
    for unit in units:
        counts = ", ".join(f"{c['level']} x{c['pupils']}" for c in unit["level_counts"]) or "no levels yet"
        lines.append(f"  {_cut(unit['title'], 30)}: {counts}")
    return "\n".join(lines)


def queue_health(health: dict[str, Any], failures: list[dict[str, Any]]) -> str:
    hour = health.get("last_hour") or {}
    lines = [
        f"queue: {health['pending']} pending ({health['due']} due), {health['running']} running, "
        f"{health['failed']} failed, {health['dead']} dead; oldest waiting {health['oldest_pending_age_s'] or 0}s",
        f"last hour: {hour.get('jobs_done', 0)} recalculations for {hour.get('writes', 0)} writes "
        f"({hour.get('coalesced_writes', 0)} coalesced); "
        f"wait p50/p95 {hour.get('wait_ms_p50')}/{hour.get('wait_ms_p95')} ms;"
        f" write-to-fresh p50/p95 {hour.get('freshness_ms_p50')}/{hour.get('freshness_ms_p95')} ms",
    ]
    drain = health.get("drain") or {}
    if drain.get("pg_cron"):
        job = drain.get("job") or {}
        runs = drain.get("runs") or {}
        lines.append(
            f"drain: pg_cron {drain['pg_cron']}, scheduler {'running' if drain.get('scheduler_running') else 'DOWN'}; "
            + (
                f"job {job.get('schedule')!r} {'active' if job.get('active') else 'INACTIVE'}, "
                f"last run {runs.get('last_status') or 'never'} (started {runs.get('last_start') or '-'}, "
                f"last success {runs.get('last_success') or 'never'})"
                if job
                else "no drain job"
            )
        )
    if health.get("nothing_drains"):
        lines.insert(
            0,
            "NOTHING DRAINS THE QUEUE: jobs are due, but there is no pg_cron drain and no recalculation has "
            f"finished in five minutes (last: {health.get('last_drained_at') or 'never'}). Reports are going "
            "stale. Run `glue schedule` once pg_cron is enabled, or keep `glue worker` running.",
        )
    for problem in health.get("problems") or []:
        lines.append(f"PROBLEM {problem['problem']}: {problem['message']}")
    for f in failures:
        lines.append(
            f"  job {f['job_id']} pupil {f['pupil_id']}: {f['state']} after {f['attempts']}/{f['max_attempts']} "
            f"attempts: [{f['last_error_code']}] {f['last_error']}"
        )
    return "\n".join(lines)
