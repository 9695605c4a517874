"""The worker process: builds its kinds once from the factory the pool was given (what they keep warm, a
browser or a model, stays warm between jobs) and runs the jobs the pool sends it by id, whatever their kind.

Progress goes straight to SQLite; a requested stop is noticed at the next progress report, or at the next
stop point inside a stage (jobs.cancel.checkpoint). `run_job` records through any `JobRecorder`: the embedded
worker's JobWriter here, a distributed worker's recorder in remote.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

from nanococoa_mcp.errors import BackendUnavailable, InvalidInput, NanococoaError
from nanococoa_mcp.jobs.cancel import JobStopped, stop_checks
from nanococoa_mcp.jobs.kinds import WorkerKind, WorkerKindsFactory
from nanococoa_mcp.jobs.models import JobError, JobTicket, ProgressUpdate
from nanococoa_mcp.jobs.progress import ProgressTracker
from nanococoa_mcp.jobs.writer import JobWriter
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.tenancy import Caller, acting_as

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1  # at most this often to SQLite; the last report is always written
DONE = "done"  # worker → pool: ("done", job_id) once the job's outcome is recorded
WORKER_NICE = 10


class JobRecorder(Protocol):
    """Where a worker reads the job it runs and records how it goes."""

    def load(self, job_id: str) -> JobTicket: ...

    def progress(self, job_id: str, update: ProgressUpdate) -> None: ...

    def stop_requested(self, job_id: str) -> bool: ...

    def mark_completed(
        self,
        job: JobTicket,
        result: dict[str, Any],
        steps: Sequence[str],
        stage_times: Sequence[tuple[str, float]],
        group: str,
    ) -> None: ...

    def mark_failed(self, job_id: str, error: JobError, *, resumable: bool) -> None: ...

    def mark_stopped(self, job_id: str) -> None: ...

    def record_files(self, job_id: str, nbytes: int) -> None:
        """What the job's results and step checkpoints weigh, for its tenant's stored-megabytes quota."""


class WorkerContext:
    """A job's JobContext in a worker: throttled progress writes, and stop checks that raise JobStopped."""

    def __init__(
        self, job: JobTicket, tracker: ProgressTracker, writer: JobRecorder, data_dir: Path,
        interval_s: float = PROGRESS_INTERVAL_S,
    ) -> None:
        self.job = job
        self.tracker = tracker
        self.writer = writer
        self._data_dir = data_dir
        self.interval_s = interval_s
        self._written_at = 0.0
        self._step: str | None = None
        self._checked_at = 0.0

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def report(self, percent: float, step: str, sub_step: str | None, message: str) -> None:
        self.tracker.report(percent, step, sub_step, message)
        # A new step is written at once: the finished one is then on record (a retry resumes after it).
        if step != self._step or time.time() - self._written_at >= self.interval_s:
            self.flush()
        self._step = step
        self.check(force=True)

    def should_stop(self) -> bool:
        return self.writer.stop_requested(self.job.job_id)

    def check(self, *, force: bool = False) -> None:
        """Raise JobStopped once a stop is requested (inside a stage: at most every `interval_s`)."""
        now = time.time()
        if not force and now - self._checked_at < self.interval_s:
            return
        self._checked_at = now
        if self.should_stop():
            raise JobStopped("stopped on request", field="job_id")

    def flush(self) -> None:
        update = self.tracker.take()
        if update is not None:
            self.writer.progress(self.job.job_id, update)
            self._written_at = time.time()


def run_job(job_id: str, kinds: Mapping[str, WorkerKind], writer: JobRecorder, settings: Settings) -> None:
    """Run one claimed job to a recorded outcome: completed, stopped or failed (typed error), on behalf of the
    tenant whose job it is; then what its files weigh."""
    try:
        _run(job_id, kinds, writer, settings)
    finally:
        _record_files(job_id, writer, settings.data_dir)


