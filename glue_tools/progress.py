"""Progress of long work (seeding, the backfill) on stderr, drawn by tqdm: redrawn in place on a
terminal; in a log (CI) a line at most every ten seconds and one at the end, so logs stay short."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def bar(label: str, total: int, unit: str, *, shown: bool = True, initial: int = 0) -> tqdm[Any]:
    """A progress bar of `total` `unit`s; `shown=False` draws nothing (it still counts)."""
    terminal = sys.stderr.isatty()
    return tqdm(
        total=total,
        initial=initial,
        desc=label,
        unit=f" {unit}",
        file=sys.stderr,
        disable=not shown,
        mininterval=0.1 if terminal else 10.0,
        ascii=not terminal,
        dynamic_ncols=terminal,
    )
