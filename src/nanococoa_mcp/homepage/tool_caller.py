"""How the homepage reaches the tool registry: a ToolCaller calls a tool by name and answers its structured
result, or raises the typed error the tool reported (InvalidInput, QueueFull, NotFound, JobFailed …).

The homepage never imports a door: app.py hands it the production caller (an in-memory MCP client of our
own server, server/tool_caller.py); a test may hand it any other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

# (percent of the tool's work 0-100, message), as the tool reports progress
ToolProgress = Callable[[float, str], None]


class ToolCaller(Protocol):
    async def call(
        self, name: str, arguments: dict[str, Any], on_progress: ToolProgress | None = None
    ) -> dict[str, Any]:
        """The tool's structured result. Raises the NanococoaError the tool reported."""

    async def aclose(self) -> None:
        """Release what the caller holds (a client session); it may be used again afterwards."""
