"""The web page's tests share one Chromium per module; the in-memory MCP tests may share one server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from fastmcp import Client

from nanococoa_mcp.ad.stages.render import find_chromium
from nanococoa_mcp.app import mcp_server
from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.settings import Settings
from tests.server.browsing import ThreadBrowser


@pytest.fixture(scope="module")
def browser() -> Iterator[ThreadBrowser]:
    try:
        find_chromium()
    except BackendUnavailable:  # the README's test command installs it; say so rather than pass silently
        pytest.fail("Chromium is not installed: run scripts/test.sh, which installs it")
    b = ThreadBrowser()
    yield b
    b.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_client(module_settings: Settings) -> AsyncIterator[Client[Any]]:
    """An in-memory MCP client of one server (and worker) for the module (see module_service)."""
    async with Client(mcp_server(module_settings)) as running:
        yield running


def tool_error(result: Any) -> dict[str, Any]:
    """The typed error a tool call came back with (its JSON text block), asserting it is one."""
    assert result.is_error, result.content
    payload: dict[str, Any] = json.loads(result.content[0].text)
    return payload
