"""The REST shim (Starlette): the seed's model-server routes (`/generate`, `/status`, `/stop`, `/health`,
`/fonts`) and backend routes (`/api/generate`, `/api/status`, `/api/stop`), a server-sent progress
stream, result files, the web page and an OpenAPI document generated from the models.

Every route calls the same tool functions the MCP door registers; errors are JSON problem bodies
naming the field and what is accepted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from nanococoa_mcp import __version__
from nanococoa_mcp.ad.catalog.styles import guess_style
from nanococoa_mcp.ad.catalog.text_styles import guess_text_style
from nanococoa_mcp.ad.images import ACCEPTED_TEXT, DecodedImage, decode_image
from nanococoa_mcp.ad.pipeline import TextPosition
from nanococoa_mcp.errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    JobFailed,
    NanococoaError,
    NotFound,
)
from nanococoa_mcp.jobs.models import STATES, TERMINAL, JobState, JobStatus, QueueFull
from nanococoa_mcp.service import Service, get_service
from nanococoa_mcp.storage import StorageError
from nanococoa_mcp.tools import catalog
from nanococoa_mcp.tools.ads import AdFields, JobKindName, JobList, submit_ad, summarize
from nanococoa_mcp.tools.system import server_health

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
EVENT_POLL_S = 0.25
PING_S = 10  # keep-alive comments on the event stream, well under common proxy idle timeouts


# ---------------------------------------------------------------- request and response models


class SeedGenerateRequest(BaseModel):
    """The seed's model-server request (`POST /generate`), plus nanococoa's own optional fields."""

    model_config = ConfigDict(extra="forbid")

    start_step: int = Field(default=1, ge=1, le=3, description="1 = from scratch; 2 or 3 need parent_id.")
    product_image: str | None = Field(default=None, description="The product photo, base64 (data: URL ok).")
    text_content: str | None = Field(default=None, description="Main ad copy (Korean), 1-40 characters.")
    bg_prompt: str | None = Field(default=None, max_length=1000, description="Scene description; picks the style.")
    html_style_prompt: str | None = Field(
        default=None, max_length=1000, description="Copy style; picks the text style."
    )
    use_qwen_analysis: bool = True
    use_llm_html: bool = False
    text_position: TextPosition | None = None
    strength: float = Field(default=0.6, ge=0, le=1)
    guidance_scale: float = Field(default=3.5, ge=0, le=30)
    test_mode: bool = False
    parent_id: str | None = Field(default=None, description="The job whose earlier steps a step 2/3 run reuses.")
    sub_copy: str | None = None
    style: str | None = Field(default=None, description="Scene style id or name (overrides bg_prompt).")
    text_style: str | None = Field(default=None, description="Text style id or name (overrides html_style_prompt).")
    size: str | None = None
    variants: int | None = Field(default=None, ge=1, le=4)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class BackendGenerateRequest(BaseModel):
    """The seed's backend request (`POST /api/generate`), JSON or multipart."""

    model_config = ConfigDict(extra="forbid")

    product_image: str | None = Field(default=None, description="base64; in multipart, a file part instead.")
    ad_text: str = Field(description="Main ad copy (Korean), 1-40 characters.")
    sub_copy: str | None = None
    background_style: str | None = Field(default=None, description="Scene style id or name, e.g. 전통시장 분위기.")
    text_style: str | None = Field(default=None, description="Text style id or name, e.g. 골드 풍선 텍스트.")
    size: str | None = None
    variants: int | None = Field(default=None, ge=1, le=4)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    text_position: TextPosition | None = None


