"""Cut-out by BiRefNet (seed Stage 1): the official checkpoint's mask, finished at full resolution.

The checkpoint (`ZhengPeng7/BiRefNet`) is custom code on the hub: its folder holds config.json (auto_map
to `birefnet.BiRefNet`), the model's code files and model.safetensors. It is read offline from
NANOCOCOA_MODELS_DIR or the HF cache and loaded with transformers' remote-code loader. The photo is
resized to 1024², normalised (ImageNet mean/std), and the last logit map the model returns is the mask;
the sigmoid mask is resized back to the photo, and the colour of the partly transparent edge is
re-estimated without the backdrop. torch and transformers are imported only when the model runs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from nanococoa_mcp.ad.backends.models import find_checkpoint, get_manager, torch_device
from nanococoa_mcp.ad.backends.registry import BIREFNET_WEIGHTS
from nanococoa_mcp.ad.matting import estimate_foreground
from nanococoa_mcp.ad.stages.cutout import CutoutInput, CutoutOutput, CutoutParams, alpha_bbox
from nanococoa_mcp.errors import BackendUnavailable, InvalidInput
from nanococoa_mcp.jobs.cancel import checkpoint
from nanococoa_mcp.settings import Settings, get_settings

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

MODEL_SIDE = 1024  # BiRefNet is trained on 1024×1024
RETRY_SIDE = 768  # after a CUDA out-of-memory error: about half the activations, still a sharp mask
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
ACTIVATIONS_GB = 1.0  # GPU memory one 1024² pass needs besides the weights (fp16)
FAINT, SOLID = 4, 251  # alpha (0..255) below FAINT is backdrop haze, above SOLID solid product
MAX_CONFIDENCE = 0.98  # a model's mask is never certain
BOX_MARGIN = 0.15  # around a product box the model also sees this share of the box's long side


@dataclass(frozen=True, slots=True)
class BiRefNetModel:
    model: Any  # the checkpoint's own torch module (custom code)
    device: str
    dtype: Any  # torch.dtype: float16 on CUDA, float32 on CPU


@dataclass(frozen=True, slots=True)
class Mask:
    alpha: FloatArray  # H×W in 0..1 at the photo's size
    side: int  # the square side the model saw (MODEL_SIDE, or RETRY_SIDE after running out of memory)
    view: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 of the part of the photo it saw (None: all)


def cut_out(inp: CutoutInput, params: CutoutParams, settings: Settings) -> CutoutOutput:
    """The product cut out by BiRefNet (a photo's own alpha is kept by the stage, before any backend).

    `params.edge_band` sets the reach (px) of the edge-colour estimate; `refine_edges=False` keeps the
    photo's raw colours at the edge. With a product box the model sees only the box and a margin, and
    nothing beyond the box is kept; points are not used (the model takes none). Raises BackendUnavailable
    when torch/transformers or the checkpoint are missing or it cannot be loaded, InvalidInput when the
    model finds no product.
    """
    rgb = np.ascontiguousarray(inp.image[..., :3])
    checkpoint()
    if inp.box is None:
        mask = predict_mask(rgb, settings)
    else:
        mask = _in_box(rgb, inp.box, settings)
    checkpoint()
    out = finish(rgb, mask, params)
    if inp.box is None and not inp.points:
        return out
    notes = out.notes + (("BiRefNet takes no points: they were not used",) if inp.points else ())
    return dataclasses.replace(out, method="birefnet+box" if inp.box is not None else out.method, notes=notes,
                               hint_used=inp.box is not None)


def _in_box(rgb: U8, box: tuple[int, int, int, int], settings: Settings) -> Mask:
    """BiRefNet's mask of the box and a margin around it (seen at the model's full resolution, so a small
    product gets as many of its pixels as a large one), pasted back into the photo; nothing beyond the box
    but its 2 px soft edge."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    m = max(8, round(BOX_MARGIN * max(x1 - x0, y1 - y0)))
    vx0, vy0, vx1, vy1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
    view = predict_mask(np.ascontiguousarray(rgb[vy0:vy1, vx0:vx1]), settings)
    alpha = np.zeros((h, w), np.float32)
    alpha[vy0:vy1, vx0:vx1] = view.alpha
    keep = np.zeros((h, w), np.float32)
    keep[max(0, y0 - 2):y1 + 2, max(0, x0 - 2):x1 + 2] = 1.0
    return Mask(alpha=alpha * keep, side=view.side, view=(vx0, vy0, vx1, vy1))


