"""An allow-list sanitiser for HTML/CSS written by an LLM: what survives is inert styled text.

The input is parsed (html.parser) into a small tree and the output is written afresh from it, so
nothing the model wrote reaches the browser verbatim:

- tags: div, span, p, br, strong, em, b, i, small, sup, sub. Headings and other harmless containers
  are renamed to div/span (keeping their styling); script, style, iframe, svg, img, link, meta, form
  controls and the like are dropped with their content; anything else is unwrapped (text kept).
- attributes: `class` (plain identifiers) and `style` only; no `on*`, no `href`/`src`, no ids.
- CSS: an allow-list of properties; values must be printable ASCII with no backslash (CSS escapes
  like `\\75rl(` could disguise anything), no quotes outside font-family, no `:` `;` `@` `<` `>`
  `{` `}`, and only the functions rgb/rgba/hsl/hsla, the gradients, and (in `transform`)
  rotate/skew/scale — so no url(), expression(), var(), attr() or image-set(). Font families are
  limited to the local ones. Positioning (position, left, top, width, height, z-index) is not
  allowed: where the copy goes is decided by the layout analysis, not by the model.
- a <style> block is not passed through: its rules with simple selectors (`tag`, `.class`,
  `tag.class`, `.a.b`, comma lists of these) are checked like inline styles and inlined into the
  elements they match (by specificity, then source order; inline style wins). @-rules (@import,
  @font-face, @media ...), other selectors and comments are dropped. The output has no <style>.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from PIL import ImageColor

ALLOWED_TAGS = frozenset({"div", "span", "p", "br", "strong", "em", "b", "i", "small", "sup", "sub"})
# Harmless containers a model likes to use, kept (with their styling) under an allowed name.
RENAMED = {
    **dict.fromkeys(("h1", "h2", "h3", "h4", "h5", "h6", "header", "footer", "section", "article", "main"), "div"),
    **dict.fromkeys(("aside", "figure", "figcaption", "blockquote", "center", "ul", "ol", "li", "hgroup"), "div"),
    **dict.fromkeys(("a", "label", "mark", "u", "s", "ins", "del", "abbr", "cite", "q", "code", "time"), "span"),
    **dict.fromkeys(("data", "font", "big", "strike", "tt", "kbd", "var", "samp", "bdi", "bdo"), "span"),
}
# Dropped together with everything inside them.
DROPPED = frozenset({
    "script", "style", "iframe", "object", "embed", "applet", "svg", "math", "template", "noscript",
    "textarea", "title", "xmp", "noembed", "noframes", "frameset", "frame", "canvas", "video", "audio",
    "picture", "map", "form", "select", "option", "optgroup", "button", "datalist", "dialog", "portal",
    "slot", "plaintext", "listing", "marquee", "table", "colgroup",
})  # fmt: skip
VOID = frozenset({
    "br", "img", "meta", "link", "input", "hr", "wbr", "source", "track", "area", "base", "col", "embed",
    "param", "keygen", "image",
})  # fmt: skip

ALLOWED_PROPERTIES = frozenset({
    "color", "background", "background-color", "background-image",
    "font-family", "font-size", "font-weight", "font-style", "font-variant",
    "letter-spacing", "word-spacing", "line-height", "text-align", "text-shadow", "text-decoration",
    "-webkit-text-stroke", "-webkit-text-stroke-width", "-webkit-text-stroke-color", "paint-order",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "border", "border-top", "border-right", "border-bottom", "border-left",
    "border-color", "border-width", "border-style", "border-radius",
    "box-shadow", "opacity", "transform", "display", "white-space", "word-break",
})  # fmt: skip
COLOR_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla"})
GRADIENT_FUNCTIONS = frozenset(
    {"linear-gradient", "radial-gradient", "repeating-linear-gradient", "repeating-radial-gradient"}
)
TRANSFORM_FUNCTIONS = frozenset({"rotate", "skew", "skewx", "skewy", "scale", "scalex", "scaley"})
DISPLAY_VALUES = frozenset({"block", "inline", "inline-block", "flex", "inline-flex", "none"})
GENERIC_FAMILIES = {"sans-serif": "sans-serif", "serif": "serif"}

MAX_INPUT_CHARS = 100_000
MAX_DEPTH = 24
MAX_VALUE_CHARS = 300

_PROPERTY = re.compile(r"^-?[a-z][a-z-]*$")
_CLASS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_FUNCTION = re.compile(r"([A-Za-z0-9_-]*)\s*\(")
_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_IMPORTANT = re.compile(r"\s*!\s*important\s*$", re.IGNORECASE)
_SELECTOR = re.compile(r"^([a-z][a-z0-9]*)?((?:\.[A-Za-z_][A-Za-z0-9_-]*)*)$")
_TRANSFORM = re.compile(r"^(?:\s*[a-zA-Z]+\([^()]*\))+\s*$")
_FORBIDDEN_CHARS = frozenset("\\<>{}@;:`&\"'")


@dataclass(slots=True)
class Node:
    """An element of the sanitised tree (`tag` is an allowed tag; "" for the fragment's root)."""

    tag: str
    source_tag: str = ""  # the tag the model wrote (h1 for a renamed heading): what its selectors matched
    classes: tuple[str, ...] = ()
    style: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else ("\n" if c.tag == "br" else c.text()) for c in self.children)

    def elements(self) -> Iterable[Node]:
        """This node and every element below it, in document order."""
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.elements()


