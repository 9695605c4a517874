"""The REST tests run the one-port app in process (httpx's ASGI transport) with the job service started for
the module: one worker, kept warm across the module's tests. A module may set SERVICE_SETTINGS (Settings
fields) to run its service differently."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from nanococoa_mcp.app import service_running
from nanococoa_mcp.server.http import build_app
from nanococoa_mcp.service import Service
from nanococoa_mcp.settings import Settings


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rest_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    overrides = getattr(request.module, "SERVICE_SETTINGS", {})
    settings = Settings(data_dir=tmp_path_factory.mktemp("rest") / "data", **overrides)
    async with service_running(settings) as service:
        yield service


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(rest_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    """The whole one-port app (Origin check, REST, the web page) as a browser or a script would reach it."""
    transport = httpx.ASGITransport(app=build_app(rest_service.settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=30) as c:
        yield c
