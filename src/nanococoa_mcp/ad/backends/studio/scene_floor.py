"""Floor materials in perspective: wood planks, marble, wet asphalt, sand, snow, seamless paper.

Each material is computed in floor coordinates (lateral u, depth d) so its pattern converges toward
the eye level like a real surface, then softened with depth (the far floor is out of focus).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from nanococoa_mcp.ad.backends.studio.scene_colors import SceneColors
from nanococoa_mcp.ad.backends.studio.scene_geometry import Geometry
from nanococoa_mcp.ad.backends.studio.scene_noise import (
    F32,
    TILE,
    blur,
    f32,
    fbm_tile,
    field,
    grid,
    sample,
    smoothstep,
)
from nanococoa_mcp.ad.catalog.styles import FloorSpec


@dataclass(frozen=True, slots=True)
class FloorLayer:
    rgb: F32  # rows y0..h, w, 3
    gloss: F32  # rows y0..h, w: mirror strength per pixel
    y0: int


@dataclass(frozen=True, slots=True)
class _Coords:
    u: F32
    d: F32
    dy: F32  # y - eye, px
    t: F32  # 0 at the seam, 1 at the frame's bottom edge


def _wrap(x: F32) -> F32:
    return np.mod(x, TILE).astype(np.float32)


def _wood(c: _Coords, spec: FloorSpec, geo: Geometry, rng: np.random.Generator) -> tuple[F32, F32]:
    """Tone (multiplier) and seam darkness of a plank floor."""
    tile = fbm_tile(1.6, 1)
    tones = rng.uniform(0.84, 1.12, 64).astype(np.float32)
    offs = rng.uniform(0, TILE, 64).astype(np.float32)
    joints = rng.uniform(0, 1, 64).astype(np.float32)
    front_dy = geo.h - geo.eye
    unit = min(geo.w, geo.h) / front_dy  # floor units per frame-size at the front edge (wide frames: height)
    if spec.planks == "depth":
        pw = spec.plank_width * unit
        p = c.u / pw + np.float32(rng.uniform(0, 1))
        along, along_px = c.d, c.dy * c.dy / geo.focal  # px per floor unit along the plank
        across_px = pw * c.dy
        joint_len = 0.9 * geo.focal / front_dy
    else:
        # Apparent plank height at the front edge = plank_width × frame size × 0.5 (foreshortened).
        pw = spec.plank_width * min(geo.w, geo.h) * 0.5 * geo.focal / (front_dy * front_dy)
        p = c.d / pw + np.float32(rng.uniform(0, 1))
        along, along_px = c.u, c.dy
        across_px = pw * c.dy * c.dy / geo.focal
        joint_len = 2.2 * unit
    pid = np.floor(p).astype(np.int32)
    fr = (p - pid).astype(np.float32)
    k = np.mod(pid, 64)
    seam_px = np.minimum(fr, 1.0 - fr) * across_px
    seam = 1.0 - smoothstep(0.0, 1.1, seam_px - 0.25)
    bevel = 1.0 - smoothstep(0.5, 4.0, seam_px)
    q = along / joint_len + joints[k]
    jfr = q - np.floor(q)
    joint_px = np.minimum(jfr, 1.0 - jfr) * joint_len * along_px
    seam = np.maximum(seam, 1.0 - smoothstep(0.0, 1.1, joint_px - 0.25))
    # Grain: stripes along the plank, wavy from low-frequency noise, plus fine streaks.
    wave = sample(tile, _wrap(fr * 9.0 + offs[k]), _wrap(along * 5.0 + offs[k] * 0.5))
    rings = np.sin((fr * 7.0 + 0.9 * wave) * np.float32(2 * np.pi))
    streak = sample(tile, _wrap(fr * 90.0 + offs[k]), _wrap(along * 2.0 + offs[k]))
    tone = tones[k] * (1.0 + 0.045 * rings + 0.05 * streak) * (1.0 - 0.1 * bevel)
    return tone.astype(np.float32), seam.astype(np.float32)


def _on_floor(tex: F32, c: _Coords, ppu: float) -> F32:
    """Look a floor-space texture up at each pixel's floor coordinates (u centred, d from the front)."""
    th, tw = tex.shape[:2]
    mx = np.clip(c.u * ppu + tw / 2.0, 0, tw - 1).astype(np.float32)
    my = np.clip((c.d - float(c.d.min())) * ppu, 0, th - 1).astype(np.float32)
    return f32(cv2.remap(tex, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))


def _marble(c: _Coords, rng: np.random.Generator) -> tuple[F32, F32]:
    """Tone and vein strength of polished marble: a few flowing veins with a soft halo, faint clouds.

    Veins are drawn in floor space (a texture, so widths are in floor units) and then laid in perspective.
    """
    ppu, span_u, span_d = 120.0, 4.0, 3.6  # texture px per floor unit, floor extent covered
    shape = (int(span_d * ppu), int(span_u * ppu))
    big = field(shape, 0.9 * ppu, rng, beta=4.0)
    small = field(shape, 0.25 * ppu, rng, beta=3.0)
    xs, ys = grid(*shape)
    angle = rng.uniform(0.35, 1.1) * rng.choice([-1.0, 1.0])
    axis = (xs * np.cos(angle) + ys * np.sin(angle)) / ppu
    freq = 1.1
    phase = axis * freq + 0.9 * big + 0.12 * small
    dist = np.abs(np.sin(phase * np.pi)) / (np.pi * freq) * ppu  # ~ texture px to the nearest vein
    phase2 = axis * 2.3 + 0.6 * big + 0.35 * small + 0.4
    dist2 = np.abs(np.sin(phase2 * np.pi)) / (np.pi * 2.3) * ppu
    veins = (1.0 - smoothstep(1.0, 5.0, dist)) * 0.55 + np.exp(-dist / 40.0) * 0.4
    veins = veins + (1.0 - smoothstep(0.6, 2.4, dist2)) * smoothstep(0.0, 0.8, small) * 0.22
    cloud = 1.0 + 0.08 * big + 0.05 * small
    tex = np.stack([np.clip(veins, 0, 1), cloud], axis=2).astype(np.float32)
    out = _on_floor(tex, c, ppu)
    return out[..., 1], out[..., 0]


