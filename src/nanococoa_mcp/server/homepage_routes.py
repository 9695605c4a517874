"""REST routes of the homepage generator: the seed's `POST /homepage/generate` (CustomerData in, `{status,
output_path, pages, generated_images}` out, plus the job), its status, store records under `/api/stores`,
the finished site served for preview under `/sites/{site_id}/`, its zip, and the form page.

Built on rest.py's helpers (one error mapping, problem bodies); every route calls the same functions as
the MCP tools.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from nanococoa_mcp.ad.images import DecodedImage
from nanococoa_mcp.errors import InvalidInput, NanococoaError, NotFound
from nanococoa_mcp.jobs.models import TERMINAL, JobError, JobStatus
from nanococoa_mcp.server.rest import WEB_DIR, _body_json, _decode, _decode_b64, _schema, endpoint, problem
from nanococoa_mcp.service import Service, get_service
from nanococoa_mcp.stores import (
    MAX_PHOTOS,
    MIN_PHOTOS_TO_GENERATE,
    StoredStore,
    StoreList,
    check_photo_count,
    check_record,
)
from nanococoa_mcp.tools.homepage import MAX_WAIT_SEC, submit_homepage

SITES_DIR = "generated_sites"
# The preview shares the API's origin: its pages may show themselves, never call the API or post forms.
SITE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self' data:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; font-src 'self' data:; connect-src 'none'; form-action 'none'; "
        "frame-ancestors 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


class HomepageAnswer(BaseModel):
    """The seed's homepage-generator answer, plus the job that makes it."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(description="success (the seed's word for done), queued, running, failed or stopped.")
    output_path: str | None = Field(description="The site's folder on the server, once done.")
    pages: list[str] = Field(description="The site's pages, e.g. index.html, about.html, once done.")
    generated_images: int = Field(description="Images the run made with generate_ad_image.")
    job_id: str
    store_id: str | None
    progress_percent: float
    current_step: str | None = Field(description="The workflow node running now.")
    message: str | None
    steps_done: list[str] = Field(description="The workflow nodes finished so far.")
    site_id: str | None
    site_url: str | None = Field(description="Where the finished site is served for preview.")
    zip_url: str | None = Field(description="The site as a zip.")
    status_url: str
    error: JobError | None


def answer(st: JobStatus) -> HomepageAnswer:
    result = st.result or {}
    site_id = result.get("site_id")
    return HomepageAnswer(
        status="success" if st.status == "completed" else st.status,
        output_path=result.get("output_path"),
        pages=list(result.get("pages", [])),
        generated_images=int(result.get("generated_images", 0)),
        job_id=st.job_id,
        store_id=st.parameters.get("store_id"),
        progress_percent=st.progress_percent,
        current_step=st.current_step,
        message=st.message,
        steps_done=st.steps_done,
        site_id=site_id,
        site_url=f"/sites/{site_id}/" if site_id else None,
        zip_url=f"/homepage/download/{st.job_id}" if result.get("zip_path") else None,
        status_url=f"/homepage/status/{st.job_id}",
        error=st.error,
    )


# ---------------------------------------------------------------- reading store requests


