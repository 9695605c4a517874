"""Scene stage: the backdrop the product stands in (wall, floor, light), rendered by a named backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from nanococoa_mcp.ad.catalog.styles import SceneStyle
from nanococoa_mcp.errors import InvalidInput

MIN_SIDE = 64
MAX_SIDE = 4096


@dataclass(frozen=True, slots=True)
class Light:
    azimuth_deg: float  # direction the light COMES FROM in the image plane: 0 right, 90 top, 180 left
    elevation_deg: float  # 0 grazing, 90 overhead; drives cast-shadow length
    color: tuple[int, int, int]
    softness: float  # 0..1, drives shadow blur


@dataclass(frozen=True, slots=True)
class SceneInput:
    width: int
    height: int
    style: SceneStyle
    palette: tuple[tuple[int, int, int], ...]  # product's dominant colours, most frequent first (1..5)
    anchor_x: float  # 0..1: where the product's centre will stand horizontally
    seed: int


class SceneParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = "studio"


@dataclass(frozen=True, slots=True)
class SceneOutput:
    image: npt.NDArray[np.uint8]  # H×W×3
    horizon_y: int  # where the wall meets the floor
    stage: tuple[int, int]  # (x, y): where the product's base (bottom centre) should stand
    stage_max_width: int  # widest the product may be at the stage, px
    light: Light
    surface: Literal["matte", "glossy"]
    style_id: str
    # H×W in 0..1: where a cast shadow may land (e.g. only a podium's top); None: anywhere.
    shadow_catcher: npt.NDArray[np.float32] | None = None


def _studio(inp: SceneInput) -> SceneOutput:
    from nanococoa_mcp.ad.backends.studio.scene import render

    return render(inp)


BACKENDS: dict[str, Callable[[SceneInput], SceneOutput]] = {"studio": _studio}


def check_input(inp: SceneInput) -> None:
    """Raises InvalidInput naming the first bad field."""
    for field, side in (("width", inp.width), ("height", inp.height)):
        if not MIN_SIDE <= side <= MAX_SIDE:
            raise InvalidInput(f"{field} {side} is outside {MIN_SIDE}..{MAX_SIDE} px", field=field)
    if not 1 <= len(inp.palette) <= 5:
        raise InvalidInput("palette needs 1 to 5 colours", field="palette")
    for c in inp.palette:
        if len(c) != 3 or any(not 0 <= int(v) <= 255 for v in c):
            raise InvalidInput(f"palette colour {c!r} is not an RGB triple in 0..255", field="palette")
    if not 0.0 <= inp.anchor_x <= 1.0:
        raise InvalidInput(f"anchor_x {inp.anchor_x} is outside 0..1", field="anchor_x")


def run(inp: SceneInput, params: SceneParams | None = None) -> SceneOutput:
    """Render the scene; the same seed gives the same image. Raises InvalidInput for bad input or backend."""
    params = params or SceneParams()
    backend = BACKENDS.get(params.backend)
    if backend is None:
        raise InvalidInput(
            f"unknown scene backend {params.backend!r}", field="scene_backend", accepted=", ".join(BACKENDS)
        )
    check_input(inp)
    return backend(inp)
