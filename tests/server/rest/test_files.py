"""Files over HTTP in process: a job's result images (and a download that names its job), nothing else of
the data directory however the path is spelt, and the web page with its static files."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import pytest_asyncio

from nanococoa_mcp.ad.images import encode_jpeg, encode_png
from nanococoa_mcp.service import Service
from tests.server.rest.support import assert_problem, png_size, record_finished_job

pytestmark = pytest.mark.asyncio(loop_scope="module")
JOB_ID = "0123456789abcdef"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def job_files(rest_service: Service) -> dict[str, bytes]:
    """A finished job of the local caller's, its folder as the worker leaves it, plus files that must never be
    served."""
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    data_dir = rest_service.settings.data_dir
    made = {
        f"jobs/{JOB_ID}/final_1.png": encode_png(rgba),
        f"jobs/{JOB_ID}/step1_1.jpg": encode_jpeg(rgba),
        f"steps/{JOB_ID}/step1_1.png": encode_png(rgba),
        f"jobs/{JOB_ID}/notes.txt": b"not a result",
        f"jobs/{JOB_ID}/.hidden.png": encode_png(rgba),
    }
    for rel, data in made.items():
        (data_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (data_dir / rel).write_bytes(data)
    await record_finished_job(rest_service, JOB_ID, "ad", {"job_id": JOB_ID})
    return made


async def test_a_result_image_is_served_and_downloads_under_a_name_naming_its_job(
    client: httpx.AsyncClient, job_files: dict[str, bytes]
) -> None:
    image = await client.get(f"/files/{JOB_ID}/final_1.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == job_files[f"jobs/{JOB_ID}/final_1.png"] and png_size(image.content) == (64, 48)
    assert "content-disposition" not in image.headers and "max-age" in image.headers["cache-control"]

    download = await client.get(f"/files/{JOB_ID}/final_1.png", params={"download": "1"})
    assert download.headers["content-disposition"] == f'attachment; filename="nanococoa-{JOB_ID[:8]}-final_1.png"'
    assert download.content == image.content
    assert "content-disposition" not in (await client.get(f"/files/{JOB_ID}/final_1.png?download=0")).headers

    preview = await client.get(f"/files/{JOB_ID}/step1_1.jpg")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    kept_scene = await client.get(f"/files/{JOB_ID}/step1_1.png")  # a step kept for re-runs, under steps/
    assert kept_scene.content == job_files[f"steps/{JOB_ID}/step1_1.png"]


@pytest.mark.parametrize("name", ["notes.txt", ".hidden.png", "final_9.png"])
async def test_a_job_folder_serves_only_its_images(
    client: httpx.AsyncClient, job_files: dict[str, bytes], name: str
) -> None:
    assert_problem(await client.get(f"/files/{JOB_ID}/{name}"), 404, "not_found", "name")


@pytest.mark.parametrize(
    "path",
    [
        "/files/..%2f../x",
        "/files/..%2f..%2fnanococoa.db/x",
        "/files/%2e%2e/nanococoa.db",
        "/files/..%2fnanococoa.db",
        "/files/jobs/..%2fnanococoa.db",
        "/files/x/..%2f..%2fnanococoa.db",
        "/files/uploads/..",
        "/files/%2e%2e/%2e%2e",
        f"/files/{JOB_ID}/..%2f..%2fnanococoa.db",
    ],
)
async def test_result_files_never_leave_the_job_folders(
    client: httpx.AsyncClient, rest_service: Service, job_files: dict[str, bytes], path: str
) -> None:
    assert (rest_service.settings.data_dir / "nanococoa.db").is_file()  # a file worth reaching
    url = client.base_url.copy_with(raw_path=path.encode())  # sent as written, dots and all
    r = await client.send(client.build_request("GET", url))
    assert r.status_code == 404, (path, r.text)
    assert b"SQLite" not in r.content


async def test_the_web_page_and_its_static_files_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/homepage"' in page.text and page.headers["cache-control"] == "no-cache"
    script = await client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "/api/generate" in script.text
    assert (await client.get("/static/no-such-file.js")).status_code == 404
