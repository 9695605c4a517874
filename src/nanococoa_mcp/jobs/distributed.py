"""An API replica's job runtime on the distributed stack (PostgreSQL + Procrastinate): the same calls as the
embedded WorkerPool (submit, stop, follow, worker health) for the service, with no inference here.

- Every job is queued with its Procrastinate entry (store.py) for any `nanococoa worker` to run (a homepage
  too: it runs beside a worker's slots, remote.py); a stop asked here sets the row's flag and aborts the entry,
  whichever machine runs the job. A replica runs no job itself.
- Followers are woken by the row's notifications (listener.py), reading the row at least every second.
- Every replica also reaps: a job whose worker stopped answering goes back to its queue (runs.py).
- `worker_processes` > 0 (`serve --workers N`) runs that many `nanococoa worker` processes beside the API
  (`worker_main`, from app.py), spawned (never forked), replaced when one dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Callable, Mapping
from multiprocessing.process import BaseProcess
from typing import Any

from nanococoa_mcp.errors import NanococoaError
from nanococoa_mcp.jobs.listener import JobListener
from nanococoa_mcp.jobs.models import InputFile, JobStatus
from nanococoa_mcp.jobs.remote import reap_forever
from nanococoa_mcp.jobs.runs import Runs
from nanococoa_mcp.jobs.store import WORKER_LANE, JobStore
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.settings import Settings

log = logging.getLogger(__name__)


class DistributedRuntime:
    """`await start()` first; `close()` when done."""

    def __init__(
        self,
        store: JobStore,
        database: PostgresDatabase,
        settings: Settings,
        worker_main: Callable[[Settings], None],
        *,
        max_queued: int = 32,
        stop_grace_s: float = 10.0,
        worker_processes: int = 0,
        reap: bool = True,
    ) -> None:
        self.store = store
        self.settings = settings
        self.worker_main = worker_main  # a module-level function: spawned processes find it by name
        self.max_queued = max_queued
        self.reap = reap  # a worker's own service leaves reaping to the worker
        self.runs = Runs(store)
        self.listener = JobListener(database)
        self.worker_processes = worker_processes
        self.workers = max(1, worker_processes)  # health wants at least one worker alive somewhere
        self.replaced = 0
        self.stop_grace_s = stop_grace_s
        self._ctx = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._live = 0
        self._busy = 0
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.listener.start()
        self._processes = [self._spawn() for _ in range(self.worker_processes)]
        self._tasks = [asyncio.create_task(self._watch(), name="nanococoa-workers-watch")]
        if self.reap:
            self._tasks.append(asyncio.create_task(reap_forever(self.runs, self.settings), name="nanococoa-reaper"))

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop following and reaping, then the worker processes (each finishes its job within `timeout_s`,
        else is killed: its job is run again elsewhere)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.listener.close()
        for process in self._processes:
            process.terminate()  # SIGTERM: the worker finishes its job and exits
        deadline = time.monotonic() + timeout_s
        for process in self._processes:
            await asyncio.to_thread(process.join, max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join)
        self._processes = []

    async def submit(
        self,
        kind: str,
        parameters: Mapping[str, Any],
        *,
        input_file: InputFile | None = None,
        parent_id: str | None = None,
        start_step: int = 1,
    ) -> JobStatus:
        """Queue a job (and its queue entry) and return at once. Raises as JobStore.create."""
        return await self.store.create(
            kind, parameters, input_file=input_file, parent_id=parent_id, start_step=start_step,
            max_queued=self.max_queued,
        )

    async def stop(self, job_id: str) -> JobStatus:
        """A queued job stops now; a running one at its worker's next step (its entry is aborted). Raises
        NotFound."""
        return await self.store.request_stop(job_id)

    async def changed(self, job_id: str, poll_s: float) -> None:
        """Until the job's row changes (or about a second passes)."""
        await self.listener.wait(job_id)

    def alive_workers(self) -> int:
        return self._live

    def busy_workers(self) -> int:
        return self._busy

    def _spawn(self) -> BaseProcess:
        process = self._ctx.Process(target=self.worker_main, args=(self.settings,), name="nanococoa-worker")
        process.daemon = True  # never outlive the API
        process.start()
        return process

    async def _watch(self) -> None:
        """Worker health for /health, and a dead worker process replaced."""
        worker_kinds = [k.name for k in self.store.kinds.values() if k.runs_in == WORKER_LANE]  # slots' kinds
        marks = ", ".join("?" * len(worker_kinds))
        while True:
            for i, process in enumerate(self._processes):
                if not process.is_alive():
                    log.warning("worker process %s exited with code %s; replacing it", process.pid, process.exitcode)
                    process.join(0)
                    self._processes[i] = self._spawn()
                    self.replaced += 1
            try:
                self._live = await self.runs.live_workers(self.settings.stalled_after_sec)
                found = await self.store.sql.fetchall(
                    f"SELECT COUNT(*) AS n FROM jobs WHERE status = 'running' AND kind IN ({marks})",
                    tuple(worker_kinds),
                )
                self._busy = int(found[0]["n"])
            except NanococoaError as exc:
                log.warning("worker health not read (%s)", exc)
            await asyncio.sleep(self.settings.heartbeat_sec)

