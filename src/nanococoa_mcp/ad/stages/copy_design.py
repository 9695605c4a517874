"""Copy design stage: turn the copy, a text style and the layout analysis into an HTML text layer.

Every design is fitted into the same frame (`frame`: the box, a font covering the copy, the theme and
plate that read on the background, the font-size range); the page fits the font size to the box in the
browser (render stage), with Korean line breaking (`word-break: keep-all`, balanced lines). The embedded
`template` backend writes the page from the text style, as `design(inp)`; a model backend (`llm`) is called
as `design(inp, params, settings)` and raises BackendUnavailable when it cannot give a usable design, on
which the stage uses the template and says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.backends import registry
from nanococoa_mcp.ad.catalog.fonts import FontSpec, first_font_covering
from nanococoa_mcp.ad.catalog.text_styles import TextStyle, Theme
from nanococoa_mcp.ad.color import contrast_ratio, hex_to_rgb, relative_luminance
from nanococoa_mcp.ad.stages.layout import EmptySpace, LayoutAnalysis
from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.settings import Settings, get_settings

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]
MIN_CONTRAST = 4.5  # WCAG AA: the copy must reach it against what lies under it, with a plate if need be


@dataclass(frozen=True, slots=True)
class Plate:
    color: str  # #RRGGBB
    opacity: float  # 0..1


@dataclass(frozen=True, slots=True)
class CopyInput:
    copy: str
    sub_copy: str | None
    style: TextStyle
    analysis: LayoutAnalysis
    region: EmptySpace  # where the copy goes (usually analysis.empty_spaces[0])
    background: npt.NDArray[np.uint8]  # H×W×3: what the copy will sit on (the step-1 image)
    plate_boost: float = 0.0  # > 0 on a retry when the rendered copy measured below 4.5:1: a plate, more opaque
    max_font_px: int | None = None  # set on a retry when the copy touched the product


class CopyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(default="template", description="Copy design backend: template or llm.")
    style_prompt: str | None = Field(
        default=None, description="The look asked for in words, for a model backend (the seed's html_style_prompt)."
    )


@dataclass(frozen=True, slots=True)
class CopyDocument:
    html: str
    width: int
    height: int
    box: Box  # the region the copy is fitted into
    font: FontSpec
    missing_glyphs: tuple[str, ...]
    theme_name: Literal["on_light", "on_dark"]
    theme: Theme
    plate: Plate | None
    font_size_range: tuple[int, int]
    align: Literal["left", "center", "right"]
    plate_added: bool  # a plate added for contrast (a sticker's own plate is design, not added)


@dataclass(frozen=True, slots=True)
class CopyFrame:
    """What every design of the copy is fitted into, measured on the background it will sit on."""

    width: int
    height: int
    box: Box  # the region the copy is fitted into
    font: FontSpec  # the text style's first font that covers the copy
    missing_glyphs: tuple[str, ...]
    theme_name: Literal["on_light", "on_dark"]
    theme: Theme
    plate: Plate | None  # the lightest plate that gets the theme's inks to 4.5:1 there (None: none needed)
    font_size_range: tuple[int, int]
    align: Literal["left", "center", "right"]


@dataclass(frozen=True, slots=True)
class CopyOutput:
    doc: CopyDocument
    backend: str  # the backend whose design this is: "template" when a model backend fell back
    fallback_reason: str | None = None  # why the configured backend's design was not used
    notes: tuple[str, ...] = ()  # what the model backend's answer needed (removed markup, replaced inks)


ModelBackend = Callable[[CopyInput, CopyParams, Settings], tuple[CopyDocument, tuple[str, ...]]]
EmbeddedBackend = Callable[[CopyInput], CopyDocument]


def run(inp: CopyInput, params: CopyParams | None = None, settings: Settings | None = None) -> CopyOutput:
    """Design the text layer: the configured backend's design, else (it cannot give a usable one) the
    template's with the reason. Raises InvalidInput for an unknown backend."""
    params = params or CopyParams()
    spec = registry.get("copy", params.backend)
    reason = None
    if not spec.embedded:
        settings = settings or get_settings()
        try:
            registry.require(spec, settings)
            backend: ModelBackend = registry.load(spec)
            doc, notes = backend(inp, params, settings)
            return CopyOutput(doc=doc, backend=spec.name, notes=notes)
        except BackendUnavailable as exc:
            reason = registry.fallback_reason(spec, exc)
            log.warning("the copy design fell back to the template: %s", reason)
    template = registry.embedded("copy")
    design: EmbeddedBackend = registry.load(template)
    return CopyOutput(doc=design(inp), backend=template.name, fallback_reason=reason)


