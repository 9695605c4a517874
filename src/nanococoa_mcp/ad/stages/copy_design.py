"""Copy design stage: turn the copy, a text style and the layout analysis into an HTML text layer.

The template backend writes the HTML itself; the page fits the font size to the chosen region in
the browser (render stage), with Korean line breaking (`word-break: keep-all`, balanced lines).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from nanococoa_mcp.ad.catalog.fonts import FontSpec, first_font_covering
from nanococoa_mcp.ad.catalog.text_styles import TextStyle, Theme
from nanococoa_mcp.ad.color import contrast_ratio, hex_to_rgb, relative_luminance
from nanococoa_mcp.ad.stages.layout import EmptySpace, LayoutAnalysis
from nanococoa_mcp.errors import InvalidInput

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

    backend: str = "template"


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


def _template(inp: CopyInput) -> CopyDocument:
    return design(inp)


def _llm(inp: CopyInput) -> CopyDocument:
    # Imported on use; without a usable endpoint or answer it returns the template's design (and logs why).
    from nanococoa_mcp.ad.backends.llm_copy import design_or_template
    from nanococoa_mcp.settings import get_settings

    return design_or_template(inp, get_settings()).doc


BACKENDS: dict[str, Callable[[CopyInput], CopyDocument]] = {"template": _template, "llm": _llm}


def run(inp: CopyInput, params: CopyParams | None = None) -> CopyDocument:
    """Design the text layer. Raises InvalidInput for an unknown backend."""
    params = params or CopyParams()
    backend = BACKENDS.get(params.backend)
    if backend is None:
        raise InvalidInput(
            f"unknown copy backend {params.backend!r}", field="copy_backend", accepted=", ".join(BACKENDS)
        )
    return backend(inp)


def design(inp: CopyInput) -> CopyDocument:
    h, w = inp.background.shape[:2]
    x0, y0, x1, y1 = inp.region.bbox
    pad = round(0.012 * min(w, h))
    box = (x0 + pad, y0 + pad, x1 - pad, y1 - pad)
    font, missing = first_font_covering(inp.style.fonts, inp.copy + (inp.sub_copy or ""))
    region_lum = relative_luminance(inp.background[box[1] : box[3], box[0] : box[2]])
    theme_name: Literal["on_light", "on_dark"] = "on_light" if float(np.median(region_lum)) > 0.36 else "on_dark"
    theme = getattr(inp.style, theme_name)
    plate = choose_plate(inp.style, theme, region_lum, inp.plate_boost)
    align = _align(inp.region.region)
    lo, hi = inp.analysis.recommendations.font_size_range
    if inp.max_font_px is not None:
        hi = max(lo, min(hi, inp.max_font_px))
    doc_html = _html(inp, w, h, box, font, theme, plate, align, (lo, hi))
    return CopyDocument(
        html=doc_html,
        width=w,
        height=h,
        box=box,
        font=font,
        missing_glyphs=tuple(missing),
        theme_name=theme_name,
        theme=theme,
        plate=plate,
        font_size_range=(lo, hi),
        align=align,
        plate_added=plate is not None and not inp.style.always_plate,
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


def _rgba(hex_color: str, opacity: float) -> str:
    r, g, b = hex_to_rgb(hex_color)
    return f"rgba({r},{g},{b},{opacity:.2f})"


def _html(
    inp: CopyInput,
    w: int,
    h: int,
    box: Box,
    font: FontSpec,
    theme: Theme,
    plate: Plate | None,
    align: str,
    size_range: tuple[int, int],
) -> str:
    style = inp.style
    css_vars = "; ".join(f"--{k}: {v}" for k, v in theme.vars.items())
    plate_css = ""
    if plate is not None and not style.always_plate:
        plate_css = (
            f".group {{ background: {_rgba(plate.color, plate.opacity)}; border-radius: 0.28em;"
            " padding: 0.3em 0.55em 0.36em; }"
        )
    justify = {"left": "flex-start", "center": "center", "right": "flex-end"}[align]
    # Headlines hang from the top of an upper region and sit on the bottom of a lower one, as in print ads.
    row = inp.region.region.split("-")[0]
    valign = {"top": "flex-start", "bottom": "flex-end"}.get(row, "center")
    # Room for a tilted design's corners: half the box width times sin(angle), on top and bottom.
    tilt = math.ceil(abs(math.sin(math.radians(style.rotate_deg))) * (box[2] - box[0]) / 2) + 2
    main = html.escape(inp.copy.strip())
    sub = html.escape(inp.sub_copy.strip()) if inp.sub_copy and inp.sub_copy.strip() else ""
    sub_html = f'<div class="sub"><span>{sub}</span></div>' if sub else ""
    return f"""<!doctype html><html lang="ko"><head><meta charset="utf-8"><style>
html, body {{ margin: 0; padding: 0; background: transparent; width: {w}px; height: {h}px; overflow: hidden; }}
#box {{ position: absolute; left: {box[0]}px; top: {box[1]}px; width: {box[2] - box[0]}px;
  height: {box[3] - box[1]}px; box-sizing: border-box; padding: {tilt}px {tilt // 3}px; display: flex;
  align-items: {valign}; justify-content: {justify}; }}
.group {{ {css_vars}; font-family: "{font.family}", "Noto Sans CJK KR", sans-serif; font-weight: {font.weight};
  font-size: {size_range[1]}px; line-height: {style.line_height}; text-align: {align};
  letter-spacing: {style.letter_spacing_em}em; max-width: 100%; box-sizing: border-box;
  transform: rotate({style.rotate_deg}deg); font-kerning: normal; }}
.main {{ position: relative; margin: 0; font-size: 1em; word-break: keep-all; overflow-wrap: normal;
  text-wrap: balance; white-space: normal; }}
.main .back {{ display: block; }}
.main .face {{ position: absolute; inset: 0; display: block; }}
.sub {{ margin-top: 0.34em; font-size: 0.42em; line-height: 1.2; word-break: keep-all; text-wrap: balance; }}
.sub span {{ display: inline-block; white-space: nowrap; padding: 0.22em 0.8em 0.26em; border-radius: 999px;
  background: {theme.sub_bg}; color: {theme.sub_fill}; letter-spacing: 0; }}
{style.css}
{plate_css}
</style></head><body><div id="box" class="{align}"><div class="group">
<h1 class="main"><span class="back">{main}</span><span class="face" aria-hidden="true">{main}</span></h1>
{sub_html}</div></div></body></html>"""
