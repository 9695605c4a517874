"""A scene's colours: the style's own, re-hued toward the product where the style's palette rule allows.

Hue work is done in Oklab so a re-hued colour keeps its perceived lightness (yellow and blue at the
"same" HSL lightness look nothing alike; in Oklab they do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nanococoa_mcp.ad.catalog.styles import SceneStyle

F64 = npt.NDArray[np.float64]
Vec3 = npt.NDArray[np.float32]

_M1 = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_M2 = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
_M2_INV = np.linalg.inv(_M2)
_M1_INV = np.linalg.inv(_M1)

NEUTRAL_CHROMA = 0.035  # below this a product colour has no hue worth following


def hex01(value: str) -> Vec3:
    v = value.lstrip("#")
    return np.array([int(v[i : i + 2], 16) / 255.0 for i in (0, 2, 4)], dtype=np.float32)


def to_rgb255(c: Vec3) -> tuple[int, int, int]:
    r, g, b = (round(float(x) * 255.0) for x in np.clip(c, 0.0, 1.0))
    return r, g, b


def srgb_to_oklab(rgb: F64) -> F64:
    c = np.asarray(rgb, dtype=np.float64)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return np.cbrt(lin @ _M1.T) @ _M2.T


def oklab_to_srgb(lab: F64) -> F64:
    lms = (np.asarray(lab, dtype=np.float64) @ _M2_INV.T) ** 3
    lin = lms @ _M1_INV.T
    lin = np.clip(lin, 0.0, None)
    return np.clip(np.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055), 0.0, 1.0)


def product_hue(palette: tuple[tuple[int, int, int], ...]) -> float | None:
    """The product's leading hue (radians, Oklab) weighted by rank and chroma; None for a neutral product."""
    lab = srgb_to_oklab(np.array(palette, dtype=np.float64) / 255.0)
    weights = np.array([1.0 / (i + 1) for i in range(len(palette))])
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    w = weights * np.clip((chroma - NEUTRAL_CHROMA) / 0.05, 0.0, 1.0)
    if w.sum() < 0.25:
        return None
    a = float((w * lab[:, 1] / np.maximum(chroma, 1e-6)).sum())
    b = float((w * lab[:, 2] / np.maximum(chroma, 1e-6)).sum())
    return math.atan2(b, a)


def rehue(color: Vec3, hue: float, strength: float, min_chroma: float, lighten: float = 0.0) -> Vec3:
    """Move a colour's hue toward `hue` by `strength`, keeping its Oklab lightness (plus `lighten`),
    then fit the gamut."""
    lab = srgb_to_oklab(color.astype(np.float64))
    lab[0] = np.clip(lab[0] + lighten, 0.0, 1.0)
    chroma = max(float(np.hypot(lab[1], lab[2])), min_chroma)
    target = np.array([chroma * math.cos(hue), chroma * math.sin(hue)])
    ab = (1.0 - strength) * lab[1:] + strength * target
    for _ in range(12):  # pull chroma in until the colour is displayable
        out = np.concatenate([[lab[0]], ab])
        lms = (out @ _M2_INV.T) ** 3
        lin = lms @ _M1_INV.T
        if lin.min() >= -1e-4 and lin.max() <= 1.0001:
            break
        ab = ab * 0.85
    return oklab_to_srgb(np.concatenate([[lab[0]], ab])).astype(np.float32)


@dataclass(frozen=True, slots=True)
class SceneColors:
    wall_top: Vec3
    wall_bottom: Vec3
    floor_near: Vec3
    floor_far: Vec3
    detail: Vec3
    podium: Vec3
    decor: tuple[Vec3, ...]
    light: Vec3


def resolve(style: SceneStyle, palette: tuple[tuple[int, int, int], ...], rng: np.random.Generator) -> SceneColors:
    """The style's colours for this product: harmonious styles follow its hue, complementary ones oppose it."""
    rule = style.palette
    hue = product_hue(palette) if rule.mode != "fixed" else None
    podium = hex01(style.podium.color) if style.podium else np.ones(3, np.float32)
    decor = tuple(hex01(c) for d in style.decor for c in d.colors)
    colors = {
        "wall_top": hex01(style.wall.top),
        "wall_bottom": hex01(style.wall.bottom),
        "floor_near": hex01(style.floor.near),
        "floor_far": hex01(style.floor.far),
    }
    if hue is not None and rule.strength > 0:
        if rule.mode == "complementary":
            target = hue + math.pi + rng.uniform(-0.25, 0.25)
        else:  # analogous: the product's own hue or a neighbour, picked per seed
            target = hue + float(rng.choice([0.0, 0.45, -0.45]))
        min_chroma = rule.chroma
        if "wall" in rule.targets:
            colors["wall_top"] = rehue(colors["wall_top"], target, rule.strength, min_chroma)
            colors["wall_bottom"] = rehue(colors["wall_bottom"], target + 0.35, rule.strength, min_chroma)
        if "floor" in rule.targets:
            colors["floor_near"] = rehue(colors["floor_near"], target, rule.strength, min_chroma * 0.8)
            colors["floor_far"] = rehue(colors["floor_far"], target, rule.strength, min_chroma * 0.8)
        if "podium" in rule.targets:
            podium = rehue(podium, target + 0.15, min(1.0, rule.strength + 0.1), min_chroma * 0.6)
        if "decor" in rule.targets:
            decor = tuple(rehue(c, target + 0.12, rule.strength, min_chroma * 1.5, -0.04) for c in decor)
    return SceneColors(
        wall_top=colors["wall_top"],
        wall_bottom=colors["wall_bottom"],
        floor_near=colors["floor_near"],
        floor_far=colors["floor_far"],
        detail=hex01(style.floor.detail),
        podium=podium,
        decor=decor,
        light=hex01(style.light.color),
    )
