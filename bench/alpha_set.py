"""Product photos with exactly known alpha, built deterministically, for the cut-out tests and benchmark.

Each case pastes RGBA objects from tests/data/objects (Fluent Emoji 3D, MIT) onto a painted backdrop,
with light, contact and cast shadows, sensor noise and a JPEG round trip. Categories:

- studio: one object on seamless paper of any colour; textured: on a busy surface (wood, cloth, ...);
- light: white and grey products on light paper (headphones on a light-grey sweep, a toilet roll);
- multipart: one product in disjoint parts (a pair of shoes, earrings, a bowl and its chopsticks);
- frame: a large product cut by one or two edges of the frame;
- cluttered: a product on a table among other objects, some touching it, a person behind; the truth
  is the product alone (the central, front object). From case 10 on, a wider table: any product
  anywhere on wood, cloth or plain paper, one to seven other things (a smaller twin, one standing in
  front and hiding a corner), a person or a brick wall behind;
- shaded: strong directional light or backlight leaving a side of the product in deep shadow, with a
  long cast shadow on the paper.

The studio-shot categories (plain backdrop, one product) are STUDIO_SHOTS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import cv2
import numpy as np
import numpy.typing as npt

from bench.alpha_paint import (
    TEXTURES,
    FloatImage,
    Shape,
    Sprite,
    camera,
    cast_shadow,
    contact_shadow,
    grid,
    jpeg_round_trip,
    load_sprite,
    place,
    studio_backdrop,
    textured_backdrop,
)

OBJECTS_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "objects"
CANVAS_W, CANVAS_H = 900, 1100
PORTRAIT: Shape = (CANVAS_H, CANVAS_W)
LANDSCAPE: Shape = (CANVAS_W, CANVAS_H)
JPEG_QUALITY = 85

Category = Literal["studio", "textured", "light", "multipart", "frame", "cluttered", "shaded"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
STUDIO_SHOTS: tuple[Category, ...] = ("studio", "light", "multipart", "frame", "shaded")
Box = tuple[int, int, int, int]

# Backdrop papers: white, greys, beige, pastels, and one dark slate.
STUDIO_COLOURS: tuple[tuple[int, int, int], ...] = (
    (246, 245, 241), (212, 212, 210), (233, 219, 198), (245, 215, 222), (206, 223, 241),
    (208, 236, 221), (250, 238, 198), (62, 66, 76), (226, 226, 230), (222, 205, 232),
    (170, 190, 172), (240, 228, 214),
)
# Light papers close to white and grey products.
LIGHT_COLOURS: tuple[tuple[int, int, int], ...] = (
    (236, 236, 237), (226, 227, 229), (244, 243, 240), (231, 230, 226), (218, 219, 222), (240, 240, 242),
)
# The first set: one object each, on studio paper and on textures.
STUDIO_OBJECTS = ("1f34e", "1f35e", "1f361", "1f36f", "1f376", "1f382", "1f41f", "1f45c", "1f45f", "1f95f",
                  "1f9c1", "1f9f4", "1fab4", "231a", "2615")
LIGHT_OBJECTS = ("1f3a7", "1f9fb", "1f4bb", "1f375", "1f5b1-fe0f", "2328-fe0f", "1f3d0", "1f45f", "2615", "1f9f4")
FRAME_OBJECTS = ("1f4bc", "1f9f3", "1f4e6", "1f392", "1f45c", "1f4bb", "1f3b8", "1f35e")
CLUTTER_TARGETS = ("1f3b8", "1f381", "1f35e", "1f36f", "1f45c", "1f9f8", "1f376", "2615")
CLUTTER_PROPS = ("1f4da", "1f3fa", "1f34a", "1f350", "1f36a", "1fab4", "1f9c1", "231a", "1f34e", "1f9c0")
PERSON = "1f9cd-200d-2640-fe0f"
SHADED_OBJECTS = ("1f35e", "1f34a", "1f350", "1f34e", "1f9c0", "1f96f", "1f9c1", "1f36f", "1f95f", "1f36a")
# The wider table (cluttered cases from FIRST_CLUTTERED on): products of every kind, and what stands around.
TABLE_TARGETS = (*CLUTTER_TARGETS, "1f4bc", "1f392", "1f4e6", "1f3fa", "1f382", "1f45f", "1f3a7", "1f9c1",
                 "1f9f4", "1f375", "1f4bb", "1f34e")
TABLE_PROPS = (*CLUTTER_PROPS, "1f36f", "1f376", "1f35e", "1f375", "1f95f", "1f4e6", "1f45f", "1f9fb", "2615",
               "1f48e", "1f963")
FRAME_SIDES: tuple[tuple[str, ...], ...] = (
    ("bottom",), ("left",), ("right",), ("top",), ("left", "bottom"), ("right", "bottom"), ("top", "right"),
    ("bottom",), ("left", "top"), ("right", "top"))
FIRST_CLUTTERED = 10  # cluttered cases before this one are the first, narrower table
DEFAULT_COUNTS: dict[Category, int] = {
    "studio": len(STUDIO_OBJECTS) + 6, "textured": len(STUDIO_OBJECTS) + 4, "light": 10, "multipart": 8, "frame": 12,
    "cluttered": 22, "shaded": 10,
}


@dataclass(frozen=True, slots=True)
class AlphaCase:
    """One photo: `image` as the camera gave it, `alpha` the exact matte of the product in it."""

    name: str
    category: Category
    image: npt.NDArray[np.uint8]   # H×W×3 RGB after a JPEG round trip
    alpha: FloatImage              # H×W ground-truth alpha, 0..1
    foreground: FloatImage         # H×W×3 the product's true colour (0..255), valid where alpha > 0
    shadow: FloatImage             # H×W how much the backdrop was darkened by shadow (0..1)
    touches_bottom: bool           # the product is cut by the bottom edge of the frame

    @property
    def box(self) -> Box:
        """x0, y0, x1, y1 (exclusive) of the true product (alpha >= 0.5)."""
        ys, xs = np.nonzero(self.alpha >= 0.5)
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1

    def hint_box(self, margin: float = 0.04) -> Box:
        """The true box grown by `margin` of its width and height on each side, inside the frame: what a
        person drags around the product."""
        x0, y0, x1, y1 = self.box
        mx, my = round(margin * (x1 - x0)), round(margin * (y1 - y0))
        h, w = self.alpha.shape
        return max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)


def object_files() -> list[Path]:
    return sorted(OBJECTS_DIR.glob("*.webp"))


def object_path(stem: str) -> Path:
    path = OBJECTS_DIR / f"{stem}.webp"
    if not path.exists():
        raise FileNotFoundError(f"no object {stem} in {OBJECTS_DIR}")
    return path


def build_alpha_set(kind: Category, n: int | None = None, seed: int = 0) -> list[AlphaCase]:
    """`n` cases (default DEFAULT_COUNTS) of one category; same arguments, same pixels."""
    count = DEFAULT_COUNTS[kind] if n is None else n
    kind_id = CATEGORIES.index(kind)
    build = _BUILDERS[kind]
    return [build(i, np.random.default_rng([seed, kind_id, i])) for i in range(count)]


def build_case(kind: Category, index: int, seed: int = 0) -> AlphaCase:
    """The `index`-th case of `kind`, as build_alpha_set builds it."""
    return _BUILDERS[kind](index, np.random.default_rng([seed, CATEGORIES.index(kind), index]))


def build_full_set(per_category: int | None = None, seed: int = 0,
                   categories: tuple[Category, ...] = CATEGORIES) -> list[AlphaCase]:
    """Every category's cases (`per_category` each, default DEFAULT_COUNTS), category by category."""
    return list(iter_full_set(per_category, seed, categories))


