"""Runs homepage jobs in the server process, one at a time: a homepage run mostly waits on the ad jobs it
submits through the tools, so it needs no worker process of its own. Progress (the workflow node) goes to
the job's row; a stop is honoured at the workflow's next check, or the run is cancelled after the grace
period. A run cut short by a restart stays `running` in the database; the next start's recover() queues
it again and it resumes from its LangGraph checkpoint (thread id = job id)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from nanococoa_mcp.errors import NanococoaError
from nanococoa_mcp.jobs.cancel import JobStopped
from nanococoa_mcp.jobs.models import JobError, ProgressUpdate
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.settings import Settings

if TYPE_CHECKING:
    from nanococoa_mcp.homepage.run import HomepageResult

log = logging.getLogger(__name__)

POLL_S = 1.0  # also look for queued homepage jobs this often (another process may have queued some)
FLUSH_S = 0.2  # progress to SQLite and stop checks at most this often


class _Progress:
    """The latest (node, percent, message) and the nodes finished so far; called from any thread (LangGraph
    may run nodes in threads), read by the runner's flush."""

    def __init__(self, steps_done: list[str]) -> None:
        self.steps_done = list(steps_done)
        self._latest: tuple[str, float, str] | None = None
        self._written: tuple[str, float, str] | None = None
        self._lock = threading.Lock()

    def __call__(self, node: str, percent: float, message: str) -> None:
        with self._lock:
            # Every node change is noted here, not at the flush: a quick node may start and end between two.
            if self._latest is not None and self._latest[0] != node and self._latest[0] not in self.steps_done:
                self.steps_done.append(self._latest[0])
            self._latest = (node, max(0.0, min(100.0, float(percent))), message)

    def finish(self) -> None:
        """The run completed: its last node is done too."""
        with self._lock:
            if self._latest is not None and self._latest[0] not in self.steps_done:
                self.steps_done.append(self._latest[0])
            self._written = None

    def pending(self) -> ProgressUpdate | None:
        with self._lock:
            latest = self._latest
            if latest is None or latest == self._written:
                return None
            self._written = latest
            node, percent, message = latest
            return ProgressUpdate(percent, node, None, message, -1, None, list(self.steps_done))


class HomepageRunner:
    """Claims queued homepage jobs and runs `run_homepage` for each. `await start()` after recover()."""

    def __init__(self, jobs: JobStore, settings: Settings, *, stop_grace_s: float = 10.0) -> None:
        self.jobs = jobs
        self.settings = settings
        self.stop_grace_s = stop_grace_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="nanococoa-homepage-runner")

    def poke(self) -> None:
        """A homepage job was queued: look now rather than at the next poll."""
        self._wake.set()

    async def close(self) -> None:
        """Cancel the loop and the run in progress; that job stays `running` for the next start to resume."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            job_id = None
            try:
                job_id = await self.jobs.claim_next(os.getpid(), kind="homepage")
            except Exception:  # a locked database must not end the runner
                log.exception("claiming a homepage job failed")
            if job_id is not None:
                try:
                    await self._run(job_id)
                except Exception:  # recording the outcome failed (a locked database): recover() settles it
                    log.exception("homepage job %s could not be settled", job_id)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()

    async def _run(self, job_id: str) -> None:
        try:
            from nanococoa_mcp.homepage.models import StoreRecord
            from nanococoa_mcp.homepage.run import run_homepage

            parameters = await self.jobs.parameters(job_id)
            store = StoreRecord.model_validate(parameters["record"])
            photos = [Path(p) for p in parameters["photos"]]
            done = (await self.jobs.get(job_id, metrics=False)).steps_done
        except Exception as exc:  # a row (or an install) this version cannot run: fail it, never retry forever
            log.exception("homepage job %s cannot start", job_id)
            error = JobError(error="internal_error", message=f"the homepage job cannot start ({exc})")
            await self.jobs.mark_failed(job_id, error, resumable=False)
            return
        progress = _Progress(done)
        stop = threading.Event()
        task = asyncio.create_task(
            run_homepage(job_id, store, photos, self.settings, on_progress=progress, should_stop=stop.is_set),
            name=f"homepage-{job_id}",
        )
        deadline: float | None = None
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=FLUSH_S)
                await self._flush(job_id, progress)
                if deadline is None and await self.jobs.stop_requested(job_id):
                    stop.set()
                    deadline = time.monotonic() + self.stop_grace_s
                if deadline is not None and time.monotonic() > deadline and not task.done():
                    log.warning("homepage job %s ignored a stop for %.0f s; cancelling it", job_id, self.stop_grace_s)
                    task.cancel()
                    await asyncio.wait({task}, timeout=self.stop_grace_s)
                    break
        finally:
            if not task.done():  # the runner itself is being closed: the job resumes at the next start
                task.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(task, self.stop_grace_s)
        await self._settle(job_id, task, progress, stopping=stop.is_set())

    async def _flush(self, job_id: str, progress: _Progress) -> None:
        update = progress.pending()
        if update is not None:
            await self.jobs.progress(job_id, update)

    async def _settle(
        self, job_id: str, task: asyncio.Task[HomepageResult], progress: _Progress, *, stopping: bool
    ) -> None:
        await self._flush(job_id, progress)
        exc = None if task.cancelled() else task.exception()
        if task.cancelled() or isinstance(exc, JobStopped) or (stopping and exc is not None):
            await self.jobs.mark_stopped(job_id)
        elif isinstance(exc, NanococoaError):  # resumable means "re-run as a child", which only ads have
            await self.jobs.mark_failed(job_id, JobError.from_exception(exc), resumable=False)
        elif exc is not None:
            log.error("homepage job %s failed", job_id, exc_info=exc)
            error = JobError(
                error="internal_error", message=f"the homepage run failed unexpectedly ({type(exc).__name__})"
            )
            await self.jobs.mark_failed(job_id, error, resumable=False)
        else:
            progress.finish()
            await self._flush(job_id, progress)
            await self.jobs.mark_completed(job_id, task.result().model_dump(mode="json"))
