"""The engine host: one thread that owns the Studio (and its warm browser); async callers queue on it.

The job system (worker process, SQLite) replaces this in-process host; tools keep their signatures.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from nanococoa_mcp.settings import Settings, get_settings

if TYPE_CHECKING:
    from nanococoa_mcp.ad.pipeline import Studio

T = TypeVar("T")


class EngineHost:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanococoa-engine")
        self._local = threading.local()

    def _studio(self) -> Studio:
        studio = getattr(self._local, "studio", None)
        if studio is None:
            from nanococoa_mcp.ad.pipeline import Studio

            studio = Studio(self.settings)
            self._local.studio = studio
        return studio

    async def call(self, fn: Callable[[Studio], T]) -> T:
        return await asyncio.wrap_future(self._pool.submit(lambda: fn(self._studio())))

    def close(self) -> None:
        def _close() -> None:
            studio = getattr(self._local, "studio", None)
            if studio is not None:
                studio.close()
                self._local.studio = None

        self._pool.submit(_close).result()
        self._pool.shutdown(wait=True)


_host: EngineHost | None = None
_host_lock = threading.Lock()


def get_host() -> EngineHost:
    global _host
    with _host_lock:
        if _host is None:
            _host = EngineHost()
        return _host


def reset_host() -> None:
    """Close the shared host (tests point each one at a fresh data directory)."""
    global _host
    with _host_lock:
        if _host is not None:
            _host.close()
        _host = None
