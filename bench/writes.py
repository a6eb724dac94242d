"""Scenario 1: a write RPC against a bare upsert of the same submission row.

Contenders, alternated call by call on the same cells (pupil, activity) with the same values:
- `results_save_feedback` as the class's teacher through glue's PgRpc.as_user (what callers use:
  a pooled connection, one transaction with set_config of role and claims, the call, commit);
- the same RPC in one round trip (set_config and the call sent together in one transaction), which
  isolates the database's cost from the client's;
- a bare upsert of the submission row as postgres (insert ... on conflict do update), one statement;
- the floor of a write: in one round trip and one transaction, the same set_config of the claims,
  the upsert, the enqueue of the pupil with the activity's unit (private.report_enqueue) and one
  realtime.messages row (realtime.send of a small payload), as postgres (the tables and the private
  functions are not the API roles' to call directly).
The RPC validates, checks the teacher's right to mark, writes, enqueues the pupil's recalculation
and returns the authoritative row with its live cell; the upsert only writes; the floor does what
no write can skip.
"""

from __future__ import annotations

import json
import time
from typing import Any

from psycopg import sql

from bench.output import Row, row, safe_ratio
from bench.school import School, clear_queue, connect, say
from bench.stats import Deadline, alternate, ms
from glue import api
from glue.rpc import PgRpc

UPSERT = """
insert into public.submissions as s (
  activity_id, user_id, status, submitted_at, override_score, teacher_feedback, override_by, override_at,
  updated_at
)
values (%s, %s, 'completed', now(), %s, %s, %s, now(), now())
on conflict (user_id, activity_id) do update
  set override_score = excluded.override_score,
      teacher_feedback = excluded.teacher_feedback,
      override_by = excluded.override_by,
      override_at = excluded.override_at,
      updated_at = excluded.updated_at
"""


def _one_round_trip(activity_id: str, pupil_id: str, teacher_id: str, score: float, feedback: str) -> bytes:
    """set_config of role and claims and the RPC, as one simple-protocol transaction."""
    claims = json.dumps({"sub": teacher_id, "role": "authenticated"})
    return (
        sql.SQL(
            "begin; select set_config('role', 'authenticated', true), set_config('request.jwt.claims', {}, true);"
            " select public.results_save_feedback(activity_id => {}::uuid, pupil_id => {}::uuid,"
            " override_score => {}::numeric, feedback => {}); commit;"
        )
        .format(
            sql.Literal(claims),
            sql.Literal(activity_id),
            sql.Literal(pupil_id),
            sql.Literal(str(score)),
            sql.Literal(feedback),
        )
        .as_bytes(None)
    )


def _floor(activity_id: str, pupil_id: str, teacher_id: str, score: float, feedback: str) -> bytes:
    """What every write must do, in one transaction sent in one round trip (see the docstring)."""
    claims = json.dumps({"sub": teacher_id, "role": "authenticated"})
    act, pupil = sql.Literal(activity_id), sql.Literal(pupil_id)
    upsert = sql.SQL(UPSERT.replace("%s", "{}")).format(
        act, pupil, sql.Literal(str(score)), sql.Literal(feedback), sql.Literal(teacher_id)
    )
    return (
        sql.SQL(
            "begin; select set_config('request.jwt.claims', {claims}, true); {upsert};"
            " select private.report_enqueue(array[{p}::uuid], 'bench floor',"
            " private.activity_unit_ids(array[{a}::uuid]));"
            " select realtime.send(jsonb_build_object('pupil_id', {p}, 'score', {score}::numeric),"
            " 'submission_updated', 'assignment_results:bench', true); commit;"
        )
        .format(claims=sql.Literal(claims), upsert=upsert, a=act, p=pupil, score=sql.Literal(str(score)))
        .as_bytes(None)
    )


