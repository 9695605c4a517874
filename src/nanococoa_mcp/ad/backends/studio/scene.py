"""The embedded `studio` scene backend: a procedural studio set (wall, perspective floor, light, decor).

Everything is rendered at half size in float (smooth by construction, and a quarter of the work),
then enlarged once and dithered with a fixed grain so gradients never band.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from nanococoa_mcp.ad.backends.studio import scene_colors, scene_floor, scene_geometry
from nanococoa_mcp.ad.backends.studio.scene_colors import SceneColors, Vec3
from nanococoa_mcp.ad.backends.studio.scene_decor import BACK, FRONT, Ctx
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
from nanococoa_mcp.ad.catalog.styles import FloorSpec, LightSpec, PodiumSpec, SceneStyle, WallSpec
from nanococoa_mcp.ad.stages.scene import Light, SceneInput, SceneOutput

WORK_SCALE = 0.5
GRAIN_SIGMA = 1.1  # in 8-bit levels: enough to hide banding, too little to notice


@dataclass(frozen=True, slots=True)
class _Podium:
    stage: tuple[float, float]
    max_width: float
    catcher: F32


def _rng(seed: int, style: SceneStyle) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFFFFFF, zlib.crc32(style.id.encode())])


def _light(spec: LightSpec, rng: np.random.Generator) -> Light:
    az = float(np.clip(spec.azimuth_deg + rng.uniform(-spec.jitter_deg, spec.jitter_deg), 0.0, 180.0))
    el = float(np.clip(spec.elevation_deg + rng.uniform(-5.0, 5.0), 10.0, 85.0))
    soft = float(np.clip(spec.softness + rng.uniform(-0.05, 0.05), 0.0, 1.0))
    color = tuple(int(spec.color[i : i + 2], 16) for i in (1, 3, 5))
    return Light(azimuth_deg=az, elevation_deg=el, color=color, softness=soft)  # type: ignore[arg-type]


def _wall(geo: Geometry, spec: WallSpec, colors: SceneColors, light: Light, rng: np.random.Generator) -> F32:
    """Backdrop gradient, a broad wash from the key light's side, a pool of light behind the stage."""
    w, h = geo.w, geo.h
    xs, ys = grid(h, w)
    t = np.clip(ys / geo.horizon, 0.0, 1.0) ** 0.9
    img = colors.wall_top + (colors.wall_bottom - colors.wall_top) * t[..., None]
    lx, ly = math.cos(math.radians(light.azimuth_deg)), math.sin(math.radians(light.azimuth_deg))
    wash = (xs / w - 0.5) * lx - (ys / h - 0.45) * ly
    img = img * (1.0 + spec.key * 0.9 * wash)[..., None]
    # The light pool behind the stage leans toward the key light; its exact place and size vary per seed.
    hx = geo.stage_x + lx * 0.1 * w + rng.uniform(-0.12, 0.12) * w
    hy = geo.horizon - rng.uniform(0.16, 0.32) * h
    size = rng.uniform(0.85, 1.2)
    pool = np.exp(-(((xs - hx) / (0.42 * w * size)) ** 2 + ((ys - hy) / (0.34 * h * size)) ** 2))
    tint = 0.55 * colors.light + 0.45 * np.clip(colors.wall_bottom * 1.8, 0, 1)
    img = screen(img.astype(np.float32), (pool * spec.halo * 0.75)[..., None] * tint)
    if spec.rim > 0:
        band = np.exp(-(((ys - geo.horizon) / (0.035 * h)) ** 2)) * np.exp(-(((xs - geo.stage_x) / (0.5 * w)) ** 2))
        img = screen(img, (band * spec.rim)[..., None] * colors.light)
    if spec.texture == "plaster":
        grain = 0.006 * field((h, w), 0.012 * w, rng, beta=1.2) + 0.012 * field((h, w), 0.3 * w, rng)
        img = img * (1.0 + grain)[..., None]
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _reflect(wall: F32, floor: scene_floor.FloorLayer, geo: Geometry) -> F32:
    """The wall mirrored in a glossy floor: sharper near the seam, streakier and fainter toward the front."""
    rows = np.arange(floor.y0, geo.h, dtype=np.float32)
    src = np.clip(2.0 * geo.horizon - rows, 0, geo.h - 1).astype(np.int32)
    refl = wall[src]
    t = np.clip((rows - geo.horizon) / (geo.h - geo.horizon), 0.0, 1.0)[:, None, None]
    soft = cv2.GaussianBlur(refl, (0, 0), sigmaX=0.004 * geo.w, sigmaY=0.03 * geo.h)
    refl = refl + (soft - refl) * np.minimum(1.0, 2.5 * t)
    fresnel = 0.25 + 0.75 * (1.0 - t) ** 2
    g = floor.gloss[..., None] * fresnel
    return screen(floor.rgb * (1.0 - 0.35 * g), refl * g)


