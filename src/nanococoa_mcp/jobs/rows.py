"""The jobs table's statements, shared by the server's JobStore (SQLite or PostgreSQL) and the worker's
JobWriter (sqlite3): one progress path, one way to finish a job, one record of its stage times, for every kind.
Written in SQL both databases speak, with `?` placeholders.

On the distributed stack a job may be delivered to a worker more than once; each claim counts an `attempt`, and
the statements given that attempt touch the row only while the job is still running by it (`fenced`), so a
run the runtime has given up on (its worker thought dead) can no longer record anything."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nanococoa_mcp.errors import NotFound
from nanococoa_mcp.jobs.models import JobError, JobState, JobTicket, ProgressUpdate

HISTORY_KEEP = 200  # stage samples kept per (kind, stage, group); the estimate reads the newest eta.LAST_N
Statement = tuple[str, tuple[object, ...]]

PROGRESS = """
UPDATE jobs SET progress_percent = CASE WHEN progress_percent > ? THEN progress_percent ELSE ? END,
    current_step = ?, sub_step = ?,
    message = ?, stage_index = ?, stage_started_at = ?, steps_done = ?, updated_at = ?
WHERE id = ? AND status = 'running'
"""

FINISH = """
UPDATE jobs SET status = ?, result = ?, error = ?, resumable = ?, progress_percent = COALESCE(?, progress_percent),
    message = ?, finished_at = ?, updated_at = ?, worker_pid = NULL
WHERE id = ? AND status = 'running'
"""
FENCE = " AND attempt = ?"  # appended to a statement that ends with the running condition


def fenced(statement: Statement, attempt: int | None) -> Statement:
    """`statement` (whose last condition is the running one, whose last parameter is the job id) limited to
    the run `attempt`; unchanged for None (the embedded stack, where one process settles each job)."""
    if attempt is None:
        return statement
    sql, params = statement
    return sql.rstrip() + FENCE, (*params, attempt)

STOP_REQUESTED = "SELECT stop_requested FROM jobs WHERE id = ?"

LOAD = """
SELECT id, kind, parameters, input_path, start_step, parent_id, steps_done, tenant FROM jobs
WHERE id = ? AND status = 'running'
"""


def files_bytes(job_id: str, nbytes: int) -> Statement:
    """What the job's results and step checkpoints weigh (its tenant's stored-megabytes quota reads it)."""
    return "UPDATE jobs SET files_bytes = ? WHERE id = ?", (nbytes, job_id)


def progress(job_id: str, update: ProgressUpdate, attempt: int | None = None) -> Statement:
    return fenced((PROGRESS, (
        update.percent,
        update.percent,
        update.step,
        update.sub_step,
        update.message,
        update.stage_index,
        update.stage_started_at,
        json.dumps(update.steps_done),
        time.time(),
        job_id,
    )), attempt)


def finish(
    job_id: str,
    status: JobState,
    message: str,
    result: dict[str, Any] | None = None,
    error: JobError | None = None,
    resumable: bool = False,
    attempt: int | None = None,
) -> Statement:
    """Settle a running job (no effect on one that has already ended)."""
    now = time.time()
    return fenced((FINISH, (
        status,
        json.dumps(result, ensure_ascii=False) if result is not None else None,
        error.model_dump_json() if error is not None else None,
        resumable,
        100.0 if status == "completed" else None,
        message,
        now,
        now,
        job_id,
    )), attempt)


def failed(job_id: str, error: JobError, *, resumable: bool, attempt: int | None = None) -> Statement:
    return finish(job_id, "failed", error.message, error=error, resumable=resumable, attempt=attempt)


def stopped(job_id: str, attempt: int | None = None) -> Statement:
    return finish(job_id, "stopped", "Stopped", attempt=attempt)


def complete(
    job_id: str,
    kind: str,
    result: dict[str, Any],
    steps: Sequence[str],
    stage_times: Sequence[tuple[str, float]],
    group: str,
    attempt: int | None = None,
) -> list[Statement]:
    """Complete a job with every step done and record its stage durations (the ETA's history), trimmed to
    the newest HISTORY_KEEP per stage. Run them in one transaction (with `attempt`, the first statement
    changes no row when the run no longer holds the job, and the caller stops there)."""
    now = time.time()
    out: list[Statement] = [
        fenced(
            ("UPDATE jobs SET steps_done = ? WHERE id = ? AND status = 'running'", (json.dumps(list(steps)), job_id)),
            attempt,
        ),
        finish(job_id, "completed", "Done", result=result, attempt=attempt),
    ]
    out += [
        (
            "INSERT INTO stage_times (kind, stage, eta_group, seconds, job_id, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, stage, group, seconds, job_id, now),
        )
        for stage, seconds in stage_times
    ]
    out += [
        (
            """DELETE FROM stage_times WHERE kind = ? AND stage = ? AND eta_group = ? AND id NOT IN
               (SELECT id FROM stage_times WHERE kind = ? AND stage = ? AND eta_group = ?
                ORDER BY id DESC LIMIT ?)""",
            (kind, stage, group, kind, stage, group, HISTORY_KEEP),
        )
        for stage in sorted({s for s, _ in stage_times})
    ]
    return out


def ticket(row: Mapping[str, Any]) -> JobTicket:
    return JobTicket(
        job_id=row["id"],
        kind=row["kind"],
        parameters=dict(json.loads(row["parameters"])),
        input_path=Path(row["input_path"]) if row["input_path"] else None,
        start_step=row["start_step"],
        parent_id=row["parent_id"],
        steps_done=list(json.loads(row["steps_done"])),
        tenant=str(row["tenant"]),
    )


def not_found(job_id: str, name: str = "job_id") -> NotFound:
    return NotFound(f"no job {job_id!r}", field=name, accepted="a job id from generate_ad_image or list_jobs")


def not_running(job_id: str) -> NotFound:
    return NotFound(f"job {job_id!r} is not running", field="job_id", accepted="a job claimed by this worker")