def frame(inp: CopyInput) -> CopyFrame:
    """The box (the region less a margin), the font, the theme for the background's tone, the plate the
    inks need there, the font-size range (capped by `max_font_px` on a retry) and the alignment."""
    h, w = inp.background.shape[:2]
    x0, y0, x1, y1 = inp.region.bbox
    pad = round(0.012 * min(w, h))
    box = (x0 + pad, y0 + pad, x1 - pad, y1 - pad)
    font, missing = first_font_covering(inp.style.fonts, inp.copy + (inp.sub_copy or ""))
    region_lum = relative_luminance(inp.background[box[1] : box[3], box[0] : box[2]])
    theme_name: Literal["on_light", "on_dark"] = "on_light" if float(np.median(region_lum)) > 0.36 else "on_dark"
    theme = getattr(inp.style, theme_name)
    lo, hi = inp.analysis.recommendations.font_size_range
    if inp.max_font_px is not None:
        hi = max(lo, min(hi, inp.max_font_px))
    return CopyFrame(
        width=w,
        height=h,
        box=box,
        font=font,
        missing_glyphs=tuple(missing),
        theme_name=theme_name,
        theme=theme,
        plate=choose_plate(inp.style, theme, region_lum, inp.plate_boost),
        font_size_range=(lo, hi),
        align=_align(inp.region.region),
    )


def worst_contrast(inks: tuple[str, ...], bg_lum: npt.NDArray[np.float64]) -> float:
    """Best over the edge inks of each ink's worst-case (5th/95th percentile) contrast to the background."""
    if bg_lum.size == 0:
        return 21.0
    lo, med, hi = (float(v) for v in np.percentile(bg_lum, [5, 50, 95]))
    best = 1.0
    for ink in inks:
        ink_l = float(relative_luminance(np.array(hex_to_rgb(ink), dtype=np.float64)))
        against = hi if ink_l > med else lo
        best = max(best, contrast_ratio(ink_l, against))
    return best


def blend_lum(bg_lum: npt.NDArray[np.float64], plate: Plate) -> npt.NDArray[np.float64]:
    """Luminance of the background seen through a plate (blended in linear light, like a compositor)."""
    plate_l = float(relative_luminance(np.array(hex_to_rgb(plate.color), dtype=np.float64)))
    return plate.opacity * plate_l + (1.0 - plate.opacity) * bg_lum


def choose_plate(
    style: TextStyle, theme: Theme, region_lum: npt.NDArray[np.float64], boost: float = 0.0
) -> Plate | None:
    """No plate when the inks already read at 4.5:1; else the lightest plate that gets there.

    `boost` (a retry after the rendered copy measured too low) forces a plate and raises its opacity.
    """
    if style.always_plate:
        return Plate(theme.plate, 1.0)
    if boost <= 0 and worst_contrast(theme.edge_inks, region_lum) >= MIN_CONTRAST:
        return None
    for opacity in np.linspace(min(0.9, 0.45 + boost), 0.95, 11):
        plate = Plate(theme.plate, round(float(opacity), 2))
        if worst_contrast(theme.edge_inks, blend_lum(region_lum, plate)) >= 4.8:
            return plate
    return Plate(theme.plate, 0.96)


def _align(region: str) -> Literal["left", "center", "right"]:
    if region.endswith("left"):
        return "left"
    if region.endswith("right"):
        return "right"
    return "center"
