"""Painting tools for the exact-alpha test set (bench/alpha_set.py): objects, backdrops, light, shadows, camera.

Everything draws from a numpy Generator passed in, so a case is the same pixels every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

FloatImage = npt.NDArray[np.float32]
Shape = tuple[int, int]

TEXTURES: tuple[str, ...] = ("wood", "fabric", "brick", "gravel", "grass", "noise")


@dataclass(frozen=True, slots=True)
class Sprite:
    """An object cut to its own box: straight colour (0..255) and alpha (0..1)."""

    fg: FloatImage
    alpha: FloatImage

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.alpha.shape[1], self.alpha.shape[0]

    def mirrored(self) -> Sprite:
        return Sprite(np.ascontiguousarray(self.fg[:, ::-1]), np.ascontiguousarray(self.alpha[:, ::-1]))

    def rotated(self, degrees: float) -> Sprite:
        """Turned about its centre on a canvas big enough to hold it (premultiplied, so no dark fringe)."""
        h, w = self.alpha.shape
        side = int(np.ceil(np.hypot(h, w))) + 2
        m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
        m[:, 2] += ((side - w) / 2, (side - h) / 2)
        premul = cv2.warpAffine(self.fg * self.alpha[..., None], m, (side, side), flags=cv2.INTER_CUBIC)
        alpha = np.clip(cv2.warpAffine(self.alpha, m, (side, side), flags=cv2.INTER_CUBIC), 0.0, 1.0)
        alpha[alpha < 1.0 / 255.0] = 0.0
        fg = np.clip(premul / np.maximum(alpha, 1e-3)[..., None], 0.0, 255.0)
        return _tight(fg.astype(np.float32), alpha.astype(np.float32))

    def shaded(self, light: tuple[float, float, float], ambient: float) -> Sprite:
        """Lit by a distant light: Lambert shading on a height field guessed from the silhouette (a dome:
        the blurred silhouette, steepest near the outline). `light` points towards the light (x right,
        y down, z towards the camera); `ambient` is the brightness of a side facing away from it."""
        solid = self.alpha > 0.5
        side = max(self.alpha.shape)
        pad = side // 4
        dome = blur(np.pad(solid.astype(np.float32), pad), 0.08 * side)[pad:-pad, pad:-pad]
        height = (0.5 * side * np.sqrt(np.clip(dome - 0.25, 0.0, None))).astype(np.float32)
        gy, gx = np.gradient(height)
        normal = np.dstack([-gx, -gy, np.ones_like(gx)])
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        lv = np.asarray(light, np.float32)
        lv /= float(np.linalg.norm(lv))
        lambert = np.clip(normal @ lv, 0.0, 1.0)
        factor = ambient + (1.0 - ambient) * lambert / max(float(np.percentile(lambert[solid], 95)), 1e-3)
        return Sprite(np.clip(self.fg * np.minimum(factor, 1.08)[..., None], 0.0, 255.0).astype(np.float32),
                      self.alpha)


def load_sprite(path: Path, long_side: int) -> Sprite:
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
    return _tight(fg.astype(np.float32), a_big.astype(np.float32))


def _tight(fg: FloatImage, alpha: FloatImage) -> Sprite:
    ys, xs = np.nonzero(alpha > 0)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    return Sprite(np.ascontiguousarray(fg[box]), np.ascontiguousarray(alpha[box]))


def place(sprite: Sprite, shape: Shape, x0: int, y0: int) -> tuple[FloatImage, FloatImage]:
    """The sprite's colour and alpha on an empty canvas, its top-left corner at (x0, y0), clipped by the frame."""
    h, w = shape
    oh, ow = sprite.alpha.shape
    fg = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    cy0, cx0, cy1, cx1 = max(0, y0), max(0, x0), min(h, y0 + oh), min(w, x0 + ow)
    if cy1 > cy0 and cx1 > cx0:
        fg[cy0:cy1, cx0:cx1] = sprite.fg[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        alpha[cy0:cy1, cx0:cx1] = sprite.alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    return fg, alpha


def blur(img: FloatImage, sigma: float) -> FloatImage:
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), np.float32)


