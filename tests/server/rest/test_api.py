"""The assembled REST app (`build_api`): FastAPI's OpenAPI document lists every route with the models it
reads and answers, `/docs` serves the interactive page, and without the job service every route says so
as a problem with Retry-After. No job service runs in this module."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema
import pytest
import pytest_asyncio

from nanococoa_mcp.server.rest import build_api
from tests.server.rest.support import assert_problem

pytestmark = pytest.mark.asyncio(loop_scope="module")
SCHEMAS = "#/components/schemas/"
# The seed's routes: (path, method) -> (request body model or None, success code, response model).
SEED_ROUTES = {
    ("/generate", "post"): ("SeedGenerateRequest", "202", "Accepted"),
    ("/api/generate", "post"): ("BackendGenerateRequest", "202", "Accepted"),
    ("/status/{job_id}", "get"): (None, "200", "RestJobStatus"),
    ("/api/status/{job_id}", "get"): (None, "200", "BackendJobStatus"),
    ("/stop/{job_id}", "post"): (None, "200", "StopResult"),
    ("/api/stop/{job_id}", "post"): (None, "200", "StopResult"),
    ("/health", "get"): (None, "200", "HealthReport"),
    ("/homepage/generate", "post"): ("CustomerData", "202", "HomepageAnswer"),
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_api()), base_url="http://test") as c:
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def doc(api_client: httpx.AsyncClient) -> dict[str, Any]:
    r = await api_client.get("/openapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


async def test_the_openapi_document_lists_the_seed_routes_with_their_request_and_response_models(
    doc: dict[str, Any],
) -> None:
    assert doc["openapi"].startswith("3.1.") and doc["info"]["title"] == "nanococoa" and doc["info"]["version"]
    for (path, method), (request, code, response) in SEED_ROUTES.items():
        op = doc["paths"][path][method]
        if request is not None:
            content = op["requestBody"]["content"]
            assert content["application/json"]["schema"] == {"$ref": SCHEMAS + request}, path
            assert content["multipart/form-data"]["schema"] == {"$ref": SCHEMAS + request}, path  # or a form
        assert op["responses"][code]["content"]["application/json"]["schema"] == {"$ref": SCHEMAS + response}, path
    fonts = doc["paths"]["/fonts"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert (fonts["type"], fonts["items"]) == ("array", {"$ref": SCHEMAS + "SeedFont"})
    seed_fields = doc["components"]["schemas"]["SeedGenerateRequest"]["properties"]
    assert {"start_step", "product_image", "text_content", "bg_prompt", "html_style_prompt", "test_mode"} <= set(
        seed_fields
    )
    assert "phone_number" in doc["components"]["schemas"]["CustomerData"]["properties"]


async def test_every_route_is_documented_and_every_ref_resolves(doc: dict[str, Any]) -> None:
    assert {
        "/generate", "/status/{job_id}", "/stop/{job_id}", "/health", "/fonts", "/api/generate",
        "/api/status/{job_id}", "/api/stop/{job_id}", "/api/jobs", "/api/styles", "/jobs/{job_id}/events",
        "/files/{job_id}/{name}", "/homepage/generate", "/homepage/status/{job_id}", "/homepage/download/{job_id}",
        "/api/stores", "/api/stores/{store_id}", "/sites/{site_id}/{path}",
    } <= set(doc["paths"])  # fmt: skip
    schemas = doc["components"]["schemas"]
    refs = re.findall(r'"\$ref": "([^"]*)"', json.dumps(doc))
    assert refs
    for ref in refs:
        assert ref.startswith(SCHEMAS) and ref.rsplit("/", 1)[1] in schemas, ref
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for path, item in doc["paths"].items():
        templated = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            assert method in ("get", "post", "put") and op["responses"], (path, method)
            assert all(r["description"] for r in op["responses"].values()), (path, method)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path" and p["required"]}
            assert declared == templated, (path, method)


async def test_every_documented_error_is_a_problem_json_body(doc: dict[str, Any]) -> None:
    """What the routes really answer: not FastAPI's default validation error shape."""
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    errors = [
        (path, code, response)
        for path, item in doc["paths"].items()
        for op in item.values()
        for code, response in op["responses"].items()
        if code.startswith(("4", "5")) and path != "/health"
    ]
    assert errors
    for path, code, response in errors:
        assert response["content"] == {"application/problem+json": {"schema": {"$ref": SCHEMAS + "ProblemDetail"}}}, (
            path,
            code,
        )


async def test_the_docs_page_is_fastapis_interactive_page_for_this_document(api_client: httpx.AsyncClient) -> None:
    page = await api_client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in page.text and "/openapi.json" in page.text and "nanococoa" in page.text
    assert "cdn" not in page.text.lower(), "Swagger UI is served from this port"
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in page.text
        served = await api_client.get(asset)
        assert served.status_code == 200 and len(served.content) > 10_000, asset


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/status/some-job"), ("GET", "/health"), ("GET", "/files/a/b.png")]
)
async def test_without_the_job_service_a_route_is_a_503_problem_with_retry_after(
    api_client: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await api_client.request(method, path)
    body = assert_problem(r, 503, "backend_unavailable", "server")
    assert r.headers["retry-after"] == "5" and "nanococoa serve" in body["accepted"]
