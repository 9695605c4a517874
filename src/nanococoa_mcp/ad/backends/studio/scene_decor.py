"""Scene decor: what makes a backdrop read as a place (lantern bokeh, window light, foliage, neon, petals…).

`back` painters work on the wall before the floor is laid (so glossy floors reflect them);
`front` painters work on the finished scene (falling petals, flakes, leaves lying on the floor).
The upper part of the frame is kept calm on purpose: ad copy is set there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from nanococoa_mcp.ad.backends.studio.scene_geometry import Geometry
from nanococoa_mcp.ad.backends.studio.scene_noise import (
    F32,
    blur,
    blur_lowres,
    f32,
    field,
    grid,
    screen,
    smoothstep,
)
from nanococoa_mcp.ad.backends.studio.scene_shapes import (
    Disc,
    Sprite,
    SpriteLayer,
    Vec3,
    blobs,
    discs,
    maple_outline,
    oval_leaf_outline,
    petal_outline,
)
from nanococoa_mcp.ad.catalog.styles import DecorSpec


@dataclass(frozen=True, slots=True)
class Ctx:
    geo: Geometry
    spec: DecorSpec
    colors: tuple[Vec3, ...]
    light_az: float  # degrees, the light's azimuth
    rng: np.random.Generator


def _pick(ctx: Ctx) -> Vec3:
    return ctx.colors[int(ctx.rng.integers(len(ctx.colors)))]


def _light_side(ctx: Ctx) -> float:
    """-1 when the light comes from the left, +1 from the right, 0 overhead."""
    return float(math.cos(math.radians(ctx.light_az)))


def _calm(geo: Geometry, y: float) -> float:
    """How much busy decor a row may carry: little in the top third, where copy goes."""
    return float(smoothstep(0.16 * geo.h, 0.42 * geo.h, y))


def _busy_ok(geo: Geometry, x: float, y: float) -> float:
    """How welcome busy decor is at (x, y): little in the top third, where copy goes, and little
    on the far side of a product set off-centre (copy goes beside it)."""
    weight = 0.2 + 0.8 * _calm(geo, y)
    off = geo.stage_x / geo.w - 0.5
    if abs(off) > 0.1:
        beside = (0.5 - x / geo.w) * np.sign(off)  # > 0 on the side away from the product
        weight *= 1.0 - 0.65 * float(smoothstep(0.0, 0.2, beside))
    return weight


def _scatter(ctx: Ctx, lo: float, hi: float) -> tuple[float, float]:
    """A point with y in [lo, hi], drawn less often where copy is likely to go."""
    geo, rng = ctx.geo, ctx.rng
    x, y = float(rng.uniform(0, geo.w)), float(rng.uniform(lo, hi))
    for _ in range(8):
        if rng.random() < _busy_ok(geo, x, y):
            break
        x, y = float(rng.uniform(0, geo.w)), float(rng.uniform(lo, hi))
    return x, y


# --- back: on the wall ---------------------------------------------------------------------------


def _string(ctx: Ctx, y_mid: float, count: int, radius: float, gain: float) -> list[Disc]:
    """Bulbs hanging along a sagging wire across the frame, irregularly spaced."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    sag = rng.uniform(0.03, 0.07) * h
    y_end = (y_mid + rng.uniform(-0.03, 0.03)) * h
    tilt = rng.uniform(-0.04, 0.04) * h
    ts = np.sort(rng.uniform(-0.05, 1.05, count))
    out = []
    for t in ts:
        y = y_end - sag + 4.0 * sag * (t - 0.5) ** 2 + tilt * (t - 0.5) + rng.normal(0, 0.004 * h)
        out.append(Disc(t * w, y, radius * w * rng.uniform(0.8, 1.25), _pick(ctx), gain * rng.uniform(0.65, 1.0), 1.2))
    return out


