"""Who may call the one-port app, in process: a browser page from another origin may not drive the REST
routes, a token guards every path but /health and the web page's shell, and binding beyond loopback needs one."""

from __future__ import annotations

import httpx
import pytest

from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.server.http import build_app
from nanococoa_mcp.service import Service
from nanococoa_mcp.settings import get_settings
from tests.server.rest.support import ad, assert_problem

TOKEN = "rest-token-for-tests"
BASE = "http://127.0.0.1:8000"


def client_for(service: Service, **settings: object) -> httpx.AsyncClient:
    app = build_app(service.settings.model_copy(update=settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=30)


async def test_a_foreign_origin_is_refused_and_the_same_origin_passes(service: Service) -> None:
    async with client_for(service) as client:
        evil = await client.post("/api/generate", json=ad(), headers={"Origin": "http://evil.example"})
        assert_problem(evil, 403, "forbidden_origin", "Origin")
        assert (await client.get("/api/jobs")).json() == {"jobs": []}  # refused before it reached the route

        same = await client.post("/api/generate", json=ad(), headers={"Origin": BASE})
        assert same.status_code == 202, same.text
        await client.post(f"/stop/{same.json()['job_id']}")
    async with client_for(service, allowed_origins=["http://shop.example/"]) as client:
        allowed = await client.get("/api/jobs", headers={"Origin": "http://shop.example"})
        assert allowed.status_code == 200, allowed.text


async def test_a_token_guards_every_route_but_health_and_the_page_shell(service: Service) -> None:
    async with client_for(service, token=TOKEN) as client:
        for open_path in ("/health", "/", "/homepage", "/docs", "/static/app.js"):  # the page asks for a key itself
            assert (await client.get(open_path)).status_code == 200, open_path
        for headers, error in (({}, None), ({"Authorization": "Bearer wrong"}, "invalid_token"),
                               ({"Authorization": TOKEN}, None)):
            for method, path in (("POST", "/api/generate"), ("GET", "/api/jobs"), ("GET", "/files/x/final_1.png")):
                r = await client.request(method, path, json=ad() if method == "POST" else None, headers=headers)
                assert_problem(r, 401, error or "unauthorized", "Authorization")
                assert r.headers["www-authenticate"] == (f'Bearer error="{error}"' if error else "Bearer"), path
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/api/jobs", headers=auth)).json() == {"jobs": []}
        r = await client.post("/api/generate", json=ad(), headers=auth)
        assert r.status_code == 202, r.text
        await client.post(f"/stop/{r.json()['job_id']}", headers=auth)
        assert (await client.get("/openapi.json", headers=auth)).status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.0.10", "::"])
def test_binding_beyond_loopback_without_a_token_is_refused_naming_token(host: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        build_app(get_settings().model_copy(update={"host": host}))
    assert refused.value.field == "token" and "NANOCOCOA_TOKEN" in (refused.value.accepted or "")
