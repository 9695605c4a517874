"""The ad product's job kinds on the real job runtime: real worker processes running the real embedded Studio
(completion with the planned stage times, stop, crash, restart, learnt ETA), re-runs from a step, the quick
cut-out and analysis jobs, and what the kinds check and tell the runtime."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from nanococoa_mcp.ad.images import DecodedImage, decode_image
from nanococoa_mcp.ad.kind import AdKind, WarmStudio, ad_kinds, input_file
from nanococoa_mcp.ad.pipeline import AdRequest, ProgressEvent, Studio
from nanococoa_mcp.ad.plan import stage_plan
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.jobs.cancel import stop_checks
from nanococoa_mcp.jobs.models import TERMINAL, JobStatus
from nanococoa_mcp.jobs.pool import WorkerPool
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.settings import Settings
from tests.conftest import SAMPLES

REQUEST = AdRequest(text_content="수제 떡 당일 제작", size="1:1").model_dump()


@pytest.fixture(scope="module")
def dango() -> DecodedImage:
    return decode_image((SAMPLES / "dango.png").read_bytes())


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[JobStore]:
    async with await JobStore.open(settings.data_dir, ad_kinds(settings)) as s:
        yield s


def make_pool(store: JobStore, settings: Settings, workers: int = 1, stop_grace_s: float = 10.0) -> WorkerPool:
    return WorkerPool(store, settings, ad_kinds, workers=workers, stop_grace_s=stop_grace_s)


@pytest.fixture
async def pool(store: JobStore, settings: Settings) -> AsyncIterator[WorkerPool]:
    p = make_pool(store, settings, stop_grace_s=0.5)
    await p.start()
    yield p
    await p.close(timeout_s=5)


async def wait_for(
    store: JobStore, job_id: str, until: Callable[[JobStatus], bool], timeout_s: float = 60
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
    return s.status in TERMINAL


def under_way(s: JobStatus) -> bool:
    return s.status == "running" and s.sub_step is not None


def ad(**changes: object) -> dict[str, object]:
    return {**REQUEST, **changes}


# ---------------------------------------------------------------- what the kinds tell the runtime


def test_the_ad_kind_checks_its_request_naming_the_field(settings: Settings) -> None:
    kind = AdKind(settings, WarmStudio(settings))
    assert kind.check({"text_content": "세일"})["text_style"] == AdRequest(text_content="세일").text_style
    for parameters, field in (
        ({"text_content": "가" * 41}, "copy"),
        ({"text_content": "세일", "style": "steampunk"}, "style"),
        ({"text_content": "세일", "variants": 9}, "variants"),
        ({"text_content": "세일", "colour": "red"}, "colour"),
        ({}, "text_content"),
    ):
        with pytest.raises(InvalidInput) as info:
            kind.check(parameters)
        assert info.value.field == field, parameters


def test_the_ad_kind_learns_its_times_per_size_and_resumes_only_from_a_finished_step(settings: Settings) -> None:
    kind = AdKind(settings, WarmStudio(settings))
    assert kind.eta_plan(ad(variants=2), 2) == stage_plan(2, start_step=2)
    assert kind.eta_group(ad(size="story")) == kind.eta_group(ad(size="9:16")) == "9:16"
    assert kind.eta_group(ad(size="a size since renamed")) == "a size since renamed"
    assert (kind.after_restart([]), kind.after_restart(["step1_background"])) == ("requeue", "fail")


# ---------------------------------------------------------------- ads in real worker processes


@pytest.mark.browser
async def test_an_ad_runs_from_queued_to_completed_with_rising_progress_and_files_on_disk(
    pool: WorkerPool, store: JobStore, dango: DecodedImage, data_dir: Path
) -> None:
    job = await pool.submit("ad", REQUEST, input_file=input_file(dango))
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
    assert done.final_result == done.result["variants"][0]["image_path"] and done.step1_result is not None
    db = sqlite3.connect(data_dir / "nanococoa.db")  # the job's stage times follow the plan the ETA assumes
    stages = [r[0] for r in db.execute("SELECT stage FROM stage_times WHERE job_id = ? ORDER BY id", (job.job_id,))]
    db.close()
    assert stages == [sub for _step, sub in stage_plan(1)]


@pytest.mark.browser
async def test_a_stopped_ad_ends_stopped_and_leaves_no_final_file(
    store: JobStore, settings: Settings, dango: DecodedImage, data_dir: Path
) -> None:
    pool = make_pool(store, settings)
    await pool.start()
    try:
        # Long enough (four tall variants, several seconds) that the stop lands while it runs.
        job = await pool.submit("ad", ad(variants=4, size="9:16"), input_file=input_file(dango))
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


@pytest.mark.browser
async def test_a_killed_worker_fails_its_ad_as_resumable_and_a_child_finishes_it_from_step_2(
    pool: WorkerPool, store: JobStore, dango: DecodedImage
) -> None:
    victim = await pool.submit("ad", ad(variants=2), input_file=input_file(dango))
    await wait_for(store, victim.job_id, lambda s: "step1_background" in s.steps_done)
    pid = pool.worker_pid(victim.job_id)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    crashed = (await wait_for(store, victim.job_id, finished))[-1]
    assert crashed.status == "failed" and crashed.resumable
    assert crashed.error is not None and crashed.error.error == "worker_crashed"
    assert "SIGKILL" in crashed.error.message and pool.replaced == 1
    child = await pool.submit("ad", ad(variants=2, text_content="다시 만든 광고"), parent_id=victim.job_id,
                              start_step=2)
    done = (await wait_for(store, child.job_id, finished))[-1]
    assert done.status == "completed", done.error
    assert done.steps_done == ["step1_background", "step2_text", "step3_composite"]
    assert done.step1_result is not None  # the parent's step 1, inherited


@pytest.mark.browser
async def test_queued_and_interrupted_ads_survive_a_restart(settings: Settings, dango: DecodedImage) -> None:
    async with await JobStore.open(settings.data_dir, ad_kinds(settings)) as store:
        first = make_pool(store, settings)
        await first.start()
        jobs = [await first.submit("ad", ad(seed=i), input_file=input_file(dango)) for i in range(3)]
        await wait_for(store, jobs[0].job_id, under_way)
        await first.close(timeout_s=0)  # the server dies: its worker is killed mid-job
        assert [(await store.get(j.job_id)).status for j in jobs] == ["running", "queued", "queued"]

    async with await JobStore.open(settings.data_dir, ad_kinds(settings)) as store:
        second = make_pool(store, settings)
        report = await second.start()
        try:
            assert report.requeued + report.failed == [jobs[0].job_id]
            outcomes = [(await wait_for(store, j.job_id, finished))[-1] for j in jobs]
        finally:
            await second.close(timeout_s=5)
    assert [o.status for o in outcomes[1:]] == ["completed", "completed"]
    # Killed before any step finished, it runs again; after one, it waits to be resumed.
    assert outcomes[0].status == "completed" or (outcomes[0].status == "failed" and outcomes[0].resumable)


@pytest.mark.browser
async def test_the_eta_of_an_ad_is_learnt_from_past_ads(
    pool: WorkerPool, store: JobStore, dango: DecodedImage
) -> None:
    first = await pool.submit("ad", REQUEST, input_file=input_file(dango))
    assert first.eta_seconds is None  # nothing learnt yet: unknown, not a made-up constant
    await wait_for(store, first.job_id, finished)
    for seed in (1, 2):
        job = await pool.submit("ad", ad(seed=seed), input_file=input_file(dango))
        await wait_for(store, job.job_id, finished)

    probe = await pool.submit("ad", ad(seed=3), input_file=input_file(dango))
    assert probe.eta_seconds is not None and probe.step_eta_seconds is not None
    started = time.monotonic()
    seen = await wait_for(store, probe.job_id, finished)
    took = time.monotonic() - started
    running = [s for s in seen if s.status == "running" and s.eta_seconds is not None]
    assert running, "no ETA while running"
    assert 0.2 * took <= probe.eta_seconds <= 5 * took
    assert all(0 <= s.eta_seconds <= 5 * took for s in running if s.eta_seconds is not None)
    assert all(s.step_eta_seconds is not None and s.step_eta_seconds <= s.eta_seconds for s in running)


# ---------------------------------------------------------------- cut-out and analysis jobs


@pytest.mark.browser
async def test_cutout_and_analysis_jobs_run_in_the_worker_and_queue_behind_its_ads(
    pool: WorkerPool, store: JobStore, dango: DecodedImage
) -> None:
    busy = await pool.submit("ad", ad(variants=4, size="9:16"), input_file=input_file(dango))
    await wait_for(store, busy.job_id, under_way)
    cut = await pool.submit("cutout", {}, input_file=input_file(dango))
    analysis = await pool.submit("analysis", {}, input_file=input_file(dango))
    assert (cut.queue_position, analysis.queue_position) == (1, 2)  # one lane: the workers
    await pool.stop(busy.job_id)
    cut_done = (await wait_for(store, cut.job_id, finished))[-1]
    assert cut_done.status == "completed" and cut_done.result is not None, cut_done.error
    assert cut_done.result["method"] == "alpha-channel" and cut_done.steps_done == ["cutout"]
    assert cut_done.final_result == cut_done.result["cutout_path"] and Path(cut_done.final_result).is_file()
    analysed = (await wait_for(store, analysis.job_id, finished))[-1]
    assert analysed.status == "completed" and analysed.result is not None, analysed.error
    assert analysed.result["backend"] == "studio" and analysed.result["analysis"]["empty_spaces"]
    with pytest.raises(InvalidInput) as info:
        await pool.submit("cutout", {"backend": "birefnet"}, input_file=input_file(dango))
    assert info.value.field == "backend"


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
