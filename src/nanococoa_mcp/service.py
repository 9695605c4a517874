"""The job service every door shares: the SQLite job store, the worker pool (ads), the homepage runner and
the store records, started once per process.

A door runs `async with service_running(settings):` around its lifetime (the HTTP app's lifespan, the
stdio server's, the in-process CLI) and the tools reach it with `get_service()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp import __version__
from nanococoa_mcp.ad.backends.registry import BackendStatus, backend_report
from nanococoa_mcp.ad.images import DecodedImage
from nanococoa_mcp.ad.pipeline import AdRequest
from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.homepage_runner import HomepageRunner
from nanococoa_mcp.jobs.metrics import SystemMetrics, system_metrics
from nanococoa_mcp.jobs.models import TERMINAL, JobKind, JobState, JobStatus
from nanococoa_mcp.jobs.pool import WorkerPool
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.settings import Settings, get_settings
from nanococoa_mcp.stores import StoreBook

POLL_S = 0.1  # how often a waiting call looks at its job


class WorkerHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    configured: int
    alive: int
    busy: int
    replaced: int = Field(description="Workers replaced after a crash or an ignored stop since start.")


class HealthReport(BaseModel):
    """What `server_health` and `GET /health` say."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "degraded"]
    service: str = "nanococoa"
    version: str
    gpu_available: bool
    uptime_sec: float
    workers: WorkerHealth
    jobs: dict[str, int] = Field(description="Job counts by status.")
    max_queued_jobs: int
    data_dir: str
    disk_free_gb: float
    system_metrics: SystemMetrics
    backends: list[BackendStatus] = Field(description="Every stage backend: configured, usable, and why not.")
    problems: list[str] = Field(description="Why the status is degraded; empty when ok.")


class Service:
    def __init__(self, settings: Settings, store: JobStore, pool: WorkerPool, homepage: HomepageRunner) -> None:
        self.settings = settings
        self.store = store
        self.pool = pool
        self.homepage = homepage
        self.stores = StoreBook(store)
        self.started_at = time.time()

    @classmethod
    async def start(cls, settings: Settings) -> Service:
        """Open the store, recover what a previous run left, start the workers and the homepage runner.

        Raises StorageError."""
        store = await JobStore.open(settings.data_dir, workers=settings.workers)
        store.scene_model = settings.scene_backend == "flux"
        pool = WorkerPool(
            store,
            settings,
            workers=settings.workers,
            max_queued=settings.max_queued_jobs,
            stop_grace_s=settings.stop_grace_sec,
        )
        try:
            await pool.start()  # recovers first: a homepage job cut short is queued again
        except BaseException:
            await store.close()
            raise
        homepage = HomepageRunner(store, settings, stop_grace_s=settings.stop_grace_sec)
        await homepage.start()
        return cls(settings, store, pool, homepage)

    async def close(self) -> None:
        try:
            await self.homepage.close()  # first: its run waits on ad jobs; it resumes at the next start
            await self.pool.close(timeout_s=self.settings.stop_grace_sec)
        finally:
            await self.store.close()

    async def submit(
        self, request: AdRequest, image: DecodedImage | None, *, parent_id: str | None = None, start_step: int = 1
    ) -> JobStatus:
        return await self.pool.submit(request, image, parent_id=parent_id, start_step=start_step)

    async def status(self, job_id: str, *, metrics: bool = True) -> JobStatus:
        return await self.store.get(job_id, metrics=metrics)

    async def stop(self, job_id: str) -> JobStatus:
        return await self.pool.stop(job_id)

    async def jobs(
        self, status: JobState | None = None, limit: int = 20, kind: JobKind | None = None
    ) -> list[JobStatus]:
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
                await asyncio.sleep(POLL_S)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.stop(job_id))
            raise

    async def health(self) -> HealthReport:
        counts = await self.store.counts()
        metrics = await asyncio.to_thread(system_metrics)
        alive = self.pool.alive_workers()
        free = shutil.disk_usage(self.settings.data_dir).free / 1e9
        problems = []
        if alive < self.pool.workers:
            problems.append(f"{self.pool.workers - alive} of {self.pool.workers} workers are down (being replaced)")
        if free < 0.5:
            problems.append(f"only {free:.2f} GB free under {self.settings.data_dir}")
        if counts["queued"] >= self.settings.max_queued_jobs:
            problems.append("the queue is full: new jobs are refused until one starts")
        backends = await asyncio.to_thread(backend_report, self.settings)
        for b in backends:
            if b.configured and not b.usable:
                problems.append(f"the configured {b.stage} backend {b.backend} cannot run: {b.reason}")
        return HealthReport(
            status="degraded" if problems else "ok",
            version=__version__,
            gpu_available=bool(metrics.gpu_info),
            uptime_sec=round(time.time() - self.started_at, 1),
            workers=WorkerHealth(
                configured=self.pool.workers, alive=alive, busy=self.pool.busy_workers(), replaced=self.pool.replaced
            ),
            jobs=counts,
            max_queued_jobs=self.settings.max_queued_jobs,
            data_dir=str(self.settings.data_dir),
            disk_free_gb=round(free, 2),
            system_metrics=metrics,
            backends=backends,
            problems=problems,
        )


_service: Service | None = None


def get_service() -> Service:
    """The running service. Raises BackendUnavailable outside a door's lifetime."""
    if _service is None:
        raise BackendUnavailable(
            "the job service is not running",
            field="server",
            accepted="call the tools through `nanococoa serve`, `nanococoa mcp` or service_running()",
        )
    return _service


@contextlib.asynccontextmanager
async def service_running(settings: Settings | None = None) -> AsyncIterator[Service]:
    """Start the service for the enclosed lifetime; nested uses share the one already running."""
    global _service
    if _service is not None:
        yield _service
        return
    service = await Service.start(settings or get_settings())
    _service = service
    try:
        yield service
    finally:
        _service = None
        await service.close()
