"""Dispatch through Procrastinate (the distributed stack): a queued job gets a Procrastinate job in the same
transaction as its row, so a job is never queued without its dispatch, nor dispatched without its row; a stop
cancels it before it starts, or asks its worker to abort. The worker side (the task `run_job`) claims the row
by id; the row stays the job's truth (status, progress, result)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.storage import StorageError

if TYPE_CHECKING:
    from nanococoa_mcp.db.access import Session

TASK = "nanococoa.run_job"


class Dispatch(Protocol):
    async def queued(self, tx: Session, job_id: str, lane: str) -> int:
        """Dispatch a job just queued in `tx`; the queue entry's id."""

    async def stopped(self, tx: Session, task_id: int, running: bool) -> None:
        """Withdraw a queued job's entry, or ask the worker running it to abort."""


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
        from procrastinate.exceptions import ProcrastinateException

        try:
            yield
        except ProcrastinateException as exc:  # the transaction it ran in is rolled back by the caller
            cause = exc.__cause__ or exc
            raise StorageError(
                f"cannot {what} in {self.database}: {self.database.scrub(str(cause).strip().splitlines()[0])}",
                field="database_url",
                accepted="a database upgraded by `nanococoa db upgrade` (Procrastinate's schema included)",
            ) from exc

    async def queued(self, tx: Session, job_id: str, lane: str) -> int:
        """Raises StorageError."""
        with self._errors(f"queue job {job_id}"):
            deferrer = self.app.configure_task(TASK, queue=lane, connection=tx.connection)
            return int(await deferrer.defer_async(job_id=job_id))

    async def stopped(self, tx: Session, task_id: int, running: bool) -> None:
        """Raises StorageError."""
        with self._errors(f"withdraw queue entry {task_id}"):
            await self.app.job_manager.cancel_job_by_id_async(task_id, abort=running, connection=tx.connection)