def iter_full_set(per_category: int | None = None, seed: int = 0,
                  categories: tuple[Category, ...] = CATEGORIES) -> Iterator[AlphaCase]:
    """build_full_set one case at a time (a seed's set holds over a gigabyte of pixels)."""
    for kind in categories:
        for index in range(DEFAULT_COUNTS[kind] if per_category is None else per_category):
            yield build_case(kind, index, seed)


# --- the first set: one object on paper or a texture --------------------------------------------


def _single(kind: Category, index: int, rng: np.random.Generator) -> AlphaCase:
    if index >= len(STUDIO_OBJECTS):
        return _wide_single(kind, index, rng)
    path = object_path(STUDIO_OBJECTS[index % len(STUDIO_OBJECTS)])
    sprite = load_sprite(path, int(rng.integers(500, 801)))
    touches = index % 4 == 3
    ow, oh = sprite.size
    x0 = (CANVAS_W - ow) // 2 + int(rng.integers(-60, 61))
    y0 = CANVAS_H - oh + int(oh * rng.uniform(0.06, 0.15)) if touches else int(CANVAS_H * rng.uniform(0.72, 0.85)) - oh
    fg, alpha = place(sprite, PORTRAIT, x0, y0)
    if kind == "studio":
        colour = STUDIO_COLOURS[index % len(STUDIO_COLOURS)]
        backdrop = studio_backdrop(colour, rng, PORTRAIT)
        strength = 0.45 if sum(colour) > 300 else 0.3
    else:
        backdrop = textured_backdrop(TEXTURES[index % len(TEXTURES)], rng, PORTRAIT)
        strength = 0.35
    shadow = contact_shadow(alpha, rng, strength)
    backdrop = backdrop * (1.0 - shadow)[..., None]
    photo = alpha[..., None] * fg + (1.0 - alpha[..., None]) * backdrop
    photo = photo + rng.normal(0.0, 1.5, photo.shape)  # sensor noise
    image = jpeg_round_trip(np.clip(photo + 0.5, 0, 255).astype(np.uint8), JPEG_QUALITY)
    return AlphaCase(f"{kind}-{index:02d}-{path.stem}", kind, image, alpha, fg, shadow, touches)


