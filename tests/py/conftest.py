"""Shared fixtures: the real database the tests run against (DATABASE_URL, else the embedded one)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from glue_testing import Transport
from rest_endpoint import RestEndpoint, mint_jwt

from glue.config import database_url as configured_url
from glue.rpc import PgRpc, RpcClient, SupabaseRpc
from glue_tools.localdb import scratch_database
from glue_tools.migrate import migrate
from glue_tools.paths import SEED_SQL


@pytest.fixture(scope="session")
def database_url() -> str:
    """The database that `make test` reset: shim, every migration and supabase/seed.sql applied."""
    return configured_url()


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection as the database owner (postgres)."""
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture
def scratch_url(database_url: str) -> Iterator[str]:
    """A throwaway database with only the platform shim installed (no migrations)."""
    with scratch_database(database_url) as url:
        yield url


@pytest.fixture
def migrated_scratch_url(scratch_url: str) -> str:
    """A throwaway database with the shim and every migration applied (no seed data)."""
    migrate(scratch_url)
    return scratch_url


# --- the glue suites: one seeded scratch database per session, reached through every transport ------


@pytest.fixture(scope="session")
def glue_url(database_url: str) -> Iterator[str]:
    """A scratch database with every migration applied and supabase/seed.sql loaded (the demo school);
    shared by the glue suites for the whole session and dropped at its end."""
    with scratch_database(database_url, "planner_glue") as url:
        migrate(url)
        with psycopg.connect(url) as c, c.transaction():
            c.execute(SEED_SQL.read_bytes())
        yield url


@pytest.fixture(scope="session")
def rest(glue_url: str) -> Iterator[RestEndpoint]:
    """The PostgREST-compatible RPC endpoint over glue_url (supabase-py talks to it over HTTP)."""
    endpoint = RestEndpoint(glue_url)
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="session")
def pg_rpc(glue_url: str) -> Iterator[PgRpc]:
    """The psycopg transport on glue_url: one pool for the session (views via as_user / as_role)."""
    client = PgRpc(glue_url)
    yield client
    client.close()


def _no_user_tokens(_user_id: uuid.UUID | str) -> RpcClient:
    pytest.skip("a real Supabase project: user access tokens are not available to the tests")


def _no_anon_key() -> RpcClient:
    pytest.skip("a real Supabase project: the anon key is not used by the tests")


@pytest.fixture(params=["pg", "supabase", pytest.param("supabase-project", marks=pytest.mark.supabase)])
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    """Every transport: psycopg ("pg"), supabase-py over HTTP against the test endpoint ("supabase"),
    and supabase-py against a real project ("supabase-project", skipped unless SUPABASE_URL and
    SUPABASE_SERVICE_ROLE_KEY are set)."""
    name = str(request.param)
    if name == "pg":
        pg: PgRpc = request.getfixturevalue("pg_rpc")
        yield Transport(name, lambda: pg, pg.as_user, lambda: pg.as_role("anon"))
        return
    made: list[SupabaseRpc] = []
    if name == "supabase":
        endpoint: RestEndpoint = request.getfixturevalue("rest")

        def make(token: str) -> SupabaseRpc:
            client = SupabaseRpc(endpoint.url, token)
            made.append(client)
            return client

        yield Transport(
            name,
            lambda: make(mint_jwt({"role": "service_role"})),
            lambda user_id: make(mint_jwt({"role": "authenticated", "sub": str(user_id)})),
            lambda: make(mint_jwt({"role": "anon"})),
        )
    else:
        url = os.environ.get("SUPABASE_URL")
        key = os.environ.get("SUPABASE_SERVICE_ROLE_KEY")
        if not (url and key):
            pytest.skip("SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY are not set")
        project = SupabaseRpc(url, key)
        made.append(project)
        yield Transport(name, lambda: project, _no_user_tokens, _no_anon_key, local=False)
    for client in made:
        client.close()
