"""The homepage generator's routes: the seed's `POST /homepage/generate` (CustomerData in, `{status,
output_path, pages, generated_images}` out, plus the job), its status and zip, shop records under
`/api/stores`, a finished site served for preview under `/sites/{site_id}/`, and the form page `/homepage`.

Every route calls the store and homepage tools the MCP door registers.
"""

from __future__ import annotations

import mimetypes
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import FileResponse, RedirectResponse

from nanococoa_mcp.errors import InvalidInput, NanococoaError, NotFound
from nanococoa_mcp.homepage.models import StoreRecord
from nanococoa_mcp.jobs.models import TERMINAL, JobError, JobStatus
from nanococoa_mcp.server.rest.bodies import UploadBody, UploadRoute
from nanococoa_mcp.server.rest.files import page
from nanococoa_mcp.server.rest.problems import problem_responses
from nanococoa_mcp.service import get_service
from nanococoa_mcp.stores import MAX_PHOTOS, MIN_PHOTOS_TO_GENERATE, StoredStore, StoreList
from nanococoa_mcp.tools.homepage import MAX_WAIT_SEC, submit_homepage
from nanococoa_mcp.tools.stores import create_store, get_store, list_stores, update_store

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
PHOTOS_DESCRIPTION = f"The shop's product photos, base64 (data: URLs ok); in a form, file parts. Up to {MAX_PHOTOS}."
router = APIRouter(route_class=UploadRoute)


# ---------------------------------------------------------------- request and response models


class CustomerData(StoreRecord, UploadBody):
    """The seed's CustomerData, and the shop's product photos."""

    image_fields = ("photos",)
    max_images = MAX_PHOTOS

    photos: list[str] | None = Field(default=None, max_length=MAX_PHOTOS, description=PHOTOS_DESCRIPTION)


class StoreChanges(UploadBody):
    """The fields of a shop to change (checked as in CustomerData once merged); photos given replace the old."""

    image_fields = ("photos",)
    max_images = MAX_PHOTOS

    store_name: str | None = None
    store_type: str | None = None
    budget: int | None = None
    period: int | None = None
    advertising_goal: str | None = None
    target_customer: str | None = None
    advertising_media: str | None = None
    store_strength: str | None = None
    location: str | None = None
    phone_number: str | None = None
    opening_hours: str | None = None
    description: str | None = None
    photos: list[str] | None = Field(default=None, max_length=MAX_PHOTOS, description=PHOTOS_DESCRIPTION)


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


async def _homepage_job(job_id: str) -> JobStatus:
    st = await get_service().status(job_id, metrics=False)
    if st.kind != "homepage":
        raise NotFound(
            f"job {job_id!r} is an ad job, not a homepage", field="job_id", accepted="a job id from /homepage/generate"
        )
    return st


STORE_ERRORS = problem_responses(404, 422, 507)


# ---------------------------------------------------------------- the seed's homepage generator


@router.post(
    "/homepage/generate",
    status_code=202,
    summary="Save a shop and build its website (the seed's homepage generator)",
    responses=problem_responses(
        404, 422, 429, 503, 507, ok={"model": HomepageAnswer, "description": "the job, ended (with ?wait=true)"}
    ),
)
async def homepage_generate(
    body: CustomerData,
    response: Response,
    wait: Annotated[bool, Query(description="Wait for the site (bounded) and answer 200 once it has ended.")] = False,
    wait_timeout_sec: Annotated[float | None, Query(gt=0, le=MAX_WAIT_SEC, description="The longest wait.")] = None,
) -> HomepageAnswer:
    """Saves the shop with its photos and starts its site: 202 with the job while it runs. A refused
    request leaves no shop behind."""
    service = get_service()
    if len(body.photos or []) < MIN_PHOTOS_TO_GENERATE:
        raise InvalidInput(
            "no product photo was given", field="photos", accepted="at least one product photo (base64 or a file)"
        )
    store = await create_store(**body.model_dump(exclude={"photos"}), photos=body.photos)
    try:
        st = await submit_homepage(service, store.store_id)
    except NanococoaError:
        await service.stores.discard(store.store_id)
        raise
    if wait:
        limit = service.settings.max_wait_sec
        st = await service.wait(st.job_id, min(wait_timeout_sec or limit, limit))
    body_out = answer(st)
    response.status_code = 200 if st.status in TERMINAL else 202
    response.headers["Location"] = body_out.status_url
    return body_out