def _wide_single(kind: Category, index: int, rng: np.random.Generator) -> AlphaCase:
    """One object of any kind and size (a ring to a suitcase: 20-80 % of the frame's short side), anywhere,
    in portrait or landscape, on paper of any colour or a texture, its shadow anywhere from faint to
    heavy, now and then running off a side of the frame."""
    stems = [p.stem for p in object_files() if p.stem != PERSON]
    path = object_path(stems[int(rng.integers(len(stems)))])
    shape = PORTRAIT if rng.random() < 0.7 else LANDSCAPE
    h, w = shape
    sprite = load_sprite(path, int(min(h, w) * rng.uniform(0.2, 0.8)))
    if rng.random() < 0.5:
        sprite = sprite.mirrored()
    ow, oh = sprite.size
    x0 = int(rng.uniform(0.04 * w, max(0.04 * w + 1, 0.96 * w - ow)))
    y0 = int(rng.uniform(0.08 * h, max(0.08 * h + 1, 0.95 * h - oh)))
    side = int(rng.integers(6))  # 0-3: runs off that side (bottom, left, right, top); else stands free
    cut = float(rng.uniform(0.08, 0.25))
    if side == 0:
        y0 = h - oh + int(cut * oh)
    elif side == 1:
        x0 = -int(cut * ow)
    elif side == 2:
        x0 = w - ow + int(cut * ow)
    elif side == 3:
        y0 = -int(cut * oh)
    fg, alpha = place(sprite, shape, x0, y0)
    if kind == "studio":
        colour = (STUDIO_COLOURS + LIGHT_COLOURS)[int(rng.integers(len(STUDIO_COLOURS) + len(LIGHT_COLOURS)))]
        backdrop = studio_backdrop(colour, rng, shape, vignette=(0.0, 0.25))
    else:
        backdrop = textured_backdrop(("wood", "oak", "linen", *TEXTURES)[int(rng.integers(len(TEXTURES) + 3))],
                                     rng, shape)
    shadow = contact_shadow(alpha, rng, float(rng.uniform(0.1, 0.6))) if side != 3 else np.zeros(shape, np.float32)
    layer = _Layer(fg, alpha, True)
    return _compose(f"{kind}-{index:02d}-{path.stem}-wide", kind, backdrop, shadow, [layer], rng, noise=(1.0, 4.0))


# --- the hard categories: layered scenes ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layer:
    fg: FloatImage
    alpha: FloatImage
    product: bool  # part of the ground truth


