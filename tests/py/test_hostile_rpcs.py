"""Hostile input to the RPCs: every RPC's parameters fuzzed through both transports (the fuzzer:
fuzz_values.py, fuzz_specs.py, fuzzing.py): each hostile value alone, then random hostile calls;
every call is refused with a clean SQLSTATE and writes nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from fuzz_specs import (
    World,
    specs,
)
from fuzz_values import (
    CALLERS,
    EXAMPLES,
    HTTP_WORKERS,
    LESSON_MATHS,
    OMIT,
    SERVICE,
    WORKERS,
    Call,
    Plan,
    RpcSpec,
    Signature,
    hostile_call,
    static_pool,
)
from fuzzing import (
    Checksums,
    Clients,
    Fuzzer,
    catalog,
)
from glue_testing import DAVID, LESSON_2, Transport, add_pupils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def world(glue_url: str) -> World:
    group = f"HOSTILE-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(glue_url) as conn, conn.transaction():
        conn.execute(
            "insert into public.groups (group_id, subject, join_code) values (%s, 'Maths', %s)", (group, group)
        )
        conn.execute(
            "insert into public.group_membership (group_id, user_id, role) values (%s, %s, 'teacher')", (group, DAVID)
        )
        conn.execute(
            "insert into public.lesson_assignments (group_id, lesson_id, start_date)"
            " select %s, x, current_date from unnest(%s::uuid[]) as x",
            (group, [LESSON_2, LESSON_MATHS]),
        )
    (other,) = add_pupils(glue_url, 1, group)
    (loner,) = add_pupils(glue_url, 1, None)
    return World(group, other, loner)


@pytest.fixture(scope="module")
def signatures(glue_url: str) -> dict[str, Signature]:
    return catalog(glue_url)


@pytest.fixture(scope="module")
def rpc_specs(world: World) -> dict[str, RpcSpec]:
    return specs(world)


@pytest.fixture(scope="module")
def plans(signatures: dict[str, Signature], rpc_specs: dict[str, RpcSpec]) -> dict[str, Plan]:
    missing = sorted(set(signatures) - set(rpc_specs))
    assert not missing, f"RPCs without a fuzz spec: {missing}"
    return {name: Plan.of(sig, rpc_specs[name]) for name, sig in signatures.items()}


@pytest.fixture
def fuzzer(transport: Transport, glue_url: str) -> Iterator[Fuzzer]:
    checksums = Checksums(glue_url) if transport.local else None
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS.get(transport.name, HTTP_WORKERS), thread_name_prefix="hostile") as pool:
        fuzzer = Fuzzer(transport, checksums, Clients(transport), pool)
        yield fuzzer
    if checksums:
        checksums.close()
    print(
        f"\n{transport.name}: {fuzzer.calls} hostile calls in {fuzzer.batches} batches"
        f"{' between checksums' if checksums else ''}, {time.perf_counter() - started:.1f}s;"
        f" SQLSTATEs {dict(sorted(fuzzer.refusals.items()))}"
    )


def _callers(transport: Transport) -> tuple[str, ...]:
    # A real project (supabase-project) gives the tests no user tokens: the service role only.
    return CALLERS if transport.local else (SERVICE,)


# --- the tests: RPCs ------------------------------------------------------------------------------------


def test_every_rpc_has_a_fuzz_spec(signatures: dict[str, Signature], rpc_specs: dict[str, RpcSpec]) -> None:
    assert signatures, "the catalog query found no RPC"
    assert sorted(set(signatures) - set(rpc_specs)) == [], "RPCs without a fuzz spec"
    assert sorted(set(rpc_specs) - set(signatures)) == [], "fuzz specs of RPCs that are gone"
    for name, sig in signatures.items():
        spec = rpc_specs[name]
        names = [n for n, _t, _d in sig.args]
        assert sorted(spec.params) == sorted(names), f"{name}: the spec's parameters are not the function's"
        assert set(spec.base) <= set(names), name
        for arg, typ, default in sig.args:
            pool = static_pool(typ, spec.params[arg], default)
            assert any(h.refused for h in pool), f"{name}.{arg}: nothing it must refuse"


def test_each_hostile_value_alone_is_refused(transport: Transport, fuzzer: Fuzzer, plans: dict[str, Plan]) -> None:
    """The explicit tables: every RPC, every parameter, every fixed hostile value alone (the other
    parameters valid), as each caller that must be refused it; plus an unknown parameter name.
    One batch per RPC between two checksums."""
    callers = _callers(transport)
    for name, plan in plans.items():
        calls: list[Call] = []
        for caller in callers:
            unknown = {**plan.spec.base, "'; drop table public.submissions; --": 1}
            calls.append(Call(name, caller, unknown, ("unknown parameter name",)))
        turn = 0
        for arg, pool in plan.static.items():
            for h in pool:
                if (not h.json and transport.name != "pg") or (not transport.local and not h.universal):
                    continue
                # Each value as a caller that must be refused it; a value both must refuse, as one
                # of them in turn (so is a caller refused by the grants whatever the value).
                must = [c for c in callers if c in h.refused or plan.always_refused(c)]
                if not must:
                    continue
                turn += 1
                params = {k: v for k, v in plan.spec.base.items() if k != arg}
                if h.value is not OMIT:
                    params[arg] = h.value
                calls.append(Call(name, must[turn % len(must)], params, (f"{arg}: {h.label}",)))
        fuzzer.run(calls)


# psycopg_pool's background threads draw from `random` (connection lifetimes) while hypothesis draws.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hostile_calls_are_refused_cleanly_and_write_nothing(
    data: st.DataObject, transport: Transport, fuzzer: Fuzzer, plans: dict[str, Plan]
) -> None:
    """hypothesis: per example, one hostile call per RPC and caller (several parameters hostile at
    once, random uuids, text, numbers and JSON), run as one batch between two checksums."""
    calls = [
        data.draw(
            hostile_call(plan, caller, json_only=transport.name != "pg", universal_only=not transport.local),
            label=f"{name} as {caller}",
        )
        for caller in _callers(transport)
        for name, plan in plans.items()
    ]
    fuzzer.run(calls)
