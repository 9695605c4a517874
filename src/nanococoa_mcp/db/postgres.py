"""The PostgreSQL schema of the distributed stack, as an ordered list of named migrations (the same tables as
the SQLite ones in migrations.py, plus Procrastinate's queue), recorded in our own version table.

`migrate` is idempotent and safe when several replicas start at once: every run takes one transaction-level
advisory lock first, so the second waits for the first and then finds nothing left to do. All pending
migrations commit together or not at all. Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.storage import StorageError, StorageUnavailable

if TYPE_CHECKING:
    import psycopg

VERSION_TABLE = "nanococoa_schema"
# pg_advisory_xact_lock's key: any fixed bigint that nothing else on the server uses ("nanococo" in ASCII).
LOCK_KEY = 0x6E616E6F636F636F
CONNECT_TIMEOUT_S = 10
NOTIFY_CHANNEL = "nanococoa_jobs"  # every change of a job row, announced with its id

PgMigration = Callable[["psycopg.Connection[tuple[Any, ...]]"], str | None]
PG_MIGRATIONS: list[PgMigration] = []


def pg_migration(fn: PgMigration) -> PgMigration:
    PG_MIGRATIONS.append(fn)
    return fn


@pg_migration
def m001_jobs_stages_stores(db: psycopg.Connection[tuple[Any, ...]]) -> str | None:
    """The SQLite tables as of its m003, in PostgreSQL's types: JSON as jsonb, flags as boolean, times as
    epoch seconds (double precision, as the SQLite rows hold them). `seq` is MAX(seq) + 1 taken under the jobs'
    writer lock, as on SQLite; `input_path` holds the upload's blob key; `task_id` is the job's Procrastinate
    job, which dispatches it."""
    db.execute(
        """
        CREATE TABLE jobs (
            id text PRIMARY KEY,
            seq bigint NOT NULL UNIQUE,
            kind text NOT NULL,
            status text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'stopped')),
            parameters jsonb NOT NULL,
            input_path text,
            parent_id text REFERENCES jobs(id),
            start_step integer NOT NULL DEFAULT 1,
            progress_percent double precision NOT NULL DEFAULT 0,
            current_step text,
            sub_step text,
            message text,
            stage_index integer NOT NULL DEFAULT -1,
            stage_started_at double precision,
            steps_done jsonb NOT NULL DEFAULT '[]',
            stop_requested boolean NOT NULL DEFAULT false,
            worker_pid integer,
            resumable boolean NOT NULL DEFAULT false,
            result jsonb,
            error jsonb,
            created_at double precision NOT NULL,
            started_at double precision,
            updated_at double precision NOT NULL,
            finished_at double precision,
            task_id bigint
        )
        """
    )
    db.execute("CREATE INDEX jobs_by_status ON jobs (status, seq)")
    db.execute("CREATE INDEX jobs_by_kind_status ON jobs (kind, status, seq)")
    db.execute(
        """
        CREATE TABLE stage_times (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind text NOT NULL DEFAULT 'ad',
            stage text NOT NULL,
            eta_group text NOT NULL,
            seconds double precision NOT NULL,
            job_id text NOT NULL,
            recorded_at double precision NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX stage_times_by_kind ON stage_times (kind, stage, eta_group, id)")
    db.execute(
        """
        CREATE TABLE stores (
            id text PRIMARY KEY,
            record jsonb NOT NULL,
            photos jsonb NOT NULL DEFAULT '[]',
            created_at double precision NOT NULL,
            updated_at double precision NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX stores_by_created ON stores (created_at)")
    return None


@pg_migration
def m002_procrastinate(db: psycopg.Connection[tuple[Any, ...]]) -> str | None:
    """Procrastinate's own schema (its queue, workers, heartbeats, events), applied once: its
    `apply_schema` is not idempotent, so this table records that it ran and with which version. A later
    Procrastinate release brings its own migration files; they become migrations here."""
    from procrastinate.schema import SchemaManager

    db.execute(SchemaManager.get_schema())  # no parameters: sent as is, several statements at once
    return f"procrastinate {metadata.version('procrastinate')}"


@pg_migration
def m003_job_attempts_and_notify(db: psycopg.Connection[tuple[Any, ...]]) -> str | None:
    """SQLite's m005 (a job's `attempt`, its `last_failure`, the worker's `previews`), and every change of a
    job row announced on the `nanococoa_jobs` channel with the job's id (ids only: a listener reads the row).
    A trigger, so no writer can forget it; NOTIFY is sent at commit and once per id and transaction."""
    db.execute("ALTER TABLE jobs ADD COLUMN attempt integer NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE jobs ADD COLUMN last_failure text")
    db.execute("ALTER TABLE jobs ADD COLUMN previews jsonb")
    db.execute("CREATE INDEX jobs_by_task ON jobs (task_id)")
    db.execute(
        f"""CREATE FUNCTION nanococoa_job_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{NOTIFY_CHANNEL}', NEW.id);
                RETURN NULL;
            END $$"""
    )
    db.execute(
        """CREATE TRIGGER jobs_changed AFTER INSERT OR UPDATE ON jobs
           FOR EACH ROW EXECUTE FUNCTION nanococoa_job_changed()"""
    )
    return None


@pg_migration
def m004_api_keys(db: psycopg.Connection[tuple[Any, ...]]) -> str | None:
    """SQLite's m006: per-tenant API keys, only their SHA-256 kept."""
    db.execute(
        """
        CREATE TABLE api_keys (
            id text PRIMARY KEY,
            tenant text NOT NULL,
            key_hash text NOT NULL UNIQUE,
            created_at double precision NOT NULL,
            last_used_at double precision,
            revoked_at double precision
        )
        """
    )
    return None


@pg_migration
def m005_tenants(db: psycopg.Connection[tuple[Any, ...]]) -> str | None:
    """SQLite's m007: the tenant that owns each job and shop record (`local` for the rows from before), and
    what their files weigh (a job's upload and its results and checkpoints, a shop's photos) for the tenant's
    stored-megabytes quota."""
    db.execute("ALTER TABLE jobs ADD COLUMN tenant text NOT NULL DEFAULT 'local'")
    db.execute("ALTER TABLE jobs ADD COLUMN upload_bytes bigint NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE jobs ADD COLUMN files_bytes bigint NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX jobs_by_tenant ON jobs (tenant, seq)")
    db.execute("CREATE INDEX jobs_by_tenant_status ON jobs (tenant, status, created_at)")
    db.execute("ALTER TABLE stores ADD COLUMN tenant text NOT NULL DEFAULT 'local'")
    db.execute("ALTER TABLE stores ADD COLUMN photo_bytes bigint NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX stores_by_tenant ON stores (tenant, created_at)")
    return None


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """Where a database's schema stands after an upgrade."""

    database: str  # the URL, password masked
    version: int  # migrations recorded, 0 for none
    latest: str | None  # the newest one's name
    applied: list[str]  # what this run applied


def _connect(database: PostgresDatabase) -> psycopg.Connection[tuple[Any, ...]]:
    """A new connection. Raises BackendUnavailable (no psycopg) or StorageError (the server refused or is
    unreachable; the message never shows the password)."""
    try:
        import psycopg
    except ImportError as exc:
        raise BackendUnavailable(
            "PostgreSQL needs psycopg", field="database_url", accepted="pip install 'nanococoa-mcp[scale]'"
        ) from exc
    try:
        return psycopg.connect(database.conninfo.get_secret_value(), connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise database_error(database, exc) from None


def database_error(database: PostgresDatabase, exc: Exception) -> StorageError:
    """The driver's error as ours: StorageUnavailable when the server cannot be reached or went away (worth
    retrying shortly), else StorageError (a refusal: rights, a missing table)."""
    import psycopg
    from psycopg_pool import PoolTimeout

    # Class 08 (connection) or 57P (shutting down, starting up), or a connection that failed with no state
    # (refused, reset, timed out): away for now. A refusal (no such database, a bad password: libpq gives
    # those no state either) is not cured by waiting.
    state = getattr(exc, "sqlstate", None) or ""
    said = str(exc).lower()
    refused = any(word in said for word in ("does not exist", "authentication", "pg_hba", "permission denied"))
    driver = isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    away = isinstance(exc, PoolTimeout) or (
        driver and (state.startswith(("08", "57P")) or (not state and not refused))
    )
    if away:
        lines = str(exc).strip().splitlines()
        return StorageUnavailable(
            f"the database {database} cannot be reached: {database.scrub(lines[0] if lines else type(exc).__name__)}",
            field="database_url",
            accepted="retry shortly; the server is restarting or unreachable",
        )
    return StorageError(
        f"cannot use the database {database}: {database.scrub(str(exc).strip().splitlines()[0])}",
        field="database_url",
        accepted="a reachable PostgreSQL server and a user allowed to create tables in the database",
    )


def migrate(database: PostgresDatabase) -> SchemaVersion:
    """Apply the migrations not yet recorded, all in one transaction under the schema lock; where the schema
    stands afterwards. Raises StorageError (nothing of a failed run is kept) or BackendUnavailable."""
    import psycopg

    with _connect(database) as db:
        try:
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
                db.execute(
                    f"""CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
                            version integer PRIMARY KEY,
                            name text NOT NULL UNIQUE,
                            detail text,
                            applied_at double precision NOT NULL)"""
                )
                done = {row[0] for row in db.execute(f"SELECT name FROM {VERSION_TABLE}")}
                applied = []
                for number, fn in enumerate(PG_MIGRATIONS, start=1):
                    if fn.__name__ in done:
                        continue
                    detail = fn(db)
                    db.execute(
                        f"INSERT INTO {VERSION_TABLE} (version, name, detail, applied_at) VALUES (%s, %s, %s, %s)",
                        (number, fn.__name__, detail, time.time()),
                    )
                    applied.append(fn.__name__)
                newest = db.execute(f"SELECT version, name FROM {VERSION_TABLE} ORDER BY version DESC LIMIT 1")
                row = newest.fetchone()
        except psycopg.Error as exc:
            raise database_error(database, exc) from None
    version, latest = (int(row[0]), str(row[1])) if row else (0, None)
    return SchemaVersion(str(database), version, latest, applied)
