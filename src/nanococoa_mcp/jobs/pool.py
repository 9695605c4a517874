"""The worker pool, in the server's event loop: N worker processes fed from the SQLite queue, watched.

A crashed worker's job fails as resumable; a worker that ignores a stop is killed after a grace period
and its job marked stopped. Either way the worker is replaced and the other jobs carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from nanococoa_mcp.ad.images import DecodedImage
from nanococoa_mcp.ad.pipeline import AdRequest
from nanococoa_mcp.jobs.models import JobError, JobStatus, RecoveryReport
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.jobs.worker import DONE, worker_main
from nanococoa_mcp.settings import Settings

log = logging.getLogger(__name__)

RESCAN_S = 1.0  # also look for queued jobs this often (another process may have queued some)


@dataclass(slots=True)
class _Slot:
    process: BaseProcess
    conn: Connection
    job_id: str | None = None
    stop_deadline: float | None = None


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class WorkerPool:
    """Runs queued jobs on `workers` processes. `await start()` first (it recovers orphaned jobs)."""

    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        *,
        workers: int = 1,
        max_queued: int = 32,
        stop_grace_s: float = 10.0,
        poll_s: float = 0.05,
    ) -> None:
        self.store = store
        self.settings = settings
        self.workers = workers
        self.max_queued = max_queued
        self.stop_grace_s = stop_grace_s
        self.poll_s = poll_s
        self.replaced = 0  # workers replaced after a crash or a kill
        self._ctx = multiprocessing.get_context("spawn")  # no forked copies of the server's threads or loop
        self._slots: list[_Slot] = []
        self._wake = asyncio.Event()
        self._dispatch_due = True
        self._last_scan = 0.0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> RecoveryReport:
        report = await self.store.recover()
        self._slots = [self._spawn() for _ in range(self.workers)]
        self._task = asyncio.create_task(self._watch(), name="nanococoa-worker-pool")
        return report

    async def submit(
        self, request: AdRequest, image: DecodedImage | None, *, parent_id: str | None = None, start_step: int = 1
    ) -> JobStatus:
        """Queue a job and return at once. Raises QueueFull, InvalidInput, NotFound (see JobStore.create)."""
        status = await self.store.create(
            request, image, parent_id=parent_id, start_step=start_step, max_queued=self.max_queued
        )
        self._poke()
        return status

    async def stop(self, job_id: str) -> JobStatus:
        """Request a stop; a running job's worker gets `stop_grace_s` to honour it. Raises NotFound."""
        status = await self.store.request_stop(job_id)
        for slot in self._slots:
            if slot.job_id == job_id and slot.stop_deadline is None:
                slot.stop_deadline = time.monotonic() + self.stop_grace_s
        self._wake.set()
        return status

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
        """Ask workers to finish their current job and exit; kill those still busy after `timeout_s`.

        A killed worker's job stays `running` in the database: the next start's recover() settles it.
        """
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
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
        process = self._ctx.Process(target=worker_main, args=(theirs, self.settings), name="nanococoa-worker")
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()

    async def _tick(self) -> None:
        for i, slot in enumerate(self._slots):
            self._drain(slot)
            if not slot.process.is_alive():
                await self._on_death(i, slot)
            elif slot.stop_deadline is not None and time.monotonic() > slot.stop_deadline:
                await self._on_unresponsive(i, slot)
        if self._dispatch_due or time.monotonic() - self._last_scan > RESCAN_S:
            await self._dispatch()

    def _drain(self, slot: _Slot) -> None:
        try:
            while slot.conn.poll():
                kind, job_id = slot.conn.recv()
                if kind == DONE and job_id == slot.job_id:
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
                await self.store.mark_failed(slot.job_id, error, resumable=True)
        self._replace(i, slot)

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
            job_id = await self.store.claim_next(slot.process.pid)
            if job_id is None:
                return
            slot.job_id = job_id
            slot.conn.send(job_id)
