"""The embedded `template` copy design: the text style's own page (its CSS, fonts and inks), written here.

The copy is escaped and set in the renderer's structure (#box > .group > .main > .back/.face, .sub > span)
inside the stage's frame; the browser fits its size to the box.
"""

from __future__ import annotations

import html
import math

from nanococoa_mcp.ad.catalog.fonts import FontSpec
from nanococoa_mcp.ad.catalog.text_styles import Theme
from nanococoa_mcp.ad.color import hex_to_rgb
from nanococoa_mcp.ad.stages.copy_design import Box, CopyDocument, CopyInput, Plate, frame


def design(inp: CopyInput) -> CopyDocument:
    """The text layer from the text style's template, in the stage's frame."""
    f = frame(inp)
    return CopyDocument(
        html=_html(inp, f.width, f.height, f.box, f.font, f.theme, f.plate, f.align, f.font_size_range),
        width=f.width,
        height=f.height,
        box=f.box,
        font=f.font,
        missing_glyphs=f.missing_glyphs,
        theme_name=f.theme_name,
        theme=f.theme,
        plate=f.plate,
        font_size_range=f.font_size_range,
        align=f.align,
        plate_added=f.plate is not None and not inp.style.always_plate,
    )


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