async def read_store_request(request: Request, service: Service) -> tuple[dict[str, Any], list[bytes] | None]:
    """A store record and its photos: JSON (photos as a base64 list) or a form (photo file parts).
    Photos are None when none were sent (an update keeps the old ones)."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return await _read_store_form(request, service)
    data = await _body_json(request, service, images=MAX_PHOTOS)
    photos = data.pop("photos", None)
    if photos is None:
        return data, None
    if not isinstance(photos, list) or not all(isinstance(p, str) for p in photos):
        raise InvalidInput("photos must be a list of base64 strings", field="photos", accepted="[base64, ...]")
    check_photo_count(len(photos))
    return data, [_decode_b64(p, service, f"photos[{i}]") for i, p in enumerate(photos)]


async def _read_store_form(request: Request, service: Service) -> tuple[dict[str, Any], list[bytes] | None]:
    max_bytes = service.settings.max_upload_bytes
    fields: dict[str, Any] = {}
    photos: list[bytes] = []
    try:
        async with request.form(
            max_files=MAX_PHOTOS + 1, max_fields=40, max_part_size=max_bytes * 4 // 3 + 64 * 1024
        ) as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key != "photos":
                        raise InvalidInput(f"unexpected file field {key!r}", field=key, accepted="photos")
                    if value.filename == "" and not value.size:  # an empty file input the browser still sends
                        continue
                    photos.append(await value.read(max_bytes + 1))
                elif key == "photos":  # base64 in a text part, as in JSON
                    photos.append(_decode_b64(value, service, f"photos[{len(photos)}]"))
                elif value != "":
                    fields[key] = value
    except HTTPException as exc:
        raise InvalidInput(
            f"the form was refused: {exc.detail}",
            field="photos" if "files" in str(exc.detail) else "body",
            accepted=f"multipart/form-data: up to {MAX_PHOTOS} photos of {max_bytes / 1_048_576:.0f} MB, 40 fields",
        ) from None
    check_photo_count(len(photos))
    return fields, photos or None


async def decode_photos(photos: list[bytes] | None, service: Service) -> list[DecodedImage] | None:
    if photos is None:
        return None

    def decode_all() -> list[DecodedImage]:
        out = []
        for i, data in enumerate(photos):
            image = _decode(data, service, f"photos[{i}]")
            assert image is not None
            out.append(image)
        return out

    return await asyncio.to_thread(decode_all)


# ---------------------------------------------------------------- routes


@endpoint
async def homepage_generate(request: Request) -> Response:
    """POST /homepage/generate: the seed's CustomerData (+ photos); saves the store and starts its site.

    202 with the job while it runs; with `?wait=true` waits (bounded) and answers 200 once it has ended.
    """
    service = get_service()
    wait = request.query_params.get("wait", "").lower() in ("1", "true", "yes")
    timeout = _wait_timeout(request, service)
    record, photo_bytes = await read_store_request(request, service)
    check_record(record)  # every refusal before anything is saved
    images = await decode_photos(photo_bytes, service) or []
    if len(images) < MIN_PHOTOS_TO_GENERATE:
        raise InvalidInput(
            "no product photo was given", field="photos", accepted="at least one product photo (base64 or a file)"
        )
    store = await service.stores.create(record, images)
    try:
        st = await submit_homepage(service, store.store_id)
    except NanococoaError:
        await service.stores.discard(store.store_id)  # a refused request leaves nothing behind
        raise
    if wait:
        st = await service.wait(st.job_id, timeout)
    code = 200 if st.status in TERMINAL else 202
    body = answer(st)
    return JSONResponse(body.model_dump(mode="json"), status_code=code, headers={"Location": body.status_url})


def _wait_timeout(request: Request, service: Service) -> float:
    raw = request.query_params.get("wait_timeout_sec", str(service.settings.max_wait_sec))
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput("wait_timeout_sec is not a number", field="wait_timeout_sec", accepted="seconds") from None
    if not 0 < value <= MAX_WAIT_SEC:
        raise InvalidInput(
            f"wait_timeout_sec {value:g} is out of range", field="wait_timeout_sec", accepted=f"0-{MAX_WAIT_SEC:g}"
        )
    return min(value, service.settings.max_wait_sec)


async def _homepage_job(service: Service, job_id: str) -> JobStatus:
    st = await service.status(job_id, metrics=False)
    if st.kind != "homepage":
        raise NotFound(
            f"job {job_id!r} is an ad job, not a homepage", field="job_id", accepted="a job id from /homepage/generate"
        )
    return st


@endpoint
async def homepage_status(request: Request) -> Response:
    """GET /homepage/status/{job_id}: the seed's answer shape, with progress by workflow node."""
    st = await _homepage_job(get_service(), request.path_params["job_id"])
    return JSONResponse(answer(st).model_dump(mode="json"))