@dataclass(slots=True)
class Sanitized:
    root: Node
    removed: list[str]  # what was dropped, for logs and notes ("<script>", "onerror=", "background: url(...)")

    def html(self) -> str:
        return "".join(_serialise(c) for c in self.root.children)


def default_font_families() -> tuple[str, ...]:
    from nanococoa_mcp.ad.catalog.fonts import CATALOG

    return tuple(f.family for f in CATALOG)


def sanitize(source: str, font_families: Iterable[str] | None = None) -> Sanitized:
    """Parse untrusted HTML and keep only the allow-listed tags, attributes and CSS."""
    families = tuple(font_families) if font_families is not None else default_font_families()
    parser = _Parser(families)
    parser.feed(source[:MAX_INPUT_CHARS])
    parser.close()
    removed = parser.removed
    rules = parse_stylesheet("\n".join(parser.stylesheets), families, removed)
    if rules:
        _apply_rules(parser.root, rules)
    return Sanitized(root=parser.root, removed=removed)


def sanitize_html(source: str, font_families: Iterable[str] | None = None) -> str:
    return sanitize(source, font_families).html()


def clean_style(text: str, font_families: Iterable[str], removed: list[str] | None = None) -> dict[str, str]:
    """The allowed declarations of a CSS declaration list (a style attribute), in order; later wins."""
    removed = removed if removed is not None else []
    text = _COMMENT.sub(" ", text)
    if "\\" in text:  # escapes can spell anything (\75rl( is url(); no legitimate style needs one
        removed.append("style with CSS escapes")
        return {}
    families = tuple(font_families)
    out: dict[str, str] = {}
    for decl in text.split(";"):
        if not decl.strip():
            continue
        name, sep, value = decl.partition(":")
        name = name.strip().lower()
        if not sep or not _PROPERTY.match(name) or name not in ALLOWED_PROPERTIES:
            removed.append(f"property {name[:40]!r}")
            continue
        value = " ".join(value.split())  # newlines and tabs inside a value are just spaces
        cleaned = clean_value(name, _IMPORTANT.sub("", value).strip(), families)
        if cleaned is None:
            removed.append(f"{name}: {value.strip()[:60]}")
            continue
        out.pop(name, None)  # keep declaration order: a repeated property moves to its last place
        out[name] = cleaned
    return out


def clean_value(name: str, value: str, font_families: Iterable[str]) -> str | None:
    """The value if property `name` may have it (font-family: only the local families), else None."""
    if not value or len(value) > MAX_VALUE_CHARS or not value.isascii() or not value.isprintable():
        return None
    if name == "font-family":
        return _clean_families(value, font_families)
    if any(ch in _FORBIDDEN_CHARS for ch in value):
        return None
    allowed = COLOR_FUNCTIONS
    if name in ("background", "background-image"):
        allowed = COLOR_FUNCTIONS | GRADIENT_FUNCTIONS
    elif name == "transform":
        if value.lower() != "none" and not _TRANSFORM.match(value):
            return None
        allowed = TRANSFORM_FUNCTIONS
    elif name == "display" and value.lower() not in DISPLAY_VALUES:
        return None
    depth = 0
    for ch in value:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return None
    if depth != 0:
        return None
    for m in _FUNCTION.finditer(value):
        if m.group(1).lower() not in allowed:
            return None
    return value


def _clean_families(value: str, font_families: Iterable[str]) -> str | None:
    if any(ch in "\\<>{}@;:`&()" for ch in value):
        return None
    known = {f.lower(): f for f in font_families} | GENERIC_FAMILIES
    kept: list[str] = []
    for part in value.split(","):
        name = part.strip().strip("\"'").strip()
        canonical = known.get(name.lower())
        if canonical and canonical not in kept:
            kept.append(canonical)
    if not kept:
        return None
    return ", ".join(f if f in GENERIC_FAMILIES else f'"{f}"' for f in kept)


# --- the style sheet --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    tag: str | None
    classes: frozenset[str]
    declarations: dict[str, str]
    order: int

    @property
    def specificity(self) -> tuple[int, int, int]:
        return len(self.classes), int(self.tag is not None), self.order

    def matches(self, node: Node) -> bool:
        if self.tag is not None and self.tag != node.source_tag:
            return False
        return self.classes.issubset(node.classes)


