"""Ad jobs through real MCP clients over the HTTP transports: progress streamed over Streamable HTTP, a
client that gives up cancels its job in both protocol eras, legacy SSE runs jobs. One server serves the
module; the jobs' contract (polling, previews, links, bounded waits) is tested in memory in test_mcp.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from tests.conftest import SAMPLES
from tests.server.serving import ServerProcess

LONG_AD = {"copy": "건어물 대박 세일", "product_image_path": str(SAMPLES / "fish.png"), "variants": 4, "size": "9:16"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ServerProcess(tmp_path_factory.mktemp("mcp-jobs") / "data") as running:
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


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_client_that_gives_up_on_a_wait_stops_the_job(server: str, mode: str) -> None:
    # The SDK client abandons the call on its timeout: in the 2025 era it sends notifications/cancelled
    # (a dropped stream is not a cancel there, by the spec); in 2026-07-28 it closes the request's
    # response stream, which is that era's cancel. Either way the job stops.
    async with Client(f"{server}/mcp", mode=mode) as client:
        before = {j["job_id"] for j in (await client.call_tool("list_jobs", {})).structured_content["jobs"]}
        with pytest.raises(MCPError):
            await client.call_tool("generate_ad_image", {**LONG_AD, "wait": True}, read_timeout_seconds=1.5)
        jobs = (await client.call_tool("list_jobs", {})).structured_content["jobs"]
        new = [j for j in jobs if j["job_id"] not in before]
        assert len(new) == 1
        done = await _until_done(client, new[0]["job_id"], timeout_s=30)
    assert done["status"] == "stopped" and done["result"] is None


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
