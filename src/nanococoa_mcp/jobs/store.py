"""Durable job state in SQLite (WAL) under the data directory: the server's async `JobStore` and the
worker process's synchronous `JobWriter`, sharing one schema (migrations.py) and the same statements."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from nanococoa_mcp.ad.catalog.sizes import resolve_size
from nanococoa_mcp.ad.checkpoints import Checkpoints
from nanococoa_mcp.ad.images import DecodedImage, encode_png
from nanococoa_mcp.ad.pipeline import STEPS, AdRequest
from nanococoa_mcp.db.migrations import migrate
from nanococoa_mcp.errors import Conflict, InvalidInput, NotFound
from nanococoa_mcp.jobs import eta
from nanococoa_mcp.jobs.metrics import system_metrics
from nanococoa_mcp.jobs.models import (
    STATES,
    JobError,
    JobKind,
    JobState,
    JobStatus,
    ProgressUpdate,
    QueueFull,
    RecoveryReport,
)
from nanococoa_mcp.storage import StorageError, new_job_id, write_bytes_atomic

DB_NAME = "nanococoa.db"
UPLOAD_EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "HEIF": ".heic", "TIFF": ".tiff", "BMP": ".bmp"}
BUSY_TIMEOUT_MS = 10_000  # the server and every worker write to the same file
HISTORY_KEEP = 200  # stage samples kept per (stage, size); the estimate reads the newest eta.LAST_N




@dataclass(frozen=True, slots=True)
class JobTicket:
    """What a worker needs to run a job."""

    job_id: str
    request: AdRequest
    input_path: Path
    start_step: int
    size: str
    parent_id: str | None = None


def db_path(data_dir: Path) -> Path:
    return data_dir / DB_NAME


def connect_sync(data_dir: Path) -> sqlite3.Connection:
    """A migrated autocommit connection (transactions are explicit), WAL, with a busy timeout."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(db_path(data_dir), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db.row_factory = sqlite3.Row
    for pragma in _PRAGMAS:
        db.execute(pragma)
    migrate(db)
    return db


_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)

_FINISH = """
UPDATE jobs SET status = ?, result = ?, error = ?, resumable = ?, progress_percent = COALESCE(?, progress_percent),
    message = ?, finished_at = ?, updated_at = ?, worker_pid = NULL
WHERE id = ? AND status = 'running'
"""


_PROGRESS = """
UPDATE jobs SET progress_percent = MAX(progress_percent, ?), current_step = ?, sub_step = ?,
    message = ?, stage_index = ?, stage_started_at = ?, steps_done = ?, updated_at = ?
WHERE id = ? AND status = 'running'
"""


def _progress_params(job_id: str, update: ProgressUpdate) -> tuple[object, ...]:
    return (
        update.percent,
        update.step,
        update.sub_step,
        update.message,
        update.stage_index,
        update.stage_started_at,
        json.dumps(update.steps_done),
        time.time(),
        job_id,
    )


def _finish_params(
    job_id: str,
    status: JobState,
    message: str,
    result: dict[str, Any] | None = None,
    error: JobError | None = None,
    resumable: bool = False,
) -> tuple[object, ...]:
    now = time.time()
    return (
        status,
        json.dumps(result, ensure_ascii=False) if result is not None else None,
        error.model_dump_json() if error is not None else None,
        int(resumable),
        100.0 if status == "completed" else None,
        message,
        now,
        now,
        job_id,
    )


def _size_key(parameters: dict[str, Any]) -> str:
    try:
        return resolve_size(str(parameters.get("size", ""))).id
    except InvalidInput:  # stored before a preset was renamed: the raw name still groups its history
        return str(parameters.get("size", ""))


def _storage_error(data_dir: Path, exc: Exception) -> StorageError:
    return StorageError(
        f"cannot write under {data_dir}: {getattr(exc, 'strerror', None) or exc}",
        field="data_dir",
        accepted="a writable NANOCOCOA_DATA_DIR with free space",
    )


def _not_found(job_id: str, name: str = "job_id") -> NotFound:
    return NotFound(f"no job {job_id!r}", field=name, accepted="a job id from generate_ad_image or list_jobs")


