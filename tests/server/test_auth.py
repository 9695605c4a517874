"""The one-port app as an OAuth 2.1 resource server, in process, against a loopback issuer the test starts: the
protected-resource document and the 401 challenge byte for byte, every kind of bad token refused, a missing
scope told apart, key rotation, API keys (revoked at once) and the shared token, and the media cookie; and once
as `nanococoa serve` configured by the environment alone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nanococoa_mcp.server.http import build_app
from nanococoa_mcp.service import Service
from nanococoa_mcp.settings import get_settings
from tests.server.oauth_issuer import LoopbackIssuer
from tests.server.rest.support import assert_problem
from tests.server.serving import LOOPBACK, ROOT, ServerProcess, free_port

BASE = "http://127.0.0.1:8000"
TOKEN = "shared-token-for-auth-tests"
REFRESH_S = 0.5
CHALLENGE = (
    'Bearer resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource", scope="nanococoa"'
)


@pytest.fixture
def issuer() -> Iterator[LoopbackIssuer]:
    running = LoopbackIssuer(audience=BASE)
    running.add_key("k1")
    yield running
    running.close()


@pytest.fixture
async def client(issuer: LoopbackIssuer) -> AsyncIterator[httpx.AsyncClient]:
    """The app with no job service: what the door refuses never reaches one (API keys need `keyed`)."""
    async with _client(issuer) as c:
        yield c


@pytest.fixture
async def keyed(service: Service, issuer: LoopbackIssuer) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the job service running, whose database holds the API keys."""
    async with _client(issuer) as c:
        yield c


def _client(issuer: LoopbackIssuer) -> httpx.AsyncClient:
    settings = get_settings().model_copy(update={
        "token": TOKEN, "auth_issuer": issuer.url, "auth_jwks_url": issuer.jwks_url, "public_url": BASE,
        "auth_jwks_refresh_sec": REFRESH_S,
    })
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(settings)), base_url=BASE, timeout=30)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def tenant_of(client: httpx.AsyncClient, token: str) -> Any:
    """Who the door says a credential acts as (its answer to POST /auth/session)."""
    r = await client.post("/auth/session", headers=bearer(token))
    return r.json()["tenant"] if r.status_code == 200 else r.status_code


async def test_the_protected_resource_documents_name_the_issuer_scope_and_resource(
    client: httpx.AsyncClient, issuer: LoopbackIssuer
) -> None:
    for path, resource in (("", BASE), ("/mcp", f"{BASE}/mcp"), ("/sse", f"{BASE}/sse")):
        r = await client.get(f"/.well-known/oauth-protected-resource{path}")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.content == (
            f'{{"resource":"{resource}","authorization_servers":["{issuer.url}"],'
            f'"scopes_supported":["nanococoa"],"bearer_methods_supported":["header"],"resource_name":"nanococoa"}}'
        ).encode()


