"""Embedded layout analysis: measure the image instead of asking a VLM, emit the same JSON."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from nanococoa_mcp.ad.color import contrast_ratio, dominant_colors, relative_luminance, rgb_to_hex
from nanococoa_mcp.ad.stages.layout import (
    BrightnessMap,
    ColorAnalysis,
    DetectedObject,
    EmptySpace,
    LayoutAnalysis,
    Recommendations,
    region_name,
)

DARK_INK = (26, 26, 26)
LIGHT_INK = (255, 255, 255)
# Where people look first on a feed ad; ties go to copy above the product.
POSITION_PRIOR = {"top": 1.0, "bottom": 0.82, "middle": 0.72}


@dataclass(frozen=True, slots=True)
class _Candidate:
    box: tuple[int, int, int, int]
    kind: str  # above | below | left | right | full


def analyse(
    image: npt.NDArray[np.uint8],
    product_mask: npt.NDArray[np.bool_] | None,
    safe_box: tuple[int, int, int, int] | None,
) -> LayoutAnalysis:
    """The seed's analysis JSON, measured: `product_mask` None means no product (the stage finds one first
    when the caller has no mask)."""
    h, w = image.shape[:2]
    safe = safe_box or (round(0.05 * w), round(0.05 * h), w - round(0.05 * w), h - round(0.05 * h))
    lum = relative_luminance(image)
    grad = _busyness(image)

    objects: list[DetectedObject] = []
    pbox: tuple[int, int, int, int] | None = None
    if product_mask is not None and product_mask.any():
        ys, xs = np.nonzero(product_mask)
        pbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        objects.append(
            DetectedObject(
                type="product",
                location=region_name((pbox[0] + pbox[2]) / 2, (pbox[1] + pbox[3]) / 2, w, h),
                bbox=list(pbox),
                occupancy=round(float(product_mask.mean()), 3),
            )
        )

    margin = round(0.035 * min(w, h))
    spaces = [
        s for c in _candidates(pbox, safe, margin, w, h) if (s := _score(c, lum, grad, product_mask, w, h)) is not None
    ]
    if not spaces:  # a product filling the frame: offer the calmest safe band, a plate will be needed
        band = (safe[0], safe[1], safe[2], safe[1] + max(1, (safe[3] - safe[1]) // 4))
        fallback = _score(_Candidate(band, "full"), lum, grad, None, w, h)
        assert fallback is not None
        spaces = [fallback]
    spaces.sort(key=lambda s: -s.suitability)

    best = spaces[0]
    x0, y0, x1, y1 = best.bbox
    region_lum = lum[y0:y1, x0:x1]
    ink, needed, opacity = _ink_and_plate(region_lum)
    # Headline size scales with the canvas; wide banners are short, so their width counts too.
    font_hi = max(24, min(round(max(0.085 * h, 0.07 * w)), round((y1 - y0) * 0.42), round(0.12 * w)))
    font_lo = max(16, min(font_hi, round(0.032 * h)))
    return LayoutAnalysis(
        objects=objects,
        color_analysis=ColorAnalysis(
            dominant_colors=[rgb_to_hex(c) for c in dominant_colors(image, None, k=3)],
            brightness_map=BrightnessMap(
                top=round(float(lum[: h // 3].mean()), 2),
                middle=round(float(lum[h // 3 : 2 * h // 3].mean()), 2),
                bottom=round(float(lum[2 * h // 3 :].mean()), 2),
            ),
        ),
        empty_spaces=spaces,
        recommendations=Recommendations(
            text_position=best.region,
            text_color=rgb_to_hex(ink),
            background_needed=needed,
            background_opacity=opacity,
            font_size_range=[font_lo, font_hi],
        ),
    )


def _busyness(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Local texture energy (0 = flat), computed at quarter size: copy needs calm ground, not detail."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.GaussianBlur(np.sqrt(gx * gx + gy * gy), (0, 0), 3)
    return np.asarray(cv2.resize(mag, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


def _candidates(
    pbox: tuple[int, int, int, int] | None,
    safe: tuple[int, int, int, int],
    margin: int,
    w: int,
    h: int,
) -> list[_Candidate]:
    sx0, sy0, sx1, sy1 = safe
    if pbox is None:
        third = (sy1 - sy0) // 3
        return [
            _Candidate((sx0, sy0, sx1, sy0 + third), "full"),
            _Candidate((sx0, sy1 - third, sx1, sy1), "full"),
        ]
    px0, py0, px1, py1 = pbox
    out: list[_Candidate] = []
    above = (sx0, sy0, sx1, min(sy1, py0 - margin))
    below = (sx0, max(sy0, py1 + margin), sx1, sy1)
    left = (sx0, max(sy0, py0), min(sx1, px0 - margin), min(sy1, py1))
    right = (max(sx0, px1 + margin), max(sy0, py0), sx1, min(sy1, py1))
    for box, kind in ((above, "above"), (below, "below"), (left, "left"), (right, "right")):
        out.append(_Candidate(box, kind))
    # Side columns that also use the space above the product (an L-shaped area's upright part).
    out.append(_Candidate((sx0, sy0, min(sx1, px0 - margin), min(sy1, py1)), "left"))
    out.append(_Candidate((max(sx0, px1 + margin), sy0, sx1, min(sy1, py1)), "right"))
    return out


def _score(
    c: _Candidate,
    lum: npt.NDArray[np.float64],
    grad: npt.NDArray[np.float32],
    product_mask: npt.NDArray[np.bool_] | None,
    w: int,
    h: int,
) -> EmptySpace | None:
    x0, y0, x1, y1 = c.box
    bw, bh = x1 - x0, y1 - y0
    # Too small to hold a legible headline: under ~9% of the height, or a column under ~34% of the width
    # (Korean headlines in narrower columns end up one word per line).
    if bw < 0.34 * w or bh < 0.09 * h:
        return None
    if product_mask is not None and product_mask[y0:y1, x0:x1].any():
        return None
    region_lum = lum[y0:y1, x0:x1]
    busy = float(grad[y0:y1, x0:x1].mean())
    calm = float(np.clip(1.0 - busy / 28.0, 0.0, 1.0))
    area = float(np.clip(bw * bh / (0.16 * w * h), 0.0, 1.0))
    aspect = float(np.clip((bw / bh) / 2.2, 0.35, 1.0))
    name = region_name((x0 + x1) / 2, (y0 + y1) / 2, w, h)
    prior = POSITION_PRIOR[name.split("-")[0]]
    ink, _, _ = _ink_and_plate(region_lum)
    legible = float(np.clip(_worst_contrast(ink, region_lum) / 7.0, 0.0, 1.0))
    suitability = 0.28 * area + 0.24 * calm + 0.18 * legible + 0.12 * aspect + 0.18 * prior
    tone = "bright" if float(region_lum.mean()) > 0.45 else "dark"
    texture = "calm" if calm > 0.7 else ("moderately textured" if calm > 0.4 else "busy")
    where = {
        "above": "open space above the product",
        "below": "open space below the product",
        "left": "beside the product (left)",
        "right": "beside the product (right)",
        "full": "open band",
    }[c.kind]
    contrast = "high contrast area" if legible > 0.64 else "needs a backing plate for contrast"
    return EmptySpace(
        region=name,
        bbox=[int(x0), int(y0), int(x1), int(y1)],
        suitability=round(float(np.clip(suitability, 0.0, 1.0)), 3),
        reason=f"{tone}, {texture} background; {where}; {contrast}",
    )


def _worst_contrast(ink: tuple[int, int, int], region_lum: npt.NDArray[np.float64]) -> float:
    ink_l = float(relative_luminance(np.array(ink, dtype=np.float64)))
    lo, hi = np.percentile(region_lum, [5, 95])
    return min(contrast_ratio(ink_l, float(lo)), contrast_ratio(ink_l, float(hi)))


def _ink_and_plate(region_lum: npt.NDArray[np.float64]) -> tuple[tuple[int, int, int], bool, float]:
    """Text colour with the better worst-case contrast; whether a plate is needed and how opaque."""
    light = _worst_contrast(LIGHT_INK, region_lum)
    dark = _worst_contrast(DARK_INK, region_lum)
    ink = LIGHT_INK if light >= dark else DARK_INK
    best = max(light, dark)
    if best >= 4.5:
        return ink, False, 0.0
    # Opacity of a plate in the opposite tone that lifts the worst pixel to 4.5:1 (solved numerically).
    plate_l = 0.0 if ink == LIGHT_INK else 1.0
    ink_l = float(relative_luminance(np.array(ink, dtype=np.float64)))
    worst_l = float(np.percentile(region_lum, 95 if ink == LIGHT_INK else 5))
    for opacity in np.linspace(0.3, 0.95, 27):
        mixed = opacity * plate_l + (1 - opacity) * worst_l
        if contrast_ratio(ink_l, mixed) >= 4.5:
            return ink, True, round(float(opacity), 2)
    return ink, True, 0.95
