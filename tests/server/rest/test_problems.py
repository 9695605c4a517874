"""Refused requests as problem+json bodies naming the field and what is accepted, and leaving nothing behind;
a full queue with Retry-After; unknown routes and methods; an expected error logged as one line; the
unexpected masked. The service's upload limit sits between the two samples: dango.png passes, coffee.jpg
does not."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from nanococoa_mcp.server.rest import problems
from nanococoa_mcp.service import Service
from tests.server.rest.support import COFFEE, DANGO, ad, assert_problem, b64, wait_done

pytestmark = pytest.mark.asyncio(loop_scope="module")
SERVICE_SETTINGS = {"max_upload_bytes": 40_000, "max_queued_jobs": 2}

BAD_REQUESTS: list[tuple[str, str, dict[str, Any], str]] = [
    ("bad base64", "/api/generate", {"json": ad(product_image="%%% not base64 %%%")}, "product_image"),
    ("not an image", "/api/generate", {"json": ad(product_image=b64(b"just some text"))}, "product_image"),
    ("too large", "/api/generate", {"json": ad(product_image=b64(COFFEE))}, "product_image"),
    ("too large file", "/api/generate",
     {"data": {"ad_text": "경단"}, "files": {"product_image": ("c.jpg", COFFEE, "image/jpeg")}}, "product_image"),
    ("unknown background_style", "/api/generate", {"json": ad(background_style="moon base")}, "background_style"),
    ("unknown text_style", "/api/generate", {"json": ad(text_style="comic sans")}, "text_style"),
    ("unknown size", "/api/generate", {"json": ad(size="3:7")}, "size"),
    ("missing ad_text", "/api/generate", {"json": {"product_image": b64(DANGO)}}, "ad_text"),
    ("missing photo", "/api/generate", {"json": {"ad_text": "경단"}}, "product_image"),
    ("empty copy", "/api/generate", {"json": ad(ad_text="")}, "ad_text"),
    ("blank copy", "/api/generate", {"json": ad(ad_text="   ")}, "ad_text"),
    ("41-char copy", "/api/generate", {"json": ad(ad_text="가" * 41)}, "ad_text"),
    ("41-char seed copy", "/generate",
     {"json": {"product_image": b64(DANGO), "text_content": "가" * 41}}, "text_content"),
    ("unknown JSON field", "/api/generate", {"json": ad(colour="red")}, "colour"),
    ("unknown seed field", "/generate", {"json": {"product_image": b64(DANGO), "text_content": "경단", "x": 1}}, "x"),
    ("non-JSON body", "/api/generate", {"content": b"ad_text=hello", "headers": {"content-type": "text/plain"}},
     "body"),
    ("broken JSON", "/api/generate", {"content": b'{"ad_text": ', "headers": {"content-type": "application/json"}},
     "body"),
    ("a JSON list", "/api/generate", {"json": [ad()]}, "body"),
    ("variants=9", "/api/generate", {"json": ad(variants=9)}, "variants"),
    ("variants in words", "/api/generate", {"data": {"ad_text": "경단", "variants": "two"}}, "variants"),
    ("two files", "/api/generate", {"data": {"ad_text": "경단"}, "files": [
        ("product_image", ("a.png", DANGO, "image/png")), ("product_image", ("b.png", DANGO, "image/png"))]}, "body"),
    ("a file and base64", "/api/generate", {"data": {"ad_text": "경단", "product_image": b64(DANGO)},
     "files": {"product_image": ("a.png", DANGO, "image/png")}}, "product_image"),
    ("a file in another field", "/api/generate",
     {"data": {"ad_text": "경단"}, "files": {"photo": ("a.png", DANGO, "image/png")}}, "photo"),
    ("step 2 without a parent", "/generate", {"json": {"start_step": 2, "text_content": "경단"}}, "parent_id"),
    ("step 2 of an unknown parent", "/generate",
     {"json": {"start_step": 2, "parent_id": "no-such-job", "text_content": "경단"}}, "parent_id"),
]  # fmt: skip


def leftovers(data_dir: Path) -> list[Path]:
    return sorted(p for sub in ("uploads", "jobs", "steps") for p in (data_dir / sub).rglob("*"))


@pytest.mark.parametrize(
    ("route", "request_kwargs", "field"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
async def test_bad_input_is_a_problem_naming_the_field_and_leaves_nothing_behind(
    client: httpx.AsyncClient, rest_service: Service, route: str, request_kwargs: dict[str, Any], field: str
) -> None:
    jobs_before = (await client.get("/api/jobs")).json()
    files_before = leftovers(rest_service.settings.data_dir)
    r = await client.post(route, **request_kwargs)
    code, error = (404, "not_found") if "no-such-job" in str(request_kwargs) else (422, "invalid_input")
    body = assert_problem(r, code, error, field)
    assert body["accepted"], body
    assert (await client.get("/api/jobs")).json() == jobs_before
    assert leftovers(rest_service.settings.data_dir) == files_before


async def test_a_body_larger_than_its_images_allow_is_refused_unread(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/generate", json=ad(product_image="A" * 200_000))
    body = assert_problem(r, 422, "invalid_input", "product_image")
    assert "request body is larger" in body["message"] and body["accepted"].startswith("images up to")


async def test_the_same_requests_corrected_are_accepted(client: httpx.AsyncClient) -> None:
    """The control for the refusals above: the photo under the limit, as JSON and as a file."""
    r = await client.post("/api/generate", json=ad())
    assert r.status_code == 202, r.text
    form = await client.post(
        "/api/generate", data={"ad_text": "경단"}, files={"product_image": ("d.png", DANGO, "image/png")}
    )
    assert form.status_code == 202, form.text
    for job_id in (r.json()["job_id"], form.json()["job_id"]):
        assert (await wait_done(client, job_id))["status"] == "completed"


async def listed_ids(client: httpx.AsyncClient) -> set[str]:
    return {j["job_id"] for j in (await client.get("/api/jobs", params={"limit": 200})).json()["jobs"]}


async def test_a_full_queue_is_a_429_with_retry_after_and_makes_no_job(client: httpx.AsyncClient) -> None:
    before = await listed_ids(client)
    answers = await asyncio.gather(*(client.post("/api/generate", json=ad()) for _ in range(6)))
    full = [r for r in answers if r.status_code == 429]
    accepted = [r.json()["job_id"] for r in answers if r.status_code == 202]
    assert full and len(accepted) + len(full) == 6, [r.status_code for r in answers]
    for r in full:
        assert r.headers["retry-after"] == "5"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert (r.json()["error"], r.json()["status"]) == ("queue_full", 429)
    for job_id in accepted:
        await client.post(f"/stop/{job_id}")
    assert {(await wait_done(client, job_id))["status"] for job_id in accepted} <= {"completed", "stopped"}
    assert await listed_ids(client) - before == set(accepted)  # the refused left no row


async def test_an_unknown_job_is_one_log_line_and_no_traceback(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert_problem(await client.get("/status/unknown-id"), 404, "not_found", "job_id")
    lines = [r for r in caplog.records if r.levelno >= logging.INFO and r.name != "httpx"]  # not the test's client
    assert len(lines) == 1 and lines[0].levelno < logging.ERROR, [r.getMessage() for r in lines]
    assert "/status/unknown-id" in lines[0].getMessage() and "404" in lines[0].getMessage()
    assert all(r.exc_info is None and "Traceback" not in caplog.text for r in caplog.records)


@pytest.mark.parametrize(
    ("method", "path", "code", "error"),
    [("GET", "/no/such/route", 404, "not_found"), ("DELETE", "/health", 405, "method_not_allowed")],
)
async def test_an_unknown_route_or_method_is_a_problem_too(
    client: httpx.AsyncClient, method: str, path: str, code: int, error: str
) -> None:
    body = assert_problem(await client.request(method, path), code, error, "path")
    assert body["accepted"] == "the routes in /openapi.json"


class Order(BaseModel):
    count: int


async def test_an_unexpected_error_is_masked_and_a_model_refusal_inside_a_route_names_its_field() -> None:
    api = FastAPI()
    problems.install(api)

    @api.get("/broken")
    async def broken() -> None:
        raise RuntimeError("the database password is hunter2")

    @api.get("/refused")
    async def refused() -> Order:
        return Order.model_validate({"count": "many"})

    transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)  # the server logs what is raised
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/broken")
        assert r.status_code == 500 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json() == {"error": "internal_error", "message": "the request failed unexpectedly", "status": 500}
        body = assert_problem(await c.get("/refused"), 422, "invalid_input", "count")
        assert body["accepted"] == "a whole number"