# -- the model ------------------------------------------------------------------------------------------


def load(settings: Settings) -> BiRefNetModel:
    """The warm model (loaded on first use through the model manager). Raises BackendUnavailable when
    torch/transformers or the checkpoint's files are missing, or the checkpoint cannot be loaded."""
    model_dir = find_checkpoint(BIREFNET_WEIGHTS, settings)  # with the code files its auto_map names
    _check_auto_map(model_dir)
    _require_extra()
    device = torch_device(settings)
    # The official checkpoint is stored in fp32 and runs in fp16 on CUDA: half its size, plus activations.
    vram = _weights_gb(model_dir) / 2 + ACTIVATIONS_GB if device.startswith("cuda") else 0.0
    return get_manager(settings).get(
        f"birefnet:{settings.birefnet_model}", lambda: _load(model_dir, device), vram_gb=vram
    )


def _require_extra() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(
            f"the birefnet cut-out backend needs torch and transformers ({exc.name} is missing)",
            field="cutout_backend",
            accepted="pip install 'nanococoa-mcp[gpu]', or NANOCOCOA_CUTOUT_BACKEND=studio",
        ) from exc


def _check_auto_map(model_dir: Path) -> None:
    """config.json must name the checkpoint's model class for AutoModelForImageSegmentation."""
    try:
        auto_map = json.loads((model_dir / "config.json").read_text()).get("auto_map") or {}
    except (OSError, ValueError) as exc:
        raise BackendUnavailable(
            f"{model_dir / 'config.json'} cannot be read ({exc})",
            field="birefnet_model",
            accepted="a complete copy of the checkpoint",
        ) from exc
    if "AutoModelForImageSegmentation" not in auto_map:
        raise BackendUnavailable(
            f"{model_dir / 'config.json'} has no auto_map entry for AutoModelForImageSegmentation: "
            "not a BiRefNet checkpoint",
            field="birefnet_model",
            accepted="ZhengPeng7/BiRefNet or a fine-tune of it",
        )


def _weights_gb(model_dir: Path) -> float:
    return sum(p.stat().st_size for p in model_dir.glob("*.safetensors")) / 1e9


def _load(model_dir: Path, device: str) -> BiRefNetModel:
    import torch

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    try:
        cls, config = _checkpoint_class(model_dir)
        try:
            model = cls.from_pretrained(str(model_dir), config=config, local_files_only=True, dtype=torch.float32)
        except (AttributeError, RuntimeError, TypeError, NotImplementedError) as exc:
            # Checkpoint code written for transformers 4 trips over v5's meta-device loading (it never
            # calls post_init, or computes values while it is built): build it for real, load its weights.
            log.warning(
                "BiRefNet's from_pretrained failed (%s: %s); loading its weights directly", type(exc).__name__, exc
            )
            model = _load_direct(cls, config, model_dir, exc)
    except ImportError as exc:  # transformers checks the code's imports before it runs it
        raise BackendUnavailable(
            f"BiRefNet's code needs packages that are not installed ({exc})",
            field="cutout_backend",
            accepted="pip install 'nanococoa-mcp[gpu]' (timm, einops, kornia), or NANOCOCOA_CUTOUT_BACKEND=studio",
        ) from exc
    except OSError as exc:
        raise BackendUnavailable(
            f"BiRefNet in {model_dir} cannot be loaded ({exc})",
            field="birefnet_model",
            accepted="the checkpoint's complete files, and a writable HF_MODULES_CACHE (transformers copies the "
            "checkpoint's code there; default $HF_HOME/modules)",
        ) from exc
    model.to(device=device, dtype=dtype).eval()
    return BiRefNetModel(model=model, device=device, dtype=dtype)


