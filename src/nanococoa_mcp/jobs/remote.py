"""`nanococoa worker`: a Procrastinate worker that runs the distributed stack's jobs by id through the same
JobKind code as an embedded worker process (worker.run_job), models kept warm between jobs.

- Never forks: a job runs in a thread of this process, one thread per `--concurrency` slot, each with kinds of
  its own (a kind's browser must stay on the thread that made it). The event loop keeps the heartbeat, the
  queue, the reaper and the database.
- A server kind (a homepage, which mostly waits on the ad jobs it submits) runs as a task of the event loop,
  fed by a Procrastinate worker of its own: it never holds a slot its ads need. A run whose worker died goes
  back to its queue like any job and resumes from its own checkpoint.
- The job's photo and the steps it starts from are fetched from the blob store into a scratch directory; each
  finished step goes back as it finishes (another worker can resume the job from it), the results when it
  completes, under `jobs/{id}/` (files.py). A job is settled only by the attempt that holds it (runs.py).
- A stop reaches the job at its next progress step or stop point: Procrastinate's abort (it cancels the task),
  or the row's stop flag, read with every progress write. A job that does not answer within the stop grace is
  marked stopped and its slot replaced (a fresh thread, fresh kinds); the deaf thread is abandoned, whatever it
  does later is dropped, and the other slots carry on.
- A database restart does not end the worker: heartbeats, the queue's listener and its polls retry, and a
  job's outcome is recorded once the database is back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from nanococoa_mcp.blobs import open_blobs
from nanococoa_mcp.errors import InvalidInput, NanococoaError
from nanococoa_mcp.jobs.cancel import JobStopped
from nanococoa_mcp.jobs.files import JobFiles
from nanococoa_mcp.jobs.kinds import ServerKind, ServerKindsFactory, WorkerKind, WorkerKindsFactory
from nanococoa_mcp.jobs.lanes import RESTART_BACKOFF_S, OneRegistration, resilient_worker_class
from nanococoa_mcp.jobs.models import Claim, JobError, JobTicket, Previews, ProgressUpdate
from nanococoa_mcp.jobs.pool import ServerContext
from nanococoa_mcp.jobs.progress import ProgressTracker, inherited_steps
from nanococoa_mcp.jobs.queue import TASK
from nanococoa_mcp.jobs.runs import Runs
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.jobs.worker import run_job
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.storage import StorageUnavailable
from nanococoa_mcp.tenancy import Caller, acting_as

log = logging.getLogger(__name__)
T = TypeVar("T")

STOP_POLL_S = 0.5  # inside a stage, the row's stop flag is read at most this often
SETTLE_FOR_S = 120.0  # a job's outcome is retried this long while the database is out of reach


def scratch_dir(settings: Settings) -> Path:
    """This worker's own directory for the files of the jobs it runs (removed when it exits)."""
    return settings.data_dir / "scratch" / f"{socket.gethostname()}-{os.getpid()}"


def resume_step(kind: WorkerKind, job: JobTicket) -> int:
    """The step a job runs from: after its last finished one when its kind can resume (a retry), else its own
    start step."""
    if not kind.resumable:
        return job.start_step
    done = 0
    while done < len(kind.steps) and kind.steps[done] in job.steps_done:
        done += 1
    return max(job.start_step, min(done + 1, len(kind.steps)))


