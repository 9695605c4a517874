"""A worker's run of one claimed job, in this process, with a kind of the tests' own: its outcome recorded
whatever it is (completed, stopped at a report or inside a stage, refused, broken), its progress and the
stage times the ETA learns from."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nanococoa_mcp.jobs.models import InputFile, JobStatus
from nanococoa_mcp.jobs.progress import ProgressTracker
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.jobs.worker import run_job
from nanococoa_mcp.jobs.writer import JobWriter
from nanococoa_mcp.settings import Settings
from tests.jobs.kinds import RelayKind, StepsKind


@pytest.fixture
async def store(data_dir: Path) -> AsyncIterator[JobStore]:
    async with await JobStore.open(data_dir, [StepsKind(Settings(data_dir=data_dir)), RelayKind()]) as s:
        yield s


async def _run(store: JobStore, parameters: dict[str, object], before: str | None = None) -> JobStatus:
    """Queue, claim and run a `steps` job here; `before` "stop" asks for its stop first."""
    job = await store.create("steps", parameters, input_file=InputFile(b"input", ".txt"))
    await store.claim_next(worker_pid=1, kinds=["steps"])
    if before == "stop":
        await store.request_stop(job.job_id)
    settings = Settings(data_dir=store.data_dir)
    writer = JobWriter(store.data_dir)
    try:
        run_job(job.job_id, {"steps": StepsKind(settings)}, writer, settings)
    finally:
        writer.close()
    return await store.get(job.job_id, metrics=False)


async def test_a_claimed_job_runs_to_its_result_with_every_step_and_its_stage_times(store: JobStore) -> None:
    done = await _run(store, {"stages": 2, "seconds": 0.02})
    assert (done.status, done.progress_percent, done.steps_done) == ("completed", 100, ["first", "second"])
    assert done.result is not None and done.result["stages"] == 4
    assert Path(done.result["file"]).read_text().startswith("input|")
    assert done.sub_step == "second_1" and done.current_step == "second"  # its last report
    db = sqlite3.connect(store.data_dir / "nanococoa.db")
    times = db.execute("SELECT stage, seconds FROM stage_times WHERE job_id = ? ORDER BY id", (done.job_id,)).fetchall()
    assert [s for s, _ in times] == ["first_0", "first_1", "second_0", "second_1"]
    assert all(0.015 < sec < 1.0 for _, sec in times)


async def test_a_stop_asked_before_a_report_ends_the_job_stopped(store: JobStore) -> None:
    done = await _run(store, {}, before="stop")
    assert (done.status, done.result, done.steps_done) == ("stopped", None, [])


async def test_a_stop_is_honoured_inside_a_long_stage_at_its_stop_points(store: JobStore, data_dir: Path) -> None:
    job = await store.create("steps", {"stages": 1, "seconds": 20.0}, input_file=InputFile(b"", ".txt"))
    await store.claim_next(worker_pid=1, kinds=["steps"])

    def stop_soon() -> None:  # another process's request, as the server's would be
        time.sleep(0.3)
        with sqlite3.connect(data_dir / "nanococoa.db") as db:
            db.execute("UPDATE jobs SET stop_requested = 1 WHERE id = ?", (job.job_id,))

    stopper = threading.Thread(target=stop_soon)
    stopper.start()
    settings = Settings(data_dir=data_dir)
    writer = JobWriter(data_dir)
    started = time.monotonic()
    run_job(job.job_id, {"steps": StepsKind(settings)}, writer, settings)
    took = time.monotonic() - started
    writer.close()
    stopper.join()
    assert (await store.get(job.job_id)).status == "stopped"
    assert took < 2.0  # not at the stage's end, 20 s on


async def test_a_refusal_fails_for_good_and_a_bug_fails_resumable(store: JobStore) -> None:
    refused = await _run(store, {"fail": "invalid"})
    assert refused.status == "failed" and not refused.resumable
    assert refused.error is not None and (refused.error.error, refused.error.field) == ("invalid_input", "fail")
    broken = await _run(store, {"fail": "bug"})
    assert broken.status == "failed" and broken.resumable  # its finished steps are worth a re-run
    assert broken.error is not None and broken.error.error == "internal_error"
    assert "RuntimeError" in broken.error.message


async def test_a_job_of_a_kind_the_worker_does_not_run_fails_naming_the_kind(store: JobStore) -> None:
    job = await store.create("relay", {})
    await store.claim_next(worker_pid=1, kinds=["relay"])
    settings = Settings(data_dir=store.data_dir)
    writer = JobWriter(store.data_dir)
    run_job(job.job_id, {"steps": StepsKind(settings)}, writer, settings)
    writer.close()
    failed = await store.get(job.job_id)
    assert failed.status == "failed" and failed.error is not None
    assert (failed.error.error, failed.error.field, failed.error.accepted) == ("backend_unavailable", "kind", "steps")


def test_progress_marks_a_step_done_once_the_next_begins_and_times_each_planned_stage() -> None:
    tracker = ProgressTracker([("a", "a1"), ("b", "b1")], steps_done=["inherited"])
    tracker.report(10, "a", "a1", "first")
    first = tracker.take()
    assert first is not None and (first.stage_index, first.steps_done) == (0, ["inherited"])
    assert tracker.take() is None  # nothing new since
    tracker.report(60, "a", "unplanned", "a detail")
    tracker.report(250, "b", "b1", "second")
    latest = tracker.take()
    assert latest is not None
    assert (latest.percent, latest.stage_index, latest.steps_done) == (100, 1, ["inherited", "a"])
    tracker.finish()
    assert [stage for stage, _ in tracker.durations] == ["a1", "b1"]
