"""Fixtures of the job runtime's tests: `backend`, each test once per database; `database`, a fresh migrated
PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nanococoa_mcp.locations import PostgresDatabase
from tests.jobs.backends import Backend, database_name, fresh_migrated_database
from tests.realservers import PostgresServer


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", data_dir)
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    database = fresh_migrated_database(server)
    yield Backend("postgres", data_dir, database)
    server.drop_database(database_name(database))


@pytest.fixture
def database(postgres: PostgresServer) -> Iterator[PostgresDatabase]:
    database = fresh_migrated_database(postgres)
    yield database
    postgres.drop_database(database_name(database))
