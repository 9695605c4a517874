"""Real worker processes running the real embedded Studio: completion, stop, crash, restart, learnt ETA."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from nanococoa_mcp.ad.images import DecodedImage, decode_image
from nanococoa_mcp.ad.pipeline import AdRequest, ProgressEvent, Studio
from nanococoa_mcp.jobs import eta
from nanococoa_mcp.jobs.cancel import stop_checks
from nanococoa_mcp.jobs.models import JobStatus
from nanococoa_mcp.jobs.pool import WorkerPool
from nanococoa_mcp.jobs.store import JobStore, connect_sync
from nanococoa_mcp.settings import Settings
from tests.conftest import SAMPLES

pytestmark = pytest.mark.browser

REQUEST = AdRequest(text_content="수제 떡 당일 제작", size="1:1")
DONE = ("completed", "failed", "stopped")


@pytest.fixture(scope="module")
def dango() -> DecodedImage:
    return decode_image((SAMPLES / "dango.png").read_bytes())


@pytest.fixture
async def store(data_dir: Path) -> AsyncIterator[JobStore]:
    async with await JobStore.open(data_dir) as s:
        yield s


@pytest.fixture
async def pool(store: JobStore, data_dir: Path) -> AsyncIterator[WorkerPool]:
    p = WorkerPool(store, Settings(data_dir=data_dir), workers=1, stop_grace_s=0.5)
    await p.start()
    yield p
    await p.close(timeout_s=5)


async def wait_for(
    store: JobStore, job_id: str, until: Callable[[JobStatus], bool], timeout_s: float = 30
) -> list[JobStatus]:
    """Poll the job's status every 20 ms until `until` holds; every status seen, last one satisfying it."""
    seen: list[JobStatus] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen.append(await store.get(job_id, metrics=False))
        if until(seen[-1]):
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} still {seen[-1].status} ({seen[-1].sub_step}) after {timeout_s} s")


def finished(s: JobStatus) -> bool:
    return s.status in DONE


def under_way(s: JobStatus) -> bool:
    return s.status == "running" and s.sub_step is not None


async def test_a_job_runs_from_queued_to_completed_with_rising_progress_and_files_on_disk(
    pool: WorkerPool, store: JobStore, dango: DecodedImage, data_dir: Path
) -> None:
    job = await pool.submit(REQUEST, dango)
    assert job.status == "queued"
    seen = await wait_for(store, job.job_id, finished)
    done = seen[-1]
    assert done.status == "completed", done.error
    assert "running" in {s.status for s in seen}
    percents = [s.progress_percent for s in seen]
    assert percents == sorted(percents) and done.progress_percent == 100
    assert done.steps_done == ["step1_background", "step2_text", "step3_composite"]
    assert done.result is not None
    for key in ("image_path", "step1_path", "preview_path"):
        assert Path(done.result["variants"][0][key]).is_file()
    assert Path(done.result["output_dir"]) == data_dir / "jobs" / job.job_id
    assert done.result["variants"][0]["quality"]["passed"]
    db = connect_sync(data_dir)  # the job's stage times follow the plan the ETA assumes
    stages = [r[0] for r in db.execute("SELECT stage FROM stage_times WHERE job_id = ? ORDER BY id", (job.job_id,))]
    db.close()
    assert stages == [sub for _step, sub in eta.stage_plan(1)]


async def test_a_stopped_job_ends_stopped_and_leaves_no_final_file(
    store: JobStore, dango: DecodedImage, data_dir: Path
) -> None:
    pool = WorkerPool(store, Settings(data_dir=data_dir), workers=1, stop_grace_s=10)
    await pool.start()
    try:
        # Long enough (four tall variants, several seconds) that the stop lands while it runs.
        job = await pool.submit(REQUEST.model_copy(update={"variants": 4, "size": "9:16"}), dango)
        await wait_for(store, job.job_id, under_way)
        asked = time.monotonic()
        await pool.stop(job.job_id)
        done = (await wait_for(store, job.job_id, finished))[-1]
        honoured_in = time.monotonic() - asked
    finally:
        await pool.close(timeout_s=5)
    assert done.status == "stopped" and done.result is None
    assert not (data_dir / "jobs" / job.job_id).exists()
    assert pool.replaced == 0  # it stopped on its own, at a stop point, not killed after the grace period
    assert honoured_in < 10


