"""`nanococoa db upgrade` (also run at start): bring whichever database NANOCOCOA_DATABASE_URL names to the
newest schema, SQLite's or PostgreSQL's, and say where it stands."""

from __future__ import annotations

import sqlite3

from nanococoa_mcp.db import postgres
from nanococoa_mcp.db.connection import open_file, storage_error
from nanococoa_mcp.db.migrations import migrate
from nanococoa_mcp.db.postgres import SchemaVersion
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.locations import DatabaseLocation, SqliteDatabase
from nanococoa_mcp.settings import DATABASE_FILE, Settings


def upgrade_database(database: DatabaseLocation) -> SchemaVersion:
    """Apply what is pending; the schema version afterwards. Raises StorageError (the database cannot be
    reached or written; a failed migration keeps nothing of itself) or BackendUnavailable (a missing client)."""
    if not isinstance(database, SqliteDatabase):
        return postgres.migrate(database)
    try:
        db = open_file(database.path)
        try:
            applied = migrate(db)
            names = [str(row[0]) for row in db.execute("SELECT name FROM _migrations ORDER BY name")]
        finally:
            db.close()
    except (OSError, sqlite3.Error) as exc:
        raise storage_error(database.path.parent, exc) from exc
    return SchemaVersion(str(database), len(names), names[-1] if names else None, applied)


def prepare_database(settings: Settings) -> SchemaVersion | None:
    """At start: the embedded stack migrates its database as it opens it (None here); a PostgreSQL database is
    upgraded (safe from several replicas at once), and where it stands returned. Raises InvalidInput (a SQLite
    file the service would not use), BackendUnavailable (no PostgreSQL client) or StorageError."""
    database = settings.database
    if isinstance(database, SqliteDatabase):
        default = settings.data_dir / DATABASE_FILE
        if database.path != default:
            raise InvalidInput(
                f"the embedded service keeps its database in its data directory, not at {database.path}",
                field="database_url",
                accepted=f"sqlite://{default} or unset (move it with NANOCOCOA_DATA_DIR), or postgresql://...",
            )
        return None
    return postgres.migrate(database)
