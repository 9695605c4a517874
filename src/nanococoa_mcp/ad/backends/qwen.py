"""Layout analysis by Qwen2-VL (seed §7.4): the model reads the image and answers the analysis JSON.

An answer that does not parse, does not match the schema, or does not fit the image (boxes outside it,
"empty" space over the product) is not used: it is a BackendUnavailable saying why, on which the layout
stage runs the embedded analysis and reports the reason. Answers are cached per image (memory, then the
data directory).
torch and transformers are imported only when the model runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from nanococoa_mcp.ad.backends.models import find_checkpoint, get_manager, torch_device
from nanococoa_mcp.ad.backends.registry import QWEN_WEIGHTS
from nanococoa_mcp.ad.stages.layout import LayoutAnalysis, LayoutInput, LayoutOutput
from nanococoa_mcp.errors import BackendUnavailable, NanococoaError
from nanococoa_mcp.jobs.cancel import checkpoint
from nanococoa_mcp.prompts import load_prompt, render_prompt
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.storage import write_json_atomic

log = logging.getLogger(__name__)

PROMPT = "layout_analysis"
MAX_PIXELS = 640 * 28 * 28  # what the model sees: ~500k px, 640 visual tokens (the 2B default allows 1280)
MIN_PIXELS = 4 * 28 * 28
MAX_NEW_TOKENS = 1024  # the seed's JSON is ~450 tokens; room for a few more spaces and prose around it
OVERLAP_TOLERANCE = 0.02  # share of an empty space the product mask may touch (anti-aliased edges)
CACHE_SIZE = 64
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


class AnalysisRejected(ValueError):
    """The model's answer cannot be used; the message says why (it becomes the fallback reason)."""


@dataclass(frozen=True, slots=True)
class QwenModel:
    model: Any  # Qwen2VLForConditionalGeneration
    processor: Any  # Qwen2VLProcessor: image processor + tokenizer + chat template
    device: str
    factor: int  # image sides the model reads are multiples of this (patch size × spatial merge)


@dataclass(frozen=True, slots=True)
class Answer:
    text: str  # what the model wrote, new tokens only
    frame: tuple[int, int]  # width, height of the image the model saw (its answer's coordinates)


def analyse(inp: LayoutInput, settings: Settings) -> LayoutOutput:
    """Qwen2-VL's analysis of `inp.image`. Raises BackendUnavailable saying why when there is no usable
    one (the model or extra missing, an unusable answer, the model failing); a stop request (JobStopped)
    and other deliberate errors pass through."""
    h, w = inp.image.shape[:2]
    try:
        answer, cached = _answer(inp.image, settings)
        analysis = parse_analysis(answer.text, frame=answer.frame, size=(w, h), product_mask=inp.product_mask)
    except AnalysisRejected as exc:
        raise BackendUnavailable(str(exc), field="layout_backend") from exc
    except NanococoaError:
        raise
    except Exception as exc:  # the model itself failed: the embedded analysis still gives a usable layout
        log.exception("Qwen2-VL layout analysis failed")
        raise BackendUnavailable(
            f"the analysis failed ({type(exc).__name__}: {exc})", field="layout_backend"
        ) from exc
    notes = ("qwen: reused the analysis cached for this image",) if cached else ()
    return LayoutOutput(analysis=analysis, backend="qwen", notes=notes)


# -- the model ------------------------------------------------------------------------------------------


def load(settings: Settings) -> QwenModel:
    """The warm model (loaded on first use through the model manager). Raises BackendUnavailable when
    torch/transformers or the weights are missing."""
    model_dir = find_checkpoint(QWEN_WEIGHTS, settings)
    _require_extra()
    device = torch_device(settings)
    vram = _weights_gb(model_dir) + 1.5 if device.startswith("cuda") else 0.0
    return get_manager(settings).get(f"qwen:{settings.qwen_model}", lambda: _load(model_dir, device), vram_gb=vram)


def _require_extra() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailable(
            f"the qwen layout backend needs torch and transformers ({exc.name} is missing)",
            field="layout_backend",
            accepted="pip install 'nanococoa-mcp[gpu]', or NANOCOCOA_LAYOUT_BACKEND=studio",
        ) from exc


def _weights_gb(model_dir: Path) -> float:
    return sum(p.stat().st_size for p in model_dir.glob("*.safetensors")) / 1e9


