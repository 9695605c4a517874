"""The PostgreSQL schema on a real server: a fresh upgrade makes the SQLite tables plus Procrastinate's queue, a
second is a no-op, replicas upgrading at once all succeed and apply each migration once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from nanococoa_mcp.db.connection import connect_sync
from nanococoa_mcp.db.postgres import PG_MIGRATIONS, VERSION_TABLE, SchemaVersion, migrate
from nanococoa_mcp.locations import PostgresDatabase, parse_database_url
from nanococoa_mcp.storage import StorageError
from tests.realservers_fixtures import PgDatabase

NAMES = [fn.__name__ for fn in PG_MIGRATIONS]


def _location(db: PgDatabase) -> PostgresDatabase:
    location = parse_database_url(db.url)
    assert isinstance(location, PostgresDatabase)
    return location


def test_a_fresh_upgrade_makes_every_table_and_records_each_migration(postgres_db: PgDatabase) -> None:
    version = migrate(_location(postgres_db))
    assert version == SchemaVersion(str(_location(postgres_db)), len(NAMES), NAMES[-1], NAMES)
    with postgres_db.connect() as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        recorded = conn.execute(f"SELECT version, name, detail FROM {VERSION_TABLE} ORDER BY version").fetchall()
        defer = conn.execute("SELECT 1 FROM pg_proc WHERE proname = 'procrastinate_defer_jobs_v1'").fetchall()
    assert {"jobs", "stage_times", "stores", "procrastinate_jobs", "procrastinate_workers", VERSION_TABLE} <= tables
    assert [(v, n) for v, n, _ in recorded] == list(enumerate(NAMES, start=1))
    assert recorded[1][2].startswith("procrastinate 3.") and defer == [(1,)]


def test_the_jobs_and_stage_tables_have_the_sqlite_columns(postgres_db: PgDatabase, data_dir: Path) -> None:
    migrate(_location(postgres_db))
    with postgres_db.connect() as conn:
        pg = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'jobs'")}
        pg_stages = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'stage_times'")}
    sqlite = connect_sync(data_dir)
    try:
        lite = {r["name"] for r in sqlite.execute("PRAGMA table_info(jobs)")}
        lite_stages = {r["name"] for r in sqlite.execute("PRAGMA table_info(stage_times)")}
    finally:
        sqlite.close()
    assert pg == lite
    assert pg_stages == lite_stages


def test_a_second_upgrade_changes_nothing(postgres_db: PgDatabase) -> None:
    first = migrate(_location(postgres_db))
    with postgres_db.connect() as conn:
        conn.execute("INSERT INTO stores (id, record, created_at, updated_at) VALUES ('s1', '{}', 1, 1)")
    again = migrate(_location(postgres_db))
    assert again.applied == [] and (again.version, again.latest) == (first.version, first.latest)
    with postgres_db.connect() as conn:
        assert conn.execute("SELECT id FROM stores").fetchall() == [("s1",)]
        assert conn.execute(f"SELECT COUNT(*) FROM {VERSION_TABLE}").fetchone() == (len(NAMES),)


def test_replicas_upgrading_at_once_all_succeed_and_apply_each_migration_once(postgres_db: PgDatabase) -> None:
    start = threading.Barrier(4)
    results: list[SchemaVersion] = []
    errors: list[BaseException] = []

    def replica() -> None:
        start.wait()
        try:
            results.append(migrate(_location(postgres_db)))
        except BaseException as exc:  # reported below, with the others' results
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(results) == 4
    assert sorted(len(r.applied) for r in results) == [0, 0, 0, len(NAMES)]
    assert {(r.version, r.latest) for r in results} == {(len(NAMES), NAMES[-1])}


def test_an_unreachable_server_is_a_storage_error_without_the_password(postgres_db: PgDatabase) -> None:
    port = postgres_db.server.port
    wrong = PostgresDatabase(SecretStr(f"postgresql://app:hunter2-secret@127.0.0.1:{port}/no_such_database"),
                             f"postgresql://app:***@127.0.0.1:{port}/no_such_database")
    with pytest.raises(StorageError) as info:
        migrate(wrong)
    assert info.value.field == "database_url" and "no_such_database" in info.value.message
    assert "hunter2" not in str(info.value)
