"""Scene stage: the backdrop the product stands in (wall, floor, light), and for a generative backend the
scene repainted around the composed product.

The embedded `studio` backend draws every backdrop, as `render(inp)`. A generative backend (`flux`) starts
from it: once the product is composed on the backdrop, `repaint(inp, settings, on_step)` repaints all but
the product, and raises BackendUnavailable when it cannot run here; the stage then keeps the studio scene
and says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from nanococoa_mcp.ad.backends import registry
from nanococoa_mcp.ad.catalog.styles import SceneStyle
from nanococoa_mcp.errors import BackendUnavailable, InvalidInput
from nanococoa_mcp.settings import Settings

log = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class RepaintInput:
    image: npt.NDArray[np.uint8]  # H×W×3 composed step-1 image (scene + shadow + product): the init image
    keep_mask: npt.NDArray[np.bool_]  # H×W True where pixels must stay exactly (the product)
    prompt: str  # English scene prompt (the seed's bg_prompt)
    strength: float  # share of the schedule re-noised, 0 < strength <= 1 (seed default 0.6)
    guidance_scale: float  # seed default 3.5; no effect on guidance-distilled models
    seed: int
    steps: int | None = None  # None: the backend's configured or per-model default


@dataclass(frozen=True, slots=True)
class Repainted:
    image: npt.NDArray[np.uint8] | None  # H×W×3 the new scene, the product's pixels kept; None: the studio scene stays
    backend: str  # the backend whose scene this is
    fallback_reason: str | None = None  # why the configured backend's scene was not used


Render = Callable[[SceneInput], SceneOutput]
Repaint = Callable[[RepaintInput, Settings, Callable[[int, int], None] | None], npt.NDArray[np.uint8]]


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
    """Render the backdrop (a generative backend's init image); the same seed gives the same image.
    Raises InvalidInput for bad input or an unknown backend."""
    params = params or SceneParams()
    registry.get("scene", params.backend)
    check_input(inp)
    render: Render = registry.load(registry.embedded("scene"))
    return render(inp)


def repaints(params: SceneParams) -> bool:
    """Whether the backend repaints the composed scene (a generative one) or the backdrop is the scene."""
    return not registry.get("scene", params.backend).embedded


def repaint(
    inp: RepaintInput,
    params: SceneParams,
    settings: Settings,
    on_step: Callable[[int, int], None] | None = None,
) -> Repainted:
    """The scene repainted around the product by a generative backend (`on_step(step, total)` after each
    step); the studio scene, with the reason, when that backend cannot run here. Raises InvalidInput for
    bad input or an unknown backend."""
    spec = registry.get("scene", params.backend)
    if spec.embedded:
        return Repainted(image=None, backend=spec.name)
    try:
        registry.require(spec, settings)
        backend: Repaint = registry.load(spec)
        return Repainted(image=backend(inp, settings, on_step), backend=spec.name)
    except BackendUnavailable as exc:
        reason = registry.fallback_reason(spec, exc)
        log.warning("the scene fell back to the studio backend: %s", reason)
        return Repainted(image=None, backend=registry.embedded("scene").name, fallback_reason=reason)
