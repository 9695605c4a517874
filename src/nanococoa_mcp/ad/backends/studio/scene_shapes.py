"""Drawing primitives for scene decor: soft bokeh discs and anti-aliased sprite layers (petals, leaves)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from nanococoa_mcp.ad.backends.studio.scene_noise import F32, blur

Vec3 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Disc:
    x: float
    y: float
    r: float
    color: Vec3
    gain: float
    aspect: float = 1.0  # height / width (lanterns are taller than wide)


def discs(shape: tuple[int, int], items: list[Disc], soft: float, rim: float) -> F32:
    """Additive light of out-of-focus highlights: flat discs, soft edge (fraction of r), brighter rim."""
    h, w = shape
    layer = np.zeros((h, w, 3), np.float32)
    for it in items:
        ry = it.r * it.aspect
        x0, x1 = max(0, int(it.x - it.r - 2)), min(w, int(it.x + it.r + 3))
        y0, y1 = max(0, int(it.y - ry - 2)), min(h, int(it.y + ry + 3))
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dist = np.sqrt(((xx + 0.5 - it.x) / it.r) ** 2 + ((yy + 0.5 - it.y) / ry) ** 2)
        edge = max(soft, 1.5 / it.r)  # never sharper than ~1.5 px
        a = np.clip((1.0 - dist) / edge, 0.0, 1.0)
        a = a * a * (3.0 - 2.0 * a)
        ring = np.clip(1.0 - np.abs(dist - (1.0 - edge)) / max(edge, 0.05), 0.0, 1.0)
        a = a * (0.82 + 0.18 * (1.0 - dist)) + rim * ring * a
        layer[y0:y1, x0:x1] += (a * it.gain)[..., None] * it.color
    return layer


def blobs(shape: tuple[int, int], items: list[Disc], soft: float) -> tuple[F32, F32]:
    """Opaque out-of-focus masses (foliage, far stalls): colour and coverage, later painted over a layer."""
    h, w = shape
    rgb = np.zeros((h, w, 3), np.float32)
    cover = np.zeros((h, w), np.float32)
    for it in items:
        x0, x1 = max(0, int(it.x - it.r - 2)), min(w, int(it.x + it.r + 3))
        y0, y1 = max(0, int(it.y - it.r * it.aspect - 2)), min(h, int(it.y + it.r * it.aspect + 3))
        if x0 >= x1 or y0 >= y1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dist = np.sqrt(((xx + 0.5 - it.x) / it.r) ** 2 + ((yy + 0.5 - it.y) / (it.r * it.aspect)) ** 2)
        a = np.clip((1.0 - dist) / soft, 0.0, 1.0)
        a = a * a * (3.0 - 2.0 * a) * it.gain
        # Later blobs cover earlier ones ("over"), so stacking order reads as depth.
        rgb[y0:y1, x0:x1] = rgb[y0:y1, x0:x1] * (1.0 - a[..., None]) + it.color * a[..., None]
        cover[y0:y1, x0:x1] = cover[y0:y1, x0:x1] * (1.0 - a) + a
    return rgb, cover


@dataclass(frozen=True, slots=True)
class Sprite:
    outline: npt.NDArray[np.float64]  # N×2 unit-size outline, centred, "up" = +y
    x: float
    y: float
    size: float  # px
    angle: float  # radians
    squash: float  # 0..1: width factor, a tumbling petal seen edge-on
    color: Vec3
    shade: Vec3  # inner highlight colour
    flatten: float = 1.0  # screen-space height factor: lying on a floor seen from above is < 1


class SpriteLayer:
    """Sprites drawn anti-aliased into a premultiplied colour layer plus coverage, blurred for depth."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.color = np.zeros((*shape, 3), np.uint8)
        self.alpha = np.zeros(shape, np.uint8)

    def draw(self, s: Sprite) -> None:
        c, si = np.cos(s.angle), np.sin(s.angle)
        for scale, col, off in ((1.0, s.color, 0.0), (0.62, s.shade, 0.22)):
            pts = s.outline * np.array([s.squash, 1.0]) * scale + np.array([0.0, off])
            xs = pts[:, 0] * c - pts[:, 1] * si
            ys = -(pts[:, 0] * si + pts[:, 1] * c) * s.flatten
            poly = np.stack([s.x + xs * s.size, s.y + ys * s.size], axis=1)
            poly_i = [np.round(poly * 16).astype(np.int32)]  # 4 fractional bits: smooth small shapes
            rgb = [float(v) for v in np.clip(col * 255, 0, 255)]
            cv2.fillPoly(self.color, poly_i, rgb, lineType=cv2.LINE_AA, shift=4)
            if scale == 1.0:
                cv2.fillPoly(self.alpha, poly_i, 255.0, lineType=cv2.LINE_AA, shift=4)

    def over(self, img: F32, sigma: float, opacity: float) -> F32:
        col = self.color.astype(np.float32) / 255.0
        a = self.alpha.astype(np.float32) / 255.0
        if sigma > 0.3:
            col, a = blur(col, sigma), blur(a, sigma)
        a = a * opacity
        return (img * (1.0 - a[..., None]) + col * opacity).astype(np.float32)


def petal_outline() -> npt.NDArray[np.float64]:
    """A cherry-blossom petal: widest toward the tip, with a small notch there."""
    t = np.linspace(-1.0, 0.97, 26)
    half = 0.52 * np.sqrt(np.clip(1.0 - t * t, 0, 1)) * (0.72 + 0.38 * t) + 0.02
    right = np.stack([half, t], axis=1)
    left = right[::-1] * np.array([-1.0, 1.0])
    notch = np.array([[0.0, 0.88]])
    return np.concatenate([right, notch, left])


def maple_outline() -> npt.NDArray[np.float64]:
    """A five-lobed maple leaf: pointed lobes with a few teeth, and a short stem."""
    th = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    r = np.full_like(th, 0.36)
    for ang, weight in ((90, 1.0), (38, 0.9), (142, 0.9), (-12, 0.62), (192, 0.62)):
        d = np.abs(np.angle(np.exp(1j * (th - np.radians(ang)))))
        lobe = np.clip(1.0 - d / 0.8, 0.0, 1.0) ** 1.1
        teeth = 0.06 * np.clip(np.cos(d * 14.0), 0.0, 1.0) * (d < 0.6)
        r = np.maximum(r, 0.36 + weight * (0.64 * lobe + teeth))
    pts = np.stack([r * np.cos(th), r * np.sin(th) + 0.1], axis=1)
    stem = np.array([[0.025, -0.15], [0.02, -0.55], [-0.02, -0.55], [-0.025, -0.15]])
    cut = int(np.argmin(np.abs(np.angle(np.exp(1j * (th - np.radians(270)))))))
    return np.concatenate([pts[:cut], stem, pts[cut:]])


def oval_leaf_outline() -> npt.NDArray[np.float64]:
    t = np.linspace(-1.0, 1.0, 24)
    half = 0.36 * np.clip(1.0 - t * t, 0, 1) ** 0.75
    right = np.stack([half, t], axis=1)
    left = right[::-1] * np.array([-1.0, 1.0])
    return np.concatenate([right, left])