def _lay_floor(wall: F32, floor: scene_floor.FloorLayer, geo: Geometry, spec: FloorSpec, colors: SceneColors) -> F32:
    """Floor under the wall: the seam (crisp with a little occlusion, or a soft cove), a light pool."""
    fl = _reflect(wall, floor, geo) if spec.gloss > 0 else floor.rgb
    rows = np.arange(floor.y0, geo.h, dtype=np.float32) + 0.5
    xs = np.arange(geo.w, dtype=np.float32)[None, :] + 0.5
    depth = np.clip((rows - geo.horizon) / (geo.h - geo.horizon), 0.0, 1.0)[:, None]
    pool = np.exp(-(((xs - geo.stage_x) / (0.45 * geo.w)) ** 2 + ((depth - 0.55) / 0.5) ** 2))
    # The front edge of the table falls out of the light; less so on white floors, which would turn grey.
    front = 1.0 - 0.14 * depth**2 * (1.0 - 0.6 * float(colors.floor_near.mean()))
    fl = fl * ((1.0 + 0.1 * pool) * front)[..., None]
    if spec.cove > 0:
        m = smoothstep(geo.horizon - spec.cove * geo.h, geo.horizon + 0.15 * spec.cove * geo.h, rows)
        ao = np.ones_like(rows)
    else:
        m = smoothstep(geo.horizon - 0.8, geo.horizon + 0.8, rows)
        ao = 1.0 - 0.16 * np.exp(-np.abs(rows - geo.horizon) / (0.012 * geo.h))
    img = wall.copy()
    m3 = m[:, None, None]
    img[floor.y0 :] = (wall[floor.y0 :] * (1.0 - m3) + fl * m3) * ao[:, None, None]
    above = np.arange(0, floor.y0, dtype=np.float32)
    if spec.cove == 0 and floor.y0 > 0:
        img[: floor.y0] *= (1.0 - 0.1 * np.exp(-(geo.horizon - above) / (0.02 * geo.h)))[:, None, None]
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def _ellipse_dist(xs: F32, ys: F32, cx: float, cy: float, rx: float, ry: float) -> F32:
    """Approximate signed distance in px to an ellipse's edge (positive inside)."""
    dx, dy = (xs - cx) / rx, (ys - cy) / ry
    e = np.sqrt(dx * dx + dy * dy) + 1e-6
    grad = np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2) / e + 1e-6
    return ((1.0 - e) / grad).astype(np.float32)


def _podium(
    img: F32, geo: Geometry, spec: PodiumSpec, color: Vec3, light: Light, rng: np.random.Generator
) -> tuple[F32, _Podium]:
    """A cylinder podium on the floor, lit from the key side, with its own soft shadow."""
    w, h = geo.w, geo.h
    rx = min(spec.width * w / 2, 0.46 * w, 0.4 * h)
    cx = float(np.clip(geo.stage_x, rx + 0.03 * w, w - rx - 0.03 * w))
    ry = 0.19 * rx
    by = min(0.94 * h, h - ry - 0.015 * h)
    ty = by - rng.uniform(0.07, 0.1) * h
    lx = math.cos(math.radians(light.azimuth_deg))
    xs, ys = grid(h, w)
    # Shadow on the floor: tight occlusion at the foot plus a soft throw away from the light.
    foot = smoothstep(-0.04 * rx, 0.12 * rx, _ellipse_dist(xs, ys, cx, by + 0.01 * h, rx * 1.04, ry * 1.35))
    throw = blur_lowres(
        smoothstep(-2.0, 2.0, _ellipse_dist(xs, ys, cx - lx * 0.22 * rx, by + 0.012 * h, rx * 1.1, ry * 1.6)),
        0.05 * w,
    )
    img = f32(img * (1.0 - (0.22 * blur(foot, 0.008 * w) + 0.18 * throw))[..., None])
    # Body: lambert across the cylinder (key from the light's side plus a frontal fill), darker at the foot.
    nx = np.clip((xs - cx) / rx, -1.0, 1.0)
    nz = np.sqrt(1.0 - nx * nx)
    lambert = np.clip(nx * lx * 0.8 + nz * 0.6, 0.0, 1.0)
    bottom = by + ry * nz
    body_d = np.minimum(rx - np.abs(xs - cx), bottom - ys)
    body_a = smoothstep(-0.7, 0.7, body_d) * (ys >= ty)
    foot_dark = 1.0 - 0.1 * smoothstep(ty, bottom + 1.0, ys)
    body = color * ((0.7 + 0.3 * lambert) * foot_dark)[..., None]
    img = img * (1.0 - body_a[..., None]) + body * body_a[..., None]
    # Top face: brighter (it faces the light), with a fine lit rim along its front edge.
    top_d = _ellipse_dist(xs, ys, cx, ty, rx, ry)
    top_a = smoothstep(-0.7, 0.7, top_d)
    depth = np.clip((ys - (ty - ry)) / (2 * ry), 0.0, 1.0)
    rim = np.exp(-((top_d / 1.3) ** 2)) * (ys > ty)
    top = np.clip(color * (1.04 + 0.04 * depth)[..., None] + 0.08 * rim[..., None], 0.0, 1.0)
    img = img * (1.0 - top_a[..., None]) + top * top_a[..., None]
    # The product stands a little in front of the top face's centre: its base then covers the face.
    stage = (cx, ty + 0.3 * ry)
    return img.astype(np.float32), _Podium(stage=stage, max_width=2.2 * rx, catcher=top_a.astype(np.float32))


