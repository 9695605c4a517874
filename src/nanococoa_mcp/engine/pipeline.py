"""The ad pipeline: cut-out → scene → compose → layout → copy → render → final, with progress.

`Studio` owns what should stay warm between ads (the browser). One Studio per thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.engine import compose, copy_design, cutout, final, layout, scene
from nanococoa_mcp.engine.color import dominant_colors
from nanococoa_mcp.engine.images import DecodedImage, fit_long_side
from nanococoa_mcp.engine.layout import EmptySpace, LayoutAnalysis
from nanococoa_mcp.engine.render import Renderer
from nanococoa_mcp.engine.sizes import DEFAULT_SIZE, SizePreset, resolve_size
from nanococoa_mcp.engine.styles import resolve_style
from nanococoa_mcp.engine.text_styles import DEFAULT_TEXT_STYLE, TextStyle, resolve_text_style
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.settings import Settings, get_settings

TextPosition = Literal["auto", "top", "bottom", "left", "right"]
# Small product photos (a 256 px shop icon) are enlarged up to this; past it they turn visibly soft.
MAX_UPSCALE = 2.2
WORK_MAX_SIDE = 1600  # the ad is at most 1920 px tall; more product resolution than this is wasted time

STEPS = ("step1_background", "step2_text", "step3_composite")


class AdRequest(BaseModel):
    """One ad, already typed (the doors map their own request shapes onto this)."""

    model_config = ConfigDict(extra="forbid")

    text_content: str = Field(description="Main ad copy (Korean), 1-40 characters (the seed's text_content).")
    sub_copy: str | None = Field(default=None, description="Optional second line: price, period, place.")
    style: str = Field(default="minimal", description="Scene style id or Korean/English name.")
    text_style: str = Field(default=DEFAULT_TEXT_STYLE, description="Text style id or Korean/English name.")
    size: str = Field(default=DEFAULT_SIZE, description="Size preset.")
    variants: int = Field(default=1, ge=1, le=4, description="How many different scene/layout choices.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    text_position: TextPosition = "auto"


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    percent: float
    step: str
    sub_step: str
    message: str
    variant: int


@dataclass(slots=True)
class VariantResult:
    index: int
    seed: int
    style_id: str
    text_style_id: str
    image: npt.NDArray[np.uint8]
    step1: npt.NDArray[np.uint8]
    analysis: LayoutAnalysis
    region: EmptySpace
    quality: final.QualityReport
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class AdResult:
    cutout: cutout.CutoutOutput
    size: SizePreset
    variants: list[VariantResult]
    timings: dict[str, float]


ProgressFn = Callable[[ProgressEvent], None]


def check_request(req: AdRequest, settings: Settings | None = None) -> tuple[SizePreset, TextStyle]:
    """Validate what pydantic cannot: copy length, known names. Raises InvalidInput naming the field."""
    settings = settings or get_settings()
    copy = req.text_content.strip()
    if not copy:
        raise InvalidInput("the ad copy is empty", field="copy", accepted=f"1-{settings.max_copy_chars} characters")
    if len(copy) > settings.max_copy_chars:
        raise InvalidInput(
            f"the ad copy has {len(copy)} characters",
            field="copy",
            accepted=f"at most {settings.max_copy_chars} characters (put details in sub_copy)",
        )
    if req.sub_copy is not None and len(req.sub_copy.strip()) > settings.max_copy_chars:
        raise InvalidInput(
            f"the sub-copy has {len(req.sub_copy.strip())} characters",
            field="sub_copy",
            accepted=f"at most {settings.max_copy_chars} characters",
        )
    resolve_style(req.style)
    return resolve_size(req.size), resolve_text_style(req.text_style)


@dataclass(frozen=True, slots=True)
class _Plan:
    anchor_x: float
    seed: int
    position: TextPosition


def plan_variants(req: AdRequest, size: SizePreset) -> list[_Plan]:
    wide = size.width > size.height * 1.3
    anchors = (0.72, 0.28, 0.7, 0.3) if wide else (0.5, 0.3, 0.7, 0.5)
    positions: tuple[TextPosition, ...] = (
        (req.text_position,) * 4 if req.text_position != "auto" else ("auto", "right", "left", "bottom")
    )
    if wide and req.text_position == "auto":
        positions = ("left", "right", "left", "right")
    return [_Plan(anchors[i], req.seed + 7919 * i, positions[i]) for i in range(req.variants)]


def _height_frac(size: SizePreset, product_aspect: float, anchor_x: float) -> float:
    """Product height as a share of the canvas: tall enough to sell, narrow enough to leave room for copy."""
    ratio = size.height / size.width
    if ratio < 0.8:
        frac, max_w = 0.72, 0.42
    elif ratio > 1.6:
        frac, max_w = 0.42, 0.7
    else:
        frac, max_w = (0.5 if ratio < 1.1 else 0.52), 0.62
    if abs(anchor_x - 0.5) > 0.1:  # side layouts: the copy needs the other ~45% of the width
        max_w = min(max_w, 0.46)
        frac *= 0.9
    return min(frac, max_w * size.width / (max(product_aspect, 1e-3) * size.height))


def pick_region(analysis: LayoutAnalysis, position: TextPosition) -> tuple[EmptySpace, str | None]:
    """The empty space for the copy, and a note when the requested position had no room."""
    spaces = analysis.empty_spaces
    if position == "auto":
        return spaces[0], None
    wanted = {"top": ("top-",), "bottom": ("bottom-",), "left": ("-left",), "right": ("-right",)}[position]
    for s in spaces:
        if any(w in s.region for w in wanted):
            return s, None
    return spaces[0], f"no room for the copy at the {position}; placed it {spaces[0].region} instead"


class Studio:
    """Runs ads end to end on the embedded backends, keeping the browser warm."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.renderer = Renderer(self.settings.chromium_path)

    def close(self) -> None:
        self.renderer.close()

    def cut_out(self, image: DecodedImage) -> cutout.CutoutOutput:
        rgba = fit_long_side(image.rgba, WORK_MAX_SIDE)
        return cutout.run(
            cutout.CutoutInput(image=rgba, has_alpha=image.has_alpha),
            cutout.CutoutParams(backend=self.settings.cutout_backend),
        )

    def generate(self, image: DecodedImage, req: AdRequest, progress: ProgressFn | None = None) -> AdResult:
        size, text_style = check_request(req, self.settings)
        style = resolve_style(req.style)
        emit = progress or (lambda _e: None)
        timings: dict[str, float] = {}
        n = req.variants

        def tick(frac: float, step: str, sub: str, msg: str, v: int) -> None:
            emit(ProgressEvent(percent=round(100.0 * frac, 1), step=step, sub_step=sub, message=msg, variant=v))

        tick(0.0, STEPS[0], "cutout", "Cutting out the product", 0)
        t0 = time.perf_counter()
        cut = self.cut_out(image)
        timings["cutout"] = time.perf_counter() - t0
        alpha = cut.rgba[..., 3]
        palette = tuple(dominant_colors(cut.rgba[..., :3], alpha >= 200, k=3))
        bx0, by0, bx1, by1 = cut.bbox
        aspect = (bx1 - bx0) / max(1, by1 - by0)

        variants: list[VariantResult] = []
        for i, plan in enumerate(plan_variants(req, size)):
            base = 0.15 + 0.85 * i / n
            span = 0.85 / n
            vt: dict[str, float] = {}
            tick(base, STEPS[0], "scene", f"Building the {style.name_ko} scene", i)
            t = time.perf_counter()
            sc = scene.run(
                scene.SceneInput(
                    width=size.width,
                    height=size.height,
                    style=style,
                    palette=palette,
                    anchor_x=plan.anchor_x,
                    seed=plan.seed,
                ),
                scene.SceneParams(backend=self.settings.scene_backend),
            )
            vt["scene"] = time.perf_counter() - t
            tick(base + 0.25 * span, STEPS[0], "compose", "Placing the product and its shadow", i)
            t = time.perf_counter()
            frac = _height_frac(size, aspect, plan.anchor_x)
            comp = compose.run(
                compose.ComposeInput(scene=sc, product=cut.rgba, height_frac=frac, max_upscale=MAX_UPSCALE)
            )
            vt["compose"] = time.perf_counter() - t

            tick(base + 0.4 * span, STEPS[1], "layout_analysis", "Finding where the copy reads best", i)
            t = time.perf_counter()
            lay = layout.run(
                layout.LayoutInput(image=comp.image, product_mask=comp.product_mask, safe_box=size.safe_box()),
                layout.LayoutParams(backend=self.settings.layout_backend),
            ).analysis
            region, region_note = pick_region(lay, plan.position)
            vt["layout"] = time.perf_counter() - t

            tick(base + 0.5 * span, STEPS[1], "html_rendering", f"Typesetting the copy ({text_style.name_ko})", i)
            result = self._typeset(req, text_style, lay, region, comp, size, cut.confidence, vt)
            if region_note and plan.position == req.text_position:
                result.quality.notes.append(region_note)
            variants.append(
                VariantResult(
                    index=i,
                    seed=plan.seed,
                    style_id=style.id,
                    text_style_id=text_style.id,
                    image=result.image,
                    step1=comp.image,
                    analysis=lay,
                    region=region,
                    quality=result.quality,
                    timings=vt,
                )
            )
            tick(base + span, STEPS[2], "final", f"Variant {i + 1} of {n} done", i)
        for v in variants:
            for k, sec in v.timings.items():
                timings[k] = timings.get(k, 0.0) + sec
        return AdResult(cutout=cut, size=size, variants=variants, timings=timings)

    def _typeset(
        self,
        req: AdRequest,
        text_style: TextStyle,
        lay: LayoutAnalysis,
        region: EmptySpace,
        comp: compose.ComposeOutput,
        size: SizePreset,
        confidence: float,
        vt: dict[str, float],
    ) -> final.FinalOutput:
        boost = 0.0
        max_font: int | None = None
        result: final.FinalOutput | None = None
        for _attempt in range(4):
            t = time.perf_counter()
            doc = copy_design.run(
                copy_design.CopyInput(
                    copy=req.text_content.strip(),
                    sub_copy=req.sub_copy,
                    style=text_style,
                    analysis=lay,
                    region=region,
                    background=comp.image,
                    plate_boost=boost,
                    max_font_px=max_font,
                ),
                copy_design.CopyParams(backend=self.settings.copy_backend),
            )
            vt["copy"] = vt.get("copy", 0.0) + time.perf_counter() - t
            t = time.perf_counter()
            rendered = self.renderer.render(doc)
            vt["render"] = vt.get("render", 0.0) + time.perf_counter() - t
            t = time.perf_counter()
            result = final.run(
                final.FinalInput(
                    step1=comp.image,
                    product_layer=comp.product_layer,
                    core_mask=comp.core_mask,
                    product_mask=comp.product_mask,
                    text=rendered,
                    doc=doc,
                    safe_box=size.safe_box(),
                    cutout_confidence=confidence,
                )
            )
            vt["final"] = vt.get("final", 0.0) + time.perf_counter() - t
            q = result.quality
            if q.text_product_overlap_px > 0:
                max_font = max(16, int(rendered.metrics.font_size * 0.8))
                continue
            if q.contrast_ratio < final.MIN_CONTRAST and not text_style.always_plate:
                boost += 0.2
                continue
            break
        assert result is not None
        return result
