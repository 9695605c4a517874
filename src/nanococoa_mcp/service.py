"""The job service every door shares, through the tools: queue, follow, stop and list jobs of any kind, the
shop records, and the runtime's own state. app.py builds and starts it; a door runs
`async with app.service_running(settings):` around its lifetime and the tools reach it with `get_service()`.

Everything here acts for the current caller's tenant (tenancy.py): its jobs, files, shops and sites only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.homepage.files import SiteFiles, site_missing
from nanococoa_mcp.jobs.files import JobFiles, no_file
from nanococoa_mcp.jobs.models import TERMINAL, InputFile, JobState, JobStatus
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.keys import KeyBook
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.stores import StoreBook

POLL_S = 0.1  # how often a waiting call looks at its job


class WorkerHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    configured: int
    alive: int
    busy: int
    replaced: int = Field(description="Workers replaced after a crash or an ignored stop since start.")


class JobRuntime(Protocol):
    """What runs the jobs: the embedded WorkerPool (jobs/pool.py) or an API replica's DistributedRuntime
    (jobs/distributed.py)."""

    workers: int
    replaced: int

    async def submit(
        self,
        kind: str,
        parameters: Mapping[str, Any],
        *,
        input_file: InputFile | None = None,
        parent_id: str | None = None,
        start_step: int = 1,
    ) -> JobStatus: ...

    async def stop(self, job_id: str) -> JobStatus: ...

    async def changed(self, job_id: str, poll_s: float) -> None:
        """Until the job may have changed."""

    def alive_workers(self) -> int: ...

    def busy_workers(self) -> int: ...

    async def close(self, timeout_s: float = 10.0) -> None: ...


class Service:
    def __init__(
        self, settings: Settings, store: JobStore, pool: JobRuntime, stores: StoreBook, files: JobFiles
    ) -> None:
        self.settings = settings
        self.store = store
        self.pool = pool
        self.stores = stores
        self.files = files  # every job's files, served by name whichever machine made them
        self.sites = SiteFiles(files.blobs, settings.data_dir)  # finished homepages, likewise
        self.keys = KeyBook(store.sql)  # the tenants' API keys, looked up by the HTTP door on every use
        self.started_at = time.time()

    async def close(self) -> None:
        """Stop the pool (a job cut short is settled by the next start's recovery), then the database."""
        try:
            await self.pool.close(timeout_s=self.settings.stop_grace_sec)
        finally:
            # Closing the databases must finish even when this close is cancelled (a client that leaves
            # cancels the lifespan it ran in): otherwise their connections are left open.
            closing = asyncio.ensure_future(self._close_databases())
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                await closing
                raise

    async def _close_databases(self) -> None:
        try:
            await self.stores.close()
        finally:
            await self.store.close()

    async def submit(
        self,
        kind: str,
        parameters: Mapping[str, Any],
        *,
        input_file: InputFile | None = None,
        parent_id: str | None = None,
        start_step: int = 1,
    ) -> JobStatus:
        """Queue a job of `kind` and return at once. Raises InvalidInput (parameters, kind, lineage), NotFound
        (unknown parent), Conflict, QueueFull or StorageError; a refused job leaves nothing behind."""
        return await self.pool.submit(
            kind, parameters, input_file=input_file, parent_id=parent_id, start_step=start_step
        )

    async def status(self, job_id: str, *, metrics: bool = True) -> JobStatus:
        return await self.store.get(job_id, metrics=metrics)

    async def stop(self, job_id: str) -> JobStatus:
        return await self.pool.stop(job_id)

    async def jobs(self, status: JobState | None = None, limit: int = 20, kind: str | None = None) -> list[JobStatus]:
        return await self.store.list_jobs(status, limit, kind)

    async def wait(
        self, job_id: str, timeout_s: float, on_update: Callable[[JobStatus], None] | None = None
    ) -> JobStatus:
        """Follow a job until it ends or `timeout_s` passes; `on_update` sees each change of progress.

        Cancelling the wait (a client that cancels or disconnects) stops the job.
        """
        deadline = time.monotonic() + timeout_s
        seen: tuple[float, str | None, str | None, str] | None = None
        try:
            while True:
                st = await self.store.get(job_id, metrics=False)
                key = (st.progress_percent, st.current_step, st.sub_step, st.status)
                if on_update is not None and key != seen:
                    on_update(st)
                seen = key
                if st.status in TERMINAL or time.monotonic() >= deadline:
                    return await self.store.get(job_id)
                await self.changed(job_id)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.stop(job_id))
            raise

    async def changed(self, job_id: str, poll_s: float = POLL_S) -> None:
        """Until the job may have changed (a follower then reads its status again)."""
        await self.pool.changed(job_id, poll_s)

    async def counts(self) -> dict[str, int]:
        """The tenant's jobs by status (every status present)."""
        return await self.store.counts()

    async def queued_total(self) -> int:
        """Jobs waiting, every tenant's (how full the one queue is)."""
        return await self.store.queued_total()

    async def locate_file(self, job_id: str, name: str) -> str:
        """The blob key of one of the tenant's jobs' files. Raises NotFound (another tenant's job's file too,
        in the same words as a missing one)."""
        if not await self.store.owns(job_id):
            raise no_file(job_id, name)
        return await self.files.locate(job_id, name)

    async def read_file(self, job_id: str, name: str) -> bytes:
        """One of the tenant's jobs' files. Raises NotFound."""
        if not await self.store.owns(job_id):
            raise no_file(job_id, name)
        return await self.files.read(job_id, name)

    async def owns_site(self, site_id: str) -> bool:
        """Whether a finished homepage job of the tenant made the site `site_id`."""
        return any(result.get("site_id") == site_id for result in await self.store.results("homepage"))

    async def read_site(self, site_id: str, name: str) -> bytes:
        """A file of one of the tenant's finished sites, from wherever it was published (`sites.read`). Raises
        NotFound (another tenant's site too, in the same words as a missing file)."""
        if not await self.owns_site(site_id):
            raise site_missing(site_id, name)
        return await self.sites.read(site_id, name)

    def workers(self) -> WorkerHealth:
        return WorkerHealth(
            configured=self.pool.workers,
            alive=self.pool.alive_workers(),
            busy=self.pool.busy_workers(),
            replaced=self.pool.replaced,
        )


_service: Service | None = None


def get_service() -> Service:
    """The running service. Raises BackendUnavailable outside a door's lifetime."""
    if _service is None:
        raise BackendUnavailable(
            "the job service is not running",
            field="server",
            accepted="call the tools through `nanococoa serve`, `nanococoa mcp` or app.service_running()",
        )
    return _service


def current_service() -> Service | None:
    return _service


def set_service(service: Service | None) -> None:
    """Make `service` the one the tools reach (app.py, around its lifetime)."""
    global _service
    _service = service
