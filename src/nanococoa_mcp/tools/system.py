"""The server's own state: workers, queue, disk, CPU/RAM/GPU, and what each stage backend can do here."""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp import __version__
from nanococoa_mcp.ad.backends.registry import BackendStatus, backend_report
from nanococoa_mcp.jobs.metrics import SystemMetrics, system_metrics
from nanococoa_mcp.service import WorkerHealth, get_service
from nanococoa_mcp.tenancy import current_caller


class HealthReport(BaseModel):
    """What `server_health` and `GET /health` say."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok", "degraded"]
    service: str = "nanococoa"
    version: str
    gpu_available: bool
    uptime_sec: float
    workers: WorkerHealth
    jobs: dict[str, int] = Field(description="The caller's jobs by status (its tenant's, never another's).")
    max_queued_jobs: int
    data_dir: str | None = Field(
        description="The server's data folder: shown to callers on the server's own machine (stdio, the CLI, "
        "an unauthenticated loopback server), null for remote callers, who never see server paths."
    )
    disk_free_gb: float
    system_metrics: SystemMetrics
    backends: list[BackendStatus] = Field(description="Every stage backend: configured, usable, and why not.")
    problems: list[str] = Field(description="Why the status is degraded; empty when ok.")


async def server_health() -> HealthReport:
    """Whether the studio is ready: workers alive and busy, jobs by status, free disk, CPU, RAM and GPU use.
    `status` is degraded (with the reasons in `problems`) when a worker is down, the disk is nearly
    full or the queue is full."""
    service = get_service()
    settings = service.settings
    counts = await service.counts()
    metrics = await asyncio.to_thread(system_metrics)
    workers = service.workers()
    free = shutil.disk_usage(settings.data_dir).free / 1e9
    local = not current_caller().remote
    problems = []
    if workers.alive < workers.configured:
        down = workers.configured - workers.alive
        problems.append(f"{down} of {workers.configured} workers are down (being replaced)")
    if free < 0.5:
        problems.append(f"only {free:.2f} GB free under {settings.data_dir if local else 'the data folder'}")
    if await service.queued_total() >= settings.max_queued_jobs:
        problems.append("the queue is full: new jobs are refused until one starts")
    backends = await asyncio.to_thread(backend_report, settings)
    for b in backends:
        if b.configured and not b.usable:
            problems.append(f"the configured {b.stage} backend {b.backend} cannot run: {b.reason}")
    return HealthReport(
        status="degraded" if problems else "ok",
        version=__version__,
        gpu_available=bool(metrics.gpu_info),
        uptime_sec=round(time.time() - service.started_at, 1),
        workers=workers,
        jobs=counts,
        max_queued_jobs=settings.max_queued_jobs,
        data_dir=str(settings.data_dir) if local else None,
        disk_free_gb=round(free, 2),
        system_metrics=metrics,
        backends=backends,
        problems=problems,
    )
