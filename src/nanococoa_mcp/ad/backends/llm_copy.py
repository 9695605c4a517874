"""LLM backend (any OpenAI-compatible endpoint, through nanococoa_mcp.llm): Korean copy → English scene
prompts, and the copy's HTML/CSS (the `llm` copy design backend).

Answers are asked for as JSON by schema (structured output) and treated as data:

- scene prompts are validated (`ScenePrompts`, English only) and get the "no text" tail FLUX needs;
- the HTML is sanitised (html_sanitize: allow-listed tags and CSS, no scripts, handlers or URLs), and
  only its styling is kept: the copy's text is ours, set in the renderer's structure (#box > .group >
  .main > .back, .sub > span), font sizes become em so the renderer still fits the copy to its box,
  and the fonts are local ones. The document's inks and plate are read from the styling, so the
  quality report measures what the model designed.

With no endpoint, or an answer that cannot be used, the scene prompts come from the built-in phrase table
(scene_prompts.scene_prompt) with the reason, and the copy design raises BackendUnavailable saying why (the
copy stage then uses the template). The openai SDK is imported on use.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nanococoa_mcp.ad.catalog.fonts import CATALOG, FONTS, FontSpec, first_font_covering
from nanococoa_mcp.ad.catalog.styles import SceneStyle
from nanococoa_mcp.ad.catalog.text_styles import TextStyle, Theme
from nanococoa_mcp.ad.color import contrast_ratio, hex_to_rgb, relative_luminance, rgb_to_hex
from nanococoa_mcp.ad.html_sanitize import (
    Node,
    colors_in,
    em_value,
    font_px,
    lengths_to_em,
    parse_color,
    sanitize,
    style_text,
)
from nanococoa_mcp.ad.scene_prompts import SUFFIX, ScenePrompts, has_hangul, scene_prompt
from nanococoa_mcp.ad.stages.copy_design import (
    CopyDocument,
    CopyFrame,
    CopyInput,
    CopyParams,
    Plate,
    choose_plate,
    frame,
)
from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.llm import AnswerRejected, complete_json, configured, not_configured
from nanococoa_mcp.prompts import render_prompt
from nanococoa_mcp.settings import Settings

log = logging.getLogger(__name__)

SCENE_PROMPT = "scene_prompt"
HTML_PROMPT = "copy_html"
MAX_HTML_CHARS = 50_000
MIN_INK_ALPHA = 0.95  # a translucent ink cannot be measured against one background colour
MAX_TILT_DEG = 20.0
_ROTATE = re.compile(r"rotate\(\s*(-?\d+(?:\.\d+)?)deg\s*\)", re.IGNORECASE)
_SAFE_TRANSFORM = re.compile(r"^(?:\s*(?:rotate|skew|skewx|skewy)\(\s*-?\d+(?:\.\d+)?deg\s*\))+\s*$", re.IGNORECASE)

SCENE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"background_prompt": {"type": "string"}, "text_prompt": {"type": "string"}},
    "required": ["background_prompt", "text_prompt"],
    "additionalProperties": False,
}
HTML_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"html": {"type": "string"}},
    "required": ["html"],
    "additionalProperties": False,
}


class _HtmlAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    html: str = Field(min_length=1, max_length=MAX_HTML_CHARS)


@dataclass(frozen=True, slots=True)
class PromptsOutcome:
    prompts: ScenePrompts
    backend: Literal["llm", "builtin"]
    fallback_reason: str | None  # why the LLM's prompts were not used (None when they were)


# --- scene prompts ---------------------------------------------------------------------------------------


def prompts_for(
    copy: str,
    style: SceneStyle,
    settings: Settings,
    *,
    text_style: TextStyle | None = None,
    style_prompt: str | None = None,
    product_hint: str | None = None,
) -> PromptsOutcome:
    """English prompts for the scene (FLUX's prompt) and the copy's look, from the LLM when one is
    configured and answers usably, else from the built-in phrase table (never raises for the LLM)."""
    builtin = scene_prompt(copy, style, product_hint, text_style)
    if not configured(settings):
        return PromptsOutcome(builtin, "builtin", str(not_configured()))
    prompt = render_prompt(
        SCENE_PROMPT,
        {
            "text_content": copy.strip(),
            "background_style": f"{style.name_en} ({', '.join(style.mood)})",
            "text_style": style_prompt or (text_style.name_en if text_style else "bold, high-contrast lettering"),
        },
    )
    try:
        data = complete_json(settings, prompt, "scene_prompts", SCENE_SCHEMA)
        prompts = ScenePrompts.model_validate(data)
        if has_hangul(prompts.background_prompt):
            raise AnswerRejected("the background prompt is not in English")
    except (BackendUnavailable, AnswerRejected) as exc:
        return _builtin_prompts(builtin, exc)
    except ValidationError as exc:
        return _builtin_prompts(builtin, AnswerRejected(f"the answer does not match the schema: {_first_error(exc)}"))
    background = prompts.background_prompt.strip()
    if "no text" not in background.lower():  # image models letter any sign they paint unless told not to
        background = f"{background.rstrip('. ')}, {SUFFIX}"
    return PromptsOutcome(
        ScenePrompts(background_prompt=background[:1000], text_prompt=prompts.text_prompt.strip()), "llm", None
    )


def _builtin_prompts(builtin: ScenePrompts, exc: Exception) -> PromptsOutcome:
    reason = f"LLM scene prompts not used: {exc}"
    log.warning("%s; using the built-in phrase table", reason)
    return PromptsOutcome(builtin, "builtin", reason)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}"


# --- the copy's HTML ----------------------------------------------------------------------------------------


def design(inp: CopyInput, params: CopyParams, settings: Settings) -> tuple[CopyDocument, tuple[str, ...]]:
    """The copy's text layer as designed by the LLM (the layout analysis and `params.style_prompt` in the
    prompt), sanitised and set in the renderer's structure; and notes: what the sanitiser removed, what
    was replaced. Raises BackendUnavailable saying why when there is no usable design (no endpoint, an
    HTTP error or timeout, an answer that is not JSON, not the schema, or without the copy)."""
    if not configured(settings):
        raise not_configured()
    base = frame(inp)  # box, font sizes, theme and plate every design is fitted into
    prompt = render_prompt(HTML_PROMPT, _html_prompt_values(inp, base, params.style_prompt))
    try:
        data = complete_json(settings, prompt, "copy_html", HTML_SCHEMA)
        try:
            answer = _HtmlAnswer.model_validate(data)
        except ValidationError as exc:
            raise AnswerRejected(f"the answer does not match the schema: {_first_error(exc)}") from exc
        return build_document(answer.html, inp, base)
    except AnswerRejected as exc:
        raise BackendUnavailable(str(exc), field="copy_backend") from exc


def _html_prompt_values(inp: CopyInput, base: CopyFrame, style_prompt: str | None) -> dict[str, str]:
    lay = inp.analysis
    product = lay.objects[0] if lay.objects else None
    rec = lay.recommendations
    lo, hi = base.font_size_range
    return {
        "text_content": inp.copy.strip(),
        "sub_copy": (inp.sub_copy or "").strip(),
        "style_prompt": style_prompt or f"{inp.style.name_en}: {inp.style.description}",
        "product_location": product.location if product else "none",
        "text_position": inp.region.region,
        "text_bbox": json.dumps(list(base.box)),
        "reason": inp.region.reason,
        "brightness_map": json.dumps(lay.color_analysis.brightness_map.model_dump()),
        "product_bbox": json.dumps(product.bbox) if product else "none",
        "text_color": rec.text_color,
        "background_opacity": f"{rec.background_opacity:g}",
        "font_min": str(lo),
        "font_max": str(hi),
        "fonts": ", ".join(f'"{f}"' for f in _families(inp.style)),
        "width": str(base.width),
        "height": str(base.height),
    }


def _families(style: TextStyle) -> list[str]:
    out: list[str] = []
    for fid in (*style.fonts, "noto-sans-kr"):
        if fid in FONTS and FONTS[fid].family not in out:
            out.append(FONTS[fid].family)
    return out


# --- from the model's HTML to the renderer's document --------------------------------------------------------

_INHERITED = (
    "color",
    "font-family",
    "font-weight",
    "font-style",
    "letter-spacing",
    "line-height",
    "text-align",
    "text-shadow",
    "-webkit-text-stroke",
    "-webkit-text-stroke-width",
    "-webkit-text-stroke-color",
    "paint-order",
)
_BOX = ("background", "background-color", "background-image", "border", "border-color", "border-width",
        "border-style", "border-radius", "padding", "padding-top", "padding-right", "padding-bottom",
        "padding-left", "box-shadow")  # fmt: skip
_SUB_OWN = ("background", "background-color", "padding", "border", "border-radius", "font-weight", "font-style",
            "letter-spacing", "text-shadow")  # fmt: skip


def _squash(text: str) -> str:
    return "".join(unicodedata.normalize("NFC", text).split())


class _Tree:
    """The sanitised fragment with parent links and CSS inheritance."""

    def __init__(self, root: Node) -> None:
        self.root = root
        self.parent: dict[int, Node] = {}
        self.depth: dict[int, int] = {id(root): 0}
        for node in root.elements():
            for c in node.children:
                if isinstance(c, Node):
                    self.parent[id(c)] = node
                    self.depth[id(c)] = self.depth[id(node)] + 1

    def chain(self, node: Node) -> list[Node]:
        """The root down to `node`."""
        out = [node]
        while id(out[-1]) in self.parent:
            out.append(self.parent[id(out[-1])])
        return out[::-1]

    def inherited(self, node: Node, prop: str) -> str | None:
        for n in reversed(self.chain(node)):
            if prop in n.style:
                return n.style[prop]
        return None

    def font_px(self, node: Node) -> tuple[float, bool]:
        """The element's computed font size (browser default 16 px) and whether any element set one."""
        px, explicit = 16.0, False
        for n in self.chain(node):
            if "font-size" in n.style:
                got = font_px(n.style["font-size"], px)
                if got is not None and got > 0:
                    px, explicit = got, True
        return px, explicit

    def holder(self, text: str, inside: Node | None = None, avoid: Node | None = None) -> Node | None:
        """The deepest element holding all of `text` (whitespace ignored)."""
        want = _squash(text)
        skip = {id(n) for n in avoid.elements()} if avoid is not None else set()
        best: Node | None = None
        for node in (inside or self.root).elements():
            if id(node) in skip:
                continue
            if want in _squash(node.text()) and (best is None or self.depth[id(node)] > self.depth[id(best)]):
                best = node
        return best

    def common(self, a: Node, b: Node) -> Node:
        ca, cb = self.chain(a), self.chain(b)
        out = ca[0]
        for x, y in zip(ca, cb, strict=False):
            if x is not y:
                break
            out = x
        return out


