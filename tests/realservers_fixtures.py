"""Pytest fixtures for real servers (registered by tests/conftest.py).

`postgres` and `s3` are session-scoped: started the first time a test asks for one, stopped at the end of the
session (also after failures and Ctrl-C; if the session is killed outright the servers get their parent-death
signal). `postgres_db` gives each test its own fresh database, `s3_bucket` its own fresh bucket; both are
dropped after the test. When a binary or client package is missing the test fails (it is never skipped) with
the command that installs it.

A test that needs migrated tables can clone a template made once per session:

    @pytest.fixture
    def db(postgres):
        return postgres.create_database(template=postgres.ensure_template("migrated", run_migrations))
"""

from __future__ import annotations

import importlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from tests.realservers import INSTALL_HINT, PostgresServer, S3Server, ServiceError, sweep_stale

_counter = itertools.count(1)
S = TypeVar("S", PostgresServer, S3Server)


def _require(module: str, package: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError:
        pytest.fail(f"the Python package {package!r} is not installed; install it with: {INSTALL_HINT}",
                    pytrace=False)


def _start(factory: Callable[[], S]) -> S:
    """Make and start a server; a missing binary or a failed start fails the test with the message (which names
    the install command or the log file), never a skip."""
    sweep_stale()
    server: S | None = None
    try:
        server = factory()
        server.start()
    except ServiceError as err:  # ServiceMissing included
        if server is not None:
            server.stop()  # its directory stays, so the log the message names can be read (the next session sweeps it)
        message = str(err)
    else:
        return server
    pytest.fail(message, pytrace=False)


def _slug(request: pytest.FixtureRequest, limit: int) -> str:
    """t<n>_<test name>, lower case, safe as a database or bucket name."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return f"t{next(_counter)}-{name}"[:limit].rstrip("-")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server for the whole session (user `app`, trust auth, 127.0.0.1, fsync off)."""
    _require("psycopg", "psycopg[binary,pool]")
    server = _start(PostgresServer)
    try:
        yield server
    finally:
        server.close()


@dataclass(frozen=True)
class PgDatabase:
    server: PostgresServer
    name: str
    url: str  # postgresql://app@127.0.0.1:PORT/NAME

    def connect(self, **kwargs: Any) -> Any:
        """A new psycopg connection to this database (a context manager)."""
        import psycopg

        return psycopg.connect(self.url, **kwargs)


@pytest.fixture
def postgres_db(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[PgDatabase]:
    """A fresh database for this test (a copy of template1), dropped afterwards."""
    if not postgres.running:  # an earlier test stopped it and failed before starting it again
        postgres.start()
    name = _slug(request, 63).replace("-", "_")
    db = PgDatabase(postgres, name, postgres.create_database(name))
    yield db
    if not postgres.running:
        postgres.start()
    postgres.drop_database(name)


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """A SeaweedFS S3 server for the whole session (path-style, http://127.0.0.1:PORT, signed requests only)."""
    server = _start(S3Server)
    try:
        yield server
    finally:
        server.close()


@dataclass(frozen=True)
class S3Bucket:
    server: S3Server
    name: str

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def url(self) -> str:
        """s3://NAME?endpoint=http://127.0.0.1:PORT&region=us-east-1 (NANOCOCOA_BLOB_URL's form)."""
        return self.server.blob_url(self.name)

    @property
    def access_key(self) -> str:
        return self.server.access_key

    @property
    def secret_key(self) -> str:
        return self.server.secret_key

    @property
    def region(self) -> str:
        return self.server.region

    def env(self) -> dict[str, str]:
        """AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, … for this server."""
        return self.server.env()


@pytest.fixture
def s3_bucket(s3: S3Server, request: pytest.FixtureRequest) -> Iterator[S3Bucket]:
    """A fresh, empty bucket for this test, deleted (with its objects) afterwards."""
    name = _slug(request, 63)
    name = name if len(name) >= 3 else f"{name}-bucket"
    s3.create_bucket(name)
    yield S3Bucket(s3, name)
    if s3.running:
        s3.delete_bucket(name)