async def test_a_killed_worker_fails_its_job_as_resumable_and_a_new_worker_runs_the_next_job(
    pool: WorkerPool, store: JobStore, dango: DecodedImage
) -> None:
    victim = await pool.submit(REQUEST.model_copy(update={"variants": 2}), dango)
    await wait_for(store, victim.job_id, under_way)
    pid = pool.worker_pid(victim.job_id)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    crashed = (await wait_for(store, victim.job_id, finished))[-1]
    assert crashed.status == "failed" and crashed.resumable
    assert crashed.error is not None and crashed.error.error == "worker_crashed"
    assert "SIGKILL" in crashed.error.message
    assert pool.replaced == 1
    nxt = await pool.submit(REQUEST, dango)
    assert (await wait_for(store, nxt.job_id, finished))[-1].status == "completed"


async def test_a_worker_that_ignores_a_stop_is_replaced_and_other_jobs_carry_on(
    store: JobStore, dango: DecodedImage, data_dir: Path
) -> None:
    pool = WorkerPool(store, Settings(data_dir=data_dir), workers=2, stop_grace_s=0.5)
    await pool.start()
    try:
        stuck = await pool.submit(REQUEST.model_copy(update={"variants": 2}), dango)
        other = await pool.submit(REQUEST, dango)
        await wait_for(store, stuck.job_id, under_way)
        pid = pool.worker_pid(stuck.job_id)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # alive, but deaf
        await pool.stop(stuck.job_id)
        assert (await wait_for(store, stuck.job_id, finished))[-1].status == "stopped"
        assert pool.replaced == 1
        assert (await wait_for(store, other.job_id, finished))[-1].status == "completed"
    finally:
        await pool.close(timeout_s=5)


async def test_queued_and_interrupted_jobs_survive_a_restart(data_dir: Path, dango: DecodedImage) -> None:
    settings = Settings(data_dir=data_dir)
    async with await JobStore.open(data_dir) as store:
        first = WorkerPool(store, settings, workers=1)
        await first.start()
        jobs = [await first.submit(REQUEST.model_copy(update={"seed": i}), dango) for i in range(3)]
        await wait_for(store, jobs[0].job_id, under_way)
        await first.close(timeout_s=0)  # the server dies: its worker is killed mid-job
        assert [(await store.get(j.job_id)).status for j in jobs] == ["running", "queued", "queued"]

    async with await JobStore.open(data_dir) as store:
        second = WorkerPool(store, settings, workers=1)
        report = await second.start()
        try:
            assert report.requeued + report.failed == [jobs[0].job_id]
            outcomes = [(await wait_for(store, j.job_id, finished))[-1] for j in jobs]
        finally:
            await second.close(timeout_s=5)
    assert [o.status for o in outcomes[1:]] == ["completed", "completed"]
    # Killed before any step finished, it runs again; after one, it waits to be resumed.
    assert outcomes[0].status == "completed" or (outcomes[0].status == "failed" and outcomes[0].resumable)


async def test_eta_is_learnt_from_past_jobs(pool: WorkerPool, store: JobStore, dango: DecodedImage) -> None:
    first = await pool.submit(REQUEST, dango)
    assert first.eta_seconds is None  # nothing learnt yet: unknown, not a made-up constant
    await wait_for(store, first.job_id, finished)
    for seed in (1, 2):
        job = await pool.submit(REQUEST.model_copy(update={"seed": seed}), dango)
        await wait_for(store, job.job_id, finished)

    probe = await pool.submit(REQUEST.model_copy(update={"seed": 3}), dango)
    assert probe.eta_seconds is not None and probe.step_eta_seconds is not None
    started = time.monotonic()
    seen = await wait_for(store, probe.job_id, finished)
    took = time.monotonic() - started
    running = [s for s in seen if s.status == "running" and s.eta_seconds is not None]
    assert running, "no ETA while running"
    assert 0.2 * took <= probe.eta_seconds <= 5 * took
    assert all(0 <= s.eta_seconds <= 5 * took for s in running if s.eta_seconds is not None)
    assert all(s.step_eta_seconds is not None and s.step_eta_seconds <= s.eta_seconds for s in running)


def test_a_stop_is_honoured_inside_the_cut_out_stage() -> None:
    """The stop check runs at safe points inside a stage, not only between stages."""

    class Stop(Exception):
        pass

    calls: list[str] = []

    def check() -> None:
        calls.append("check")
        raise Stop

    studio = Studio()
    events: list[ProgressEvent] = []
    image = decode_image((SAMPLES / "apple.jpg").read_bytes())  # no alpha: GrabCut and matting run
    try:
        with stop_checks(check), pytest.raises(Stop):
            studio.generate(image, AdRequest(text_content="꿀사과 특가"), events.append)
    finally:
        studio.close()
    assert [e.sub_step for e in events] == ["cutout"] and calls == ["check"]
    assert studio.renderer.launches == 0  # it never got as far as typesetting
