"""Per-call context a door may set around a tool call (progress sink), without widening tool signatures."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from nanococoa_mcp.ad.pipeline import ProgressEvent

# A door's sink may be called from any thread: it must be thread-safe (e.g. loop.call_soon_threadsafe).
progress_sink: ContextVar[Callable[[ProgressEvent], None] | None] = ContextVar("progress_sink", default=None)