class Accepted(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    status: str = Field(description="queued (the seed's backend says processing).")
    queue_position: int | None
    status_url: str
    events_url: str


class StopResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    status: JobState


class ProblemDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: str = Field(description="invalid_input, not_found, queue_full, conflict, storage_error, ...")
    message: str
    field: str | None = None
    accepted: str | None = None
    status: int


class RestJobStatus(JobStatus):
    """A job's status over HTTP: the same fields, with URLs for its images."""

    step1_result_url: str | None = None
    final_result_url: str | None = None
    image_urls: list[str] = Field(default_factory=list, description="Every finished variant, in order.")


class BackendStatus(BaseModel):
    """The seed's backend status shape: `{status, progress, result}`."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    status: JobState
    progress: float
    message: str | None
    current_step: str | None
    eta_seconds: float | None
    step1_image: str | None = Field(description="URL of the step-1 preview once it exists.")
    final_image: str | None = Field(description="URL of the finished ad.")
    images: list[str]
    result: dict[str, Any] | None
    error: dict[str, Any] | None


# ---------------------------------------------------------------- errors


def status_code(exc: NanococoaError) -> int:
    if isinstance(exc, QueueFull):
        return 429
    if isinstance(exc, InvalidInput):
        return 422 if exc.code == "invalid_input" else 400
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, BackendUnavailable):
        return 503
    if isinstance(exc, StorageError):
        return 507
    if isinstance(exc, JobFailed):
        return 500
    return 400


def problem(exc: NanococoaError) -> JSONResponse:
    code = status_code(exc)
    headers = {"Retry-After": "5"} if code in (429, 503) else None
    body = {**exc.to_dict(), "status": code}
    return JSONResponse(body, status_code=code, headers=headers, media_type="application/problem+json")


def _validation_problem(exc: ValidationError) -> JSONResponse:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    ctx = first.get("ctx") or {}
    accepted = str(ctx.get("expected")) if "expected" in ctx else None
    if first["type"] == "extra_forbidden":
        accepted = "only the fields in /openapi.json"
    return problem(InvalidInput(first["msg"], field=field, accepted=accepted))


Handler = Callable[[Request], Awaitable[Response]]


def endpoint(fn: Handler) -> Handler:
    """One error mapping for every route: typed errors to problem bodies, the unexpected logged and masked."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except NanococoaError as exc:
            return problem(exc)
        except ValidationError as exc:
            return _validation_problem(exc)
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            body = {"error": "internal_error", "message": "the request failed unexpectedly", "status": 500}
            return JSONResponse(body, status_code=500, media_type="application/problem+json")

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


# ---------------------------------------------------------------- reading requests


async def _body_json(request: Request, service: Service, images: int = 1) -> dict[str, Any]:
    """The JSON object body, refused unread when larger than `images` base64 uploads allow."""
    limit = images * (service.settings.max_upload_bytes * 4 // 3) + 64 * 1024
    if int(request.headers.get("content-length") or 0) > limit:
        raise InvalidInput(
            "the request body is larger than the upload limit",
            field="product_image" if images == 1 else "photos",
            accepted=f"{'images' if images == 1 else f'{images} images'} "
            f"up to {service.settings.max_upload_bytes / 1_048_576:.0f} MB",
        )
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInput(
            "the body is not JSON", field="body", accepted="a JSON object, or multipart/form-data"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput("the body is not a JSON object", field="body", accepted="a JSON object")
    return data


async def _read_form(request: Request, service: Service) -> tuple[dict[str, Any], bytes | None]:
    """A multipart or urlencoded form: its text fields, and the product image's bytes (a file part, or
    base64 in a text part as in JSON). Raises InvalidInput for a form Starlette refuses to parse."""
    max_bytes = service.settings.max_upload_bytes
    fields: dict[str, Any] = {}
    upload: bytes | None = None
    try:
        # A text part may carry the image as base64, a third larger than the file.
        async with request.form(max_files=1, max_fields=40, max_part_size=max_bytes * 4 // 3 + 64 * 1024) as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key != "product_image":
                        raise InvalidInput(f"unexpected file field {key!r}", field=key, accepted="product_image")
                    upload = await value.read(max_bytes + 1)
                elif value != "":
                    fields[key] = value
    except HTTPException as exc:  # Starlette's answer to a malformed or oversized form
        raise InvalidInput(
            f"the form was refused: {exc.detail}",
            field="body",
            accepted=f"multipart/form-data: one product_image file up to {max_bytes / 1_048_576:.0f} MB, 40 fields",
        ) from None
    text_image = fields.pop("product_image", None)
    if text_image is not None:
        if upload is not None:
            raise InvalidInput("the image was given twice", field="product_image", accepted="one file or one base64")
        upload = _decode_b64(text_image, service, "product_image")
    return fields, upload


def _decode_b64(text: str, service: Service, field: str) -> bytes:
    text = text.strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "the image is not valid base64", field=field, accepted=f"base64 of a {ACCEPTED_TEXT} file"
        ) from None


async def _image(data: bytes | None, service: Service, field: str = "product_image") -> DecodedImage | None:
    """Decoded in a thread: a 12 MP photo takes a few hundred ms, which the event loop must not wait for."""
    return await asyncio.to_thread(_decode, data, service, field)


def _decode(data: bytes | None, service: Service, field: str) -> DecodedImage | None:
    if data is None:
        return None
    s = service.settings
    return decode_image(
        data, field=field, max_bytes=s.max_upload_bytes, max_pixels=s.max_pixels, min_side=s.min_side_px
    )


async def _read_request(request: Request, service: Service) -> tuple[dict[str, Any], bytes | None]:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return await _read_form(request, service)
    data = await _body_json(request, service)
    image = data.pop("product_image", None)
    if image is not None and not isinstance(image, str):
        raise InvalidInput("product_image must be a base64 string", field="product_image", accepted="base64")
    return data, _decode_b64(image, service, "product_image") if image else None


# The tools name the MCP parameters (`copy`, `style`); a REST caller sent these fields instead.
SEED_FIELD_NAMES = {"copy": "text_content"}
BACKEND_FIELD_NAMES = {"copy": "ad_text", "style": "background_style"}


@contextlib.contextmanager
def _rest_field_names(names: dict[str, str]) -> Iterator[None]:
    try:
        yield
    except InvalidInput as exc:
        exc.field = names.get(exc.field or "", exc.field)
        raise


# ---------------------------------------------------------------- job views


def file_url(path: str | None) -> str | None:
    if not path:
        return None
    p = Path(path)
    return f"/files/{p.parent.name}/{p.name}"


def rest_status(st: JobStatus) -> RestJobStatus:
    images = [u for v in (st.result or {}).get("variants", []) if (u := file_url(v.get("image_path")))]
    return RestJobStatus(
        **st.model_dump(),
        step1_result_url=file_url(st.step1_result),
        final_result_url=file_url(st.final_result),
        image_urls=images,
    )


def _accepted(st: JobStatus, status_word: str | None = None) -> JSONResponse:
    body = Accepted(
        job_id=st.job_id,
        status=status_word or st.status,
        queue_position=st.queue_position,
        status_url=f"/status/{st.job_id}",
        events_url=f"/jobs/{st.job_id}/events",
    )
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": body.status_url})


# ---------------------------------------------------------------- routes


@endpoint
async def seed_generate(request: Request) -> Response:
    """POST /generate: the seed's model-server request; answers 202 with the job id at once."""
    service = get_service()
    data, image_bytes = await _read_request(request, service)
    req = SeedGenerateRequest.model_validate({**data, "product_image": None} if image_bytes is not None else data)
    style = req.style
    if style is None and req.bg_prompt:
        guessed = guess_style(req.bg_prompt)
        style = guessed.id if guessed else None
    text_style = req.text_style
    if text_style is None and req.html_style_prompt:
        guessed_t = guess_text_style(req.html_style_prompt)
        text_style = guessed_t.id if guessed_t else None
    fields = AdFields(
        text_content=req.text_content,
        sub_copy=req.sub_copy,
        style=style,
        text_style=text_style,
        size=req.size,
        variants=req.variants,
        seed=req.seed,
        text_position=req.text_position,
    )
    extras = {
        "bg_prompt": req.bg_prompt,
        "html_style_prompt": req.html_style_prompt,
        "use_qwen_analysis": req.use_qwen_analysis,
        "use_llm_html": req.use_llm_html,
        "strength": req.strength,
        "guidance_scale": req.guidance_scale,
        "test_mode": req.test_mode,
    }
    image = await _image(image_bytes, service)
    with _rest_field_names(SEED_FIELD_NAMES):
        st = await submit_ad(service, fields, image, parent_id=req.parent_id, start_step=req.start_step, extras=extras)
    return _accepted(st)


@endpoint
async def seed_status(request: Request) -> Response:
    """GET /status/{job_id}: the seed's status fields, with URLs for the images."""
    st = await get_service().status(request.path_params["job_id"])
    return JSONResponse(rest_status(st).model_dump(mode="json"))


@endpoint
async def seed_stop(request: Request) -> Response:
    """POST /stop/{job_id}."""
    st = await get_service().stop(request.path_params["job_id"])
    return JSONResponse(StopResult(job_id=st.job_id, status=st.status).model_dump())


@endpoint
async def health(_request: Request) -> Response:
    """GET /health: 200 when ready, 503 when degraded (a worker down, the disk or the queue full)."""
    report = await server_health()
    return JSONResponse(report.model_dump(mode="json"), status_code=200 if report.status == "ok" else 503)


@endpoint
async def fonts(_request: Request) -> Response:
    """GET /fonts: the seed's `[{name, path}]`, with each font's details."""
    listed = (await catalog.list_fonts()).fonts
    return JSONResponse([{"name": f.family, **f.model_dump()} for f in listed])


@endpoint
async def styles(_request: Request) -> Response:
    """GET /api/styles: scene styles, text styles and sizes (with thumbnail URLs)."""
    cat = (await catalog.list_styles()).model_dump()
    for kind, key in (("scene", "scene_styles"), ("text", "text_styles")):
        for entry in cat[key]:
            thumb = WEB_DIR / "thumbs" / kind / f"{entry['id']}.jpg"
            entry["thumbnail_url"] = f"/static/thumbs/{kind}/{entry['id']}.jpg" if thumb.is_file() else None
    return JSONResponse(cat)


@endpoint
async def api_generate(request: Request) -> Response:
    """POST /api/generate: the seed's backend request (JSON with base64, or multipart with a file)."""
    service = get_service()
    data, image_bytes = await _read_request(request, service)
    req = BackendGenerateRequest.model_validate(data)
    fields = AdFields(
        text_content=req.ad_text,
        sub_copy=req.sub_copy,
        style=req.background_style,
        text_style=req.text_style,
        size=req.size,
        variants=req.variants,
        seed=req.seed,
        text_position=req.text_position,
    )
    with _rest_field_names(BACKEND_FIELD_NAMES):
        st = await submit_ad(service, fields, await _image(image_bytes, service))
    return _accepted(st, "processing")


@endpoint
async def api_status(request: Request) -> Response:
    """GET /api/status/{job_id}: the seed's backend shape `{status, progress, result}`."""
    st = rest_status(await get_service().status(request.path_params["job_id"], metrics=False))
    body = BackendStatus(
        job_id=st.job_id,
        status=st.status,
        progress=st.progress_percent,
        message=st.message,
        current_step=st.current_step,
        eta_seconds=st.eta_seconds,
        step1_image=st.step1_result_url,
        final_image=st.final_result_url,
        images=st.image_urls,
        result=st.result,
        error=st.error.model_dump() if st.error else None,
    )
    return JSONResponse(body.model_dump(mode="json"))


@endpoint
async def api_jobs(request: Request) -> Response:
    """GET /api/jobs?status=&kind=&limit=: recent jobs (ads and homepages), newest first."""
    status = request.query_params.get("status") or None
    if status is not None and status not in STATES:
        raise InvalidInput(
            f"unknown status {status!r}", field="status", accepted=", ".join(STATES)
        )
    try:
        limit = int(request.query_params.get("limit", "20"))
    except ValueError:
        raise InvalidInput("limit is not a number", field="limit", accepted="1-200") from None
    if not 1 <= limit <= 200:
        raise InvalidInput(f"limit {limit} is out of range", field="limit", accepted="1-200")
    kind = request.query_params.get("kind") or None
    if kind is not None and kind not in get_args(JobKindName):
        raise InvalidInput(f"unknown kind {kind!r}", field="kind", accepted=", ".join(get_args(JobKindName)))
    jobs = await get_service().jobs(status, limit, kind)
    return JSONResponse(JobList(jobs=[summarize(j) for j in jobs]).model_dump(mode="json"))


async def job_events(request: Request) -> Response:
    """GET /jobs/{job_id}/events: server-sent `status` events on every change, then `end`."""
    service = get_service()
    job_id = request.path_params["job_id"]
    try:
        first = await service.status(job_id, metrics=False)
    except NanococoaError as exc:
        return problem(exc)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        st: JobStatus | None = first
        last = ""
        while True:
            if st is None:
                st = await service.status(job_id, metrics=False)
            payload = rest_status(st).model_dump_json(exclude={"system_metrics"})
            key = f"{st.status}:{st.progress_percent}:{st.sub_step}"
            if key != last:
                yield ServerSentEvent(data=payload, event="status")
                last = key
            if st.status in TERMINAL:
                yield ServerSentEvent(data=json.dumps({"job_id": job_id, "status": st.status}), event="end")
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(EVENT_POLL_S)
            st = None

    return EventSourceResponse(stream(), ping=PING_S)


async def result_file(request: Request) -> Response:
    """GET /files/{job_id}/{name}: a result file (final_N.png, step1_N.png, cutout.png, previews)."""
    service = get_service()
    job_id, name = request.path_params["job_id"], request.path_params["name"]
    data_dir = service.settings.data_dir.resolve()
    for root in (data_dir / "jobs", data_dir / "steps"):
        path = (root / job_id / name).resolve()
        if root in path.parents and path.parent.parent == root and path.is_file() and not name.startswith("."):
            if path.suffix not in (".png", ".jpg", ".json"):
                break
            headers = {"Cache-Control": "private, max-age=3600"}
            if request.query_params.get("download"):
                headers["Content-Disposition"] = f'attachment; filename="nanococoa-{job_id[:8]}-{name}"'
            return FileResponse(path, headers=headers)
    return problem(NotFound(f"no file {name!r} in job {job_id!r}", field="name", accepted="a file listed in the job"))


async def index(_request: Request) -> Response:
    page = WEB_DIR / "index.html"
    if not page.is_file():
        return problem(NotFound("the web page is not installed", field="path", accepted="/health, /mcp"))
    return FileResponse(page, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


# ---------------------------------------------------------------- OpenAPI


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi_document() -> dict[str, Any]:
    components: dict[str, Any] = {}
    ref = {
        m.__name__: _schema(m, components)
        for m in (
            SeedGenerateRequest,
            BackendGenerateRequest,
            Accepted,
            RestJobStatus,
            BackendStatus,
            StopResult,
            ProblemDetail,
            JobList,
            catalog.StyleCatalog,
        )
    }
    from nanococoa_mcp.tools.system import HealthReport

    ref["HealthReport"] = _schema(HealthReport, components)

    def ok(name: str, code: str = "200") -> dict[str, Any]:
        return {code: {"description": name, "content": {"application/json": {"schema": ref[name]}}}}

    errors = {
        str(c): {"description": d, "content": {"application/problem+json": {"schema": ref["ProblemDetail"]}}}
        for c, d in ((404, "unknown job"), (422, "invalid input"), (429, "queue full"), (503, "unavailable"))
    }
    job_param = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    multipart = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"product_image": {"type": "string", "format": "binary"}},
                "additionalProperties": {"type": "string"},
            }
        }
    }

    def post(summary: str, req: str, resp: str, code: str = "202") -> dict[str, Any]:
        body = {"required": True, "content": {"application/json": {"schema": ref[req]}, **multipart}}
        return {"post": {"summary": summary, "requestBody": body, "responses": {**ok(resp, code), **errors}}}

    from nanococoa_mcp.server.homepage_routes import openapi_paths  # it builds on this module's helpers

    paths: dict[str, Any] = {
        "/generate": post("Start an ad job (the seed's model-server request)", "SeedGenerateRequest", "Accepted"),
        "/api/generate": post("Start an ad job (the seed's backend request)", "BackendGenerateRequest", "Accepted"),
        "/status/{job_id}": {
            "get": {
                "summary": "A job's status",
                "parameters": job_param,
                "responses": {**ok("RestJobStatus"), **errors},
            }
        },
        "/api/status/{job_id}": {
            "get": {
                "summary": "A job's status (backend shape)",
                "parameters": job_param,
                "responses": {**ok("BackendStatus"), **errors},
            }
        },
        "/stop/{job_id}": {
            "post": {"summary": "Stop a job", "parameters": job_param, "responses": {**ok("StopResult"), **errors}}
        },
        "/api/stop/{job_id}": {
            "post": {"summary": "Stop a job", "parameters": job_param, "responses": {**ok("StopResult"), **errors}}
        },
        "/api/jobs": {"get": {"summary": "Recent jobs", "responses": {**ok("JobList"), **errors}}},
        "/api/styles": {"get": {"summary": "Scene styles, text styles, sizes", "responses": ok("StyleCatalog")}},
        "/health": {"get": {"summary": "Readiness", "responses": {**ok("HealthReport"), **errors}}},
        "/fonts": {"get": {"summary": "Korean fonts", "responses": {"200": {"description": "fonts"}}}},
        "/jobs/{job_id}/events": {
            "get": {
                "summary": "Progress as server-sent events",
                "parameters": job_param,
                "responses": {"200": {"description": "text/event-stream of status"}},
            }
        },
        "/files/{job_id}/{name}": {
            "get": {
                "summary": "A result image",
                "parameters": [
                    *job_param,
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "PNG/JPEG"}, "404": errors["404"]},
            }
        },
    }
    paths.update(openapi_paths(ref, components, errors))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "nanococoa",
            "version": __version__,
            "description": (
                "Korean product ads and shop homepages: REST shim over the MCP tool registry (MCP at /mcp and /sse)."
            ),
        },
        "paths": paths,
        "components": {"schemas": components},
    }


