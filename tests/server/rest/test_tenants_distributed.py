"""Tenants on the distributed stack (PostgreSQL and S3, no ad worker: queued ads stay queued): a job a worker
finished for tenant A, its files in the bucket and A's shop are invisible to tenant B through the tools, MCP
resources and REST; a `nanococoa worker` runs a homepage as its tenant (the ads it queues are that tenant's,
and it reads no shop of another's); a tenant over its
waiting-jobs quota gets 429 with Retry-After and no job, no upload. The doors run with auth on: A and Q hold API
keys (kept in PostgreSQL), B and R access tokens from a loopback issuer."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import mcp.types as mt
import numpy as np
import pytest
import pytest_asyncio
from fastmcp import Client

from nanococoa_mcp.ad.images import encode_jpeg, encode_png
from nanococoa_mcp.errors import NotFound
from nanococoa_mcp.jobs.models import InputFile, JobStatus, Previews
from nanococoa_mcp.jobs.runs import Runs
from nanococoa_mcp.server.mcp import build_server
from nanococoa_mcp.service import Service
from nanococoa_mcp.tenancy import Caller, acting_as
from nanococoa_mcp.tools import (
    check_generation_status,
    create_store,
    generate_homepage,
    get_store,
    list_jobs,
    list_stores,
    stop_generation,
)
from tests.conftest import SAMPLES
from tests.realservers import PostgresServer, S3Server
from tests.server.rest.support import DANGO, SHOP, Doors, b64, call_tool, doors_with_auth
from tests.stack import distributed_service, worker_beside

pytestmark = pytest.mark.asyncio(loop_scope="module")
A, B, H = Caller("a", remote=True), Caller("b", remote=True), Caller("h", remote=True)
RGBA = np.dstack([np.full((48, 64), 90, np.uint8), np.zeros((48, 64, 2), np.uint8), np.full((48, 64), 255, np.uint8)])
FINAL, PREVIEW = encode_png(RGBA), encode_jpeg(RGBA)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rest_service(
    postgres: PostgresServer, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    data_dir = tmp_path_factory.mktemp("tenants-distributed") / "data"
    async with distributed_service(postgres, s3, data_dir, tenant_max_queued_jobs=1) as service:
        yield service


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def doors(rest_service: Service) -> AsyncIterator[Doors]:
    async with doors_with_auth(rest_service) as doors:
        for tenant in ("a", "q"):
            await doors.enrol(tenant)
        yield doors


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def finished(rest_service: Service) -> str:
    """Tenant A's cut-out, finished by a worker elsewhere: its row completed, its files only in the bucket."""
    store, blobs = rest_service.store, rest_service.files.blobs
    with acting_as(A):
        job = await store.create("cutout", {}, input_file=InputFile(DANGO, ".png"))
    task = (await store.sql.fetchall("SELECT task_id FROM jobs WHERE id = ?", (job.job_id,)))[0]["task_id"]
    runs = Runs(store)
    claim = await runs.claim(job.job_id, task, worker_pid=1)  # a worker claims any tenant's job by id
    assert claim is not None and claim.job.tenant == "a"
    for name, data in (("cutout.png", FINAL), ("preview.jpg", PREVIEW)):
        await blobs.put(f"jobs/{job.job_id}/{name}", data)
    elsewhere = f"/srv/worker-3/scratch/jobs/{job.job_id}"
    result = {"job_id": job.job_id, "cutout_path": f"{elsewhere}/cutout.png",
              "preview_path": f"{elsewhere}/preview.jpg", "width": 64, "height": 48, "confidence": 0.9,
              "low_confidence": False, "method": "matting", "bbox": [0, 0, 64, 48], "notes": []}  # fmt: skip
    assert await runs.completed(claim.job, claim.attempt, result, [], Previews(final_result=result["cutout_path"]))
    await runs.record_files(job.job_id, len(FINAL) + len(PREVIEW))
    return job.job_id


async def test_a_job_finished_elsewhere_and_its_files_are_not_found_for_another_tenant(
    rest_service: Service, doors: Doors, finished: str
) -> None:
    with acting_as(B):
        for call in (check_generation_status, stop_generation):
            with pytest.raises(NotFound):
                await call(finished)
        with pytest.raises(NotFound):
            await rest_service.read_file(finished, "cutout.png")
        assert (await list_jobs(limit=200)).jobs == []
        async with Client(build_server(rest_service.settings)) as b:
            with pytest.raises(Exception, match="no file"):
                await b.read_resource(f"nanococoa://jobs/{finished}/cutout.png")
    async with doors.mcp("b", "/mcp") as b:
        with pytest.raises(Exception, match="no file"):
            await b.read_resource(f"nanococoa://jobs/{finished}/cutout.png")
        failed, payload = await call_tool(b, "check_generation_status", {"job_id": finished})
        assert failed and payload["error"] == "not_found"
    async with doors.mcp("a", "/sse") as a:
        read = await a.read_resource(f"nanococoa://jobs/{finished}/cutout.png")
        assert isinstance(read[0], mt.BlobResourceContents) and base64.b64decode(read[0].blob) == FINAL
    with acting_as(A):
        assert (await check_generation_status(finished)).status == "completed"
        assert await rest_service.read_file(finished, "cutout.png") == FINAL
        assert [j.job_id for j in (await list_jobs()).jobs] == [finished]
    for url in (f"/files/{finished}/cutout.png", f"/status/{finished}", f"/jobs/{finished}/events"):
        assert (await doors.client.get(url, headers=doors.auth("b"))).status_code == 404
        assert (await doors.client.get(url, headers=doors.auth("a"))).status_code == 200
    stored = await rest_service.store.sql.fetchall(
        "SELECT tenant, upload_bytes, files_bytes FROM jobs WHERE id = ?", (finished,)
    )
    assert stored == [{"tenant": "a", "upload_bytes": len(DANGO), "files_bytes": len(FINAL) + len(PREVIEW)}]


