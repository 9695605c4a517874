"""The pool, in the server's event loop: runs queued jobs of every kind, watched.

Worker kinds run on N worker processes fed from the SQLite queue, forked from a clean fork server (never
from the server: no copies of its threads or loop); a crashed worker's job fails (resumable when its kind
allows), a worker that ignores a stop is killed after a grace period and its job marked stopped, and the
worker is replaced.
Server kinds run as asyncio tasks here, up to their kind's concurrency, outside the worker slots: a job that
waits on jobs of its own (a homepage on its ads) never holds the worker those need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from nanococoa_mcp.errors import InvalidInput, NanococoaError, NotFound
from nanococoa_mcp.jobs.cancel import JobStopped
from nanococoa_mcp.jobs.kinds import ServerKind, WorkerKindsFactory
from nanococoa_mcp.jobs.models import InputFile, JobError, JobStatus, JobTicket, RecoveryReport
from nanococoa_mcp.jobs.progress import ProgressTracker, inherited_steps
from nanococoa_mcp.jobs.store import WORKER_LANE, JobStore
from nanococoa_mcp.jobs.worker import DONE, worker_main
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.tenancy import Caller, acting_as

log = logging.getLogger(__name__)

RESCAN_S = 1.0  # also look for queued jobs this often (another process may have queued some)
FLUSH_S = 0.2  # a server kind's progress to SQLite, and a look for a stop asked elsewhere, at most this often


@dataclass(slots=True)
class _Slot:
    process: BaseProcess
    conn: Connection
    job_id: str | None = None
    stop_deadline: float | None = None


def worker_context(make_worker_kinds: WorkerKindsFactory) -> ForkServerContext:
    """Workers are forked from a fork server: a clean process started once, which imported the worker and its
    kinds and nothing else. A new worker is then ready in milliseconds instead of seconds of imports, and is
    still never a forked copy of the server's threads, event loop or (in a worker's child) CUDA state."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([worker_main.__module__, make_worker_kinds.__module__])
    return context


class ServerContext:
    """A server kind's JobContext: reports are kept for the pool to write; a stop is a flag the run reads."""

    def __init__(self, tracker: ProgressTracker, data_dir: Path) -> None:
        self.tracker = tracker
        self._data_dir = data_dir
        self._stop = threading.Event()  # the run may read it from a thread of its own

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def report(self, percent: float, step: str, sub_step: str | None, message: str) -> None:
        self.tracker.report(percent, step, sub_step, message)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()


