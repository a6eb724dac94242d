"""A write load that costs almost nothing to generate: pgbench at a fixed open-loop rate.

Each pgbench transaction is one teacher's mark as PostgREST sends it: `begin`, one statement that
sets the role and the JWT claims for the transaction (`set_config(..., true)`, PostgREST's own
way of doing `set local`), the RPC `public.results_save_feedback(activity, pupil, score)` on a
random cell of the school, `commit`. With `fire_and_forget`, the same client then calls
`public.report_process_pupil(pupil)` in a transaction of its own, as glue's Results does after a
write (so a logged transaction is the write and its recalculation, one after the other).

The cells are copied into a small table `pgload.cells` (created by `cells_table`, dropped when it
exits) that the script reads by a random key inside the statements it sends anyway, so a
transaction makes the same four round trips as PostgREST's.

pgbench runs open loop (`-R rate`): transactions are scheduled at the rate whatever the server
does, and a transaction's latency counts from its scheduled start, so a server that falls behind
shows up as latency rather than as a lower rate. Its per-transaction log (`-l`) is parsed into
the rate reached and the latency percentiles; its own CPU comes from the kernel's accounting of
the child process (`os.wait4`).

    with cells_table(url, markable_cells(url, 1000)) as n:
        result = run(LoadSpec(url, rate=200, seconds=20, cells=n))
    print(result.rate, result.latency_ms_p95, result.cpu_share)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SCHEMA = "pgload"


@dataclass(frozen=True)
class Cell:
    """A (pupil, activity) cell that `teacher_id` may mark (a teacher of the pupil's class who has
    the activity's lesson assigned in its subject)."""

    pupil_id: str
    activity_id: str
    teacher_id: str


@dataclass(frozen=True)
class LoadSpec:
    """One pgbench run. `role`: "service_role" (claims {"role": "service_role"}) or "authenticated"
    (claims of the cell's teacher). `relay_notify_off` sets planner.relay_notify = off in every
    transaction (the local platform's realtime.send then does not NOTIFY, as Supabase's never does;
    elsewhere the setting is an unused placeholder)."""

    url: str
    rate: float
    seconds: int
    cells: int
    clients: int = 16
    threads: int = 2
    role: str = "service_role"
    fire_and_forget: bool = False
    relay_notify_off: bool = True


@dataclass(frozen=True)
class LoadResult:
    """What pgbench did. Latencies in ms from each transaction's scheduled start (open loop);
    `lag_ms_*` is the part spent waiting to start (a client still busy with its previous one).
    `cpu_s` is pgbench's own user + system CPU, `cpu_share` that over the run's wall time (1.0 =
    one core)."""

    spec: LoadSpec
    transactions: int
    failed: int
    skipped: int
    elapsed_s: float
    rate: float
    latency_ms_avg: float
    latency_ms_p50: float
    latency_ms_p95: float
    latency_ms_max: float
    lag_ms_p95: float
    cpu_s: float
    cpu_share: float
    exit_code: int
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        out = {k: v for k, v in self.__dict__.items() if k != "spec"}
        out["target_rate"] = self.spec.rate
        return out


def markable_cells(url: str, limit: int) -> list[Cell]:
    """Up to `limit` cells, one per pupil (in pupil order), each with a teacher who may mark it: a
    submitted scorable activity of an active lesson assigned to a class of the pupil whose subject
    is the unit's."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """
            select distinct on (p.user_id) p.user_id::text, s.activity_id::text, t.user_id::text
            from public.group_membership as p
            join public.group_membership as t on t.group_id = p.group_id and t.role = 'teacher'
            join public.groups as g on g.group_id = p.group_id
            join public.lesson_assignments as la on la.group_id = p.group_id
            join public.lessons as l on l.lesson_id = la.lesson_id and l.active
            join public.units as u on u.unit_id = l.unit_id and u.active and u.subject = g.subject
            join public.activities as a on a.lesson_id = l.lesson_id and a.active
            join public.activity_types as ty on ty.type = a.type and ty.scorable
            join public.submissions as s on s.user_id = p.user_id and s.activity_id = a.activity_id
            where p.role = 'pupil'
            order by p.user_id, s.activity_id, t.user_id
            limit %s
            """,
            (limit,),
        ).fetchall()
    return [Cell(*r) for r in rows]


@contextlib.contextmanager
def cells_table(url: str, cells: Sequence[Cell]) -> Iterator[int]:
    """Create pgload.cells (n = 1..len(cells), readable by service_role and authenticated) for the
    duration of the block; yields the number of cells. Needs the database owner."""
    if not cells:
        raise ValueError("no cells to write to")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCHEMA} cascade")
        conn.execute(f"create schema {SCHEMA}")
        conn.execute(
            f"create table {SCHEMA}.cells (n integer primary key, pupil_id uuid not null,"
            " activity_id uuid not null, teacher_id uuid not null, teacher_claims text not null)"
        )
        with conn.cursor().copy(f"copy {SCHEMA}.cells from stdin") as copy:
            for n, c in enumerate(cells, start=1):
                claims = json.dumps({"sub": c.teacher_id, "role": "authenticated"})
                copy.write_row((n, c.pupil_id, c.activity_id, c.teacher_id, claims))
        conn.execute(f"grant usage on schema {SCHEMA} to service_role, authenticated")
        conn.execute(f"grant select on {SCHEMA}.cells to service_role, authenticated")
        conn.execute(f"analyze {SCHEMA}.cells")
    try:
        yield len(cells)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"drop schema if exists {SCHEMA} cascade")


def script(spec: LoadSpec) -> str:
    """The pgbench script of one transaction (see the module's docstring)."""
    if spec.role == "service_role":
        claims = '\'{"role": "service_role"}\''
    elif spec.role == "authenticated":
        claims = "c.teacher_claims"
    else:
        raise ValueError(f"role must be service_role or authenticated, not {spec.role!r}")
    settings = [f"set_config('role', '{spec.role}', true)", f"set_config('request.jwt.claims', {claims}, true)"]
    if spec.relay_notify_off:
        settings.append("set_config('planner.relay_notify', 'off', true)")
    setup = f"select {', '.join(settings)} from {SCHEMA}.cells as c where c.n = :i;"
    lines = [
        f"\\set i random(1, {spec.cells})",
        "\\set score random(0, 1000)",
        "begin;",
        setup,
        f"select public.results_save_feedback(c.activity_id, c.pupil_id, :score / 1000.0) from {SCHEMA}.cells as c"
        " where c.n = :i;",
        "commit;",
    ]
    if spec.fire_and_forget:
        lines += [
            "begin;",
            setup,
            f"select public.report_process_pupil(c.pupil_id) from {SCHEMA}.cells as c where c.n = :i;",
            "commit;",
        ]
    return "\n".join(lines) + "\n"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = math.floor(k)
    hi = math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass(frozen=True)
class LogSummary:
    latencies_ms: list[float]
    lags_ms: list[float]
    failed: int
    skipped: int


def parse_logs(paths: Sequence[Path]) -> LogSummary:
    """pgbench's per-transaction log lines (`client transaction latency_us script epoch_s epoch_us
    [lag_us ...]`, latency `failed` or `skipped` for those)."""
    latencies: list[float] = []
    lags: list[float] = []
    failed = skipped = 0
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) < 6:
                continue
            if parts[2] == "failed":
                failed += 1
            elif parts[2] == "skipped":
                skipped += 1
            else:
                latencies.append(int(parts[2]) / 1000.0)
                if len(parts) >= 7:
                    lags.append(int(parts[6]) / 1000.0)
    return LogSummary(latencies, lags, failed, skipped)


def run(spec: LoadSpec, *, pgbench: str = "pgbench", keep_dir: Path | None = None) -> LoadResult:
    """Run pgbench for `spec.seconds` at `spec.rate` and summarise its logs (see LoadResult).
    The script and logs go to a temporary directory, or `keep_dir` (kept)."""
    if spec.rate <= 0 or spec.seconds < 1 or spec.cells < 1 or spec.clients < 1:
        raise ValueError("rate, seconds, cells and clients must be positive")
    binary = shutil.which(pgbench)
    if binary is None:
        raise FileNotFoundError(f"{pgbench} is not installed (Debian: postgresql-client)")
    with contextlib.ExitStack() as stack:
        work = keep_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pgload_")))
        work.mkdir(parents=True, exist_ok=True)
        script_path = work / "write.sql"
        script_path.write_text(script(spec), encoding="utf-8")
        prefix = work / "pgbench_log"
        args = [
            binary,
            "-n",
            "-R",
            f"{spec.rate:g}",
            "-c",
            str(spec.clients),
            "-j",
            str(min(spec.threads, spec.clients)),
            "-T",
            str(spec.seconds),
            "-l",
            f"--log-prefix={prefix}",
            "-f",
            str(script_path),
            spec.url,
        ]
        env = dict(os.environ, PGAPPNAME="pgload")
        with (work / "stdout.txt").open("wb") as out, (work / "stderr.txt").open("wb") as err:
            started = time.monotonic()
            proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=work)
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        logs = sorted(work.glob("pgbench_log.*"))
        summary = parse_logs(logs)
        errors = [
            line
            for line in (work / "stderr.txt").read_text(encoding="utf-8", errors="replace").splitlines()
            if "error" in line.lower() or "abort" in line.lower() or "fatal" in line.lower()
        ]
    cpu = usage.ru_utime + usage.ru_stime
    lat = summary.latencies_ms
    return LoadResult(
        spec=spec,
        transactions=len(lat),
        failed=summary.failed,
        skipped=summary.skipped,
        elapsed_s=elapsed,
        rate=len(lat) / spec.seconds,
        latency_ms_avg=sum(lat) / len(lat) if lat else math.nan,
        latency_ms_p50=percentile(lat, 0.5),
        latency_ms_p95=percentile(lat, 0.95),
        latency_ms_max=max(lat) if lat else math.nan,
        lag_ms_p95=percentile(summary.lags_ms, 0.95),
        cpu_s=cpu,
        cpu_share=cpu / elapsed if elapsed > 0 else math.nan,
        exit_code=proc.returncode,
        errors=errors[:20],
    )
