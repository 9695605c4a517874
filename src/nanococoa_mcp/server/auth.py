"""Authentication at the HTTP door, in front of every path (REST, the progress stream, file URLs, MCP over
Streamable HTTP and SSE, the web page's API calls): a bearer credential is checked (credentials.py) and the
request is served as its caller, `acting_as(Caller(tenant, remote=True))`; the caller also rides in the ASGI
scope, where the MCP door reads it (its tool handlers run in tasks that do not inherit this context).

Open without a credential: /health, the protected-resource metadata (RFC 9728, with an issuer), and the web
page's shell and assets (the page asks for a key when its API calls get 401). An open path acts for the
credential it carries when that checks out (/health counts that tenant's jobs), else for an anonymous caller that
owns nothing (so no tenant's counts show to a caller without one). A refusal is a problem+json body
with an RFC 6750 challenge naming the metadata document. `POST /auth/session` gives a browser tab an HttpOnly,
SameSite=Strict cookie holding its credential, accepted on GET/HEAD only, so the images, downloads, site
previews and event streams a page loads by URL work without the header; it is checked like the header on every
use (a revoked key stops at once)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.cookies import SimpleCookie
from urllib.parse import urlsplit

from mcp.server.auth.handlers.metadata import ProtectedResourceMetadataHandler
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.routes import build_resource_metadata_url, cors_middleware
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.authentication import AuthCredentials
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from nanococoa_mcp.errors import NanococoaError
from nanococoa_mcp.keys import KeyBook
from nanococoa_mcp.server.credentials import Credentials, Refusal, Verified, public_url
from nanococoa_mcp.server.rest.problems import PROBLEM_JSON, problem
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.tenancy import Caller, acting_as

CALLER_KEY = "nanococoa.caller"  # the ASGI scope's entry holding the verified Caller
METADATA_PATH = "/.well-known/oauth-protected-resource"
SESSION_PATH = "/auth/session"
MEDIA_COOKIE = "nanococoa_media"
COOKIE_MAX_AGE_S = 8 * 3600  # an API key's or the shared token's cookie; a JWT's ends with the token
OPEN_PATHS = frozenset({"/health", "/", "/homepage", "/docs", "/openapi.json", "/favicon.ico"})
OPEN_PREFIXES = ("/static/", "/docs-assets/")
ANONYMOUS = Caller("", remote=True)  # no credential names the empty tenant (keys.py, credentials.py refuse it)
MCP_RESOURCES = ("/mcp", "/sse")  # each has its own path-inserted metadata document (RFC 9728 §3.1)


def verified_caller(scope: Scope) -> Caller | None:
    """The caller the door verified for this request, or None (auth off)."""
    caller = scope.get(CALLER_KEY)
    return caller if isinstance(caller, Caller) else None


class AuthMiddleware:
    """Every request but the open ones carries `Authorization: Bearer <credential>` (or, for GET/HEAD, the tab's
    media cookie) and is served as the caller it names."""

    def __init__(self, app: ASGIApp, settings: Settings, keys: Callable[[], KeyBook | None]) -> None:
        """Raises InvalidInput (see Credentials)."""
        self.app = app
        self.credentials = Credentials(settings, keys)
        self.base = public_url(settings)
        self.scope_name = settings.auth_scope
        self.issuer = settings.auth_issuer
        self.metadata: Router | None = None
        if self.issuer:
            self.metadata = Router(routes=[self._metadata_route(path) for path in ("", *MCP_RESOURCES)])
        kinds = ["an API key (nanococoa keys create)"] + (["NANOCOCOA_TOKEN"] if settings.token else [])
        if self.issuer:
            kinds.insert(0, f"an access token from {self.issuer} with scope {self.scope_name!r}")
        self.accepted = "Authorization: Bearer <" + ", or ".join(kinds) + ">"

    def _metadata_route(self, path: str) -> Route:
        """The SDK's RFC 9728 document and handler (as create_protected_resource_routes makes them), validated
        from text so the resource and issuer stay exactly as configured (no trailing slash added)."""
        metadata = ProtectedResourceMetadata.model_validate({
            "resource": self.base + path,
            "authorization_servers": [self.issuer],
            "scopes_supported": [self.scope_name],
            "resource_name": "nanococoa",
        })
        handler = ProtectedResourceMetadataHandler(metadata)
        where = urlsplit(str(build_resource_metadata_url(metadata.resource))).path
        return Route(where, endpoint=cors_middleware(handler.handle, ["GET", "OPTIONS"]), methods=["GET", "OPTIONS"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == METADATA_PATH or path.startswith(METADATA_PATH + "/"):
            await (self.metadata or self.app)(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        bearer = _bearer(headers.get(b"authorization", b""))
        if path == SESSION_PATH:
            await self._session(scope, send, bearer)
            return
        credential = bearer
        if credential is None and scope["method"] in ("GET", "HEAD"):
            credential = _cookie(headers.get(b"cookie", b""))
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            caller = await self._optional(credential)
            with acting_as(caller):
                await self.app({**scope, CALLER_KEY: caller}, receive, send)
            return
        verified = await self._check(scope, send, credential)
        if verified is None:
            return
        scope = {
            **scope,
            "user": AuthenticatedUser(verified.token),  # what the MCP SDK binds a session to
            "auth": AuthCredentials(verified.token.scopes),
            CALLER_KEY: verified.caller,
        }
        with acting_as(verified.caller):
            await self.app(scope, receive, send)

    async def _optional(self, credential: str | None) -> Caller:
        """An open path's caller: the credential's when it checks out, else the anonymous one (never a refusal:
        what is open stays open)."""
        if credential is None:
            return ANONYMOUS
        try:
            return (await self.credentials.verify(credential)).caller
        except (Refusal, NanococoaError):
            return ANONYMOUS

    def challenge(self, path: str, error: str | None) -> str:
        """The WWW-Authenticate value (RFC 6750 §3; RFC 9728 §5.1 names the metadata document)."""
        params = [f'error="{error}"'] if error else []
        if self.issuer:
            resource = next((r for r in MCP_RESOURCES if path == r or path.startswith(r + "/")), "")
            if path.startswith("/messages"):
                resource = "/sse"
            url = build_resource_metadata_url(AnyHttpUrl(self.base + resource))
            params += [f'resource_metadata="{url}"', f'scope="{self.scope_name}"']
        return "Bearer " + ", ".join(params) if params else "Bearer"

    async def _check(self, scope: Scope, send: Send, credential: str | None) -> Verified | None:
        """Who `credential` is; None once the refusal (or a 503 when keys cannot be read now) was sent."""
        if credential is None:
            await self._refuse(scope, send, None)
            return None
        try:
            return await self.credentials.verify(credential)
        except Refusal as refusal:
            await self._refuse(scope, send, refusal)
        except NanococoaError as exc:  # the key book cannot be read now
            await problem(exc)(scope, _no_body, send)
        return None

    async def _refuse(self, scope: Scope, send: Send, refusal: Refusal | None) -> None:
        status = refusal.status if refusal else 401
        error = refusal.error if refusal else None
        body = {
            "error": error or "unauthorized",
            "message": refusal.message if refusal else "a credential is required",
            "field": "Authorization",
            "accepted": self.accepted,
            "status": status,
        }
        response = Response(
            json.dumps(body, ensure_ascii=False),
            status_code=status,
            media_type=PROBLEM_JSON,
            headers={"WWW-Authenticate": self.challenge(scope["path"], error)},
        )
        await response(scope, _no_body, send)

    async def _session(self, scope: Scope, send: Send, bearer: str | None) -> None:
        """POST: check the bearer and hand the tab its media cookie, answering who it acts as; DELETE: forget it."""
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        if scope["method"] == "DELETE":
            cookie = f"{MEDIA_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"
            await Response(status_code=204, headers={"Set-Cookie": cookie})(scope, _no_body, send)
            return
        verified = await self._check(scope, send, bearer if scope["method"] == "POST" else None)
        if verified is None or bearer is None:
            return
        expires_at = _cookie_expiry(verified)
        cookie = (
            f"{MEDIA_COOKIE}={bearer}; Path=/; Max-Age={int(expires_at - time.time())}; HttpOnly; "
            f"SameSite=Strict{secure}"
        )
        body = {"tenant": verified.caller.tenant, "expires_at": expires_at}
        await Response(json.dumps(body), media_type="application/json", headers={"Set-Cookie": cookie})(
            scope, _no_body, send
        )


def _cookie_expiry(verified: Verified) -> float:
    longest = time.time() + COOKIE_MAX_AGE_S
    exp = verified.token.expires_at
    return float(min(exp, longest)) if exp is not None else longest


def _bearer(value: bytes) -> str | None:
    scheme, _, credential = value.decode("latin-1").partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


def _cookie(value: bytes) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(value.decode("latin-1"))
    except Exception:  # a malformed Cookie header is no credential, not an error
        return None
    morsel = jar.get(MEDIA_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


async def _no_body() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}