def parse_stylesheet(css: str, font_families: Iterable[str], removed: list[str] | None = None) -> list[Rule]:
    """Rules with simple selectors and allowed declarations; @-rules and other selectors are dropped."""
    removed = removed if removed is not None else []
    css = _COMMENT.sub(" ", css)
    if not css.strip():
        return []
    if "\\" in css:
        removed.append("style sheet with CSS escapes")
        return []
    families = tuple(font_families)
    rules: list[Rule] = []
    i, n = 0, len(css)
    while i < n:
        if css[i].isspace() or css[i] in ";}":
            i += 1
            continue
        if css[i] == "@":  # @import ...; or @media ... { ... }: skip the whole statement or block
            semi, brace = css.find(";", i), css.find("{", i)
            if brace < 0 or (0 <= semi < brace):
                removed.append(css[i : (semi if semi >= 0 else n)][:60].strip())
                i = (semi if semi >= 0 else n) + 1
            else:
                removed.append(css[i:brace][:60].strip())
                i = _block_end(css, brace) + 1
            continue
        brace = css.find("{", i)
        if brace < 0:
            break
        end = _block_end(css, brace)
        selector, body = css[i:brace].strip(), css[brace + 1 : end]
        i = end + 1
        if "{" in body:  # nested blocks: not a plain rule
            removed.append(f"rule {selector[:40]!r}")
            continue
        parsed = [_SELECTOR.match(s.strip()) for s in selector.split(",")]
        if not selector or any(m is None or not m.group(0) for m in parsed):
            removed.append(f"selector {selector[:40]!r}")
            continue
        declarations = clean_style(body, families, removed)
        if not declarations:
            continue
        for m in parsed:
            assert m is not None
            classes = frozenset(c for c in m.group(2).split(".") if c)
            rules.append(Rule(m.group(1), classes, declarations, len(rules)))
    return rules


def _block_end(css: str, brace: int) -> int:
    depth = 0
    for j in range(brace, len(css)):
        if css[j] == "{":
            depth += 1
        elif css[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(css)


def _apply_rules(root: Node, rules: list[Rule]) -> None:
    ordered = sorted(rules, key=lambda r: r.specificity)
    for node in root.elements():
        if not node.tag:
            continue
        merged: dict[str, str] = {}
        for rule in ordered:
            if rule.matches(node):
                merged.update(rule.declarations)
        if merged:
            node.style = {**merged, **node.style}


# --- parsing and writing -------------------------------------------------------------------------------


class _Parser(HTMLParser):
    def __init__(self, families: tuple[str, ...]) -> None:
        super().__init__(convert_charrefs=True)
        self.families = families
        self.root = Node("")
        self.stack: list[Node] = [self.root]
        self.open_tags: list[str] = []  # the source tags of stack[1:]
        self.unwrapped: list[str] = []  # open source tags that produced no node (their end tags are ignored)
        self.skip: tuple[str, int] | None = None  # inside a dropped element: (its tag, nesting depth)
        self.in_style = False
        self.stylesheets: list[str] = []
        self.removed: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closes=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closes=True)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], closes: bool) -> None:
        if self.skip is not None:
            if tag == self.skip[0] and not closes:
                self.skip = (tag, self.skip[1] + 1)
            return
        if tag in DROPPED or (tag in VOID and tag != "br"):
            self.removed.append(f"<{tag}>")
            if tag == "style" and not closes:
                self.in_style = True
            elif tag not in VOID and not closes:
                self.skip = (tag, 1)
            return
        out_tag = tag if tag in ALLOWED_TAGS else RENAMED.get(tag)
        if out_tag is None or len(self.stack) > MAX_DEPTH:
            if not closes and tag not in VOID:
                self.unwrapped.append(tag)
            return
        node = Node(out_tag, source_tag=tag)
        for name, value in attrs:
            if name == "class" and value:
                node.classes = tuple(c for c in value.split() if _CLASS.match(c))
            elif name == "style" and value:
                node.style.update(clean_style(value, self.families, self.removed))
            else:
                self.removed.append(f"{name}=")
        self.stack[-1].children.append(node)
        if out_tag != "br" and not closes:
            self.stack.append(node)
            self.open_tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.in_style and tag == "style":
            self.in_style = False
            return
        if self.skip is not None:
            name, depth = self.skip
            if tag == name:
                self.skip = None if depth == 1 else (name, depth - 1)
            return
        if tag in self.open_tags:  # close it and anything left open inside it
            while self.open_tags:
                self.stack.pop()
                if self.open_tags.pop() == tag:
                    break
        elif tag in self.unwrapped:
            self.unwrapped.remove(tag)

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.stylesheets.append(data)
        elif self.skip is None and data:
            self.stack[-1].children.append(data)

    def handle_comment(self, data: str) -> None:
        self.removed.append("<!-- comment -->")

    def handle_pi(self, data: str) -> None:
        self.removed.append("<? ... >")

    def unknown_decl(self, data: str) -> None:
        self.removed.append("<![ ... ]>")