def build_document(
    fragment: str, inp: CopyInput, base: CopyFrame | None = None
) -> tuple[CopyDocument, tuple[str, ...]]:
    """Sanitise the model's HTML and rebuild it as the renderer's document (see the module docstring).

    Raises AnswerRejected when the design does not hold the copy."""
    base = base or frame(inp)
    clean = sanitize(fragment[:MAX_HTML_CHARS], [f.family for f in CATALOG])
    tree = _Tree(clean.root)
    main_el = tree.holder(inp.copy)
    if main_el is None:
        raise AnswerRejected("the design does not contain the copy as given")
    sub = (inp.sub_copy or "").strip()
    sub_el = tree.holder(sub, avoid=main_el if main_el is not tree.root else None) if sub else None
    if sub and sub_el is None:
        sub_el = tree.holder(sub)  # the sub-copy inside the headline's element
    if sub_el is main_el:  # both lines in one element: the sub-copy has no styling of its own
        sub_el = None
    group_el = tree.common(main_el, sub_el) if sub_el is not None else main_el
    removed = tuple(dict.fromkeys(clean.removed))

    in_sub = {id(n) for n in sub_el.elements()} if sub_el is not None else set()
    inside = [n for n in main_el.elements() if n is not main_el and id(n) not in in_sub]
    # The headline's size and text properties: inherited down to its element, else from the first element
    # inside it that sets them (a headline split into coloured words).
    main_px, explicit = tree.font_px(main_el)
    if not explicit:  # sizes set inside the headline, else the size the prompt asked for
        main_px = next((p for p, e in (tree.font_px(n) for n in inside) if e), float(base.font_size_range[1]))
    main_px = max(main_px, 1.0)
    text_props: dict[str, str] = {}
    for prop in _INHERITED:
        value = tree.inherited(main_el, prop)
        if value is None:
            value = next((n.style[prop] for n in inside if prop in n.style), None)
        if value is not None:
            text_props[prop] = value

    font, missing = _font(text_props.get("font-family"), inp)
    inks, main_css, ink_note = _main_css(text_props, main_px, base)
    group_css, plate, plate_added, tilt_deg = _group_css(tree, main_el, group_el, sub_el, main_px, inks, inp, base)
    sub_css, sub_em, sub_fill, sub_bg = _sub_css(tree, sub_el, main_px, plate, base) if sub else ({}, 0.42, "", "")
    theme = Theme(
        vars={},
        edge_inks=tuple(inks),
        plate=plate.color if plate else _plate_color(inks),
        sub_fill=sub_fill or base.theme.sub_fill,
        sub_bg=sub_bg or base.theme.sub_bg,
    )
    align = text_props.get("text-align", "").strip().lower()
    text_align = align if align in ("left", "center", "right") else base.align
    doc_html = _document(
        inp, base, font.family, font.weight, text_align, group_css, main_css, sub_css, sub_em, tilt_deg
    )
    notes = removed + ((ink_note,) if ink_note else ())
    doc = CopyDocument(
        html=doc_html,
        width=base.width,
        height=base.height,
        box=base.box,
        font=font,
        missing_glyphs=tuple(missing),
        theme_name=base.theme_name,
        theme=theme,
        plate=plate,
        font_size_range=base.font_size_range,
        align=base.align,
        plate_added=plate_added,
    )
    return doc, notes


