"""One async way for the job store to run its SQL on either database: the embedded SQLite file (one aiosqlite
connection shared under a lock) or PostgreSQL (a psycopg connection pool). Statements are written once, with
`?` placeholders and SQL both databases speak; rows come back as mappings by column name, JSON as text.

Writing transactions are serialised on both: SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock on the jobs
(queue order, room in the queue and `seq` are decided by one writer at a time, across every API replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import aiosqlite

from nanococoa_mcp.db.postgres import database_error
from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.locations import PostgresDatabase

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

Row = Mapping[str, Any]
Params = Sequence[object]
JOBS_LOCK = 0x6E616E6F6A6F6273  # pg_advisory_xact_lock key of the jobs' writers ("nanojobs" in ASCII)
POOL_WAIT_S = 5.0  # the longest a statement waits for a connection (while the server restarts) before failing


class Session(Protocol):
    """Statements on one connection: inside a transaction, or under the store's turn."""

    @property
    def connection(self) -> Any:
        """The driver's connection (for a library that joins the same transaction)."""

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def execute(self, sql: str, params: Params = ()) -> None: ...


class SqlAccess(Protocol):
    dialect: Literal["sqlite", "postgresql"]

    def session(self) -> contextlib.AbstractAsyncContextManager[Session]:
        """Consistent reads: never a row of another coroutine's open transaction."""

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Session]:
        """A serialised writing transaction: committed when the block ends, rolled back when it raises."""

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def close(self) -> None: ...


class _LiteSession:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.connection = db

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.connection.execute(sql, tuple(params)) as cur:
            return cast(list[Row], list(await cur.fetchall()))  # sqlite3.Row reads by column name too

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        async with self.connection.execute(sql, tuple(params)) as cur:
            return cast(Row | None, await cur.fetchone())

    async def execute(self, sql: str, params: Params = ()) -> None:
        async with self.connection.execute(sql, tuple(params)):
            pass


class SqliteAccess:
    """One aiosqlite connection (autocommit, rows as sqlite3.Row) shared by every coroutine in turn."""

    dialect: Literal["sqlite", "postgresql"] = "sqlite"

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self._lock = asyncio.Lock()  # a transaction must not interleave with another coroutine's statements

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        async with self._lock:
            yield _LiteSession(self.db)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield _LiteSession(self.db)
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.session() as s:
            return await s.fetchall(sql, params)

    async def close(self) -> None:
        await self.db.close()


@functools.lru_cache(maxsize=256)
def pg_sql(sql: str) -> str:
    """A statement written with `?` placeholders in psycopg's `%s` form (no statement here holds a literal ?
    or %)."""
    return sql.replace("?", "%s")


class _PgSession:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.connection = conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        cur = await self.connection.execute(pg_sql(sql), tuple(params))
        return list(await cur.fetchall()) if cur.description else []

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        cur = await self.connection.execute(pg_sql(sql), tuple(params))
        row: Row | None = await cur.fetchone()
        return row

    async def execute(self, sql: str, params: Params = ()) -> None:
        await self.connection.execute(pg_sql(sql), tuple(params))


class PostgresAccess:
    """A pool of autocommit psycopg connections, rows as dicts, jsonb read back as its text. The driver's
    errors come out as ours: StorageUnavailable while the server cannot be reached (a restart: a connection
    it broke is replaced on next use), StorageError for a refusal."""

    dialect: Literal["sqlite", "postgresql"] = "postgresql"

    def __init__(self, pool: AsyncConnectionPool[Any], database: PostgresDatabase) -> None:
        self.pool = pool
        self.database = database

    @classmethod
    async def open(cls, database: PostgresDatabase, max_size: int = 8) -> PostgresAccess:
        """Raises BackendUnavailable (no psycopg) or StorageError (the server cannot be reached)."""
        try:
            import psycopg
            from psycopg.rows import dict_row
            from psycopg.types.string import TextLoader
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:
            raise BackendUnavailable(
                "PostgreSQL needs psycopg", field="database_url", accepted="pip install 'nanococoa-mcp[scale]'"
            ) from exc

        async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
            # JSON columns come back as the text SQLite holds, so one set of row readers serves both
            for name in ("json", "jsonb"):
                conn.adapters.register_loader(name, TextLoader)

        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database.conninfo.get_secret_value(),
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            configure=configure,
            check=AsyncConnectionPool.check_connection,  # a connection a restart broke is replaced, not handed out
            timeout=POOL_WAIT_S,
            open=False,
            name="nanococoa-jobs",
        )
        try:
            await pool.open(wait=True, timeout=30)
        except psycopg.Error as exc:  # PoolTimeout included
            await pool.close()
            raise database_error(database, exc) from None
        return cls(pool, database)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:  # PoolTimeout included
            raise database_error(self.database, exc) from exc

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        with self._errors():
            async with self.pool.connection() as conn:
                yield _PgSession(conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        with self._errors():
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (JOBS_LOCK,))
                yield _PgSession(conn)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self.session() as s:
            return await s.fetchall(sql, params)

    async def close(self) -> None:
        await self.pool.close()

