"""Cut-out stage: the product photo in, the product alone out (RGBA with a soft matte).

Backends come from the registry: `studio` is the embedded classical one (CPU, no weights), `birefnet` the
BiRefNet model (torch, imported only when it runs). The stage decides what no backend should: a photo that
already carries its own cut-out keeps it, and a backend that cannot run here gives way to the studio one,
with the reason in the output. A model backend is called as `cut_out(inp, params, settings)` and raises
BackendUnavailable when it cannot run; the embedded one as `cut_out(inp, params)`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

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


class NoProductFound(InvalidInput):
    """Nothing in the photo stands apart from its backdrop. The photo is usable: an ad can still show it whole
    (a photo card), so the ad pipeline catches this; the remove_background tool reports it."""


@dataclass(frozen=True, slots=True)
class CutoutInput:
    image: npt.NDArray[np.uint8]   # H×W×4 RGBA straight alpha, 8-bit, EXIF already applied; long side <= 1600
    has_alpha: bool                # the source file carried a meaningful alpha channel (some alpha < 255)


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
    confidence: float              # 0..1; low when the backdrop is busy or the product ambiguous
    method: str                    # "alpha-channel" | "matting" | "birefnet"
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) of alpha > 0
    notes: tuple[str, ...]         # human-readable remarks
    fallback_reason: str | None = None  # why the configured backend's cut-out was not used

    @property
    def low_confidence(self) -> bool:
        return self.confidence < LOW_CONFIDENCE


ModelBackend = Callable[[CutoutInput, CutoutParams, Settings], CutoutOutput]
EmbeddedBackend = Callable[[CutoutInput, CutoutParams], CutoutOutput]


def run(inp: CutoutInput, params: CutoutParams | None = None, settings: Settings | None = None) -> CutoutOutput:
    """Cut the product out of the photo: the photo's own alpha when it has one, else the configured
    backend's cut-out, else (that backend cannot run here) the studio one with the reason.

    Raises InvalidInput for an unknown backend, an image that is not 8-bit RGBA of a workable size,
    or a photo in which no product can be told apart from the backdrop.
    """
    params = params or CutoutParams()
    spec = registry.get("cutout", params.backend)
    check_image(inp.image)
    if inp.has_alpha:
        return from_alpha(inp.image)
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
    return dataclasses.replace(studio(inp, params), fallback_reason=reason)


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
