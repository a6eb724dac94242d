"""A small progress bar for long work, on stderr: redrawn in place on a terminal, a line every
ten percent otherwise (so CI logs stay short)."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO | None = None, unit: str = "") -> None:
        self.label = label
        self.total = max(total, 0)
        self.done = 0
        self.unit = unit
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._tty = self.stream.isatty()
        self._last_decile = -1
        self._last_draw = 0.0
        self._printed_final = False

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.done = self.total
        self._draw(force=True, final=True)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._draw()

    def _draw(self, force: bool = False, final: bool = False) -> None:
        elapsed = time.monotonic() - self.started
        frac = (self.done / self.total) if self.total else 1.0
        frac = min(frac, 1.0)
        if self._tty:
            now = time.monotonic()
            if not force and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            width = 30
            filled = int(width * frac)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r{self.label:<24} [{bar}] {self.done:>9,}/{self.total:,}{self.unit} {elapsed:6.1f}s")
            if final:
                self.stream.write("\n")
            self.stream.flush()
            return
        decile = int(frac * 10)
        if decile != self._last_decile or (final and not self._printed_final):
            if decile == 10:
                if self._printed_final:
                    return
                self._printed_final = True
            self.stream.write(f"{self.label}: {self.done:,}/{self.total:,}{self.unit} ({frac:.0%}, {elapsed:.1f}s)\n")
            self.stream.flush()
            self._last_decile = decile
