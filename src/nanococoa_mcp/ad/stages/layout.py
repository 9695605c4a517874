"""Layout analysis stage: where the product is, how bright the image is, where copy can go.

Its output has exactly the JSON shape of the seed's Qwen2-VL analysis (objects, color_analysis,
empty_spaces, recommendations), so a VLM backend can replace the embedded one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nanococoa_mcp.errors import InvalidInput

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
    product_mask: npt.NDArray[np.bool_] | None  # H×W; None: the backend finds the product itself
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


def _studio(inp: LayoutInput) -> LayoutAnalysis:
    from nanococoa_mcp.ad.backends.studio.layout import analyse

    return analyse(inp.image, inp.product_mask, inp.safe_box)


def _qwen(inp: LayoutInput) -> LayoutOutput:
    from nanococoa_mcp.ad.backends.qwen import analyse

    return analyse(inp)


# A backend returns its analysis, or a whole LayoutOutput when it has more to say (a fallback, notes).
BACKENDS: dict[str, Callable[[LayoutInput], LayoutAnalysis | LayoutOutput]] = {"studio": _studio, "qwen": _qwen}


def run(inp: LayoutInput, params: LayoutParams | None = None) -> LayoutOutput:
    """Analyse an image for copy placement. Raises InvalidInput for an unknown backend. A model backend
    that cannot give a usable analysis falls back to the studio one and says why (`fallback_reason`)."""
    params = params or LayoutParams()
    backend = BACKENDS.get(params.backend)
    if backend is None:
        raise InvalidInput(
            f"unknown layout backend {params.backend!r}", field="layout_backend", accepted=", ".join(BACKENDS)
        )
    if inp.image.ndim != 3 or inp.image.shape[2] != 3:
        raise InvalidInput("layout analysis needs an RGB image", field="image")
    out = backend(inp)
    return out if isinstance(out, LayoutOutput) else LayoutOutput(analysis=out, backend=params.backend)


def region_name(cx: float, cy: float, width: int, height: int) -> str:
    """Name of the 3×3 grid cell holding the point (cx, cy)."""
    row = ("top", "middle", "bottom")[min(2, int(3 * cy / max(1, height)))]
    col = ("left", "center", "right")[min(2, int(3 * cx / max(1, width)))]
    return f"{row}-{col}"
