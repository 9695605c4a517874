"""Final stage: lay the text layer over the step-1 image and check the non-negotiables.

The quality report measures real pixels: product pixels changed, copy over the product, contrast
(WCAG) of the copy against what lies under it, safe area, glyph coverage, cut-out confidence.
`retry_typesetting` is the one rule for what the copy design changes when a report fails.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.color import contrast_ratio, hex_to_rgb, relative_luminance
from nanococoa_mcp.ad.stages.copy_design import MIN_CONTRAST, CopyDocument, blend_lum, worst_contrast
from nanococoa_mcp.ad.stages.render import RenderOutput

# A text-layer pixel "covers" something from 3% opacity up: fainter glow tails are clipped, not counted.
COVER_ALPHA = 8
PLATE_BOOST_STEP = 0.2  # each contrast retry asks for a plate this much more opaque
FIT_SHRINK = 0.8  # each fit retry caps the font at this share of the size that touched the product
MIN_FONT_PX = 16


class QualityReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_pixels_changed: int = Field(
        description="Pixels inside the product's (eroded) mask that differ from the cut-out."
    )
    text_product_overlap_px: int = Field(description="Copy pixels (>= 3% opacity) lying on the product.")
    contrast_ratio: float = Field(description="WCAG contrast of the copy against what lies under it (worst line).")
    plate_added: bool = Field(description="A backing plate was added to reach 4.5:1.")
    inside_safe_area: bool
    missing_glyphs: list[str] = Field(description="Characters the chosen font cannot draw.")
    broken_words: int = Field(description="Words split across lines (Korean breaks only between words).")
    font: str
    font_size_px: int
    cutout_confidence: float
    cutout_low_confidence: bool
    layout_mode: Literal["cutout", "photo_card"] = Field(
        default="cutout",
        description="cutout: the product cut out and set in the scene; photo_card: no trustworthy cut-out, so the "
        "photo itself, cropped around its subject, stands framed in the scene.",
    )
    layout_mode_reason: str | None = Field(
        default=None, description="Why the photo card was used, and how to get a cut-out instead."
    )
    hint_used: bool = Field(
        default=False,
        description="A product box or points from the request shaped the cut-out (then it is kept whatever its "
        "confidence: the person said where the product is).",
    )
    passed: bool = Field(description="All non-negotiables hold.")
    notes: list[str] = Field(default_factory=list)


LOW_CONFIDENCE_NOTE = "low cut-out confidence: check the product's edges"


@dataclass(frozen=True, slots=True)
class FinalInput:
    step1: npt.NDArray[np.uint8]  # H×W×3
    product_layer: npt.NDArray[np.uint8]  # H×W×4 placed product
    core_mask: npt.NDArray[np.bool_]
    product_mask: npt.NDArray[np.bool_]
    text: RenderOutput
    doc: CopyDocument
    safe_box: tuple[int, int, int, int]
    cutout_confidence: float


@dataclass(frozen=True, slots=True)
class FinalOutput:
    image: npt.NDArray[np.uint8]
    quality: QualityReport


def run(inp: FinalInput) -> FinalOutput:
    layer = inp.text.layer
    alpha = layer[..., 3]
    overlap = int(np.count_nonzero((alpha >= COVER_ALPHA) & inp.product_mask))
    # The product stands in front of the copy's faint halo: the halo never repaints product pixels.
    image = _over(inp.step1, layer[..., :3], np.where(inp.product_mask, 0, alpha))

    changed = int(np.count_nonzero((image != inp.product_layer[..., :3]).any(axis=2) & inp.core_mask))
    contrast = measure_contrast(inp.step1, inp.doc, inp.text)
    inside = _inside(alpha, inp.safe_box)
    notes: list[str] = []
    if inp.cutout_confidence < 0.6:
        notes.append(LOW_CONFIDENCE_NOTE)
    if not inp.text.metrics.fits:
        notes.append("the copy needed the smallest font size and may still overflow its region")
    missing = list(inp.doc.missing_glyphs)
    broken = inp.text.metrics.broken_words
    passed = changed == 0 and overlap == 0 and contrast >= MIN_CONTRAST and inside and not missing and broken == 0
    report = QualityReport(
        product_pixels_changed=changed,
        text_product_overlap_px=overlap,
        contrast_ratio=round(contrast, 2),
        plate_added=inp.doc.plate_added,
        inside_safe_area=inside,
        missing_glyphs=missing,
        broken_words=broken,
        font=inp.doc.font.family,
        font_size_px=inp.text.metrics.font_size,
        cutout_confidence=round(inp.cutout_confidence, 3),
        cutout_low_confidence=inp.cutout_confidence < 0.6,
        passed=passed,
        notes=notes,
    )
    return FinalOutput(image=image, quality=report)


def _over(
    under: npt.NDArray[np.uint8], rgb: npt.NDArray[np.uint8], alpha: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    """`rgb` laid over `under` by `alpha`, blended only inside the copy's bounding box (elsewhere `under`
    is kept as it is, as the blend would have kept it)."""
    image = under.copy()
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return image
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    a = alpha[box].astype(np.float32)[..., None] / 255.0
    out = under[box].astype(np.float32) * (1.0 - a) + rgb[box].astype(np.float32) * a
    image[box] = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return image


def measure_contrast(step1: npt.NDArray[np.uint8], doc: CopyDocument, text: RenderOutput) -> float:
    """Worst WCAG contrast over the main copy's lines and the sub-copy pill."""
    h, w = step1.shape[:2]
    bg = _under(step1, text.metrics.lines, w, h)
    bg_lum = relative_luminance(bg) if bg.size else np.zeros(0)
    if doc.plate is not None:
        bg_lum = blend_lum(bg_lum, doc.plate)
    main = worst_contrast(doc.theme.edge_inks, bg_lum)
    if text.metrics.sub is None:
        return main
    sub_ink = float(relative_luminance(np.array(hex_to_rgb(doc.theme.sub_fill), dtype=np.float64)))
    pill = float(relative_luminance(np.array(hex_to_rgb(doc.theme.sub_bg), dtype=np.float64)))
    return min(main, contrast_ratio(sub_ink, pill))


