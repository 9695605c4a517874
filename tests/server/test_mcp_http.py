"""The HTTP door: official MCP clients over Streamable HTTP (both protocol eras) and legacy SSE, on one
port with /health; loopback by default, Origin checked, bearer token required beyond loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, ClientSession
from mcp.client.sse import sse_client

from tests.server.serving import LOOPBACK, ServerProcess

TOKEN = "s3cret-token-for-tests"


def _start(data_dir: Path, extra_env: dict[str, str]) -> tuple[ServerProcess, str]:
    server = ServerProcess(data_dir, extra_env).start()
    return server, server.base


def _stop(server: ServerProcess) -> None:
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the tests that only read (both eras, SSE, health and Origin)."""
    proc, base = _start(tmp_path_factory.mktemp("mcp-http") / "data", {})
    yield base
    _stop(proc)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_streamable_http_serves_both_protocol_eras(server: str, mode: str) -> None:
    async with Client(f"{server}/mcp", mode=mode) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "generate_ad_image" in tools
        result = await client.call_tool("list_styles", {})
        assert not result.is_error
        assert any(s["id"] == "traditional_market" for s in result.structured_content["scene_styles"])


async def test_legacy_sse_transport_lists_and_calls_tools(server: str) -> None:
    async with sse_client(f"{server}/sse") as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {t.name for t in (await session.list_tools()).tools}
        assert "remove_background" in tools
        result = await session.call_tool("list_fonts", {})
        assert not result.is_error and result.structured_content["fonts"]


def test_health_answers_and_foreign_origins_are_refused(server: str) -> None:
    health = LOOPBACK.get(f"{server}/health").json()
    assert health["status"] == "ok" and health["service"] == "nanococoa"
    evil = LOOPBACK.post(f"{server}/mcp", headers={"Origin": "http://evil.example", "Content-Type": "application/json",
                                                "Accept": "application/json, text/event-stream"},
                      content=b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
    assert evil.status_code in (403, 421)


def test_a_token_guards_every_endpoint_but_health(data_dir: Path) -> None:
    proc, base = _start(data_dir, {"NANOCOCOA_TOKEN": TOKEN})
    try:
        assert LOOPBACK.get(f"{base}/health").status_code == 200
        refused = LOOPBACK.get(f"{base}/sse", timeout=5)
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        with LOOPBACK.stream("GET", f"{base}/sse", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as ok:
            assert ok.status_code == 200
    finally:
        _stop(proc)


def test_binding_beyond_loopback_without_a_token_is_refused(data_dir: Path) -> None:
    env = {**os.environ, "NANOCOCOA_DATA_DIR": str(data_dir), "NANOCOCOA_HOST": "0.0.0.0"}
    res = subprocess.run([sys.executable, "-m", "nanococoa_mcp.cli", "serve"], env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert res.returncode == 2
    assert "NANOCOCOA_TOKEN" in res.stderr