def _layer(sprite: Sprite, shape: Shape, x0: int, y0: int, product: bool) -> _Layer:
    fg, alpha = place(sprite, shape, x0, y0)
    return _Layer(fg, alpha, product)


def _compose(name: str, kind: Category, backdrop: FloatImage, shadow: FloatImage, layers: list[_Layer],
             rng: np.random.Generator, noise: tuple[float, float] = (1.8, 3.2)) -> AlphaCase:
    """Layers (back to front) over the shadowed backdrop, through the camera. The truth is the product
    layers as seen: a later layer in front of the product hides it."""
    photo = backdrop * (1.0 - shadow)[..., None]
    truth = np.zeros(shadow.shape, np.float32)
    premul = np.zeros(photo.shape, np.float32)  # the product's colour times its visible alpha
    for layer in layers:
        a = layer.alpha[..., None]
        photo = a * layer.fg + (1.0 - a) * photo
        premul *= 1.0 - a
        truth *= 1.0 - layer.alpha
        if layer.product:
            premul += a * layer.fg
            truth += layer.alpha
    fg = premul / np.maximum(truth, 1e-6)[..., None]
    image = camera(photo.astype(np.float32), rng, float(rng.uniform(*noise)), int(rng.integers(78, 91)))
    touches = bool((truth[-1] > 0.5).any())
    return AlphaCase(name, kind, image, truth.astype(np.float32), fg.astype(np.float32),
                     shadow.astype(np.float32), touches)


def _combine(*shadows: FloatImage) -> FloatImage:
    lit = np.ones_like(shadows[0])
    for s in shadows:
        lit *= 1.0 - s
    return (1.0 - lit).astype(np.float32)


def _light_case(index: int, rng: np.random.Generator) -> AlphaCase:
    """A white or grey product on light paper, softly lit from above: its shaded side is the paper's grey."""
    stem = LIGHT_OBJECTS[index % len(LIGHT_OBJECTS)]
    shape = LANDSCAPE if stem in ("1f4bb", "2328-fe0f") else PORTRAIT
    h, w = shape
    sprite = load_sprite(object_path(stem), int(rng.integers(520, 761)))
    sprite = sprite.shaded((float(rng.uniform(-0.6, 0.6)), -0.8, 1.0), float(rng.uniform(0.6, 0.8)))
    if rng.random() < 0.5:
        sprite = sprite.mirrored()
    ow, oh = sprite.size
    x0 = (w - ow) // 2 + int(rng.integers(-50, 51))
    y0 = int(h * rng.uniform(0.74, 0.86)) - oh
    layer = _layer(sprite, shape, x0, y0, True)
    backdrop = studio_backdrop(LIGHT_COLOURS[index % len(LIGHT_COLOURS)], rng, shape, vignette=(0.1, 0.25))
    shadow = contact_shadow(layer.alpha, rng, float(rng.uniform(0.2, 0.35)))
    return _compose(f"light-{index:02d}-{stem}", "light", backdrop, shadow, [layer], rng)


