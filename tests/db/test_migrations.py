"""The schema's migrations on in-memory databases: each runs once, all or nothing, and a database made by
an older version keeps its rows."""

from __future__ import annotations

import sqlite3

import pytest

from nanococoa_mcp.db.migrations import MIGRATIONS, migrate


def _at(version: int) -> sqlite3.Connection:
    """A database as the first `version` migrations left it."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    for fn in MIGRATIONS[:version]:
        fn(db)
        db.execute("INSERT INTO _migrations VALUES (?, 0)", (fn.__name__,))
    db.commit()
    return db


def test_migrations_run_once_and_a_second_run_applies_nothing() -> None:
    db = sqlite3.connect(":memory:")
    assert migrate(db) == [fn.__name__ for fn in MIGRATIONS]
    assert migrate(db) == []
    assert [r[0] for r in db.execute("SELECT name FROM _migrations")] == [
        "m001_initial", "m002_stores_and_job_kinds", "m003_any_job_kind", "m004_queue_task", "m005_job_attempts",
        "m006_api_keys", "m007_tenants",
    ]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "stage_times", "stores", "api_keys", "_migrations"} <= tables


def test_a_database_made_before_job_kinds_gains_stores_and_its_jobs_become_ads() -> None:
    db = _at(1)
    db.execute(
        "INSERT INTO jobs (id, seq, status, parameters, created_at, updated_at) VALUES ('a', 1, 'queued', '{}', 0, 0)"
    )
    assert migrate(db) == [
        "m002_stores_and_job_kinds", "m003_any_job_kind", "m004_queue_task", "m005_job_attempts", "m006_api_keys",
        "m007_tenants",
    ]
    assert db.execute("SELECT kind, task_id FROM jobs").fetchone() == ("ad", None)  # no queue entry: embedded
    assert db.execute("SELECT COUNT(*) FROM stores").fetchone()[0] == 0


def test_jobs_of_any_kind_fit_once_their_rows_and_lineage_and_stage_times_are_kept() -> None:
    db = _at(2)
    db.execute(
        """INSERT INTO jobs (id, seq, kind, status, parameters, steps_done, created_at, updated_at)
           VALUES ('parent', 1, 'ad', 'completed', '{"size": "1:1"}', '["step1_background"]', 0, 0)"""
    )
    db.execute(
        """INSERT INTO jobs (id, seq, kind, status, parameters, parent_id, start_step, created_at, updated_at)
           VALUES ('child', 2, 'ad', 'queued', '{}', 'parent', 2, 0, 0)"""
    )
    db.execute("INSERT INTO jobs (id, seq, kind, status, parameters, created_at, updated_at) "
               "VALUES ('site', 3, 'homepage', 'running', '{}', 0, 0)")
    db.execute(
        "INSERT INTO stage_times (stage, size, seconds, job_id, recorded_at) VALUES ('scene', '1:1', 2.5, 'a', 0)"
    )
    with pytest.raises(sqlite3.IntegrityError):  # before: only ads and homepages
        db.execute("UPDATE jobs SET kind = 'cutout' WHERE id = 'site'")
    assert migrate(db) == ["m003_any_job_kind", "m004_queue_task", "m005_job_attempts", "m006_api_keys", "m007_tenants"]
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("INSERT INTO jobs (id, seq, kind, status, parameters, created_at, updated_at) "
               "VALUES ('cut', 4, 'cutout', 'queued', '{}', 0, 0)")
    assert [tuple(r) for r in db.execute("SELECT id, kind, status, parent_id, start_step FROM jobs ORDER BY seq")] == [
        ("parent", "ad", "completed", None, 1),
        ("child", "ad", "queued", "parent", 2),
        ("site", "homepage", "running", None, 1),
        ("cut", "cutout", "queued", None, 1),
    ]
    assert db.execute("SELECT steps_done FROM jobs WHERE id = 'parent'").fetchone()[0] == '["step1_background"]'
    assert db.execute("SELECT kind, stage, eta_group, seconds FROM stage_times").fetchall() == [
        ("ad", "scene", "1:1", 2.5)
    ]
    with pytest.raises(sqlite3.IntegrityError):  # the lineage is still enforced
        db.execute("INSERT INTO jobs (id, seq, kind, status, parameters, parent_id, created_at, updated_at) "
                   "VALUES ('orphan', 5, 'ad', 'queued', '{}', 'no-such-job', 0, 0)")


def test_a_migration_that_leaves_a_dangling_reference_is_not_kept() -> None:
    db = _at(2)
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute("""INSERT INTO jobs (id, seq, kind, status, parameters, parent_id, created_at, updated_at)
                  VALUES ('child', 1, 'ad', 'queued', '{}', 'gone', 0, 0)""")
    db.commit()
    with pytest.raises(sqlite3.IntegrityError, match="m003_any_job_kind leaves dangling references"):
        migrate(db)
    assert [r[0] for r in db.execute("SELECT name FROM _migrations")] == ["m001_initial", "m002_stores_and_job_kinds"]
    assert "CHECK (kind IN" in db.execute("SELECT sql FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]


def test_rows_from_before_tenants_belong_to_the_local_tenant_and_weigh_nothing_yet() -> None:
    db = _at(5)
    db.execute("INSERT INTO jobs (id, seq, kind, status, parameters, created_at, updated_at) "
               "VALUES ('old', 1, 'ad', 'completed', '{}', 0, 0)")
    db.execute("INSERT INTO stores (id, record, created_at, updated_at) VALUES ('shop', '{}', 0, 0)")
    assert migrate(db) == ["m006_api_keys", "m007_tenants"]
    assert db.execute("SELECT tenant, upload_bytes, files_bytes FROM jobs").fetchall() == [("local", 0, 0)]
    assert db.execute("SELECT tenant, photo_bytes FROM stores").fetchall() == [("local", 0)]
