"""Product photos with exactly known alpha, built deterministically, for the cut-out tests and benchmark.

Each case pastes an RGBA object from tests/data/objects onto a synthetic backdrop (seamless studio
paper, or a busy texture), with a soft contact shadow, then round-trips the photo through JPEG.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

OBJECTS_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "objects"
CANVAS_W, CANVAS_H = 900, 1100
JPEG_QUALITY = 85

Kind = Literal["studio", "textured"]
FloatImage = npt.NDArray[np.float32]

# Backdrop papers: white, greys, beige, pastels, and one dark slate.
STUDIO_COLOURS: tuple[tuple[int, int, int], ...] = (
    (246, 245, 241), (212, 212, 210), (233, 219, 198), (245, 215, 222), (206, 223, 241),
    (208, 236, 221), (250, 238, 198), (62, 66, 76), (226, 226, 230), (222, 205, 232),
    (170, 190, 172), (240, 228, 214),
)
TEXTURES: tuple[str, ...] = ("wood", "fabric", "brick", "gravel", "grass", "noise")


@dataclass(frozen=True, slots=True)
class AlphaCase:
    """One photo: `image` as the camera gave it, `alpha` the exact matte of the object in it."""

    name: str
    image: npt.NDArray[np.uint8]   # H×W×3 RGB after a JPEG round trip
    alpha: FloatImage              # H×W ground-truth alpha, 0..1
    foreground: FloatImage         # H×W×3 the object's true colour (0..255), valid where alpha > 0
    shadow: FloatImage             # H×W how much the backdrop was darkened by shadow (0..1)
    touches_bottom: bool           # the object is cut by the bottom edge of the frame


def object_files() -> list[Path]:
    return sorted(OBJECTS_DIR.glob("*.webp"))


def build_alpha_set(kind: Kind, n: int | None = None, seed: int = 0) -> list[AlphaCase]:
    """`n` cases (default: one per object) of the given backdrop kind; same arguments, same pixels."""
    files = object_files()
    if not files:
        raise FileNotFoundError(f"no objects in {OBJECTS_DIR}")
    count = len(files) if n is None else n
    kind_id = 0 if kind == "studio" else 1
    return [_build_case(kind, files[i % len(files)], i, np.random.default_rng([seed, kind_id, i]))
            for i in range(count)]


def _build_case(kind: Kind, path: Path, index: int, rng: np.random.Generator) -> AlphaCase:
    fg, alpha = _load_object(path, int(rng.integers(500, 801)))
    touches = index % 4 == 3
    placed_fg, placed_a = _place(fg, alpha, rng, touches)
    if kind == "studio":
        colour = STUDIO_COLOURS[index % len(STUDIO_COLOURS)]
        backdrop = _studio_backdrop(colour, rng)
        strength = 0.45 if sum(colour) > 300 else 0.3
    else:
        backdrop = _textured_backdrop(TEXTURES[index % len(TEXTURES)], rng)
        strength = 0.35
    shadow = _contact_shadow(placed_a, rng, strength)
    backdrop = backdrop * (1.0 - shadow)[..., None]
    photo = placed_a[..., None] * placed_fg + (1.0 - placed_a[..., None]) * backdrop
    photo = photo + rng.normal(0.0, 1.5, photo.shape)  # sensor noise
    image = _jpeg_round_trip(np.clip(photo + 0.5, 0, 255).astype(np.uint8))
    name = f"{kind}-{index:02d}-{path.stem}"
    return AlphaCase(name, image, placed_a, placed_fg, shadow.astype(np.float32), touches)


def _load_object(path: Path, long_side: int) -> tuple[FloatImage, FloatImage]:
    """Object colour and alpha, upscaled with Lanczos on premultiplied colour (no dark fringe)."""
    rgba = np.asarray(Image.open(path).convert("RGBA"), dtype=np.float32)
    a = rgba[..., 3] / 255.0
    premul = rgba[..., :3] * a[..., None]
    h, w = a.shape
    scale = long_side / max(h, w)
    size = (round(w * scale), round(h * scale))
    a_big = np.clip(cv2.resize(a, size, interpolation=cv2.INTER_LANCZOS4), 0.0, 1.0)
    p_big = cv2.resize(premul, size, interpolation=cv2.INTER_LANCZOS4)
    a_big[a_big < 1.0 / 255.0] = 0.0  # ringing leaves faint halos far from the object
    fg = np.clip(p_big / np.maximum(a_big, 1e-3)[..., None], 0.0, 255.0)
    return fg.astype(np.float32), a_big.astype(np.float32)


def _place(fg: FloatImage, alpha: FloatImage, rng: np.random.Generator,
           touches_bottom: bool) -> tuple[FloatImage, FloatImage]:
    """Paste the object onto an empty canvas: centred with jitter, resting low, or cut by the bottom."""
    ys, xs = np.nonzero(alpha > 0)
    fg, alpha = fg[ys.min():ys.max() + 1, xs.min():xs.max() + 1], alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    oh, ow = alpha.shape
    x0 = (CANVAS_W - ow) // 2 + int(rng.integers(-60, 61))
    if touches_bottom:
        y0 = CANVAS_H - oh + int(oh * rng.uniform(0.06, 0.15))
    else:
        y0 = int(CANVAS_H * rng.uniform(0.72, 0.85)) - oh
    canvas_fg = np.zeros((CANVAS_H, CANVAS_W, 3), np.float32)
    canvas_a = np.zeros((CANVAS_H, CANVAS_W), np.float32)
    cy0, cx0 = max(0, y0), max(0, x0)
    cy1, cx1 = min(CANVAS_H, y0 + oh), min(CANVAS_W, x0 + ow)
    canvas_fg[cy0:cy1, cx0:cx1] = fg[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    canvas_a[cy0:cy1, cx0:cx1] = alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    return canvas_fg, canvas_a


def _blur(img: FloatImage, sigma: float) -> FloatImage:
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), np.float32)


def _noise(rng: np.random.Generator, sigma: float) -> FloatImage:
    """Smooth random field on the canvas (white noise blurred by `sigma`), scaled to unit spread."""
    field = _blur(rng.normal(0.0, 1.0, (CANVAS_H, CANVAS_W)).astype(np.float32), sigma)
    return np.asarray(field / max(float(field.std()), 1e-6), np.float32)


def _grid() -> tuple[FloatImage, FloatImage]:
    y, x = np.mgrid[0:CANVAS_H, 0:CANVAS_W].astype(np.float32)
    return x / (CANVAS_W - 1), y / (CANVAS_H - 1)


def _studio_backdrop(colour: tuple[int, int, int], rng: np.random.Generator) -> FloatImage:
    """Seamless paper: a soft vertical sweep, a side light, a vignette, a little mottling."""
    x, y = _grid()
    sweep = 1.0 + rng.uniform(-0.08, 0.08) * (y - 0.5) * 2.0
    side = 1.0 + rng.uniform(-0.05, 0.05) * (x - 0.5) * 2.0
    r2 = ((x - 0.5) ** 2 + (y - 0.45) ** 2) / 0.5
    vignette = 1.0 - rng.uniform(0.06, 0.16) * r2
    mottle = 0.006 * _noise(rng, 60)
    light = (sweep * side * vignette + mottle)[..., None]
    return (np.asarray(colour, np.float32)[None, None, :] * light).astype(np.float32)


def _textured_backdrop(texture: str, rng: np.random.Generator) -> FloatImage:
    """A busy surface: grey pattern (0..1) mapped between two colours, under a soft light gradient."""
    pattern = _pattern(texture, rng)
    dark, bright = _texture_colours(texture, rng)
    tex = dark[None, None, :] + pattern[..., None] * (bright - dark)[None, None, :]
    x, y = _grid()
    light = 1.0 + rng.uniform(-0.1, 0.1) * (x - 0.5) + rng.uniform(-0.1, 0.1) * (y - 0.5)
    return (tex * light[..., None]).astype(np.float32)


def _texture_colours(texture: str, rng: np.random.Generator) -> tuple[FloatImage, FloatImage]:
    base = {
        "wood": ((92, 56, 30), (196, 140, 90)),
        "fabric": ((70, 80, 120), (170, 180, 215)),
        "brick": ((90, 40, 32), (200, 120, 96)),
        "gravel": ((80, 78, 72), (205, 200, 190)),
        "grass": ((40, 70, 30), (150, 190, 90)),
        "noise": ((110, 60, 110), (230, 190, 160)),
    }[texture]
    jitter = rng.uniform(0.9, 1.1, 3)
    dark = np.clip(np.asarray(base[0], np.float32) * jitter, 0, 255).astype(np.float32)
    bright = np.clip(np.asarray(base[1], np.float32) * jitter, 0, 255).astype(np.float32)
    return dark, bright


def _pattern(texture: str, rng: np.random.Generator) -> FloatImage:
    x, y = _grid()
    if texture == "wood":
        warp = _noise(rng, 70)
        warp /= max(float(np.abs(warp).max()), 1e-6)
        grain = np.sin((x * 30.0 + warp * 2.0 + 0.8 * np.sin(y * 3.0 + x * 4.0)) * np.pi) ** 3
        fine = cv2.GaussianBlur(rng.normal(0, 1, (CANVAS_H, CANVAS_W)).astype(np.float32), (1, 0), 1.5)
        p = 0.5 + 0.35 * grain + 0.08 * fine
    elif texture == "fabric":
        weave = np.sin(x * CANVAS_W * 0.55) * np.sin(y * CANVAS_H * 0.55)
        slub = cv2.GaussianBlur(rng.normal(0, 1, (CANVAS_H, CANVAS_W)).astype(np.float32), (0, 0), 3)
        p = 0.5 + 0.3 * weave + 0.6 * slub
    elif texture == "noise":
        p = np.zeros((CANVAS_H, CANVAS_W), np.float32)
        for sigma, weight in ((30.0, 0.5), (8.0, 0.3), (2.0, 0.2)):
            n = cv2.GaussianBlur(rng.normal(0, 1, (CANVAS_H, CANVAS_W)).astype(np.float32), (0, 0), sigma)
            p += weight * n / max(float(n.std()), 1e-6)
        p = 0.5 + 0.18 * p
    else:
        p = _skimage_pattern(texture, rng)
    return np.clip(p, 0.0, 1.0).astype(np.float32)


def _skimage_pattern(texture: str, rng: np.random.Generator) -> FloatImage:
    """scikit-image's bundled grey textures, tiled (mirrored, so no seams) and scaled up to the canvas."""
    from skimage import data  # only the test set needs scikit-image

    grey = {"brick": data.brick, "gravel": data.gravel, "grass": data.grass}[texture]().astype(np.float32)
    tile = np.block([[grey, grey[:, ::-1]], [grey[::-1, :], grey[::-1, ::-1]]])
    scale = rng.uniform(1.0, 1.6)
    big = cv2.resize(tile, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    reps = (CANVAS_H // big.shape[0] + 1, CANVAS_W // big.shape[1] + 1)
    big = np.tile(big, reps)[:CANVAS_H, :CANVAS_W]
    lo, hi = np.percentile(big, [2, 98])
    return ((big - lo) / max(float(hi - lo), 1e-6)).astype(np.float32)


def _contact_shadow(alpha: FloatImage, rng: np.random.Generator, strength: float) -> FloatImage:
    """A soft dark ellipse where the object meets the surface, plus a fainter cast shadow to one side."""
    ys, xs = np.nonzero(alpha > 0.5)
    bottom = int(ys.max())
    low = xs[ys > bottom - max(8, (bottom - ys.min()) // 6)]
    cx, half_w = float(low.mean()), 0.6 * float(xs.max() - xs.min()) / 2 + 20
    obj_h = float(bottom - ys.min())
    shadow = np.zeros(alpha.shape, np.float32)
    cv2.ellipse(shadow, (round(cx), bottom), (round(half_w), max(6, round(0.05 * obj_h))), 0, 0, 360, 1.0, -1)
    shadow = _blur(shadow, 0.025 * obj_h + 4)
    cast = np.zeros_like(shadow)
    side = 1 if rng.random() < 0.5 else -1
    cv2.ellipse(cast, (round(cx + side * 0.35 * half_w), bottom - round(0.02 * obj_h)),
                (round(1.1 * half_w), max(8, round(0.08 * obj_h))), 0, 0, 360, 1.0, -1)
    cast = _blur(cast, 0.06 * obj_h + 6)
    total = strength * shadow / max(float(shadow.max()), 1e-6) + 0.4 * strength * cast
    return np.clip(total, 0.0, 0.85).astype(np.float32)


def _jpeg_round_trip(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.asarray(cv2.cvtColor(np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)), cv2.COLOR_BGR2RGB), np.uint8)


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
