"""The two databases a job store runs on, for the contract tests: the data dir's SQLite file, or a fresh
PostgreSQL database per test cloned from one migrated once per session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nanococoa_mcp.db.postgres import migrate
from nanococoa_mcp.jobs.kinds import JobKind
from nanococoa_mcp.jobs.models import ProgressUpdate
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.jobs.writer import JobWriter
from nanococoa_mcp.locations import PostgresDatabase, parse_database_url
from nanococoa_mcp.settings import Settings
from tests.jobs.kinds import RelayKind, StepsKind
from tests.realservers import PostgresServer

TEMPLATE = "nanococoa_migrated"


def kinds(data_dir: Path) -> list[StepsKind | RelayKind]:
    return [StepsKind(Settings(data_dir=data_dir)), RelayKind()]


def postgres_location(url: str) -> PostgresDatabase:
    database = parse_database_url(url)
    assert isinstance(database, PostgresDatabase)
    return database


def _migrate(url: str) -> None:
    migrate(postgres_location(url))


def fresh_migrated_database(server: PostgresServer) -> PostgresDatabase:
    """A new database at the newest schema (drop it with `server.drop_database(database_name(...))`)."""
    return postgres_location(server.create_database(template=server.ensure_template(TEMPLATE, _migrate)))


def database_name(database: PostgresDatabase) -> str:
    return str(database).rsplit("/", 1)[1]


@dataclass(frozen=True)
class Backend:
    """Where the stores of one test keep their jobs: the data dir's SQLite file, or one PostgreSQL database."""

    name: str
    data_dir: Path
    database: PostgresDatabase | None = None

    async def open(self, job_kinds: Sequence[JobKind], workers: int = 1) -> JobStore:
        if self.database is None:
            return await JobStore.open(self.data_dir, job_kinds, workers)
        return await JobStore.open_postgres(self.database, self.data_dir, job_kinds, workers)

    async def dead_worker_reports(self, job_id: str, update: ProgressUpdate) -> None:
        """A worker's last progress report before it died: an embedded worker process writes through
        JobWriter, a distributed one through its own store."""
        if self.database is None:
            writer = JobWriter(self.data_dir)
            writer.progress(job_id, update)
            writer.close()
            return
        async with await self.open(kinds(self.data_dir)) as store:
            await store.progress(job_id, update)
