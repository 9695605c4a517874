"""The worker process's synchronous access to the jobs table: load a claimed job, report its progress,
see a stop request, record its outcome. The same statements as the server's JobStore (rows.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nanococoa_mcp.db.connection import connect_sync
from nanococoa_mcp.jobs import rows
from nanococoa_mcp.jobs.models import JobError, JobTicket, ProgressUpdate


class JobWriter:
    def __init__(self, data_dir: Path) -> None:
        self.db = connect_sync(data_dir)

    def close(self) -> None:
        self.db.close()

    def load(self, job_id: str) -> JobTicket:
        """Raises NotFound when the job is not running (stopped or settled elsewhere meanwhile)."""
        row = self.db.execute(rows.LOAD, (job_id,)).fetchone()
        if row is None:
            raise rows.not_running(job_id)
        return rows.ticket(row)

    def progress(self, job_id: str, update: ProgressUpdate) -> None:
        self.db.execute(*rows.progress(job_id, update))

    def stop_requested(self, job_id: str) -> bool:
        row = self.db.execute(rows.STOP_REQUESTED, (job_id,)).fetchone()
        return bool(row is None or row["stop_requested"])

    def mark_completed(
        self,
        job: JobTicket,
        result: dict[str, Any],
        steps: Sequence[str],
        stage_times: Sequence[tuple[str, float]],
        group: str,
    ) -> None:
        """Record the result and the job's stage durations in one transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in rows.complete(job.job_id, job.kind, result, steps, stage_times, group):
                self.db.execute(sql, params)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def mark_failed(self, job_id: str, error: JobError, *, resumable: bool) -> None:
        self.db.execute(*rows.failed(job_id, error, resumable=resumable))

    def mark_stopped(self, job_id: str) -> None:
        self.db.execute(*rows.stopped(job_id))

    def record_files(self, job_id: str, nbytes: int) -> None:
        self.db.execute(*rows.files_bytes(job_id, nbytes))
