"""The pool with real spawned worker processes and kinds of the tests' own: jobs run in a worker that
warmed its kind, stops (honoured, or enforced on a worker that does not answer), crashes, a restart, and a
server kind that waits on a worker job of its own, with one worker, without a deadlock."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from nanococoa_mcp.jobs.models import TERMINAL, InputFile, JobStatus
from nanococoa_mcp.jobs.pool import WorkerPool
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.settings import Settings
from tests.jobs.kinds import RelayKind, StepsKind, worker_kinds

INPUT = InputFile(data=b"the input", suffix=".txt")
LONG = {"stages": 20, "seconds": 0.25}  # ten seconds in forty stages, a stop point every 10 ms
MEDIUM = {"stages": 2, "seconds": 0.5}  # two seconds: long enough to be cut short, short enough to run again


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[JobStore]:
    async with await JobStore.open(settings.data_dir, [StepsKind(settings), RelayKind()]) as s:
        yield s


def make_pool(store: JobStore, settings: Settings, workers: int = 1, stop_grace_s: float = 10.0) -> WorkerPool:
    relay = store.kinds["relay"]
    assert isinstance(relay, RelayKind)
    pool = WorkerPool(
        store, settings, worker_kinds, server_kinds=[relay], workers=workers, stop_grace_s=stop_grace_s
    )
    relay.pool = pool
    return pool


@pytest.fixture
async def pool(store: JobStore, settings: Settings) -> AsyncIterator[WorkerPool]:
    p = make_pool(store, settings)
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
    return s.status in TERMINAL


def under_way(s: JobStatus) -> bool:
    return s.status == "running" and s.sub_step is not None


async def test_a_job_runs_in_a_spawned_worker_that_warmed_its_kind_with_rising_progress(
    pool: WorkerPool, store: JobStore
) -> None:
    job = await pool.submit("steps", {"stages": 3, "seconds": 0.1}, input_file=INPUT)
    seen = await wait_for(store, job.job_id, finished)
    done = seen[-1]
    assert done.status == "completed", done.error
    assert "running" in {s.status for s in seen}
    percents = [s.progress_percent for s in seen]
    assert percents == sorted(percents) and done.progress_percent == 100
    assert done.final_result is not None
    given, pid, warmed_in = Path(done.final_result).read_text().split("|")
    assert given == "the input" and int(pid) != os.getpid() and warmed_in == pid


async def test_a_pool_closed_as_it_starts_lets_its_worker_exit_without_warming_up(
    store: JobStore, settings: Settings
) -> None:
    pool = make_pool(store, settings)
    await pool.start()
    await pool.close(timeout_s=30)  # a worker that warmed up first would still exit, but leave its log
    assert not (settings.data_dir / "warmed.log").exists()  # nothing was warmed for no job


async def test_a_job_sent_while_the_worker_starts_waits_for_its_warm_up_and_runs_first(
    store: JobStore, settings: Settings
) -> None:
    pool = make_pool(store, settings)
    await pool.start()
    try:
        job = await pool.submit("steps", {"stages": 1, "seconds": 0.01}, input_file=INPUT)  # before it is warm
        done = (await wait_for(store, job.job_id, finished))[-1]
    finally:
        await pool.close(timeout_s=30)
    assert done.status == "completed" and done.final_result is not None
    _, pid, warmed_in = Path(done.final_result).read_text().split("|")
    assert warmed_in == pid and (settings.data_dir / "warmed.log").read_text() == f"{pid}\n"


async def test_a_stopped_job_ends_stopped_at_a_stop_point_and_the_worker_is_kept(
    pool: WorkerPool, store: JobStore
) -> None:
    job = await pool.submit("steps", LONG, input_file=INPUT)
    await wait_for(store, job.job_id, under_way)
    asked = time.monotonic()
    await pool.stop(job.job_id)
    done = (await wait_for(store, job.job_id, finished))[-1]
    assert done.status == "stopped" and done.result is None
    assert time.monotonic() - asked < 2 and pool.replaced == 0


async def test_a_killed_worker_fails_its_job_as_resumable_and_a_new_worker_runs_the_next_job(
    pool: WorkerPool, store: JobStore
) -> None:
    victim = await pool.submit("steps", LONG, input_file=INPUT)
    await wait_for(store, victim.job_id, under_way)
    pid = pool.worker_pid(victim.job_id)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    crashed = (await wait_for(store, victim.job_id, finished))[-1]
    assert crashed.status == "failed" and crashed.resumable
    assert crashed.error is not None and crashed.error.error == "worker_crashed"
    assert "SIGKILL" in crashed.error.message and pool.replaced == 1
    nxt = await pool.submit("steps", {}, input_file=INPUT)
    assert (await wait_for(store, nxt.job_id, finished))[-1].status == "completed"


async def test_a_worker_that_ignores_a_stop_is_replaced_and_other_jobs_carry_on(
    store: JobStore, settings: Settings
) -> None:
    pool = make_pool(store, settings, workers=2, stop_grace_s=0.5)
    await pool.start()
    try:
        stuck = await pool.submit("steps", LONG, input_file=INPUT)
        other = await pool.submit("steps", {"stages": 4, "seconds": 0.1}, input_file=INPUT)
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


async def test_queued_and_interrupted_jobs_survive_a_restart(settings: Settings) -> None:
    async with await JobStore.open(settings.data_dir, [StepsKind(settings), RelayKind()]) as store:
        first = make_pool(store, settings)
        await first.start()
        jobs = [await first.submit("steps", MEDIUM, input_file=INPUT)]
        jobs += [await first.submit("steps", {}, input_file=INPUT) for _ in range(2)]
        await wait_for(store, jobs[0].job_id, under_way)
        await first.close(timeout_s=0)  # the server dies: its worker is killed mid-job
        assert [(await store.get(j.job_id)).status for j in jobs] == ["running", "queued", "queued"]

    async with await JobStore.open(settings.data_dir, [StepsKind(settings), RelayKind()]) as store:
        second = make_pool(store, settings)
        report = await second.start()
        try:
            assert report.requeued + report.failed == [jobs[0].job_id]
            outcomes = [(await wait_for(store, j.job_id, finished))[-1] for j in jobs]
        finally:
            await second.close(timeout_s=5)
    assert [o.status for o in outcomes[1:]] == ["completed", "completed"]
    # Killed before its first step finished, it runs again; after it, it waits to be resumed.
    assert outcomes[0].status == "completed" or (outcomes[0].status == "failed" and outcomes[0].resumable)


async def test_a_server_kind_waits_on_its_own_worker_job_with_one_worker_and_no_deadlock(
    pool: WorkerPool, store: JobStore
) -> None:
    assert pool.workers == 1
    relay = await pool.submit("relay", {"child": {"stages": 2, "seconds": 0.05}})
    done = (await wait_for(store, relay.job_id, finished))[-1]
    assert done.status == "completed", done.error
    assert done.steps_done == ["wait"] and done.result is not None
    child = await store.get(done.result["child"])
    assert child.status == "completed" and pool.busy_workers() == 0


async def test_a_server_kind_stopped_from_another_process_ends_stopped_with_its_worker_job(
    pool: WorkerPool, store: JobStore
) -> None:
    relay = await pool.submit("relay", {"child": LONG})
    running = await wait_for(store, relay.job_id, lambda s: s.current_step == "wait")
    assert running[-1].message is not None and running[-1].message.startswith("waiting for ")
    child_id = running[-1].message.removeprefix("waiting for ")
    await store.request_stop(relay.job_id)  # straight to the database, as `nanococoa stop` does
    assert (await wait_for(store, relay.job_id, finished, timeout_s=10))[-1].status == "stopped"
    assert (await wait_for(store, child_id, finished, timeout_s=10))[-1].status == "stopped"


async def test_a_server_kind_cut_short_by_a_shutdown_is_queued_again_at_the_next_start(
    settings: Settings,
) -> None:
    async with await JobStore.open(settings.data_dir, [StepsKind(settings), RelayKind()]) as store:
        first = make_pool(store, settings)
        await first.start()
        relay = await first.submit("relay", {"child": MEDIUM})
        await wait_for(store, relay.job_id, lambda s: s.current_step == "wait")
        await first.close(timeout_s=0)
        assert (await store.get(relay.job_id)).status == "running"  # left for the next start to settle
    async with await JobStore.open(settings.data_dir, [StepsKind(settings), RelayKind()]) as store:
        second = make_pool(store, settings)
        report = await second.start()
        try:
            assert relay.job_id in report.requeued
            again = (await wait_for(store, relay.job_id, finished, timeout_s=60))[-1]
        finally:
            await second.close(timeout_s=5)
    assert again.status == "completed", again.error
