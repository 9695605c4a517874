"""The MCP door's contract, in memory: FastMCP's `Client(server)` against `app.mcp_server()` (its lifespan runs
the job service), no subprocess. The tool list and the refused requests, which reach no job, share one server
in test_mcp_contract.py; the transports themselves are tested in test_mcp_stdio.py, test_mcp_http.py and
test_inspector.py."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from nanococoa_mcp.app import mcp_server
from nanococoa_mcp.settings import get_settings
from tests.conftest import SAMPLES
from tests.server.conftest import tool_error

LONG_AD = {"copy": "건어물 대박 세일", "product_image_path": str(SAMPLES / "fish.png"), "variants": 4, "size": "9:16"}


@pytest.fixture
async def client(data_dir: Path) -> AsyncIterator[Client[Any]]:
    async with Client(mcp_server(get_settings())) as running:
        yield running


async def _until_done(client: Client[Any], job_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await client.call_tool("check_generation_status", {"job_id": job_id})
        assert not result.is_error, result.content
        status = result.structured_content
        assert status is not None
        if status["status"] in ("completed", "failed", "stopped"):
            return dict(status)
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.1)


async def test_a_job_id_comes_back_at_once_and_the_finished_ad_is_polled(client: Client[Any]) -> None:
    accepted = await client.call_tool(
        "generate_ad_image", {"copy": "수제 떡 당일 제작", "product_image_path": str(SAMPLES / "dango.png")}
    )
    job = accepted.structured_content
    assert job is not None and job["status"] in ("queued", "running") and job["result"] is None
    done = await _until_done(client, job["job_id"])
    assert done["status"] == "completed" and done["progress_percent"] == 100
    assert done["result"]["variants"][0]["quality"]["passed"] is True
    assert done["eta_seconds"] is None and done["system_metrics"]["ram_total_gb"] > 0
    final = await client.call_tool("check_generation_status", {"job_id": job["job_id"]})
    images = [c for c in final.content if c.type == "image"]
    assert len(images) == 1 and len(base64.b64decode(images[0].data)) < 150_000  # a preview, never the full ad
    links = [c for c in final.content if c.type == "resource_link"]
    assert any(str(link.uri).endswith("/final_1.png") for link in links)
    full = (await client.read_resource(links[0].uri))[0]
    assert base64.b64decode(full.blob)[:8] == b"\x89PNG\r\n\x1a\n"  # type: ignore[union-attr]
    listed = await client.call_tool("list_jobs", {})
    assert [j["job_id"] for j in listed.structured_content["jobs"]] == [job["job_id"]]  # type: ignore[index]
    health = await client.call_tool("server_health", {})
    assert health.structured_content["jobs"]["completed"] == 1  # type: ignore[index]


async def test_wait_sends_rising_progress_all_before_the_result(client: Client[Any]) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    result = await client.call_tool(
        "generate_ad_image",
        {"copy": "꿀사과 특가", "product_image_path": str(SAMPLES / "apple.jpg"), "wait": True},
        progress_handler=on_progress,
    )
    after_result = len(progress)
    assert result.structured_content is not None and result.structured_content["status"] == "completed"
    values = [v for v, _m in progress]
    assert values == sorted(values) and len(values) >= 3
    assert any(m and "step2_text" in m for _v, m in progress)  # the step names travel with the progress
    await asyncio.sleep(0.3)
    assert len(progress) == after_result  # nothing arrives after the result


async def test_wait_is_bounded_and_returns_the_running_job(client: Client[Any]) -> None:
    result = await client.call_tool("generate_ad_image", {**LONG_AD, "wait": True, "wait_timeout_sec": 0.5})
    job = result.structured_content
    assert job is not None and job["status"] in ("queued", "running")
    stopped = await client.call_tool("stop_generation", {"job_id": job["job_id"]})
    assert stopped.structured_content is not None
    assert (await _until_done(client, job["job_id"]))["status"] == "stopped"


async def test_the_step_1_preview_of_a_running_job_is_readable(client: Client[Any]) -> None:
    job = (await client.call_tool("generate_ad_image", LONG_AD)).structured_content
    assert job is not None
    for _ in range(600):
        status = await client.call_tool("check_generation_status", {"job_id": job["job_id"]})
        if status.structured_content["step1_result"]:  # type: ignore[index]
            break
        await asyncio.sleep(0.05)
    links = [c for c in status.content if c.type == "resource_link" and "step1_1.jpg" in str(c.uri)]
    assert links and str(links[0].uri).startswith("nanococoa://steps/")
    blob = (await client.read_resource(links[0].uri))[0]
    assert base64.b64decode(blob.blob)[:3] == b"\xff\xd8\xff"  # type: ignore[union-attr]
    await client.call_tool("stop_generation", {"job_id": job["job_id"]})


async def test_an_unknown_job_is_a_typed_not_found_logged_as_one_line(
    client: Client[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for tool in ("check_generation_status", "stop_generation"):
        payload = tool_error(await client.call_tool(tool, {"job_id": "no-such-job"}, raise_on_error=False))
        assert (payload["error"], payload["field"]) == ("not_found", "job_id")
    mentions = [r for r in caplog.records if "no-such-job" in r.getMessage()]
    assert mentions, [r.getMessage() for r in caplog.records]
    assert all(r.exc_info is None and r.levelno <= logging.INFO for r in mentions)  # no traceback, no alarm
    assert not [r for r in caplog.records if r.exc_info is not None]


async def test_a_resource_outside_the_jobs_folders_is_not_found(client: Client[Any]) -> None:
    with pytest.raises(Exception, match="not found"):
        await client.read_resource("nanococoa://jobs/..%2F..%2Fetc/passwd")
    with pytest.raises(Exception, match="no file"):
        await client.read_resource("nanococoa://jobs/nojob/final_1.png")


async def test_the_seeds_argument_names_are_accepted_as_aliases_and_documented(client: Client[Any]) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    props = tools["generate_ad_image"].input_schema["properties"]
    assert all("seed" in props[name]["description"] for name in ("text_content", "background_prompt", "text_prompt"))
    result = await client.call_tool("generate_ad_image", {
        "text_content": "갓 볶은 원두 커피", "product_image_path": str(SAMPLES / "coffee.jpg"), "size": "1:1",
        "background_prompt": "Wooden table in a cozy cafe, sunlight", "text_prompt": "neon sign letters", "wait": True,
    })
    job = result.structured_content
    assert job is not None and job["status"] == "completed", job
    params = job["parameters"]
    assert params["text_content"] == "갓 볶은 원두 커피" and params["bg_prompt"].startswith("Wooden table")
    assert params["html_style_prompt"] == "neon sign letters"
    assert (params["style"], params["text_style"]) == ("cafe", "neon")  # the prompts name them, as in the seed
    both = tool_error(await client.call_tool(
        "generate_ad_image", {"copy": "세일", "text_content": "특가", "product_image_path": str(SAMPLES / "apple.jpg")},
        raise_on_error=False,
    ))
    assert (both["error"], both["field"]) == ("invalid_input", "text_content")
