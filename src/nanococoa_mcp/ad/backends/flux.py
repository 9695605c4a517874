"""FLUX scene backend (diffusers): the composed step-1 image is repainted around the product, never over it.

The procedural scene (with the product and its shadow placed) is the init image; everything outside
`keep_mask` is regenerated from the seed's `bg_prompt` by an inpainting pipeline, and the original
pixels under `keep_mask` are pasted back bit for bit, so the "product pixels unchanged" check reads 0.

- FLUX.1-schnell (Apache-2.0, the default) and FLUX.1-dev (non-commercial weights) run through
  `FluxInpaintPipeline`: img2img with a mask, `strength` is the share of the schedule re-noised (0.6
  keeps the procedural scene's layout and light, 1.0 ignores it).
- A FLUX Fill checkpoint (FLUX.1-Fill-dev, non-commercial) runs through `FluxFillPipeline`: the model
  itself is conditioned on the kept pixels and the mask. `strength` is passed through the same way, but
  the repainted area is blanked in Fill's conditioning, so 1.0 is its natural value and lower values
  only keep the init image's colours (via the noised start); BFL suggest guidance ≈ 30 for Fill.
- Schnell is guidance-distilled: `guidance_scale` has no effect on it. Steps run = about
  `steps × strength` (diffusers' img2img convention); progress reports the steps actually run.

torch and diffusers are imported only when the model runs (the embedded engine never loads them).
"""

from __future__ import annotations

import json
import logging
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from nanococoa_mcp.ad.backends.models import find_checkpoint, get_manager, torch_device
from nanococoa_mcp.ad.backends.registry import FLUX_WEIGHTS
from nanococoa_mcp.ad.stages.scene import RepaintInput
from nanococoa_mcp.errors import BackendUnavailable, InvalidInput
from nanococoa_mcp.jobs.cancel import checkpoint
from nanococoa_mcp.settings import Settings

log = logging.getLogger(__name__)

COMPONENTS = ("transformer", "text_encoder", "text_encoder_2", "vae")
DISTILLED_STEPS = 4  # schnell is trained for 1-4 steps
GUIDED_STEPS = 28  # dev / Fill
ACTIVATIONS_GB = 3.0  # headroom for activations at ~1 MP on top of the weights
SMALLER = 0.75  # the long side of the last-resort retry, when offloading cannot go further
MIN_SIDE = 16

Mode = Literal["cpu", "gpu", "model_offload", "sequential_offload"]  # cpu: any non-CUDA device, no VRAM
_LIGHTER: dict[Mode, Mode] = {"gpu": "model_offload", "model_offload": "sequential_offload"}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """What the files say about a FLUX checkpoint, read without loading it."""

    path: Path
    fill: bool  # FluxFillPipeline (transformer takes latents + masked-image latents + mask)
    distilled: bool  # no guidance embedding: schnell
    weights_gb: float  # all components at the dtype they run in
    largest_gb: float  # the biggest component (what model offload keeps on the GPU at once)


@dataclass(slots=True)
class _Flux:
    pipe: Any  # FluxInpaintPipeline | FluxFillPipeline
    checkpoint: Checkpoint
    mode: Mode
    device: str


def check_input(inp: RepaintInput) -> None:
    """Raises InvalidInput naming the first bad field."""
    img = inp.image
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise InvalidInput("the init image must be an H×W×3 uint8 array", field="image")
    if min(img.shape[:2]) < MIN_SIDE:
        raise InvalidInput(f"the init image is smaller than {MIN_SIDE} px on a side", field="image")
    if inp.keep_mask.dtype != np.bool_ or inp.keep_mask.shape != img.shape[:2]:
        raise InvalidInput("keep_mask must be a bool array of the image's height × width", field="keep_mask")
    if inp.keep_mask.all():
        raise InvalidInput("keep_mask covers the whole image: there is no scene left to generate", field="keep_mask")
    if not inp.prompt.strip():
        raise InvalidInput("the scene prompt is empty", field="bg_prompt")
    if not (math.isfinite(inp.strength) and 0.0 < inp.strength <= 1.0):
        raise InvalidInput(f"strength {inp.strength} is outside (0, 1]", field="strength", accepted="0 < strength <= 1")
    if not (math.isfinite(inp.guidance_scale) and 0.0 <= inp.guidance_scale <= 100.0):
        raise InvalidInput(f"guidance_scale {inp.guidance_scale} is outside 0..100", field="guidance_scale")
    if inp.steps is not None and not 1 <= inp.steps <= 100:
        raise InvalidInput(f"steps {inp.steps} is outside 1..100", field="steps")
    if not 0 <= inp.seed < 2**63:
        raise InvalidInput(f"seed {inp.seed} is outside 0..2^63-1", field="seed")