def noise_field(rng: np.random.Generator, shape: Shape, sigma: float) -> FloatImage:
    """Smooth random field (white noise blurred by `sigma`), scaled to unit spread."""
    field = blur(rng.normal(0.0, 1.0, shape).astype(np.float32), sigma)
    return np.asarray(field / max(float(field.std()), 1e-6), np.float32)


def grid(shape: Shape) -> tuple[FloatImage, FloatImage]:
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return x / (w - 1), y / (h - 1)


def studio_backdrop(colour: tuple[int, int, int], rng: np.random.Generator, shape: Shape,
                    vignette: tuple[float, float] = (0.06, 0.16)) -> FloatImage:
    """Seamless paper: a soft vertical sweep, a side light, a vignette, a little mottling."""
    x, y = grid(shape)
    sweep = 1.0 + rng.uniform(-0.08, 0.08) * (y - 0.5) * 2.0
    side = 1.0 + rng.uniform(-0.05, 0.05) * (x - 0.5) * 2.0
    r2 = ((x - 0.5) ** 2 + (y - 0.45) ** 2) / 0.5
    fall = 1.0 - rng.uniform(*vignette) * r2
    mottle = 0.006 * noise_field(rng, shape, 60)
    light = (sweep * side * fall + mottle)[..., None]
    return (np.asarray(colour, np.float32)[None, None, :] * light).astype(np.float32)


def textured_backdrop(texture: str, rng: np.random.Generator, shape: Shape) -> FloatImage:
    """A busy surface: grey pattern (0..1) mapped between two colours, under a soft light gradient."""
    pattern = _pattern(texture, rng, shape)
    dark, bright = _texture_colours(texture, rng)
    tex = dark[None, None, :] + pattern[..., None] * (bright - dark)[None, None, :]
    x, y = grid(shape)
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
        "oak": ((150, 112, 78), (222, 190, 150)),
        "linen": ((196, 192, 182), (236, 233, 226)),
    }[texture]
    jitter = rng.uniform(0.9, 1.1, 3)
    dark = np.clip(np.asarray(base[0], np.float32) * jitter, 0, 255).astype(np.float32)
    bright = np.clip(np.asarray(base[1], np.float32) * jitter, 0, 255).astype(np.float32)
    return dark, bright


def _pattern(texture: str, rng: np.random.Generator, shape: Shape) -> FloatImage:
    h, w = shape
    x, y = grid(shape)
    if texture in ("wood", "oak"):
        warp = noise_field(rng, shape, 70)
        warp /= max(float(np.abs(warp).max()), 1e-6)
        grain = np.sin((x * 30.0 + warp * 2.0 + 0.8 * np.sin(y * 3.0 + x * 4.0)) * np.pi) ** 3
        fine = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (1, 0), 1.5)
        p = 0.5 + 0.35 * grain + 0.08 * fine
    elif texture in ("fabric", "linen"):
        weave = np.sin(x * w * 0.55) * np.sin(y * h * 0.55)
        slub = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), 3)
        p = 0.5 + 0.3 * weave + 0.6 * slub
    elif texture == "noise":
        p = np.zeros(shape, np.float32)
        for sigma, weight in ((30.0, 0.5), (8.0, 0.3), (2.0, 0.2)):
            n = cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), sigma)
            p += weight * n / max(float(n.std()), 1e-6)
        p = 0.5 + 0.18 * p
    else:
        p = _skimage_pattern(texture, rng, shape)
    return np.clip(p, 0.0, 1.0).astype(np.float32)


