"""The hostile-input fuzzer (a support module of the test_hostile_*.py modules, not collected): the
RPCs enumerated from the catalog (every public function granted to authenticated or service_role, so
a new RPC is picked up at once), the checksums of every public table, private.report_jobs and
realtime.messages, and the Fuzzer, which sends batches of hostile calls (fuzz_values, fuzz_specs) and
checks that every call raises `glue.rpc.RpcError` with a clean SQLSTATE (PL..., 42501, PGRST..., or
classes 22/23/42/54) and that the checksums do not move.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from fuzz_values import (
    SERVICE,
    TEACHER,
    Call,
    Signature,
    _short,
    clean_sqlstate,
)
from glue_testing import HELEN, Transport
from rest_endpoint import http_status

from glue.rpc import RpcClient, RpcError

# --- the catalog, the database's checksums, the clients ------------------------------------------------

_RPCS = """
select p.proname, p.proargnames, p.proargmodes,
       array(select format_type(t, null) from unnest(p.proargtypes) as t), p.pronargs, p.pronargdefaults,
       has_function_privilege('service_role', p.oid, 'execute'),
       has_function_privilege('authenticated', p.oid, 'execute')
from pg_proc as p
join pg_namespace as n on n.oid = p.pronamespace
where n.nspname = 'public' and p.prokind = 'f'
  and (has_function_privilege('authenticated', p.oid, 'execute')
       or has_function_privilege('service_role', p.oid, 'execute'))
order by p.proname
"""


def catalog(url: str) -> dict[str, Signature]:
    found: dict[str, Signature] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, names, modes, types, nargs, ndefaults, service, authenticated in conn.execute(_RPCS):
            inputs = [n for n, m in zip(names or [], modes or ["i"] * len(names or []), strict=True) if m in "ibv"]
            assert len(inputs) == nargs == len(types), f"{name}: unnamed or variadic parameters"
            args = tuple((n, t, i >= nargs - ndefaults) for i, (n, t) in enumerate(zip(inputs, types, strict=True)))
            callers = {c for c, ok in ((SERVICE, service), (TEACHER, authenticated)) if ok}
            assert name not in found, f"{name} is overloaded"
            found[name] = Signature(name, args, frozenset(callers))
    return found


class Checksums:
    """md5 of every row (as text, in order) of every public table, private.report_jobs and
    realtime.messages, as the database owner."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        tables = [
            r[0]
            for r in self.conn.execute(
                "select format('%I.%I', n.nspname, c.relname) from pg_class as c"
                " join pg_namespace as n on n.oid = c.relnamespace"
                " where c.relkind in ('r', 'p') and (n.nspname = 'public'"
                " or (n.nspname, c.relname) in (('private', 'report_jobs'), ('realtime', 'messages')))"
                " order by 1"
            )
        ]
        assert {"public.submissions", "private.report_jobs", "realtime.messages"} <= set(tables)
        self.query = " union all ".join(
            f"select '{t}', md5(coalesce(string_agg(x::text, ',' order by x::text), '')) from {t} as x" for t in tables
        )

    def take(self) -> dict[str, str]:
        return {t: s for t, s in self.conn.execute(self.query).fetchall()}

    def close(self) -> None:
        self.conn.close()


class Clients:
    """One client per caller, shared by the worker threads (PgRpc has a pool; supabase-py's httpx
    client is thread-safe and keeps its connections alive)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.lock = threading.Lock()
        self.clients: dict[str, RpcClient] = {}

    def get(self, caller: str) -> RpcClient:
        with self.lock:
            if caller not in self.clients:
                self.clients[caller] = self.transport.service() if caller == SERVICE else self.transport.user(HELEN)
            return self.clients[caller]


@dataclass
class Outcome:
    call: Call
    result: Any = None
    error: BaseException | None = None
    seconds: float = 0.0


def _run(clients: Clients, call: Call) -> Outcome:
    started = time.perf_counter()
    try:
        result = clients.get(call.caller).call(call.rpc, call.params)
    except Exception as exc:  # judged by the caller: only RpcError is acceptable
        return Outcome(call, error=exc, seconds=time.perf_counter() - started)
    return Outcome(call, result=result, seconds=time.perf_counter() - started)


def problem(outcome: Outcome, transport: str) -> str | None:
    """Why the outcome of a call that must be refused is not a clean refusal (None: it is)."""
    exc = outcome.error
    if exc is None:
        return f"accepted: {outcome.call!r} -> {_short(outcome.result)}"
    if not isinstance(exc, RpcError):
        return f"leaked {type(exc).__name__}: {_short(str(exc))} from {outcome.call!r}"
    if not clean_sqlstate(exc.sqlstate):
        return f"SQLSTATE {exc.sqlstate!r} ({_short(exc.message)}) from {outcome.call!r}"
    role = "service_role" if outcome.call.caller == SERVICE else "authenticated"
    if transport != "pg" and http_status(exc.sqlstate, role) >= 500:
        return f"HTTP {http_status(exc.sqlstate, role)} for {exc.sqlstate} from {outcome.call!r}"
    return None


@dataclass
class Fuzzer:
    transport: Transport
    checksums: Checksums | None
    clients: Clients
    pool: ThreadPoolExecutor
    calls: int = 0
    batches: int = 0
    refusals: dict[str, int] = field(default_factory=dict)

    def run(self, calls: Sequence[Call]) -> None:
        """Run a batch concurrently between two checksums; every call must be a clean refusal and
        the checksums must not move (on a mismatch, the calls are replayed one by one to find it)."""
        before = self.checksums.take() if self.checksums else None
        outcomes = list(self.pool.map(lambda c: _run(self.clients, c), calls))
        after = self.checksums.take() if self.checksums else None
        self.calls += len(calls)
        self.batches += 1
        for o in outcomes:
            if isinstance(o.error, RpcError):
                self.refusals[o.error.sqlstate] = self.refusals.get(o.error.sqlstate, 0) + 1
        problems = [p for o in outcomes if (p := problem(o, self.transport.name)) is not None]
        if before != after:
            assert before is not None
            assert after is not None
            changed = sorted(t for t in before if before[t] != after.get(t))
            culprits = self._bisect(calls)
            problems.append(f"partial write: {changed} changed; replayed one by one, the writers: {culprits}")
        assert not problems, f"{len(problems)} problems in a batch of {len(calls)} calls:\n" + "\n".join(problems[:20])

    def _bisect(self, calls: Sequence[Call]) -> list[str]:
        assert self.checksums is not None
        culprits: list[str] = []
        for call in calls:
            before = self.checksums.take()
            outcome = _run(self.clients, call)
            if self.checksums.take() != before:
                culprits.append(f"{call!r} -> {_short(outcome.error or outcome.result)}")
        return culprits or ["(none reproduced the write)"]