def _multipart_case(index: int, rng: np.random.Generator) -> AlphaCase:
    """One product in disjoint parts, laid out apart on paper: the truth is every part."""
    arrangement = index % 8
    parts: list[Sprite]
    if arrangement in (0, 4, 5):  # a pair of shoes, the left one mirrored
        stem = ("1f45e", "1f97f", "1f45f")[(0, 4, 5).index(arrangement)]
        one = load_sprite(object_path(stem), int(rng.integers(320, 420)))
        parts, gap, name = [one.mirrored(), one], int(rng.integers(20, 70)), f"pair-{stem}"
    elif arrangement == 1:  # earrings
        gem = load_sprite(object_path("1f48e"), int(rng.integers(170, 240)))
        parts, gap, name = [gem, gem.rotated(float(rng.uniform(-15, 15)))], int(rng.integers(120, 220)), "earrings"
    elif arrangement == 2:  # a bowl and its chopsticks beside it
        bowl = load_sprite(object_path("1f963"), int(rng.integers(380, 460)))
        sticks = load_sprite(object_path("1f962"), int(rng.integers(340, 420))).rotated(float(rng.uniform(-25, 25)))
        parts, gap, name = [bowl, sticks], int(rng.integers(40, 90)), "bowl-chopsticks"
    elif arrangement == 3:  # cutlery: two parts in one picture
        parts, gap, name = [load_sprite(object_path("1f374"), int(rng.integers(560, 700)))], 0, "cutlery"
    elif arrangement == 6:  # three cookies
        cookie = load_sprite(object_path("1f36a"), int(rng.integers(200, 260)))
        parts = [cookie, cookie.rotated(120.0), cookie.rotated(240.0)]
        gap, name = int(rng.integers(30, 80)), "cookies"
    else:  # a sake bottle and its cup set apart
        bottle = load_sprite(object_path("1f376"), int(rng.integers(480, 560)))
        parts, gap, name = [bottle, load_sprite(object_path("1f375"), int(rng.integers(220, 280)))], 60, "tea-set"
    shape = PORTRAIT
    h, w = shape
    total_w = sum(p.size[0] for p in parts) + gap * (len(parts) - 1)
    x = (w - total_w) // 2 + int(rng.integers(-40, 41))
    floor = int(h * rng.uniform(0.74, 0.84))
    layers: list[_Layer] = []
    for part in parts:
        pw, ph = part.size
        layers.append(_layer(part, shape, x, floor - ph + int(rng.integers(-20, 21)), True))
        x += pw + gap
    colour = STUDIO_COLOURS[(index * 5 + 1) % len(STUDIO_COLOURS)]
    backdrop = studio_backdrop(colour, rng, shape)
    strength = 0.4 if sum(colour) > 300 else 0.28
    shadow = _combine(*(contact_shadow(layer.alpha, rng, strength) for layer in layers))
    return _compose(f"multipart-{index:02d}-{name}", "multipart", backdrop, shadow, layers, rng)


def _frame_case(index: int, rng: np.random.Generator) -> AlphaCase:
    """A large product running off one or two edges of the frame (from case 8 on: any of the sides
    and corners, any object, in portrait or landscape)."""
    wide = index >= len(FRAME_SIDES)
    stem = FRAME_OBJECTS[index % len(FRAME_OBJECTS)] if not wide else FRAME_OBJECTS[int(rng.integers(8))]
    shape = LANDSCAPE if wide and rng.random() < 0.4 else PORTRAIT
    h, w = shape
    sprite = load_sprite(object_path(stem), int(rng.integers(760, 1000) * min(h, w) / CANVAS_W))
    if wide and rng.random() < 0.5:
        sprite = sprite.mirrored()
    ow, oh = sprite.size
    edges = FRAME_SIDES[index % len(FRAME_SIDES) if not wide else int(rng.integers(len(FRAME_SIDES)))]
    x0, y0 = (w - ow) // 2 + int(rng.integers(-30, 31)), int(h * 0.8) - oh
    cut = float(rng.uniform(0.1, 0.3))
    if wide:
        x0 = int(rng.uniform(0, max(1, w - ow)))
    if "bottom" in edges:
        y0 = h - oh + int(cut * oh)
    if "top" in edges:
        y0 = -int(cut * oh)
    if "left" in edges:
        x0 = -int(cut * ow)
    if "right" in edges:
        x0 = w - ow + int(cut * ow)
    layer = _layer(sprite, shape, x0, y0, True)
    colour = STUDIO_COLOURS[(index * 7 + 3) % len(STUDIO_COLOURS)]
    backdrop = studio_backdrop(colour, rng, shape)
    shadow = contact_shadow(layer.alpha, rng, 0.4 if sum(colour) > 300 else 0.28)
    return _compose(f"frame-{index:02d}-{stem}-{'-'.join(edges)}", "frame", backdrop, shadow, [layer], rng)


