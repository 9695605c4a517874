"""The embedded cut-out: the product found on a small copy (cutout_find), matted at full resolution.

With a product box only the box and a margin around it are looked at (the margin is backdrop), at a
finer scale when the box is small; product and background points seed the search. The edge of the
mask is then re-solved by closed-form matting on a narrow band at full resolution, and its colour
estimated without the backdrop's fringe. The confidence comes from cutout_confidence.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from nanococoa_mcp.ad.backends.studio.cutout_confidence import assess
from nanococoa_mcp.ad.backends.studio.cutout_find import Hints, find_object
from nanococoa_mcp.ad.matting import band_matte, estimate_foreground
from nanococoa_mcp.ad.stages.cutout import CutoutInput, CutoutOutput, CutoutParams, alpha_bbox
from nanococoa_mcp.jobs.cancel import checkpoint

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
U8 = npt.NDArray[np.uint8]
View = tuple[int, int, int, int]  # x0, y0, x1, y1 of the part of the photo looked at

MAX_BAND = 250_000  # most edge-band pixels worth matting (about a second)
BOX_MARGIN = 0.15   # the margin around a product box looked at as backdrop, share of the box's long side
SHARP = 1.5         # the copy edges are found on is this much larger than the working copy


def cut_out(inp: CutoutInput, params: CutoutParams) -> CutoutOutput:
    """The product found against its backdrop and matted at the edge (a photo's own alpha is kept by the
    stage, before any backend), within the box and by the points when there are. Raises InvalidInput
    when no product can be found and no box says where it is."""
    # One BLAS thread, as in ad/matting.py: GrabCut's energy (cutout_find._energy) multiplies thousands of
    # pixels by 3×3 matrices, too little for BLAS threads, whose spin-waiting costs on a busy machine.
    with threadpool_limits(limits=1, user_api="blas"):
        return _cut_out(inp, params)


def _cut_out(inp: CutoutInput, params: CutoutParams) -> CutoutOutput:
    rgb = np.ascontiguousarray(inp.image[..., :3])
    h, w = rgb.shape[:2]
    view = _view((h, w), inp.box)
    crop = np.ascontiguousarray(rgb[view[1]:view[3], view[0]:view[2]])
    ch, cw = crop.shape[:2]
    scale = min(1.0, params.work_side / max(ch, cw))
    small = _resized(crop, scale)
    sharp = _resized(crop, min(1.0, SHARP * scale))
    hints = _hints(inp, view, small.shape[1] / cw, small.shape[0] / ch)
    found = find_object(small, sharp, hints, params.grabcut_iterations)
    checkpoint()  # the mask is found; matting the edge band is the other long part
    factor = max(ch, cw) / max(small.shape[:2])
    radius = params.edge_band or math.ceil(factor / 2) + 3  # the small mask's error, plus the edge's blur
    alpha = _refine_edges(crop, found.mask, factor, radius, params.refine_edges)
    if inp.box is not None:
        alpha *= _inside(inp.box, view, alpha.shape)
    a8 = np.zeros((h, w), np.uint8)
    a8[view[1]:view[3], view[0]:view[2]] = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    a8[a8 < 4] = 0  # faint haze out in the band is noise, not product
    a8[a8 > 251] = 255
    rgba = np.dstack([rgb, a8])
    rgba[a8 == 0, :3] = 0
    edge = (a8 > 0) & (a8 < 255)
    checkpoint()
    colour = estimate_foreground(rgb, a8.astype(np.float32) / 255.0, edge, radius)
    rgba[edge, :3] = np.round(colour).astype(np.uint8)
    assessment = assess(found, small)
    method = "matting" + ("+box" if inp.box is not None else "") + ("+points" if inp.points else "")
    return CutoutOutput(rgba=rgba, confidence=assessment.confidence, method=method, bbox=alpha_bbox(a8),
                        notes=assessment.notes, hint_used=inp.hinted, evidence=assessment.evidence)


def _view(shape: tuple[int, int], box: tuple[int, int, int, int] | None) -> View:
    """The whole photo, or the box and a margin around it (the margin shows the backdrop)."""
    h, w = shape
    if box is None:
        return 0, 0, w, h
    x0, y0, x1, y1 = box
    m = max(8, round(BOX_MARGIN * max(x1 - x0, y1 - y0)))
    return max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)


def _resized(img: U8, scale: float) -> U8:
    if scale >= 1.0:
        return img
    h, w = img.shape[:2]
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA), np.uint8)


def _hints(inp: CutoutInput, view: View, sx: float, sy: float) -> Hints:
    """The hints on the working copy's pixels."""
    def at(x: float, y: float) -> tuple[int, int]:
        return int((x - view[0]) * sx), int((y - view[1]) * sy)

    box = None
    if inp.box is not None:
        x0, y0 = at(inp.box[0], inp.box[1])
        x1, y1 = (math.ceil((inp.box[2] - view[0]) * sx), math.ceil((inp.box[3] - view[1]) * sy))
        box = (x0, y0, max(x0 + 1, x1), max(y0 + 1, y1))
    seen = [p for p in inp.points if view[0] <= p.x < view[2] and view[1] <= p.y < view[3]]  # beyond: backdrop
    w, h = round((view[2] - view[0]) * sx), round((view[3] - view[1]) * sy)

    def clamp(xy: tuple[int, int]) -> tuple[int, int]:
        return min(max(0, xy[0]), w - 1), min(max(0, xy[1]), h - 1)

    product = tuple(clamp(at(p.x, p.y)) for p in seen if p.label == "product")
    background = tuple(clamp(at(p.x, p.y)) for p in seen if p.label == "background")
    return Hints(box=box, product=product, background=background)


def _inside(box: tuple[int, int, int, int], view: View, shape: tuple[int, ...]) -> FloatArray:
    """1 within the box and 2 px around it (the product's own soft edge), 0 beyond."""
    inside = np.zeros(shape[:2], np.float32)
    x0, y0, x1, y1 = box[0] - view[0], box[1] - view[1], box[2] - view[0], box[3] - view[1]
    inside[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] = 1.0
    return inside


def _refine_edges(rgb: U8, mask: BoolArray, factor: float, radius: int, matting: bool) -> FloatArray:
    """Full-resolution alpha: the small mask scaled up, its edge band re-solved by closed-form matting."""
    h, w = rgb.shape[:2]
    hard = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    prior = np.asarray(cv2.GaussianBlur(hard.astype(np.float32), (0, 0), max(0.7, factor / 2)), np.float32)
    if not matting:
        return prior
    depth = cv2.distanceTransform(hard.astype(np.uint8), cv2.DIST_L2, 3)
    # Known product: deeper than the band, plus the centre line of parts thinner than the band (a
    # stem, a strap) so that matting has something to hold on to there.
    centre = (depth >= factor + 1.0) & (depth >= cv2.dilate(depth, np.ones((3, 3), np.uint8)))
    inner = (depth > radius) | centre
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    unknown = cv2.dilate(hard.astype(np.uint8), kernel).astype(bool) & ~inner
    if np.count_nonzero(unknown) > MAX_BAND:
        return prior  # a ragged outline on a busy backdrop: matting would cost seconds for little gain
    return band_matte(rgb, inner, unknown, prior)
