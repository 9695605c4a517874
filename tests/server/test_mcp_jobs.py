"""Ad jobs through real MCP clients over HTTP (both protocol eras) and legacy SSE: accepted at once and
polled, followed with progress (wait=true), cancelled when the client gives up, previews and links."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from tests.conftest import SAMPLES
from tests.server.serving import ServerProcess

LONG_AD = {"copy": "건어물 대박 세일", "product_image_path": str(SAMPLES / "fish.png"), "variants": 4, "size": "9:16"}


@pytest.fixture
def server(data_dir: Path) -> Iterator[str]:
    with ServerProcess(data_dir) as running:
        yield running.base


async def _until_done(client: Any, job_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await client.call_tool("check_generation_status", {"job_id": job_id})
        assert not result.is_error, result.content
        status = result.structured_content
        if status["status"] in ("completed", "failed", "stopped"):
            return dict(status)
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_job_id_comes_back_at_once_and_the_finished_ad_is_polled(server: str, mode: str) -> None:
    async with Client(f"{server}/mcp", mode=mode) as client:
        accepted = await client.call_tool(
            "generate_ad_image", {"copy": "수제 떡 당일 제작", "product_image_path": str(SAMPLES / "dango.png")}
        )
        assert not accepted.is_error, accepted.content
        job = accepted.structured_content
        assert job["status"] in ("queued", "running") and job["result"] is None
        done = await _until_done(client, job["job_id"])
        assert done["status"] == "completed" and done["progress_percent"] == 100
        assert done["result"]["variants"][0]["quality"]["passed"] is True
        assert done["eta_seconds"] is None and done["system_metrics"]["ram_total_gb"] > 0
        final = await client.call_tool("check_generation_status", {"job_id": job["job_id"]})
        images = [c for c in final.content if c.type == "image"]
        assert len(images) == 1 and len(base64.b64decode(images[0].data)) < 150_000
        links = [c for c in final.content if c.type == "resource_link"]
        assert any(str(link.uri).endswith("/final_1.png") for link in links)
        listed = await client.call_tool("list_jobs", {})
        assert [j["job_id"] for j in listed.structured_content["jobs"]] == [job["job_id"]]
        health = await client.call_tool("server_health", {})
        assert health.structured_content["jobs"]["completed"] == 1


async def test_wait_sends_rising_progress_before_the_result_over_http(server: str) -> None:
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with Client(f"{server}/mcp", mode="legacy") as client:
        result = await client.call_tool(
            "generate_ad_image",
            {"copy": "꿀사과 특가", "product_image_path": str(SAMPLES / "apple.jpg"), "wait": True},
            progress_callback=on_progress,
        )
    assert not result.is_error, result.content
    assert result.structured_content["status"] == "completed"
    values = [v for v, _m in progress]
    assert values == sorted(values) and len(values) >= 3
    assert any(m and "step2_text" in m for _v, m in progress)  # the step names travel with the progress


async def test_wait_is_bounded_and_returns_the_running_job(server: str) -> None:
    async with Client(f"{server}/mcp", mode="legacy") as client:
        result = await client.call_tool("generate_ad_image", {**LONG_AD, "wait": True, "wait_timeout_sec": 0.5})
        assert not result.is_error, result.content
        job = result.structured_content
        assert job["status"] in ("queued", "running")
        assert (await _until_done(client, job["job_id"]))["status"] == "completed"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_client_that_gives_up_on_a_wait_stops_the_job(server: str, mode: str) -> None:
    # The SDK client abandons the call on its timeout: in the 2025 era it sends notifications/cancelled
    # (a dropped stream is not a cancel there, by the spec); in 2026-07-28 it closes the request's
    # response stream, which is that era's cancel. Either way the job stops.
    async with Client(f"{server}/mcp", mode=mode) as client:
        with pytest.raises(MCPError):
            await client.call_tool("generate_ad_image", {**LONG_AD, "wait": True}, read_timeout_seconds=1.5)
        jobs = (await client.call_tool("list_jobs", {})).structured_content["jobs"]
        assert len(jobs) == 1
        done = await _until_done(client, jobs[0]["job_id"], timeout_s=30)
    assert done["status"] == "stopped" and done["result"] is None


async def test_the_step_1_preview_of_a_running_job_is_readable(server: str) -> None:
    async with Client(f"{server}/mcp", mode="legacy") as client:
        job = (await client.call_tool("generate_ad_image", LONG_AD)).structured_content
        for _ in range(300):
            status = await client.call_tool("check_generation_status", {"job_id": job["job_id"]})
            if status.structured_content["step1_result"]:
                break
            await asyncio.sleep(0.05)
        links = [c for c in status.content if c.type == "resource_link" and "step1_1.jpg" in str(c.uri)]
        assert links and str(links[0].uri).startswith("nanococoa://steps/")
        blob = (await client.read_resource(links[0].uri)).contents[0]
        assert base64.b64decode(blob.blob)[:3] == b"\xff\xd8\xff"  # type: ignore[union-attr]
        await client.call_tool("stop_generation", {"job_id": job["job_id"]})


async def test_legacy_sse_clients_run_jobs_too(server: str) -> None:
    async with sse_client(f"{server}/sse") as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool(
            "generate_ad_image",
            {"copy": "수제 떡", "product_image_path": str(SAMPLES / "dango.png"), "size": "1:1", "wait": True},
        )
        assert not result.is_error, result.content
        assert result.structured_content["status"] == "completed"
        stopped = await session.call_tool("stop_generation", {"job_id": "no-such-job"})
        assert stopped.is_error and '"not_found"' in stopped.content[0].text  # type: ignore[union-attr]