@endpoint
async def homepage_download(request: Request) -> Response:
    """GET /homepage/download/{job_id}: the finished site as a zip."""
    service = get_service()
    st = await _homepage_job(service, request.path_params["job_id"])
    zip_path = (st.result or {}).get("zip_path")
    root = (service.settings.data_dir / SITES_DIR).resolve()
    path = Path(zip_path).resolve() if zip_path else None
    if path is None or root not in path.parents or not path.is_file():
        raise NotFound("the site's zip is not there (yet)", field="job_id", accepted="a completed homepage job")
    name = f"{st.result.get('site_id') or st.job_id}.zip" if st.result else path.name
    return FileResponse(path, media_type="application/zip", filename=name)


@endpoint
async def stores_list(request: Request) -> Response:
    """GET /api/stores?limit=&offset=: saved shops, newest first."""
    limit = _int_param(request, "limit", 20, 1, 200)
    offset = _int_param(request, "offset", 0, 0, 1_000_000)
    stores = await get_service().stores.recent(limit, offset)
    return JSONResponse(StoreList(stores=stores).model_dump(mode="json"))


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query_params.get(name, str(default)))
    except ValueError:
        raise InvalidInput(f"{name} is not a number", field=name, accepted=f"{low}-{high}") from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} {value} is out of range", field=name, accepted=f"{low}-{high}")
    return value


@endpoint
async def stores_create(request: Request) -> Response:
    """POST /api/stores: a store record (+ photos); 201 with the saved store."""
    service = get_service()
    record, photo_bytes = await read_store_request(request, service)
    check_record(record)
    store = await service.stores.create(record, await decode_photos(photo_bytes, service) or [])
    return _store_response(store, 201)


@endpoint
async def stores_get(request: Request) -> Response:
    """GET /api/stores/{store_id}."""
    return _store_response(await get_service().stores.get(request.path_params["store_id"]))


@endpoint
async def stores_update(request: Request) -> Response:
    """PUT /api/stores/{store_id}: the fields given change; photos given replace the old ones."""
    service = get_service()
    store_id = request.path_params["store_id"]
    await service.stores.get(store_id)
    changes, photo_bytes = await read_store_request(request, service)
    store = await service.stores.update(store_id, changes, await decode_photos(photo_bytes, service))
    return _store_response(store)


def _store_response(store: StoredStore, code: int = 200) -> JSONResponse:
    headers = {"Location": f"/api/stores/{store.store_id}"} if code == 201 else None
    return JSONResponse(store.model_dump(mode="json"), status_code=code, headers=headers)


async def site_root(request: Request) -> Response:
    """GET /sites/{site_id}: to the folder URL, so the site's relative links resolve."""
    return RedirectResponse(f"/sites/{request.path_params['site_id']}/", status_code=308)


async def site_file(request: Request) -> Response:
    """GET /sites/{site_id}/{path}: a finished site's file (index.html for a folder); nothing outside it."""
    service = get_service()
    site_id, rel = request.path_params["site_id"], request.path_params.get("path", "")
    root = (service.settings.data_dir / SITES_DIR).resolve()
    site = (root / site_id).resolve()
    missing = NotFound(
        f"no file {rel or 'index.html'!r} in site {site_id!r}", field="path", accepted="a file of the site"
    )
    if site.parent != root or site_id.startswith(".") or not site.is_dir():
        return problem(missing)
    path = (site / rel).resolve()
    if path.is_dir():
        path = path / "index.html"
    parts = Path(rel).parts
    if (path != site and site not in path.parents) or any(p.startswith(".") for p in parts) or not path.is_file():
        return problem(missing)
    return FileResponse(path, headers=SITE_HEADERS)


