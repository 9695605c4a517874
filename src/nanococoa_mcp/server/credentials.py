"""Who a bearer credential is: the shared NANOCOCOA_TOKEN (the local tenant), a tenant's API key (keys.py, looked
up on every use) or an OAuth access token from NANOCOCOA_AUTH_ISSUER, a JWT checked against the issuer's JWKS by
FastMCP's JWTVerifier (signature, `iss`, `aud` as a string or a list, `exp`, `nbf` with 30 s of clock skew, the
scope from `scope` or `scp`; keys cached, fetched again for an unknown `kid` at most every `auth_jwks_refresh_sec`;
a token without `kid` is checked with the one key there is). What it lacks is added here: an `exp` is required, the
scope is checked apart so a token without it is told `insufficient_scope` (403) rather than `invalid_token`, the
algorithm comes from an allow-list of asymmetric ones (one verifier each: JWTVerifier takes one), a `typ` naming
another kind of JWT is refused, JWKS entries meant for encryption or for another algorithm are left out, the
issuer matches with or without a trailing slash, and without NANOCOCOA_AUTH_JWKS_URL the key set is the one the
issuer's metadata names (RFC 8414 or OpenID Connect discovery), looked up on first use."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastmcp.server.auth import AccessToken
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.utilities.auth import decode_jwt_header

from nanococoa_mcp.errors import BackendUnavailable, InvalidInput
from nanococoa_mcp.keys import KeyBook, looks_like_key
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.tenancy import LOCAL_TENANT, Caller

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519")
API_KEY_ISSUER = "nanococoa:api-key"  # the `iss` an API key's principal carries (MCP sessions are bound to it)
SHARED_TOKEN_ISSUER = "nanococoa:token"
# An access token's `typ` (RFC 9068 §2.1, with or without `application/`, vendors' `…-at+jwt` too), or the
# generic JWT one most issuers still send (RFC 7519 §5.1); another (a logout token's, DPoP's, a security event's)
# is not an access token. Compared without case.
ACCESS_TOKEN_TYPE = re.compile(r"(application/)?(jwt|([a-z0-9.-]+-)?at\+jwt)", re.IGNORECASE)
SAME_ALGORITHM = {"Ed25519": "EdDSA"}  # RFC 9864's name for what a JWKS may still call EdDSA
METADATA_TIMEOUT_S = 10.0
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")

log = logging.getLogger(__name__)


class Refusal(Exception):
    """A credential that was refused: 401 `invalid_token` or 403 `insufficient_scope`."""

    def __init__(self, message: str, *, error: str = "invalid_token", status: int = 401) -> None:
        super().__init__(message)
        self.message, self.error, self.status = message, error, status


@dataclass(frozen=True, slots=True)
class Verified:
    """A checked credential: the caller it acts for, and the token the MCP SDK binds sessions to."""

    caller: Caller
    token: AccessToken


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_url(settings: Settings) -> str:
    """Where clients reach this server: NANOCOCOA_PUBLIC_URL, else http://HOST:PORT."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def issuers(issuer: str) -> list[str]:
    """The `iss` values taken for the configured issuer: as written, and with or without its trailing slash (an
    issuer's identifier may end in one, and settings are typed by hand)."""
    bare = issuer.rstrip("/")
    return list(dict.fromkeys([issuer, bare, bare + "/"]))