def _wet(c: _Coords, rng: np.random.Generator) -> tuple[F32, F32]:
    """Tone and puddle mask of wet asphalt."""
    tile = fbm_tile(2.0, 4)
    ou, od = (np.float32(v) for v in rng.uniform(0, TILE, 2))
    puddles = sample(tile, _wrap(c.u * 22.0 + ou), _wrap(c.d * 30.0 + od))
    grit = sample(fbm_tile(0.8, 5), _wrap(c.u * 160.0 + od), _wrap(c.d * 160.0 + ou))
    wet = smoothstep(-0.3, 0.5, puddles)
    tone = (1.0 + 0.18 * grit * (1.0 - wet)) * (1.0 - 0.25 * wet)
    return tone.astype(np.float32), wet.astype(np.float32)


def _sand(c: _Coords, rng: np.random.Generator) -> F32:
    tile = fbm_tile(2.0, 6)
    ou, od = (np.float32(v) for v in rng.uniform(0, TILE, 2))
    low = sample(tile, _wrap(c.u * 12.0 + ou), _wrap(c.d * 12.0 + od))
    ripple = np.sin((c.d * 7.0 + 0.5 * low + 0.15 * c.u) * np.float32(2 * np.pi))
    near = smoothstep(0.0, 1.0, c.t)
    speck = (rng.random(c.u.shape, dtype=np.float32) - 0.5) * (0.05 + 0.09 * near)
    return (1.0 + 0.05 * low + 0.035 * ripple * (0.4 + 0.6 * near) + speck).astype(np.float32)


def _snow(c: _Coords, light_dir: tuple[float, float], rng: np.random.Generator) -> tuple[F32, F32]:
    """Tone of soft snow (lit bumps) and a sparkle mask."""
    tile = fbm_tile(2.4, 7)
    ou, od = (np.float32(v) for v in rng.uniform(0, TILE, 2))
    hgt = sample(tile, _wrap(c.u * 7.0 + ou), _wrap(c.d * 7.0 + od))
    gy, gx = np.gradient(hgt)
    lx, ly = light_dir
    shade = np.clip((gx * lx - gy * ly) * 12.0, -1.0, 1.0)
    sparkle = (rng.random(c.u.shape, dtype=np.float32) > 0.994).astype(np.float32) * (0.4 + 0.6 * c.t)
    return (1.0 + 0.025 * shade + 0.02 * hgt).astype(np.float32), sparkle


def render(
    geo: Geometry,
    spec: FloorSpec,
    colors: SceneColors,
    light_dir: tuple[float, float],
    rng: np.random.Generator,
) -> FloorLayer:
    """The floor from just above the seam (where a cove blends in) to the frame's bottom edge."""
    y0 = max(0, int(geo.horizon - spec.cove * geo.h) - 3)
    u, d, dy = geo.floor_coords(y0)
    ys = np.arange(y0, geo.h, dtype=np.float32)[:, None] + 0.5
    t = np.broadcast_to(np.clip((ys - geo.horizon) / (geo.h - geo.horizon), 0.0, 1.0), u.shape)
    c = _Coords(u=u, d=d, dy=dy, t=t.astype(np.float32))
    ramp = (t**0.8)[..., None]
    base = colors.floor_far + (colors.floor_near - colors.floor_far) * ramp
    gloss = np.full(u.shape, spec.gloss, np.float32)
    detail = colors.detail
    if spec.material == "wood":
        tone, seam = _wood(c, spec, geo, rng)
        rgb = base * tone[..., None]
        rgb = rgb + (detail * 0.9 - rgb) * (0.8 * seam)[..., None]
    elif spec.material == "marble":
        tone, veins = _marble(c, rng)
        rgb = base * tone[..., None]
        rgb = rgb + (detail - rgb) * (0.3 * veins)[..., None]
    elif spec.material == "wet":
        tone, wet = _wet(c, rng)
        rgb = base * tone[..., None]
        gloss = (spec.gloss * (0.35 + 0.65 * wet)).astype(np.float32)
    elif spec.material == "sand":
        rgb = base * _sand(c, rng)[..., None]
    elif spec.material == "snow":
        tone, sparkle = _snow(c, light_dir, rng)
        rgb = base * tone[..., None]
        rgb = rgb + (detail - rgb) * sparkle[..., None]
    else:
        rgb = base
    # Depth of field: the far floor is softer than the front, where the product stands.
    sharp = f32(rgb)
    far = (1.0 - smoothstep(0.0, 0.55, c.t))[..., None]
    soft = sharp + (blur(sharp, 1.6) - sharp) * far
    return FloorLayer(rgb=f32(np.clip(soft, 0.0, 1.0)), gloss=f32(gloss), y0=y0)