async def homepage_page(_request: Request) -> Response:
    page = WEB_DIR / "homepage.html"
    if not page.is_file():
        return problem(NotFound("the homepage form is not installed", field="path", accepted="/, /health, /mcp"))
    return FileResponse(page, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


def homepage_routes() -> list[BaseRoute]:
    return [
        Route("/homepage", homepage_page, methods=["GET"]),
        Route("/homepage/generate", homepage_generate, methods=["POST"]),
        Route("/homepage/status/{job_id}", homepage_status, methods=["GET"]),
        Route("/homepage/download/{job_id}", homepage_download, methods=["GET"]),
        Route("/api/stores", stores_list, methods=["GET"]),
        Route("/api/stores", stores_create, methods=["POST"]),
        Route("/api/stores/{store_id}", stores_get, methods=["GET"]),
        Route("/api/stores/{store_id}", stores_update, methods=["PUT"]),
        Route("/sites/{site_id}", site_root, methods=["GET"]),
        Route("/sites/{site_id}/{path:path}", site_file, methods=["GET"]),
    ]


# ---------------------------------------------------------------- OpenAPI


def openapi_paths(ref: dict[str, dict[str, str]], components: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    """The homepage routes' part of /openapi.json (`ref` and `components` as rest.openapi_document builds them)."""
    from nanococoa_mcp.homepage.models import StoreRecord

    for model in (HomepageAnswer, StoredStore, StoreList):
        ref[model.__name__] = _schema(model, components)
    record = StoreRecord.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in record.pop("$defs", {}).items():
        components[name] = sub
    photos = {"type": "array", "maxItems": MAX_PHOTOS, "items": {"type": "string", "description": "base64 image"}}
    request = {**record, "title": "CustomerData", "properties": {**record.get("properties", {}), "photos": photos}}
    components["CustomerData"] = request
    partial = {**request, "title": "StoreUpdate", "required": []}
    components["StoreUpdate"] = partial
    multipart = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"photos": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                "additionalProperties": {"type": "string"},
            }
        }
    }

    def body(name: str) -> dict[str, Any]:
        schema = {"$ref": f"#/components/schemas/{name}"}
        return {"required": True, "content": {"application/json": {"schema": schema}, **multipart}}

    def ok(name: str, code: str = "200", description: str | None = None) -> dict[str, Any]:
        content = {"application/json": {"schema": ref[name]}}
        return {code: {"description": description or name, "content": content}}

    job_param = [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    store_param = [{"name": "store_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    wait_params = [
        {"name": "wait", "in": "query", "schema": {"type": "boolean"}, "description": "Wait for the site (bounded)."},
        {"name": "wait_timeout_sec", "in": "query", "schema": {"type": "number", "exclusiveMinimum": 0}},
    ]
    return {
        "/homepage/generate": {
            "post": {
                "summary": "Save a shop and build its website (the seed's homepage generator)",
                "parameters": wait_params,
                "requestBody": body("CustomerData"),
                "responses": {
                    **ok("HomepageAnswer", "202", "the job, still running"),
                    **ok("HomepageAnswer", "200", "the job, ended (with ?wait=true)"),
                    **errors,
                },
            }
        },
        "/homepage/status/{job_id}": {
            "get": {
                "summary": "A homepage job, in the seed's answer shape",
                "parameters": job_param,
                "responses": {**ok("HomepageAnswer"), **errors},
            }
        },
        "/homepage/download/{job_id}": {
            "get": {
                "summary": "The finished site as a zip",
                "parameters": job_param,
                "responses": {"200": {"description": "application/zip"}, "404": errors["404"]},
            }
        },
        "/api/stores": {
            "get": {"summary": "Saved shops, newest first", "responses": {**ok("StoreList"), **errors}},
            "post": {
                "summary": "Save a shop",
                "requestBody": body("CustomerData"),
                "responses": {**ok("StoredStore", "201"), **errors},
            },
        },
        "/api/stores/{store_id}": {
            "get": {"summary": "A saved shop", "parameters": store_param, "responses": {**ok("StoredStore"), **errors}},
            "put": {
                "summary": "Change a shop (fields given change; photos given replace the old ones)",
                "parameters": store_param,
                "requestBody": body("StoreUpdate"),
                "responses": {**ok("StoredStore"), **errors},
            },
        },
        "/sites/{site_id}/{path}": {
            "get": {
                "summary": "A finished site's file, for preview (index.html by default)",
                "parameters": [
                    {"name": "site_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "HTML, CSS or an image"}, "404": errors["404"]},
            }
        },
    }