def _table(rng: np.random.Generator, shape: Shape, index: int) -> tuple[FloatImage, int]:
    """A wall above a table top (wood, oak, linen or cloth), the edge between them softened; and the
    table's far edge (y)."""
    h, _ = shape
    horizon = int(h * rng.uniform(0.32, 0.48))
    wall = studio_backdrop(STUDIO_COLOURS[(index * 3) % len(STUDIO_COLOURS)], rng, shape)
    table = textured_backdrop(("wood", "oak", "linen", "fabric")[index % 4], rng, shape)
    _, y = grid(shape)
    edge = np.clip((y * (h - 1) - horizon) / 3.0 + 0.5, 0.0, 1.0)[..., None]
    return (edge * table * 0.92 + (1.0 - edge) * wall).astype(np.float32), horizon


def _cluttered_case(index: int, rng: np.random.Generator) -> AlphaCase:
    """A product in front and in the middle of a table with other things on it, some touching it, and
    sometimes a person standing behind (from FIRST_CLUTTERED on: _busy_table_case)."""
    if index >= FIRST_CLUTTERED:
        return _busy_table_case(index, rng)
    stem = CLUTTER_TARGETS[index % len(CLUTTER_TARGETS)]
    shape = PORTRAIT
    h, w = shape
    backdrop, horizon = _table(rng, shape, index)
    target = load_sprite(object_path(stem), int(rng.integers(480, 640)))
    tw, th = target.size
    tx = (w - tw) // 2 + int(rng.integers(-50, 51))
    floor = int(h * rng.uniform(0.8, 0.9))
    ty = floor - th
    behind: list[_Layer] = []
    shadows: list[FloatImage] = []
    if index % 2 == 0:  # a person behind, cut by the frame
        person = load_sprite(object_path(PERSON), int(h * rng.uniform(0.95, 1.15)))
        pw, ph = person.size
        side = 1 if rng.random() < 0.5 else -1
        px = (w - pw) // 2 + side * int(tw * rng.uniform(0.25, 0.5))
        behind.append(_layer(person, shape, px, horizon + int(0.25 * ph) - ph + int(rng.integers(0, 60)), False))
    props = [CLUTTER_PROPS[(index * 3 + k) % len(CLUTTER_PROPS)] for k in range(2 + index % 3)]
    for k, prop in enumerate(props):
        sprite = load_sprite(object_path(prop), int(rng.integers(200, 400)))
        pw, ph = sprite.size
        left = k % 2 == 0
        touching = k < 2  # the first two lean on the product, behind it
        overlap = int(rng.integers(5, 40)) if touching else -int(rng.integers(30, 120))
        px = tx - pw + overlap if left else tx + tw - overlap
        py = floor - ph - int(rng.integers(10, 90)) if touching else floor - ph + int(rng.integers(-40, 40))
        layer = _layer(sprite, shape, px, py, False)
        behind.append(layer)
        shadows.append(contact_shadow(layer.alpha, rng, 0.3))
    product = _layer(target, shape, tx, ty, True)
    shadows.append(contact_shadow(product.alpha, rng, 0.35))
    return _compose(f"cluttered-{index:02d}-{stem}", "cluttered", backdrop, _combine(*shadows),
                    [*behind, product], rng)


