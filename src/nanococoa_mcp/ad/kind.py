"""The ad product's job kinds, all run in the worker processes (inference never runs in the server): the
ad itself (Studio.generate, steps 1-3, re-runs of a finished job from step 2 or 3), and the quick tools'
cut-out and layout analysis. The three share one warm Studio (its browser, its models) per worker."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from nanococoa_mcp.ad.catalog.sizes import resolve_size
from nanococoa_mcp.ad.checkpoints import Checkpoints
from nanococoa_mcp.ad.hints import CutoutHints
from nanococoa_mcp.ad.images import DecodedImage, decode_image, fit_long_side, stored_bytes
from nanococoa_mcp.ad.pipeline import AdRequest, ProgressEvent, Studio, check_request
from nanococoa_mcp.ad.plan import STEPS, stage_plan
from nanococoa_mcp.ad.results import StoredAnalysis, write_ad, write_cutout
from nanococoa_mcp.ad.stages import layout
from nanococoa_mcp.errors import InvalidInput, field_path
from nanococoa_mcp.jobs.kinds import AfterRestart, JobContext, RunsIn, WorkerKind
from nanococoa_mcp.jobs.models import InputFile, JobTicket, Previews, Stage
from nanococoa_mcp.settings import Settings

ANALYSIS_MAX_SIDE = 1600  # what the layout analysis looks at; more is wasted time


def input_file(image: DecodedImage) -> InputFile:
    """The photo an ad, cut-out or analysis job is queued with."""
    data, suffix = stored_bytes(image)
    return InputFile(data=data, suffix=suffix)


def _invalid(exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    return InvalidInput(first["msg"], field=field_path(first["loc"]) or None)


def _photo(job: JobTicket, settings: Settings) -> DecodedImage:
    """The job's stored photo (the door checked its size; a stored re-encoding may be larger)."""
    if job.input_path is None:
        raise InvalidInput("no product photo was given", field="product_image", accepted="an image")
    data = job.input_path.read_bytes()
    return decode_image(data, max_bytes=len(data), max_pixels=settings.max_pixels, min_side=settings.min_side_px)


