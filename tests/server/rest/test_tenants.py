"""Tenants at the doors, on the embedded stack: what tenant A made (a cut-out job and its files, a shop, a
finished site) is a 404 to tenant B on every REST route, the progress stream and the file URLs, and an MCP
`not_found` on every tool and resource that names it; B's lists and counts never show it; a remote caller may
not name a server path. Over a quota: 429 with Retry-After (MCP: a typed tool error) and no job.

Auth is on, as hosted: tenant A holds an API key, tenant B an access token from a loopback OAuth issuer (quota
tenant C a key, D a token). MCP goes over a real port, Streamable HTTP and legacy SSE; a request without a
credential is challenged, never served."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import mcp.types as mt
import pytest
import pytest_asyncio
from fastmcp import Client

from nanococoa_mcp.server.auth import MEDIA_COOKIE
from nanococoa_mcp.server.mcp import build_server
from nanococoa_mcp.service import Service
from tests.conftest import SAMPLES
from tests.server.rest.support import (
    DANGO,
    SHOP,
    TERMINAL,
    Doors,
    assert_problem,
    b64,
    call_tool,
    doors_with_auth,
    record_finished_job,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
SERVICE_SETTINGS = {"tenant_max_jobs_per_hour": 4}
SITE = "tteok_20260101_090000"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def doors(rest_service: Service) -> AsyncIterator[Doors]:
    async with doors_with_auth(rest_service) as doors:
        for tenant in ("a", "c"):  # API keys; b and d come with access tokens
            await doors.enrol(tenant)
        yield doors


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def owned(doors: Doors, rest_service: Service) -> dict[str, str]:
    """What tenant A made: a finished cut-out job (its files), a shop, and a finished homepage job's site."""
    made = await doors.client.post("/api/cutout", json={"image": b64(DANGO), "wait": True}, headers=doors.auth("a"))
    assert made.status_code in (200, 202), made.text
    job = made.json()["job_id"]
    deadline = time.monotonic() + 120
    while (st := (await doors.client.get(f"/status/{job}", headers=doors.auth("a"))).json())["status"] not in TERMINAL:
        assert time.monotonic() < deadline, st
        await asyncio.sleep(0.2)
    assert st["status"] == "completed", st
    shop = await doors.client.post("/api/stores", json={**SHOP, "photos": [b64(DANGO)]}, headers=doors.auth("a"))
    assert shop.status_code == 201, shop.text
    # A finished homepage job of A's and the site it wrote (the site itself is the homepage tests' business).
    site_dir = rest_service.settings.data_dir / "generated_sites" / SITE
    site_dir.mkdir(parents=True)
    (site_dir / "index.html").write_text("<!doctype html><title>떡집</title>", encoding="utf-8")
    (site_dir.parent / f"{SITE}.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    home = "home-of-a"
    result = {"site_id": SITE, "output_path": str(site_dir), "pages": ["index.html"], "generated_images": 0,
              "zip_path": str(site_dir.parent / f"{SITE}.zip")}  # fmt: skip
    await record_finished_job(rest_service, home, "homepage", result, {"store_id": shop.json()["store_id"]}, "a")
    return {"job": job, "store": shop.json()["store_id"], "home": home, "site": SITE}


# Every REST route that names something of a tenant's: (method, path, JSON body).
NAMED_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/status/{job}", None),
    ("GET", "/api/status/{job}", None),
    ("GET", "/jobs/{job}/events", None),
    ("GET", "/files/{job}/cutout.png", None),
    ("GET", "/files/{job}/cutout.png?download=1", None),
    ("GET", "/files/{job}/preview.jpg", None),
    ("GET", "/homepage/status/{home}", None),
    ("GET", "/homepage/download/{home}", None),
    ("GET", "/api/stores/{store}", None),
    ("PUT", "/api/stores/{store}", {"phone_number": "010-0000-0000"}),
    ("GET", "/sites/{site}/", None),
    ("GET", "/sites/{site}/index.html", None),
    ("POST", "/stop/{job}", None),
    ("POST", "/api/stop/{job}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), NAMED_ROUTES)
async def test_another_tenant_gets_404_on_every_route_that_names_it(
    doors: Doors, owned: dict[str, str], method: str, path: str, body: dict[str, Any] | None
) -> None:
    url = path.format(**owned)
    refused = await doors.client.request(method, url, json=body, headers=doors.auth("b"))
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"] == "not_found" and refused.headers["content-type"] == "application/problem+json"
    anonymous = await doors.client.request(method, url, json=body)
    assert_problem(anonymous, 401, "unauthorized", "Authorization")
    assert anonymous.headers["www-authenticate"].startswith('Bearer resource_metadata="')
    if method == "GET":  # the owner is served the same URL, also through the web page's media cookie
        served = await doors.client.get(url, headers=doors.auth("a"))
        assert served.status_code == 200, served.text
        assert served.content
        for tenant, code in (("b", 404), ("a", 200)):
            cookie = {"Cookie": f"{MEDIA_COOKIE}={doors.auth(tenant)['Authorization'].removeprefix('Bearer ')}"}
            assert (await doors.client.get(url, headers=cookie)).status_code == code, tenant


async def test_another_tenants_stop_leaves_the_job_as_it_was(doors: Doors, owned: dict[str, str]) -> None:
    for route in ("/stop/{job}", "/api/stop/{job}"):
        assert (await doors.client.post(route.format(**owned), headers=doors.auth("b"))).status_code == 404
    status = await doors.client.get(f"/status/{owned['job']}", headers=doors.auth("a"))
    assert status.json()["status"] == "completed"


async def test_another_tenants_lists_and_counts_never_show_it(doors: Doors, owned: dict[str, str]) -> None:
    for tenant, jobs, shops in (("a", {owned["job"], owned["home"]}, {owned["store"]}), ("b", set(), set())):
        listed = (await doors.client.get("/api/jobs", params={"limit": 200}, headers=doors.auth(tenant))).json()
        assert {j["job_id"] for j in listed["jobs"]} == jobs
        stores = (await doors.client.get("/api/stores", headers=doors.auth(tenant))).json()["stores"]
        assert {s["store_id"] for s in stores} == shops
        health = (await doors.client.get("/health", headers=doors.auth(tenant))).json()
        assert health["jobs"]["completed"] == len(jobs)
        assert health["data_dir"] is None  # a remote caller never sees a server path
    anonymous = (await doors.client.get("/health")).json()  # open, and counting nobody's jobs
    assert sum(anonymous["jobs"].values()) == 0 and anonymous["data_dir"] is None


async def test_a_rerun_from_another_tenants_job_is_refused_naming_the_parent(
    doors: Doors, owned: dict[str, str]
) -> None:
    body = {"parent_id": owned["job"], "start_step": 2, "text_content": "떡 사세요"}
    refused = await doors.client.post("/generate", json=body, headers=doors.auth("b"))
    assert_problem(refused, 404, "not_found", "parent_id")
    listed = (await doors.client.get("/api/jobs", headers=doors.auth("b"))).json()
    assert listed["jobs"] == []


# Every MCP tool that names something of a tenant's: (tool, arguments, the field the error names).
NAMED_TOOLS: list[tuple[str, dict[str, Any], str]] = [
    ("check_generation_status", {"job_id": "{job}"}, "job_id"),
    ("check_generation_status", {"job_id": "{home}"}, "job_id"),
    ("stop_generation", {"job_id": "{job}"}, "job_id"),
    ("generate_ad_image", {"parent_id": "{job}", "start_step": 2, "copy": "떡 사세요"}, "parent_id"),
    ("get_store", {"store_id": "{store}"}, "store_id"),
    ("update_store", {"store_id": "{store}", "phone_number": "010-0000-0000"}, "store_id"),
    ("generate_homepage", {"store_id": "{store}"}, "store_id"),
]
RESOURCES = [  # both resource templates
    "nanococoa://jobs/{job}/cutout.png", "nanococoa://jobs/{job}/preview.jpg", "nanococoa://steps/{job}/preview.jpg"
]


def _filled(args: dict[str, Any], owned: dict[str, str]) -> dict[str, Any]:
    return {k: v.format(**owned) if isinstance(v, str) else v for k, v in args.items()}


@pytest.mark.parametrize("path", ["/mcp", "/sse"])
async def test_mcp_tools_and_resources_are_not_found_for_another_tenant(
    doors: Doors, owned: dict[str, str], path: str
) -> None:
    async with doors.mcp("b", path) as b:
        for name, args, field in NAMED_TOOLS:
            failed, payload = await call_tool(b, name, _filled(args, owned))
            assert failed and payload["error"] == "not_found" and payload["field"] == field, (name, payload)
        for uri in RESOURCES:
            with pytest.raises(Exception, match="no file"):
                await b.read_resource(uri.format(**owned))
        assert (await call_tool(b, "list_jobs", {"limit": 200}))[1]["jobs"] == []
        assert (await call_tool(b, "list_stores", {}))[1]["stores"] == []
        health = (await call_tool(b, "server_health", {}))[1]
        assert sum(health["jobs"].values()) == 0
    async with doors.mcp("a", path) as a:
        failed, status = await call_tool(a, "check_generation_status", {"job_id": owned["job"]})
        assert not failed and status["status"] == "completed"
        assert (await call_tool(a, "get_store", {"store_id": owned["store"]}))[1]["store_id"] == owned["store"]
        listed = (await call_tool(a, "list_jobs", {"limit": 200}))[1]["jobs"]
        assert {j["job_id"] for j in listed} == {owned["job"], owned["home"]}
        for uri in RESOURCES:
            read = await a.read_resource(uri.format(**owned))
            assert isinstance(read[0], mt.BlobResourceContents) and read[0].blob


PHOTO = str(SAMPLES / "dango.png")
PATH_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("generate_ad_image", {"copy": "떡 사세요", "product_image_path": PHOTO}, "product_image_path"),
    ("remove_background", {"image_path": PHOTO}, "image_path"),
    ("analyze_layout", {"image_path": PHOTO}, "image_path"),
    ("create_store", {**SHOP, "photo_paths": [PHOTO]}, "photo_paths"),
    ("update_store", {"store_id": "{store}", "photo_paths": [PHOTO]}, "photo_paths"),
]


async def test_a_remote_caller_may_not_name_a_file_on_the_server(
    doors: Doors, rest_service: Service, owned: dict[str, str]
) -> None:
    async def jobs() -> int:
        return len(await rest_service.store.sql.fetchall("SELECT id FROM jobs"))

    before = await jobs()
    for tenant, path in (("a", "/mcp"), ("b", "/sse")):  # an API key's caller and an access token's
        async with doors.mcp(tenant, path) as remote:
            for name, args, field in PATH_ARGUMENTS:
                failed, payload = await call_tool(remote, name, _filled(args, owned))
                if tenant == "b" and name == "update_store":  # not B's shop: not found before the path matters
                    assert failed and payload["error"] == "not_found", payload
                    continue
                assert failed and payload["error"] == "invalid_input" and payload["field"] == field, payload
                assert "content" in payload["message"] and "base64" in payload["accepted"]
    assert await jobs() == before
    async with Client(build_server(rest_service.settings)) as local:  # stdio and the loopback user may
        failed, made = await call_tool(local, "analyze_layout", {"image_path": PHOTO, "wait": False})
        assert not failed and made["status"] in ("queued", "running", "completed")


async def test_over_the_hourly_quota_rest_answers_429_with_retry_after_and_mcp_a_typed_error(
    doors: Doors, rest_service: Service, owned: dict[str, str]
) -> None:
    async def jobs(tenant: str) -> int:
        found = await rest_service.store.sql.fetchall("SELECT id FROM jobs WHERE tenant = ?", (tenant,))
        return len(found)

    cutout = {"image": b64(DANGO), "wait": False}
    for _ in range(4):  # the quota is 4 an hour: tenant c (an API key) takes them all
        made = await doors.client.post("/api/cutout", json=cutout, headers=doors.auth("c"))
        assert made.status_code == 202, made.text
    uploads = sorted((rest_service.settings.data_dir / "uploads").iterdir())
    refused = await doors.client.post("/api/cutout", json=cutout, headers=doors.auth("c"))
    assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert (problem["error"], problem["quota"], problem["limit"], problem["used"]) == (
        "quota_exceeded", "jobs_per_hour", 4, 4
    )
    assert 1 <= int(refused.headers["retry-after"]) <= 3600 and problem["retry_after_s"] == int(
        refused.headers["retry-after"]
    )
    assert await jobs("c") == 4 and sorted((rest_service.settings.data_dir / "uploads").iterdir()) == uploads
    for path in ("/mcp", "/sse"):
        async with doors.mcp("c", path) as c:
            failed, payload = await call_tool(c, "remove_background", cutout)
        assert failed and payload["error"] == "quota_exceeded" and payload["quota"] == "jobs_per_hour", payload
        assert 1 <= payload["retry_after_s"] <= 3600 and (payload["limit"], payload["used"]) == (4, 4)
    assert await jobs("c") == 4 and sorted((rest_service.settings.data_dir / "uploads").iterdir()) == uploads
    other = await doors.client.post("/api/cutout", json=cutout, headers=doors.auth("d"))
    assert other.status_code == 202  # another tenant's hour is its own (d: an access token)
    for tenant in ("c", "d"):  # the worker need not make them
        for listed in (await doors.client.get("/api/jobs", headers=doors.auth(tenant))).json()["jobs"]:
            await doors.client.post(f"/stop/{listed['job_id']}", headers=doors.auth(tenant))
