"""The machine line of the results: CPU, cores, memory, PostgreSQL, date and load."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any

import psycopg


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def describe(url: str, load: tuple[float, float, float]) -> dict[str, Any]:
    """The machine and the server's settings (read through `url`: a scratch database of the run)."""
    with psycopg.connect(url, autocommit=True) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "select name, setting || coalesce(unit, '') from pg_settings where name = any(%s)",
                (
                    [
                        "server_version",
                        "shared_buffers",
                        "work_mem",
                        "jit",
                        "max_parallel_workers_per_gather",
                        "synchronous_commit",
                        "fsync",
                    ],
                ),
            ).fetchall()
        )
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "postgresql": settings.get("server_version"),
        "postgresql_settings": settings,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_at_start": [round(x, 2) for x in load],
    }


def load_average() -> tuple[float, float, float]:
    return os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)


def line(m: dict[str, Any]) -> str:
    mem = f"{m['memory_gib']:.0f} GiB RAM" if m.get("memory_gib") else "RAM unknown"
    load = ", ".join(f"{x:.2f}" for x in m.get("load_average_at_start", []))
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {mem}, PostgreSQL {m['postgresql']}, "
        f"{m['date']} (load average at start {load})"
    )
