"""Layout analysis stage: where the product is, how bright the image is, where copy can go.

Its output has exactly the JSON shape of the seed's Qwen2-VL analysis (objects, color_analysis,
empty_spaces, recommendations), so a VLM backend can replace the embedded one. A model backend is called as
`analyse(inp, settings)` and raises BackendUnavailable when it cannot give a usable analysis; the stage then
runs the embedded one, `analyse(image, product_mask, safe_box)`, and says why. Where the caller has no
product mask, the stage finds the product with the cut-out stage before the embedded analysis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nanococoa_mcp.ad.backends import registry
from nanococoa_mcp.ad.images import fit_long_side
from nanococoa_mcp.ad.stages import cutout
from nanococoa_mcp.errors import BackendUnavailable, InvalidInput
from nanococoa_mcp.settings import Settings, get_settings

log = logging.getLogger(__name__)

RegionName = Literal[
    "top-left",
    "top-center",
    "top-right",
    "middle-left",
    "middle-center",
    "middle-right",
    "bottom-left",
    "bottom-center",
    "bottom-right",
]
REGION_NAMES: tuple[str, ...] = RegionName.__args__  # type: ignore[attr-defined]


def _check_bbox(v: list[int]) -> list[int]:
    if len(v) != 4 or v[0] < 0 or v[1] < 0 or v[2] <= v[0] or v[3] <= v[1]:
        raise ValueError("bbox must be [x0, y0, x1, y1] with 0 <= x0 < x1 and 0 <= y0 < y1")
    return v


class DetectedObject(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    type: str = Field(description="What the object is; the studio backend reports 'product'.")
    location: RegionName
    bbox: list[int] = Field(description="[x0, y0, x1, y1] in pixels of the analysed image.")
    occupancy: float = Field(alias="점유율", ge=0, le=1, description="Share of the image the object covers.")

    _bbox = field_validator("bbox")(_check_bbox)


class BrightnessMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top: float = Field(ge=0, le=1)
    middle: float = Field(ge=0, le=1)
    bottom: float = Field(ge=0, le=1)


class ColorAnalysis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dominant_colors: list[str] = Field(min_length=1, description="Hex colours, most common first.")
    brightness_map: BrightnessMap

    @field_validator("dominant_colors")
    @classmethod
    def _hex(cls, v: list[str]) -> list[str]:
        for c in v:
            if len(c) != 7 or c[0] != "#" or any(ch not in "0123456789abcdefABCDEF" for ch in c[1:]):
                raise ValueError(f"{c!r} is not a #RRGGBB colour")
        return v


class EmptySpace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: RegionName
    bbox: list[int]
    suitability: float = Field(ge=0, le=1)
    reason: str

    _bbox = field_validator("bbox")(_check_bbox)


class Recommendations(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text_position: RegionName
    text_color: str
    background_needed: bool
    background_opacity: float = Field(ge=0, le=1)
    font_size_range: list[int] = Field(min_length=2, max_length=2)

    @model_validator(mode="after")
    def _range(self) -> Recommendations:
        lo, hi = self.font_size_range
        if not 0 < lo <= hi:
            raise ValueError("font_size_range must be [min, max] with 0 < min <= max")
        return self


class LayoutAnalysis(BaseModel):
    """The seed's analysis JSON. `empty_spaces` is sorted best first."""

    model_config = ConfigDict(extra="forbid")

    objects: list[DetectedObject]
    color_analysis: ColorAnalysis
    empty_spaces: list[EmptySpace] = Field(min_length=1)
    recommendations: Recommendations

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True, slots=True)
class LayoutInput:
    image: npt.NDArray[np.uint8]  # H×W×3
    product_mask: npt.NDArray[np.bool_] | None  # H×W; None: not known (the stage or the model finds it)
    safe_box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 where copy may go


class LayoutParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = "studio"


@dataclass(frozen=True, slots=True)
class LayoutOutput:
    analysis: LayoutAnalysis
    backend: str  # the backend whose analysis this is: "studio" when a model backend fell back
    fallback_reason: str | None = None  # why the requested backend's analysis was not used
    notes: tuple[str, ...] = ()  # anything else worth a line in the job's report


ModelBackend = Callable[[LayoutInput, Settings], LayoutOutput]
EmbeddedBackend = Callable[
    [npt.NDArray[np.uint8], npt.NDArray[np.bool_] | None, tuple[int, int, int, int] | None], LayoutAnalysis
]


def run(inp: LayoutInput, params: LayoutParams | None = None, settings: Settings | None = None) -> LayoutOutput:
    """Analyse an image for copy placement. Raises InvalidInput for an unknown backend or an image that is
    not RGB. A model backend that cannot give a usable analysis gives way to the studio one, with the
    reason in `fallback_reason`."""
    params = params or LayoutParams()
    spec = registry.get("layout", params.backend)
    if inp.image.ndim != 3 or inp.image.shape[2] != 3:
        raise InvalidInput("layout analysis needs an RGB image", field="image")
    reason = None
    if not spec.embedded:
        settings = settings or get_settings()
        try:
            registry.require(spec, settings)
            backend: ModelBackend = registry.load(spec)
            return backend(inp, settings)
        except BackendUnavailable as exc:
            reason = registry.fallback_reason(spec, exc)
            log.warning("layout analysis fell back to the studio backend: %s", reason)
    studio = registry.embedded("layout")
    analyse: EmbeddedBackend = registry.load(studio)
    mask = inp.product_mask if inp.product_mask is not None else find_product(inp.image)
    return LayoutOutput(analysis=analyse(inp.image, mask, inp.safe_box), backend=studio.name, fallback_reason=reason)


def find_product(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_] | None:
    """For analysing an arbitrary image: the (studio) cut-out's idea of the main object, None when it finds
    none. The cut-out works on at most 1600 px; its mask is scaled back to the analysed image's size."""
    h, w = image.shape[:2]
    rgba = fit_long_side(np.dstack([image, np.full((h, w), 255, np.uint8)]), cutout.MAX_SIDE)
    try:
        out = cutout.run(cutout.CutoutInput(image=rgba, has_alpha=False))
    except InvalidInput:
        return None
    alpha = out.rgba[..., 3]
    if alpha.shape != (h, w):
        alpha = np.asarray(cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)
    return np.asarray(alpha >= 128)


def region_name(cx: float, cy: float, width: int, height: int) -> str:
    """Name of the 3×3 grid cell holding the point (cx, cy)."""
    row = ("top", "middle", "bottom")[min(2, int(3 * cy / max(1, height)))]
    col = ("left", "center", "right")[min(2, int(3 * cx / max(1, width)))]
    return f"{row}-{col}"