def _vignette(img: F32, geo: Geometry, strength: float) -> F32:
    xs, ys = grid(geo.h, geo.w)
    r = np.sqrt(((xs - geo.w / 2) / (0.62 * geo.w)) ** 2 + ((ys - 0.5 * geo.h) / (0.62 * geo.h)) ** 2)
    return (img * (1.0 - strength * smoothstep(0.55, 1.25, r))[..., None]).astype(np.float32)


@lru_cache(maxsize=1)
def _grain_tile() -> F32:
    """Film grain plus triangular dither (+0.5 for rounding), in 8-bit levels, 512 px square."""
    rng = np.random.default_rng(7)
    lum = rng.standard_normal((512, 512), dtype=np.float32) * GRAIN_SIGMA
    tpdf = rng.random((512, 512, 3), dtype=np.float32) - rng.random((512, 512, 3), dtype=np.float32)
    return (lum[..., None] + tpdf * 0.8 + 0.5).astype(np.float32)


@lru_cache(maxsize=4)
def _grain(h: int, w: int) -> F32:
    tile = _grain_tile()
    out = np.tile(tile, (-(-h // 512), -(-w // 512), 1))[:h, :w].copy()
    out.setflags(write=False)
    return out


def _finish(img: F32, width: int, height: int) -> np.ndarray:
    big = cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)
    big = cv2.scaleAdd(big, 255.0, _grain(height, width))
    np.clip(big, 0.0, 255.0, out=big)
    return big.astype(np.uint8)


def render(inp: SceneInput) -> SceneOutput:
    style = inp.style
    rng = _rng(inp.seed, style)
    w, h = max(48, round(inp.width * WORK_SCALE)), max(48, round(inp.height * WORK_SCALE))
    sx, sy = inp.width / w, inp.height / h
    colors = scene_colors.resolve(style, inp.palette, rng)
    light = _light(style.light, rng)
    has_podium = style.podium is not None and rng.random() < style.podium.chance
    horizon_frac = style.floor.horizon + rng.uniform(-0.015, 0.015)
    geo = scene_geometry.make(w, h, horizon_frac, inp.anchor_x)
    az = math.radians(light.azimuth_deg)

    def ctx(i: int) -> Ctx:
        d = style.decor[i]
        start = sum(len(x.colors) for x in style.decor[:i])
        return Ctx(geo, d, colors.decor[start : start + len(d.colors)], light.azimuth_deg, rng)

    shown = [rng.random() < d.chance for d in style.decor]
    wall = _wall(geo, style.wall, colors, light, rng)
    for i, d in enumerate(style.decor):
        if d.kind in BACK and shown[i]:
            wall = BACK[d.kind](wall, ctx(i))
    floor = scene_floor.render(geo, style.floor, colors, (math.cos(az), math.sin(az)), rng)
    img = _lay_floor(wall, floor, geo, style.floor, colors)
    stage = (geo.stage_x, geo.stage_y)
    max_width = 0.92 * w
    catcher = None
    if has_podium and style.podium is not None:
        img, pod = _podium(img, geo, style.podium, colors.podium, light, rng)
        stage, max_width = pod.stage, pod.max_width
        catcher = f32(cv2.resize(pod.catcher, (inp.width, inp.height), interpolation=cv2.INTER_LINEAR))
    for i, d in enumerate(style.decor):
        if d.kind in FRONT and shown[i]:
            img = FRONT[d.kind](img, ctx(i))
    img = _vignette(img, geo, style.wall.vignette)
    return SceneOutput(
        image=_finish(img, inp.width, inp.height),
        horizon_y=round(geo.horizon * sy),
        stage=(round(stage[0] * sx), round(stage[1] * sy)),
        stage_max_width=round(max_width * sx),
        light=light,
        surface="glossy" if style.floor.gloss > 0 else "matte",
        style_id=style.id,
        shadow_catcher=catcher,
    )
