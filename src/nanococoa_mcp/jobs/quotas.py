"""Per-tenant quotas: jobs waiting, jobs started in the last hour, megabytes stored. Checked inside the writing
transaction that would create the job (or save a shop's photos), so the check and the insert are one: on SQLite
under BEGIN IMMEDIATE, on PostgreSQL under the jobs' writer lock (db/access.py), which every API replica takes,
so two replicas submitting for one tenant at once cannot both pass.

What a tenant stores is summed from the rows that own files: a job's upload and its results and step
checkpoints (`upload_bytes`, `files_bytes`), and a shop's photos (the `stores` table's `photo_bytes`)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from nanococoa_mcp.db.access import Session
from nanococoa_mcp.errors import QuotaExceeded

HOUR_S = 3600.0
MB = 1_048_576
QUEUED_RETRY_S = 10  # a waiting job usually starts within this; then there is room again
STORED_RETRY_S = 3600  # stored files stay until they are removed: asking again soon will not help


@dataclass(frozen=True, slots=True)
class Quotas:
    """None: no limit."""

    max_queued: int | None = None
    max_per_hour: int | None = None
    max_stored_mb: float | None = None


async def _scalar(s: Session, sql: str, params: tuple[object, ...]) -> float:
    row = await s.fetchone(sql, params)
    return float(row["n"]) if row is not None and row["n"] is not None else 0.0


async def stored_bytes(s: Session, tenant: str) -> int:
    """What the tenant's jobs and shops keep on disk or in the blob store."""
    jobs = await _scalar(s, "SELECT COALESCE(SUM(upload_bytes + files_bytes), 0) AS n FROM jobs WHERE tenant = ?",
                         (tenant,))
    shops = await _scalar(s, "SELECT COALESCE(SUM(photo_bytes), 0) AS n FROM stores WHERE tenant = ?", (tenant,))
    return int(jobs + shops)


async def check(
    s: Session, quotas: Quotas, tenant: str, *, new_job: bool, adding_bytes: int = 0, freeing_bytes: int = 0
) -> None:
    """Refuse what would take `tenant` over a quota: one more job (`new_job`), `adding_bytes` more stored
    (less `freeing_bytes` that the same change removes). Raises QuotaExceeded."""
    if new_job and quotas.max_queued is not None:
        queued = int(await _scalar(s, "SELECT COUNT(*) AS n FROM jobs WHERE tenant = ? AND status = 'queued'",
                                   (tenant,)))
        if queued >= quotas.max_queued:
            raise QuotaExceeded(
                f"tenant {tenant!r} already has {queued} jobs waiting",
                field="queued_jobs",
                accepted=f"at most {quotas.max_queued} waiting jobs per tenant; retry when one has started",
                quota="queued_jobs", limit=quotas.max_queued, used=queued, retry_after_s=QUEUED_RETRY_S,
            )
    if new_job and quotas.max_per_hour is not None:
        since = time.time() - HOUR_S
        row = await s.fetchone(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs WHERE tenant = ? AND created_at > ?",
            (tenant, since),
        )
        started = int(row["n"]) if row is not None else 0
        if row is not None and started >= quotas.max_per_hour:
            wait = math.ceil(float(row["oldest"]) - since) if row["oldest"] is not None else int(HOUR_S)
            raise QuotaExceeded(
                f"tenant {tenant!r} started {started} jobs in the last hour",
                field="jobs_per_hour",
                accepted=f"at most {quotas.max_per_hour} jobs per hour per tenant",
                quota="jobs_per_hour", limit=quotas.max_per_hour, used=started, retry_after_s=max(1, wait),
            )
    if quotas.max_stored_mb is not None and (new_job or adding_bytes > freeing_bytes):
        used = await stored_bytes(s, tenant)
        limit = quotas.max_stored_mb * MB
        # A new job will store its results too: one is refused once the tenant is at its limit.
        if used - freeing_bytes + adding_bytes > limit or (new_job and used >= limit):
            raise QuotaExceeded(
                f"tenant {tenant!r} stores {used / MB:.2f} MB; {adding_bytes / MB:.2f} MB more would pass its quota",
                field="stored_mb",
                accepted=f"at most {quotas.max_stored_mb:g} MB of uploads, results and checkpoints per tenant",
                quota="stored_mb", limit=quotas.max_stored_mb, used=round(used / MB, 2), retry_after_s=STORED_RETRY_S,
            )
