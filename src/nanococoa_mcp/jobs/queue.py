"""Dispatch through Procrastinate (the distributed stack): a queued job gets a Procrastinate job in the same
transaction as its row, so a job is never queued without its dispatch, nor dispatched without its row; a stop
cancels it before it starts, or asks its worker to abort. The worker side (the task `run_job`, remote.py) claims
the row by id; the row stays the job's truth (status, progress, result), the queue entry only carries it to a
worker. Every statement here runs on the caller's connection, inside its transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, Protocol

from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.storage import StorageError

if TYPE_CHECKING:
    from nanococoa_mcp.db.access import Session

TASK = "nanococoa.run_job"
EntryEnd = Literal["succeeded", "failed", "aborted"]


class Dispatch(Protocol):
    async def queued(self, tx: Session, job_id: str, queue: str, delay_s: float = 0.0) -> int:
        """Dispatch a job just queued in `tx` (after `delay_s`); the queue entry's id."""

    async def stopped(self, tx: Session, task_id: int, running: bool) -> None:
        """Withdraw a queued job's entry, or ask the worker running it to abort."""

    async def lock_entry(self, tx: Session, task_id: int) -> str | None:
        """The entry's status (todo, doing, …), locked until `tx` ends; None when there is none."""

    async def end(self, tx: Session, task_id: int, status: EntryEnd) -> None:
        """Close an entry whose job has ended (or will not run again)."""

    async def stalled(self, s: Session, seconds: float) -> list[int]:
        """Entries held by workers with no heartbeat for `seconds` (or pruned), oldest first."""

    async def live_workers(self, s: Session, seconds: float) -> int:
        """Workers with a heartbeat in the last `seconds`."""


class ProcrastinateDispatch:
    """Defers by task name on the caller's connection (an API replica defines no task; workers do)."""

    def __init__(self, database: PostgresDatabase) -> None:
        try:
            from procrastinate import App, PsycopgConnector
        except ImportError as exc:
            raise BackendUnavailable(
                "the distributed stack needs procrastinate",
                field="database_url",
                accepted="pip install 'nanococoa-mcp[scale]'",
            ) from exc
        # The connector's own pool is opened only by a worker: here every query runs on the job store's
        # connection, inside its transaction.
        self.app: Any = App(connector=PsycopgConnector(conninfo=database.conninfo.get_secret_value()))
        self.database = database

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import psycopg
        from procrastinate.exceptions import ProcrastinateException

        from nanococoa_mcp.db.postgres import database_error

        try:
            yield
        except ProcrastinateException as exc:  # the transaction it ran in is rolled back by the caller
            cause = exc.__cause__ or exc
            if isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError):
                raise database_error(self.database, cause) from exc
            raise StorageError(
                f"cannot {what} in {self.database}: {self.database.scrub(str(cause).strip().splitlines()[0])}",
                field="database_url",
                accepted="a database upgraded by `nanococoa db upgrade` (Procrastinate's schema included)",
            ) from exc

    async def queued(self, tx: Session, job_id: str, queue: str, delay_s: float = 0.0) -> int:
        """Raises StorageError."""
        with self._errors(f"queue job {job_id}"):
            schedule = {"schedule_in": {"seconds": delay_s}} if delay_s > 0 else {}
            deferrer = self.app.configure_task(TASK, queue=queue, connection=tx.connection, **schedule)
            return int(await deferrer.defer_async(job_id=job_id))

    async def stopped(self, tx: Session, task_id: int, running: bool) -> None:
        """Raises StorageError."""
        with self._errors(f"withdraw queue entry {task_id}"):
            await self.app.job_manager.cancel_job_by_id_async(task_id, abort=running, connection=tx.connection)

    async def lock_entry(self, tx: Session, task_id: int) -> str | None:
        row = await tx.fetchone(
            "SELECT status::text AS status FROM procrastinate_jobs WHERE id = ? FOR UPDATE", (task_id,)
        )
        return str(row["status"]) if row is not None else None

    async def end(self, tx: Session, task_id: int, status: EntryEnd) -> None:
        """Procrastinate's own finish_job, on our connection. Raises StorageError."""
        from procrastinate import sql

        with self._errors(f"close queue entry {task_id}"):
            await self.app.connector.execute_query_one_async_with_connection(
                tx.connection, query=sql.queries["finish_job"], job_id=task_id, status=status, delete_job=False
            )

    async def stalled(self, s: Session, seconds: float) -> list[int]:
        """Procrastinate's own stalled-jobs query (get_stalled_jobs, by heartbeat), on our connection."""
        from procrastinate import sql

        with self._errors("look for stalled queue entries"):
            found = await self.app.connector.execute_query_all_async_with_connection(
                s.connection,
                query=sql.queries["select_stalled_jobs_by_heartbeat"],
                queue=None,
                task_name=TASK,
                seconds_since_heartbeat=seconds,
            )
        return sorted(int(r["id"]) for r in found)

    async def live_workers(self, s: Session, seconds: float) -> int:
        row = await s.fetchone(
            "SELECT COUNT(*) AS n FROM procrastinate_workers WHERE last_heartbeat >= NOW() - make_interval(secs => ?)",
            (seconds,),
        )
        return int(row["n"]) if row is not None else 0