@router.get(
    "/homepage/status/{job_id}",
    summary="A homepage job, in the seed's answer shape",
    responses=problem_responses(404, 422),
)
async def homepage_status(job_id: str) -> HomepageAnswer:
    """Progress by workflow node; once done, the site's folder, pages and preview URL."""
    return answer(await _homepage_job(job_id))


@router.get(
    "/homepage/download/{job_id}",
    summary="The finished site as a zip",
    response_class=Response,
    responses=problem_responses(404, 422, ok={"content": {"application/zip": {}}, "description": "the site"}),
)
async def homepage_download(job_id: str) -> Response:
    st = await _homepage_job(job_id)
    site_id = (st.result or {}).get("site_id")
    if not site_id:
        raise NotFound("the site's zip is not there (yet)", field="job_id", accepted="a completed homepage job")
    data = await get_service().sites.read_zip(site_id)
    disposition = f"attachment; filename*=UTF-8''{quote(f'{site_id}.zip')}"
    return Response(data, media_type="application/zip", headers={"Content-Disposition": disposition})


@router.get("/homepage", include_in_schema=False)
async def homepage_page() -> FileResponse:
    """The form: a shop's record and photos in, its site followed node by node and previewed."""
    return page("homepage.html")


# ---------------------------------------------------------------- shop records


@router.get("/api/stores", summary="Saved shops, newest first", responses=problem_responses(422))
async def stores_list(
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many.")] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Skip this many (for paging).")] = 0,
) -> StoreList:
    return await list_stores(limit, offset)


@router.post(
    "/api/stores",
    status_code=201,
    summary="Save a shop",
    responses=STORE_ERRORS,
)
async def stores_create(body: CustomerData, response: Response) -> StoredStore:
    """Checked field by field; a refused record saves nothing."""
    store = await create_store(**body.model_dump(exclude={"photos"}), photos=body.photos)
    response.headers["Location"] = f"/api/stores/{store.store_id}"
    return store


@router.get("/api/stores/{store_id}", summary="A saved shop", responses=problem_responses(404, 422))
async def stores_get(store_id: str) -> StoredStore:
    return await get_store(store_id)


@router.put(
    "/api/stores/{store_id}",
    summary="Change a shop: the fields given change; photos given replace the old ones",
    responses=STORE_ERRORS,
)
async def stores_update(store_id: str, body: StoreChanges) -> StoredStore:
    """A refused change changes nothing."""
    return await update_store(store_id, **body.model_dump(exclude_unset=True, exclude={"photos"}), photos=body.photos)


# ---------------------------------------------------------------- finished sites


@router.get("/sites/{site_id}", include_in_schema=False)
async def site_root(site_id: str) -> RedirectResponse:
    """To the folder URL, so the site's relative links resolve."""
    return RedirectResponse(f"/sites/{site_id}/", status_code=308)


@router.get(
    "/sites/{site_id}/{path:path}",
    summary="A finished site's file, for preview (index.html for a folder)",
    response_class=Response,
    responses=problem_responses(
        404, 422, ok={"content": {"text/html": {}, "text/css": {}, "image/*": {}}, "description": "the file"}
    ),
)
async def site_file(site_id: str, path: str) -> Response:
    """Only the site's own files: never a hidden one, never one outside its folder, never another tenant's. Read
    from wherever the site was published (the data directory, or the blob store every replica shares)."""
    data = await get_service().read_site(site_id, path)
    name = path if path and not path.endswith("/") else "index.html"
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media.startswith("text/"):
        media += "; charset=utf-8"
    return Response(data, media_type=media, headers=SITE_HEADERS)