def _run(job_id: str, kinds: Mapping[str, WorkerKind], writer: JobRecorder, settings: Settings) -> None:
    resumable = False
    try:
        job = writer.load(job_id)
        kind = kinds.get(job.kind)
        if kind is None:
            raise BackendUnavailable(f"this worker runs no {job.kind!r} jobs", field="kind", accepted=", ".join(kinds))
        resumable = kind.resumable
        inherited = [*kind.steps[: job.start_step - 1], *job.steps_done]
        tracker = ProgressTracker(kind.eta_plan(job.parameters, job.start_step), list(dict.fromkeys(inherited)))
        context = WorkerContext(job, tracker, writer, settings.data_dir)
        with stop_checks(context.check), acting_as(Caller(job.tenant, remote=False)):
            result = kind.run(job, context)
        tracker.finish()
        context.flush()
        writer.mark_completed(job, result, kind.steps, tracker.durations, kind.eta_group(job.parameters))
    except JobStopped:
        writer.mark_stopped(job_id)
    except NanococoaError as exc:
        # Bad input fails the same way again; a browser or disk problem may not.
        error = JobError.from_exception(exc)
        writer.mark_failed(job_id, error, resumable=resumable and not isinstance(exc, InvalidInput))
    except Exception as exc:
        log.exception("job %s failed", job_id)
        error = JobError(error="internal_error", message=f"the job failed unexpectedly ({type(exc).__name__})")
        writer.mark_failed(job_id, error, resumable=resumable)


def files_size(data_dir: Path, job_id: str) -> int:
    """Bytes of a job's results (`jobs/{id}/`) and step checkpoints (`steps/{id}/`) under `data_dir`."""
    total = 0
    for folder in (data_dir / "jobs" / job_id, data_dir / "steps" / job_id):
        for path in folder.rglob("*") if folder.is_dir() else ():
            with contextlib.suppress(OSError):
                total += path.stat().st_size if path.is_file() else 0
    return total


def _record_files(job_id: str, writer: JobRecorder, data_dir: Path) -> None:
    try:
        writer.record_files(job_id, files_size(data_dir, job_id))
    except Exception:  # the outcome is recorded; a missed weight only under-counts the quota
        log.exception("job %s: what its files weigh was not recorded", job_id)


def worker_main(conn: Connection, settings: Settings, make_kinds: WorkerKindsFactory) -> None:
    """Entry point of a worker process: job ids in, ("done", id) out, None (or a closed pipe) to exit."""
    # Ctrl-C reaches the whole process group; the server decides when workers stop, not the terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Below the server: accepting and answering status stay quick while a job runs (its children inherit it).
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    kinds = {kind.name: kind for kind in make_kinds(settings)}
    writer = JobWriter(settings.data_dir)
    try:
        early: list[str | None] = []  # what the server sent while this worker warmed up: handled first
        for kind in kinds.values():
            if not _read_early(conn, early):
                break  # told to exit: nothing more is worth warming (jobs sent before the exit still run)
            try:
                kind.warm()  # the first job should not wait for a browser or a model
            except NanococoaError:
                log.exception("could not warm up the %s kind; its first job will retry and report it", kind.name)
        while True:
            if early:
                job_id = early.pop(0)
            else:
                try:
                    job_id = conn.recv()
                except EOFError:  # the server is gone
                    break
            if job_id is None:
                break
            run_job(job_id, kinds, writer, settings)
            conn.send((DONE, job_id))
    finally:
        for kind in kinds.values():
            kind.close()
        writer.close()


def _read_early(conn: Connection, early: list[str | None]) -> bool:
    """Take what the server sent while this worker was starting, in order; False once it said exit (None, or
    the pipe closed), so a worker stopped at once exits without warming what no job will use."""
    while conn.poll():
        try:
            message = conn.recv()
        except EOFError:
            message = None
        early.append(message)
        if message is None:
            return False
    return True
