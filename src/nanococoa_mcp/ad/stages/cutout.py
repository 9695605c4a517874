"""Cut-out stage: the product photo in, the product alone out (RGBA with a soft matte).

Backends come from the registry: `studio` is the embedded classical one (CPU, no weights), `birefnet` the
BiRefNet model (torch, imported only when it runs). The stage decides what no backend should: a photo that
already carries its own cut-out keeps it, and a backend that cannot run here gives way to the studio one,
with the reason in the output. Hints from whoever can see the photo (a product box, product/background
points) are checked here, so every door gets the same error, and honoured by every backend. A model
backend is called as `cut_out(inp, params, settings)` and raises BackendUnavailable when it cannot run;
the embedded one as `cut_out(inp, params)`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.backends import registry
from nanococoa_mcp.errors import BackendUnavailable, InvalidInput
from nanococoa_mcp.settings import Settings, get_settings

log = logging.getLogger(__name__)

MAX_SIDE = 1600
MIN_SIDE = 16
LOW_CONFIDENCE = 0.6
MIN_BOX = 8        # px: a smaller product box is a slip of the finger, not a product
MAX_POINTS = 64

Box = tuple[int, int, int, int]
PointLabel = Literal["product", "background"]
POINT_LABELS: tuple[str, ...] = get_args(PointLabel)


@dataclass(frozen=True, slots=True)
class Point:
    """A click on the photo (pixels of the image given to the stage): this is product, or this is not."""

    x: int
    y: int
    label: PointLabel = "product"


class NoProductFound(InvalidInput):
    """Nothing in the photo stands apart from its backdrop. The photo is usable: an ad can still show it whole
    (a photo card), so the ad pipeline catches this; the remove_background tool reports it."""


@dataclass(frozen=True, slots=True)
class CutoutInput:
    image: npt.NDArray[np.uint8]   # H×W×4 RGBA straight alpha, 8-bit, EXIF already applied; long side <= 1600
    has_alpha: bool                # the source file carried a meaningful alpha channel (some alpha < 255)
    box: Box | None = None         # x0, y0, x1, y1 (exclusive) around the product, pixels of `image`
    points: tuple[Point, ...] = ()  # touch-up clicks, pixels of `image`

    @property
    def hinted(self) -> bool:
        return self.box is not None or bool(self.points)


class CutoutParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(default="studio", description="Cut-out backend: studio (classical matting) or birefnet.")
    work_side: int = Field(default=400, ge=160, le=800,
                           description="Long side (px) of the copy the object is found on (GrabCut); "
                                       "larger is slower and rarely better.")
    grabcut_iterations: int = Field(default=3, ge=1, le=10, description="GrabCut iterations per run.")
    edge_band: int | None = Field(default=None, ge=2, le=40,
                                  description="Half-width (px, full resolution) of the edge band refined by "
                                              "matting; default: from the work scale.")
    refine_edges: bool = Field(default=True,
                               description="Closed-form matting of the edge band; off gives a hard, "
                                           "slightly feathered edge.")


@dataclass(frozen=True, slots=True)
class CutoutOutput:
    rgba: npt.NDArray[np.uint8]    # H×W×4: RGB = the product's own colour (no backdrop fringe), A = matte
    confidence: float              # 0..1: how likely the cut-out is right (calibrated: see the backends)
    method: str                    # "alpha-channel" | "matting" | "birefnet", + "+box" / "+points" with hints
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) of alpha > 0
    notes: tuple[str, ...]         # human-readable remarks (why the confidence is low, what was done)
    fallback_reason: str | None = None  # why the configured backend's cut-out was not used
    hint_used: bool = False        # a product box or points shaped this cut-out
    evidence: tuple[tuple[str, float], ...] = ()  # the named measurements the confidence was computed from

    @property
    def low_confidence(self) -> bool:
        return self.confidence < LOW_CONFIDENCE


ModelBackend = Callable[[CutoutInput, CutoutParams, Settings], CutoutOutput]
EmbeddedBackend = Callable[[CutoutInput, CutoutParams], CutoutOutput]


def run(inp: CutoutInput, params: CutoutParams | None = None, settings: Settings | None = None) -> CutoutOutput:
    """Cut the product out of the photo: the photo's own alpha when it has one, else the configured
    backend's cut-out, else (that backend cannot run here) the studio one with the reason.

    Raises InvalidInput for an unknown backend, an image that is not 8-bit RGBA of a workable size,
    a box or points that do not fit the photo (check_hints), or a photo in which no product can be told
    apart from the backdrop.
    """
    params = params or CutoutParams()
    spec = registry.get("cutout", params.backend)
    check_image(inp.image)
    check_hints(inp)
    if inp.has_alpha:
        out = from_alpha(inp.image)
        if inp.hinted:
            out = dataclasses.replace(out, notes=(*out.notes, "the photo carries its own cut-out: the hints were "
                                                             "not needed"))
        return out
    reason = None
    if not spec.embedded:
        settings = settings or get_settings()
        try:
            registry.require(spec, settings)
            backend: ModelBackend = registry.load(spec)
            return backend(inp, params, settings)
        except BackendUnavailable as exc:
            reason = registry.fallback_reason(spec, exc)
            log.warning("the cut-out fell back to the studio backend: %s", reason)
    studio: EmbeddedBackend = registry.load(registry.embedded("cutout"))
    out = studio(inp, params)
    return dataclasses.replace(out, fallback_reason=reason)


def from_alpha(image: npt.NDArray[np.uint8]) -> CutoutOutput:
    """The photo's own cut-out: its matte kept, only the colour of fully transparent pixels cleared.
    Raises InvalidInput when the alpha keeps nothing."""
    alpha = image[..., 3]
    bbox = alpha_bbox(alpha)
    rgba = image.copy()
    rgba[alpha == 0, :3] = 0
    covered = float(np.count_nonzero(alpha)) / alpha.size
    if covered > 0.98:
        return CutoutOutput(rgba=rgba, confidence=0.5, method="alpha-channel", bbox=bbox, notes=(
            "the photo's alpha channel keeps almost the whole frame: check it really is a cut-out",))
    if covered < 0.002:
        return CutoutOutput(rgba=rgba, confidence=0.4, method="alpha-channel", bbox=bbox,
                            notes=("the photo's alpha channel keeps only a few pixels",))
    return CutoutOutput(rgba=rgba, confidence=1.0, method="alpha-channel", bbox=bbox, notes=())


def check_hints(inp: CutoutInput) -> None:
    """Raises InvalidInput (field product_box or product_points) for a box outside the photo, inverted, or
    under MIN_BOX px on a side; a point outside the photo (or a product point outside the box), an
    unknown label, or more than MAX_POINTS points."""
    h, w = inp.image.shape[:2]
    check_hints_for(inp.box, inp.points, w, h)


def check_hints_for(box: Box | None, points: Sequence[Point], w: int, h: int) -> None:
    """check_hints for a photo of w × h px, without the photo."""
    if box is not None:
        x0, y0, x1, y1 = box
        accepted = f"[x0, y0, x1, y1] with 0 <= x0 < x1 <= {w}, 0 <= y0 < y1 <= {h}, at least {MIN_BOX} px a side"
        if x1 < x0 or y1 < y0:
            raise InvalidInput(f"the product box {list(box)} is inverted: x1 must exceed x0 and y1 exceed y0",
                               field="product_box", accepted=accepted)
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise InvalidInput(f"the product box {list(box)} reaches outside the {w}×{h} px photo",
                               field="product_box", accepted=accepted)
        if x1 - x0 < MIN_BOX or y1 - y0 < MIN_BOX:
            raise InvalidInput(f"the product box {list(box)} is {x1 - x0}×{y1 - y0} px: too small to hold a "
                               "product", field="product_box", accepted=accepted)
    if len(points) > MAX_POINTS:
        raise InvalidInput(f"{len(points)} points given; at most {MAX_POINTS}", field="product_points",
                           accepted=f"up to {MAX_POINTS} points")
    for i, p in enumerate(points):
        if p.label not in POINT_LABELS:
            raise InvalidInput(f"point {i} has label {p.label!r}", field=f"product_points[{i}].label",
                               accepted=" or ".join(POINT_LABELS))
        if not (0 <= p.x < w and 0 <= p.y < h):
            raise InvalidInput(f"point {i} ({p.x}, {p.y}) lies outside the {w}×{h} px photo",
                               field=f"product_points[{i}]", accepted=f"0 <= x < {w}, 0 <= y < {h}")
        if box is not None and p.label == "product" and not (box[0] <= p.x < box[2] and box[1] <= p.y < box[3]):
            raise InvalidInput(f"product point {i} ({p.x}, {p.y}) lies outside the product box {list(box)}",
                               field=f"product_points[{i}]", accepted="product points inside product_box")


def box_from_request(values: Sequence[float], width: int, height: int) -> Box:
    """A door's `product_box` in pixels of the photo as stored (width × height): four numbers x0, y0, x1, y1,
    read as fractions of the width and height when all four are <= 1. Raises InvalidInput (product_box) when
    it is not four finite numbers, then as check_hints would."""
    if len(values) != 4 or not all(np.isfinite(v) for v in values):
        raise InvalidInput(f"the product box must be four numbers [x0, y0, x1, y1], got {list(values)}",
                           field="product_box", accepted="[x0, y0, x1, y1] in pixels, or as fractions 0..1")
    if all(v <= 1 for v in values):
        box = (round(values[0] * width), round(values[1] * height), round(values[2] * width),
               round(values[3] * height))
    else:
        box = (round(values[0]), round(values[1]), round(values[2]), round(values[3]))
    check_hints_for(box, (), width, height)
    return box


def scale_hints(inp: CutoutInput, image: npt.NDArray[np.uint8]) -> CutoutInput:
    """`inp`'s hints carried over to `image`, the same photo at another size (the pipeline's working copy)."""
    sy, sx = image.shape[0] / inp.image.shape[0], image.shape[1] / inp.image.shape[1]
    h, w = image.shape[:2]
    box = None
    if inp.box is not None:
        x0, y0, x1, y1 = inp.box
        bx0, bx1 = _at_least(math.floor(x0 * sx), min(w, math.ceil(x1 * sx)), w)
        by0, by1 = _at_least(math.floor(y0 * sy), min(h, math.ceil(y1 * sy)), h)
        box = (bx0, by0, bx1, by1)
    points = tuple(Point(min(w - 1, int(p.x * sx)), min(h - 1, int(p.y * sy)), p.label) for p in inp.points)
    return CutoutInput(image=image, has_alpha=inp.has_alpha, box=box, points=points)


def _at_least(lo: int, hi: int, size: int) -> tuple[int, int]:
    """[lo, hi) widened to MIN_BOX within [0, size): a box the door accepted on a larger photo stays one the
    stage accepts on its smaller working copy."""
    grow = max(0, MIN_BOX - (hi - lo))
    lo = max(0, lo - grow // 2)
    hi = min(size, max(hi, lo + MIN_BOX))
    return max(0, min(lo, hi - MIN_BOX)), hi


def check_image(image: npt.NDArray[np.uint8]) -> None:
    """Raises InvalidInput unless `image` is H×W×4 uint8 with MIN_SIDE <= sides and long side <= MAX_SIDE."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 4:
        raise InvalidInput(f"the cut-out needs an 8-bit RGBA image, got {image.dtype} {image.shape}",
                           field="product_image")
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE or max(h, w) > MAX_SIDE:
        raise InvalidInput(f"the product photo is {w}×{h} px; the cut-out works on {MIN_SIDE}..{MAX_SIDE} px "
                           "per side (resize it first)", field="product_image")


def alpha_bbox(alpha: npt.NDArray[np.uint8]) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (exclusive) of the pixels with alpha > 0; raises InvalidInput when there are none."""
    rows = np.flatnonzero(alpha.any(axis=1))
    cols = np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        raise InvalidInput("no product found in the photo: nothing stands apart from the backdrop",
                           field="product_image")
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
