"""The distributed worker (`nanococoa worker`'s RemoteWorker) in this process, on a real PostgreSQL server
and a blob store, running kinds of the tests' own: a job queued through the store runs by id, its files
land in the blob store under jobs/{id}/, a failure that may pass runs again from the last finished step (the
same one twice ends it), a stop reaches it, and only the attempt that holds a job records anything."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nanococoa_mcp.blobs import FileBlobs
from nanococoa_mcp.jobs.models import TERMINAL, InputFile, JobError, JobStatus, Previews, ProgressUpdate
from nanococoa_mcp.jobs.remote import RemoteWorker
from nanococoa_mcp.jobs.runs import Runs
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.settings import Settings
from tests.jobs.kinds import PagesKind, StepsKind, pages_kinds

ROOT = Path(__file__).resolve().parents[2]
INPUT = InputFile(data=b"hello", suffix=".txt")


@pytest.fixture
def settings(database: PostgresDatabase, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "worker", database_url=database, blob_url=f"file://{tmp_path / 'blobs'}",
        heartbeat_sec=0.5, stalled_after_sec=3.0,
    )


@pytest.fixture
async def store(settings: Settings, database: PostgresDatabase, tmp_path: Path) -> AsyncIterator[JobStore]:
    """The API's side: what queues the jobs and reads them back."""
    blobs = FileBlobs(tmp_path / "blobs")
    kinds = [PagesKind(settings), StepsKind(settings)]
    async with await JobStore.open_postgres(database, tmp_path / "api", kinds, blobs=blobs) as s:
        yield s


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[RemoteWorker]:
    worker = RemoteWorker(settings, pages_kinds)
    task = asyncio.create_task(worker.run(install_signal_handlers=False))
    yield worker
    worker.stop()
    await asyncio.wait_for(task, 30)


async def _until(store: JobStore, job_id: str, done: set[str] | frozenset[str] = TERMINAL, timeout: float = 30.0
                 ) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = await store.get(job_id, metrics=False)
        if status.status in done or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.05)


async def test_a_worker_runs_a_queued_job_by_id_and_its_files_land_in_the_blob_store(
    store: JobStore, worker: RemoteWorker, settings: Settings, tmp_path: Path
) -> None:
    job = await store.create("pages", {}, input_file=INPUT)
    done = await _until(store, job.job_id)
    assert done.status == "completed", done.error
    assert done.steps_done == ["draft", "final"] and done.progress_percent == 100
    blobs = tmp_path / "blobs" / "jobs" / job.job_id
    page = json.loads((blobs / "page.json").read_text())
    assert page["draft"]["text"] == "HELLO" and page["draft"]["job"] == job.job_id
    assert json.loads((blobs / "steps" / "draft.json").read_text())["text"] == "HELLO"
    # paths name where the worker made the files; the doors serve them by job and name from the blob store
    assert done.final_result is not None and done.final_result.endswith(f"jobs/{job.job_id}/page.json")
    assert done.step1_result is not None and done.step1_result.endswith(f"steps/{job.job_id}/draft.json")
    assert not (worker.scratch / "jobs" / job.job_id).exists()  # the worker's own copies are gone


