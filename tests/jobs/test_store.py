"""The job store's contract, run on both databases (a real SQLite file, and a real PostgreSQL server with
Procrastinate's queue), with job kinds of the tests' own: queueing, refusals, lineage, claims by lane, stop,
recovery after a crash by each kind's rule, learnt ETA, two stores on one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nanococoa_mcp.errors import Conflict, InvalidInput, NotFound
from nanococoa_mcp.jobs.models import InputFile, JobError, ProgressUpdate, QueueFull
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.settings import Settings
from tests.jobs.backends import Backend, kinds
from tests.jobs.kinds import StepsKind

PHOTO = InputFile(data=b"the input", suffix=".txt")


@pytest.fixture
async def store(backend: Backend, data_dir: Path) -> AsyncIterator[JobStore]:
    async with await backend.open(kinds(data_dir)) as s:
        yield s


def _progress(step: str, stage: str, steps_done: list[str], index: int = 0) -> ProgressUpdate:
    return ProgressUpdate(50.0, step, stage, f"{stage} under way", index, None, steps_done)


async def test_new_jobs_are_queued_in_order_with_their_checked_parameters(store: JobStore) -> None:
    first = await store.create("steps", {}, input_file=PHOTO)
    second = await store.create("steps", {"stages": 3, "group": "big"})
    assert (first.kind, first.status, first.queue_position, second.queue_position) == ("steps", "queued", 1, 2)
    assert first.parameters == {"stages": 2, "seconds": 0.05, "group": "small", "fail": None}  # the kind's defaults
    assert (first.progress_percent, first.elapsed_sec, first.start_step, first.parent_id) == (0, 0, 1, None)
    assert first.message == "Waiting for a worker"
    assert [j.job_id for j in await store.list_jobs()] == [second.job_id, first.job_id]
    assert await store.list_jobs(status="running") == []
    assert (store.data_dir / "uploads" / f"{first.job_id}.txt").read_bytes() == b"the input"


async def test_parameters_a_kind_refuses_and_unknown_kinds_leave_no_row_or_file(store: JobStore) -> None:
    with pytest.raises(InvalidInput) as bad:
        await store.create("steps", {"stages": 0}, input_file=PHOTO)
    assert bad.value.field == "stages"
    with pytest.raises(InvalidInput) as unknown:
        await store.create("video", {}, input_file=PHOTO)
    assert unknown.value.field == "kind" and unknown.value.accepted == "steps, relay"
    assert await store.list_jobs() == [] and not (store.data_dir / "uploads").exists()


async def test_a_full_queue_refuses_with_a_typed_error_and_leaves_no_row_or_file(store: JobStore) -> None:
    await store.create("steps", {}, input_file=PHOTO, max_queued=2)
    await store.create("relay", {}, max_queued=2)  # every kind's waiting jobs count
    with pytest.raises(QueueFull) as info:
        await store.create("steps", {}, input_file=PHOTO, max_queued=2)
    assert info.value.code == "queue_full" and info.value.field == "queue"
    assert len(await store.list_jobs()) == 2
    assert len(list((store.data_dir / "uploads").iterdir())) == 1


async def test_bad_lineage_is_refused_naming_the_field(store: JobStore) -> None:
    with pytest.raises(InvalidInput) as bad_step:
        await store.create("steps", {}, start_step=3)
    assert (bad_step.value.field, bad_step.value.accepted) == ("start_step", "1 or 2")
    with pytest.raises(InvalidInput) as orphan:
        await store.create("steps", {}, start_step=2)
    assert orphan.value.field == "parent_id"
    with pytest.raises(NotFound) as missing:
        await store.create("steps", {}, parent_id="no-such-job")
    assert missing.value.field == "parent_id"
    relay = await store.create("relay", {})
    with pytest.raises(InvalidInput) as other_kind:
        await store.create("steps", {}, parent_id=relay.job_id)
    assert other_kind.value.field == "parent_id" and other_kind.value.accepted == "the id of a steps job"
    parent = await store.create("steps", {}, input_file=PHOTO)
    with pytest.raises(Conflict) as unfinished:
        await store.create("steps", {}, parent_id=parent.job_id, start_step=2)
    assert unfinished.value.field == "start_step"
    assert len(await store.list_jobs()) == 2


async def test_a_child_job_reuses_its_parents_input(store: JobStore) -> None:
    parent = await store.create("steps", {}, input_file=PHOTO)
    child = await store.create("steps", {"stages": 1}, parent_id=parent.job_id)
    assert child.parent_id == parent.job_id and child.start_step == 1
    assert len(list((store.data_dir / "uploads").iterdir())) == 1
    assert await store.claim_next(worker_pid=1, kinds=["steps"]) == parent.job_id
    assert await store.claim_next(worker_pid=1, kinds=["steps"]) == child.job_id
    ticket = await store.load(child.job_id)
    # embedded: the file a worker process opens; distributed: the blob key a worker on any machine fetches
    upload = f"uploads/{parent.job_id}.txt"
    assert ticket.input_path == (store.data_dir / upload if store.dispatch is None else Path(upload))


async def test_an_unknown_job_id_raises_not_found_naming_the_field(store: JobStore) -> None:
    with pytest.raises(NotFound) as info:
        await store.get("nope")
    assert info.value.field == "job_id"
    with pytest.raises(NotFound):
        await store.request_stop("nope")


async def test_stopping_a_queued_job_stops_it_at_once(store: JobStore) -> None:
    job = await store.create("steps", {}, input_file=PHOTO)
    stopped = await store.request_stop(job.job_id)
    assert stopped.status == "stopped" and stopped.queue_position is None
    assert await store.claim_next(worker_pid=1, kinds=["steps"]) is None


async def test_claiming_takes_the_oldest_queued_job_of_the_lane_exactly_once(store: JobStore) -> None:
    a = await store.create("steps", {}, input_file=PHOTO)
    relay = await store.create("relay", {})
    b = await store.create("steps", {}, input_file=PHOTO)
    assert (relay.queue_position, b.queue_position) == (1, 2)  # a server kind queues on its own
    assert await store.claim_next(worker_pid=1, kinds=["steps"]) == a.job_id
    assert await store.claim_next(worker_pid=2, kinds=["steps"]) == b.job_id
    assert await store.claim_next(worker_pid=3, kinds=["steps"]) is None
    assert await store.claim_next(worker_pid=4, kinds=["relay"]) == relay.job_id
    running = await store.get(a.job_id)
    assert running.status == "running" and running.queue_position is None
    assert running.system_metrics is not None and running.system_metrics.ram_total_gb > 0
    assert [j.job_id for j in await store.list_jobs(kind="relay")] == [relay.job_id]


async def test_completing_records_every_step_the_result_and_its_previews(store: JobStore) -> None:
    job = await store.create("steps", {}, input_file=PHOTO)
    await store.claim_next(worker_pid=1, kinds=["steps"])
    await store.mark_completed(await store.load(job.job_id), {"file": "/tmp/out.txt"}, [("first_0", 0.5)])
    done = await store.get(job.job_id)
    assert (done.status, done.progress_percent, done.steps_done) == ("completed", 100, ["first", "second"])
    assert done.result == {"file": "/tmp/out.txt"} and done.final_result == "/tmp/out.txt"
    await store.mark_failed(job.job_id, JobError(error="late", message="too late"), resumable=True)
    assert (await store.get(job.job_id)).status == "completed"  # an ended job stays as it ended


async def test_recover_requeues_or_fails_by_each_kinds_rule(backend: Backend, data_dir: Path) -> None:
    async with await backend.open(kinds(data_dir)) as old:
        fresh = await old.create("steps", {}, input_file=PHOTO)
        halfway = await old.create("steps", {}, input_file=PHOTO)
        relay = await old.create("relay", {})
        stopping = await old.create("steps", {}, input_file=PHOTO)
        waiting = await old.create("steps", {}, input_file=PHOTO)
        for _ in range(3):
            await old.claim_next(worker_pid=1, kinds=["steps"])
        await old.claim_next(worker_pid=1, kinds=["relay"])
        await old.progress(relay.job_id, _progress("wait", "child", ["plan"]))
        await old.request_stop(stopping.job_id)
    # the dead worker's last report: step 1 finished, step 2 under way
    await backend.dead_worker_reports(halfway.job_id, _progress("second", "second_0", ["first"], index=2))

    async with await backend.open(kinds(data_dir)) as new:
        report = await new.recover()
        assert report.requeued == [fresh.job_id, relay.job_id]
        assert report.failed == [halfway.job_id] and report.stopped == [stopping.job_id]
        failed = await new.get(halfway.job_id)
        assert failed.status == "failed" and failed.resumable and failed.steps_done == ["first"]
        assert failed.error is not None and failed.error.error == "interrupted"
        requeued = await new.get(fresh.job_id)
        assert (requeued.status, requeued.queue_position) == ("queued", 1)
        assert (await new.get(waiting.job_id)).queue_position == 2
        resumed = await new.get(relay.job_id)  # a server kind's run resumes where it was
        assert (resumed.status, resumed.steps_done) == ("queued", ["plan"])
        assert (await new.recover()).requeued == []


async def test_a_running_job_of_a_kind_this_version_does_not_know_fails_at_recovery(
    backend: Backend, data_dir: Path
) -> None:
    async with await backend.open(kinds(data_dir)) as old:
        job = await old.create("relay", {})
        await old.claim_next(worker_pid=1, kinds=["relay"])
    async with await backend.open([StepsKind(Settings(data_dir=data_dir))]) as new:
        assert (await new.recover()).failed == [job.job_id]
        gone = await new.get(job.job_id)
        assert (gone.status, gone.resumable, gone.eta_seconds) == ("failed", False, None)


async def test_the_eta_is_learnt_per_kind_and_group_and_counts_the_jobs_ahead(
    backend: Backend, data_dir: Path
) -> None:
    async with await backend.open(kinds(data_dir), workers=1) as store:
        job = await store.create("steps", {"stages": 1}, input_file=PHOTO)
        assert job.eta_seconds is None  # nothing learnt yet: unknown, not a made-up constant
        await store.claim_next(worker_pid=1, kinds=["steps"])
        learnt = [("first_0", 1.0), ("second_0", 3.0)]
        await store.mark_completed(await store.load(job.job_id), {}, learnt)
        first = await store.create("steps", {"stages": 1}, input_file=PHOTO)
        second = await store.create("steps", {"stages": 1}, input_file=PHOTO)
        other_group = await store.create("steps", {"stages": 1, "group": "big"}, input_file=PHOTO)
        assert (first.eta_seconds, first.step_eta_seconds) == (4.0, 1.0)
        assert second.eta_seconds == 8.0  # one job ahead on the one worker
        assert other_group.eta_seconds == 12.0  # no history of its own: every group's
        recorded = await store.sql.fetchall("SELECT kind, stage, eta_group FROM stage_times ORDER BY id")
    assert [(r["kind"], r["stage"], r["eta_group"]) for r in recorded] == [
        ("steps", "first_0", "small"), ("steps", "second_0", "small")
    ]


async def test_two_stores_on_one_database_queue_in_one_order_and_claim_each_job_once(
    backend: Backend, data_dir: Path
) -> None:
    """Two API replicas (or a server and its CLI) share the jobs: positions and claims agree across them."""
    async with await backend.open(kinds(data_dir)) as one, await backend.open(kinds(data_dir)) as two:
        made = await asyncio.gather(*(s.create("steps", {}) for _ in range(6) for s in (one, two)))
        ids = {job.job_id for job in made}
        listed = await two.list_jobs(limit=50)
        assert {j.job_id for j in listed} == ids and len(listed) == 12
        assert sorted(j.queue_position or 0 for j in listed) == list(range(1, 13))
        claimed: list[str | None] = []
        while True:
            got = await asyncio.gather(one.claim_next(1, ["steps"]), two.claim_next(2, ["steps"]))
            claimed += [g for g in got if g is not None]
            if got == [None, None]:
                break
        assert sorted(claimed) == sorted(ids)  # every job once, none twice
        assert (await one.counts())["running"] == 12
