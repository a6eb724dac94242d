"""The results: one row per comparison for the markdown table, all raw figures in the JSON file."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.stats import Summary

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    """One line of the table: contender A against contender B (B may be absent for a single figure).

    `ratio` is defined by `ratio_label` (e.g. "B/A" when A should be faster); `met` is None when
    the row has no target.
    """

    scenario: str
    a: str
    b: str
    unit: str
    a_p50: float | None
    a_p95: float | None
    b_p50: float | None
    b_p95: float | None
    ratio: float | None
    ratio_label: str
    target: str
    met: bool | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: _clean(v) for k, v in asdict(self).items()}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def row(
    scenario: str,
    a: str,
    b: str,
    unit: str,
    sa: Summary | None,
    sb: Summary | None,
    ratio: float | None,
    ratio_label: str,
    target: str,
    met: bool | None,
    note: str = "",
) -> Row:
    return Row(
        scenario,
        a,
        b,
        unit,
        sa.p50 if sa else None,
        sa.p95 if sa else None,
        sb.p50 if sb else None,
        sb.p95 if sb else None,
        ratio,
        ratio_label,
        target,
        met,
        note,
    )


def safe_ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    if math.isnan(numerator) or math.isnan(denominator):
        return None
    return numerator / denominator


def _num(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _pair(a: float | None, b: float | None, unit: str) -> str:
    if b is None:
        return f"{_num(a)} {unit}".strip() if a is not None else "–"
    return f"{_num(a)} / {_num(b)} {unit}".strip()


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(machine_line: str, rows: list[Row], footer: list[str]) -> str:
    lines = [
        machine_line,
        "",
        "| scenario | contender A | contender B | p50 (A / B) | p95 (A / B) | ratio | target | met? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r.ratio_label} = {_num(r.ratio)}" if r.ratio is not None else (r.ratio_label or "–")
        met = "–" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(
            "| "
            + " | ".join(
                _escape(x)
                for x in (
                    r.scenario,
                    r.a,
                    r.b or "–",
                    _pair(r.a_p50, r.b_p50, r.unit),
                    _pair(r.a_p95, r.b_p95, r.unit),
                    ratio,
                    r.target or "–",
                    met,
                )
            )
            + " |"
        )
    notes = [f"- {r.scenario}: {r.note}" for r in rows if r.note]
    if notes:
        lines += ["", "Notes:", *notes]
    if footer:
        lines += ["", *footer]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], md: str, directory: Path = RESULTS_DIR) -> tuple[Path, Path]:
    """Write latest.json and latest.md atomically (through .tmp files, which git ignores)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = (directory / "latest.json", directory / "latest.md")
    for path, text in zip(paths, (json.dumps(results, indent=2, default=_default) + "\n", md), strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return paths


def _default(value: Any) -> Any:
    if isinstance(value, Summary):
        return value.as_dict()
    if isinstance(value, Path):
        return str(value)
    return str(value)
