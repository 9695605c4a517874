"""Files from every replica on the distributed stack (PostgreSQL and S3, no worker needed): what a worker left in
the bucket under jobs/{id}/ is served by the file route as a redirect to a presigned URL (presign=1) or
streamed for a download, inlined as an MCP preview and read as an MCP resource; shop records live in
PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import mcp.types as mt
import numpy as np
import pytest
import pytest_asyncio
from fastmcp import Client

from nanococoa_mcp.ad.images import encode_jpeg, encode_png
from nanococoa_mcp.app import service_running
from nanococoa_mcp.jobs.models import InputFile, Previews
from nanococoa_mcp.jobs.runs import Runs
from nanococoa_mcp.server.mcp import build_server
from nanococoa_mcp.service import Service
from nanococoa_mcp.tools import create_store, get_store, list_stores, update_store
from tests.conftest import SAMPLES
from tests.realservers import PostgresServer, S3Server
from tests.server.rest.support import assert_problem, png_size
from tests.stack import distributed_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")
RGBA = np.dstack([np.full((48, 64), 200, np.uint8), np.zeros((48, 64, 2), np.uint8), np.full((48, 64), 255, np.uint8)])
FINAL, PREVIEW, STEP = encode_png(RGBA), encode_jpeg(RGBA), encode_jpeg(RGBA[:24])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rest_service(
    postgres: PostgresServer, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    data_dir = tmp_path_factory.mktemp("files-distributed") / "data"
    with distributed_settings(postgres, s3, data_dir, presign=True) as settings:
        async with service_running(settings) as service:
            yield service


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def finished(rest_service: Service) -> str:
    """A cut-out job finished by a worker elsewhere: its row completed, its files only in the bucket."""
    store, blobs = rest_service.store, rest_service.files.blobs
    job = await store.create("cutout", {}, input_file=InputFile((SAMPLES / "dango.png").read_bytes(), ".png"))
    task = (await store.sql.fetchall("SELECT task_id FROM jobs WHERE id = ?", (job.job_id,)))[0]["task_id"]
    runs = Runs(store)
    claim = await runs.claim(job.job_id, task, worker_pid=1)
    assert claim is not None
    elsewhere = f"/srv/worker-7/scratch/jobs/{job.job_id}"
    for name, data in (("cutout.png", FINAL), ("preview.jpg", PREVIEW)):
        await blobs.put(f"jobs/{job.job_id}/{name}", data)
    await blobs.put(f"jobs/{job.job_id}/steps/step1_1.jpg", STEP)
    result = {"job_id": job.job_id, "cutout_path": f"{elsewhere}/cutout.png",
              "preview_path": f"{elsewhere}/preview.jpg", "width": 64, "height": 48, "confidence": 0.9,
              "low_confidence": False, "method": "matting", "bbox": [0, 0, 64, 48], "notes": []}  # fmt: skip
    assert await runs.completed(claim.job, claim.attempt, result, [], Previews(final_result=result["cutout_path"]))
    return job.job_id


async def test_a_file_in_the_bucket_redirects_to_a_presigned_url_and_downloads_through_the_api(
    client: httpx.AsyncClient, finished: str
) -> None:
    found = await client.get(f"/files/{finished}/cutout.png")
    assert found.status_code == 307, found.text
    async with httpx.AsyncClient() as outside:  # the browser follows it to the S3 server itself
        signed = await outside.get(found.headers["location"])
    assert signed.status_code == 200 and signed.content == FINAL
    download = await client.get(f"/files/{finished}/cutout.png", params={"download": "1"})
    assert download.status_code == 200 and download.content == FINAL and png_size(download.content) == (64, 48)
    assert download.headers["content-type"] == "image/png" and download.headers["content-length"] == str(len(FINAL))
    assert download.headers["content-disposition"] == f'attachment; filename="nanococoa-{finished[:8]}-cutout.png"'
    step = await client.get(f"/files/{finished}/step1_1.jpg", params={"download": "1"})  # a step's, under steps/
    assert step.content == STEP
    for name in ("final_9.png", "notes.txt", ".hidden.png"):
        assert_problem(await client.get(f"/files/{finished}/{name}"), 404, "not_found", "name")
    assert (await client.get(f"/files/{finished}/..%2f..%2fuploads")).status_code == 404
    status = (await client.get(f"/status/{finished}")).json()
    assert status["final_result_url"] == f"/files/{finished}/cutout.png"


async def test_mcp_inlines_a_preview_and_reads_a_resource_from_the_bucket(rest_service: Service, finished: str) -> None:
    async with Client(build_server(rest_service.settings)) as client:
        status = await client.call_tool("check_generation_status", {"job_id": finished})
        images = [c for c in status.content if isinstance(c, mt.ImageContent)]
        links = [c for c in status.content if isinstance(c, mt.ResourceLink)]
        assert len(images) == 1 and images[0].mime_type == "image/jpeg"
        assert [str(link.uri) for link in links] == [f"nanococoa://jobs/{finished}/cutout.png"]
        read = await client.read_resource(links[0].uri)
        step = await client.read_resource(f"nanococoa://steps/{finished}/step1_1.jpg")
    assert isinstance(read[0], mt.BlobResourceContents) and isinstance(step[0], mt.BlobResourceContents)
    assert base64.b64decode(read[0].blob) == FINAL and base64.b64decode(step[0].blob) == STEP


async def test_shop_records_are_kept_in_postgresql_and_their_photos_in_the_blob_store(rest_service: Service) -> None:
    made = await create_store(store_name="김밥천국 강남점", store_type="음식점 (분식)", budget=500, period=30,
                              advertising_goal="신규 고객 유치", target_customer="20-30대 직장인",
                              advertising_media="네이버 블로그", store_strength="24시간 영업",
                              location="서울 강남구", phone_number="02-1234-5678",
                              photo_paths=[str(SAMPLES / "dango.png")])  # fmt: skip
    changed = await update_store(made.store_id, phone_number="010-9876-5432")
    assert (await get_store(made.store_id)) == changed and changed.record["phone_number"] == "010-9876-5432"
    assert made.store_id in [s.store_id for s in (await list_stores()).stores]
    rows = await rest_service.store.sql.fetchall("SELECT record->>'store_name' AS name FROM stores")
    assert rows == [{"name": "김밥천국 강남점"}]
    # a key any worker fetches, not a path on this replica
    assert made.photos[0].startswith(f"stores/{made.store_id}/photo-1-") and made.photos[0].endswith(".png")
    assert await rest_service.files.blobs.get(made.photos[0]) == (SAMPLES / "dango.png").read_bytes()
