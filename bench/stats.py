"""Timing and summary statistics: percentiles, summaries, and contenders run side by side.

Every figure of the benchmark is a list of samples in seconds (or jobs/s), summarised the same way:
count, p50, p95, mean, min and max. Contenders are always measured alternately in one run (the
machine is shared and noisy), so that a slow patch of the machine hits both alike.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """A summary of samples, in the unit they were taken in."""

    n: int
    p50: float
    p95: float
    mean: float
    min: float
    max: float

    def scaled(self, factor: float) -> Summary:
        """The same summary in another unit (e.g. seconds to milliseconds)."""
        return Summary(
            self.n,
            self.p50 * factor,
            self.p95 * factor,
            self.mean * factor,
            self.min * factor,
            self.max * factor,
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def summarise(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return Summary(
        len(values),
        percentile(values, 50),
        percentile(values, 95),
        sum(values) / len(values),
        min(values),
        max(values),
    )


def ms(values: Sequence[float]) -> Summary:
    """Samples in seconds, summarised in milliseconds."""
    return summarise(values).scaled(1000.0)


def timed(fn: Callable[[], object]) -> float:
    """Seconds taken by fn()."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


class Deadline:
    """A time budget: `expired` once `seconds` have passed since it was made."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()

    @property
    def expired(self) -> bool:
        return time.monotonic() - self.started >= self.seconds

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def alternate(
    contenders: Sequence[Callable[[int], float]],
    rounds: int,
    deadline: Deadline | None = None,
    min_rounds: int = 1,
    max_rounds: Sequence[int | None] | None = None,
) -> tuple[list[list[float]], bool]:
    """Run every contender once per round, rotating which goes first; each returns its own sample.

    A contender times itself (so that its untimed preparation stays out of the figure) and gets the
    round number. Contender i takes part in the first max_rounds[i] rounds only (None: all of
    them), for a slow contender whose single figure is enough. Stops early when the deadline
    expires (after at least min_rounds rounds). Returns the samples per contender and whether the
    rounds were cut short by the deadline.
    """
    limits = list(max_rounds) if max_rounds is not None else [None] * len(contenders)
    samples: list[list[float]] = [[] for _ in contenders]
    for r in range(rounds):
        if deadline is not None and r >= min_rounds and deadline.expired:
            return samples, True
        order = list(range(len(contenders)))
        shift = r % len(contenders)
        order = order[shift:] + order[:shift]
        for i in order:
            limit = limits[i]
            if limit is None or r < limit:
                samples[i].append(contenders[i](r))
    return samples, False