def _font(families: str | None, inp: CopyInput) -> tuple[FontSpec, list[str]]:
    by_family = {f.family.lower(): f.id for f in CATALOG}
    wanted = [by_family[f.strip().strip('"').lower()] for f in (families or "").split(",")
              if f.strip().strip('"').lower() in by_family]  # fmt: skip
    candidates = list(dict.fromkeys([*wanted, *inp.style.fonts, "noto-sans-kr"]))
    return first_font_covering(candidates, inp.copy + (inp.sub_copy or ""))


def _solid(value: str | None) -> tuple[int, int, int] | None:
    parsed = parse_color(value) if value else None
    return parsed[0] if parsed and parsed[1] >= MIN_INK_ALPHA else None


def _main_css(props: dict[str, str], px: float, base: CopyFrame) -> tuple[list[str], dict[str, str], str | None]:
    css: dict[str, str] = {}
    note = None
    ink = _solid(props.get("color"))
    if ink is None:  # transparent, translucent or unreadable: the template's ink, which we can measure
        note = f"the design's text colour {props.get('color')!r} cannot be measured; used {base.theme.edge_inks[0]}"
        ink_hex = base.theme.edge_inks[0]
    else:
        ink_hex = rgb_to_hex(ink)
    css["color"] = ink_hex
    inks = [ink_hex]
    stroke_w, stroke_c = None, None
    if "-webkit-text-stroke" in props:
        parts = props["-webkit-text-stroke"].split(None, 1)
        stroke_w = parts[0]
        stroke_c = parts[1] if len(parts) > 1 else None
    stroke_w = props.get("-webkit-text-stroke-width", stroke_w)
    stroke_c = props.get("-webkit-text-stroke-color", stroke_c) or props.get("color")
    width_em = em_value(lengths_to_em(stroke_w, px)) if stroke_w else None
    stroke_rgb = _solid(stroke_c)
    if width_em is not None and width_em > 0 and stroke_rgb is not None:
        width_em = min(width_em, 0.2)
        css["-webkit-text-stroke"] = f"{width_em:g}em {rgb_to_hex(stroke_rgb)}"
        css["paint-order"] = "stroke fill"
        if width_em >= 0.04:  # ~2 px at display sizes: the stroke draws the glyphs' outer edge
            inks.insert(0, rgb_to_hex(stroke_rgb))
    for prop in ("font-weight", "font-style"):
        if prop in props:
            css[prop] = props[prop]
    if "text-shadow" in props:
        css["text-shadow"] = lengths_to_em(props["text-shadow"], px)
    if "letter-spacing" in props:
        ls = em_value(lengths_to_em(props["letter-spacing"], px))
        if ls is not None:
            css["letter-spacing"] = f"{max(-0.08, min(0.3, ls)):g}em"
    if "line-height" in props:
        lh = em_value(lengths_to_em(props["line-height"], px))
        if lh is not None:
            css["line-height"] = f"{max(0.95, min(1.8, lh)):g}"
    return list(dict.fromkeys(inks)), css, note