class _Slot:
    """One job at a time, on one thread that keeps its own warm kinds."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"nanococoa-job{index}")
        self.kinds: dict[str, WorkerKind] = {}
        self.abandoned = False  # its thread ignored a stop: it is replaced, never used again

    async def start(self, make_kinds: WorkerKindsFactory, settings: Settings) -> None:
        def build() -> None:
            self.kinds = {kind.name: kind for kind in make_kinds(settings)}
            for kind in self.kinds.values():
                try:
                    kind.warm()
                except NanococoaError:
                    log.exception("could not warm up the %s kind; its first job will retry and report it", kind.name)

        await asyncio.wrap_future(self.executor.submit(build))

    def close(self) -> None:
        def close_kinds() -> None:
            for kind in self.kinds.values():
                kind.close()

        with contextlib.suppress(Exception):
            self.executor.submit(close_kinds).result()
        self.executor.shutdown()


class RemoteWorker:
    """Runs queued jobs of `kinds` (default: every worker kind) until `stop()`; `await run()`."""

    def __init__(
        self,
        settings: Settings,
        make_kinds: WorkerKindsFactory,
        *,
        concurrency: int = 1,
        kinds: Sequence[str] | None = None,
        make_server_kinds: ServerKindsFactory | None = None,
    ) -> None:
        database = settings.database
        if not isinstance(database, PostgresDatabase):
            raise InvalidInput(
                "`nanococoa worker` runs the jobs of a PostgreSQL database",
                field="database_url",
                accepted="NANOCOCOA_DATABASE_URL=postgresql://... (the embedded stack runs its own workers)",
            )
        if concurrency < 1:
            raise InvalidInput(f"concurrency {concurrency}", field="concurrency", accepted="1 or more")
        self.database = database
        self.scratch = scratch_dir(settings)
        self.settings = settings.model_copy(update={"data_dir": self.scratch})
        self.make_kinds = make_kinds
        self.concurrency = concurrency
        self.server_kinds: dict[str, ServerKind] = {
            kind.name: kind for kind in (make_server_kinds(self.settings) if make_server_kinds else ())
        }
        self.known = [kind.name for kind in make_kinds(self.settings) if kind.runs_in == "worker"]
        self.known += list(self.server_kinds)
        for name in kinds or ():
            if name not in self.known:
                raise InvalidInput(f"unknown job kind {name!r}", field="kinds", accepted=", ".join(self.known))
        self.queues = list(kinds) if kinds else list(self.known)
        self._stopping = asyncio.Event()
        self._procrastinate: list[Any] = []
        self.runs: Runs | None = None
        self.files: JobFiles | None = None
        self._slots: asyncio.Queue[_Slot] = asyncio.Queue()
        self._all_slots: list[_Slot] = []
        self.abandoned = 0  # slots whose job ignored a stop
        self._loop: asyncio.AbstractEventLoop | None = None

    def stop(self) -> None:
        """Finish the jobs under way, then return from run(). Safe from a signal handler of the loop."""
        self._stopping.set()
        for procrastinate in self._procrastinate:
            procrastinate.stop()

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        """Raises StorageError (the database or the blob store at start) or BackendUnavailable."""
        from procrastinate import App, PsycopgConnector

        self._loop = asyncio.get_running_loop()
        blobs = open_blobs(self.settings.blobs)
        kinds = [*self.make_kinds(self.settings), *self.server_kinds.values()]
        store = await JobStore.open_postgres(self.database, self.scratch, kinds, blobs=blobs)
        self.runs, self.files = Runs(store), JobFiles(blobs, steps_in_job=True)
        slots = self._all_slots = [_Slot(i) for i in range(self.concurrency)]
        app = App(connector=PsycopgConnector(conninfo=self.database.conninfo.get_secret_value(), min_size=1,
                                             max_size=2 + self.concurrency))
        app.task(name=TASK, pass_context=True)(self._task)
        reaper: asyncio.Task[None] | None = None
        handlers = self._signals() if install_signal_handlers else contextlib.nullcontext()
        try:
            with handlers:
                for slot in slots:
                    await slot.start(self.make_kinds, self.settings)
                    self._slots.put_nowait(slot)
                log.info("worker ready: kinds %s, %d at a time, scratch %s", ", ".join(self.queues),
                         self.concurrency, self.scratch)
                reaper = asyncio.create_task(reap_forever(self.runs, self.settings), name="nanococoa-reaper")
                await self._serve(app)
        finally:
            if reaper is not None:
                reaper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reaper
            for slot in self._all_slots:
                await asyncio.to_thread(slot.close)
            await store.close()
            shutil.rmtree(self.scratch, ignore_errors=True)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stopping.is_set():  # a second signal: do not wait for the jobs under way
            log.warning("%s again: exiting now", sig.name)
            os._exit(1)
        log.info("%s: finishing the jobs under way, then exiting (again to exit now)", sig.name)
        self.stop()

    def _lanes(self) -> list[tuple[str, list[str], int]]:
        """(name suffix, queues, concurrency) of each Procrastinate worker: the slots' kinds, and the server
        kinds beside them (their own worker, so a homepage never takes the place of the ads it waits on)."""
        slot_queues = [q for q in self.queues if q not in self.server_kinds]
        server_queues = [q for q in self.queues if q in self.server_kinds]
        lanes = [("", slot_queues, self.concurrency)] if slot_queues else []
        if server_queues:
            lanes.append(("-runs", server_queues, sum(self.server_kinds[q].concurrency for q in server_queues)))
        return lanes

    async def _serve(self, app: Any) -> None:
        """Run Procrastinate's workers, again after a failure (the database out of reach at start)."""
        failures = 0
        worker_class = resilient_worker_class()
        while not self._stopping.is_set():
            try:
                async with app.open_async():
                    one_worker = OneRegistration(app)  # the lanes count, and are judged, as one worker
                    self._procrastinate = [
                        worker_class(
                            one_worker,
                            queues=queues,
                            concurrency=concurrency,
                            name=f"nanococoa-{socket.gethostname()}-{os.getpid()}{suffix}",
                            install_signal_handlers=False,
                            update_heartbeat_interval=self.settings.heartbeat_sec,
                            stalled_worker_timeout=self.settings.stalled_after_sec,
                            fetch_job_polling_interval=1.0,
                            abort_job_polling_interval=1.0,
                            shutdown_graceful_timeout=None,  # a stopping worker finishes its jobs
                        )
                        for suffix, queues, concurrency in self._lanes()
                    ]
                    if self._stopping.is_set():
                        return
                    async with asyncio.TaskGroup() as group:
                        for procrastinate in self._procrastinate:
                            group.create_task(procrastinate.run())
                    failures = 0
            except Exception as exc:  # the database out of reach: try again, as long as we are not stopping
                if isinstance(exc, ExceptionGroup):
                    exc = exc.exceptions[0]
                delay = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
                failures += 1
                log.warning("worker lost the database (%s); again in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
            finally:
                self._procrastinate = []

    # ---------------------------------------------------------------- one job

    async def _task(self, context: Any, job_id: str) -> None:
        """Procrastinate's task: claim the job, run it on a free slot, record its outcome."""
        assert self.runs is not None
        claim = await self.runs.claim(job_id, int(context.job.id), os.getpid())
        if claim is None:
            log.info("job %s: nothing to run (stopped, or settled by an earlier delivery)", job_id)
            return
        if claim.job.kind in self.server_kinds:
            await self._run_beside(claim, self.server_kinds[claim.job.kind])
            return
        try:
            slot = await self._slots.get()
            try:
                await self._run_claimed(claim, slot)
            finally:
                if slot.abandoned:
                    slot = await asyncio.shield(self._replace(slot))
                self._slots.put_nowait(slot)
                await asyncio.to_thread(self._forget, claim.job)
        except asyncio.CancelledError:  # aborted (a stop): recorded here if the job's thread had not done so
            await asyncio.shield(self.runs.stopped(job_id, claim.attempt))
            raise

    async def _run_claimed(self, claim: Claim, slot: _Slot) -> None:
        assert self.runs is not None and self._loop is not None
        kind = slot.kinds[claim.job.kind]
        try:
            ticket = await self._prepare(claim.job, kind)
        except NanococoaError as exc:  # the photo or a checkpoint out of reach: a failure worth another try
            previews = kind.previews(claim.job.job_id, None)
            await self.runs.failed(claim.job, claim.attempt, JobError.from_exception(exc), resumable=kind.resumable,
                                   previews=previews)
            return
        recorder = Recorder(self, claim, ticket, kind, self._loop)
        done = slot.executor.submit(run_job, claim.job.job_id, slot.kinds, recorder, self.settings)
        try:
            await asyncio.shield(asyncio.wrap_future(done))
        except asyncio.CancelledError:  # Procrastinate aborts a task by cancelling it: the job stops at its next step
            recorder.abort.set()
            finished, _ = await asyncio.wait({asyncio.wrap_future(done)}, timeout=self.settings.stop_grace_sec)
            if not finished:  # deaf: the job is stopped here, its thread left behind and its slot replaced
                log.warning("job %s ignored a stop for %.0f s; marking it stopped and replacing its slot",
                            claim.job.job_id, self.settings.stop_grace_sec)
                recorder.abandon()
                slot.abandoned = True
                runs = self.runs
                await asyncio.shield(settle(lambda: runs.stopped(claim.job.job_id, claim.attempt), claim.job.job_id))
            raise

    async def _replace(self, slot: _Slot) -> _Slot:
        """A fresh slot in place of one whose thread ignored a stop (that thread runs on, unwatched)."""
        self.abandoned += 1
        slot.executor.shutdown(wait=False)
        fresh = _Slot(slot.index)
        self._all_slots = [fresh if s is slot else s for s in self._all_slots]
        await fresh.start(self.make_kinds, self.settings)
        return fresh

    async def _run_beside(self, claim: Claim, kind: ServerKind) -> None:
        """A server kind's run, as a task of this loop: progress written (fenced by the attempt) every
        STOP_POLL_S, which also reads a stop; a run that ignores a stop for the grace period is cancelled."""
        assert self.runs is not None
        job, runs = claim.job, self.runs
        tracker = ProgressTracker(kind.eta_plan(job.parameters, job.start_step), inherited_steps(kind.steps, job))
        context = ServerContext(tracker, self.scratch)
        # The run acts for the job's tenant through this worker's own job service (the ads it queues and the
        # shop it reads are that tenant's), as a caller inside the server: the files it names are its own.
        with acting_as(Caller(job.tenant, remote=False)):
            run = asyncio.create_task(kind.run(job, context), name=f"nanococoa-{kind.name}-{job.job_id}")
        stop_deadline: float | None = None
        try:
            while not run.done():
                await asyncio.wait({run}, timeout=STOP_POLL_S)
                if not await self._flush(claim, tracker) and stop_deadline is None:
                    context.stop()
                    stop_deadline = time.monotonic() + self.settings.stop_grace_sec
                if stop_deadline is not None and time.monotonic() > stop_deadline and not run.done():
                    log.warning("%s job %s ignored a stop for %.0f s; cancelling it", kind.name, job.job_id,
                                self.settings.stop_grace_sec)
                    run.cancel()
        except asyncio.CancelledError:  # aborted by Procrastinate (a stop): the run gets its grace, then is cut
            context.stop()
            await asyncio.wait({run}, timeout=self.settings.stop_grace_sec)
            run.cancel()
            with contextlib.suppress(BaseException):
                await run
            await asyncio.shield(settle(lambda: runs.stopped(job.job_id, claim.attempt), job.job_id))
            raise
        tracker.finish()
        await self._flush(claim, tracker)
        exc = None if run.cancelled() else run.exception()
        if run.cancelled() or isinstance(exc, JobStopped) or (context.should_stop() and exc is not None):
            await settle(lambda: runs.stopped(job.job_id, claim.attempt), job.job_id)
            return
        if exc is not None:
            if not isinstance(exc, NanococoaError):
                log.error("%s job %s failed", kind.name, job.job_id, exc_info=exc)
            error = JobError.from_exception(exc) if isinstance(exc, NanococoaError) else JobError(
                error="internal_error", message=f"the job failed unexpectedly ({type(exc).__name__})"
            )
            outcome = await settle(lambda: runs.failed(job, claim.attempt, error, resumable=False,
                                                       previews=Previews()), job.job_id)
            log.info("job %s: %s (%s: %s)", job.job_id, outcome or "not ours any more", error.error, error.message)
            return
        result = run.result()
        previews = kind.previews(job.job_id, result)
        await settle(lambda: runs.completed(job, claim.attempt, result, tracker.durations, previews), job.job_id)

    async def _flush(self, claim: Claim, tracker: ProgressTracker) -> bool:
        """Write the latest progress (or, with none, read the stop flag); whether the run should go on."""
        assert self.runs is not None
        update = tracker.take()
        try:
            if update is not None:
                return await self.runs.report(claim.job.job_id, update, claim.attempt)
            return not await self.runs.should_stop(claim.job.job_id, claim.attempt)
        except StorageUnavailable as exc:  # progress can wait for the database; the run goes on
            log.warning("job %s: progress not recorded (%s)", claim.job.job_id, exc)
            return True

    async def _prepare(self, job: JobTicket, kind: WorkerKind) -> JobTicket:
        """The job as its kind runs it here: its photo fetched, and the finished steps it starts from."""
        assert self.files is not None
        if job.input_path is not None and not job.input_path.is_absolute():
            key = job.input_path.as_posix()
            await self.files.fetch(key, self.scratch / key)
            job = dataclasses.replace(job, input_path=self.scratch / key)
        start = resume_step(kind, job)
        if start > job.start_step:  # a retry: from its own last finished step
            await self.files.download(self.files.steps_key(job.job_id), self.scratch / "steps" / job.job_id)
            return dataclasses.replace(job, start_step=start, parent_id=None)
        if job.parent_id is not None and job.start_step > 1:  # a child: from its parent's steps
            await self.files.download(self.files.steps_key(job.parent_id), self.scratch / "steps" / job.parent_id)
        return job

    def _forget(self, job: JobTicket) -> None:
        """The job's local copies (everything of worth is in the blob store)."""
        for folder in ("jobs", "steps"):
            shutil.rmtree(self.scratch / folder / job.job_id, ignore_errors=True)
        if job.parent_id is not None:
            shutil.rmtree(self.scratch / "steps" / job.parent_id, ignore_errors=True)
        if job.input_path is not None and not job.input_path.is_absolute():
            (self.scratch / job.input_path).unlink(missing_ok=True)

    async def save_steps(self, job_id: str, done: set[str]) -> None:
        assert self.files is not None
        await self.files.upload(self.scratch / "steps" / job_id, self.files.steps_key(job_id), done)

    async def save_results(self, job_id: str, done: set[str]) -> None:
        assert self.files is not None
        await self.save_steps(job_id, done)
        await self.files.upload(self.scratch / "jobs" / job_id, self.files.result_key(job_id))


class Recorder:
    """A distributed job's JobRecorder, called from its slot's thread: every write goes through the worker's
    event loop to the job's row (fenced by the attempt) and its files to the blob store."""

    def __init__(
        self, worker: RemoteWorker, claim: Claim, job: JobTicket, kind: WorkerKind, loop: asyncio.AbstractEventLoop
    ) -> None:
        assert worker.runs is not None
        self.worker = worker
        self.runs = worker.runs
        self.claim = claim
        self.job = job
        self.kind = kind
        self.loop = loop
        self.abort = threading.Event()
        self.abandoned = False  # the job ignored a stop and was marked stopped: whatever it does now is dropped
        self._saved: set[str] = set()
        self._steps_done = len(job.steps_done)
        self._checked_at = 0.0

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def _settle(self, make: Callable[[], Awaitable[T]]) -> T | None:
        return self._call(settle(make, self.job.job_id))

    def abandon(self) -> None:
        self.abandoned = True
        self.abort.set()

    def load(self, job_id: str) -> JobTicket:
        return self.job

    def progress(self, job_id: str, update: ProgressUpdate) -> None:
        if self.abandoned:
            return
        previews = None
        if len(update.steps_done) > self._steps_done:  # a step has finished: its files first, so it can be resumed
            self._call(self.worker.save_steps(job_id, self._saved))
            self._steps_done = len(update.steps_done)
            previews = self.kind.previews(job_id, None)
        try:
            go_on = self._call(self.runs.report(job_id, update, self.claim.attempt, previews))
        except StorageUnavailable as exc:  # progress can wait for the database; the job goes on
            log.warning("job %s: progress not recorded (%s)", job_id, exc)
            return
        if not go_on:
            self.abort.set()

    def stop_requested(self, job_id: str) -> bool:
        now = time.monotonic()
        if not self.abort.is_set() and now - self._checked_at >= STOP_POLL_S:
            self._checked_at = now
            with contextlib.suppress(StorageUnavailable):
                if self._call(self.runs.should_stop(job_id, self.claim.attempt)):
                    self.abort.set()
        return self.abort.is_set()

    def mark_completed(
        self,
        job: JobTicket,
        result: dict[str, Any],
        steps: Sequence[str],
        stage_times: Sequence[tuple[str, float]],
        group: str,
    ) -> None:
        if self.abandoned:
            log.info("job %s: finished after it was marked stopped; its result is dropped", job.job_id)
            return
        self._call(self.worker.save_results(job.job_id, self._saved))
        previews = self.kind.previews(job.job_id, result)
        done = self._settle(lambda: self.runs.completed(self.claim.job, self.claim.attempt, result, stage_times,
                                                        previews))
        if done is False:
            log.info("job %s: finished, but no longer this worker's to complete (another attempt holds it)",
                     job.job_id)

    def mark_failed(self, job_id: str, error: JobError, *, resumable: bool) -> None:
        if self.abandoned:
            return
        previews = self.kind.previews(job_id, None)
        outcome = self._settle(lambda: self.runs.failed(self.claim.job, self.claim.attempt, error,
                                                        resumable=resumable, previews=previews))
        log.info("job %s: %s (%s: %s)", job_id, outcome or "not ours any more", error.error, error.message)

    def mark_stopped(self, job_id: str) -> None:
        if self.abandoned:
            return
        self._settle(lambda: self.runs.stopped(job_id, self.claim.attempt))

    def record_files(self, job_id: str, nbytes: int) -> None:
        with contextlib.suppress(StorageUnavailable):  # a missed weight only under-counts the quota
            self._call(self.runs.record_files(job_id, nbytes))


async def settle(make: Callable[[], Awaitable[T]], job_id: str) -> T | None:
    """A job's outcome, recorded again while the database is out of reach (for SETTLE_FOR_S; after that the
    reaper runs the job again)."""
    deadline = time.monotonic() + SETTLE_FOR_S
    delay = 0.5
    while True:
        try:
            return await make()
        except StorageUnavailable as exc:
            if time.monotonic() > deadline:
                log.error("job %s: could not record its outcome: %s", job_id, exc)
                return None
            log.warning("job %s: recording its outcome again in %.1f s (%s)", job_id, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def reap_forever(runs: Runs, settings: Settings) -> None:
    """Every heartbeat interval, put back in their queue the jobs of workers that stopped answering. After an
    outage of the database (seen here as a failed sweep) it waits a stall time: every heartbeat failed too."""
    blind_until = 0.0
    while True:
        try:
            stalled = await runs.stalled(settings.stalled_after_sec)
            for task_id in stalled if time.monotonic() >= blind_until else []:
                outcome = await runs.reclaim(task_id)
                if outcome is not None:
                    log.warning("queue entry %s of a worker that stopped answering: %s", task_id, outcome)
        except NanococoaError as exc:
            log.warning("reaper: %s", exc)
            blind_until = time.monotonic() + settings.stalled_after_sec + settings.heartbeat_sec
        await asyncio.sleep(settings.heartbeat_sec)


def run_worker(
    settings: Settings,
    make_kinds: WorkerKindsFactory,
    *,
    concurrency: int = 1,
    kinds: Sequence[str] | None = None,
    make_server_kinds: ServerKindsFactory | None = None,
    beside: Callable[[], contextlib.AbstractAsyncContextManager[object]] | None = None,
) -> None:
    """`nanococoa worker` (and each worker process `nanococoa serve --workers N` starts), with `beside` open for
    its lifetime when it runs server kinds (app.py: the job service a homepage's tools reach). Raises
    InvalidInput, StorageError or BackendUnavailable."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    logging.getLogger("procrastinate").setLevel(logging.WARNING)  # a line per job start and end is too much
    worker = RemoteWorker(settings, make_kinds, concurrency=concurrency, kinds=kinds,
                          make_server_kinds=make_server_kinds)
    runs_beside = any(name in worker.server_kinds for name in worker.queues)

    async def main() -> None:
        async with beside() if beside is not None and runs_beside else contextlib.nullcontext():
            await worker.run()

    asyncio.run(main())
    if worker.abandoned:  # a deaf job's thread may never end: do not wait for it at exit
        log.warning("exiting with %d abandoned job thread(s)", worker.abandoned)
        logging.shutdown()
        os._exit(0)

