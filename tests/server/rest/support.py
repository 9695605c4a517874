"""What the REST tests share: sample photos and bodies, the problem-body check, following a job."""

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
from PIL import Image
from starlette.types import ASGIApp, Receive, Scope, Send

from nanococoa_mcp.server.auth import CALLER_KEY
from nanococoa_mcp.server.http import build_app
from nanococoa_mcp.service import Service
from nanococoa_mcp.tenancy import Caller, acting_as
from tests.conftest import SAMPLES

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


# A shop record for the tenant tests.
SHOP = {
    "store_name": "떡집 본점", "store_type": "떡집", "budget": 100, "period": 30, "advertising_goal": "단골 확보",
    "target_customer": "동네 주민", "advertising_media": "인스타그램", "store_strength": "매일 아침 찐 떡",
    "location": "서울 종로구", "phone_number": "02-765-4321",
}  # fmt: skip


class TenantHeader:
    """Test-only: serve a request carrying `X-Test-Tenant: NAME` as the remote caller NAME (where the auth
    middleware will put a verified token's tenant)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = dict(scope.get("headers") or []).get(b"x-test-tenant") if scope["type"] == "http" else None
        if not name:
            await self.app(scope, receive, send)
            return
        caller = Caller(name.decode(), remote=True)
        scope[CALLER_KEY] = caller
        with acting_as(caller):
            await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def tenant_doors(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """The one-port app of `service` in process, each request served as its X-Test-Tenant header's caller."""
    transport = httpx.ASGITransport(app=TenantHeader(build_app(service.settings)))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=60) as client:
        yield client


def as_tenant(name: str) -> dict[str, str]:
    return {"X-Test-Tenant": name}