def _config(path: Path, component: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / component / "config.json").read_text())
    return data


def _safetensors_params(file: Path) -> int:
    """Parameter count from a safetensors header (8-byte length + JSON), without reading the tensors."""
    with file.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header: dict[str, Any] = json.loads(f.read(size))
    return sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")


def _component_gb(folder: Path, bytes_per_param: int) -> float:
    total = 0.0
    for file in folder.glob("*.safetensors"):
        total += _safetensors_params(file) * bytes_per_param
    if total == 0.0:  # .bin weights: their file size is the best guess we have
        total = float(sum(f.stat().st_size for f in folder.glob("*.bin")))
    return total / 1e9


def inspect_checkpoint(settings: Settings, bytes_per_param: int = 2) -> Checkpoint:
    """Find settings.flux_model offline and tell which pipeline it needs and how big it is. Raises
    BackendUnavailable when files are missing or the transformer is neither an inpainting base nor a Fill
    model."""
    model = settings.flux_model
    path = find_checkpoint(FLUX_WEIGHTS, settings)
    transformer, vae = _config(path, "transformer"), _config(path, "vae")
    latent = int(vae["latent_channels"])
    scale = 2 ** (len(vae["block_out_channels"]) - 1)
    in_channels = int(transformer["in_channels"])
    # Latents are packed 2×2: a base model sees 4 × latent channels; Fill adds as many for the masked
    # image and 4 × scale² for the mask folded into the same patches (FLUX: 64 + 64 + 256 = 384).
    base, fill = 4 * latent, 8 * latent + 4 * scale * scale
    if in_channels not in (base, fill):
        raise BackendUnavailable(
            f"{model} is not a FLUX text-to-image or Fill checkpoint (transformer in_channels {in_channels}, "
            f"expected {base} or {fill}); control / Kontext variants need inputs this stage does not have",
            field="flux_model",
            accepted="black-forest-labs/FLUX.1-schnell, FLUX.1-dev or FLUX.1-Fill-dev",
        )
    sizes = [_component_gb(path / c, bytes_per_param) for c in COMPONENTS if (path / c).is_dir()]
    return Checkpoint(
        path=path,
        fill=in_channels == fill,
        distilled=not transformer.get("guidance_embeds", False),
        weights_gb=sum(sizes),
        largest_gb=max(sizes, default=0.0),
    )


def _first_mode(ckpt: Checkpoint, device: str, settings: Settings) -> Mode:
    """Whole pipeline on the GPU when it fits, else one component at a time, else layer by layer."""
    if not device.startswith("cuda"):
        return "cpu"
    import torch

    room = torch.cuda.get_device_properties(torch.device(device)).total_memory / 1e9
    if settings.vram_budget_gb is not None:
        room = min(room, settings.vram_budget_gb)
    if ckpt.weights_gb + ACTIVATIONS_GB <= room:
        return "gpu"
    if ckpt.largest_gb + ACTIVATIONS_GB <= room:
        return "model_offload"
    return "sequential_offload"


def _vram_gb(ckpt: Checkpoint, mode: Mode) -> float:
    return {
        "cpu": 0.0,
        "gpu": ckpt.weights_gb + ACTIVATIONS_GB,
        "model_offload": ckpt.largest_gb + ACTIVATIONS_GB,
        "sequential_offload": ACTIVATIONS_GB,
    }[mode]