async def test_a_failure_that_may_pass_runs_again_from_the_last_finished_step(
    store: JobStore, worker: RemoteWorker, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    job = await store.create("pages", {"log": str(log), "fail_at": "final", "fail_times": 1}, input_file=INPUT)
    done = await _until(store, job.job_id)
    assert done.status == "completed", done.error
    assert log.read_text().split() == ["draft", "final", "final"]  # the draft was not made again


async def test_the_same_failure_twice_in_a_row_ends_the_retries_and_says_so(
    store: JobStore, worker: RemoteWorker, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    job = await store.create("pages", {"log": str(log), "fail_at": "final", "fail_times": 5}, input_file=INPUT)
    done = await _until(store, job.job_id)
    assert done.status == "failed" and done.error is not None and done.resumable
    assert done.error.error == "storage_error" and "not retried again" in done.error.message
    assert log.read_text().split() == ["draft", "final", "final"]


async def test_a_child_job_starts_from_its_parents_steps_fetched_from_the_blob_store(
    store: JobStore, worker: RemoteWorker, tmp_path: Path
) -> None:
    parent = await store.create("pages", {}, input_file=INPUT)
    assert (await _until(store, parent.job_id)).status == "completed"
    child = await store.create("pages", {}, parent_id=parent.job_id, start_step=2)
    done = await _until(store, child.job_id)
    assert done.status == "completed", done.error
    page = json.loads((tmp_path / "blobs" / "jobs" / child.job_id / "page.json").read_text())
    assert page["draft"]["job"] == parent.job_id


async def test_a_stop_asked_through_the_store_stops_the_running_job_at_its_next_step(
    store: JobStore, worker: RemoteWorker
) -> None:
    job = await store.create("steps", {"stages": 20, "seconds": 0.25})
    assert (await _until(store, job.job_id, {"running"})).status == "running"
    await asyncio.sleep(0.3)
    asked = time.monotonic()
    await store.request_stop(job.job_id)
    done = await _until(store, job.job_id, timeout=10)
    assert done.status == "stopped" and time.monotonic() - asked < 2.0


async def test_only_the_attempt_that_holds_a_job_records_its_progress_and_outcome(store: JobStore) -> None:
    runs = Runs(store)
    job = await store.create("pages", {})
    first_task = (await store.sql.fetchall("SELECT task_id FROM jobs WHERE id = ?", (job.job_id,)))[0]["task_id"]
    first = await runs.claim(job.job_id, first_task, worker_pid=1)
    assert first is not None and first.attempt == 1
    assert await runs.claim(job.job_id, first_task, worker_pid=2) is None  # a second delivery runs nothing
    # the first attempt fails in a way that may pass: the job goes back to its queue with a new entry
    error = JobError(error="storage_unavailable", message="the store is away")
    assert await runs.failed(first.job, 1, error, resumable=True, previews=Previews()) == "requeued"
    task = (await store.sql.fetchall("SELECT task_id FROM jobs WHERE id = ?", (job.job_id,)))[0]["task_id"]
    assert task != first_task and await runs.claim(job.job_id, first_task, worker_pid=1) is None
    second = await runs.claim(job.job_id, task, worker_pid=2)
    assert second is not None and second.attempt == 2 and second.last_failure == "storage_unavailable"
    update = ProgressUpdate(50.0, "final", "final", "late", 1, None, ["draft"])
    assert not await runs.report(job.job_id, update, attempt=1)  # the first attempt is told to give up
    assert not await runs.completed(first.job, 1, {"page_path": "first"}, [], Previews())
    assert await runs.completed(second.job, 2, {"page_path": "second"}, [], Previews())
    done = await store.get(job.job_id, metrics=False)
    assert done.status == "completed" and done.result == {"page_path": "second"}


async def _held_by_a_dead_worker(store: JobStore, job_id: str) -> int:
    """The job's queue entry taken by a worker whose last heartbeat is an hour old; the entry's id."""
    async with store.sql.session() as s:
        worker = await s.fetchone("SELECT worker_id AS n FROM procrastinate_register_worker_v1()")
        assert worker is not None
        await s.execute("UPDATE procrastinate_workers SET last_heartbeat = NOW() - INTERVAL '1 hour' WHERE id = ?",
                        (worker["n"],))
        taken = await s.fetchone("SELECT id AS n FROM procrastinate_fetch_job_v2(ARRAY['pages']::varchar[], ?)",
                                 (worker["n"],))
        assert taken is not None
    return int(taken["n"])


async def test_two_reapers_racing_put_a_dead_workers_job_back_once_and_a_second_death_ends_it(
    store: JobStore, database: PostgresDatabase, tmp_path: Path, settings: Settings
) -> None:
    runs = Runs(store)
    job = await store.create("pages", {})
    task = await _held_by_a_dead_worker(store, job.job_id)
    assert await runs.claim(job.job_id, task, worker_pid=1) is not None
    assert await runs.stalled(settings.stalled_after_sec) == [task]
    async with await JobStore.open_postgres(database, tmp_path / "b", [PagesKind(settings)]) as other:
        outcomes = await asyncio.gather(runs.reclaim(task), Runs(other).reclaim(task))
    assert sorted(outcomes, key=str) == [None, "requeued"]
    again = await store.get(job.job_id, metrics=False)
    assert again.status == "queued" and again.message is not None and "stopped answering" in again.message
    assert await runs.stalled(settings.stalled_after_sec) == []
    # its next delivery dies too: the job fails and says it will not be tried again
    task = await _held_by_a_dead_worker(store, job.job_id)
    claim = await runs.claim(job.job_id, task, worker_pid=2)
    assert claim is not None and claim.attempt == 2 and claim.last_failure == "worker_lost"
    assert await runs.reclaim(task) == "failed"
    failed = await store.get(job.job_id, metrics=False)
    assert failed.status == "failed" and failed.error is not None and failed.error.error == "worker_lost"
    assert "not retried again" in failed.error.message and failed.resumable


async def test_a_job_that_ignores_a_stop_is_marked_stopped_its_slot_replaced_and_its_worker_goes_on(
    store: JobStore, database: PostgresDatabase, tmp_path: Path
) -> None:
    """A real `nanococoa worker` process (running the tests' kinds) whose job sleeps through a stop: after the
    stop grace the job is stopped, the worker's next job runs on a fresh slot, and the deaf run's late result
    is dropped."""
    log = tmp_path / "worker.log"
    env = {**os.environ, "NANOCOCOA_DATA_DIR": str(tmp_path / "deaf-worker"),
           "NANOCOCOA_DATABASE_URL": database.conninfo.get_secret_value(),
           "NANOCOCOA_BLOB_URL": f"file://{tmp_path / 'blobs'}", "NANOCOCOA_STOP_GRACE_SEC": "1",
           "NANOCOCOA_HEARTBEAT_SEC": "0.5", "NANOCOCOA_STALLED_AFTER_SEC": "3",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    code = ("from nanococoa_mcp.jobs.remote import run_worker; from nanococoa_mcp.settings import Settings; "
            "from tests.jobs.kinds import pages_kinds; run_worker(Settings(), pages_kinds)")
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "worker ready" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        deaf = await store.create("pages", {"deaf_seconds": 8}, input_file=INPUT)
        while (st := await store.get(deaf.job_id, metrics=False)).current_step != "final":
            assert time.monotonic() < deadline and st.status in ("queued", "running"), st
            await asyncio.sleep(0.05)
        asked = time.monotonic()
        await store.request_stop(deaf.job_id)
        stopped = await _until(store, deaf.job_id, timeout=10)
        assert stopped.status == "stopped" and time.monotonic() - asked < 6  # long before the job woke up
        following = await store.create("pages", {}, input_file=INPUT)  # one slot: the fresh one runs it
        assert (await _until(store, following.job_id)).status == "completed"
        await asyncio.sleep(max(0.0, asked + 9 - time.monotonic()))  # the deaf run has finished by now
        late = await store.get(deaf.job_id, metrics=False)
        assert late.status == "stopped" and late.result is None
        assert not (tmp_path / "blobs" / "jobs" / deaf.job_id / "page.json").exists()
        assert "ignored a stop" in log.read_text() and proc.poll() is None
    finally:
        proc.terminate()
        assert proc.wait(30) == 0, log.read_text()