async def openapi(_request: Request) -> Response:
    return JSONResponse(openapi_document())


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no such route, wrong method) as problem bodies like every other error."""
    code = getattr(exc, "status_code", 500)
    detail = "no such route" if code == 404 else "method not allowed" if code == 405 else str(exc)
    body = {
        "error": "not_found" if code == 404 else "method_not_allowed" if code == 405 else "http_error",
        "message": f"{request.method} {request.url.path}: {detail}",
        "field": "path",
        "accepted": "the routes in /openapi.json",
        "status": code,
    }
    return JSONResponse(body, status_code=code, media_type="application/problem+json")


def routes() -> list[BaseRoute]:
    from nanococoa_mcp.server.homepage_routes import homepage_routes  # it builds on this module's helpers

    return [
        *homepage_routes(),
        Route("/", index, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/fonts", fonts, methods=["GET"]),
        Route("/generate", seed_generate, methods=["POST"]),
        Route("/status/{job_id}", seed_status, methods=["GET"]),
        Route("/stop/{job_id}", seed_stop, methods=["POST"]),
        Route("/api/generate", api_generate, methods=["POST"]),
        Route("/api/status/{job_id}", api_status, methods=["GET"]),
        Route("/api/stop/{job_id}", seed_stop, methods=["POST"]),
        Route("/api/jobs", api_jobs, methods=["GET"]),
        Route("/api/styles", styles, methods=["GET"]),
        Route("/jobs/{job_id}/events", job_events, methods=["GET"]),
        Route("/files/{job_id}/{name}", result_file, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Mount("/static", StaticFiles(directory=WEB_DIR, check_dir=False), name="static"),
    ]
