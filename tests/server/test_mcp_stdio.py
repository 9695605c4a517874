"""The MCP stdio transport, driven by the official `mcp` Python client against `nanococoa mcp` in a subprocess
(the tools' contract is tested in memory in test_mcp.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from nanococoa_mcp.app import job_store
from nanococoa_mcp.jobs.models import JobStatus
from nanococoa_mcp.settings import Settings
from tests.conftest import SAMPLES


def _params(data_dir: Path) -> StdioServerParameters:
    env = {**os.environ, "NANOCOCOA_DATA_DIR": str(data_dir)}
    return StdioServerParameters(command=sys.executable, args=["-m", "nanococoa_mcp.cli", "mcp"], env=env)


async def test_the_stdio_server_introduces_itself_and_lists_its_tools(data_dir: Path) -> None:
    async with stdio_client(_params(data_dir)) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        assert init.server_info.name == "nanococoa"
        tools = {t.name for t in (await session.list_tools()).tools}
    assert "generate_ad_image" in tools and "generate_homepage" in tools  # the full contract: test_mcp.py


async def test_an_mcp_client_makes_an_ad_and_gets_a_small_preview_and_links(data_dir: Path) -> None:
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with stdio_client(_params(data_dir)) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool(
            "generate_ad_image",
            {"product_image_path": str(SAMPLES / "fish.png"), "copy": "건어물 대박 세일",
             "sub_copy": "오늘만 30% 할인", "style": "전통시장 분위기", "text_style": "골드 풍선", "wait": True},
            progress_callback=on_progress,
        )
        assert not result.is_error, result.content
        data = result.structured_content
        assert data is not None and data["status"] == "completed"
        variant = data["result"]["variants"][0]
        assert variant["quality"]["passed"] is True
        assert Path(variant["image_path"]).is_file()
        images = [c for c in result.content if c.type == "image"]
        assert len(images) == 1 and len(base64.b64decode(images[0].data)) < 150_000
        links = [c for c in result.content if c.type == "resource_link"]
        assert any(str(link.uri).endswith("final_1.png") for link in links)
        full = await session.read_resource(links[0].uri)
        blob = full.contents[0]
        assert base64.b64decode(blob.blob)[:8] == b"\x89PNG\r\n\x1a\n"  # type: ignore[union-attr]
    assert progress and progress == sorted(progress) and progress[-1] >= 90


def test_a_client_that_disconnects_during_a_wait_stops_its_job(data_dir: Path) -> None:
    """The client process dies mid-call (its pipes close, no cancel is sent): the job is stopped."""
    args = {"copy": "건어물 대박 세일", "product_image_path": str(SAMPLES / "fish.png"), "variants": 4, "size": "9:16",
            "wait": True}
    params = _params(data_dir)
    proc = subprocess.Popen([params.command, *params.args], env=params.env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None

    def send(message: dict[str, object]) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(message).encode() + b"\n")
        proc.stdin.flush()

    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}})
    assert json.loads(proc.stdout.readline())["id"] == 1
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
          "params": {"name": "generate_ad_image", "arguments": args, "_meta": {"progressToken": "p"}}})
    while True:  # read progress until the job is under way
        message = json.loads(proc.stdout.readline())
        assert message.get("id") != 2, message  # the call must not have finished
        if "step1_background" in str(message.get("params", {}).get("message", "")):
            break
    proc.stdin.close()  # the client is gone
    proc.stdout.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise

    async def settle() -> list[JobStatus]:
        async with job_store(Settings(data_dir=data_dir)) as store:
            await store.recover()  # what the next start does with whatever the shutdown left
            return await store.list_jobs()

    jobs = asyncio.run(settle())
    assert [j.status for j in jobs] == ["stopped"]
    assert not (data_dir / "jobs" / jobs[0].job_id).exists()
