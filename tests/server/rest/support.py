"""What the REST tests share: sample photos and bodies, the problem-body check, following a job, and the doors
with auth on that the tenant tests go through."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import mcp.types as mt
import uvicorn
from fastmcp import Client
from fastmcp.client.transports import SSETransport, StreamableHttpTransport
from PIL import Image

from nanococoa_mcp.server.http import build_app
from nanococoa_mcp.service import Service
from nanococoa_mcp.tenancy import LOCAL_TENANT
from tests.conftest import SAMPLES
from tests.server.oauth_issuer import LoopbackIssuer
from tests.server.serving import free_port

DANGO = (SAMPLES / "dango.png").read_bytes()  # 35 KB
COFFEE = (SAMPLES / "coffee.jpg").read_bytes()  # 80 KB
TERMINAL = ("completed", "failed", "stopped")
PROBLEM_KEYS = {"error", "message", "field", "accepted", "status"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ad(**fields: Any) -> dict[str, Any]:
    """A valid /api/generate body (a small square ad), with `fields` changed."""
    return {"product_image": b64(DANGO), "ad_text": "쫄깃한 경단 할인", "size": "1:1", **fields}


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        return im.size


def assert_problem(response: httpx.Response, code: int, error: str, field: str) -> dict[str, Any]:
    """A problem+json body with exactly the problem fields, naming `field` and saying what it accepts."""
    assert response.status_code == code, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"error", "message", "status"} <= set(body) <= PROBLEM_KEYS, body
    assert (body["error"], body["field"], body["status"]) == (error, field, code), body
    return body


async def wait_done(client: httpx.AsyncClient, job_id: str, timeout_s: float = 90.0) -> dict[str, Any]:
    """Poll GET /status/{id} until the job ends; its last status."""
    deadline = time.monotonic() + timeout_s
    while True:
        st: dict[str, Any] = (await client.get(f"/status/{job_id}")).json()
        if st["status"] in TERMINAL:
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is still {st['status']} after {timeout_s:.0f} s: {st}")
        await asyncio.sleep(0.1)


def server_sent_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The named events of a text/event-stream body (keep-alive comments skipped)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        name = next((line.partition(":")[2].strip() for line in lines if line.startswith("event:")), "")
        data = "".join(line.partition(":")[2].strip() for line in lines if line.startswith("data:"))
        if name:
            events.append((name, json.loads(data)))
    return events


async def record_finished_job(
    service: Service, job_id: str, kind: str, result: dict[str, Any], parameters: dict[str, Any] | None = None,
    tenant: str = LOCAL_TENANT,
) -> None:
    """The row of a job a worker finished for `tenant` (by default the local caller of the in-process client), so
    the files and the site that tests lay down by hand have an owner to be served to."""
    now = time.time()
    await service.store.sql.fetchall(
        """INSERT INTO jobs (id, seq, kind, status, parameters, result, progress_percent, steps_done, created_at,
                             updated_at, finished_at, tenant)
           VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), ?, 'completed', ?, ?, 100, '[]', ?, ?, ?, ?)""",
        (job_id, kind, json.dumps(parameters or {}), json.dumps(result), now, now, now, tenant),
    )


# A shop record for the tenant tests.
SHOP = {
    "store_name": "떡집 본점", "store_type": "떡집", "budget": 100, "period": 30, "advertising_goal": "단골 확보",
    "target_customer": "동네 주민", "advertising_media": "인스타그램", "store_strength": "매일 아침 찐 떡",
    "location": "서울 종로구", "phone_number": "02-765-4321",
}  # fmt: skip


class Doors:
    """The one-port app of a running service with auth on (an OAuth issuer and API keys), served on a loopback
    port (MCP's Streamable HTTP and legacy SSE stream): each tenant acts through a real credential, an API key once
    `enrol`led, else an access token from the loopback issuer naming it in `sub`."""

    def __init__(self, service: Service, issuer: LoopbackIssuer, base: str, client: httpx.AsyncClient) -> None:
        self.service, self.issuer, self.base, self.client = service, issuer, base, client
        self.keys: dict[str, str] = {}

    async def enrol(self, tenant: str) -> None:
        """Give `tenant` an API key; its requests carry it from now on."""
        _, self.keys[tenant] = await self.service.keys.create(tenant)

    def auth(self, tenant: str) -> dict[str, str]:
        """`tenant`'s Authorization header: its API key, else a fresh access token."""
        return {"Authorization": f"Bearer {self.keys.get(tenant) or self.issuer.mint(sub=tenant)}"}

    def mcp(self, tenant: str, path: str) -> Client[Any]:
        """An MCP client of `tenant` over Streamable HTTP (`/mcp`) or legacy SSE (`/sse`)."""
        transport = StreamableHttpTransport if path == "/mcp" else SSETransport
        return Client(transport(self.base + path, headers=self.auth(tenant)))


async def call_tool(client: Client[Any], name: str, args: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """Whether an MCP tool call failed, and its structured result or its error's JSON payload."""
    result = await client.call_tool(name, args, raise_on_error=False)
    if result.is_error:
        text = next(c.text for c in result.content if isinstance(c, mt.TextContent))
        return True, json.loads(text)
    return False, dict(result.structured_content or {})


@contextlib.asynccontextmanager
async def doors_with_auth(service: Service) -> AsyncIterator[Doors]:
    """`service`'s one-port app with auth on, served by uvicorn on a free loopback port in this event loop."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    issuer = LoopbackIssuer(audience=base)
    issuer.add_key("k1")
    settings = service.settings.model_copy(update={
        "auth_issuer": issuer.url, "auth_jwks_url": issuer.jwks_url, "public_url": base, "port": port,
    })
    config = uvicorn.Config(build_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            yield Doors(service, issuer, base, client)
    finally:
        server.should_exit = True
        await serving
        issuer.close()
