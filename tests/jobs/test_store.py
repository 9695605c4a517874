"""The job store on a real SQLite file: migrations, queueing, refusals, recovery after a crash, ETA."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nanococoa_mcp.ad.images import DecodedImage, decode_image
from nanococoa_mcp.ad.pipeline import AdRequest
from nanococoa_mcp.db.migrations import MIGRATIONS, migrate
from nanococoa_mcp.errors import InvalidInput, NotFound
from nanococoa_mcp.jobs import eta
from nanococoa_mcp.jobs.models import ProgressUpdate, QueueFull
from nanococoa_mcp.jobs.store import JobStore, JobWriter, connect_sync
from nanococoa_mcp.storage import StorageError
from tests.conftest import SAMPLES

REQUEST = AdRequest(text_content="건어물 대박 세일", size="1:1")


@pytest.fixture(scope="module")
def fish() -> DecodedImage:
    return decode_image((SAMPLES / "fish.png").read_bytes())


@pytest.fixture
async def store(data_dir: Path) -> AsyncIterator[JobStore]:
    async with await JobStore.open(data_dir) as s:
        yield s


def test_migrations_run_once_and_a_second_run_applies_nothing() -> None:
    db = sqlite3.connect(":memory:")
    assert migrate(db) == [fn.__name__ for fn in MIGRATIONS]
    assert migrate(db) == []
    assert [r[0] for r in db.execute("SELECT name FROM _migrations")] == ["m001_initial", "m002_stores_and_job_kinds"]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "stage_times", "stores", "_migrations"} <= tables


def test_the_database_lives_in_the_data_dir_in_wal_mode(data_dir: Path) -> None:
    db = connect_sync(data_dir)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert (data_dir / "nanococoa.db").is_file()


async def test_new_jobs_are_queued_in_order_with_their_parameters(store: JobStore, fish: DecodedImage) -> None:
    first = await store.create(REQUEST, fish)
    second = await store.create(REQUEST.model_copy(update={"seed": 7}), fish)
    assert (first.status, first.queue_position, second.queue_position) == ("queued", 1, 2)
    assert second.parameters["seed"] == 7 and second.parameters["text_content"] == "건어물 대박 세일"
    assert (first.progress_percent, first.elapsed_sec, first.start_step, first.parent_id) == (0, 0, 1, None)
    assert [j.job_id for j in await store.list_jobs()] == [second.job_id, first.job_id]
    assert await store.list_jobs(status="running") == []
    # The upload is kept as received (already validated), not re-encoded.
    assert (store.data_dir / "uploads" / f"{first.job_id}.png").read_bytes() == (SAMPLES / "fish.png").read_bytes()


async def test_a_full_queue_refuses_with_a_typed_error_and_leaves_no_row_or_file(
    store: JobStore, fish: DecodedImage
) -> None:
    await store.create(REQUEST, fish, max_queued=2)
    await store.create(REQUEST, fish, max_queued=2)
    with pytest.raises(QueueFull) as info:
        await store.create(REQUEST, fish, max_queued=2)
    assert info.value.code == "queue_full" and info.value.field == "queue"
    assert len(await store.list_jobs()) == 2
    assert len(list((store.data_dir / "uploads").iterdir())) == 2


async def test_bad_lineage_is_refused_naming_the_field(store: JobStore, fish: DecodedImage) -> None:
    with pytest.raises(InvalidInput) as bad_step:
        await store.create(REQUEST, fish, start_step=4)
    assert bad_step.value.field == "start_step"
    with pytest.raises(InvalidInput) as orphan:
        await store.create(REQUEST, None, start_step=2)
    assert orphan.value.field == "parent_id"
    with pytest.raises(NotFound) as missing:
        await store.create(REQUEST, None, parent_id="no-such-job")
    assert missing.value.field == "parent_id"
    assert await store.list_jobs() == []


async def test_a_child_job_reuses_its_parents_photo(store: JobStore, fish: DecodedImage) -> None:
    parent = await store.create(REQUEST, fish)
    new_copy = REQUEST.model_copy(update={"text_content": "오늘만 특가"})
    child = await store.create(new_copy, None, parent_id=parent.job_id)
    assert child.parent_id == parent.job_id and child.start_step == 1
    assert len(list((store.data_dir / "uploads").iterdir())) == 1


async def test_an_unusable_data_dir_gives_a_storage_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should go")  # unwritable even for root
    with pytest.raises(StorageError) as info:
        await JobStore.open(blocker / "data")
    assert info.value.field == "data_dir"


async def test_an_unknown_job_id_raises_not_found_naming_the_field(store: JobStore) -> None:
    with pytest.raises(NotFound) as info:
        await store.get("nope")
    assert info.value.field == "job_id"
    with pytest.raises(NotFound):
        await store.request_stop("nope")


async def test_stopping_a_queued_job_stops_it_at_once(store: JobStore, fish: DecodedImage) -> None:
    job = await store.create(REQUEST, fish)
    stopped = await store.request_stop(job.job_id)
    assert stopped.status == "stopped" and stopped.queue_position is None
    assert await store.claim_next(worker_pid=1) is None


async def test_claiming_takes_the_oldest_queued_job_exactly_once(store: JobStore, fish: DecodedImage) -> None:
    a = await store.create(REQUEST, fish)
    b = await store.create(REQUEST, fish)
    assert await store.claim_next(worker_pid=1) == a.job_id
    assert await store.claim_next(worker_pid=2) == b.job_id
    assert await store.claim_next(worker_pid=3) is None
    running = await store.get(a.job_id)
    assert running.status == "running" and running.queue_position is None
    assert running.system_metrics is not None and running.system_metrics.ram_total_gb > 0


async def test_recover_requeues_jobs_with_no_step_done_and_fails_the_rest_as_resumable(
    data_dir: Path, fish: DecodedImage
) -> None:
    async with await JobStore.open(data_dir) as old:
        fresh = await old.create(REQUEST, fish)
        halfway = await old.create(REQUEST, fish)
        waiting = await old.create(REQUEST, fish)
        await old.claim_next(worker_pid=1)
        await old.claim_next(worker_pid=2)
    writer = JobWriter(data_dir)  # the dead worker's last report: step 1 finished, step 2 under way
    writer.progress(
        halfway.job_id,
        ProgressUpdate(
            50.0, "step2_text", "layout_analysis", "Finding where the copy reads best", 3, None, ["step1_background"]
        ),
    )
    writer.close()

    async with await JobStore.open(data_dir) as new:
        report = await new.recover()
        assert report.requeued == [fresh.job_id] and report.failed == [halfway.job_id]
        failed = await new.get(halfway.job_id)
        assert failed.status == "failed" and failed.resumable
        assert failed.error is not None and failed.error.error == "interrupted"
        assert failed.steps_done == ["step1_background"]
        requeued = await new.get(fresh.job_id)
        assert (requeued.status, requeued.queue_position) == ("queued", 1)
        assert (await new.get(waiting.job_id)).queue_position == 2
        assert (await new.recover()).requeued == []


def test_the_estimate_adds_what_is_left_of_this_stage_to_the_stages_after_it() -> None:
    plan = eta.stage_plan(variants=1)
    learnt = {
        "cutout": 1.0, "scene": 2.0, "compose": 0.5, "layout_analysis": 0.25, "html_rendering": 1.0, "composite": 0.5
    }
    assert eta.estimate(plan, -1, 0.0, learnt) == (5.25, 3.5)
    assert eta.estimate(plan, 1, 0.5, learnt) == (3.75, 2.0)
    assert eta.estimate(plan, 4, 5.0, learnt) == (0.5, 0.0)
    assert eta.estimate(plan, 5, 0.1, learnt) == (0.4, 0.4)
    assert eta.estimate(plan, 0, 0.0, {"cutout": 1.0}) == (None, None)


def test_a_rerun_from_a_later_step_plans_only_the_steps_it_runs_and_its_progress_rises_to_100() -> None:
    assert [sub for _s, sub in eta.stage_plan(2, start_step=2)] == [
        "layout_analysis", "html_rendering", "layout_analysis", "html_rendering", "composite", "composite"
    ]
    assert eta.stage_plan(1, start_step=3) == [("step3_composite", "composite")]
    plan = eta.stage_plan(2)
    percents = [eta.progress_at(plan, i) for i in range(len(plan) + 1)]
    assert percents[0] == 0.0 and percents[-1] == 100.0
    assert all(a < b for a, b in itertools.pairwise(percents))


def test_medians_prefer_this_sizes_history_and_fall_back_to_every_size() -> None:
    samples = [("scene", "1:1", 1.0), ("scene", "1:1", 3.0), ("scene", "9:16", 9.0), ("cutout", "9:16", 2.0)]
    assert eta.medians(samples, "1:1") == {"scene": 2.0, "cutout": 2.0}


async def test_ad_workers_never_claim_a_homepage_job_and_each_kind_queues_on_its_own(
    store: JobStore, fish: DecodedImage
) -> None:
    site = await store.create_homepage({"store_id": "s1", "store_name": "김밥천국"})
    ad = await store.create(REQUEST, fish)
    assert (site.kind, site.queue_position, ad.kind, ad.queue_position) == ("homepage", 1, "ad", 1)
    assert site.eta_seconds is None
    assert await store.claim_next(worker_pid=1) == ad.job_id
    assert await store.claim_next(worker_pid=2) is None
    assert await store.claim_next(worker_pid=3, kind="homepage") == site.job_id
    assert [j.job_id for j in await store.list_jobs(kind="homepage")] == [site.job_id]


async def test_recover_requeues_a_running_homepage_job_to_resume_from_its_checkpoint(data_dir: Path) -> None:
    async with await JobStore.open(data_dir) as old:
        site = await old.create_homepage({"store_id": "s1", "store_name": "김밥천국"})
        await old.claim_next(worker_pid=1, kind="homepage")
        await old.progress(site.job_id, ProgressUpdate(40.0, "content", None, "글 쓰는 중", -1, None, ["concept"]))
    async with await JobStore.open(data_dir) as new:
        report = await new.recover()
        assert report.requeued == [site.job_id] and report.failed == []
        again = await new.get(site.job_id)
        assert (again.status, again.queue_position, again.steps_done) == ("queued", 1, ["concept"])


def test_a_database_made_before_job_kinds_gains_stores_and_its_jobs_become_ads() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    MIGRATIONS[0](db)
    db.execute("INSERT INTO _migrations VALUES ('m001_initial', 0)")
    db.execute(
        "INSERT INTO jobs (id, seq, status, parameters, created_at, updated_at) VALUES ('a', 1, 'queued', '{}', 0, 0)"
    )
    assert migrate(db) == ["m002_stores_and_job_kinds"]
    assert db.execute("SELECT kind FROM jobs").fetchone()[0] == "ad"
    assert db.execute("SELECT COUNT(*) FROM stores").fetchone()[0] == 0
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE jobs SET kind = 'video'")
