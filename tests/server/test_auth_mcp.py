"""A tool sees the tenant of the token that called it, over every MCP transport: the SDK runs handlers in its
session's tasks, away from the door's context, so this is what proves the caller reaches them. The app runs in
uvicorn on a loopback port (the transports stream), with a `whoami` tool added to the registry's server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
import uvicorn
from fastmcp import Client as MemoryClient
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from nanococoa_mcp.server.http import build_app
from nanococoa_mcp.server.mcp import build_server
from nanococoa_mcp.settings import get_settings
from nanococoa_mcp.tenancy import current_caller
from tests.server.oauth_issuer import LoopbackIssuer
from tests.server.serving import free_port


async def whoami() -> dict[str, Any]:
    """The caller this call is served as."""
    caller = current_caller()
    return {"tenant": caller.tenant, "remote": caller.remote}


class ThreadServer:
    """uvicorn serving `app` on a loopback port from its own thread."""

    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, LoopbackIssuer]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    issuer = LoopbackIssuer(audience=f"{base}/mcp")
    issuer.add_key("k1")
    settings = get_settings().model_copy(update={
        "auth_issuer": issuer.url, "auth_jwks_url": issuer.jwks_url, "public_url": base, "port": port,
        "auth_tenant_claim": "org",
    })
    server = build_server(settings)
    server.tool(whoami)
    try:
        with ThreadServer(build_app(settings, server=server), port):
            yield base, issuer
    finally:
        issuer.close()


def headers(issuer: LoopbackIssuer, tenant: str, user: str | None = None) -> dict[str, str]:
    """A token of `user` (default: one per tenant) acting for `tenant` (its `org` claim)."""
    return {"Authorization": f"Bearer {issuer.mint(sub=user or f'user-of-{tenant}', org=tenant)}"}


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_tool_over_streamable_http_acts_as_the_tokens_tenant(
    served: tuple[str, LoopbackIssuer], mode: str
) -> None:
    base, issuer = served
    for tenant in ("shop-a", "shop-b"):
        http = httpx2.AsyncClient(headers=headers(issuer, tenant), timeout=30)
        async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode) as client:
            for _ in range(2):  # every call of the session, not only the first
                result = await client.call_tool("whoami", {})
                assert result.structured_content == {"tenant": tenant, "remote": True}


async def test_a_tool_over_legacy_sse_acts_as_the_tokens_tenant(served: tuple[str, LoopbackIssuer]) -> None:
    base, issuer = served
    for tenant in ("shop-a", "shop-b"):
        async with sse_client(f"{base}/sse", headers=headers(issuer, tenant)) as (read, write), ClientSession(
            read, write
        ) as session:
            await session.initialize()
            result = await session.call_tool("whoami", {})
            assert result.structured_content == {"tenant": tenant, "remote": True}


async def test_each_call_acts_as_the_token_it_came_with_not_the_one_that_opened_the_session(
    served: tuple[str, LoopbackIssuer]
) -> None:
    base, issuer = served  # one user, whose fresh token names another organisation: the same MCP principal
    http = httpx2.AsyncClient(headers=headers(issuer, "shop-a", user="u1"), timeout=30)
    async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy") as client:
        assert (await client.call_tool("whoami", {})).structured_content["tenant"] == "shop-a"
        http.headers.update(headers(issuer, "shop-b", user="u1"))
        assert (await client.call_tool("whoami", {})).structured_content["tenant"] == "shop-b"


async def test_a_session_made_by_one_tenant_is_refused_to_another(served: tuple[str, LoopbackIssuer]) -> None:
    base, issuer = served
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx2.AsyncClient(timeout=30) as http:
        made = await http.post(f"{base}/mcp", json=init, headers=accept | headers(issuer, "shop-a"))
        session = made.headers["mcp-session-id"]
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
        other = await http.post(
            f"{base}/mcp", json=call, headers=accept | headers(issuer, "shop-b") | {"mcp-session-id": session}
        )
        assert other.status_code in (403, 404), other.text


async def test_in_memory_and_stdio_callers_stay_local() -> None:
    server = build_server(get_settings())
    server.tool(whoami)
    async with MemoryClient(server) as client:
        result = await client.call_tool("whoami", {})
        assert result.structured_content == {"tenant": "local", "remote": False}
