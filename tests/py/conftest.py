"""Shared fixtures: the real database the tests run against (DATABASE_URL, else the embedded one)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from glue.config import database_url as configured_url
from glue.migrate import migrate, scratch_database


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