def lanterns(img: F32, ctx: Ctx) -> F32:
    """A market at dusk far behind: blurred stall awnings and goods, and strings of warm bulbs."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    awnings = [(0.78, 0.16, 0.12), (0.15, 0.42, 0.45), (0.6, 0.3, 0.12), (0.85, 0.55, 0.25)]
    stalls = []
    for _ in range(int(40 * ctx.spec.density)):
        r, g, b = awnings[int(rng.integers(len(awnings)))]
        shade = rng.uniform(0.35, 0.8)
        col = np.array([r, g, b], np.float32) * shade
        y = rng.uniform(0.42 * h, geo.horizon)
        stalls.append(Disc(rng.uniform(-0.05, 1.05) * w, y, rng.uniform(0.05, 0.11) * w, col, rng.uniform(0.3, 0.6)))
    rgb, cover = blobs((h, w), stalls, soft=0.9)
    cover = cover * 0.55
    out = img * (1.0 - cover[..., None]) + rgb * 0.55
    items = _string(ctx, 0.36, 7, 0.05, 0.55)
    items += _string(ctx, 0.45, 11, 0.028, 0.75)
    items += _string(ctx, 0.53, 16, 0.016, 0.6)
    for _ in range(int(24 * ctx.spec.density)):  # far stall lights
        items.append(
            Disc(
                rng.uniform(0, w),
                rng.uniform(0.5 * h, geo.horizon),
                rng.uniform(0.006, 0.014) * w,
                _pick(ctx),
                rng.uniform(0.3, 0.6),
            )
        )
    light = discs((h, w), items, soft=0.3, rim=0.3)
    glow_y = np.exp(-(((np.arange(h, dtype=np.float32) - geo.horizon) / (0.12 * h)) ** 2))[:, None, None]
    glow = glow_y * ctx.colors[0] * 0.3 + blur_lowres(light, 0.04 * w) * 0.6
    return screen(out.astype(np.float32), light * ctx.spec.strength + glow)


def bokeh(img: F32, ctx: Ctx) -> F32:
    """Soft highlight discs in the middle band, more toward the sides than behind the product."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    items: list[Disc] = []
    for _ in range(int(26 * ctx.spec.density)):
        x, y = _scatter(ctx, 0.12 * h, geo.horizon + 0.02 * h)
        r = rng.uniform(0.012, 0.045) * w
        items.append(Disc(x, y, r, _pick(ctx), rng.uniform(0.25, 0.7)))
    return screen(img, discs((h, w), items, soft=0.3, rim=0.3) * ctx.spec.strength)


def dust(img: F32, ctx: Ctx) -> F32:
    """A few tiny far-away glints (luxury): sparse, dim, mostly low in the frame."""
    geo, rng = ctx.geo, ctx.rng
    items = [
        Disc(
            *_scatter(ctx, 0.25 * geo.h, geo.horizon),
            rng.uniform(0.004, 0.012) * geo.w,
            _pick(ctx),
            rng.uniform(0.2, 0.6),
        )
        for _ in range(int(30 * ctx.spec.density))
    ]
    return screen(img, discs((geo.h, geo.w), items, soft=0.45, rim=0.2) * ctx.spec.strength)


def window(img: F32, ctx: Ctx) -> F32:
    """Sunlight through a four-pane window falling on the wall, with leaf shadows across it."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    side = _light_side(ctx) or 1.0
    ww, wh = rng.uniform(0.42, 0.52) * w, 0.62 * geo.horizon
    shear = -side * 0.45 * ww  # light from the left throws the window's image down and to the right
    cx = w * (0.5 + 0.5 * side * rng.uniform(0.45, 0.75))
    x0, y0 = cx - ww / 2 - shear / 2, rng.uniform(0.16, 0.24) * h
    mask = np.zeros((h, w), np.uint8)
    gap = 0.05
    for i in range(2):
        for j in range(2):
            u0, u1 = i * 0.5 + gap / 2, (i + 1) * 0.5 - gap / 2
            v0, v1 = j * 0.5 + gap / 2, (j + 1) * 0.5 - gap / 2
            quad = [(u0, v0), (u1, v0), (u1, v1), (u0, v1)]
            pts = np.array([[x0 + u * ww + v * shear, y0 + v * wh] for u, v in quad])
            cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 255.0, cv2.LINE_AA, shift=4)
    m = blur(mask.astype(np.float32) / 255.0, 0.005 * w)
    leaves = smoothstep(0.45, 0.8, field((h, w), 0.06 * w, rng, beta=2.4))
    m = m * (1.0 - 0.4 * blur(leaves, 0.006 * w))
    fall = smoothstep(geo.horizon + 0.02 * h, geo.horizon - 0.25 * h, np.arange(h, dtype=np.float32))[:, None]
    return screen(img, (m * fall * ctx.spec.strength)[..., None] * ctx.colors[0])


def gobo(img: F32, ctx: Ctx) -> F32:
    """Soft shadows of window blinds slanting across the wall from the key light's side."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    xs, ys = grid(h, w)
    side = _light_side(ctx) or 1.0
    angle = np.radians(rng.uniform(25, 40)) * -side
    period = rng.uniform(0.07, 0.1) * w
    across = (xs * np.cos(angle) + ys * np.sin(angle)) / period
    bars = smoothstep(0.25, 0.45, np.abs(np.mod(across, 1.0) - 0.5))
    cx = (0.5 + 0.3 * side) * w
    spot = np.exp(-(((xs - cx) / (0.45 * w)) ** 2 + ((ys - 0.45 * geo.horizon) / (0.4 * h)) ** 2))
    shade = blur_lowres((bars * spot).astype(np.float32), 0.012 * w)
    return (img * (1.0 - ctx.spec.strength * shade)[..., None]).astype(np.float32)