async def test_shop_records_in_postgresql_are_their_tenants(rest_service: Service) -> None:
    with acting_as(A):
        made = await create_store(**SHOP, photos=[b64(DANGO)])
    with acting_as(B):
        with pytest.raises(NotFound):
            await get_store(made.store_id)
        assert (await list_stores()).stores == []
        with pytest.raises(NotFound):
            await generate_homepage(made.store_id)
    with acting_as(A):
        assert [s.store_id for s in (await list_stores()).stores] == [made.store_id]
    rows = await rest_service.store.sql.fetchall("SELECT tenant, photo_bytes FROM stores WHERE id = ?",
                                                 (made.store_id,))
    assert rows == [{"tenant": "a", "photo_bytes": len(DANGO)}]


async def _homepage_status(service: Service, caller: Caller, job_id: str, *, until: set[str]) -> JobStatus:
    deadline = time.monotonic() + 90
    while True:
        with acting_as(caller):
            st = await service.status(job_id, metrics=False)
        if st.status in until:
            return st
        assert time.monotonic() < deadline, st
        await asyncio.sleep(0.3)


async def test_a_worker_runs_a_homepage_as_its_tenant_and_reads_only_that_tenants_shop(
    rest_service: Service, s3: S3Server, tmp_path: Path
) -> None:
    with acting_as(H):
        shop = await create_store(**SHOP, photos=[b64((SAMPLES / "dango.png").read_bytes())])
        foreign = await generate_homepage(shop.store_id)
    # the shop changes hands before a worker takes the job: the run must not read it for H
    await rest_service.store.sql.fetchall("UPDATE stores SET tenant = 'x' WHERE id = ? RETURNING id", (shop.store_id,))
    with worker_beside(rest_service.settings, s3, tmp_path, "--kinds", "homepage"):  # its ads stay queued
        failed = await _homepage_status(rest_service, H, foreign.job_id, until={"failed", "completed"})
        assert failed.status == "failed" and failed.error is not None and failed.error.error == "not_found", failed
        await rest_service.store.sql.fetchall("UPDATE stores SET tenant = 'h' WHERE id = ? RETURNING id",
                                              (shop.store_id,))
        with acting_as(H):
            home = await generate_homepage(shop.store_id)
        deadline = time.monotonic() + 90
        ads: list[dict[str, str]] = []
        while not ads:  # the run reaches its images node and queues its first ad (no worker makes it here)
            assert time.monotonic() < deadline, "the homepage run queued no ad"
            await asyncio.sleep(0.3)
            ads = [dict(r) for r in await rest_service.store.sql.fetchall(
                "SELECT id, tenant FROM jobs WHERE kind = 'ad'"
            )]  # fmt: skip
        assert {ad["tenant"] for ad in ads} == {"h"}
        pid = await rest_service.store.sql.fetchall("SELECT worker_pid FROM jobs WHERE id = ?", (home.job_id,))
        assert pid[0]["worker_pid"] not in (None, os.getpid())  # the worker runs it, not this service
        with acting_as(H):
            listed = {j.job_id for j in (await list_jobs(limit=200)).jobs}
            assert {ad["id"] for ad in ads} | {home.job_id} <= listed
            await stop_generation(home.job_id)
            for ad in ads:
                await stop_generation(ad["id"])
        await _homepage_status(rest_service, H, home.job_id, until={"stopped", "failed", "completed"})


async def test_over_the_waiting_jobs_quota_rest_answers_429_and_creates_nothing(
    rest_service: Service, doors: Doors
) -> None:
    blobs = rest_service.files.blobs

    async def state() -> tuple[int, list[str]]:
        found = await rest_service.store.sql.fetchall("SELECT id FROM jobs WHERE tenant = 'q'")
        return len(found), sorted(info.key for info in await blobs.list("uploads"))

    cutout = {"image": b64(DANGO), "wait": False}
    first = await doors.client.post("/api/cutout", json=cutout, headers=doors.auth("q"))
    assert first.status_code == 202, first.text
    before = await state()
    refused = await doors.client.post("/api/cutout", json=cutout, headers=doors.auth("q"))
    assert refused.status_code == 429 and refused.headers["retry-after"] == "10"
    assert refused.json()["quota"] == "queued_jobs" and refused.json()["limit"] == 1
    assert await state() == before and before[0] == 1
    async with doors.mcp("q", "/mcp") as q:
        failed, payload = await call_tool(q, "remove_background", cutout)
    assert failed and (payload["error"], payload["quota"], payload["retry_after_s"]) == (
        "quota_exceeded", "queued_jobs", 10
    )
    assert await state() == before
    other = await doors.client.post("/api/cutout", json=cutout, headers=doors.auth("r"))
    assert other.status_code == 202  # another tenant's queue room is its own
    for tenant, made in (("q", first), ("r", other)):
        await doors.client.post(f"/stop/{made.json()['job_id']}", headers=doors.auth(tenant))