def _checkpoint_class(model_dir: Path) -> tuple[Any, Any]:
    """The model class the checkpoint's own code defines (auto_map), and its config. Asked for by name
    rather than through AutoModelForImageSegmentation, whose registry keeps the class of the first
    remote-code checkpoint loaded for any later one whose config class is the same (same code, same
    folder name)."""
    from transformers import AutoConfig
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    config = AutoConfig.from_pretrained(str(model_dir), trust_remote_code=True, local_files_only=True)
    cls = get_class_from_dynamic_module(
        config.auto_map["AutoModelForImageSegmentation"], str(model_dir), local_files_only=True
    )
    return cls, config


def _load_direct(cls: Any, config: Any, model_dir: Path, first: Exception) -> Any:
    """The checkpoint's class built on the CPU (no meta device) with model.safetensors loaded into it;
    every parameter must be in the file and every tensor of the file must fit the model."""
    from safetensors.torch import load_file

    try:
        model = cls(config)
        missing, unexpected = model.load_state_dict(load_file(str(model_dir / "model.safetensors")), strict=False)
    except Exception as exc:
        raise BackendUnavailable(
            f"BiRefNet in {model_dir} cannot be loaded ({type(first).__name__}: {first}; then "
            f"{type(exc).__name__}: {exc})",
            field="birefnet_model",
            accepted="a current snapshot of ZhengPeng7/BiRefNet (`huggingface-cli download ZhengPeng7/BiRefNet`)",
        ) from exc
    params = {name for name, _ in model.named_parameters()}
    absent = [k for k in missing if k in params]
    if absent or unexpected:
        raise BackendUnavailable(
            f"model.safetensors in {model_dir} does not fit the checkpoint's code (missing {absent[:5]}, "
            f"unexpected {list(unexpected)[:5]})",
            field="birefnet_model",
            accepted="the checkpoint's own files, all from one snapshot",
        )
    return model


# -- inference ------------------------------------------------------------------------------------------


def predict_mask(rgb: U8, settings: Settings | None = None) -> Mask:
    """BiRefNet's foreground probability for each pixel of `rgb` (H×W×3 uint8). On CUDA out of memory the
    model manager unloads every model and the pass is run once more at RETRY_SIDE (the model reloaded).
    Raises BackendUnavailable as `load` does, or when memory runs out twice."""
    settings = settings or get_settings()

    def at(side: int) -> Mask:
        return Mask(alpha=_infer(load(settings), rgb, side), side=side)

    return get_manager(settings).run(lambda: at(MODEL_SIDE), retry=lambda: at(RETRY_SIDE), what="BiRefNet")


