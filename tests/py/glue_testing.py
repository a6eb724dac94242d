"""What the glue suites share: the demo school's ids (supabase/seed.sql), the transports, and small
helpers that look at the database directly (as its owner) to check what the RPCs did."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from glue.rpc import RpcClient

# supabase/seed.sql: "Who is who" and the worked example.
HELEN = "00000000-0000-4000-8000-000000000001"  # teaches 25-8A-CS and 25-8B-CS
DAVID = "00000000-0000-4000-8000-000000000002"  # teaches 25-8A-MATH only
PRIYA = "00000000-0000-4000-8000-000000000101"  # 25-8A-CS and 25-8A-MATH
BEN = "00000000-0000-4000-8000-000000000102"
ALGORITHMS = "00000000-0000-4000-8000-000000000201"  # unit U: Priya 0.7500 / 0.6250, level 4M
LESSON_2 = "00000000-0000-4000-8000-000000000302"  # 'Flowcharts: assessment', assigned to 25-8A-CS
A4 = "00000000-0000-4000-8000-000000000604"  # short text in LESSON_2; Priya submitted, unmarked
GROUP = "25-8A-CS"
ASSIGNMENT = f"{GROUP}__{LESSON_2}"
UNKNOWN = "00000000-0000-4000-8000-00000000dead"  # no profile, no activity has this id


class Transport:
    """Makes RPC clients of one transport: the service role, a signed-in user, or anon.

    `local` is true when the transport reaches the session's database (glue_url), so a test may
    inspect it with psycopg; a real Supabase project is another database."""

    def __init__(
        self,
        name: str,
        service: Callable[[], RpcClient],
        user: Callable[[uuid.UUID | str], RpcClient],
        anon: Callable[[], RpcClient],
        *,
        local: bool = True,
    ) -> None:
        self.name = name
        self.local = local
        self._service = service
        self._user = user
        self._anon = anon

    def service(self) -> RpcClient:
        return self._service()

    def user(self, user_id: uuid.UUID | str) -> RpcClient:
        return self._user(user_id)

    def anon(self) -> RpcClient:
        return self._anon()

    def __repr__(self) -> str:
        return f"Transport({self.name})"


def rows(url: str, query: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Every row of a query, as the database owner, in its own transaction."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def one(url: str, query: str, params: Sequence[Any] | None = None) -> Any:
    """The first column of the single row a query returns."""
    found = rows(url, query, params)
    assert len(found) == 1, f"expected one row, got {len(found)}: {query}"
    return found[0][0]


def execute(url: str, query: str, params: Sequence[Any] | None = None) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query, params)


def version(url: str, pupil_id: str) -> int:
    """The pupil's report version (0 before the first recalculation)."""
    return int(
        one(
            url,
            "select coalesce((select version from public.report_pupil_versions where pupil_id = %s), 0)",
            (pupil_id,),
        )
    )


def jobs(url: str, pupil_id: str) -> list[tuple[Any, ...]]:
    """The pupil's queue entries: (job_id, state, reason)."""
    return rows(url, "select job_id, state::text, reason from private.report_jobs where pupil_id = %s", (pupil_id,))


def add_pupils(url: str, count: int, group_id: str | None = GROUP, *, submit_a4: bool = False) -> list[str]:
    """Pupils of this test's own making: auth user and profile, a pupil of group_id (the lessons of
    25-8A-CS are assigned to it), optionally a submitted answer to A4; their cached reports are
    recalculated so that the cache stays exact."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with psycopg.connect(url) as conn, conn.transaction():
        for i, pupil in enumerate(ids):
            email = f"test.{pupil}@pupils.test.example"
            conn.execute("insert into auth.users (id, email) values (%s, %s)", (pupil, email))
            conn.execute(
                "insert into public.profiles (user_id, first_name, last_name, email) values (%s, %s, %s, %s)",
                (pupil, "Test", f"Pupil {i:03d} {pupil[:8]}", email),
            )
            if group_id is not None:
                conn.execute(
                    "insert into public.group_membership (group_id, user_id, role) values (%s, %s, 'pupil')",
                    (group_id, pupil),
                )
            if submit_a4:
                conn.execute(
                    "insert into public.submissions (activity_id, user_id, status, submitted_at, body)"
                    " values (%s, %s, 'submitted', now(), '{\"text\": \"1, 2, 3\"}')",
                    (A4, pupil),
                )
        conn.execute("select private.report_recalculate_pupil(x) from unnest(%s::uuid[]) as x", (ids,))
    return ids


def submissions_checksum(url: str) -> str:
    return str(one(url, "select md5(string_agg(s::text, ',' order by s.submission_id)) from public.submissions as s"))


def add_group(url: str, prefix: str) -> str:
    """A Computing class of this test's own making with both lessons of 'Algorithms' assigned."""
    group_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(
            "insert into public.groups (group_id, subject, join_code) values (%s, 'Computing', %s)",
            (group_id, group_id),
        )
        conn.execute(
            "insert into public.lesson_assignments (group_id, lesson_id, start_date)"
            " select %s, l.lesson_id, current_date from public.lessons as l where l.unit_id = %s",
            (group_id, ALGORITHMS),
        )
    return group_id


def enqueue(url: str, pupil_ids: Sequence[str], reason: str = "test") -> int:
    """Jobs for the pupils, as a write would enqueue them; returns how many were new."""
    return int(one(url, "select private.report_enqueue(%s::uuid[], %s)", (list(pupil_ids), reason)))