def _busy_table_case(index: int, rng: np.random.Generator) -> AlphaCase:
    """A wider cluttered table: the product (any kind, any size, anywhere but the frame's edge) on wood,
    cloth or plain paper, among one to seven other things: some leaning on it from behind, some apart, a
    smaller twin of it now and then, and now and then one in front hiding a corner of it; behind, a
    person, a brick wall or the plain wall."""
    stem = TABLE_TARGETS[int(rng.integers(len(TABLE_TARGETS)))]
    shape = PORTRAIT if rng.random() < 0.7 else LANDSCAPE
    h, w = shape
    surface = ("wood", "oak", "linen", "fabric", "plain")[index % 5]
    horizon = int(h * rng.uniform(0.25, 0.5))
    _, y = grid(shape)
    below = np.clip((y * (h - 1) - horizon) / 3.0 + 0.5, 0.0, 1.0)[..., None]
    wall = (textured_backdrop("brick", rng, shape) if rng.random() < 0.2
            else studio_backdrop(STUDIO_COLOURS[int(rng.integers(len(STUDIO_COLOURS)))], rng, shape))
    if surface == "plain":
        table = studio_backdrop((STUDIO_COLOURS + LIGHT_COLOURS)[int(rng.integers(18))], rng, shape) * 0.95
    else:
        table = textured_backdrop(surface, rng, shape) * 0.92
    backdrop = (below * table + (1.0 - below) * wall).astype(np.float32)
    target = load_sprite(object_path(stem), int(min(h, w) * rng.uniform(0.3, 0.65)))
    tw, th = target.size
    tx = int(rng.uniform(0.06 * w, 0.94 * w - tw))
    floor = int(rng.uniform(max(horizon + th * 0.6, 0.6 * h), 0.95 * h))
    ty = min(floor - th, h - th - 8)
    behind: list[_Layer] = []
    front: list[_Layer] = []
    shadows: list[FloatImage] = []
    if rng.random() < 0.4:  # a person behind, cut by the frame
        person = load_sprite(object_path(PERSON), int(h * rng.uniform(0.8, 1.15)))
        pw, ph = person.size
        px = tx + tw // 2 - pw // 2 + int(rng.uniform(-0.6, 0.6) * tw)
        behind.append(_layer(person, shape, px, horizon + int(rng.uniform(0.1, 0.3) * ph) - ph, False))
    others = [p for p in TABLE_PROPS if p != stem]
    for k in range(int(rng.integers(1, 8))):
        twin = k == 0 and rng.random() < 0.2
        prop = stem if twin else others[int(rng.integers(len(others)))]
        size = int(max(tw, th) * rng.uniform(0.45, 0.7)) if twin else int(min(h, w) * rng.uniform(0.15, 0.45))
        sprite = load_sprite(object_path(prop), size)
        if rng.random() < 0.5:
            sprite = sprite.mirrored()
        pw, ph = sprite.size
        left = rng.random() < 0.5
        in_front = not twin and k == 1 and rng.random() < 0.35
        if in_front:  # hides a lower corner of the product, no more than a fifth of it
            reach = int(min(pw, tw) * rng.uniform(0.1, 0.3))
            px = tx - pw + reach if left else tx + tw - reach
            py = ty + th - int(ph * rng.uniform(0.5, 0.9)) + int(rng.integers(10, 50))
        elif not twin and rng.random() < 0.5:  # leaning on it from behind
            overlap = int(pw * rng.uniform(0.05, 0.3))
            px = tx - pw + overlap if left else tx + tw - overlap
            py = ty + th - ph - int(rng.integers(10, 120))
        else:  # apart on the table
            px = int(rng.uniform(-0.3 * pw, w - 0.7 * pw))
            py = int(rng.uniform(horizon - 0.6 * ph, h - 0.6 * ph))
            if abs(px + pw / 2 - (tx + tw / 2)) < (pw + tw) / 2 and py + ph > ty + th - 40:
                py = ty + th - ph - int(rng.integers(40, 140))  # not in front: it stands further back
        layer = _layer(sprite, shape, px, py, False)
        (front if in_front else behind).append(layer)
        if layer.alpha.max() > 0.5:
            shadows.append(contact_shadow(layer.alpha, rng, float(rng.uniform(0.15, 0.4))))
    product = _layer(target, shape, tx, ty, True)
    shadows.append(contact_shadow(product.alpha, rng, float(rng.uniform(0.15, 0.45))))
    return _compose(f"cluttered-{index:02d}-{stem}-{surface}", "cluttered", backdrop, _combine(*shadows),
                    [*behind, product, *front], rng, noise=(1.5, 4.0))