@dataclass(slots=True)
class _Run:
    job: JobTicket
    kind: ServerKind
    context: ServerContext
    task: asyncio.Task[dict[str, Any]]
    stop_deadline: float | None = None
    flushed_at: float = 0.0


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class WorkerPool:
    """Runs queued jobs: `workers` processes for the store's worker kinds, tasks for `server_kinds`.
    `await start()` first (it recovers orphaned jobs)."""

    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        make_worker_kinds: WorkerKindsFactory,
        *,
        server_kinds: Sequence[ServerKind] = (),
        workers: int = 1,
        max_queued: int = 32,
        stop_grace_s: float = 10.0,
        poll_s: float = 0.05,
        recover: bool = True,
    ) -> None:
        self.store = store
        self.settings = settings
        self.make_worker_kinds = make_worker_kinds
        self.server_kinds: Mapping[str, ServerKind] = {k.name: k for k in server_kinds}
        self.worker_kinds = [k.name for k in store.kinds.values() if k.runs_in == WORKER_LANE]
        self.workers = workers
        self.max_queued = max_queued
        self.stop_grace_s = stop_grace_s
        self.poll_s = poll_s
        self.recover = recover  # jobs left running by a dead server; not where other replicas run jobs too
        self.replaced = 0  # workers replaced after a crash or a kill
        self._ctx = worker_context(make_worker_kinds)
        self._slots: list[_Slot] = []
        self._runs: list[_Run] = []
        self._wake = asyncio.Event()
        self._dispatch_due = True
        self._last_scan = 0.0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> RecoveryReport:
        report = await self.store.recover() if self.recover else RecoveryReport([], [], [])
        self._slots = [self._spawn() for _ in range(self.workers)]
        self._task = asyncio.create_task(self._watch(), name="nanococoa-worker-pool")
        return report

    async def submit(
        self,
        kind: str,
        parameters: Mapping[str, Any],
        *,
        input_file: InputFile | None = None,
        parent_id: str | None = None,
        start_step: int = 1,
    ) -> JobStatus:
        """Queue a job and return at once. Raises QueueFull, InvalidInput, NotFound, Conflict (JobStore.create)."""
        status = await self.store.create(
            kind, parameters, input_file=input_file, parent_id=parent_id, start_step=start_step,
            max_queued=self.max_queued,
        )
        self._poke()
        return status

    async def stop(self, job_id: str) -> JobStatus:
        """Request a stop; a running job gets `stop_grace_s` to honour it. Raises NotFound."""
        status = await self.store.request_stop(job_id)
        deadline = time.monotonic() + self.stop_grace_s
        for slot in self._slots:
            if slot.job_id == job_id and slot.stop_deadline is None:
                slot.stop_deadline = deadline
        for run in self._runs:
            if run.job.job_id == job_id and run.stop_deadline is None:
                run.context.stop()
                run.stop_deadline = deadline
        self._wake.set()
        return status

    async def changed(self, job_id: str, poll_s: float) -> None:
        """Until a job may have changed: here, `poll_s` (the worker processes write SQLite directly)."""
        await asyncio.sleep(poll_s)

    def alive_workers(self) -> int:
        return sum(1 for slot in self._slots if slot.process.is_alive())

    def busy_workers(self) -> int:
        return sum(1 for slot in self._slots if slot.job_id is not None)

    def worker_pid(self, job_id: str) -> int | None:
        """The pid of the worker running `job_id`, if one is."""
        for slot in self._slots:
            if slot.job_id == job_id:
                return slot.process.pid
        return None

    async def close(self, timeout_s: float = 10.0) -> None:
        """Cancel the server kinds' runs, ask workers to finish their current job and exit, kill those still
        busy after `timeout_s`. A job cut short stays `running` in the database: the next start's recover()
        settles it (a homepage is queued again and resumes from its checkpoint)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for run in self._runs:  # first: a run may be waiting on a worker's job
            run.task.cancel()
        if self._runs:
            await asyncio.wait([r.task for r in self._runs], timeout=timeout_s)
            for run in self._runs:  # one that ended by itself meanwhile: its outcome is the recovery's now
                if run.task.done() and not run.task.cancelled():
                    run.task.exception()
        self._runs = []
        for slot in self._slots:
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        deadline = time.monotonic() + timeout_s
        for slot in self._slots:
            await asyncio.to_thread(slot.process.join, max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                await asyncio.to_thread(slot.process.join)
            slot.conn.close()
        self._slots = []

    def _poke(self) -> None:
        self._dispatch_due = True
        self._wake.set()

    def _spawn(self) -> _Slot:
        ours, theirs = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main, args=(theirs, self.settings, self.make_worker_kinds), name="nanococoa-worker"
        )
        process.daemon = True  # never outlive the server
        process.start()
        theirs.close()  # so the worker's death reads as EOF here
        return _Slot(process=process, conn=ours)

    async def _watch(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:  # the pool must outlive one bad tick (a locked database, a dead pipe)
                log.exception("worker pool tick failed")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancel close() sends
            # when the wake-up lands at the same moment, and close() would wait for this loop for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()
            self._wake.clear()

    async def _tick(self) -> None:
        for i, slot in enumerate(self._slots):
            self._drain(slot)
            if not slot.process.is_alive():
                await self._on_death(i, slot)
            elif slot.stop_deadline is not None and time.monotonic() > slot.stop_deadline:
                await self._on_unresponsive(i, slot)
        for run in list(self._runs):
            await self._tend(run)
        if self._dispatch_due or time.monotonic() - self._last_scan > RESCAN_S:
            await self._dispatch()

    # ---------------------------------------------------------------- worker processes

    def _drain(self, slot: _Slot) -> None:
        try:
            while slot.conn.poll():
                message, job_id = slot.conn.recv()
                if message == DONE and job_id == slot.job_id:
                    slot.job_id, slot.stop_deadline = None, None
                    self._dispatch_due = True
        except (EOFError, OSError):  # the worker died; _tick notices and replaces it
            pass

    async def _on_death(self, i: int, slot: _Slot) -> None:
        reason = _exit_reason(slot.process.exitcode)
        log.warning("worker %s %s (job %s); replacing it", slot.process.pid, reason, slot.job_id)
        if slot.job_id is not None:
            if slot.stop_deadline is not None:
                await self.store.mark_stopped(slot.job_id)
            else:
                error = JobError(
                    error="worker_crashed",
                    message=f"the worker process {reason} during this job",
                    field="start_step",
                    accepted="re-run it as a child job (parent_id) from a step it finished",
                )
                await self.store.mark_failed(slot.job_id, error, resumable=await self._resumable(slot.job_id))
        self._replace(i, slot)

    async def _resumable(self, job_id: str) -> bool:
        name = await self.store.kind_of(job_id)
        kind = self.store.kinds.get(name) if name is not None else None
        return kind is not None and kind.resumable

    async def _on_unresponsive(self, i: int, slot: _Slot) -> None:
        log.warning("worker %s ignored a stop for %.0f s; killing it", slot.process.pid, self.stop_grace_s)
        slot.process.kill()
        await asyncio.to_thread(slot.process.join, 5.0)
        if slot.job_id is not None:
            await self.store.mark_stopped(slot.job_id)
        self._replace(i, slot)

    def _replace(self, i: int, slot: _Slot) -> None:
        slot.conn.close()
        slot.process.join(0)  # reap it: it is dead already
        self._slots[i] = self._spawn()
        self.replaced += 1
        self._dispatch_due = True

    async def _dispatch(self) -> None:
        self._dispatch_due = False
        self._last_scan = time.monotonic()
        for slot in self._slots:
            if slot.job_id is not None or not slot.process.is_alive():
                continue
            assert slot.process.pid is not None
            job_id = await self.store.claim_next(slot.process.pid, self.worker_kinds)
            if job_id is None:
                break
            slot.job_id = job_id
            slot.conn.send(job_id)
        for kind in self.server_kinds.values():
            while sum(1 for r in self._runs if r.kind is kind) < kind.concurrency:
                job_id = await self.store.claim_next(os.getpid(), [kind.name])
                if job_id is None:
                    break
                await self._begin(kind, job_id)

    # ---------------------------------------------------------------- server kinds

    async def _begin(self, kind: ServerKind, job_id: str) -> None:
        try:
            job = await self.store.load(job_id)
        except NotFound:  # stopped between the claim and now
            return
        tracker = ProgressTracker(kind.eta_plan(job.parameters, job.start_step), inherited_steps(kind.steps, job))
        context = ServerContext(tracker, self.settings.data_dir)
        # The run acts for the job's tenant (the jobs it queues are that tenant's), as a caller inside the
        # server: the files it names (a shop's saved photos) are the server's own.
        with acting_as(Caller(job.tenant, remote=False)):
            task = asyncio.create_task(kind.run(job, context), name=f"nanococoa-{kind.name}-{job_id}")
        task.add_done_callback(lambda _t: self._wake.set())
        self._runs.append(_Run(job=job, kind=kind, context=context, task=task))

    async def _tend(self, run: _Run) -> None:
        now = time.monotonic()
        if run.task.done():
            self._runs.remove(run)
            self._dispatch_due = True
            await self._settle(run)
            return
        if now - run.flushed_at >= FLUSH_S:
            run.flushed_at = now
            await self._flush(run)
            if run.stop_deadline is None and await self.store.stop_requested(run.job.job_id):  # asked elsewhere
                run.context.stop()
                run.stop_deadline = now + self.stop_grace_s
        if run.stop_deadline is not None and now > run.stop_deadline:
            log.warning("%s job %s ignored a stop for %.0f s; cancelling it", run.kind.name, run.job.job_id,
                        self.stop_grace_s)
            run.task.cancel()

    async def _flush(self, run: _Run) -> None:
        update = run.context.tracker.take()
        if update is not None:
            await self.store.progress(run.job.job_id, update)

    async def _settle(self, run: _Run) -> None:
        job_id, task = run.job.job_id, run.task
        run.context.tracker.finish()
        await self._flush(run)
        exc = None if task.cancelled() else task.exception()
        if task.cancelled() or isinstance(exc, JobStopped) or (run.context.should_stop() and exc is not None):
            await self.store.mark_stopped(job_id)
        elif isinstance(exc, NanococoaError):
            resumable = run.kind.resumable and not isinstance(exc, InvalidInput)
            await self.store.mark_failed(job_id, JobError.from_exception(exc), resumable=resumable)
        elif exc is not None:
            log.error("%s job %s failed", run.kind.name, job_id, exc_info=exc)
            error = JobError(error="internal_error", message=f"the job failed unexpectedly ({type(exc).__name__})")
            await self.store.mark_failed(job_id, error, resumable=run.kind.resumable)
        else:
            await self.store.mark_completed(run.job, task.result(), run.context.tracker.durations)