def audiences(settings: Settings) -> list[str]:
    """The `aud` values a token may name: the setting, else this server's resource URLs (RFC 8707), under each
    name of the loopback host when bound there with no NANOCOCOA_PUBLIC_URL (a client may say localhost)."""
    if settings.auth_audience:
        return [settings.auth_audience]
    bases = [public_url(settings)]
    if not settings.public_url and is_loopback(settings.host):
        bases += [f"http://{name}:{settings.port}" for name in LOOPBACK_NAMES]
    return list(dict.fromkeys(
        f"{base}{resource}" for base in bases for resource in ("", "/", "/mcp", "/mcp/", "/sse", "/sse/")
    ))


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be, in the order tried: RFC 8414 §3.1 (the well-known path inserted before
    the issuer's own path), OpenID Connect Discovery (appended to it), and RFC 8414 §5's OpenID form."""
    bare = issuer.rstrip("/")
    parts = urlsplit(bare)
    origin = f"{parts.scheme}://{parts.netloc}"
    return list(dict.fromkeys([
        f"{origin}/.well-known/oauth-authorization-server{parts.path}",
        f"{bare}/.well-known/openid-configuration",
        f"{origin}/.well-known/openid-configuration{parts.path}",
    ]))


async def discover_jwks_url(issuer: str) -> str:
    """The `jwks_uri` of the first metadata document of `issuer` that answers. Raises ValueError when none does,
    or when one names another issuer (RFC 8414 §3.3): the token at hand is refused, and the lookup is tried again
    at the next fetch of the keys."""
    async with httpx.AsyncClient(timeout=METADATA_TIMEOUT_S) as client:
        for url in metadata_urls(issuer):
            try:
                response = await client.get(url)
                document = response.json() if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                continue
            if not isinstance(document, dict):
                continue
            named = document.get("issuer")
            if named not in issuers(issuer):
                log.warning("%s names the issuer %r, not %r: its keys are not used", url, named, issuer)
                raise ValueError(f"{url} names another issuer")
            if isinstance(document.get("jwks_uri"), str) and document["jwks_uri"]:
                return str(document["jwks_uri"])
    log.warning("no metadata of %s names its keys (jwks_uri); set NANOCOCOA_AUTH_JWKS_URL", issuer)
    raise ValueError(f"no metadata of {issuer} names a jwks_uri")


class IssuerKeys(JWTVerifier):
    """JWTVerifier for one algorithm, reading only the JWKS entries that can sign with it: an entry for encryption
    (`use: enc`, `key_ops` without `verify`) or naming another `alg` is left out, so that a token without `kid`
    still finds the one signing key among them. Entries without `use`, `key_ops` or `alg` are kept. With
    `discover_from` set (no JWKS URL configured), the first fetch looks the key set up in that issuer's metadata."""

    discover_from: str | None = None

    async def _fetch_jwks(self) -> dict[str, Any]:
        if self.discover_from is not None:
            self.jwks_uri = await discover_jwks_url(self.discover_from)
            self.discover_from = None
        document = await super()._fetch_jwks()
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            return {"keys": []}
        return {**document, "keys": [e for e in entries if isinstance(e, dict) and _signs_with(e, self.algorithm)]}


def _signs_with(entry: dict[str, Any], algorithm: str) -> bool:
    if entry.get("use", "sig") != "sig":
        return False
    ops = entry.get("key_ops")
    if isinstance(ops, list) and "verify" not in ops:
        return False
    declared = entry.get("alg")
    return declared is None or SAME_ALGORITHM.get(declared, declared) == SAME_ALGORITHM.get(algorithm, algorithm)


class Credentials:
    """Checks a bearer credential. `keys` gives the running service's key book (None when none runs)."""

    def __init__(self, settings: Settings, keys: Callable[[], KeyBook | None]) -> None:
        """Raises InvalidInput for an algorithm outside the asymmetric ones."""
        self.shared = settings.token.encode() if settings.token else None
        self.scope = settings.auth_scope
        self.tenant_claim = settings.auth_tenant_claim
        self.keys = keys
        self.verifiers: dict[str, IssuerKeys] = {}
        if not settings.auth_issuer:
            return
        for alg in settings.auth_algorithms:
            if alg not in ASYMMETRIC:
                raise InvalidInput(
                    f"{alg!r} is not accepted for access tokens", field="auth_algorithms",
                    accepted=f"asymmetric JWS algorithms: {', '.join(ASYMMETRIC)}",
                )
            verifier = IssuerKeys(
                jwks_uri=settings.auth_jwks_url or metadata_urls(settings.auth_issuer)[0],
                issuer=issuers(settings.auth_issuer),
                audience=audiences(settings),
                algorithm=alg,
                jwks_refresh_interval=settings.auth_jwks_refresh_sec,
            )
            if not settings.auth_jwks_url:
                verifier.discover_from = settings.auth_issuer
            self.verifiers[alg] = verifier

    async def verify(self, credential: str) -> Verified:
        """Raises Refusal, or BackendUnavailable / StorageError when API keys cannot be looked up now."""
        if self.shared is not None and hmac.compare_digest(credential.encode(), self.shared):
            return self._granted(Caller(LOCAL_TENANT, remote=True), "shared-token", SHARED_TOKEN_ISSUER)
        if looks_like_key(credential):
            return await self._api_key(credential)
        if self.verifiers:
            return await self._jwt(credential)
        raise Refusal("the bearer token is not a key or token this server knows")

    def _granted(self, caller: Caller, client_id: str, issuer: str) -> Verified:
        token = AccessToken(
            token=client_id, client_id=client_id, scopes=[self.scope], subject=caller.tenant, claims={"iss": issuer}
        )
        return Verified(caller, token)

    async def _api_key(self, credential: str) -> Verified:
        book = self.keys()
        if book is None:
            raise BackendUnavailable(
                "API keys cannot be checked while the job service is not running", field="Authorization",
                accepted="retry shortly",
            )
        key = await book.verify(credential)
        if key is None:
            raise Refusal("the API key is unknown or revoked")
        return self._granted(Caller(key.tenant, remote=True), key.key_id, API_KEY_ISSUER)

    async def _jwt(self, credential: str) -> Verified:
        try:
            header = decode_jwt_header(credential)
        except ValueError:
            header = None
        if not isinstance(header, dict):  # not three base64url parts, or a header that is no JSON object
            raise Refusal("the bearer token is not a JWT, an API key or the shared token")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or not ACCESS_TOKEN_TYPE.fullmatch(typ)):
            raise Refusal(f"a token of type {typ!r} is not an access token (accepted typ: at+jwt or JWT)")
        alg = header.get("alg")
        verifier = self.verifiers.get(alg) if isinstance(alg, str) else None
        if verifier is None:
            raise Refusal(f"tokens signed with {alg!r} are not accepted (accepted: {', '.join(self.verifiers)})")
        token = await verifier.load_access_token(credential)
        if token is None:
            raise Refusal("the token's signature, issuer, audience or validity period does not check out")
        if token.expires_at is None:  # JWTVerifier refuses an expired token but lets one without `exp` pass
            raise Refusal("the token carries no expiry (`exp`)")
        if self.scope not in token.scopes:
            raise Refusal(f"the token lacks the scope {self.scope!r}", error="insufficient_scope", status=403)
        tenant = token.claims.get(self.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise Refusal(f"the token names no tenant (claim {self.tenant_claim!r})")
        return Verified(Caller(tenant, remote=True), token)
