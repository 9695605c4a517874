"""The ad routes: the seed's model-server routes (`POST /generate`, `GET /status/{job_id}`,
`POST /stop/{job_id}`, `GET /health`, `GET /fonts`), its backend's (`/api/generate`, `/api/status/{id}`,
`/api/stop/{id}`), recent jobs, the style catalogue and a job's progress as server-sent events.

Every route calls the tool functions the MCP door registers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.catalog.fonts import FontInfo
from nanococoa_mcp.ad.catalog.styles import guess_style
from nanococoa_mcp.ad.catalog.text_styles import guess_text_style
from nanococoa_mcp.ad.images import DecodedImage
from nanococoa_mcp.ad.pipeline import TextPosition
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.jobs.models import TERMINAL, JobState, JobStatus
from nanococoa_mcp.server.rest.bodies import FormBox, FormPoints, UploadBody, UploadRoute
from nanococoa_mcp.server.rest.cutout import CutoutFields, cutout_fields
from nanococoa_mcp.server.rest.files import WEB_DIR, file_url
from nanococoa_mcp.server.rest.problems import problem_responses
from nanococoa_mcp.service import get_service
from nanococoa_mcp.tools import catalog
from nanococoa_mcp.tools.ads import (
    AdFields,
    JobKindName,
    JobList,
    check_generation_status,
    list_jobs,
    stop_generation,
    submit_ad,
)
from nanococoa_mcp.tools.common import read_image_input
from nanococoa_mcp.tools.system import HealthReport, server_health

EVENT_POLL_S = 0.25
router = APIRouter(route_class=UploadRoute)


# ---------------------------------------------------------------- request and response models


class SeedGenerateRequest(UploadBody):
    """The seed's model-server request (`POST /generate`), plus nanococoa's own optional fields."""

    image_fields = ("product_image",)

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
    product_box: FormBox = None
    product_points: FormPoints = None


class BackendGenerateRequest(UploadBody):
    """The seed's backend request (`POST /api/generate`)."""

    image_fields = ("product_image",)

    product_image: str | None = Field(default=None, description="The product photo, base64 (data: URL ok).")
    ad_text: str = Field(description="Main ad copy (Korean), 1-40 characters.")
    sub_copy: str | None = None
    background_style: str | None = Field(default=None, description="Scene style id or name, e.g. 전통시장 분위기.")
    text_style: str | None = Field(default=None, description="Text style id or name, e.g. 골드 풍선 텍스트.")
    size: str | None = None
    variants: int | None = Field(default=None, ge=1, le=4)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    text_position: TextPosition | None = None
    product_box: FormBox = None
    product_points: FormPoints = None


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


class RestJobStatus(JobStatus, CutoutFields):
    """A job's status over HTTP: the same fields, with URLs for its images; a completed cut-out job's figures
    as POST /api/cutout gives them."""

    step1_result_url: str | None = None
    final_result_url: str | None = None
    image_urls: list[str] = Field(default_factory=list, description="Every finished variant, in order.")


class BackendJobStatus(BaseModel):
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
    result: dict[str, object] | None
    error: dict[str, object] | None


class SeedFont(FontInfo):
    """A font as the seed lists it (`{name, path}`), with its details."""

    name: str = Field(description="The font's family.")


class ThumbnailStyle(catalog.StyleEntry):
    thumbnail_url: str | None = Field(description="A small picture of the style, where the web page has one.")


class WebStyleCatalog(BaseModel):
    """list_styles, with thumbnails for the web page's pickers."""

    model_config = ConfigDict(extra="forbid")

    scene_styles: list[ThumbnailStyle] = Field(description="Values accepted by `background_style` / `style`.")
    text_styles: list[ThumbnailStyle] = Field(description="Values accepted by `text_style`.")
    sizes: list[catalog.SizeEntry] = Field(description="Values accepted by `size`.")
    defaults: dict[str, str]


# ---------------------------------------------------------------- helpers


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


