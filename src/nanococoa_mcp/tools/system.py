"""The server's own state: workers, queue, disk, CPU/RAM/GPU."""

from __future__ import annotations

from nanococoa_mcp.service import HealthReport, get_service


async def server_health() -> HealthReport:
    """Whether the studio is ready: workers alive and busy, jobs by status, free disk, CPU, RAM and GPU use.
    `status` is degraded (with the reasons in `problems`) when a worker is down, the disk is nearly
    full or the queue is full."""
    return await get_service().health()
