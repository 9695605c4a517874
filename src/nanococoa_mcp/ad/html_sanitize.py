"""An allow-list sanitiser for HTML/CSS written by an LLM: what survives is inert styled text.

Kept parsers read the model's markup, and the output is written afresh from what they let through,
so nothing the model wrote reaches the browser verbatim:

- HTML goes through nh3 (ammonia, which parses as a browser's HTML5 parser does): tags div, span, p,
  br, strong, em, b, i, small, sup, sub, plus harmless containers that are then renamed to div/span
  (keeping their styling); script, iframe, svg, math, template, form controls and the like are dropped
  with their content; anything else is unwrapped (text kept). Attributes: `class` (plain identifiers)
  and `style` only; no `on*`, no `href`/`src`/`srcdoc`, no ids; comments are dropped. Its well-formed
  output is read into a small tree, at most MAX_DEPTH elements deep.
- CSS goes through tinycss2 (escapes decoded, comments separate tokens): an allow-list of properties;
  values made only of keywords, numbers, lengths, hex colours, commas and slashes, and the functions
  rgb/rgba/hsl/hsla, the gradients and (in `transform`) rotate/skew/scale — so no url(), expression(),
  var(), attr(), image-set(), strings or unicode ranges. Values are written back from their tokens, so
  an escape or a comment in the source never reaches the output. Font families are limited to the
  local ones. Positioning (position, left, top, width, height, z-index) is not allowed: where the copy
  goes is decided by the layout analysis, not by the model.
- a <style> block is not passed through: its rules with simple selectors (`tag`, `.class`,
  `tag.class`, `.a.b`, comma lists of these) are checked like inline styles and inlined into the
  elements they match (by specificity, then source order; inline style wins). @-rules (@import,
  @font-face, @media ...), other selectors and nested rules are dropped. The output has no <style>.

What was dropped is listed in `Sanitized.removed` for logs and notes.
"""

from __future__ import annotations

import dataclasses
import html
import re
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import nh3
import tinycss2
from PIL import ImageColor
from tinycss2 import ast

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

_CLASS = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_KEPT_TAGS = ALLOWED_TAGS | RENAMED.keys()
# nh3 keeps <style> (not its attributes) so that the tree builder can read its rules; they are inlined,
# never written out.
_CLEANER = nh3.Cleaner(
    tags=set(_KEPT_TAGS | {"style"}),
    clean_content_tags=set(DROPPED - {"style"}),
    attributes={"*": {"class", "style"}},
    strip_comments=True,
    link_rel=None,
    url_schemes=set(),
)


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
    source = source[:MAX_INPUT_CHARS]
    removed = _not_allowed(source)
    builder = _TreeBuilder(families, removed)
    builder.feed(_CLEANER.clean(source))
    builder.close()
    rules: list[Rule] = []
    for sheet in builder.stylesheets:  # each <style> on its own, as a browser reads them; source order kept
        for rule in parse_stylesheet(sheet, families, removed):
            rules.append(dataclasses.replace(rule, order=len(rules)))
    if rules:
        _apply_rules(builder.root, rules)
    return Sanitized(root=builder.root, removed=removed)


def sanitize_html(source: str, font_families: Iterable[str] | None = None) -> str:
    return sanitize(source, font_families).html()


# --- CSS: declarations and values -----------------------------------------------------------------


def clean_style(text: str, font_families: Iterable[str], removed: list[str] | None = None) -> dict[str, str]:
    """The allowed declarations of a CSS declaration list (a style attribute), in order; later wins."""
    return _declarations(text, tuple(font_families), removed if removed is not None else [])


def clean_value(name: str, value: str, font_families: Iterable[str]) -> str | None:
    """The value as written back from its tokens if property `name` may have it (font-family: only the
    local families), else None."""
    return _clean_tokens(name, tinycss2.parse_component_value_list(value), tuple(font_families))