def _shaded_case(index: int, rng: np.random.Generator) -> AlphaCase:
    """A product under a hard low light from one side (its far side and bottom in deep shadow, a long
    shadow cast on the paper), or backlit (dark all over, lit only along its top)."""
    stem = SHADED_OBJECTS[index % len(SHADED_OBJECTS)]
    shape = PORTRAIT
    h, w = shape
    side = 1.0 if rng.random() < 0.5 else -1.0
    backlit = index % 5 == 4
    sprite = load_sprite(object_path(stem), int(rng.integers(480, 700)))
    if backlit:
        sprite = sprite.shaded((0.0, -1.0, -0.15), float(rng.uniform(0.35, 0.5)))
    else:
        sprite = sprite.shaded((side * 0.8, -0.9, 0.45), float(rng.uniform(0.22, 0.38)))
    ow, oh = sprite.size
    x0 = (w - ow) // 2 + int(rng.integers(-50, 51))
    y0 = int(h * rng.uniform(0.72, 0.84)) - oh
    layer = _layer(sprite, shape, x0, y0, True)
    if index % 2:  # paper the colour of the product's lit shadow side: its shade and the cast shadow meet
        low = sprite.alpha[-oh // 3:] > 0.5
        shade = sprite.fg[-oh // 3:][low].mean(axis=0) * rng.uniform(1.3, 1.7)
        shade = 0.7 * shade + 0.3 * shade.mean()  # paper and tables are greyer than food
        r, g, b = (int(v) for v in np.clip(shade, 40, 240))
        colour = (r, g, b)
    else:
        colour = (STUDIO_COLOURS + LIGHT_COLOURS)[(index * 5 + 2) % (len(STUDIO_COLOURS) + len(LIGHT_COLOURS))]
    backdrop = studio_backdrop(colour, rng, shape)
    x, _ = grid(shape)
    backdrop *= (1.0 + side * 0.12 * (x - 0.5))[..., None]  # the paper is lit from the same side
    towards = (0.0, -0.6) if backlit else (-side * float(rng.uniform(0.7, 1.0)), -0.25)
    thrown = cast_shadow(layer.alpha, towards, float(rng.uniform(0.5, 0.9)), float(rng.uniform(0.4, 0.6)))
    shadow = _combine(contact_shadow(layer.alpha, rng, 0.45), thrown)
    return _compose(f"shaded-{index:02d}-{stem}", "shaded", backdrop, shadow, [layer], rng)


_BUILDERS: dict[Category, Callable[[int, np.random.Generator], AlphaCase]] = {
    "studio": lambda i, rng: _single("studio", i, rng),
    "textured": lambda i, rng: _single("textured", i, rng),
    "light": _light_case,
    "multipart": _multipart_case,
    "frame": _frame_case,
    "cluttered": _cluttered_case,
    "shaded": _shaded_case,
}


# --- metrics -----------------------------------------------------------------------------------


def iou(pred: npt.ArrayLike, gt: npt.ArrayLike, thr: float = 0.5) -> float:
    """Intersection over union of the two mattes thresholded at `thr` (both 0..1)."""
    p, g = np.asarray(pred) >= thr, np.asarray(gt) >= thr
    union = int(np.count_nonzero(p | g))
    return 1.0 if union == 0 else int(np.count_nonzero(p & g)) / union


def edge_band(gt: npt.ArrayLike, radius: int = 6) -> npt.NDArray[np.bool_]:
    """Pixels within `radius` of the true object's edge, plus every partly transparent pixel."""
    g = np.asarray(gt, np.float32)
    hard = (g >= 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    ring = cv2.dilate(hard, kernel) != cv2.erode(hard, kernel)
    return ring | ((g > 0.0) & (g < 1.0))


def alpha_error(pred: npt.ArrayLike, gt: npt.ArrayLike, band_radius: int = 6) -> tuple[float, float]:
    """Mean absolute alpha error (0..1) over the whole image and over the edge band."""
    p, g = np.asarray(pred, np.float32), np.asarray(gt, np.float32)
    err = np.abs(p - g)
    band = edge_band(g, band_radius)
    return float(err.mean()), float(err[band].mean()) if band.any() else 0.0


def sheet(cases: list[AlphaCase], cols: int = 8, cell: int = 180) -> npt.NDArray[np.uint8]:
    """The photos side by side, each `cell` px high, for looking at the set."""
    rows = []
    thumbs = [cv2.resize(c.image, (round(cell * c.image.shape[1] / c.image.shape[0]), cell),
                         interpolation=cv2.INTER_AREA) for c in cases]
    width = max(t.shape[1] for t in thumbs)
    thumbs = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in thumbs]
    for r in range(0, len(thumbs), cols):
        row = thumbs[r:r + cols]
        row += [np.full_like(thumbs[0], 255)] * (cols - len(row))
        rows.append(np.hstack(row))
    return np.vstack(rows)