def _skimage_pattern(texture: str, rng: np.random.Generator, shape: Shape) -> FloatImage:
    """scikit-image's bundled grey textures, tiled (mirrored, so no seams) and scaled up to the canvas."""
    from skimage import data  # only the test set needs scikit-image

    grey = {"brick": data.brick, "gravel": data.gravel, "grass": data.grass}[texture]().astype(np.float32)
    tile = np.block([[grey, grey[:, ::-1]], [grey[::-1, :], grey[::-1, ::-1]]])
    scale = rng.uniform(1.0, 1.6)
    big = cv2.resize(tile, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    reps = (shape[0] // big.shape[0] + 1, shape[1] // big.shape[1] + 1)
    big = np.tile(big, reps)[:shape[0], :shape[1]]
    lo, hi = np.percentile(big, [2, 98])
    return ((big - lo) / max(float(hi - lo), 1e-6)).astype(np.float32)


def contact_shadow(alpha: FloatImage, rng: np.random.Generator, strength: float) -> FloatImage:
    """A soft dark ellipse where the object meets the surface, plus a fainter cast shadow to one side."""
    ys, xs = np.nonzero(alpha > 0.5)
    bottom = int(ys.max())
    low = xs[ys > bottom - max(8, (bottom - ys.min()) // 6)]
    cx, half_w = float(low.mean()), 0.6 * float(xs.max() - xs.min()) / 2 + 20
    obj_h = float(bottom - ys.min())
    shadow = np.zeros(alpha.shape, np.float32)
    cv2.ellipse(shadow, (round(cx), bottom), (round(half_w), max(6, round(0.05 * obj_h))), 0, 0, 360, 1.0, -1)
    shadow = blur(shadow, 0.025 * obj_h + 4)
    cast = np.zeros_like(shadow)
    side = 1 if rng.random() < 0.5 else -1
    cv2.ellipse(cast, (round(cx + side * 0.35 * half_w), bottom - round(0.02 * obj_h)),
                (round(1.1 * half_w), max(8, round(0.08 * obj_h))), 0, 0, 360, 1.0, -1)
    cast = blur(cast, 0.06 * obj_h + 6)
    total = strength * shadow / max(float(shadow.max()), 1e-6) + 0.4 * strength * cast
    return np.clip(total, 0.0, 0.85).astype(np.float32)


def cast_shadow(alpha: FloatImage, towards: tuple[float, float], length: float, strength: float) -> FloatImage:
    """The object's silhouette thrown on the floor away from the light: each point's height above the
    base becomes a step of `length` times it along `towards` (dx, dy; dy < 0 is behind the object),
    blurred twice (a sharp core, a soft penumbra)."""
    ys = np.nonzero(alpha > 0.5)[0]
    base = float(ys.max())
    height = max(1.0, base - float(ys.min()))
    h, w = alpha.shape
    # A point `up` pixels above the base lands `up`·`length` along `towards` from its foot:
    # x' = x + dx·L·(base - y), y' = base + dy·L·(base - y). dy must not be 0 (a shadow with no depth).
    dx, dy = towards
    m = np.array([[1.0, -dx * length, dx * length * base], [0.0, -dy * length, base * (1.0 + dy * length)]],
                 np.float32)
    thrown = np.asarray(cv2.warpAffine((alpha > 0.5).astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR),
                        np.float32)
    near = blur(thrown, 0.01 * height + 2)
    far = blur(thrown, 0.05 * height + 6)
    return np.clip(strength * (0.6 * near + 0.4 * far), 0.0, 0.9).astype(np.float32)


def camera(photo: FloatImage, rng: np.random.Generator, noise: float, quality: int) -> npt.NDArray[np.uint8]:
    """Sensor noise (luminance plus a little chroma, a touch coarser than a pixel), then a JPEG round trip."""
    h, w = photo.shape[:2]
    luma = rng.normal(0.0, noise, (h, w, 1)).astype(np.float32)
    chroma = blur(rng.normal(0.0, 0.6 * noise, (h, w, 3)).astype(np.float32), 0.8)
    out = np.clip(photo + luma + chroma + 0.5, 0, 255).astype(np.uint8)
    return jpeg_round_trip(out, quality)


def jpeg_round_trip(rgb: npt.NDArray[np.uint8], quality: int) -> npt.NDArray[np.uint8]:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.asarray(cv2.cvtColor(np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)), cv2.COLOR_BGR2RGB), np.uint8)