def _load(model_dir: Path, device: str) -> QwenModel:
    import torch
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    if device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = torch.float32
    model: Any = Qwen2VLForConditionalGeneration.from_pretrained(model_dir, dtype=dtype, local_files_only=True)
    model.to(device).eval()
    processor = AutoProcessor.from_pretrained(model_dir, local_files_only=True)
    ip = processor.image_processor
    return QwenModel(model=model, processor=processor, device=device, factor=int(ip.patch_size * ip.merge_size))


def frame_size(width: int, height: int, factor: int = 28, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """The size (width, height) the model reads an image at: sides multiples of `factor`, area within
    [MIN_PIXELS, max_pixels], aspect kept as closely as those allow."""
    scale = min(1.0, (max_pixels / (width * height)) ** 0.5)
    fw = max(factor, int(width * scale / factor) * factor)
    fh = max(factor, int(height * scale / factor) * factor)
    while fw * fh < MIN_PIXELS:
        fw, fh = fw + factor, fh + factor
    return fw, fh


def generate(loaded: QwenModel, image: npt.NDArray[np.uint8], max_pixels: int = MAX_PIXELS) -> Answer:
    """One greedy answer to the analysis prompt about `image` (H×W×3), which is resized to the frame the
    model reads; the prompt tells the model that frame's size, so its coordinates are in it."""
    import torch
    from PIL import Image
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _StopCheck(StoppingCriteria):  # honours a stop request between generated tokens
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            checkpoint()
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    h, w = image.shape[:2]
    fw, fh = frame_size(w, h, loaded.factor, max_pixels)
    pil = Image.fromarray(image).resize((fw, fh), Image.Resampling.BICUBIC)
    prompt = render_prompt(PROMPT, {"width": str(fw), "height": str(fh)})
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    processor, model = loaded.processor, loaded.model
    chat = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(
        text=[chat],
        images=[pil],
        images_kwargs={"size": {"shortest_edge": MIN_PIXELS, "longest_edge": max(max_pixels, fw * fh)}},
        return_tensors="pt",
    ).to(loaded.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    tok = processor.tokenizer
    eos = [i for i in (tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id) if isinstance(i, int)]
    checkpoint()
    with torch.inference_mode():
        out = model.generate(
            **inputs,
            max_new_tokens=MAX_NEW_TOKENS,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else eos[0],
            stopping_criteria=StoppingCriteriaList([_StopCheck()]),
        )
    checkpoint()
    new_tokens = out[:, inputs["input_ids"].shape[1] :]
    text = processor.batch_decode(new_tokens, skip_special_tokens=True)[0]
    return Answer(text=str(text), frame=(fw, fh))


def _answer(image: npt.NDArray[np.uint8], settings: Settings) -> tuple[Answer, bool]:
    model_dir = find_checkpoint(QWEN_WEIGHTS, settings)
    key = _cache_key(image, settings.qwen_model, model_dir)
    hit = _CACHE.get(key, settings)
    if hit is not None:
        return hit, True
    loaded = load(settings)
    answer = get_manager(settings).run(
        lambda: generate(loaded, image),
        retry=lambda: generate(loaded, image, max_pixels=MAX_PIXELS // 2),
        what="the Qwen2-VL layout analysis",
    )
    _CACHE.put(key, answer, settings)
    return answer, False


# -- reading the answer ---------------------------------------------------------------------------------


def extract_json(text: str) -> dict[str, Any]:
    """The JSON object in a model's answer: inside a ```json fence if there is one, else from the first
    brace; prose around it is ignored. Raises AnalysisRejected."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    error: json.JSONDecodeError | None = None
    for candidate in candidates:
        start = candidate.find("{")
        if start < 0:
            continue
        try:
            obj, _ = json.JSONDecoder().raw_decode(candidate, start)
        except json.JSONDecodeError as exc:
            error = error or exc
            continue
        if isinstance(obj, dict):
            return obj
    if error is not None:
        raise AnalysisRejected(f"invalid JSON in the answer: {error.msg} at character {error.pos}")
    raise AnalysisRejected(f"no JSON object in the answer ({_excerpt(text)})")


def parse_analysis(
    text: str,
    *,
    frame: tuple[int, int],
    size: tuple[int, int],
    product_mask: npt.NDArray[np.bool_] | None = None,
) -> LayoutAnalysis:
    """The model's answer as a LayoutAnalysis in the pixels of the analysed image (`size`, width × height),
    its answer being in those of `frame`. Empty spaces come best first. Raises AnalysisRejected when the
    answer is not JSON, does not match the schema, or does not fit the image."""
    data = extract_json(text)
    try:
        analysis = LayoutAnalysis.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors()[:3])
        raise AnalysisRejected(f"the analysis does not match the schema ({problems})") from None
    fw, fh = frame
    w, h = size
    boxes = [(f"objects[{i}]", o.bbox) for i, o in enumerate(analysis.objects)]
    boxes += [(f"empty_spaces[{i}]", s.bbox) for i, s in enumerate(analysis.empty_spaces)]
    for where, (x0, y0, x1, y1) in boxes:
        if x1 > fw or y1 > fh:
            raise AnalysisRejected(f"{where}.bbox {[x0, y0, x1, y1]} lies outside the {fw}×{fh} image")
    out: dict[str, Any] = analysis.model_dump(mode="json", by_alias=True)
    for item in [*out["objects"], *out["empty_spaces"]]:
        item["bbox"] = _scale(item["bbox"], fw, fh, w, h)
    if product_mask is not None:
        for i, space in enumerate(out["empty_spaces"]):
            x0, y0, x1, y1 = space["bbox"]
            covered = float(product_mask[y0:y1, x0:x1].mean())
            if covered > OVERLAP_TOLERANCE:
                raise AnalysisRejected(
                    f"empty_spaces[{i}] ({space['region']}) lies on the product ({covered:.0%} of it)"
                )
    out["empty_spaces"] = sorted(out["empty_spaces"], key=lambda s: -s["suitability"])
    return LayoutAnalysis.model_validate(out)


def _scale(bbox: list[int], fw: int, fh: int, w: int, h: int) -> list[int]:
    x0, y0, x1, y1 = bbox  # integer arithmetic: a box at the frame's edge lands exactly on the image's
    nx0, ny0 = min(w - 1, x0 * w // fw), min(h - 1, y0 * h // fh)
    nx1 = min(w, max(nx0 + 1, (x1 * w + fw // 2) // fw))
    ny1 = min(h, max(ny0 + 1, (y1 * h + fh // 2) // fh))
    return [nx0, ny0, nx1, ny1]


def _excerpt(text: str, n: int = 80) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "empty answer"
    return repr(flat[:n] + ("…" if len(flat) > n else ""))


# -- cache ----------------------------------------------------------------------------------------------


def _cache_key(image: npt.NDArray[np.uint8], model: str, model_dir: Path) -> str:
    digest = hashlib.sha256()
    digest.update(repr((image.shape, str(image.dtype), model, str(model_dir.resolve()))).encode())
    digest.update(repr((MAX_PIXELS, MAX_NEW_TOKENS)).encode())
    digest.update(load_prompt(PROMPT).encode("utf-8"))
    digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()


class _AnswerCache:
    """Answers by key: the last CACHE_SIZE in memory, all of them as JSON under data_dir/cache/qwen."""

    def __init__(self) -> None:
        self._mem: OrderedDict[str, Answer] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _path(key: str, settings: Settings) -> Path:
        return settings.data_dir / "cache" / "qwen" / f"{key}.json"

    def get(self, key: str, settings: Settings) -> Answer | None:
        with self._lock:
            if key in self._mem:
                self._mem.move_to_end(key)
                return self._mem[key]
        path = self._path(key, settings)
        if not path.is_file():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            answer = Answer(text=str(raw["text"]), frame=(int(raw["frame"][0]), int(raw["frame"][1])))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            log.warning("ignoring the unreadable Qwen2-VL cache entry %s", path)
            return None
        self._remember(key, answer)
        return answer

    def put(self, key: str, answer: Answer, settings: Settings) -> None:
        self._remember(key, answer)
        try:
            write_json_atomic(
                self._path(key, settings),
                {"model": settings.qwen_model, "frame": list(answer.frame), "text": answer.text},
            )
        except (OSError, NanococoaError) as exc:  # the cache is an optimisation: never fail a job over it
            log.warning("could not write the Qwen2-VL cache: %s", exc)

    def _remember(self, key: str, answer: Answer) -> None:
        with self._lock:
            self._mem[key] = answer
            self._mem.move_to_end(key)
            while len(self._mem) > CACHE_SIZE:
                self._mem.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._mem.clear()


_CACHE = _AnswerCache()


def clear_cache() -> None:
    """Forget the in-memory answers (the files under the data directory stay)."""
    _CACHE.clear()