def _plate_color(inks: list[str]) -> str:
    """White or near-black, whichever stands further from the ink."""
    ink_l = float(relative_luminance(np.array(hex_to_rgb(inks[-1]), dtype=np.float64)))
    return "#FFFFFF" if contrast_ratio(ink_l, 1.0) >= contrast_ratio(ink_l, 0.0) else "#111111"


def _group_css(
    tree: _Tree,
    main_el: Node,
    group_el: Node,
    sub_el: Node | None,
    px: float,
    inks: list[str],
    inp: CopyInput,
    base: CopyFrame,
) -> tuple[dict[str, str], Plate | None, bool, float]:
    # The box that frames the copy: the group element or an ancestor holding nothing else (a positioned
    # wrapper with the plate on it), or the headline's own element; the innermost with a background wins.
    candidates = [main_el] if main_el is not group_el else []
    node: Node | None = group_el
    text = _squash(group_el.text())
    while node is not None and node is not tree.root and _squash(node.text()) == text:
        candidates.append(node)
        node = tree.parent.get(id(node))
    framed = next((n for n in candidates if any(p in n.style for p in _BOX[:4])), None)
    css: dict[str, str] = {}
    if framed is not None:
        for prop in _BOX:
            if prop in framed.style:
                css[prop] = lengths_to_em(framed.style[prop], px)
    transform = next((n.style["transform"] for n in candidates if "transform" in n.style), None)
    tilt = 0.0
    if transform and _SAFE_TRANSFORM.match(transform):
        m = _ROTATE.search(transform)
        tilt = float(m.group(1)) if m else 0.0
        if abs(tilt) <= MAX_TILT_DEG:
            css["transform"] = transform
        else:
            tilt = 0.0

    plate: Plate | None = None
    stops = [c for p in ("background", "background-color", "background-image") if p in css for c in colors_in(css[p])]
    if stops:
        rgb, alpha = min(stops, key=lambda s: s[1])  # the most see-through part of a gradient is the worst case
        if alpha > 0:
            plate = Plate(rgb_to_hex(rgb), round(alpha, 2))
    if plate is not None and inp.plate_boost <= 0:
        return css, plate, False, tilt
    # No plate in the design, or a retry after the design's plate measured too low: our plate, the
    # lightest that gets the inks to 4.5:1 where the copy sits (more opaque with each boost).
    for prop in ("background", "background-color", "background-image"):
        css.pop(prop, None)
    x0, y0, x1, y1 = base.box
    region_lum = relative_luminance(inp.background[y0:y1, x0:x1])
    theme = Theme(vars={}, edge_inks=tuple(inks), plate=_plate_color(inks), sub_fill="#000000", sub_bg="#FFFFFF")
    plate = choose_plate(
        inp.style.model_copy(update={"always_plate": False}), theme, region_lum, inp.plate_boost
    )
    if plate is not None:
        r, g, b = hex_to_rgb(plate.color)
        css["background"] = f"rgba({r},{g},{b},{plate.opacity:.2f})"
        css.setdefault("border-radius", "0.28em")
        if not any(p.startswith("padding") for p in css):
            css["padding"] = "0.3em 0.55em 0.36em"
    return css, plate, plate is not None, tilt


