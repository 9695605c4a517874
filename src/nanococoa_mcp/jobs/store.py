"""Durable job state for every kind of job, in SQLite (WAL) under the data directory or in PostgreSQL: the
server's async `JobStore` queues, claims, follows, stops and recovers jobs with the same statements on either
database (db/access.py); the embedded worker processes write through `JobWriter` with the same statements
(rows.py). On PostgreSQL a queued job is dispatched through Procrastinate in its row's transaction (queue.py).
Uploads go to the blob store. What a job makes is its kind's business (kinds.py).

Every job belongs to the tenant that queued it (tenancy.py's current caller): a door's calls see, follow and stop
only their own tenant's jobs; another's are answered NotFound, as if they did not exist. The worker side
(claims, progress, outcomes, recovery) works on any job by id."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nanococoa_mcp.blobs import Blobs, FileBlobs
from nanococoa_mcp.db.access import PostgresAccess, Row, Session, SqlAccess, SqliteAccess
from nanococoa_mcp.db.connection import connect_async
from nanococoa_mcp.errors import Conflict, InvalidInput
from nanococoa_mcp.jobs import eta, quotas, rows
from nanococoa_mcp.jobs.kinds import JobKind
from nanococoa_mcp.jobs.metrics import system_metrics
from nanococoa_mcp.jobs.models import (
    STATES,
    InputFile,
    JobError,
    JobState,
    JobStatus,
    JobTicket,
    Previews,
    ProgressUpdate,
    QueueFull,
    RecoveryReport,
)
from nanococoa_mcp.jobs.queue import Dispatch, ProcrastinateDispatch
from nanococoa_mcp.jobs.quotas import Quotas
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.storage import StorageError, new_job_id
from nanococoa_mcp.tenancy import current_caller

WORKER_LANE = "worker"  # every worker kind shares the worker processes; a server kind queues on its own


def _choices(n: int) -> str:
    """1 → "1"; 3 → "1, 2 or 3"."""
    numbers = [str(i) for i in range(1, n + 1)]
    return numbers[0] if n == 1 else f"{', '.join(numbers[:-1])} or {numbers[-1]}"


class JobStore:
    """The server's view of the jobs table. Open with `await JobStore.open(data_dir, kinds)` (SQLite) or
    `await JobStore.open_postgres(...)`; close when done."""

    def __init__(
        self,
        sql: SqlAccess,
        data_dir: Path,
        kinds: Sequence[JobKind],
        workers: int,
        *,
        blobs: Blobs | None = None,
        dispatch: Dispatch | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        self.sql = sql
        self.data_dir = data_dir
        self.kinds: dict[str, JobKind] = {kind.name: kind for kind in kinds}
        self.workers = workers  # only for the queue-wait part of a queued job's ETA
        # Uploads: files under the data dir (their loss in a power cut is no worse than their row's), or S3.
        self.blobs = blobs if blobs is not None else FileBlobs(data_dir, fsync=False, setting="data_dir")
        self.dispatch = dispatch
        self.quotas = quotas or Quotas()  # per tenant; set by app.py from the settings
        # PostgreSQL lets concurrent claims pass each other; SQLite has one writer anyway.
        self._skip_locked = " FOR UPDATE SKIP LOCKED" if sql.dialect == "postgresql" else ""

    @classmethod
    async def open(
        cls, data_dir: Path, kinds: Sequence[JobKind], workers: int = 1, *, quotas: Quotas | None = None
    ) -> JobStore:
        """Raises StorageError when the data directory cannot hold the database."""
        return cls(SqliteAccess(await connect_async(data_dir)), data_dir, kinds, workers, quotas=quotas)

    @classmethod
    async def open_postgres(
        cls,
        database: PostgresDatabase,
        data_dir: Path,
        kinds: Sequence[JobKind],
        workers: int = 1,
        *,
        blobs: Blobs | None = None,
        dispatch: Dispatch | None = None,
        quotas: Quotas | None = None,
    ) -> JobStore:
        """The store on a migrated PostgreSQL database (`nanococoa db upgrade`), dispatching through
        Procrastinate unless told otherwise. Raises StorageError or BackendUnavailable."""
        dispatch = dispatch if dispatch is not None else ProcrastinateDispatch(database)
        access = await PostgresAccess.open(database)
        return cls(access, data_dir, kinds, workers, blobs=blobs, dispatch=dispatch, quotas=quotas)

    async def close(self) -> None:
        await self.sql.close()
        await self.blobs.close()

    async def __aenter__(self) -> JobStore:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        await self.close()

    def kind(self, name: str) -> JobKind:
        """Raises InvalidInput for a kind this runtime does not run."""
        kind = self.kinds.get(name)
        if kind is None:
            raise InvalidInput(f"unknown job kind {name!r}", field="kind", accepted=", ".join(self.kinds))
        return kind

    def _lane_name(self, kind: str) -> str:
        """The queue `kind` waits in: every worker kind shares the workers'; a server kind has its own."""
        spec = self.kinds.get(kind)
        return WORKER_LANE if spec is not None and spec.runs_in == WORKER_LANE else kind

    def _lane(self, kind: str) -> list[str]:
        """The kinds that queue with `kind`."""
        lane = self._lane_name(kind)
        return [k for k in self.kinds if self._lane_name(k) == lane] or [kind]

    # ---------------------------------------------------------------- queueing

    async def create(
        self,
        kind: str,
        parameters: Mapping[str, Any],
        *,
        input_file: InputFile | None = None,
        parent_id: str | None = None,
        start_step: int = 1,
        max_queued: int | None = None,
    ) -> JobStatus:
        """Queue a job of `kind`. A child job (`parent_id`) without an input file reuses its parent's.

        The job belongs to the current caller's tenant; a parent must be one of its own.

        Raises InvalidInput (bad parameters, kind or start_step), NotFound (unknown parent, or another tenant's),
        Conflict (a parent without the steps the child needs), QueueFull or QuotaExceeded; a refused job leaves
        no row and no file.
        """
        spec = self.kind(kind)
        checked = spec.check(parameters)
        if not 1 <= start_step <= len(spec.steps):
            raise InvalidInput(
                f"start_step {start_step} does not exist", field="start_step", accepted=_choices(len(spec.steps))
            )
        if start_step > 1 and parent_id is None:
            raise InvalidInput(
                f"a job from step {start_step} reuses a parent's earlier steps", field="parent_id", accepted="a job id"
            )
        tenant = current_caller().tenant
        size = len(input_file.data) if input_file is not None else 0
        async with self.sql.session() as s:  # refuse early, before writing anything
            await self._check_room(s, max_queued)
            await quotas.check(s, self.quotas, tenant, new_job=True, adding_bytes=size)
        job_id = new_job_id()
        # The input is written before the transaction, which stays short (writers wait on its lock).
        upload: str | None = None
        if input_file is not None:
            upload = f"uploads/{job_id}{input_file.suffix}"
            await self.blobs.put(upload, input_file.data)  # atomic: nothing is left when it fails
        try:
            async with self.sql.transaction() as tx:
                await self._check_room(tx, max_queued)
                await quotas.check(tx, self.quotas, tenant, new_job=True, adding_bytes=size)
                inherited = await self._parent_input(tx, kind, parent_id, start_step, tenant)
                given = self.blob_ref(upload) if upload is not None else inherited
                await self._insert(tx, job_id, kind, checked, given, parent_id, start_step, tenant, size)
                if self.dispatch is not None:
                    # Each kind has its own queue, so a worker may take only some kinds (`--kinds`); a server
                    # kind (a homepage) runs beside a worker's slots, never in one.
                    task_id = await self.dispatch.queued(tx, job_id, kind)
                    await tx.execute("UPDATE jobs SET task_id = ? WHERE id = ?", (task_id, job_id))
        except BaseException:
            if upload is not None:
                with contextlib.suppress(StorageError):  # the refusal matters more than a stray upload
                    await self.blobs.delete(upload)
            raise
        return await self.get(job_id, metrics=False)

    def blob_ref(self, key: str) -> str:
        """What a row holds of a blob (a job's upload, a shop's photo): on the embedded stack the file's path
        (what a worker process opens), on the distributed one the blob key (any machine fetches it)."""
        return str(self.blobs.local_path(key)) if self.dispatch is None and isinstance(self.blobs, FileBlobs) else key

    async def _check_room(self, s: Session, max_queued: int | None) -> None:
        if max_queued is None:
            return
        queued = await _scalar(s, "SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued'")
        if queued >= max_queued:
            raise QueueFull(
                f"the queue is full ({queued} jobs waiting)",
                field="queue",
                accepted=f"at most {max_queued} waiting jobs; retry when one has started",
            )

    async def _parent_input(
        self, s: Session, kind: str, parent_id: str | None, start_step: int, tenant: str
    ) -> str | None:
        if parent_id is None:
            return None
        parent = await s.fetchone(
            "SELECT kind, status, input_path, steps_done FROM jobs WHERE id = ? AND tenant = ?", (parent_id, tenant)
        )
        if parent is None:
            raise rows.not_found(parent_id, "parent_id")
        if parent["kind"] != kind:
            raise InvalidInput(
                f"the parent job is a {parent['kind']} job", field="parent_id", accepted=f"the id of a {kind} job"
            )
        done = json.loads(parent["steps_done"])
        if start_step > 1 and parent["status"] != "completed" and len(done) < start_step - 1:
            raise Conflict(
                f"the parent job finished {len(done)} step(s); step {start_step} needs {start_step - 1}",
                field="start_step",
                accepted=f"at most {len(done) + 1}",
            )
        return str(parent["input_path"]) if parent["input_path"] else None

    async def _insert(
        self,
        s: Session,
        job_id: str,
        kind: str,
        parameters: dict[str, Any],
        input_path: str | None,
        parent_id: str | None,
        start_step: int,
        tenant: str,
        upload_bytes: int,
    ) -> None:
        now = time.time()
        seq = await _scalar(s, "SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM jobs")
        await s.execute(
            """INSERT INTO jobs (id, seq, kind, status, parameters, input_path, parent_id, start_step, message,
                                 created_at, updated_at, tenant, upload_bytes)
               VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                job_id,
                seq,
                kind,
                json.dumps(parameters, ensure_ascii=False),
                input_path,
                parent_id,
                start_step,
                "Waiting for a worker" if self._lane_name(kind) == WORKER_LANE else "Waiting to start",
                now,
                now,
                tenant,
                upload_bytes,
            ),
        )

    async def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[Row]:
        return await self.sql.fetchall(sql, params)

    # ---------------------------------------------------------------- reading

    async def get(self, job_id: str, *, metrics: bool = True) -> JobStatus:
        """The job's status with ETA and (by default) system metrics. Raises NotFound (also for another
        tenant's job)."""
        async with self.sql.session() as s:  # never a row of another coroutine's open transaction
            row = await s.fetchone("SELECT * FROM jobs WHERE id = ? AND tenant = ?", (job_id, current_caller().tenant))
            if row is None:
                raise rows.not_found(job_id)
            lane = self._lane(row["kind"])
            marks = ", ".join("?" * len(lane))
            position = None
            if row["status"] == "queued":
                position = 1 + await _scalar(
                    s,
                    f"SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND kind IN ({marks}) AND seq < ?",
                    (*lane, row["seq"]),
                )
            running = await _scalar(
                s, f"SELECT COUNT(*) AS n FROM jobs WHERE status = 'running' AND kind IN ({marks})", tuple(lane)
            )
            learnt = await self._learnt_for(s, row)
        status = self._to_status(row, time.time(), learnt, position, running)
        if metrics:
            status.system_metrics = await asyncio.to_thread(system_metrics)
        return status

    async def list_jobs(
        self, status: JobState | None = None, limit: int = 20, kind: str | None = None
    ) -> list[JobStatus]:
        """The tenant's recent jobs first, optionally only those in one state or of one kind (no system
        metrics)."""
        conditions = ["tenant = ?", *(c for c, v in (("status = ?", status), ("kind = ?", kind)) if v)]
        where = f"WHERE {' AND '.join(conditions)}"
        params = (current_caller().tenant, *(v for v in (status, kind) if v), limit)
        learnt: dict[tuple[str, str], dict[str, float]] = {}
        async with self.sql.session() as s:
            found = await s.fetchall(f"SELECT * FROM jobs {where} ORDER BY seq DESC LIMIT ?", params)
            positions: dict[str, int] = {}
            per_lane: dict[str, int] = {}
            running: dict[str, int] = {}
            for r in await s.fetchall(
                "SELECT id, kind, status FROM jobs WHERE status IN ('queued', 'running') ORDER BY seq"
            ):
                lane = self._lane_name(r["kind"])
                if r["status"] == "queued":
                    per_lane[lane] = positions[r["id"]] = per_lane.get(lane, 0) + 1
                else:
                    running[lane] = running.get(lane, 0) + 1
            for row in found:
                key = (row["kind"], self._group(row))
                if key not in learnt:
                    learnt[key] = await self._learnt_for(s, row)
        now = time.time()
        return [
            self._to_status(
                row,
                now,
                learnt[(row["kind"], self._group(row))],
                positions.get(row["id"]),
                running.get(self._lane_name(row["kind"]), 0),
            )
            for row in found
        ]

    async def counts(self) -> dict[str, int]:
        """The tenant's jobs by status (every status present, zero when none)."""
        out: dict[str, int] = {s: 0 for s in STATES}
        found = await self._rows(
            "SELECT status, COUNT(*) AS n FROM jobs WHERE tenant = ? GROUP BY status", (current_caller().tenant,)
        )
        for row in found:
            out[row["status"]] = row["n"]
        return out

    async def queued_total(self) -> int:
        """Jobs waiting, every tenant's: how full the one queue is."""
        return int((await self._rows("SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued'"))[0]["n"])

    async def owns(self, job_id: str) -> bool:
        """Whether the job exists and is the current caller's tenant's."""
        tenant = current_caller().tenant
        found = await self._rows("SELECT 1 AS n FROM jobs WHERE id = ? AND tenant = ?", (job_id, tenant))
        return bool(found)

    async def kind_of(self, job_id: str) -> str | None:
        """A job's kind, whoever owns it (the runtime's own bookkeeping); None for no such job."""
        found = await self._rows("SELECT kind FROM jobs WHERE id = ?", (job_id,))
        return str(found[0]["kind"]) if found else None

    async def results(self, kind: str) -> list[dict[str, Any]]:
        """The results of the tenant's completed jobs of `kind`, newest first."""
        found = await self._rows(
            "SELECT result FROM jobs WHERE tenant = ? AND kind = ? AND status = 'completed' ORDER BY seq DESC",
            (current_caller().tenant, kind),
        )
        return [dict(json.loads(r["result"])) for r in found if r["result"]]

    async def record_files(self, job_id: str, nbytes: int) -> None:
        """What a job's results and checkpoints weigh, for its tenant's stored-megabytes quota."""
        await self._rows(*rows.files_bytes(job_id, nbytes))

    async def parameters(self, job_id: str) -> dict[str, Any]:
        """A job's stored parameters. Raises NotFound (also for another tenant's job)."""
        found = await self._rows(
            "SELECT parameters FROM jobs WHERE id = ? AND tenant = ?", (job_id, current_caller().tenant)
        )
        if not found:
            raise rows.not_found(job_id)
        return dict(json.loads(found[0]["parameters"]))

    async def unfinished_parameters(self, kind: str) -> list[dict[str, Any]]:
        """The parameters of every queued or running job of `kind` (what they still need on disk)."""
        found = await self._rows(
            "SELECT parameters FROM jobs WHERE kind = ? AND status IN ('queued', 'running')", (kind,)
        )
        return [dict(json.loads(r["parameters"])) for r in found]

    def _group(self, row: Row) -> str:
        spec = self.kinds.get(row["kind"])
        return spec.eta_group(json.loads(row["parameters"])) if spec is not None else ""

    async def _learnt_for(self, s: Session, row: Row) -> dict[str, float]:
        # The newest few per (stage, group) of this kind is all the estimate reads.
        found = await s.fetchall(
            """SELECT stage, eta_group, seconds FROM (
                   SELECT stage, eta_group, seconds, id,
                          ROW_NUMBER() OVER (PARTITION BY stage, eta_group ORDER BY id DESC) AS n
                   FROM stage_times WHERE kind = ?) AS recent
               WHERE n <= ? ORDER BY id DESC""",
            (row["kind"], eta.LAST_N),
        )
        samples = [(r["stage"], r["eta_group"], r["seconds"]) for r in found]
        return eta.medians(samples, self._group(row))

    def _to_status(
        self, row: Row, now: float, learnt: dict[str, float], queue_position: int | None, running: int
    ) -> JobStatus:
        parameters = json.loads(row["parameters"])
        result = json.loads(row["result"]) if row["result"] else None
        spec = self.kinds.get(row["kind"])
        started, finished = row["started_at"], row["finished_at"]
        eta_s = step_eta = None
        if spec is not None and row["status"] in ("queued", "running"):
            plan = spec.eta_plan(parameters, row["start_step"])
            in_stage = now - row["stage_started_at"] if row["stage_started_at"] else 0.0
            eta_s, step_eta = eta.estimate(plan, row["stage_index"], in_stage, learnt)
            if eta_s is not None and queue_position is not None:
                # The jobs ahead (queued before it, or running) are assumed to be like this one, spread over
                # the workers (a server kind's run one at a time).
                slots = self.workers if spec.runs_in == WORKER_LANE else 1
                eta_s = round(eta_s * (1 + (queue_position - 1 + running) // max(1, slots)), 2)
        # A distributed worker records what its kind previews (files on its machine, served by name);
        # elsewhere the kind looks at this machine's files.
        seen = json.loads(row["previews"]) if row["previews"] else None
        previews = Previews(**seen) if seen is not None else spec.previews(row["id"], result) if spec else None
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
            result=result,
            step1_result=previews.step1_result if previews else None,
            final_result=previews.final_result if previews else None,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    # ---------------------------------------------------------------- running

    async def claim_next(self, worker_pid: int, kinds: Sequence[str]) -> str | None:
        """Atomically move the oldest queued job of one of `kinds` to running for `worker_pid`; its id, or None."""
        if not kinds:
            return None
        now = time.time()
        marks = ", ".join("?" * len(kinds))
        found = await self._rows(
            f"""UPDATE jobs SET status = 'running', worker_pid = ?, started_at = ?, updated_at = ?,
                    message = 'Starting', stage_index = -1, stage_started_at = NULL
                WHERE id = (SELECT id FROM jobs WHERE status = 'queued' AND kind IN ({marks}) ORDER BY seq LIMIT 1
                            {self._skip_locked})
                  AND status = 'queued'
                RETURNING id""",
            (worker_pid, now, now, *kinds),
        )
        return str(found[0]["id"]) if found else None

    async def load(self, job_id: str) -> JobTicket:
        """A running job as its kind runs it. Raises NotFound when it is not running."""
        found = await self._rows(rows.LOAD, (job_id,))
        if not found:
            raise rows.not_running(job_id)
        return rows.ticket(found[0])

    async def progress(self, job_id: str, update: ProgressUpdate) -> None:
        await self._rows(*rows.progress(job_id, update))

    async def stop_requested(self, job_id: str) -> bool:
        found = await self._rows(rows.STOP_REQUESTED, (job_id,))
        return bool(not found or found[0]["stop_requested"])

    async def mark_completed(
        self,
        job: JobTicket,
        result: dict[str, Any],
        stage_times: Sequence[tuple[str, float]] = (),
    ) -> None:
        """Complete a running job with every step of its kind done (no effect once it has ended otherwise)."""
        spec = self.kind(job.kind)
        statements = rows.complete(
            job.job_id, job.kind, result, spec.steps, stage_times, spec.eta_group(job.parameters)
        )
        async with self.sql.transaction() as tx:
            for sql, params in statements:
                await tx.execute(sql, params)

    async def mark_failed(self, job_id: str, error: JobError, *, resumable: bool) -> None:
        """Fail a running job (no effect once it has ended otherwise)."""
        await self._rows(*rows.failed(job_id, error, resumable=resumable))

    async def mark_stopped(self, job_id: str) -> None:
        await self._rows(*rows.stopped(job_id))

    async def request_stop(self, job_id: str) -> JobStatus:
        """Stop a queued job now, or flag a running one for whoever runs it; ended jobs are left as they are.

        Raises NotFound (also for another tenant's job, which is left as it is).
        """
        now = time.time()
        tenant = current_caller().tenant
        async with self.sql.transaction() as tx:
            before = await tx.fetchall(
                """UPDATE jobs SET status = 'stopped', message = 'Stopped before it started', finished_at = ?,
                       updated_at = ? WHERE id = ? AND tenant = ? AND status = 'queued' RETURNING task_id""",
                (now, now, job_id, tenant),
            )
            during = await tx.fetchall(
                """UPDATE jobs SET stop_requested = TRUE, message = 'Stopping', updated_at = ?
                   WHERE id = ? AND tenant = ? AND status = 'running' RETURNING task_id""",
                (now, job_id, tenant),
            )
            for row in (*before, *during):
                if self.dispatch is not None and row["task_id"] is not None:
                    await self.dispatch.stopped(tx, int(row["task_id"]), running=bool(during))
        return await self.get(job_id, metrics=False)

    async def recover(self) -> RecoveryReport:
        """At start-up, before anything runs: settle the jobs a dead process left `running`.

        One being stopped is stopped; otherwise its kind decides: queued again in its old place (an ad with
        no finished step; a homepage, which resumes from its own checkpoint), or failed, resumable when its
        kind allows a re-run from a finished step. A kind this version does not know fails.
        """
        found = await self._rows("SELECT id, kind, steps_done, stop_requested FROM jobs WHERE status = 'running'")
        report = RecoveryReport(requeued=[], failed=[], stopped=[])
        for row in found:
            done = json.loads(row["steps_done"])
            spec = self.kinds.get(row["kind"])
            if row["stop_requested"]:
                await self.mark_stopped(row["id"])
                report.stopped.append(row["id"])
            elif spec is not None and spec.after_restart(done) == "requeue":
                await self._requeue(row["id"])
                report.requeued.append(row["id"])
            else:
                error = JobError(
                    error="interrupted",
                    message=f"the server stopped during this job after {', '.join(done) or 'no step'}",
                    field="start_step",
                    accepted=f"re-run as a child job with start_step up to {len(done) + 1}",
                )
                await self.mark_failed(row["id"], error, resumable=spec is not None and spec.resumable)
                report.failed.append(row["id"])
        return report

    async def _requeue(self, job_id: str) -> None:
        await self._rows(
            """UPDATE jobs SET status = 'queued', worker_pid = NULL, started_at = NULL, progress_percent = 0,
                   current_step = NULL, sub_step = NULL, stage_index = -1, stage_started_at = NULL,
                   message = 'Re-queued after a restart', updated_at = ?
               WHERE id = ? AND status = 'running'""",
            (time.time(), job_id),
        )


async def _scalar(s: Session, sql: str, params: tuple[object, ...] = ()) -> int:
    """The one value a statement selects `AS n`."""
    row = await s.fetchone(sql, params)
    assert row is not None
    return int(row["n"])
