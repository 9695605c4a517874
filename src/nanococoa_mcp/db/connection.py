"""The one SQLite database under the data directory: where it lives, how every connection to it is set up
(WAL, busy timeout, foreign keys), migrated before first use, for the server (aiosqlite) and the worker
processes (sqlite3) alike."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite

from nanococoa_mcp.db.migrations import migrate
from nanococoa_mcp.settings import DATABASE_FILE
from nanococoa_mcp.storage import StorageError

DB_NAME = DATABASE_FILE
BUSY_TIMEOUT_MS = 10_000  # the server and every worker write to the same file
_PRAGMAS = (
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)


def db_path(data_dir: Path) -> Path:
    return data_dir / DB_NAME


def storage_error(data_dir: Path, exc: Exception) -> StorageError:
    return StorageError(
        f"cannot write under {data_dir}: {getattr(exc, 'strerror', None) or exc}",
        field="data_dir",
        accepted="a writable NANOCOCOA_DATA_DIR with free space",
    )


def open_file(path: Path) -> sqlite3.Connection:
    """An autocommit connection (transactions are explicit) to the database file, WAL, with a busy timeout;
    not migrated yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")  # a property of the file: set once, kept by every later connection
    for pragma in _PRAGMAS:
        db.execute(pragma)
    return db


def connect_sync(data_dir: Path) -> sqlite3.Connection:
    """A migrated connection to the data directory's database, set up as `open_file`'s."""
    db = open_file(db_path(data_dir))
    migrate(db)
    return db


def check_data_dir(data_dir: Path) -> None:
    """Create and migrate the database. Raises StorageError when `data_dir` cannot hold it."""
    try:
        connect_sync(data_dir).close()
    except (OSError, sqlite3.Error) as exc:
        raise storage_error(data_dir, exc) from exc


async def connect_async(data_dir: Path) -> aiosqlite.Connection:
    """A migrated autocommit aiosqlite connection, set up as `connect_sync`'s. Raises StorageError."""
    await asyncio.to_thread(check_data_dir, data_dir)
    db = await aiosqlite.connect(db_path(data_dir), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db.row_factory = sqlite3.Row
    for pragma in _PRAGMAS:
        await db.execute(pragma)
    return db