async def _image(product_image: str | None) -> DecodedImage | None:
    """Decoded in a thread: a 12 MP photo takes a few hundred ms, which the event loop must not wait for."""
    if product_image is None:
        return None
    return await asyncio.to_thread(read_image_input, None, product_image, get_service().settings)


def rest_status(st: JobStatus) -> RestJobStatus:
    images = [u for v in (st.result or {}).get("variants", []) if (u := file_url(v.get("image_path")))]
    return RestJobStatus(
        **st.model_dump(),
        step1_result_url=file_url(st.step1_result),
        final_result_url=file_url(st.final_result),
        image_urls=images,
        **cutout_fields(st.kind, st.result if st.status == "completed" else None),
    )


def _accepted(st: JobStatus, response: Response, status_word: str | None = None) -> Accepted:
    body = Accepted(
        job_id=st.job_id,
        status=status_word or st.status,
        queue_position=st.queue_position,
        status_url=f"/status/{st.job_id}",
        events_url=f"/jobs/{st.job_id}/events",
    )
    response.headers["Location"] = body.status_url
    return body


JOB_ERRORS = problem_responses(404, 422)
SUBMIT_ERRORS = problem_responses(404, 422, 429, 503, 507)


# ---------------------------------------------------------------- routes


@router.post(
    "/generate",
    status_code=202,
    summary="Start an ad job (the seed's model-server request)",
    responses=SUBMIT_ERRORS,
)
async def seed_generate(body: SeedGenerateRequest, response: Response) -> Accepted:
    """The seed's model-server request, as JSON or a form; answers 202 with the job id at once. From
    start_step 2 or 3 (with parent_id) the parent's earlier steps are reused."""
    style = body.style
    if style is None and body.bg_prompt:
        guessed = guess_style(body.bg_prompt)
        style = guessed.id if guessed else None
    text_style = body.text_style
    if text_style is None and body.html_style_prompt:
        guessed_t = guess_text_style(body.html_style_prompt)
        text_style = guessed_t.id if guessed_t else None
    fields = AdFields(
        text_content=body.text_content,
        sub_copy=body.sub_copy,
        style=style,
        text_style=text_style,
        size=body.size,
        variants=body.variants,
        seed=body.seed,
        text_position=body.text_position,
        product_box=body.product_box,
        product_points=body.product_points,
    )
    extras = {
        "bg_prompt": body.bg_prompt,
        "html_style_prompt": body.html_style_prompt,
        "use_qwen_analysis": body.use_qwen_analysis,
        "use_llm_html": body.use_llm_html,
        "strength": body.strength,
        "guidance_scale": body.guidance_scale,
        "test_mode": body.test_mode,
    }
    image = await _image(body.product_image)
    with _rest_field_names(SEED_FIELD_NAMES):
        st = await submit_ad(
            get_service(), fields, image, parent_id=body.parent_id, start_step=body.start_step, extras=extras
        )
    return _accepted(st, response)


@router.post(
    "/api/generate",
    status_code=202,
    summary="Start an ad job (the seed's backend request)",
    responses=SUBMIT_ERRORS,
)
async def api_generate(body: BackendGenerateRequest, response: Response) -> Accepted:
    """The seed's backend request, as JSON (the photo as base64) or a form (the photo as a file)."""
    fields = AdFields(
        text_content=body.ad_text,
        sub_copy=body.sub_copy,
        style=body.background_style,
        text_style=body.text_style,
        size=body.size,
        variants=body.variants,
        seed=body.seed,
        text_position=body.text_position,
        product_box=body.product_box,
        product_points=body.product_points,
    )
    image = await _image(body.product_image)
    with _rest_field_names(BACKEND_FIELD_NAMES):
        st = await submit_ad(get_service(), fields, image)
    return _accepted(st, response, "processing")


@router.get("/status/{job_id}", summary="A job's status", responses=JOB_ERRORS)
async def seed_status(job_id: str) -> RestJobStatus:
    """The seed's status fields (progress, step, ETA, system metrics), with URLs for the images."""
    return rest_status(await check_generation_status(job_id))