class WarmStudio:
    """One Studio per worker process, made on first use and shared by the kinds that need it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._studio: Studio | None = None

    def get(self) -> Studio:
        if self._studio is None:
            self._studio = Studio(self.settings)
        return self._studio

    def close(self) -> None:
        if self._studio is not None:
            self._studio.close()
            self._studio = None


class AdKind:
    """generate_ad_image's jobs."""

    name = "ad"
    steps: tuple[str, ...] = STEPS
    runs_in: RunsIn = "worker"
    resumable = True  # a failed ad keeps its finished steps: a child job re-runs it from one

    def __init__(self, settings: Settings, studio: WarmStudio) -> None:
        self.settings = settings
        self.studio = studio

    def check(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        try:
            request = AdRequest.model_validate(dict(parameters))
        except ValidationError as exc:
            raise _invalid(exc) from None
        check_request(request, self.settings)
        return request.model_dump(mode="json")

    def eta_plan(self, parameters: Mapping[str, Any], start_step: int) -> list[Stage]:
        return stage_plan(int(parameters.get("variants", 1)), start_step, self.settings.scene_backend == "flux")

    def eta_group(self, parameters: Mapping[str, Any]) -> str:
        try:
            return resolve_size(str(parameters.get("size", ""))).id
        except InvalidInput:  # stored before a preset was renamed: the raw name still groups its history
            return str(parameters.get("size", ""))

    def previews(self, job_id: str, result: Mapping[str, Any] | None) -> Previews:
        step1 = Checkpoints(self.settings.data_dir, job_id).preview(1)
        variants = (result or {}).get("variants") or []
        return Previews(
            step1_result=str(step1) if step1 is not None else None,
            final_result=variants[0]["image_path"] if variants else None,
        )

    def after_restart(self, steps_done: Sequence[str]) -> AfterRestart:
        return "fail" if steps_done else "requeue"  # finished steps are kept for a child job to resume from

    def warm(self) -> None:
        self.studio.get().warm()

    def run(self, job: JobTicket, context: JobContext) -> dict[str, Any]:
        request = AdRequest.model_validate(job.parameters)
        data_dir = context.data_dir
        checkpoints = Checkpoints(data_dir, job.job_id)
        image = None
        if job.start_step == 1:
            image = _photo(job, self.settings)
        elif job.parent_id is not None:
            checkpoints.inherit(Checkpoints(data_dir, job.parent_id), job.start_step)

        def progress(event: ProgressEvent) -> None:
            context.report(event.percent, event.step, event.sub_step, event.message)

        started = time.perf_counter()
        result = self.studio.get().generate(
            image, request, progress, start_step=job.start_step, checkpoints=checkpoints
        )
        stored = write_ad(data_dir, job.job_id, result, time.perf_counter() - started)
        return stored.model_dump(mode="json")

    def close(self) -> None:
        self.studio.close()


class _QuickKind:
    """What the cut-out and the analysis share: one photo in, one step, nothing to resume; no parameters but
    the cut-out's hints."""

    runs_in: RunsIn = "worker"
    resumable = False
    step = ""
    studio: WarmStudio

    @property
    def steps(self) -> tuple[str, ...]:
        return (self.step,)

    def check(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        for key in parameters:
            raise InvalidInput(f"unknown parameter {key!r}", field=key, accepted="no parameters besides the image")
        return {}

    def eta_plan(self, parameters: Mapping[str, Any], start_step: int) -> list[Stage]:
        return [(self.step, self.step)]

    def eta_group(self, parameters: Mapping[str, Any]) -> str:
        return ""

    def after_restart(self, steps_done: Sequence[str]) -> AfterRestart:
        return "requeue"

    def warm(self) -> None:
        """Nothing of its own: the ad kind warms the shared Studio."""

    def close(self) -> None:
        self.studio.close()


class CutoutKind(_QuickKind):
    """remove_background's jobs."""

    name = "cutout"
    step = "cutout"

    def __init__(self, settings: Settings, studio: WarmStudio) -> None:
        self.settings = settings
        self.studio = studio

    def check(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """The hints, already in pixels of the photo (the door checked them against it)."""
        try:
            return CutoutHints.model_validate(dict(parameters)).model_dump(mode="json")
        except ValidationError as exc:
            raise _invalid(exc) from None

    def previews(self, job_id: str, result: Mapping[str, Any] | None) -> Previews:
        return Previews(final_result=(result or {}).get("cutout_path"))

    def run(self, job: JobTicket, context: JobContext) -> dict[str, Any]:
        photo = _photo(job, self.settings)
        hints = CutoutHints.model_validate(job.parameters)
        context.report(0.0, self.step, self.step, "Cutting out the product")
        cut = self.studio.get().cut_out(photo, hints)
        return write_cutout(context.data_dir, job.job_id, cut).model_dump(mode="json")


class AnalysisKind(_QuickKind):
    """analyze_layout's jobs."""

    name = "analysis"
    step = "layout_analysis"

    def __init__(self, settings: Settings, studio: WarmStudio) -> None:
        self.settings = settings
        self.studio = studio

    def previews(self, job_id: str, result: Mapping[str, Any] | None) -> Previews:
        return Previews()

    def run(self, job: JobTicket, context: JobContext) -> dict[str, Any]:
        photo = _photo(job, self.settings)
        context.report(0.0, self.step, self.step, "Finding where the copy reads best")
        rgba = fit_long_side(photo.rgba, ANALYSIS_MAX_SIDE)
        mask = (rgba[..., 3] >= 128) if photo.has_alpha else None
        # Transparency flattened on white: what a viewer would see.
        a = rgba[..., 3:4].astype(np.float32) / 255.0
        flat = (rgba[..., :3].astype(np.float32) * a + 255.0 * (1 - a)).round().astype(np.uint8)
        out = layout.run(
            layout.LayoutInput(image=flat, product_mask=mask), layout.LayoutParams(backend=self.settings.layout_backend)
        )
        h, w = flat.shape[:2]
        return StoredAnalysis(
            backend=out.backend,
            fallback_reason=out.fallback_reason,
            notes=list(out.notes),
            width=w,
            height=h,
            analysis=out.analysis.to_json_dict(),
        ).model_dump(mode="json")


def ad_kinds(settings: Settings) -> list[WorkerKind]:
    """The ad product's kinds, sharing one Studio. The pool's factory for its worker processes (it pickles
    by name) and, in the server, what the runtime reads of them (the Studio is made only when a job runs)."""
    studio = WarmStudio(settings)
    return [AdKind(settings, studio), CutoutKind(settings, studio), AnalysisKind(settings, studio)]