def _serialise(node: Node | str) -> str:
    if isinstance(node, str):
        return html.escape(node, quote=False)
    if node.tag == "br":
        return "<br>"
    attrs = ""
    if node.classes:
        attrs += f' class="{html.escape(" ".join(node.classes))}"'
    if node.style:
        attrs += f' style="{html.escape(style_text(node.style))}"'
    inner = "".join(_serialise(c) for c in node.children)
    return f"<{node.tag}{attrs}>{inner}</{node.tag}>"


def style_text(style: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in style.items())


# --- reading values the sanitiser let through -------------------------------------------------------------

_RGBA = re.compile(r"^rgba?\(\s*([^)]*)\)$", re.IGNORECASE)
_LENGTH = re.compile(r"(-?(?:\d+\.?\d*|\.\d+))(px|rem|pt)\b", re.IGNORECASE)
_EM = re.compile(r"^(-?(?:\d+\.?\d*|\.\d+))em$", re.IGNORECASE)
_PX = re.compile(r"^(-?(?:\d+\.?\d*|\.\d+))px$", re.IGNORECASE)
_COLOR_TOKEN = re.compile(r"(#[0-9a-fA-F]{3,8}\b|(?:rgba?|hsla?)\([^()]*\)|\b[a-zA-Z]+\b)")


def parse_color(value: str) -> tuple[tuple[int, int, int], float] | None:
    """An sRGB colour and its alpha from a CSS colour (hex, rgb()/rgba(), hsl(), a named colour)."""
    v = value.strip().lower()
    if v in ("transparent", "none", "inherit", "currentcolor", "initial", "unset"):
        return None
    m = _RGBA.match(v)
    if m:
        parts = [p for p in re.split(r"[\s,/]+", m.group(1)) if p]
        if len(parts) not in (3, 4):
            return None
        try:
            rgb = [float(p[:-1]) * 2.55 if p.endswith("%") else float(p) for p in parts[:3]]
            alpha = 1.0
            if len(parts) == 4:
                alpha = float(parts[3][:-1]) / 100 if parts[3].endswith("%") else float(parts[3])
        except ValueError:
            return None
        r, g, b = (max(0, min(255, round(c))) for c in rgb)
        return (r, g, b), max(0.0, min(1.0, alpha))
    if v.startswith("#") and len(v) in (5, 9):  # #rgba / #rrggbbaa
        digits = v[1:] if len(v) == 9 else "".join(ch * 2 for ch in v[1:])
        try:
            return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)), int(digits[6:8], 16) / 255
        except ValueError:
            return None
    try:
        color = ImageColor.getcolor(v, "RGBA")
    except ValueError:
        return None
    assert isinstance(color, tuple)
    return (int(color[0]), int(color[1]), int(color[2])), int(color[3]) / 255


def colors_in(value: str) -> list[tuple[tuple[int, int, int], float]]:
    """Every colour mentioned in a value (a gradient's stops, a border's colour), in order."""
    out = []
    for token in _COLOR_TOKEN.findall(value):
        parsed = parse_color(token)
        if parsed is not None:
            out.append(parsed)
    return out


def lengths_to_em(value: str, base_px: float) -> str:
    """px, rem and pt lengths as em of a `base_px` font, so a design scales with the fitted font size."""

    def sub(m: re.Match[str]) -> str:
        px = float(m.group(1)) * {"px": 1.0, "rem": 16.0, "pt": 4 / 3}[m.group(2).lower()]
        return f"{round(px / base_px, 3):g}em"

    return _LENGTH.sub(sub, value)


def font_px(value: str, parent_px: float) -> float | None:
    """A font-size in px (px, rem, pt, em of the parent, or %); None for keywords."""
    v = value.strip().lower()
    m = _LENGTH.fullmatch(v)
    if m:
        return float(m.group(1)) * {"px": 1.0, "rem": 16.0, "pt": 4 / 3}[m.group(2)]
    m = _EM.match(v)
    if m:
        return float(m.group(1)) * parent_px
    if v.endswith("%"):
        try:
            return float(v[:-1]) / 100 * parent_px
        except ValueError:
            return None
    return None


def em_value(value: str) -> float | None:
    """The number of an `Nem` value (or of a bare number), else None."""
    v = value.strip()
    m = _EM.match(v)
    if m:
        return float(m.group(1))
    try:
        return float(v)
    except ValueError:
        return None


def px_value(value: str) -> float | None:
    m = _PX.match(value.strip())
    return float(m.group(1)) if m else None