@router.get("/api/status/{job_id}", summary="A job's status (the seed's backend shape)", responses=JOB_ERRORS)
async def api_status(job_id: str) -> BackendJobStatus:
    """`{status, progress, result}` as the seed's backend answers, with the images' URLs."""
    st = rest_status(await get_service().status(job_id, metrics=False))
    return BackendJobStatus(
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


@router.post("/stop/{job_id}", summary="Stop a job", responses=JOB_ERRORS)
@router.post("/api/stop/{job_id}", summary="Stop a job (the seed's backend route)", responses=JOB_ERRORS)
async def stop(job_id: str) -> StopResult:
    """A queued job stops at once, a running one at its next checkpoint; a finished one stays as it is."""
    st = await stop_generation(job_id)
    return StopResult(job_id=st.job_id, status=st.status)


@router.get("/api/jobs", summary="Recent jobs (ads and homepages), newest first", responses=problem_responses(422))
async def jobs(
    status: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many.")] = 20,
    kind: Annotated[JobKindName | None, Query(description="Only jobs of this kind (see JobKindName).")] = None,
) -> JobList:
    return await list_jobs(status, limit, kind)


@router.get(
    "/health",
    summary="Readiness: 200 when ready, 503 when degraded",
    responses={503: {"model": HealthReport, "description": "degraded: a worker down, the disk or the queue full"}},
)
async def health(response: Response) -> HealthReport:
    report = await server_health()
    response.status_code = 200 if report.status == "ok" else 503
    return report


@router.get("/fonts", summary="The Korean fonts the copy is set in")
async def fonts() -> list[SeedFont]:
    return [SeedFont(name=f.family, **f.model_dump()) for f in (await catalog.list_fonts()).fonts]


@router.get("/api/styles", summary="Scene styles, text styles and sizes, with thumbnails")
async def styles() -> WebStyleCatalog:
    listed = await catalog.list_styles()

    def thumbed(kind: str, entries: list[catalog.StyleEntry]) -> list[ThumbnailStyle]:
        def url(style_id: str) -> str | None:
            thumb = Path("thumbs") / kind / f"{style_id}.jpg"
            return f"/static/{thumb.as_posix()}" if (WEB_DIR / thumb).is_file() else None

        return [ThumbnailStyle(**e.model_dump(), thumbnail_url=url(e.id)) for e in entries]

    return WebStyleCatalog(
        scene_styles=thumbed("scene", listed.scene_styles),
        text_styles=thumbed("text", listed.text_styles),
        sizes=listed.sizes,
        defaults=listed.defaults,
    )


async def _job_to_follow(job_id: str) -> JobStatus:
    """The job, before its stream starts: an unknown id is a 404, not a broken stream."""
    return await get_service().status(job_id, metrics=False)


@router.get(
    "/jobs/{job_id}/events",
    response_class=EventSourceResponse,
    summary="A job's progress as server-sent events",
    responses=problem_responses(404, 422),
)
async def job_events(first: Annotated[JobStatus, Depends(_job_to_follow)]) -> AsyncIterator[ServerSentEvent]:
    """A `status` event (a RestJobStatus) on every change of progress, then `end` once the job has ended."""
    service = get_service()
    st: JobStatus | None = first
    last = ""
    while True:
        if st is None:
            st = await service.status(first.job_id, metrics=False)
        key = f"{st.status}:{st.progress_percent}:{st.sub_step}"
        if key != last:
            yield ServerSentEvent(raw_data=rest_status(st).model_dump_json(exclude={"system_metrics"}), event="status")
            last = key
        if st.status in TERMINAL:
            yield ServerSentEvent(raw_data=json.dumps({"job_id": st.job_id, "status": st.status}), event="end")
            return
        await service.changed(first.job_id, EVENT_POLL_S)  # a change announced by the database, or a poll
        st = None