def _infer(m: BiRefNetModel, rgb: U8, side: int) -> FloatArray:
    import torch
    import torch.nn.functional as F

    h, w = rgb.shape[:2]
    with torch.inference_mode():
        x = torch.from_numpy(rgb).to(m.device).permute(2, 0, 1)[None].float().div_(255.0)
        # Antialiased bilinear, as the model card's PIL resize does.
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(MEAN, device=m.device).view(1, 3, 1, 1)
        std = torch.tensor(STD, device=m.device).view(1, 3, 1, 1)
        x = ((x - mean) / std).to(m.dtype)
        logits = _final_logits(m.model(x))
        prob = logits.float().sigmoid()
        prob = F.interpolate(prob, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        out = prob[0, 0].clamp_(0.0, 1.0).cpu().numpy()
    return np.ascontiguousarray(out, dtype=np.float32)


def _final_logits(out: Any) -> Any:
    """The final mask logits: BiRefNet returns its side outputs coarse to fine, the last being the mask."""
    import torch

    while isinstance(out, list | tuple) and out:
        out = out[-1]
    if hasattr(out, "logits"):
        out = out.logits
    if not isinstance(out, torch.Tensor) or out.ndim != 4 or out.shape[:2] != (1, 1):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise BackendUnavailable(
            f"the BiRefNet checkpoint returned {shape}; expected mask logits of shape 1×1×H×W",
            field="birefnet_model",
            accepted="ZhengPeng7/BiRefNet or a fine-tune with the same output",
        )
    return out


# -- the full-resolution cut-out ------------------------------------------------------------------------


def finish(rgb: U8, mask: Mask, params: CutoutParams) -> CutoutOutput:
    """The RGBA cut-out from BiRefNet's mask: alpha 0 on the backdrop, 255 on the product, and the colour
    of the partly transparent edge re-estimated without the backdrop (no fringe). Raises InvalidInput when
    the mask holds no product."""
    h, w = rgb.shape[:2]
    a8 = np.clip(mask.alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    a8[a8 < FAINT] = 0
    a8[a8 > SOLID] = 255
    if not (a8 >= 128).any():
        raise InvalidInput("no product found in the photo: BiRefNet sees only backdrop", field="product_image")
    rgba = np.dstack([rgb, a8])
    rgba[a8 == 0, :3] = 0
    edge = (a8 > 0) & (a8 < 255)
    x0, y0, x1, y1 = mask.view or (0, 0, w, h)
    if params.refine_edges and edge.any():
        # Clear product and backdrop colours are looked for this far around each edge pixel: a few
        # pixels of the model's own resolution, as the mask's edge is that blurred at the photo's size.
        radius = params.edge_band or math.ceil(3 * max(x1 - x0, y1 - y0) / mask.side) + 2
        colour = estimate_foreground(rgb, a8.astype(np.float32) / 255.0, edge, radius)
        rgba[edge, :3] = np.round(colour).astype(np.uint8)
    confidence, notes = mask_confidence(mask.alpha[y0:y1, x0:x1])  # the product's share of what it saw
    if mask.side != MODEL_SIDE:
        notes += (f"the GPU ran out of memory: BiRefNet ran at {mask.side}² instead of {MODEL_SIDE}²",)
    return CutoutOutput(rgba=rgba, confidence=confidence, method="birefnet", bbox=alpha_bbox(a8), notes=notes)


def mask_confidence(alpha: FloatArray) -> tuple[float, tuple[str, ...]]:
    """How far to trust the mask, from the mask alone. Each factor is in 0..1 (with a note when below
    0.8); the confidence is their product, at most MAX_CONFIDENCE:

    - decisiveness: mean |2α-1| over the product and a margin around it (2 % of the diagonal). A clean
      mask is 0 or 1 except a thin edge; the factor is 1 - 4·(1 - that mean), so 0.99 gives 0.96 and a
      mask hesitating over a tenth of the area (mean 0.9) gives 0.6.
    - frame contact: a mask running along three or four sides of the frame has probably kept backdrop.
    - size: a product under 0.5 % or over 85 % of the frame is suspicious.
    """
    h, w = alpha.shape
    product = alpha >= 0.5
    reach = max(3, round(0.02 * math.hypot(h, w)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    near = cv2.dilate(product.astype(np.uint8), kernel) > 0
    decisive = float(np.mean(np.abs(2.0 * alpha[near] - 1.0)))
    evidence = [
        (
            float(np.clip(1.0 - 4.0 * (1.0 - decisive), 0.0, 1.0)),
            "BiRefNet is unsure about part of the product's outline: check the cut-out",
        )
    ]
    sides = sum(
        int(np.count_nonzero(line) > 0.05 * line.size)
        for line in (product[0], product[-1], product[:, 0], product[:, -1])
    )
    evidence.append(
        ((1.0, 1.0, 0.85, 0.6, 0.4)[sides], "the product touches most of the frame: the backdrop may have been kept")
    )
    area = float(product.mean())
    evidence.append(
        (0.4 if area < 0.005 or area > 0.85 else 1.0, "the product is unusually small or large in the frame")
    )
    confidence = min(MAX_CONFIDENCE, float(np.prod([factor for factor, _ in evidence])))
    return round(confidence, 3), tuple(note for factor, note in evidence if factor < 0.8)
