"""The homepage's ToolCaller in production: an in-memory MCP client of a server over our own registry, in
the process where the job service already runs, so the homepage makes its ads exactly as an MCP client
would (progress, errors and all). app.py hands it to the homepage kind."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
from typing import TYPE_CHECKING, Any

from nanococoa_mcp.errors import JobFailed, NanococoaError
from nanococoa_mcp.homepage.tool_caller import ToolProgress
from nanococoa_mcp.server.mcp import build_server
from nanococoa_mcp.settings import Settings

if TYPE_CHECKING:
    from fastmcp import Client

log = logging.getLogger(__name__)


class McpToolCaller:
    """Opened on first call, closed by `aclose` (and opened again if called after)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stack = contextlib.AsyncExitStack()
        self._client: Client[Any] | None = None

    async def _open(self) -> Client[Any]:
        if self._client is None:
            # Imported by the first homepage run (a server that makes no homepage never loads MCP's client), in
            # a thread so that the event loop, and a worker's heartbeat, go on meanwhile.
            await asyncio.to_thread(importlib.import_module, "fastmcp.client")
            from fastmcp import Client

            # No lifespan of its own: the tools reach the job service already running in this process.
            client: Client[Any] = await self._stack.enter_async_context(Client(build_server(self.settings)))
            self._client = client
            return client
        return self._client

    async def call(
        self, name: str, arguments: dict[str, Any], on_progress: ToolProgress | None = None
    ) -> dict[str, Any]:
        """The tool's structured result. Raises the NanococoaError the tool reported (as its own class)."""
        client = await self._open()

        async def relay(progress: float, total: float | None, message: str | None) -> None:
            if on_progress is not None:
                try:
                    on_progress(100.0 * progress / (total or 100.0), message or "")
                except Exception:  # a progress listener never breaks the call it listens to
                    log.exception("tool progress listener failed")

        result = await client.call_tool(name, arguments, raise_on_error=False, progress_handler=relay)
        if result.is_error:
            raise _reported_error(name, result.content)
        if not isinstance(result.structured_content, dict):
            raise JobFailed(f"{name} returned no structured result", field=name)
        return dict(result.structured_content)

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._client = None


def _reported_error(name: str, content: list[Any]) -> NanococoaError:
    text = next((getattr(c, "text", "") for c in content if getattr(c, "type", "") == "text"), "")
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        payload = None
    if not isinstance(payload, dict):
        payload = {"error": "job_failed", "message": f"{name}: {text or 'unknown error'}"}
    return NanococoaError.from_dict(payload)
