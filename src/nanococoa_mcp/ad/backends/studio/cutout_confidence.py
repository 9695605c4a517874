"""How far to trust the studio cut-out: measurements that disagree when the cut-out is wrong, combined
into a calibrated confidence.

The measurements (`evidence`) are named numbers, reported with the cut-out; `assess` turns them into a
probability-like confidence with a logistic model fitted on the exact-alpha set (see CALIBRATION).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from nanococoa_mcp.ad.backends.studio.cutout_backdrop import BUSY_SPREAD, T_MAYBE
from nanococoa_mcp.ad.backends.studio.cutout_find import Found

BoolArray = npt.NDArray[np.bool_]
U8 = npt.NDArray[np.uint8]

EDGE_STEP = 24.0    # colour step (0..255 units) across the outline that counts as a real edge
MAX_CONFIDENCE = 0.95  # a classical cut-out is never certain


@dataclass(frozen=True, slots=True)
class Assessment:
    confidence: float
    notes: tuple[str, ...]
    evidence: tuple[tuple[str, float], ...]


def assess(found: Found, small: U8, hinted: bool) -> Assessment:
    """The confidence in `found.mask`, why it is low, and the measurements it rests on."""
    evidence = measure(found, small, hinted)
    values = dict(evidence)
    factors: list[tuple[float, str]] = []
    if values["busy"]:
        factors.append((float(np.clip(0.55 - (values["spread"] - BUSY_SPREAD) / 100.0, 0.3, 0.55)),
                        "busy background: check the cut-out"))
    else:
        factors.append((float(np.clip(1.0 - (values["spread"] - 5.0) / 10.0, 0.55, 1.0)),
                        "uneven background: check the cut-out"))
    if values["patterned"]:
        factors.append((0.75, "patterned background: check the cut-out"))
    factors.append((min(1.0, 0.3 + values["edge_support"]),
                    "part of the outline crosses smooth surface: check the cut-out's edge"))
    factors.append((min(1.0, 0.5 + values["stands_out"]), "the product's colours are close to the backdrop's"))
    factors.append((min(1.0, 0.4 + values["agree_colour"]),
                    "colour and edge evidence disagree about the product's outline"))
    factors.append(((1.0, 1.0, 0.85, 0.6, 0.4)[int(values["frame_sides"])],
                    "the product touches most of the frame: the backdrop may have been kept"))
    factors.append((0.4 if values["area"] < 0.005 or values["area"] > 0.85 else 1.0,
                    "the product is unusually small or large in the frame"))
    confidence = min(MAX_CONFIDENCE, float(np.prod([f for f, _ in factors])))
    notes = tuple(note for f, note in factors if f < 0.8)
    return Assessment(round(confidence, 3), notes, evidence)


def measure(found: Found, small: U8, hinted: bool) -> tuple[tuple[str, float], ...]:
    """The named measurements of one cut-out (on the working copy)."""
    mask, backdrop = found.mask, found.backdrop
    area = max(1, int(np.count_nonzero(mask)))
    stands = int(np.count_nonzero(mask & (found.dist > T_MAYBE))) / area
    sides = sum(int(np.count_nonzero(line) > 0.05 * line.size)
                for line in (mask[0], mask[-1], mask[:, 0], mask[:, -1]))
    outline = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    near_crisp = cv2.dilate(found.edges.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    crisp = float(np.mean(near_crisp[outline])) if outline.any() else 0.0
    return (
        ("busy", float(backdrop.busy)),
        ("patterned", float(backdrop.patterned)),
        ("spread", round(backdrop.spread, 3)),
        ("edge_support", round(edge_support(small, mask), 3)),
        ("crisp_outline", round(crisp, 3)),
        ("stands_out", round(stands, 3)),
        ("agree_colour", round(_iou(mask, found.colour), 3)),
        ("agree_outline", round(_iou(mask, found.outline), 3)),
        ("frame_sides", float(sides)),
        ("area", round(float(np.count_nonzero(mask)) / mask.size, 4)),
        ("solidity", round(_solidity(mask), 3)),
        ("parts", float(_parts(mask))),
        ("rivals", round(min(found.rivals, 5.0), 3)),
        ("hinted", float(hinted)),
    )


def _iou(a: BoolArray, b: BoolArray) -> float:
    union = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / union if union else 0.0


def _solidity(mask: BoolArray) -> float:
    """The mask's area over its convex hull's."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    if points is None:
        return 0.0
    hull = cv2.convexHull(points)
    return float(np.count_nonzero(mask)) / max(1.0, float(cv2.contourArea(hull)))


def _parts(mask: BoolArray) -> int:
    """Disjoint parts of the mask of at least 1 % of its area."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return int(np.count_nonzero(stats[1:, cv2.CC_STAT_AREA] >= 0.01 * max(1, int(mask.sum()))))


def edge_support(small: U8, mask: BoolArray) -> float:
    """Share of the mask's outline where the colour steps clearly between inside and outside (mean
    colours over 7×7 on each side, so texture averages out). An outline running through smooth
    surface (the shaded side of a fruit) is a guess there."""
    m = mask.astype(np.float32)
    img = small.astype(np.float32)
    w_in = cv2.boxFilter(m, -1, (7, 7))
    c_in = cv2.boxFilter(img * m[..., None], -1, (7, 7))
    c_out = cv2.boxFilter(img * (1.0 - m)[..., None], -1, (7, 7))
    outline = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    outline &= (w_in > 0.2) & (w_in < 0.8)
    if not outline.any():
        return 0.0
    wi = w_in[outline][:, None]
    step = np.linalg.norm(c_in[outline] / wi - c_out[outline] / (1.0 - wi), axis=1)
    return float(np.mean(step > EDGE_STEP))

