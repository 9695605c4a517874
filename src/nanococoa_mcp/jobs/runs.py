"""A job's runs on the distributed stack, on its row in PostgreSQL. Delivery is at least once, so:

- a worker claims a queued job by id for one `attempt`, and its progress and outcome are recorded only while
  that attempt still holds the job (the conditional UPDATEs of rows.py, fenced by the attempt);
- a failure that may pass (storage out of reach, a backend this worker lacks, a bug) puts the job back in its
  queue (after RETRY_DELAY_S, on any worker, from its last finished step); the same failure twice in a row
  ends it, saying so;
- a job whose worker stopped answering (no heartbeat) is put back in its queue by any reaper (`reclaim`),
  twice in a row and it fails. Reapers race harmlessly: each settles an entry under the jobs' writer lock,
  after checking it is still held by a dead worker. A reaper that lost the database itself waits a stall time
  once it is back, so the workers' heartbeats (which failed too) are fresh again before it judges them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from nanococoa_mcp.db.access import Session, SqlAccess
from nanococoa_mcp.jobs import rows
from nanococoa_mcp.jobs.models import Claim, JobError, JobTicket, Previews, ProgressUpdate
from nanococoa_mcp.jobs.queue import Dispatch
from nanococoa_mcp.jobs.store import JobStore

RETRY_DELAY_S = 2.0  # a store that was out of reach gets this long before the job's next attempt
RETRYABLE = frozenset({"storage_error", "storage_unavailable", "backend_unavailable", "internal_error"})
WORKER_LOST = "worker_lost"
Outcome = Literal["requeued", "failed", "stopped", "retried", "closed"]


def _error_twice(error: JobError, done: Sequence[str]) -> JobError:
    return error.model_copy(
        update={
            "message": f"{error.message} (the second attempt in a row to fail this way, after "
            f"{', '.join(done) or 'no finished step'}; not retried again)",
            "field": error.field or "start_step",
            "accepted": error.accepted or f"re-run it as a child job with start_step up to {len(done) + 1}",
        }
    )


class Runs:
    """The worker's and the reapers' side of a PostgreSQL job store (one that dispatches)."""

    def __init__(self, store: JobStore) -> None:
        if store.dispatch is None:
            raise ValueError("runs are the distributed stack's: the store must dispatch")
        self.store = store
        self.dispatch: Dispatch = store.dispatch

    # ---------------------------------------------------------------- a worker's attempt

    async def claim(self, job_id: str, task_id: int, worker_pid: int) -> Claim | None:
        """Take a queued job for a new attempt, if `task_id` is still its queue entry; None when there is
        nothing to run (stopped meanwhile, or a delivery of an entry already settled)."""
        now = time.time()
        found = await self.store.sql.fetchall(
            """UPDATE jobs SET status = 'running', attempt = attempt + 1, worker_pid = ?, started_at = ?,
                   updated_at = ?, message = 'Starting', stage_index = -1, stage_started_at = NULL
               WHERE id = ? AND status = 'queued' AND task_id = ?
               RETURNING id, kind, parameters, input_path, start_step, parent_id, steps_done, tenant, attempt,
                         last_failure""",
            (worker_pid, now, now, job_id, task_id),
        )
        if not found:
            return None
        row = found[0]
        return Claim(rows.ticket(row), int(row["attempt"]), row["last_failure"])

    async def report(
        self, job_id: str, update: ProgressUpdate, attempt: int, previews: Previews | None = None
    ) -> bool:
        """Record progress (and what the kind previews now, after a finished step); whether the run should go
        on (not once a stop is asked, nor once the job is no longer this attempt's)."""
        if previews is not None:
            await _set_previews(self.store.sql, job_id, previews)
        sql, params = rows.progress(job_id, update, attempt)
        found = await self.store.sql.fetchall(f"{sql.rstrip()} RETURNING stop_requested", params)
        return bool(found) and not found[0]["stop_requested"]

    async def record_files(self, job_id: str, nbytes: int) -> None:
        """What the job's results and checkpoints weigh (any attempt's count is the same files')."""
        await self.store.sql.fetchall(*rows.files_bytes(job_id, nbytes))

    async def should_stop(self, job_id: str, attempt: int) -> bool:
        found = await self.store.sql.fetchall(
            "SELECT stop_requested FROM jobs WHERE id = ? AND status = 'running' AND attempt = ?", (job_id, attempt)
        )
        return not found or bool(found[0]["stop_requested"])

    async def completed(
        self,
        job: JobTicket,
        attempt: int,
        result: dict[str, Any],
        stage_times: Sequence[tuple[str, float]],
        previews: Previews,
    ) -> bool:
        """Complete the job if this attempt still holds it; whether it did."""
        spec = self.store.kind(job.kind)
        statements = rows.complete(
            job.job_id, job.kind, result, spec.steps, stage_times, spec.eta_group(job.parameters), attempt
        )
        async with self.store.sql.transaction() as tx:
            if not await _holds(tx, job.job_id, attempt):
                return False
            await _set_previews(tx, job.job_id, previews)
            for sql, params in statements:
                await tx.execute(sql, params)
        return True

    async def stopped(self, job_id: str, attempt: int) -> None:
        await self.store.sql.fetchall(*rows.stopped(job_id, attempt))

    async def failed(
        self, job: JobTicket, attempt: int, error: JobError, *, resumable: bool, previews: Previews
    ) -> Outcome | None:
        """Record a failure: one that may pass goes back to the queue, unless the previous attempt failed the
        same way; None when this attempt no longer holds the job."""
        async with self.store.sql.transaction() as tx:
            row = await tx.fetchone(
                "SELECT last_failure, steps_done FROM jobs WHERE id = ? AND status = 'running' AND attempt = ?",
                (job.job_id, attempt),
            )
            if row is None:
                return None
            await _set_previews(tx, job.job_id, previews)
            if error.error in RETRYABLE and row["last_failure"] != error.error:
                await _requeue(tx, job.job_id, attempt, error.error, f"Retrying after: {error.message}")
                task_id = await self.dispatch.queued(tx, job.job_id, job.kind, delay_s=RETRY_DELAY_S)
                await tx.execute("UPDATE jobs SET task_id = ? WHERE id = ?", (task_id, job.job_id))
                return "requeued"
            if error.error in RETRYABLE:
                error = _error_twice(error, json.loads(row["steps_done"]))
            await tx.execute(*rows.failed(job.job_id, error, resumable=resumable, attempt=attempt))
        return "failed"

    # ---------------------------------------------------------------- reapers

    async def stalled(self, seconds: float) -> list[int]:
        """Queue entries held by workers that sent no heartbeat for `seconds` (or that were pruned)."""
        async with self.store.sql.session() as s:
            return await self.dispatch.stalled(s, seconds)

    async def live_workers(self, seconds: float) -> int:
        """Workers that sent a heartbeat in the last `seconds`."""
        async with self.store.sql.session() as s:
            return await self.dispatch.live_workers(s, seconds)

    async def reclaim(self, task_id: int) -> Outcome | None:
        """Settle a queue entry whose worker stopped answering: its running job back in its queue (or failed,
        the second time in a row; or stopped, when a stop was asked); None when another reaper got there
        first or nothing was left to do.

        The job goes back with a new entry, the dead worker's entry is closed: a worker taken for dead may yet
        be alive (cut off from the database for longer than the stall time) and close its entry when its run
        ends, which must not close the job's next delivery; its run itself can no longer record anything."""
        async with self.store.sql.transaction() as tx:
            if await self.dispatch.lock_entry(tx, task_id) != "doing":
                return None
            row = await tx.fetchone(
                """SELECT id, kind, status, stop_requested, last_failure, attempt, steps_done FROM jobs
                   WHERE task_id = ?""",
                (task_id,),
            )
            if row is None or row["status"] not in ("queued", "running"):
                await self.dispatch.end(tx, task_id, "succeeded" if row is not None else "failed")
                return "closed"
            job_id, attempt = row["id"], int(row["attempt"])
            outcome: Outcome = "retried"  # its worker died between taking the entry and claiming the job
            if row["status"] == "running":
                done = json.loads(row["steps_done"])
                if row["stop_requested"]:
                    await tx.execute(*rows.stopped(job_id, attempt))
                    await self.dispatch.end(tx, task_id, "aborted")
                    return "stopped"
                if row["last_failure"] == WORKER_LOST:
                    spec = self.store.kinds.get(row["kind"])
                    error = _error_twice(
                        JobError(error=WORKER_LOST, message="the worker running this job stopped answering"), done
                    )
                    resumable = bool(spec and spec.resumable)
                    await tx.execute(*rows.failed(job_id, error, resumable=resumable, attempt=attempt))
                    await self.dispatch.end(tx, task_id, "failed")
                    return "failed"
                message = f"Re-queued: its worker stopped answering after {', '.join(done) or 'no finished step'}"
                await _requeue(tx, job_id, attempt, WORKER_LOST, message)
                outcome = "requeued"
            await self.dispatch.end(tx, task_id, "failed")
            new_task = await self.dispatch.queued(tx, job_id, row["kind"])
            await tx.execute("UPDATE jobs SET task_id = ? WHERE id = ?", (new_task, job_id))
            return outcome


async def _holds(s: Session, job_id: str, attempt: int) -> bool:
    found = await s.fetchone("SELECT 1 AS n FROM jobs WHERE id = ? AND status = 'running' AND attempt = ?",
                             (job_id, attempt))
    return found is not None


async def _set_previews(s: Session | SqlAccess, job_id: str, previews: Previews) -> None:
    seen: Mapping[str, str | None] = {"step1_result": previews.step1_result, "final_result": previews.final_result}
    await s.fetchall("UPDATE jobs SET previews = ? WHERE id = ?", (json.dumps(seen), job_id))


async def _requeue(s: Session, job_id: str, attempt: int, reason: str, message: str) -> None:
    """Back in its old place in the queue, its finished steps kept (the next attempt resumes after them)."""
    await s.execute(
        *rows.fenced(
            (
                """UPDATE jobs SET status = 'queued', worker_pid = NULL, started_at = NULL, progress_percent = 0,
                       current_step = NULL, sub_step = NULL, stage_index = -1, stage_started_at = NULL,
                       last_failure = ?, message = ?, updated_at = ?
                   WHERE id = ? AND status = 'running'""",
                (reason, message, time.time(), job_id),
            ),
            attempt,
        )
    )
