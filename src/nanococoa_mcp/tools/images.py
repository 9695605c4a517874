"""Image tools: cut a product out of its photo, and analyse an image for copy placement. Each runs as a job
in a worker process (never in the server, where a model backend would load torch), waited on by default."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.hints import ProductPoint
from nanococoa_mcp.ad.kind import input_file
from nanococoa_mcp.ad.results import StoredAnalysis, StoredCutout
from nanococoa_mcp.errors import NanococoaError
from nanococoa_mcp.jobs.cancel import JobStopped
from nanococoa_mcp.jobs.models import JobState, JobStatus
from nanococoa_mcp.service import get_service
from nanococoa_mcp.tools.common import ProductBox, ProductPoints, photo_hints, read_image_input

Wait = Annotated[bool, Field(description="Wait for the result (default) instead of returning the queued job.")]
WaitTimeout = Annotated[
    float, Field(gt=0, le=300, description="With wait: the longest to wait before returning the unfinished job.")
]


class CutoutResult(BaseModel):
    """The cut-out once its job has completed; while it is queued or running, its job id and status only."""

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(description="The cut-out's job (check_generation_status follows it).")
    status: JobState
    cutout_path: str | None = Field(default=None, description="RGBA PNG of the product on transparency.")
    preview_path: str | None = None
    width: int | None = None
    height: int | None = None
    confidence: float | None = Field(default=None, description="0-1; below 0.6 the edges deserve a look.")
    low_confidence: bool | None = None
    method: str | None = Field(
        default=None, description="alpha-channel (the photo was already cut out), matting or birefnet."
    )
    bbox: list[int] | None = Field(default=None, description="[x0, y0, x1, y1] of the product in the cut-out.")
    hint_used: bool | None = Field(default=None, description="product_box / product_points shaped the cut-out.")
    notes: list[str] = Field(default_factory=list)


class AnalysisResult(BaseModel):
    """The analysis once its job has completed; while it is queued or running, its job id and status only."""

    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(description="The analysis's job (check_generation_status follows it).")
    status: JobState
    backend: str | None = Field(
        default=None, description="The backend whose analysis this is (studio when a model backend fell back)."
    )
    fallback_reason: str | None = Field(default=None, description="Why the configured model's analysis was not used.")
    notes: list[str] = Field(default_factory=list)
    width: int | None = None
    height: int | None = None
    analysis: dict[str, Any] | None = Field(
        default=None,
        description="The seed's Qwen2-VL analysis JSON: objects, color_analysis, empty_spaces, recommendations.",
    )


async def _run_image_job(
    kind: str,
    image_path: str | None,
    image: str | None,
    wait: bool,
    timeout_s: float,
    hints: tuple[list[float] | None, list[ProductPoint] | None] | None = None,
) -> JobStatus:
    """Queue a one-photo job (with the cut-out's hints, checked against the photo) and (with `wait`) follow
    it. Raises InvalidInput for the photo or the hints before any job exists, QueueFull, and the job's own
    error when it fails (JobStopped when it was stopped)."""
    service = get_service()
    decoded = await asyncio.to_thread(read_image_input, image_path, image, service.settings, "image")
    parameters = photo_hints(*hints, decoded).model_dump(mode="json") if hints is not None else {}
    status = await service.submit(kind, parameters, input_file=input_file(decoded))
    if not wait:
        return status
    done = await service.wait(status.job_id, min(timeout_s, service.settings.max_wait_sec))
    if done.status == "failed" and done.error is not None:
        raise NanococoaError.from_dict(done.error.model_dump())
    if done.status == "stopped":
        raise JobStopped(f"the {kind} job {done.job_id} was stopped", field="job_id")
    return done


async def remove_background(
    image_path: Annotated[str | None, Field(description="Path of the photo on this machine.")] = None,
    image: Annotated[str | None, Field(description="The photo as base64 (data: URL ok).")] = None,
    product_box: ProductBox = None,
    product_points: ProductPoints = None,
    wait: Wait = True,
    wait_timeout_sec: WaitTimeout = 120.0,
) -> CutoutResult:
    """Cut the product out of its photo: an RGBA PNG with a soft, clean edge and a confidence figure.
    A photo that already has transparency keeps its own alpha. If you can see the photo and it is cluttered
    or holds several objects, give product_box around the product (and product_points to keep or drop a
    part); do the same when a cut-out comes back with confidence below 0.6. Runs as a job: waited on by
    default; with wait=false (or when the wait runs out) the job id comes back to follow with
    check_generation_status."""
    job = await _run_image_job("cutout", image_path, image, wait, wait_timeout_sec, (product_box, product_points))
    if job.status != "completed" or job.result is None:
        return CutoutResult(job_id=job.job_id, status=job.status)
    return CutoutResult(status=job.status, **StoredCutout.model_validate(job.result).model_dump())


async def analyze_layout(
    image_path: Annotated[str | None, Field(description="Path of the image on this machine.")] = None,
    image: Annotated[str | None, Field(description="The image as base64 (data: URL ok).")] = None,
    wait: Wait = True,
    wait_timeout_sec: WaitTimeout = 120.0,
) -> AnalysisResult:
    """Analyse an image for ad copy: product position, brightness, dominant colours, scored empty regions
    and a recommended text position/colour (the seed's Qwen2-VL JSON shape). Read-only. Runs as a job:
    waited on by default; with wait=false the job id comes back to follow with check_generation_status."""
    job = await _run_image_job("analysis", image_path, image, wait, wait_timeout_sec)
    if job.status != "completed" or job.result is None:
        return AnalysisResult(job_id=job.job_id, status=job.status)
    return AnalysisResult(
        job_id=job.job_id, status=job.status, **StoredAnalysis.model_validate(job.result).model_dump()
    )
