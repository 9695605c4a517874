"""The cut-out route: `POST /api/cutout` starts a remove_background job (the photo as a multipart file part
`photo` or JSON base64 `image`, with the product box and points) and answers with the job, or, with
`wait=true`, with the finished cut-out's URL and figures. A completed cut-out job's `GET /status/{id}` carries
the same figures (`cutout_fields`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.results import StoredCutout
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.jobs.models import JobState
from nanococoa_mcp.server.rest.bodies import FormBox, FormPoints, UploadBody, UploadRoute
from nanococoa_mcp.server.rest.files import file_url
from nanococoa_mcp.server.rest.problems import problem_responses
from nanococoa_mcp.service import get_service
from nanococoa_mcp.tools.images import remove_background

router = APIRouter(route_class=UploadRoute)
PHOTO_ACCEPTED = "a multipart file part `photo`, or `image` as base64 (data: URL ok) in a JSON body"


class CutoutFields(BaseModel):
    """A completed cut-out's figures (all null until then)."""

    model_config = ConfigDict(extra="forbid")

    cutout_url: str | None = Field(default=None, description="/files/… URL of the RGBA PNG, once completed.")
    preview_url: str | None = Field(default=None, description="/files/… URL of a small JPEG preview.")
    confidence: float | None = Field(default=None, description="0-1; below 0.6 give a product_box and cut again.")
    low_confidence: bool | None = None
    method: str | None = Field(
        default=None, description="alpha-channel (the photo was already cut out), matting or birefnet; +box / "
        "+points when the hints shaped it."
    )
    bbox: list[int] | None = Field(default=None, description="[x0, y0, x1, y1] of the product in the cut-out PNG.")
    hint_used: bool | None = Field(default=None, description="product_box / product_points shaped the cut-out.")
    width: int | None = Field(default=None, description="Width of the cut-out PNG (the photo, long side <= 1600).")
    height: int | None = Field(default=None, description="Height of the cut-out PNG.")
    notes: list[str] | None = None


def cutout_fields(kind: str, result: dict[str, Any] | None) -> dict[str, Any]:
    """A completed cut-out job's CutoutFields (empty for any other job, or before it completes)."""
    if kind != "cutout" or not result:
        return {}
    stored = StoredCutout.model_validate(result)
    return CutoutFields(
        cutout_url=file_url(stored.cutout_path),
        preview_url=file_url(stored.preview_path),
        **stored.model_dump(include={"confidence", "low_confidence", "method", "bbox", "hint_used", "width",
                                     "height", "notes"}),
    ).model_dump()


class CutoutRequest(UploadBody):
    """A photo to cut the product out of, with optional hints."""

    image_fields = ("photo", "image")

    photo: str | None = Field(default=None, description="The photo: a file part of a multipart form (or base64).")
    image: str | None = Field(default=None, description="The photo as base64 (data: URL ok), in a JSON body.")
    product_box: FormBox = None
    product_points: FormPoints = None
    wait: bool = Field(
        default=False, description="Answer once the cut-out is done (up to NANOCOCOA_MAX_WAIT_SEC) instead of at once."
    )


class CutoutJob(CutoutFields):
    """The cut-out job, and once it has completed, its figures."""

    job_id: str
    status: JobState
    status_url: str = Field(description="GET it to follow the job; it carries the same figures once completed.")
    events_url: str


@router.post(
    "/api/cutout",
    status_code=202,
    summary="Cut the product out of a photo (a job), with an optional product box and points",
    responses={
        200: {"model": CutoutJob, "description": "completed (wait=true): the cut-out's URL and figures"},
        **problem_responses(422, 429, 503, 507),
    },
)
async def api_cutout(body: CutoutRequest, response: Response) -> CutoutJob:
    """202 with the job at once (follow `status_url`), or with wait=true 200 and the cut-out once done. A
    request refused for its photo or hints (422) creates no job."""
    if (body.photo is None) == (body.image is None):
        raise InvalidInput(
            "give the photo once: a file part `photo` or base64 `image`", field="photo", accepted=PHOTO_ACCEPTED
        )
    field = "photo" if body.photo is not None else "image"
    try:
        done = await remove_background(
            image=body.photo or body.image,
            product_box=body.product_box,
            product_points=body.product_points,
            wait=body.wait,
            wait_timeout_sec=get_service().settings.max_wait_sec,
        )
    except InvalidInput as exc:
        if exc.field == "image":
            exc.field = field
        raise
    job = CutoutJob(
        job_id=done.job_id,
        status=done.status,
        status_url=f"/status/{done.job_id}",
        events_url=f"/jobs/{done.job_id}/events",
        **cutout_fields("cutout", done.model_dump(exclude={"status"}) if done.status == "completed" else None),
    )
    response.status_code = 200 if done.status == "completed" else 202
    response.headers["Location"] = job.status_url
    return job