def foliage(img: F32, ctx: Ctx) -> F32:
    """Out-of-focus greenery behind the set: a soft tree line low on the wall, a canopy in one top
    corner, lighter leaf clusters in front of it, and sun glinting through."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    dark, mid, light, glint = ctx.colors[:4]
    side = -(_light_side(ctx) or 1.0)  # the canopy hangs in on the side away from the sun
    masses: list[Disc] = []
    for _ in range(int(110 * ctx.spec.density)):  # tree line
        y = geo.horizon - abs(rng.normal(0, 0.16)) * h
        col = dark + (mid - dark) * rng.uniform(0.0, 0.8)
        masses.append(Disc(rng.uniform(-0.05, 1.05) * w, y, rng.uniform(0.05, 0.12) * w, col, rng.uniform(0.6, 0.95)))
    for _ in range(int(26 * ctx.spec.density)):  # canopy corner
        x = (0.5 + side * rng.uniform(0.3, 0.6)) * w
        y = abs(rng.normal(0, 0.14)) * h
        col = dark + (mid - dark) * rng.uniform(0.0, 0.6)
        masses.append(Disc(x, y, rng.uniform(0.05, 0.1) * w, col, rng.uniform(0.6, 0.9)))
    for _ in range(int(50 * ctx.spec.density)):  # lit leaf clusters, nearer
        y = geo.horizon - abs(rng.normal(0, 0.2)) * h
        col = mid + (light - mid) * rng.uniform(0.0, 1.0)
        masses.append(Disc(rng.uniform(0, w), y, rng.uniform(0.02, 0.05) * w, col, rng.uniform(0.4, 0.8)))
    rgb, cover = blobs((h, w), masses, soft=0.85)
    rgb, cover = blur_lowres(rgb, 0.012 * w), blur_lowres(cover, 0.012 * w)
    out = img * (1.0 - cover[..., None]) + rgb
    items = [
        Disc(rng.uniform(0, w), geo.horizon - abs(rng.normal(0, 0.2)) * h, rng.uniform(0.008, 0.025) * w, glint, 0.6)
        for _ in range(int(40 * ctx.spec.density))
    ]
    sparkle = discs((h, w), items, soft=0.35, rim=0.35) * cover[..., None]
    return screen(out.astype(np.float32), sparkle * ctx.spec.strength)


def sun(img: F32, ctx: Ctx) -> F32:
    """A broad sun glow from the light's side above the frame, with two faint flare ghosts."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    xs, ys = grid(h, w)
    sx = w * (0.5 + 0.55 * _light_side(ctx))
    sy = -0.08 * h
    r2 = ((xs - sx) ** 2 + (ys - sy) ** 2) / (0.45 * max(w, h)) ** 2
    glow = np.exp(-r2 * 2.0) * 0.75 + np.exp(-r2 * 12.0) * 0.25
    items = []
    for k in (0.55, 0.8):
        gx, gy = sx + (geo.stage_x - sx) * k, sy + (geo.horizon - sy) * k
        items.append(Disc(gx, gy, rng.uniform(0.03, 0.06) * w, ctx.colors[0], 0.12))
    ghosts = discs((h, w), items, soft=0.6, rim=0.0)
    return screen(img, f32(glow[..., None] * ctx.colors[0] * ctx.spec.strength + ghosts))