def _sub_css(
    tree: _Tree, sub_el: Node | None, main_px: float, plate: Plate | None, base: CopyFrame
) -> tuple[dict[str, str], float, str, str]:
    """The sub-copy's own styling, and the colours its contrast is judged by (a pill unless measurable)."""
    if sub_el is None:
        return _pill(base), 0.42, base.theme.sub_fill, base.theme.sub_bg
    sub_px, explicit = tree.font_px(sub_el)
    if not explicit or sub_px >= 0.99 * main_px:  # no smaller size of its own: the template's proportion
        em, sub_px = 0.42, main_px * 0.42
    else:
        em = round(max(0.3, min(0.75, sub_px / main_px)), 3)
    css = {p: lengths_to_em(sub_el.style[p], sub_px) for p in _SUB_OWN if p in sub_el.style}
    fill = _solid(tree.inherited(sub_el, "color"))
    own_bg = next((_solid(sub_el.style[p]) for p in ("background-color", "background") if p in sub_el.style), None)
    under = own_bg
    if under is None and plate is not None and plate.opacity >= MIN_INK_ALPHA:  # set on an opaque plate
        under = hex_to_rgb(plate.color)
    if fill is None or under is None:  # not measurable against one colour: the template's pill
        css = {k: v for k, v in css.items() if k not in ("background", "background-color", "padding", "border-radius")}
        return {**css, **_pill(base)}, em, base.theme.sub_fill, base.theme.sub_bg
    css["color"] = rgb_to_hex(fill)
    return css, em, rgb_to_hex(fill), rgb_to_hex(under)


