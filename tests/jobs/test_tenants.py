"""Tenants in the job store, on SQLite and on PostgreSQL: a job belongs to the tenant that queued it, another
tenant finds nothing of it, and each tenant's quotas (waiting jobs, jobs per hour, stored megabytes) refuse a
job before anything of it exists; on PostgreSQL two replicas submitting at once cannot both pass."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from nanococoa_mcp.errors import NotFound, QuotaExceeded
from nanococoa_mcp.jobs.models import InputFile
from nanococoa_mcp.jobs.quotas import MB, Quotas
from nanococoa_mcp.jobs.store import JobStore
from nanococoa_mcp.locations import PostgresDatabase
from nanococoa_mcp.tenancy import LOCAL_TENANT, Caller, acting_as
from tests.jobs.backends import Backend, kinds

A, B = Caller("a", remote=True), Caller("b", remote=True)


async def _store(backend: Backend, quotas: Quotas | None = None) -> JobStore:
    store = await backend.open(kinds(backend.data_dir))
    store.quotas = quotas or Quotas()
    return store


async def _rows(store: JobStore) -> list[tuple[str, str]]:
    return [(r["id"], r["tenant"]) for r in await store.sql.fetchall("SELECT id, tenant FROM jobs ORDER BY seq")]


def _uploads(store: JobStore, backend: Backend) -> list[str]:
    folder = backend.data_dir / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


async def test_a_job_is_its_tenants_and_another_tenant_finds_nothing_of_it(backend: Backend) -> None:
    async with await _store(backend) as store:
        with acting_as(A):
            job = await store.create("steps", {"stages": 1})
        with acting_as(B):
            with pytest.raises(NotFound) as missing:
                await store.get(job.job_id)
            assert missing.value.field == "job_id"
            with pytest.raises(NotFound):
                await store.request_stop(job.job_id)
            with pytest.raises(NotFound):
                await store.parameters(job.job_id)
            assert await store.list_jobs() == [] and not await store.owns(job.job_id)
            assert (await store.counts())["queued"] == 0
            with pytest.raises(NotFound) as parent:  # a re-run from a step needs a parent of one's own
                await store.create("steps", {"stages": 1}, parent_id=job.job_id, start_step=2)
            assert parent.value.field == "parent_id"
        with acting_as(A):
            assert (await store.get(job.job_id)).status == "queued"  # B's stop left it alone
            assert [j.job_id for j in await store.list_jobs()] == [job.job_id]
            assert (await store.counts())["queued"] == 1 and await store.owns(job.job_id)
        assert await store.list_jobs() == []  # the local tenant is a tenant like any other
        assert await store.queued_total() == 1  # the one queue's length is everyone's
        assert [t for _, t in await _rows(store)] == ["a"]


async def test_the_worker_side_runs_any_tenants_job_and_its_ticket_says_whose(backend: Backend) -> None:
    async with await _store(backend) as store:
        with acting_as(A):
            job = await store.create("steps", {"stages": 1})
        claimed = await store.claim_next(1234, ["steps"])  # the pool's own context: the local tenant
        assert claimed == job.job_id
        ticket = await store.load(job.job_id)
        assert ticket.tenant == "a"
        await store.record_files(job.job_id, 4096)
        found = await store.sql.fetchall("SELECT files_bytes FROM jobs WHERE id = ?", (job.job_id,))
        assert found[0]["files_bytes"] == 4096


async def test_over_the_waiting_jobs_quota_nothing_is_created_and_the_error_says_why(backend: Backend) -> None:
    async with await _store(backend, Quotas(max_queued=2)) as store:
        with acting_as(A):
            for _ in range(2):
                await store.create("steps", {"stages": 1}, input_file=InputFile(b"photo", ".png"))
            before, uploads = await _rows(store), _uploads(store, backend)
            with pytest.raises(QuotaExceeded) as over:
                await store.create("steps", {"stages": 1}, input_file=InputFile(b"photo", ".png"))
        assert (over.value.quota, over.value.limit, over.value.used) == ("queued_jobs", 2, 2)
        assert over.value.retry_after_s > 0 and over.value.field == "queued_jobs"
        assert over.value.to_dict()["quota"] == "queued_jobs"
        assert await _rows(store) == before and _uploads(store, backend) == uploads
        with acting_as(B):  # another tenant's room is its own
            await store.create("steps", {"stages": 1})
        first = (await store.sql.fetchall("SELECT id FROM jobs WHERE tenant = 'a' ORDER BY seq"))[0]["id"]
        await store.claim_next(1, ["steps"])  # one of A's starts: there is room again
        assert first == (await store.sql.fetchall("SELECT id FROM jobs WHERE status = 'running'"))[0]["id"]
        with acting_as(A):
            await store.create("steps", {"stages": 1})


async def test_the_local_tenant_is_held_to_quotas_when_they_are_set(backend: Backend) -> None:
    async with await _store(backend, Quotas(max_queued=1)) as store:
        await store.create("steps", {"stages": 1})
        with pytest.raises(QuotaExceeded):
            await store.create("steps", {"stages": 1})
        assert [t for _, t in await _rows(store)] == [LOCAL_TENANT]


async def test_over_the_hourly_quota_the_retry_comes_when_the_oldest_job_leaves_the_hour(backend: Backend) -> None:
    async with await _store(backend, Quotas(max_per_hour=2)) as store:
        with acting_as(A):
            old = await store.create("steps", {"stages": 1})
            await store.create("steps", {"stages": 1})
            # The first was made 50 minutes ago: it leaves the hour in about 10 minutes.
            await store.sql.fetchall("UPDATE jobs SET created_at = ? WHERE id = ?", (time.time() - 3000, old.job_id))
            with pytest.raises(QuotaExceeded) as over:
                await store.create("steps", {"stages": 1})
        assert over.value.quota == "jobs_per_hour" and over.value.used == 2
        assert 590 <= over.value.retry_after_s <= 601
        with acting_as(A):
            await store.sql.fetchall("UPDATE jobs SET created_at = ? WHERE id = ?", (time.time() - 3700, old.job_id))
            await store.create("steps", {"stages": 1})  # an hour on, it no longer counts


async def test_stored_megabytes_count_uploads_results_and_shop_photos(backend: Backend) -> None:
    async with await _store(backend, Quotas(max_stored_mb=1)) as store:
        with acting_as(A):
            job = await store.create("steps", {"stages": 1}, input_file=InputFile(b"x" * (MB // 2), ".png"))
            with pytest.raises(QuotaExceeded) as over:  # 0.5 + 0.6 MB > 1 MB
                await store.create("steps", {"stages": 1}, input_file=InputFile(b"x" * (6 * MB // 10), ".png"))
            assert over.value.quota == "stored_mb" and over.value.used == 0.5
            await store.record_files(job.job_id, MB // 2)  # its results: the tenant is at its limit
            with pytest.raises(QuotaExceeded):  # a job with no upload would still store its results
                await store.create("steps", {"stages": 1})
        with acting_as(B):
            await store.create("steps", {"stages": 1}, input_file=InputFile(b"x" * (MB // 2), ".png"))
            await store.sql.fetchall(
                "INSERT INTO stores (id, tenant, record, photo_bytes, created_at, updated_at) "
                "VALUES ('shop', 'b', '{}', ?, 0, 0)",
                (MB // 2 + 1,),
            )
            with pytest.raises(QuotaExceeded):  # B's shop photos count too
                await store.create("steps", {"stages": 1})
        assert len(_uploads(store, backend)) == 2


async def test_two_replicas_submitting_at_once_for_one_tenant_cannot_both_pass(
    database: PostgresDatabase, data_dir: Path
) -> None:
    backend = Backend("postgres", data_dir, database)  # SQLite is one writer anyway; the race is PostgreSQL's
    quotas = Quotas(max_queued=1)
    first, second = await _store(backend, quotas), await _store(backend, quotas)
    try:
        async def submit(store: JobStore) -> str:
            with acting_as(A):
                try:
                    await store.create("steps", {"stages": 1}, input_file=InputFile(b"p", ".png"))
                except QuotaExceeded:
                    return "refused"
            return "queued"

        for _ in range(5):  # several rounds: each round two replicas race for the one place
            outcomes = await asyncio.gather(submit(first), submit(second))
            assert sorted(outcomes) == ["queued", "refused"]
            await first.sql.fetchall("UPDATE jobs SET status = 'stopped' WHERE tenant = 'a'")
        assert len(await _rows(first)) == 5
        assert len(_uploads(first, backend)) == 5  # each refused upload was removed again
    finally:
        await first.close()
        await second.close()
