"""SQLite schema as an ordered list of named migrations for every table (jobs, stage_times, stores, api_keys);
`_migrations` records which ones ran.

Append new migrations (m008_..., m009_...); never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            status TEXT NOT NULL
                CHECK (status IN ('queued', 'running', 'completed', 'failed', 'stopped')),
            parameters TEXT NOT NULL,
            input_path TEXT,
            parent_id TEXT REFERENCES jobs(id),
            start_step INTEGER NOT NULL DEFAULT 1,
            progress_percent REAL NOT NULL DEFAULT 0,
            current_step TEXT,
            sub_step TEXT,
            message TEXT,
            stage_index INTEGER NOT NULL DEFAULT -1,
            stage_started_at REAL,
            steps_done TEXT NOT NULL DEFAULT '[]',
            stop_requested INTEGER NOT NULL DEFAULT 0,
            worker_pid INTEGER,
            resumable INTEGER NOT NULL DEFAULT 0,
            result TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            started_at REAL,
            updated_at REAL NOT NULL,
            finished_at REAL
        )
        """
    )
    db.execute("CREATE INDEX jobs_by_status ON jobs (status, seq)")
    db.execute(
        """
        CREATE TABLE stage_times (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            stage TEXT NOT NULL,
            size TEXT NOT NULL,
            seconds REAL NOT NULL,
            job_id TEXT NOT NULL,
            recorded_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX stage_times_by_stage ON stage_times (stage, size, id)")


@migration
def m002_stores_and_job_kinds(db: sqlite3.Connection) -> None:
    """Shop records for the homepage generator, and a job kind: ads run in the worker processes, homepage
    runs in the server process, so each side claims only its own kind."""
    db.execute(
        "ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'ad' CHECK (kind IN ('ad', 'homepage'))"
    )
    db.execute("CREATE INDEX jobs_by_kind_status ON jobs (kind, status, seq)")
    db.execute(
        """
        CREATE TABLE stores (
            id TEXT PRIMARY KEY,
            record TEXT NOT NULL,
            photos TEXT NOT NULL DEFAULT '[]',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX stores_by_created ON stores (created_at)")


@migration
def m003_any_job_kind(db: sqlite3.Connection) -> None:
    """The job runtime runs whatever kinds it is given (ads, homepages, cut-outs, layout analyses): `kind`
    loses its fixed list (the runtime refuses a kind it does not know), and the learnt stage times are
    kept per kind and per the kind's own grouping key (an ad's size preset) instead of a size."""
    columns = (
        "id, seq, kind, status, parameters, input_path, parent_id, start_step, progress_percent, current_step, "
        "sub_step, message, stage_index, stage_started_at, steps_done, stop_requested, worker_pid, resumable, "
        "result, error, created_at, started_at, updated_at, finished_at"
    )
    # SQLite cannot drop a CHECK constraint: the table is rebuilt (migrate() holds foreign keys off meanwhile).
    db.execute(
        """
        CREATE TABLE jobs_rebuilt (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('queued', 'running', 'completed', 'failed', 'stopped')),
            parameters TEXT NOT NULL,
            input_path TEXT,
            parent_id TEXT REFERENCES jobs(id),
            start_step INTEGER NOT NULL DEFAULT 1,
            progress_percent REAL NOT NULL DEFAULT 0,
            current_step TEXT,
            sub_step TEXT,
            message TEXT,
            stage_index INTEGER NOT NULL DEFAULT -1,
            stage_started_at REAL,
            steps_done TEXT NOT NULL DEFAULT '[]',
            stop_requested INTEGER NOT NULL DEFAULT 0,
            worker_pid INTEGER,
            resumable INTEGER NOT NULL DEFAULT 0,
            result TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            started_at REAL,
            updated_at REAL NOT NULL,
            finished_at REAL
        )
        """
    )
    db.execute(f"INSERT INTO jobs_rebuilt ({columns}) SELECT {columns} FROM jobs")
    db.execute("DROP TABLE jobs")
    db.execute("ALTER TABLE jobs_rebuilt RENAME TO jobs")
    db.execute("CREATE INDEX jobs_by_status ON jobs (status, seq)")
    db.execute("CREATE INDEX jobs_by_kind_status ON jobs (kind, status, seq)")
    db.execute("ALTER TABLE stage_times RENAME COLUMN size TO eta_group")
    db.execute("ALTER TABLE stage_times ADD COLUMN kind TEXT NOT NULL DEFAULT 'ad'")
    db.execute("DROP INDEX stage_times_by_stage")
    db.execute("CREATE INDEX stage_times_by_kind ON stage_times (kind, stage, eta_group, id)")


@migration
def m004_queue_task(db: sqlite3.Connection) -> None:
    """The queue entry that dispatches a job on the distributed stack (its Procrastinate job): always empty
    here, where the worker pool claims jobs itself, and kept so both databases hold the same jobs table."""
    db.execute("ALTER TABLE jobs ADD COLUMN task_id INTEGER")


@migration
def m005_job_attempts(db: sqlite3.Connection) -> None:
    """What the distributed stack keeps of each run of a job (always at their defaults here, kept so both
    databases hold the same jobs table): `attempt` counts the claims, so only the run that holds the job
    records its progress and outcome; `last_failure` is the previous attempt's error code (a second failure
    for the same reason stops the retries); `previews` are the kind's previews as the worker saw them."""
    db.execute("ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE jobs ADD COLUMN last_failure TEXT")
    db.execute("ALTER TABLE jobs ADD COLUMN previews TEXT")


@migration
def m006_api_keys(db: sqlite3.Connection) -> None:
    """Per-tenant API keys (keys.py): only a key's SHA-256 is kept; a revoked key keeps its row, for the list."""
    db.execute(
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            last_used_at REAL,
            revoked_at REAL
        )
        """
    )


@migration
def m007_tenants(db: sqlite3.Connection) -> None:
    """Every job and shop record belongs to a tenant (the rows from before tenants: `local`, the one user
    there was), and keeps what its files weigh for the tenant's stored-megabytes quota: a job its upload
    (`upload_bytes`, set when queued) and its results and step checkpoints (`files_bytes`, set by the run
    that made them); a shop its photos."""
    db.execute("ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT 'local'")
    db.execute("ALTER TABLE jobs ADD COLUMN upload_bytes INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE jobs ADD COLUMN files_bytes INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX jobs_by_tenant ON jobs (tenant, seq)")
    db.execute("CREATE INDEX jobs_by_tenant_status ON jobs (tenant, status, created_at)")
    db.execute("ALTER TABLE stores ADD COLUMN tenant TEXT NOT NULL DEFAULT 'local'")
    db.execute("ALTER TABLE stores ADD COLUMN photo_bytes INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX stores_by_tenant ON stores (tenant, created_at)")


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; returns the names applied.

    Foreign keys are off while they run (a table rebuild drops a table others refer to, as SQLite's own
    procedure for schema changes does) and checked before each commits. Raises sqlite3.IntegrityError
    when a migration would leave a dangling reference (nothing of it is kept)."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    db.commit()
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    pending = [fn for fn in MIGRATIONS if fn.__name__ not in done]
    if not pending:
        return []
    foreign_keys = db.execute("PRAGMA foreign_keys").fetchone()[0]
    db.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set before the first BEGIN
    applied = []
    try:
        for fn in pending:
            # An explicit BEGIN: sqlite3 would otherwise autocommit DDL, and a migration must be all or nothing.
            db.execute("BEGIN")
            try:
                fn(db)
                dangling = db.execute("PRAGMA foreign_key_check").fetchall()
                if dangling:
                    raise sqlite3.IntegrityError(f"{fn.__name__} leaves dangling references: {dangling[:3]}")
                db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (fn.__name__, time.time()))
            except BaseException:
                db.rollback()
                raise
            db.commit()
            applied.append(fn.__name__)
    finally:
        db.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
    return applied
