"""Upgrading whichever database the URL names, and what the service does with it at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanococoa_mcp.app import job_store
from nanococoa_mcp.db.migrations import MIGRATIONS
from nanococoa_mcp.db.postgres import PG_MIGRATIONS
from nanococoa_mcp.db.upgrade import prepare_database, upgrade_database
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.locations import SqliteDatabase
from nanococoa_mcp.settings import Settings
from tests.realservers_fixtures import PgDatabase


def test_a_sqlite_file_anywhere_is_migrated_once(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "elsewhere" / "jobs.db")
    first = upgrade_database(database)
    again = upgrade_database(database)
    names = [fn.__name__ for fn in MIGRATIONS]
    assert (first.version, first.latest, first.applied) == (len(names), names[-1], names)
    assert (again.version, again.applied) == (len(names), [])
    assert database.path.is_file() and first.database == f"sqlite://{database.path}"


def test_the_embedded_default_starts_as_before(data_dir: Path) -> None:
    assert prepare_database(Settings()) is None
    assert prepare_database(Settings(database_url=f"sqlite://{data_dir}/nanococoa.db")) is None


async def test_a_sqlite_file_outside_the_data_dir_is_refused_at_start(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite://{tmp_path}/other.db")
    with pytest.raises(InvalidInput) as info:
        async with job_store(settings):
            pass
    assert info.value.field == "database_url" and "NANOCOCOA_DATA_DIR" in (info.value.accepted or "")
    assert not (tmp_path / "other.db").exists()


def test_a_postgres_database_is_upgraded_at_start(postgres_db: PgDatabase) -> None:
    settings = Settings(database_url=postgres_db.url)
    version = prepare_database(settings)
    assert version is not None and version.version == len(PG_MIGRATIONS) and version.applied
    assert upgrade_database(settings.database).applied == []  # the start already upgraded it