async def test_a_request_without_a_token_is_challenged_with_the_metadata_document(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/jobs")
    body = assert_problem(r, 401, "unauthorized", "Authorization")
    assert r.headers["www-authenticate"] == CHALLENGE
    assert "nanococoa keys create" in body["accepted"] and "scope 'nanococoa'" in body["accepted"]
    mcp = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert mcp.status_code == 401
    assert mcp.headers["www-authenticate"] == CHALLENGE.replace("protected-resource", "protected-resource/mcp")
    for path in ("/health", "/", "/static/app.js"):
        assert (await client.get(path)).status_code != 401, path  # open (health says 503: no service here)


@pytest.mark.parametrize(
    "kind",
    ["expired", "not_yet_valid", "wrong_audience", "wrong_issuer", "forged_signature", "alg_none",
     "hs256_with_public_key", "no_expiry", "no_tenant", "not_a_token"],
)
async def test_a_bad_token_is_refused_as_invalid(client: httpx.AsyncClient, issuer: LoopbackIssuer, kind: str) -> None:
    now = int(issuer.claims()["iat"])
    tokens = {
        "expired": lambda: issuer.mint(exp=now - 60, nbf=now - 600),
        "not_yet_valid": lambda: issuer.mint(nbf=now + 600, exp=now + 900),
        "wrong_audience": lambda: issuer.mint(aud="http://elsewhere.example"),
        "wrong_issuer": lambda: issuer.mint(iss="http://127.0.0.1:1/not-the-issuer"),
        "forged_signature": lambda: issuer.mint(key=LoopbackIssuer.add_key(issuer, "forger", publish=False)),
        "alg_none": lambda: issuer.unsigned(),
        "hs256_with_public_key": lambda: issuer.hs256_with_public_key(),
        "no_expiry": lambda: issuer.mint(exp=None),
        "no_tenant": lambda: issuer.mint(sub=None),
        "not_a_token": lambda: "hello",
    }
    token = tokens[kind]()
    if kind == "forged_signature":  # signed by an unpublished key but claiming the published key's id
        token = issuer.mint(kid="k1", key=issuer.keys["forger"])
    for method, path in (("GET", "/api/jobs"), ("POST", "/mcp"), ("GET", "/sse"), ("GET", "/jobs/x/events")):
        r = await client.request(method, path, headers=bearer(token))
        assert_problem(r, 401, "invalid_token", "Authorization")
        assert r.headers["www-authenticate"].startswith('Bearer error="invalid_token", resource_metadata="'), kind


async def test_a_valid_token_without_the_scope_is_forbidden_not_unauthorized(
    client: httpx.AsyncClient, issuer: LoopbackIssuer
) -> None:
    r = await client.get("/api/jobs", headers=bearer(issuer.mint(scope="openid profile")))
    assert_problem(r, 403, "insufficient_scope", "Authorization")
    assert r.headers["www-authenticate"] == CHALLENGE.replace("Bearer ", 'Bearer error="insufficient_scope", ')
    listed = issuer.mint(scope=None, scp=["nanococoa", "other"])  # the `scp` list some issuers use
    assert await tenant_of(client, listed) == "shop-a"


async def test_a_valid_token_acts_as_its_tenant_and_each_audience_of_this_server_is_accepted(
    client: httpx.AsyncClient, issuer: LoopbackIssuer
) -> None:
    assert await tenant_of(client, issuer.mint(sub="shop-b")) == "shop-b"
    assert await tenant_of(client, issuer.mint(aud=[f"{BASE}/mcp", "http://other.example"])) == "shop-a"
    issuer.add_key("ec1", kind="EC")
    assert await tenant_of(client, issuer.mint(kid="ec1")) == "shop-a"  # ES256 is allowed too


async def test_an_unknown_key_id_fetches_the_keys_again_at_most_every_refresh_interval(
    client: httpx.AsyncClient, issuer: LoopbackIssuer
) -> None:
    assert await tenant_of(client, issuer.mint()) == "shop-a"
    assert issuer.fetches == 1  # cached from now on
    assert await tenant_of(client, issuer.mint()) == "shop-a" and issuer.fetches == 1
    issuer.add_key("k2", publish=False)
    rotated = issuer.mint(kid="k2")
    await asyncio.sleep(REFRESH_S)
    assert await tenant_of(client, rotated) == 401 and issuer.fetches == 2  # fetched again: not there yet
    issuer.publish("k2")
    assert await tenant_of(client, rotated) == 401 and issuer.fetches == 2  # too soon to fetch again
    await asyncio.sleep(REFRESH_S)
    assert await tenant_of(client, rotated) == "shop-a" and issuer.fetches == 3
    assert await tenant_of(client, issuer.mint()) == "shop-a" and issuer.fetches == 3  # the old key still works


async def test_api_keys_and_the_shared_token_work_and_a_revoked_key_stops_at_once(
    keyed: httpx.AsyncClient, service: Service
) -> None:
    client = keyed
    made, key = await service.keys.create("shop-k")
    assert key.startswith("nck_") and key not in json.dumps([k.model_dump() for k in await service.keys.list()])
    assert (await client.get("/api/jobs", headers=bearer(key))).json() == {"jobs": []}
    assert await tenant_of(client, key) == "shop-k"
    assert await tenant_of(client, TOKEN) == "local"
    assert (await service.keys.get(made.key_id)).last_used_at is not None
    await service.keys.revoke(made.key_id)
    r = await client.get("/api/jobs", headers=bearer(key))
    assert_problem(r, 401, "invalid_token", "Authorization")
    assert await tenant_of(client, "nck_" + "x" * 43) == 401


async def test_the_media_cookie_serves_reads_only_and_is_checked_on_every_use(
    keyed: httpx.AsyncClient, service: Service
) -> None:
    client = keyed
    made, key = await service.keys.create("shop-c")
    r = await client.post("/auth/session", headers=bearer(key))
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"nanococoa_media={key}; Path=/; Max-Age=")
    assert cookie.endswith("HttpOnly; SameSite=Strict")
    client.cookies.set("nanococoa_media", key)
    assert (await client.get("/api/jobs")).status_code == 200
    posted = await client.post("/api/stop/x")  # a state change needs the header
    assert_problem(posted, 401, "unauthorized", "Authorization")
    await service.keys.revoke(made.key_id)
    assert (await client.get("/api/jobs")).status_code == 401
    gone = await client.delete("/auth/session")
    assert gone.status_code == 204 and gone.headers["set-cookie"].startswith("nanococoa_media=; Path=/; Max-Age=0")


def test_nanococoa_serve_configured_by_the_issuer_alone_finds_its_keys_and_serves_its_tokens(
    tmp_path: Path,
) -> None:
    """A real `nanococoa serve`, configured only by the environment as an operator would: the issuer (with a
    trailing slash), no JWKS URL (found through OpenID Connect discovery), no public URL; an RFC 9068 token
    without `kid`, for `localhost`, with a list audience."""
    issuer = LoopbackIssuer(audience="", path="/")
    issuer.add_key("k1", entry={"alg": None, "use": None, "kid": None})
    issuer.serve_metadata("/.well-known/openid-configuration")
    port = free_port()
    env = {"NANOCOCOA_AUTH_ISSUER": issuer.url, "PYTHONPATH": str(ROOT / "src")}
    try:
        with ServerProcess(tmp_path / "data", env=env, port=port) as server:
            meta = LOOPBACK.get(f"{server.base}/.well-known/oauth-protected-resource/mcp", timeout=10).json()
            assert meta["authorization_servers"] == [issuer.url] and meta["resource"] == f"{server.base}/mcp"
            audience = ["urn:other", f"http://localhost:{port}/mcp"]
            token = issuer.mint(header={"kid": None, "typ": "at+jwt"}, aud=audience)
            listed = LOOPBACK.get(f"{server.base}/api/jobs", headers=bearer(token), timeout=30)
            assert listed.status_code == 200 and listed.json() == {"jobs": []}
            refused = LOOPBACK.get(f"{server.base}/api/jobs", headers=bearer(issuer.mint(aud="urn:other")), timeout=30)
            assert_problem(refused, 401, "invalid_token", "Authorization")
            assert issuer.metadata_fetches >= 1 and issuer.fetches >= 1
    finally:
        issuer.close()