def _load(ckpt: Checkpoint, device: str, mode: Mode) -> _Flux:
    try:
        import torch
        from diffusers import FluxFillPipeline, FluxInpaintPipeline
    except ImportError as exc:
        raise BackendUnavailable(
            f"the flux scene backend needs torch and diffusers ({exc.name} is missing)",
            field="scene_backend",
            accepted="pip install 'nanococoa-mcp[gpu]', or scene_backend=studio",
        ) from exc
    cls = FluxFillPipeline if ckpt.fill else FluxInpaintPipeline
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    # A text-to-image checkpoint (model_index says FluxPipeline) loads into the inpainting class: same parts.
    pipe = cls.from_pretrained(ckpt.path, dtype=dtype, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    if mode == "model_offload":
        pipe.enable_model_cpu_offload(device=device)
    elif mode == "sequential_offload":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    log.info("FLUX %s loaded as %s (%s, %.1f GB of weights)", ckpt.path.name, cls.__name__, mode, ckpt.weights_gb)
    return _Flux(pipe=pipe, checkpoint=ckpt, mode=mode, device=device)


def _unload(flux: _Flux) -> None:
    if flux.mode in ("model_offload", "sequential_offload"):
        flux.pipe.remove_all_hooks()
    flux.pipe = None


def work_size(height: int, width: int, long_side: int, multiple: int) -> tuple[int, int]:
    """(height, width) with the long side at `long_side`, both sides multiples of `multiple`."""
    scale = long_side / max(height, width)
    return (
        max(multiple, round(height * scale / multiple) * multiple),
        max(multiple, round(width * scale / multiple) * multiple),
    )


def model_keep(keep: npt.NDArray[np.bool_], size: tuple[int, int], cell: int) -> npt.NDArray[np.bool_]:
    """What the model keeps, at its working size: only latent cells lying wholly inside the product.
    A cell that straddles the edge is repainted, so none of the old scene survives around the product
    (the product's own pixels there are pasted back afterwards)."""
    h, w = size
    cover = cv2.resize(keep.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    cells = (cover >= 0.999).reshape(h // cell, cell, w // cell, cell).all(axis=(1, 3))
    return np.repeat(np.repeat(cells, cell, axis=0), cell, axis=1)


def _generate(
    flux: _Flux,
    inp: RepaintInput,
    settings: Settings,
    long_side: int,
    on_step: Callable[[int, int], None] | None,
) -> npt.NDArray[np.uint8]:
    import torch

    pipe = flux.pipe
    h, w = inp.image.shape[:2]
    vae_scale = int(pipe.vae_scale_factor)
    wh, ww = work_size(h, w, long_side, vae_scale * 2)  # latents are 1/vae_scale and packed 2×2
    image = Image.fromarray(inp.image).resize((ww, wh), Image.Resampling.LANCZOS)
    keep = model_keep(inp.keep_mask, (wh, ww), vae_scale)
    repaint = Image.fromarray(np.where(keep, 0, 255).astype(np.uint8))  # white: repaint

    ckpt = flux.checkpoint
    steps = inp.steps or settings.flux_steps or (DISTILLED_STEPS if ckpt.distilled else GUIDED_STEPS)
    max_tokens = min(256 if ckpt.distilled else 512, int(pipe.tokenizer_2.model_max_length))

    def step_end(p: Any, i: int, _t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        if on_step is not None:
            on_step(i + 1, int(p.num_timesteps))
        checkpoint()  # a stop request raises here and leaves the pipeline mid-loop
        return tensors

    # A CPU generator gives the same noise for a seed on any device and offload mode.
    generator = torch.Generator(device="cpu").manual_seed(inp.seed)
    result = pipe(
        prompt=inp.prompt,
        image=image,
        mask_image=repaint,
        height=wh,
        width=ww,
        strength=inp.strength,
        num_inference_steps=steps,
        guidance_scale=inp.guidance_scale,
        generator=generator,
        max_sequence_length=max_tokens,
        output_type="np",
        callback_on_step_end=step_end,
    )
    out = np.rint(np.clip(result.images[0], 0.0, 1.0) * 255.0).astype(np.uint8)
    out = np.array(Image.fromarray(out).resize((w, h), Image.Resampling.LANCZOS))
    out[inp.keep_mask] = inp.image[inp.keep_mask]
    return out


def repaint(
    inp: RepaintInput, settings: Settings, on_step: Callable[[int, int], None] | None = None
) -> npt.NDArray[np.uint8]:
    """H×W×3: a new scene around the product; pixels under keep_mask are the input's, bit for bit.

    Loads settings.flux_model on first use and keeps it warm; `on_step(step, total)` runs after each
    diffusion step, and a stop request (jobs.cancel) raises out of the step loop. Raises InvalidInput
    for bad input, BackendUnavailable when the weights or packages are missing or the GPU runs out of
    memory twice (the second try offloads further, or works smaller when it cannot)."""
    check_input(inp)
    checkpoint()
    device = torch_device(settings)
    ckpt = inspect_checkpoint(settings, bytes_per_param=2 if device.startswith("cuda") else 4)
    manager = get_manager(settings)
    key = f"flux:{settings.flux_model}"
    tried: list[Mode] = []

    def attempt(mode: Mode, long_side: int) -> npt.NDArray[np.uint8]:
        tried.append(mode)
        flux = manager.get(key, lambda: _load(ckpt, device, mode), vram_gb=_vram_gb(ckpt, mode), unload=_unload)
        tried[-1] = flux.mode  # a warm pipeline keeps the mode it was loaded in
        checkpoint()
        return _generate(flux, inp, settings, long_side, on_step)

    def retry() -> npt.NDArray[np.uint8]:
        failed = tried[-1] if tried else _first_mode(ckpt, device, settings)
        lighter = _LIGHTER.get(failed)
        if lighter is not None:
            return attempt(lighter, settings.flux_size)
        return attempt(failed, max(64, round(settings.flux_size * SMALLER)))

    return manager.run(
        lambda: attempt(_first_mode(ckpt, device, settings), settings.flux_size),
        retry=retry,
        what=f"FLUX ({settings.flux_model})",
    )
