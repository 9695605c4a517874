"""The worker process: owns one Studio (its browser stays warm) and runs the jobs the pool sends it by id.

Progress goes straight to SQLite; a requested stop is noticed at the next progress event.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from multiprocessing.connection import Connection

from nanococoa_mcp.ad.checkpoints import Checkpoints
from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.pipeline import STEPS, ProgressEvent, Studio
from nanococoa_mcp.ad.results import write_ad
from nanococoa_mcp.errors import InvalidInput, NanococoaError
from nanococoa_mcp.jobs import eta
from nanococoa_mcp.jobs.cancel import JobStopped, stop_checks
from nanococoa_mcp.jobs.models import JobError, ProgressUpdate
from nanococoa_mcp.jobs.store import JobTicket, JobWriter
from nanococoa_mcp.settings import Settings

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1  # at most this often to SQLite; the last event is always written
DONE = "done"
WORKER_NICE = 10  # worker → pool: ("done", job_id) once the job's outcome is recorded


class ProgressTracker:
    """The progress callback: tracks stages and their durations, writes throttled progress, honours stop."""

    def __init__(
        self, ticket: JobTicket, writer: JobWriter, interval_s: float = PROGRESS_INTERVAL_S, scene_model: bool = False
    ) -> None:
        self.ticket = ticket
        self.writer = writer
        self.interval_s = interval_s
        self.plan = eta.stage_plan(ticket.request.variants, ticket.start_step, scene_model)
        self.durations: list[tuple[str, float]] = []  # (sub_step, seconds) for each plan stage run
        self._open: tuple[str, float] | None = None
        self._stage_index = -1
        self._steps_done: list[str] = list(STEPS[: ticket.start_step - 1])  # inherited from the parent
        self._last_step: str | None = None
        self._pending: ProgressUpdate | None = None
        self._written_at = 0.0
        self._checked_at = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        now = time.time()
        nxt = self._stage_index + 1
        if nxt < len(self.plan) and self.plan[nxt] == (event.step, event.sub_step):  # a stage begins
            self._close_stage(now)
            self._stage_index = nxt
            self._open = (event.sub_step, now)
        if self._last_step is not None and event.step != self._last_step and self._last_step not in self._steps_done:
            self._steps_done.append(self._last_step)
        self._last_step = event.step
        self._pending = ProgressUpdate(
            percent=event.percent,
            step=event.step,
            sub_step=event.sub_step,
            message=event.message,
            stage_index=self._stage_index,
            stage_started_at=self._open[1] if self._open else None,
            steps_done=list(self._steps_done),
        )
        if now - self._written_at >= self.interval_s:
            self.flush()
        self.check(force=True)

    def check(self, *, force: bool = False) -> None:
        """Raise JobStopped once a stop is requested (inside a stage: at most every `interval_s`)."""
        now = time.time()
        if not force and now - self._checked_at < self.interval_s:
            return
        self._checked_at = now
        if self.writer.stop_requested(self.ticket.job_id):
            raise JobStopped("stopped on request", field="job_id")

    def _close_stage(self, now: float) -> None:
        if self._open is not None:
            self.durations.append((self._open[0], now - self._open[1]))
            self._open = None

    def flush(self) -> None:
        if self._pending is not None:
            self.writer.progress(self.ticket.job_id, self._pending)
            self._pending = None
            self._written_at = time.time()

    def finish(self) -> None:
        self._close_stage(time.time())
        self.flush()


def run_job(job_id: str, studio: Studio, writer: JobWriter, settings: Settings) -> None:
    """Run one claimed job to a recorded outcome: completed, stopped or failed (typed error)."""
    try:
        ticket = writer.load(job_id)
        checkpoints = Checkpoints(settings.data_dir, job_id)
        image = None
        if ticket.start_step == 1:
            # The door checked the upload's size; the stored file is its lossless PNG, often larger.
            upload = ticket.input_path.read_bytes()
            image = decode_image(
                upload,
                max_bytes=len(upload),
                max_pixels=settings.max_pixels,
                min_side=settings.min_side_px,
            )
        elif ticket.parent_id is not None:
            checkpoints.inherit(Checkpoints(settings.data_dir, ticket.parent_id), ticket.start_step)
        tracker = ProgressTracker(ticket, writer, scene_model=settings.scene_backend == "flux")
        started = time.perf_counter()
        with stop_checks(tracker.check):
            result = studio.generate(
                image, ticket.request, tracker, start_step=ticket.start_step, checkpoints=checkpoints
            )
        tracker.finish()
        stored = write_ad(settings.data_dir, job_id, result, time.perf_counter() - started)
        writer.complete(job_id, stored.model_dump(mode="json"), tracker.durations, ticket.size)
    except JobStopped:
        writer.stopped(job_id)
    except NanococoaError as exc:
        # Bad input fails the same way again; a browser or disk problem may not.
        writer.fail(job_id, JobError.from_exception(exc), resumable=not isinstance(exc, InvalidInput))
    except Exception as exc:
        log.exception("job %s failed", job_id)
        error = JobError(error="internal_error", message=f"the job failed unexpectedly ({type(exc).__name__})")
        writer.fail(job_id, error, resumable=True)


def worker_main(conn: Connection, settings: Settings) -> None:
    """Entry point of a worker process: job ids in, ("done", id) out, None (or a closed pipe) to exit."""
    # Ctrl-C reaches the whole process group; the server decides when workers stop, not the terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Below the server: accepting and answering status stay quick while an ad renders (the browser inherits it).
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    studio = Studio(settings)
    try:
        studio.warm()  # the first job should not wait for the browser
    except NanococoaError:
        log.exception("could not start the browser; the first job will retry and report it")
    writer = JobWriter(settings.data_dir)
    try:
        while True:
            try:
                job_id = conn.recv()
            except EOFError:  # the server is gone
                break
            if job_id is None:
                break
            run_job(job_id, studio, writer, settings)
            conn.send((DONE, job_id))
    finally:
        studio.close()
        writer.close()