def _neon_shapes(ctx: Ctx) -> list[tuple[list[np.ndarray], bool]]:
    """One of three neon layouts around the stage: a ring, an arch, or slashes and a circle."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    cx = geo.stage_x
    size = min(w, 0.85 * h)
    kind = int(rng.integers(3))
    shapes: list[tuple[list[np.ndarray], bool]] = []  # (polylines, closed) per colour
    if kind == 0:
        r = 0.32 * size
        cy = geo.horizon - 0.13 * h
        th = np.linspace(0, 2 * np.pi, 120)
        shapes.append(([np.stack([cx + r * np.cos(th), cy + r * np.sin(th)], 1)], True))
        th2 = np.linspace(np.radians(200), np.radians(330), 50)
        r2 = r * 0.8
        shapes.append(([np.stack([cx + r2 * np.cos(th2), cy + r2 * np.sin(th2)], 1)], False))
    elif kind == 1:
        half = 0.3 * size
        top = geo.horizon - 0.48 * h + half
        th = np.linspace(np.pi, 2 * np.pi, 80)
        arch = np.concatenate(
            [[[cx - half, geo.horizon - 0.01 * h]], np.stack([cx + half * np.cos(th), top + half * np.sin(th)], 1)]
        )
        arch = np.concatenate([arch, [[cx + half, geo.horizon - 0.01 * h]]])
        shapes.append(([arch], False))
        inner = arch.copy()
        inner[:, 0] = cx + (inner[:, 0] - cx) * 0.86
        inner[:, 1] = geo.horizon - (geo.horizon - inner[:, 1]) * 0.9
        shapes.append(([inner], False))
    else:
        side = 1.0 if rng.random() < 0.5 else -1.0
        lines = []
        for k in range(2):
            x0 = cx + side * (0.22 + 0.07 * k) * w
            lines.append(np.array([[x0 - side * 0.12 * w, geo.horizon - 0.42 * h], [x0, geo.horizon - 0.14 * h]]))
        shapes.append((lines, False))
        r = 0.1 * size
        th = np.linspace(0, 2 * np.pi, 60)
        ccx, ccy = cx - side * 0.27 * w, geo.horizon - 0.3 * h
        shapes.append(([np.stack([ccx + r * np.cos(th), ccy + r * np.sin(th)], 1)], True))
    return shapes


def neon(img: F32, ctx: Ctx) -> F32:
    """Glowing neon tubes: a white-hot core, the coloured tube, and glows that light the wall."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    order = rng.permutation(len(ctx.colors))
    light = np.zeros((h, w, 3), np.float32)
    tube_w = max(2, round(0.011 * w))
    for i, (lines, closed) in enumerate(_neon_shapes(ctx)):
        color = ctx.colors[int(order[i % len(order)])]
        tube = np.zeros((h, w), np.uint8)
        core = np.zeros((h, w), np.uint8)
        polys = [np.round(p * 16).astype(np.int32) for p in lines]
        cv2.polylines(tube, polys, closed, 255, tube_w, cv2.LINE_AA, shift=4)
        cv2.polylines(core, polys, closed, 255, max(1, tube_w // 3), cv2.LINE_AA, shift=4)
        t = blur(tube.astype(np.float32) / 255.0, 0.6)
        glow = 0.9 * blur(t, 0.012 * w) + 0.55 * blur_lowres(t, 0.04 * w) + 0.5 * blur_lowres(t, 0.13 * w)
        c = blur(core.astype(np.float32) / 255.0, 0.5)
        light += (t * 1.1 + glow * 2.2)[..., None] * color + (c * 0.85)[..., None]
    return screen(img, np.clip(light, 0.0, 1.5))


def _voronoi_edges(shape: tuple[int, int], cell: float, rng: np.random.Generator) -> F32:
    """Anti-aliased edges of a random Voronoi tiling (cells about `cell` px across)."""
    h, w = shape
    n = int(w * h / (cell * cell)) + 8
    subdiv = cv2.Subdiv2D((-w // 4, -h // 4, w + w // 2, h + h // 2))
    pts = np.stack([rng.uniform(-0.2, 1.2, n) * w, rng.uniform(-0.2, 1.2, n) * h], axis=1)
    subdiv.insert([(float(x), float(y)) for x, y in pts])
    facets, _ = subdiv.getVoronoiFacetList([])
    mask = np.zeros((h, w), np.uint8)
    polys = [np.round(np.asarray(f) * 16).astype(np.int32) for f in facets if len(f) > 2]
    cv2.polylines(mask, polys, True, 255, 1, cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def caustics(img: F32, ctx: Ctx) -> F32:
    """Sunlight bounced off water: a bright, wobbling net of cells, fading into the calm top."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    edges = _voronoi_edges((h, w), 0.085 * w, rng)
    xs, ys = grid(h, w)
    amp = 0.018 * w
    dx = field((h, w), 0.12 * w, rng, beta=5.0) * amp
    dy = field((h, w), 0.12 * w, rng, beta=5.0) * amp
    wobbly = f32(cv2.remap(edges, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
    net = blur(wobbly, 0.9) * 1.6 + blur(wobbly, 0.012 * w) * 1.2
    patch = smoothstep(-1.0, 1.0, field((h, w), 0.3 * w, rng, beta=4.0))
    fade = (0.3 + 0.7 * smoothstep(0.05 * h, geo.horizon, np.arange(h, dtype=np.float32)))[:, None]
    lines = np.clip(net * (0.4 + 0.6 * patch) * fade, 0.0, 1.0)
    return screen(img, lines[..., None] * ctx.colors[0] * ctx.spec.strength)


def arch(img: F32, ctx: Ctx) -> F32:
    """A flat pastel arch panel behind the stage, standing a little off the wall (soft drop shadow)."""
    geo = ctx.geo
    w, h = geo.w, geo.h
    xs, ys = grid(h, w)
    half = 0.3 * min(w, 0.9 * h)
    spring = max(0.2 * h + half, geo.horizon - 0.62 * h + half)

    def inside(dx: float, dy: float) -> F32:
        px, py = xs - geo.stage_x - dx, ys - dy
        round_top = half - np.sqrt(px * px + (py - spring) ** 2)
        dist = np.where(py < spring, round_top, half - np.abs(px))
        return smoothstep(-0.8, 0.8, dist)

    side = _light_side(ctx)
    shadow = blur_lowres(inside(-side * 0.02 * w, 0.012 * h), 0.018 * w)
    panel = inside(0.0, 0.0)
    out = img * (1.0 - 0.16 * shadow[..., None])
    shade = (1.0 + 0.05 * (xs - geo.stage_x) / half * side)[..., None]
    col = ctx.colors[0] * shade
    a = (panel * min(1.0, ctx.spec.strength + 0.35))[..., None]
    return np.clip(out * (1.0 - a) + col * a, 0.0, 1.0).astype(np.float32)


def snow_bokeh(img: F32, ctx: Ctx) -> F32:
    """Big soft out-of-focus snowflakes drifting behind the set."""
    geo, rng = ctx.geo, ctx.rng
    items = [
        Disc(
            *_scatter(ctx, 0.0, geo.horizon + 0.05 * geo.h),
            rng.uniform(0.01, 0.04) * geo.w,
            _pick(ctx),
            rng.uniform(0.2, 0.55),
        )
        for _ in range(int(38 * ctx.spec.density))
    ]
    return screen(img, discs((geo.h, geo.w), items, soft=0.5, rim=0.15))


def leaf_bokeh(img: F32, ctx: Ctx) -> F32:
    """Autumn trees behind the set: out-of-focus leaves massed in the top corners and along the
    seam (far, very soft) with a nearer, clearer scatter, and a few glowing discs."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    outlines = (maple_outline(), maple_outline(), oval_leaf_outline())
    out = img
    for n, size, sigma, opacity in ((70, (0.06, 0.12), 0.02 * w, 0.7), (26, (0.035, 0.06), 0.006 * w, 0.85)):
        layer = SpriteLayer((h, w))
        for _ in range(int(n * ctx.spec.density)):
            if rng.random() < 0.55:  # canopy: hugging a top corner, mostly the product's when it is off-centre
                right = rng.random() < 0.5 + 0.8 * (geo.stage_x / w - 0.5)
                x = (rng.uniform(0.7, 1.1) if right else rng.uniform(-0.1, 0.3)) * w
                y = abs(rng.normal(0, 0.18)) * h
            else:  # trees far behind, along the seam
                x = rng.uniform(-0.05, 1.05) * w
                y = geo.horizon - abs(rng.normal(0, 0.12)) * h
            col = _pick(ctx)
            layer.draw(
                Sprite(
                    outlines[int(rng.integers(len(outlines)))],
                    x,
                    y,
                    rng.uniform(*size) * w,
                    rng.uniform(0, 2 * np.pi),
                    rng.uniform(0.6, 1.0),
                    col,
                    np.clip(col * 1.1, 0, 1),
                )
            )
        out = layer.over(out, sigma, opacity)
    items = [
        Disc(*_scatter(ctx, 0.2 * h, geo.horizon), rng.uniform(0.01, 0.03) * w, _pick(ctx), 0.35) for _ in range(14)
    ]
    return screen(out, discs((h, w), items, soft=0.4, rim=0.2))


# --- front: over the finished scene --------------------------------------------------------------


def _falling(img: F32, ctx: Ctx, outlines: tuple[np.ndarray, ...], count: int, size: float) -> F32:
    """Falling sprites in three depths: far (small, soft), mid (crisp), near (large, very soft)."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    out = img
    for depth, (n_frac, scale, sigma, opacity) in enumerate(
        ((0.45, 0.6, 0.9, 0.75), (0.4, 1.0, 0.0, 0.95), (0.15, 2.4, 0.012 * w, 0.7))
    ):
        layer = SpriteLayer((h, w))
        for _ in range(max(1, int(count * n_frac * ctx.spec.density))):
            x, y = _scatter(ctx, 0.02 * h, 0.97 * h)
            if depth == 2:  # near petals hug the frame's sides, never across the product
                x = rng.choice([rng.uniform(-0.05, 0.2), rng.uniform(0.8, 1.05)]) * w
            col = _pick(ctx)
            layer.draw(
                Sprite(
                    outlines[int(rng.integers(len(outlines)))],
                    x,
                    y,
                    size * w * scale * rng.uniform(0.75, 1.25),
                    rng.uniform(0, 2 * np.pi),
                    rng.uniform(0.45, 1.0),
                    col,
                    np.clip(col + 0.08, 0, 1),
                )
            )
        out = layer.over(out, sigma, opacity)
    return out


def _lying(img: F32, ctx: Ctx, outlines: tuple[np.ndarray, ...], count: int, size: float) -> F32:
    """A few sprites lying flat on the floor near the frame's sides (squashed by perspective)."""
    geo, rng = ctx.geo, ctx.rng
    w, h = geo.w, geo.h
    layer = SpriteLayer((h, w))
    shadow = SpriteLayer((h, w))
    for _ in range(count):
        side = rng.choice([rng.uniform(0.03, 0.3), rng.uniform(0.7, 0.97)])
        y = rng.uniform(geo.horizon + 0.25 * (h - geo.horizon), 0.97 * h)
        depth_scale = (y - geo.eye) / (h - geo.eye)
        col = _pick(ctx)
        outline = outlines[int(rng.integers(len(outlines)))]
        size_px = size * w * depth_scale * rng.uniform(0.8, 1.2)
        angle = rng.uniform(0, 2 * np.pi)
        layer.draw(Sprite(outline, side * w, y, size_px, angle, 0.9, col * 0.95, col, flatten=0.42))
        dark = np.zeros(3, np.float32)
        shadow.draw(Sprite(outline, side * w + 0.003 * w, y + 0.003 * w, size_px, angle, 0.9, dark, dark, 0.42))
    out = img * (1.0 - 0.3 * blur(shadow.alpha.astype(np.float32) / 255.0, 0.004 * w)[..., None])
    return layer.over(out.astype(np.float32), 0.5, 1.0)


def petals(img: F32, ctx: Ctx) -> F32:
    out = _lying(img, ctx, (petal_outline(),), 8, 0.034)
    return _falling(out, ctx, (petal_outline(),), 44, 0.03)


def leaves_front(img: F32, ctx: Ctx) -> F32:
    shapes = (maple_outline(), maple_outline(), oval_leaf_outline())
    out = _lying(img, ctx, shapes, 6, 0.06)
    return _falling(out, ctx, shapes, 14, 0.04)


def snowflakes(img: F32, ctx: Ctx) -> F32:
    """Small crisp flakes falling in front, denser lower down; the top stays quiet."""
    geo, rng = ctx.geo, ctx.rng
    items = [
        Disc(*_scatter(ctx, 0.0, geo.h), rng.uniform(0.0025, 0.0065) * geo.w, ctx.colors[0], rng.uniform(0.5, 0.95))
        for _ in range(int(90 * ctx.spec.density))
    ]
    return screen(img, discs((geo.h, geo.w), items, soft=0.6, rim=0.0))


Painter = Callable[[F32, Ctx], F32]
BACK: dict[str, Painter] = {
    "lanterns": lanterns,
    "bokeh": bokeh,
    "dust": dust,
    "window": window,
    "foliage": foliage,
    "sun": sun,
    "neon": neon,
    "caustics": caustics,
    "arch": arch,
    "gobo": gobo,
    "snow": snow_bokeh,
    "leaves": leaf_bokeh,
}
FRONT: dict[str, Painter] = {"petals": petals, "leaves": leaves_front, "snow": snowflakes}
