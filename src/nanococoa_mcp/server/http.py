"""The HTTP door: one app on one port serving MCP over Streamable HTTP (`/mcp`) and legacy SSE (`/sse` +
`/messages/`), and the REST shim with the web page (FastAPI, server/rest/) on every other path. Loopback by
default; other binds need auth (server/auth.py: the shared token, API keys, OAuth access tokens), and browsers
from other origins are refused."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

from fastmcp import FastMCP
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.keys import KeyBook
from nanococoa_mcp.server.auth import AuthMiddleware
from nanococoa_mcp.server.credentials import is_loopback
from nanococoa_mcp.server.mcp import Lifespan, build_server
from nanococoa_mcp.server.rest import build_api
from nanococoa_mcp.service import current_service
from nanococoa_mcp.settings import Settings, get_settings


class OriginMiddleware:
    """Browsers send `Origin`: a page from another site may not drive the REST routes (DNS rebinding,
    CSRF). Same-origin requests, allowed origins and non-browser clients (no Origin) pass."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {o.rstrip("/") for o in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/")
            host = headers.get(b"host", b"").decode("latin-1")
            if origin and origin not in self.allowed and urlsplit(origin).netloc != host:
                response = JSONResponse(
                    {
                        "error": "forbidden_origin",
                        "message": f"requests from {origin} are not allowed",
                        "field": "Origin",
                        "accepted": "same origin, or NANOCOCOA_ALLOWED_ORIGINS",
                        "status": 403,
                    },
                    status_code=403,
                    media_type="application/problem+json",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class OnePort:
    """Dispatches by path: `/mcp` to Streamable HTTP, `/sse` and `/messages/` to legacy SSE, the rest (REST,
    health, the web page) to the FastAPI app, whose lifespan starts all three."""

    def __init__(self, rest: ASGIApp, streamable: ASGIApp, sse: ASGIApp) -> None:
        self.rest, self.streamable, self.sse = rest, streamable, sse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] != "lifespan" else ""
        if path == "/mcp" or path.startswith("/mcp/"):
            await self.streamable(scope, receive, send)
        elif path == "/sse" or path.startswith("/messages"):
            await self.sse(scope, receive, send)
        else:
            await self.rest(scope, receive, send)


def _running_keys() -> KeyBook | None:
    service = current_service()
    return service.keys if service is not None else None


def build_app(
    settings: Settings | None = None,
    lifespan: Lifespan | None = None,
    *,
    server: FastMCP | None = None,
    keys: Callable[[], KeyBook | None] = _running_keys,
) -> ASGIApp:
    """The one-port app; `lifespan` (app.py's: the job service) runs for its lifetime; `server` replaces the
    registry's MCP server (build_server's); `keys` gives the API keys to check (the running service's). Raises
    InvalidInput when bound beyond loopback without auth, or for auth settings that cannot work."""
    settings = settings or get_settings()
    if not is_loopback(settings.host) and not settings.auth_on:
        raise InvalidInput(
            f"binding {settings.host} exposes the studio to the network without a token",
            field="token",
            accepted="set NANOCOCOA_TOKEN, NANOCOCOA_AUTH_ISSUER or NANOCOCOA_AUTH_REQUIRED=true (API keys), "
            "or bind 127.0.0.1",
        )
    if not is_loopback(settings.host) and settings.auth_issuer and not settings.public_url:
        raise InvalidInput(
            f"the OAuth resource URL cannot be known from the bind address {settings.host}",
            field="public_url",
            accepted="NANOCOCOA_PUBLIC_URL: the URL clients reach this server at (https://ads.example.com)",
        )
    mcp = server or build_server(settings, lifespan)
    origins = settings.allowed_origins or None
    streamable = mcp.http_app(path="/mcp", transport="http", host_origin_protection="auto", allowed_origins=origins)
    sse = mcp.http_app(path="/sse", transport="sse", host_origin_protection="auto", allowed_origins=origins)

    @contextlib.asynccontextmanager
    async def transports(_app: Starlette) -> AsyncIterator[None]:
        async with streamable.router.lifespan_context(streamable), sse.router.lifespan_context(sse):
            yield

    app: ASGIApp = OnePort(OriginMiddleware(build_api(transports), settings.allowed_origins), streamable, sse)
    if settings.auth_on:
        app = AuthMiddleware(app, settings, keys)
    return app