def _to_status(
    row: sqlite3.Row,
    now: float,
    learnt: dict[str, float],
    queue_position: int | None,
    running: int,
    workers: int,
    scene_model: bool = False,
) -> JobStatus:
    parameters = json.loads(row["parameters"])
    started, finished = row["started_at"], row["finished_at"]
    eta_s = step_eta = None
    if row["status"] in ("queued", "running") and row["kind"] == "ad":  # a homepage run has no learnt plan
        plan = eta.stage_plan(int(parameters.get("variants", 1)), row["start_step"], scene_model)
        in_stage = now - row["stage_started_at"] if row["stage_started_at"] else 0.0
        eta_s, step_eta = eta.estimate(plan, row["stage_index"], in_stage, learnt)
        if eta_s is not None and queue_position is not None:
            # The jobs ahead (queued before it, or running) are assumed to be like this one, spread over the workers.
            eta_s = round(eta_s * (1 + (queue_position - 1 + running) // max(1, workers)), 2)
    return JobStatus(
        job_id=row["id"],
        kind=row["kind"],
        status=row["status"],
        progress_percent=row["progress_percent"],
        current_step=row["current_step"],
        sub_step=row["sub_step"],
        message=row["message"],
        elapsed_sec=round(((finished or now) - started) if started else 0.0, 2),
        eta_seconds=eta_s,
        step_eta_seconds=step_eta,
        system_metrics=None,
        parameters=parameters,
        queue_position=queue_position,
        parent_id=row["parent_id"],
        start_step=row["start_step"],
        steps_done=json.loads(row["steps_done"]),
        resumable=bool(row["resumable"]),
        error=JobError.model_validate_json(row["error"]) if row["error"] else None,
        result=json.loads(row["result"]) if row["result"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class JobStore:
    """The server's view of the jobs table. Open with `await JobStore.open(data_dir)`; close when done."""

    def __init__(self, db: aiosqlite.Connection, data_dir: Path, workers: int) -> None:
        self.db = db
        self.data_dir = data_dir
        self.workers = workers  # only for the queue-wait part of a queued job's ETA
        self.scene_model = False  # the workers repaint scenes with a diffusion model (an extra ETA stage)
        # One connection serves every coroutine: a transaction must not interleave with another's statements.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, data_dir: Path, workers: int = 1) -> JobStore:
        """Raises StorageError when the data directory cannot hold the database."""
        try:
            await asyncio.to_thread(lambda: connect_sync(data_dir).close())  # migrations, WAL
        except (OSError, sqlite3.Error) as exc:
            raise _storage_error(data_dir, exc) from exc
        db = await aiosqlite.connect(db_path(data_dir), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        db.row_factory = sqlite3.Row
        for pragma in _PRAGMAS[1:]:
            await db.execute(pragma)
        return cls(db, data_dir, workers)

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> JobStore:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        await self.close()

    async def create(
        self,
        request: AdRequest,
        image: DecodedImage | None,
        *,
        parent_id: str | None = None,
        start_step: int = 1,
        max_queued: int | None = None,
    ) -> JobStatus:
        """Queue a job. `image` may be None for a child job, which reuses its parent's photo.

        Raises InvalidInput (bad start_step or missing photo), NotFound (unknown parent) or QueueFull;
        a refused job leaves no row and no file.
        """
        if not 1 <= start_step <= len(STEPS):
            raise InvalidInput(f"start_step {start_step} does not exist", field="start_step", accepted="1, 2 or 3")
        if start_step > 1 and parent_id is None:
            raise InvalidInput(
                "a job from step 2 or 3 reuses a parent's earlier steps", field="parent_id", accepted="a job id"
            )
        async with self._lock:
            await self._check_room(max_queued)  # refuse early, before encoding and writing anything
        job_id = new_job_id()
        # The upload is written before the transaction, which stays short (readers wait on the lock):
        # the file as received (already validated), re-encoded only when there is none.
        upload: Path | None = None
        if image is not None:
            ext = UPLOAD_EXT.get(image.format, "")
            data = image.source if image.source and ext else await asyncio.to_thread(encode_png, image.rgba)
            path = self.data_dir / "uploads" / f"{job_id}{ext or '.png'}"
            try:
                await asyncio.to_thread(write_bytes_atomic, path, data, fsync=False)
            except OSError as exc:  # nothing was written: the write is atomic
                raise _storage_error(self.data_dir, exc) from exc
            upload = path
        try:
            async with self._lock:
                await self.db.execute("BEGIN IMMEDIATE")
                try:
                    await self._check_room(max_queued)
                    input_path = await self._input_for(parent_id, start_step, upload is None)
                    await self._insert(job_id, request, upload or input_path, parent_id, start_step)
                    await self.db.execute("COMMIT")
                except BaseException:
                    await self.db.execute("ROLLBACK")
                    raise
        except BaseException:
            if upload is not None:
                upload.unlink(missing_ok=True)
            raise
        return await self.get(job_id, metrics=False)

    async def _check_room(self, max_queued: int | None) -> None:
        if max_queued is None:
            return
        queued = await self._scalar("SELECT COUNT(*) FROM jobs WHERE status = 'queued'")
        if queued >= max_queued:
            raise QueueFull(
                f"the queue is full ({queued} jobs waiting)",
                field="queue",
                accepted=f"at most {max_queued} waiting jobs; retry when one has started",
            )

    async def _input_for(self, parent_id: str | None, start_step: int, need_photo: bool) -> Path:
        if parent_id is None:
            if need_photo:
                raise InvalidInput("no product photo was given", field="product_image", accepted="an image")
            return Path()  # replaced by the new upload's path
        async with self.db.execute("SELECT status, input_path, steps_done FROM jobs WHERE id = ?", (parent_id,)) as cur:
            parent = await cur.fetchone()
        if parent is None:
            raise _not_found(parent_id, "parent_id")
        done = json.loads(parent["steps_done"])
        if start_step > 1 and parent["status"] != "completed" and len(done) < start_step - 1:
            raise Conflict(
                f"the parent job finished {len(done)} step(s); step {start_step} needs {start_step - 1}",
                field="start_step",
                accepted=f"at most {len(done) + 1}",
            )
        return Path(parent["input_path"])

    async def _insert(
        self, job_id: str, request: AdRequest, input_path: Path, parent_id: str | None, start_step: int
    ) -> None:
        now = time.time()
        seq = await self._scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs")
        await self.db.execute(
            """INSERT INTO jobs (id, seq, status, parameters, input_path, parent_id, start_step, message,
                                 created_at, updated_at)
               VALUES (?, ?, 'queued', ?, ?, ?, ?, 'Waiting for a worker', ?, ?)""",
            (job_id, seq, request.model_dump_json(), str(input_path), parent_id, start_step, now, now),
        )

    async def _scalar(self, sql: str, params: tuple[object, ...] = ()) -> int:
        async with self.db.execute(sql, params) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def _write(self, sql: str, params: tuple[object, ...]) -> list[sqlite3.Row]:
        async with self._lock, self.db.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def get(self, job_id: str, *, metrics: bool = True) -> JobStatus:
        """The job's status with ETA and (by default) system metrics. Raises NotFound."""
        async with self._lock:  # never a row of another coroutine's open transaction
            async with self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
                row = await cur.fetchone()
            if row is None:
                raise _not_found(job_id)
            position = None
            if row["status"] == "queued":  # each kind has its own queue
                position = 1 + await self._scalar(
                    "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND kind = ? AND seq < ?",
                    (row["kind"], row["seq"]),
                )
            learnt = await self._learnt(_size_key(json.loads(row["parameters"])))
            running = await self._scalar("SELECT COUNT(*) FROM jobs WHERE status = 'running' AND kind = 'ad'")
        status = self._with_previews(
            _to_status(row, time.time(), learnt, position, running, self.workers, self.scene_model)
        )
        if metrics:
            status.system_metrics = await asyncio.to_thread(system_metrics)
        return status

    async def list_jobs(
        self, status: JobState | None = None, limit: int = 20, kind: JobKind | None = None
    ) -> list[JobStatus]:
        """Recent jobs first, optionally only those in one state or of one kind (no system metrics)."""
        conditions = [c for c, v in (("status = ?", status), ("kind = ?", kind)) if v]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        params = (*(v for v in (status, kind) if v), limit)
        learnt_by_size: dict[str, dict[str, float]] = {}
        async with self._lock:
            async with self.db.execute(f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ?", params) as cur:
                rows = list(await cur.fetchall())
            positions: dict[str, int] = {}
            per_kind: dict[str, int] = {}
            async with self.db.execute("SELECT id, kind FROM jobs WHERE status = 'queued' ORDER BY seq") as cur:
                for r in await cur.fetchall():
                    per_kind[r["kind"]] = positions[r["id"]] = per_kind.get(r["kind"], 0) + 1
            running = await self._scalar("SELECT COUNT(*) FROM jobs WHERE status = 'running' AND kind = 'ad'")
            for row in rows:
                size = _size_key(json.loads(row["parameters"]))
                if size not in learnt_by_size:
                    learnt_by_size[size] = await self._learnt(size)
        now = time.time()
        out = []
        for row in rows:
            size = _size_key(json.loads(row["parameters"]))
            position = positions.get(row["id"])
            out.append(
                self._with_previews(
                    _to_status(row, now, learnt_by_size[size], position, running, self.workers, self.scene_model)
                )
            )
        return out

    async def counts(self) -> dict[str, int]:
        """Jobs by status (every status present, zero when none)."""
        out: dict[str, int] = {s: 0 for s in STATES}
        async with self._lock, self.db.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status") as cur:
            for row in await cur.fetchall():
                out[row["status"]] = row["n"]
        return out

    def _with_previews(self, status: JobStatus) -> JobStatus:
        step1 = Checkpoints(self.data_dir, status.job_id).preview(1)
        status.step1_result = str(step1) if step1 is not None else None
        if status.result and status.result.get("variants"):
            status.final_result = status.result["variants"][0]["image_path"]
        return status

    async def _learnt(self, size: str) -> dict[str, float]:
        # The newest few per (stage, size) is all the estimate reads.
        async with self.db.execute(
            """SELECT stage, size, seconds FROM (
                   SELECT stage, size, seconds, id,
                          ROW_NUMBER() OVER (PARTITION BY stage, size ORDER BY id DESC) AS n FROM stage_times)
               WHERE n <= ? ORDER BY id DESC""",
            (eta.LAST_N,),
        ) as cur:
            samples = [(r["stage"], r["size"], r["seconds"]) for r in await cur.fetchall()]
        return eta.medians(samples, size)

    async def claim_next(self, worker_pid: int, kind: JobKind = "ad") -> str | None:
        """Atomically move the oldest queued job of `kind` to running for `worker_pid`; its id, or None."""
        now = time.time()
        rows = await self._write(
            """UPDATE jobs SET status = 'running', worker_pid = ?, started_at = ?, updated_at = ?,
                   message = 'Starting', stage_index = -1, stage_started_at = NULL
               WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND kind = ? ORDER BY seq LIMIT 1)
                 AND status = 'queued'
               RETURNING id""",
            (worker_pid, now, now, kind),
        )
        return str(rows[0]["id"]) if rows else None

    async def create_homepage(self, parameters: dict[str, Any], *, max_queued: int | None = None) -> JobStatus:
        """Queue a homepage job (run by the server's HomepageRunner, never by an ad worker). Raises QueueFull."""
        job_id = new_job_id()
        now = time.time()
        async with self._lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                await self._check_room(max_queued)
                seq = await self._scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs")
                await self.db.execute(
                    """INSERT INTO jobs (id, seq, kind, status, parameters, message, created_at, updated_at)
                       VALUES (?, ?, 'homepage', 'queued', ?, 'Waiting for the homepage runner', ?, ?)""",
                    (job_id, seq, json.dumps(parameters, ensure_ascii=False), now, now),
                )
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
        return await self.get(job_id, metrics=False)

    async def parameters(self, job_id: str) -> dict[str, Any]:
        """A job's stored parameters. Raises NotFound."""
        rows = await self._write("SELECT parameters FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise _not_found(job_id)
        return dict(json.loads(rows[0]["parameters"]))

    async def progress(self, job_id: str, update: ProgressUpdate) -> None:
        """The server-side twin of JobWriter.progress (a homepage run reports from the server's loop)."""
        await self._write(_PROGRESS, _progress_params(job_id, update))

    async def stop_requested(self, job_id: str) -> bool:
        rows = await self._write("SELECT stop_requested FROM jobs WHERE id = ?", (job_id,))
        return bool(not rows or rows[0]["stop_requested"])

    async def mark_completed(self, job_id: str, result: dict[str, Any]) -> None:
        """Complete a running job with its result (no effect once it has finished otherwise)."""
        await self._write(_FINISH, _finish_params(job_id, "completed", "Done", result=result))

    async def request_stop(self, job_id: str) -> JobStatus:
        """Stop a queued job now, or flag a running one for its worker; finished jobs are left as they are.

        Raises NotFound.
        """
        now = time.time()
        await self._write(
            """UPDATE jobs SET status = 'stopped', message = 'Stopped before it started', finished_at = ?,
                   updated_at = ? WHERE id = ? AND status = 'queued'""",
            (now, now, job_id),
        )
        await self._write(
            """UPDATE jobs SET stop_requested = 1, message = 'Stopping', updated_at = ?
               WHERE id = ? AND status = 'running'""",
            (now, job_id),
        )
        return await self.get(job_id, metrics=False)

    async def mark_failed(self, job_id: str, error: JobError, *, resumable: bool) -> None:
        """Fail a running job (no effect once it has finished otherwise)."""
        await self._write(_FINISH, _finish_params(job_id, "failed", error.message, error=error, resumable=resumable))

    async def mark_stopped(self, job_id: str) -> None:
        await self._write(_FINISH, _finish_params(job_id, "stopped", "Stopped"))

    async def recover(self) -> RecoveryReport:
        """At start-up, before any worker runs: settle the jobs a dead process left `running`.

        An ad job with no finished step goes back to the queue in its old place; one with finished steps
        fails as resumable (re-run it from `start_step` as a child); one being stopped is stopped. A
        homepage job always goes back to the queue: its run resumes from the workflow's own checkpoint.
        """
        async with self.db.execute(
            "SELECT id, kind, steps_done, stop_requested FROM jobs WHERE status = 'running'"
        ) as cur:
            rows = list(await cur.fetchall())
        report = RecoveryReport(requeued=[], failed=[], stopped=[])
        for row in rows:
            done = json.loads(row["steps_done"])
            if row["stop_requested"]:
                await self.mark_stopped(row["id"])
                report.stopped.append(row["id"])
            elif not done or row["kind"] == "homepage":
                await self._requeue(row["id"])
                report.requeued.append(row["id"])
            else:
                error = JobError(
                    error="interrupted",
                    message=f"the server stopped during this job after {', '.join(done)}",
                    field="start_step",
                    accepted=f"re-run as a child job with start_step up to {len(done) + 1}",
                )
                await self.mark_failed(row["id"], error, resumable=True)
                report.failed.append(row["id"])
        return report

    async def _requeue(self, job_id: str) -> None:
        await self._write(
            """UPDATE jobs SET status = 'queued', worker_pid = NULL, started_at = NULL, progress_percent = 0,
                   current_step = NULL, sub_step = NULL, stage_index = -1, stage_started_at = NULL,
                   message = 'Re-queued after a restart', updated_at = ?
               WHERE id = ? AND status = 'running'""",
            (time.time(), job_id),
        )


class JobWriter:
    """The worker process's synchronous access: load a job, report progress, record its outcome."""

    def __init__(self, data_dir: Path) -> None:
        self.db = connect_sync(data_dir)

    def close(self) -> None:
        self.db.close()

    def load(self, job_id: str) -> JobTicket:
        """Raises NotFound when the job is not running (stopped or settled elsewhere meanwhile)."""
        row = self.db.execute(
            "SELECT parameters, input_path, start_step, parent_id FROM jobs WHERE id = ? AND status = 'running'",
            (job_id,),
        ).fetchone()
        if row is None:
            raise _not_found(job_id)
        parameters = json.loads(row["parameters"])
        return JobTicket(
            job_id=job_id,
            request=AdRequest.model_validate(parameters),
            input_path=Path(row["input_path"]),
            start_step=row["start_step"],
            size=_size_key(parameters),
            parent_id=row["parent_id"],
        )

    def progress(self, job_id: str, update: ProgressUpdate) -> None:
        self.db.execute(_PROGRESS, _progress_params(job_id, update))

    def stop_requested(self, job_id: str) -> bool:
        row = self.db.execute("SELECT stop_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row is None or row["stop_requested"])

    def complete(self, job_id: str, result: dict[str, Any], stage_times: list[tuple[str, float]], size: str) -> None:
        """Record the result and the job's stage durations (the ETA's history) in one transaction."""
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("UPDATE jobs SET steps_done = ? WHERE id = ?", (json.dumps(list(STEPS)), job_id))
            self.db.execute(_FINISH, _finish_params(job_id, "completed", "Done", result=result))
            self.db.executemany(
                "INSERT INTO stage_times (stage, size, seconds, job_id, recorded_at) VALUES (?, ?, ?, ?, ?)",
                [(stage, size, seconds, job_id, now) for stage, seconds in stage_times],
            )
            for stage in {s for s, _ in stage_times}:
                self.db.execute(
                    """DELETE FROM stage_times WHERE stage = ? AND size = ? AND id NOT IN
                       (SELECT id FROM stage_times WHERE stage = ? AND size = ? ORDER BY id DESC LIMIT ?)""",
                    (stage, size, stage, size, HISTORY_KEEP),
                )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def fail(self, job_id: str, error: JobError, *, resumable: bool) -> None:
        self.db.execute(_FINISH, _finish_params(job_id, "failed", error.message, error=error, resumable=resumable))

    def stopped(self, job_id: str) -> None:
        self.db.execute(_FINISH, _finish_params(job_id, "stopped", "Stopped"))