def run(s: School, *, calls: int, budget_s: float) -> tuple[dict[str, Any], list[Row]]:
    say(f"1. write RPC vs bare upsert: {calls} calls each, alternated ({s.label})")
    deadline = Deadline(budget_s)
    cells = s.cells(50, "writes")
    rpc = PgRpc(s.url, max_size=2)
    upsert_conn = connect(s.url)
    direct_conn = connect(s.url)
    floor_conn = connect(s.url)
    clients = {c.teacher_id: rpc.as_user(c.teacher_id) for c in cells}

    def score(i: int, k: int) -> float:
        return round(0.05 + ((i * 7 + k) % 90) / 100.0, 4)

    def via_pgrpc(i: int) -> float:
        c = cells[i % len(cells)]
        started = time.perf_counter()
        api.results_save_feedback(
            clients[c.teacher_id], c.activity_id, c.pupil_id, override_score=score(i, 0), feedback=f"bench {i}"
        )
        return time.perf_counter() - started

    def via_one_trip(i: int) -> float:
        c = cells[i % len(cells)]
        query = _one_round_trip(c.activity_id, c.pupil_id, c.teacher_id, score(i, 1), f"bench {i}")
        started = time.perf_counter()
        direct_conn.execute(query)
        return time.perf_counter() - started

    def bare(i: int) -> float:
        c = cells[i % len(cells)]
        params = (c.activity_id, c.pupil_id, score(i, 2), f"bench {i}", c.teacher_id)
        started = time.perf_counter()
        upsert_conn.execute(UPSERT, params)
        return time.perf_counter() - started

    def floor(i: int) -> float:
        c = cells[i % len(cells)]
        query = _floor(c.activity_id, c.pupil_id, c.teacher_id, score(i, 3), f"bench {i}")
        started = time.perf_counter()
        floor_conn.execute(query)
        return time.perf_counter() - started

    try:
        warm = [via_pgrpc, via_one_trip, bare, floor]
        alternate(warm, 30)
        samples, cut = alternate(warm, calls, deadline, min_rounds=50)
    finally:
        with connect(s.url) as conn:
            clear_queue(conn)  # the pupils' cache is refreshed below, the jobs are not needed
        rpc.close()
        upsert_conn.close()
        direct_conn.close()
        floor_conn.close()
    # The writes changed the pupils' data: bring their cache back to the live computation.
    with connect(s.url) as conn:
        for c in cells:
            conn.execute("select private.report_recalculate_pupil(%s)", (c.pupil_id,))
    pgrpc, one_trip, upsert, floor_ms = (ms(x) for x in samples)
    raw = {
        "school": s.label,
        "cells": len(cells),
        "calls_each": len(samples[0]),
        "cut_by_deadline": cut,
        "rpc_pgrpc_ms": pgrpc,
        "rpc_one_round_trip_ms": one_trip,
        "bare_upsert_ms": upsert,
        "floor_ms": floor_ms,
        "samples_ms": {
            "rpc_pgrpc": [x * 1000 for x in samples[0]],
            "rpc_one_round_trip": [x * 1000 for x in samples[1]],
            "bare_upsert": [x * 1000 for x in samples[2]],
            "floor": [x * 1000 for x in samples[3]],
        },
    }
    r1 = safe_ratio(pgrpc.p50, upsert.p50)
    r2 = safe_ratio(one_trip.p50, upsert.p50)
    r3 = safe_ratio(one_trip.p50, floor_ms.p50)
    rows = [
        row(
            f"1. write ({s.label})",
            "results_save_feedback via PgRpc.as_user (teacher)",
            "bare upsert of the submission row",
            "ms",
            pgrpc,
            upsert,
            r1,
            "A/B p50",
            "≤ 2× at p50",
            r1 is not None and r1 <= 2.0,
            f"p95 ratio {safe_ratio(pgrpc.p95, upsert.p95) or 0:.2f}; {len(samples[0])} calls each",
        ),
        row(
            f"1. write, one round trip ({s.label})",
            "results_save_feedback (set_config + call in one transaction)",
            "bare upsert of the submission row",
            "ms",
            one_trip,
            upsert,
            r2,
            "A/B p50",
            "≤ 2× at p50",
            r2 is not None and r2 <= 2.0,
            f"p95 ratio {safe_ratio(one_trip.p95, upsert.p95) or 0:.2f}",
        ),
        row(
            f"1. write vs its floor ({s.label})",
            "results_save_feedback (set_config + call in one transaction)",
            "floor: claims, upsert, enqueue, one realtime.messages row",
            "ms",
            one_trip,
            floor_ms,
            r3,
            "A/B p50",
            "≤ 1.5× at p50",
            r3 is not None and r3 <= 1.5,
            f"p95 ratio {safe_ratio(one_trip.p95, floor_ms.p95) or 0:.2f}; the floor in one round trip as postgres",
        ),
    ]
    return raw, rows