def _under(
    img: npt.NDArray[np.uint8], rects: tuple[tuple[float, float, float, float], ...], w: int, h: int
) -> npt.NDArray[np.uint8]:
    parts = []
    for x, y, rw, rh in rects:
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(w, int(np.ceil(x + rw))), min(h, int(np.ceil(y + rh)))
        if x1 > x0 and y1 > y0:
            parts.append(img[y0:y1, x0:x1].reshape(-1, 3))
    return np.concatenate(parts) if parts else np.zeros((0, 3), np.uint8)


def _inside(alpha: npt.NDArray[np.uint8], safe: tuple[int, int, int, int]) -> bool:
    ys, xs = np.nonzero(alpha >= COVER_ALPHA * 4)  # the copy itself, not its faintest shadow
    if ys.size == 0:
        return False
    x0, y0, x1, y1 = safe
    return bool(xs.min() >= x0 and ys.min() >= y0 and xs.max() < x1 and ys.max() < y1)


@dataclass(frozen=True, slots=True)
class Typesetting:
    """What a copy design is asked for on one try (CopyInput.plate_boost and .max_font_px)."""

    plate_boost: float = 0.0  # > 0 after the copy measured below MIN_CONTRAST: a plate, more opaque
    max_font_px: int | None = None  # set after the copy touched the product


def retry_typesetting(report: QualityReport, tried: Typesetting, *, fixed_plate: bool = False) -> Typesetting | None:
    """What to ask the copy design for on another try after `report`; None when another try would not
    mend it (nothing it can change failed).

    Copy on the product comes first: a smaller font cap. Else contrast below MIN_CONTRAST: a stronger
    plate, unless the style's plate is part of its design (`fixed_plate`, a sticker's)."""
    if report.text_product_overlap_px > 0:
        return dataclasses.replace(tried, max_font_px=max(MIN_FONT_PX, int(report.font_size_px * FIT_SHRINK)))
    if report.contrast_ratio < MIN_CONTRAST and not fixed_plate:
        return dataclasses.replace(tried, plate_boost=tried.plate_boost + PLATE_BOOST_STEP)
    return None