def _declarations(source: str | list[Any], families: tuple[str, ...], removed: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in tinycss2.parse_declaration_list(source, skip_comments=False, skip_whitespace=True):
        if isinstance(item, ast.Comment):
            continue
        if isinstance(item, ast.AtRule):  # @import inside a style attribute
            removed.append(_at_rule_note(item))
            continue
        if isinstance(item, ast.ParseError):
            removed.append(f"CSS that does not parse ({item.message[:60]})")
            continue
        name = item.lower_name
        if name not in ALLOWED_PROPERTIES:
            removed.append(f"property {name[:40]!r}")
            continue
        cleaned = _clean_tokens(name, item.value, families)
        if cleaned is None:
            removed.append(f"{name}: {tinycss2.serialize(item.value).strip()[:60]}")
            continue
        out.pop(name, None)  # keep declaration order: a repeated property moves to its last place
        out[name] = cleaned  # `!important` is dropped: inline order decides
    return out


def _clean_tokens(name: str, tokens: Sequence[Any], families: tuple[str, ...]) -> str | None:
    if name == "font-family":
        return _clean_families(tokens, families)
    parts = _significant(tokens)
    if name == "transform":
        if not _is_transform(parts):
            return None
        functions = TRANSFORM_FUNCTIONS
    elif name == "display":
        if len(parts) != 1 or not isinstance(parts[0], ast.IdentToken) or parts[0].lower_value not in DISPLAY_VALUES:
            return None
        functions = frozenset()
    elif name in ("background", "background-image"):
        functions = COLOR_FUNCTIONS | GRADIENT_FUNCTIONS
    else:
        functions = COLOR_FUNCTIONS
    out: list[str] = []
    if not _write(tokens, functions, out):
        return None
    value = " ".join("".join(out).split())
    if not value or len(value) > MAX_VALUE_CHARS:
        return None
    return value


def _write(tokens: Iterable[Any], functions: frozenset[str], out: list[str]) -> bool:
    """Append the allowed tokens' CSS to `out`; False at the first token that is not allowed.

    Comments count as spaces, so `u/**/rl(` can never be written back as `url(`."""
    for tok in tokens:
        if isinstance(tok, ast.WhitespaceToken | ast.Comment):
            out.append(" ")
        elif isinstance(tok, ast.IdentToken) and _is_keyword(tok.value):
            out.append(tok.value)
        elif isinstance(tok, ast.HashToken) and _is_hex_colour(tok.value):
            out.append("#" + tok.value)
        elif isinstance(tok, ast.NumberToken):
            out.append(tok.representation)
        elif isinstance(tok, ast.PercentageToken):
            out.append(tok.representation + "%")
        elif isinstance(tok, ast.DimensionToken) and _is_unit(tok.unit):
            out.append(tok.representation + tok.unit)
        elif isinstance(tok, ast.LiteralToken) and tok.value in (",", "/"):
            out.append(tok.value)
        elif isinstance(tok, ast.FunctionBlock) and tok.lower_name in functions:
            out.append(tok.lower_name + "(")
            if not _write(tok.arguments, functions, out):
                return False
            out.append(")")
        else:  # url(), other functions, strings, blocks, @-keywords, unicode ranges, other punctuation
            return False
    return True


def _significant(tokens: Iterable[Any]) -> list[Any]:
    return [t for t in tokens if not isinstance(t, ast.WhitespaceToken | ast.Comment)]


def _is_transform(parts: list[Any]) -> bool:
    """`none`, or transform functions whose arguments hold no further function or block."""
    if len(parts) == 1 and isinstance(parts[0], ast.IdentToken) and parts[0].lower_value == "none":
        return True
    return bool(parts) and all(
        isinstance(p, ast.FunctionBlock)
        and p.lower_name in TRANSFORM_FUNCTIONS
        and not any(isinstance(a, ast.FunctionBlock | ast.ParenthesesBlock) for a in p.arguments)
        for p in parts
    )


def _is_keyword(value: str) -> bool:
    body = value[1:] if value.startswith("-") else value
    return bool(body) and body.isascii() and body[0].isalpha() and all(ch.isalnum() or ch == "-" for ch in body)


def _is_hex_colour(value: str) -> bool:
    return len(value) in (3, 4, 6, 8) and all(ch in string.hexdigits for ch in value)


def _is_unit(unit: str) -> bool:
    return unit.isascii() and unit.isalpha()


def _clean_families(tokens: Sequence[Any], font_families: Iterable[str]) -> str | None:
    """Only the local families (and the generic ones), each named once, quoted as the catalogue spells it."""
    known = {f.lower(): f for f in font_families} | GENERIC_FAMILIES
    kept: list[str] = []
    for part in _split_commas(tokens):
        if not part:
            continue
        if len(part) == 1 and isinstance(part[0], ast.StringToken):
            name = part[0].value.strip()
        elif all(isinstance(t, ast.IdentToken) for t in part):
            name = " ".join(t.value for t in part)
        else:  # a function, a number, punctuation: not a font-family value
            return None
        canonical = known.get(name.lower())
        if canonical and canonical not in kept:
            kept.append(canonical)
    if not kept:
        return None
    return ", ".join(f if f in GENERIC_FAMILIES else f'"{f}"' for f in kept)


def _split_commas(tokens: Iterable[Any]) -> Iterator[list[Any]]:
    """The significant tokens between top-level commas."""
    part: list[Any] = []
    for tok in _significant(tokens):
        if isinstance(tok, ast.LiteralToken) and tok.value == ",":
            yield part
            part = []
        else:
            part.append(tok)
    yield part


def _at_rule_note(rule: Any) -> str:
    return f"@{rule.at_keyword} {tinycss2.serialize(rule.prelude).strip()}"[:60].strip()


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
    """Rules with simple selectors and allowed declarations; @-rules, other selectors and nested rules
    are dropped."""
    removed = removed if removed is not None else []
    families = tuple(font_families)
    rules: list[Rule] = []
    for item in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if isinstance(item, ast.AtRule):  # @import, @font-face, @media ...: the whole statement or block
            removed.append(_at_rule_note(item))
            continue
        if isinstance(item, ast.ParseError):
            removed.append(f"CSS that does not parse ({item.message[:60]})")
            continue
        selector = tinycss2.serialize(item.prelude).strip()
        if any(isinstance(t, ast.CurlyBracketsBlock) for t in item.content):  # nested blocks: not a plain rule
            removed.append(f"rule {selector[:40]!r}")
            continue
        selectors = _simple_selectors(item.prelude)
        if selectors is None:
            removed.append(f"selector {selector[:40]!r}")
            continue
        declarations = _declarations(item.content, families, removed)
        if not declarations:
            continue
        for tag, classes in selectors:
            rules.append(Rule(tag, classes, declarations, len(rules)))
    return rules


def _simple_selectors(prelude: Sequence[Any]) -> list[tuple[str | None, frozenset[str]]] | None:
    """`tag`, `.class`, `tag.class`, `.a.b` and comma lists of these; None for anything else."""
    out: list[tuple[str | None, frozenset[str]]] = []
    group: list[Any] = []
    for tok in [*prelude, ast.LiteralToken(0, 0, ",")]:
        if not (isinstance(tok, ast.LiteralToken) and tok.value == ","):
            group.append(tok)
            continue
        while group and isinstance(group[0], ast.WhitespaceToken | ast.Comment):
            group.pop(0)
        while group and isinstance(group[-1], ast.WhitespaceToken | ast.Comment):
            group.pop()
        tag: str | None = None
        if group and isinstance(group[0], ast.IdentToken):
            tag = group.pop(0).lower_value
            if not (tag.isascii() and tag.isalnum() and tag[0].isalpha()):
                return None
        if (not group and tag is None) or len(group) % 2:
            return None
        classes: set[str] = set()
        for dot, name in zip(group[::2], group[1::2], strict=True):
            if not (isinstance(dot, ast.LiteralToken) and dot.value == "." and isinstance(name, ast.IdentToken)):
                return None
            if not _CLASS.match(name.value):
                return None
            classes.add(name.value)
        out.append((tag, frozenset(classes)))
        group = []
    return out


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


# --- HTML: what was not allowed, the tree, writing ----------------------------------------------------


class _Inventory(HTMLParser):
    """Names what the model wrote that is not allowed (tags, attributes, comments), for the notes.
    It decides nothing: nh3 does the cleaning."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _KEPT_TAGS:
            self.found.append(f"<{tag}>")
        self.found.extend(f"{name}=" for name, _ in attrs if name not in ("class", "style"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_comment(self, data: str) -> None:
        self.found.append("<!-- comment -->")

    def handle_pi(self, data: str) -> None:
        self.found.append("<? ... >")

    def unknown_decl(self, data: str) -> None:
        self.found.append("<![ ... ]>")


def _not_allowed(source: str) -> list[str]:
    inventory = _Inventory()
    inventory.feed(source)
    inventory.close()
    return inventory.found


class _TreeBuilder(HTMLParser):
    """Reads nh3's output (well-formed; only the kept tags, `class` and `style`) into Nodes: renames the
    harmless containers, cleans each style attribute, flattens nesting past MAX_DEPTH and sets the
    text of <style> elements aside."""

    def __init__(self, families: tuple[str, ...], removed: list[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.families = families
        self.removed = removed
        self.root = Node("")
        self.stack: list[Node] = [self.root]
        self.open: list[Node | None] = []  # per open source element: its node, None when it was unwrapped
        self.in_style = False
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "style":
            self.in_style = True
            self.stylesheets.append("")
            return
        out_tag = tag if tag in ALLOWED_TAGS else RENAMED.get(tag)
        if out_tag is None or len(self.stack) > MAX_DEPTH:
            if tag != "br":
                self.open.append(None)
            return
        node = Node(out_tag, source_tag=tag)
        for name, value in attrs:
            if name == "class" and value:
                node.classes = tuple(c for c in value.split() if _CLASS.match(c))
            elif name == "style" and value:
                node.style.update(_declarations(value, self.families, self.removed))
        self.stack[-1].children.append(node)
        if out_tag != "br":
            self.stack.append(node)
            self.open.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag != "br" and tag != "style":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self.in_style = False
            return
        if tag == "br" or not self.open:
            return
        if self.open.pop() is not None:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.stylesheets[-1] += data
        elif data:
            self.stack[-1].children.append(data)


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

_TO_PX = {"px": 1.0, "rem": 16.0, "pt": 4 / 3}


def _tokens(value: str) -> list[Any]:
    return _significant(tinycss2.parse_component_value_list(value))


def parse_color(value: str) -> tuple[tuple[int, int, int], float] | None:
    """An sRGB colour and its alpha from a CSS colour (hex, rgb()/rgba(), hsl(), a named colour)."""
    v = value.strip().lower()
    if v in ("transparent", "none", "inherit", "currentcolor", "initial", "unset"):
        return None
    tokens = _tokens(v)
    if len(tokens) == 1 and isinstance(tokens[0], ast.FunctionBlock) and tokens[0].lower_name in ("rgb", "rgba"):
        parts = [t for t in _significant(tokens[0].arguments) if not isinstance(t, ast.LiteralToken)]
        if len(parts) not in (3, 4) or not all(isinstance(p, ast.NumberToken | ast.PercentageToken) for p in parts):
            return None
        rgb = [p.value * 2.55 if isinstance(p, ast.PercentageToken) else p.value for p in parts[:3]]
        alpha = 1.0
        if len(parts) == 4:
            alpha = parts[3].value / 100 if isinstance(parts[3], ast.PercentageToken) else parts[3].value
        r, g, b = (max(0, min(255, round(c))) for c in rgb)
        return (r, g, b), max(0.0, min(1.0, float(alpha)))
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
    for text in _colour_words(tinycss2.parse_component_value_list(value)):
        parsed = parse_color(text)
        if parsed is not None:
            out.append(parsed)
    return out


def _colour_words(tokens: Iterable[Any]) -> Iterator[str]:
    for tok in tokens:
        if isinstance(tok, ast.HashToken):
            yield "#" + tok.value
        elif isinstance(tok, ast.IdentToken):
            yield tok.value
        elif isinstance(tok, ast.FunctionBlock):
            if tok.lower_name in COLOR_FUNCTIONS:
                yield tinycss2.serialize([tok])
            else:
                yield from _colour_words(tok.arguments)


def lengths_to_em(value: str, base_px: float) -> str:
    """px, rem and pt lengths as em of a `base_px` font, so a design scales with the fitted font size."""
    return _lengths_to_em(tinycss2.parse_component_value_list(value), base_px)


def _lengths_to_em(tokens: Iterable[Any], base_px: float) -> str:
    out: list[str] = []
    for tok in tokens:
        if isinstance(tok, ast.DimensionToken) and tok.lower_unit in _TO_PX:
            out.append(f"{round(tok.value * _TO_PX[tok.lower_unit] / base_px, 3):g}em")
        elif isinstance(tok, ast.FunctionBlock):
            out.append(f"{tok.name}({_lengths_to_em(tok.arguments, base_px)})")
        else:
            out.append(tinycss2.serialize([tok]))
    return "".join(out)


def font_px(value: str, parent_px: float) -> float | None:
    """A font-size in px (px, rem, pt, em of the parent, or %); None for keywords."""
    tokens = _tokens(value)
    if len(tokens) != 1:
        return None
    tok = tokens[0]
    if isinstance(tok, ast.DimensionToken) and tok.lower_unit in _TO_PX:
        return float(tok.value) * _TO_PX[tok.lower_unit]
    if isinstance(tok, ast.DimensionToken) and tok.lower_unit == "em":
        return float(tok.value) * parent_px
    if isinstance(tok, ast.PercentageToken):
        return float(tok.value) / 100 * parent_px
    return None


def em_value(value: str) -> float | None:
    """The number of an `Nem` value (or of a bare number), else None."""
    tokens = _tokens(value)
    if len(tokens) != 1:
        return None
    tok = tokens[0]
    if (isinstance(tok, ast.DimensionToken) and tok.lower_unit == "em") or isinstance(tok, ast.NumberToken):
        return float(tok.value)
    return None


def px_value(value: str) -> float | None:
    tokens = _tokens(value)
    if len(tokens) == 1 and isinstance(tokens[0], ast.DimensionToken) and tokens[0].lower_unit == "px":
        return float(tokens[0].value)
    return None