def _pill(base: CopyFrame) -> dict[str, str]:
    return {
        "color": base.theme.sub_fill,
        "background": base.theme.sub_bg,
        "padding": "0.22em 0.8em 0.26em",
        "border-radius": "999px",
    }


def _document(
    inp: CopyInput,
    base: CopyFrame,
    family: str,
    weight: int,
    text_align: str,
    group_css: dict[str, str],
    main_css: dict[str, str],
    sub_css: dict[str, str],
    sub_em: float,
    tilt_deg: float,
) -> str:
    w, h, box = base.width, base.height, base.box
    justify = {"left": "flex-start", "center": "center", "right": "flex-end"}[base.align]
    row = inp.region.region.split("-")[0]
    valign = {"top": "flex-start", "bottom": "flex-end"}.get(row, "center")
    tilt = math.ceil(abs(math.sin(math.radians(tilt_deg))) * (box[2] - box[0]) / 2) + 2
    line_height = main_css.get("line-height", f"{inp.style.line_height:g}")
    main = html.escape(inp.copy.strip())
    sub = html.escape(inp.sub_copy.strip()) if inp.sub_copy and inp.sub_copy.strip() else ""
    sub_html = (
        f'<div class="sub" style="font-size: {sub_em:g}em"><span style="{html.escape(style_text(sub_css))}">'
        f"{sub}</span></div>"
        if sub
        else ""
    )
    hi = base.font_size_range[1]
    return f"""<!doctype html><html lang="ko"><head><meta charset="utf-8"><style>
html, body {{ margin: 0; padding: 0; background: transparent; width: {w}px; height: {h}px; overflow: hidden; }}
#box {{ position: absolute; left: {box[0]}px; top: {box[1]}px; width: {box[2] - box[0]}px;
  height: {box[3] - box[1]}px; box-sizing: border-box; padding: {tilt}px {tilt // 3}px; display: flex;
  align-items: {valign}; justify-content: {justify}; }}
.group {{ font-family: "{family}", "Noto Sans CJK KR", sans-serif; font-weight: {weight}; font-size: {hi}px;
  line-height: {line_height}; text-align: {text_align}; max-width: 100%; box-sizing: border-box;
  font-kerning: normal; }}
.main {{ position: relative; margin: 0; font-size: 1em; font-weight: inherit; word-break: keep-all;
  overflow-wrap: normal; text-wrap: balance; white-space: normal; }}
.main .back {{ display: block; }}
.sub {{ margin-top: 0.34em; line-height: 1.2; word-break: keep-all; text-wrap: balance; }}
.sub span {{ display: inline-block; white-space: nowrap; padding: 0.22em 0.6em 0.26em; }}
</style></head><body><div id="box" class="{base.align}"><div class="group" style="{html.escape(style_text(group_css))}">
<h1 class="main"><span class="back" style="{html.escape(style_text(main_css))}">{main}</span></h1>
{sub_html}</div></div></body></html>"""
