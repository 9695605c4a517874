"""Model-backend benchmark (issue 5): FLUX.1-schnell, Qwen2-VL-2B and a BiRefNet encoder proxy at their real
sizes, built straight on the GPU with random weights (speed and memory do not depend on the weights), timed
per stage with peak VRAM, and a whole ad estimated from them plus the embedded stages that stay on the CPU.

Without a CUDA device the GPU rows are marked skipped and the same code paths run on tiny configs on the
CPU (--tiny forces that run): a smoke run that exercises the code, not a GPU figure.

    .venv/bin/python -m bench.models [--tiny] [--steps 4] [--size 1024] [--tokens 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from nanococoa_mcp.ad.backends.models import is_oom
from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.pipeline import AdRequest, Studio
from nanococoa_mcp.settings import Settings

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SCENE_PROMPT = "a wooden table in a cozy cafe, warm sunlight, realistic studio photo"
STRENGTH = 0.6  # the seed's default img2img strength
GUIDANCE = 3.5  # the seed's default; no effect on guidance-distilled schnell
KEPT_STAGES = ("scene", "compose", "copy", "render", "final")  # embedded stages a GPU ad still runs
SKIPPED = "skipped: no CUDA device"

# FLUX.1-schnell's scheduler (guidance-distilled: no dynamic shift).
SCHNELL_SCHEDULER = {"num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": False}


@dataclass(frozen=True, slots=True)
class Sizes:
    """Every architecture dimension the bench builds. Tokenizer-dependent ids (bos/eos/pad, image tokens)
    are filled in from the tiny in-process tokenizers; the vocabularies stay at these sizes."""

    label: str
    names: dict[str, str]  # what the table calls each stage's model
    flux_transformer: dict[str, Any]
    flux_vae: dict[str, Any]
    clip: dict[str, Any]
    t5: dict[str, Any]
    qwen_text: dict[str, Any]
    qwen_vision: dict[str, Any]
    swin: dict[str, Any]  # overrides of timm's swin_large_patch4_window12_384 (empty: Swin-L itself)
    birefnet_side: int


# Real sizes: the checkpoints' config.json values on the hub (black-forest-labs/FLUX.1-schnell transformer/,
# vae/, text_encoder/ = openai/clip-vit-large-patch14's text tower, text_encoder_2/ = google/t5-v1_1-xxl's
# encoder; Qwen/Qwen2-VL-2B-Instruct), written from memory and checked by parameter count: 11.89 B, 83.8 M,
# 123.1 M, 4.76 B and 2.21 B, the published sizes.
REAL = Sizes(
    label="real size",
    names={
        "flux": "FluxInpaintPipeline: FLUX.1-schnell transformer + VAE + CLIP-L + T5-XXL encoder",
        "qwen": "Qwen2VLForConditionalGeneration, Qwen2-VL-2B-Instruct config",
        "birefnet": "PROXY: Swin-L encoder (timm), BiRefNet's backbone",
    },
    flux_transformer={
        "patch_size": 1,
        "in_channels": 64,
        "num_layers": 19,
        "num_single_layers": 38,
        "attention_head_dim": 128,
        "num_attention_heads": 24,
        "joint_attention_dim": 4096,
        "pooled_projection_dim": 768,
        "guidance_embeds": False,
        "axes_dims_rope": (16, 56, 56),
    },
    flux_vae={
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "up_block_types": ("UpDecoderBlock2D",) * 4,
        "block_out_channels": (128, 256, 512, 512),
        "layers_per_block": 2,
        "latent_channels": 16,
        "norm_num_groups": 32,
        "sample_size": 1024,
        "scaling_factor": 0.3611,
        "shift_factor": 0.1159,
        "use_quant_conv": False,
        "use_post_quant_conv": False,
    },
    clip={
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "max_position_embeddings": 77,
        "vocab_size": 49408,
        "hidden_act": "quick_gelu",
        "projection_dim": 768,
    },
    t5={
        "vocab_size": 32128,
        "d_model": 4096,
        "d_kv": 64,
        "d_ff": 10240,
        "num_layers": 24,
        "num_heads": 64,
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "feed_forward_proj": "gated-gelu",
        "tie_word_embeddings": False,
    },
    qwen_text={
        "vocab_size": 151936,
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    },
    qwen_vision={
        "depth": 32,
        "embed_dim": 1280,
        "hidden_size": 1536,
        "num_heads": 16,
        "mlp_ratio": 4,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    },
    swin={},
    birefnet_side=1024,
)

TINY = Sizes(
    label="tiny",
    names={
        "flux": "FluxInpaintPipeline, tiny FLUX configs",
        "qwen": "Qwen2VLForConditionalGeneration, tiny config",
        "birefnet": "PROXY: tiny Swin (timm)",
    },
    flux_transformer={
        "patch_size": 1,
        "in_channels": 8,
        "num_layers": 1,
        "num_single_layers": 1,
        "attention_head_dim": 16,
        "num_attention_heads": 2,
        "joint_attention_dim": 32,
        "pooled_projection_dim": 32,
        "guidance_embeds": False,
        "axes_dims_rope": (4, 4, 8),
    },
    flux_vae={
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ("DownEncoderBlock2D",) * 3,
        "up_block_types": ("UpDecoderBlock2D",) * 3,
        "block_out_channels": (4, 4, 4),
        "layers_per_block": 1,
        "latent_channels": 2,
        "norm_num_groups": 1,
        "sample_size": 32,
        "scaling_factor": 1.5035,
        "shift_factor": 0.0609,
        "use_quant_conv": False,
        "use_post_quant_conv": False,
    },
    clip={
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_attention_heads": 4,
        "num_hidden_layers": 2,
        "max_position_embeddings": 77,
        "vocab_size": 64,
        "projection_dim": 32,
    },
    t5={
        "vocab_size": 32,
        "d_model": 32,
        "d_kv": 8,
        "d_ff": 37,
        "num_layers": 2,
        "num_heads": 4,
        "relative_attention_num_buckets": 8,
    },
    qwen_text={
        "vocab_size": 512,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 2, 4]},
    },
    qwen_vision={
        "depth": 1,
        "embed_dim": 32,
        "hidden_size": 32,
        "num_heads": 2,
        "mlp_ratio": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    },
    swin={"embed_dim": 16, "depths": (1, 1, 1, 1), "num_heads": (1, 1, 1, 1), "window_size": 4},
    birefnet_side=128,
)


@dataclass(slots=True)
class Measured:
    stage: str
    model: str
    params: int
    weights_gb: float
    times: list[float]
    peak_gb: float | None  # None on the CPU
    note: str

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)


@dataclass(frozen=True, slots=True)
class Embedded:
    stages: dict[str, float]  # median seconds per embedded stage
    step1: npt.NDArray[np.uint8]  # the composed 1080×1350 image the layout stage analyses


# ---------------------------------------------------------------- building and timing


@contextmanager
def building(device: str, dtype: Any) -> Iterator[None]:
    """Modules constructed inside are allocated and randomly initialised on `device` in `dtype` directly
    (no CPU copy of a 30 GB model)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def keep_fp32(model: Any, dtype: Any) -> None:
    """Upcast what transformers' from_pretrained keeps in float32 at `dtype` (T5's `wo` at float16 only)."""
    import torch

    keep = set(getattr(model, "_keep_in_fp32_modules_strict", None) or ()) if dtype == torch.bfloat16 else set()
    if dtype == torch.float16:
        keep |= set(getattr(model, "_keep_in_fp32_modules", None) or ())
        keep |= set(getattr(model, "_keep_in_fp32_modules_strict", None) or ())
    for name, module in model.named_modules():
        if keep & set(name.split(".")):
            module.float()


def size_of(*models: Any) -> tuple[int, float]:
    params = [p for m in models for p in m.parameters()]
    return sum(p.numel() for p in params), sum(p.numel() * p.element_size() for p in params) / 1e9


def timed(fn: Callable[[], object], runs: int, cuda: bool) -> tuple[list[float], float | None]:
    """Seconds of `runs` calls after one warm-up, and the peak GPU memory (GB) since the call began (the
    stage's resident weights included)."""
    import torch

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    fn()  # warm-up: kernel selection, allocator, caches
    times = []
    for _ in range(runs):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return times, (torch.cuda.max_memory_allocated() / 1e9 if cuda else None)


def free() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---------------------------------------------------------------- stages


def bench_embedded(runs: int) -> Embedded:
    """One 1080×1350 ad on the embedded backends (warm browser): the stages a GPU ad still runs on the CPU."""
    with tempfile.TemporaryDirectory(prefix="nanococoa-bench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            cutout_backend="studio",
            scene_backend="studio",
            layout_backend="studio",
            copy_backend="template",
        )
        studio = Studio(settings)
        try:
            image = decode_image((SAMPLES / "fish.png").read_bytes())
            req = AdRequest(
                text_content="건어물 대박 세일",
                sub_copy="오늘만 30% 할인",
                style="traditional_market",
                text_style="gold_balloon",
            )
            result = studio.generate(image, req)  # warm-up: browser start, caches
            per_stage: dict[str, list[float]] = {s: [] for s in KEPT_STAGES}
            for i in range(runs):
                result = studio.generate(image, req.model_copy(update={"seed": i}))
                for s in KEPT_STAGES:
                    per_stage[s].append(result.timings.get(s, 0.0))
        finally:
            studio.close()
    return Embedded({s: statistics.median(v) for s, v in per_stage.items()}, result.variants[0].step1)


def flux_tokenizers(t5_max_length: int) -> tuple[Any, Any]:
    """Tiny CLIP and T5 tokenizers built in process (no hub); FLUX pads to fixed lengths (77 and the
    T5 sequence length), so the encoders see as many tokens as with the real vocabularies."""
    from transformers import CLIPTokenizer, T5TokenizerFast  # type: ignore[attr-defined]

    words = ["a", "wooden", "table", "in", "cozy", "cafe", "warm", "sunlight", "realistic", "studio", "photo"]
    clip_vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in [f"{w}</w>" for w in words] + list("abcdefghijklmnopqrstuvwxyz,."):
        clip_vocab.setdefault(token, len(clip_vocab))
    clip = CLIPTokenizer(vocab=clip_vocab, merges=[], model_max_length=77)
    t5_vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)] + [(f"▁{w}", -1.0) for w in words]
    t5 = T5TokenizerFast(vocab=t5_vocab, extra_ids=0, model_max_length=t5_max_length)
    return clip, t5


def _square_scene(side: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """A two-tone scene with a product ellipse in the lower middle, and the product's mask."""
    yy, xx = np.mgrid[0:side, 0:side]
    image = np.where((yy < side * 0.6)[..., None], np.array([236, 228, 214]), np.array([180, 150, 120]))
    product = ((xx - side / 2) / (side * 0.2)) ** 2 + ((yy - side * 0.62) / (side * 0.28)) ** 2 < 1
    image[product] = (200, 30, 40)
    return image.astype(np.uint8), product


def bench_flux(sizes: Sizes, device: str, dtype: Any, side: int, steps: int, runs: int) -> Measured:
    """`flux.repaint`, the project's scene path, on a FLUX.1-schnell-sized FluxInpaintPipeline.

    The pipeline is built in memory and handed to the model manager under the key repaint looks up, with a
    checkpoint folder of its configs (and empty stand-ins for the weight files the registry lists) for it to
    inspect: everything after loading (sizing, masks, the diffusion call, paste-back) is the real code, and
    no 34 GB random checkpoint is written to disk."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxInpaintPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from nanococoa_mcp.ad.backends import flux
    from nanococoa_mcp.ad.backends.models import get_manager
    from nanococoa_mcp.ad.backends.registry import FLUX_WEIGHTS
    from nanococoa_mcp.ad.stages.scene import RepaintInput

    clip_tok, t5_tok = flux_tokenizers(t5_max_length=512)
    clip_ids: dict[str, Any] = {"bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}
    t5_ids: dict[str, Any] = {"pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}
    with building(device, dtype):
        transformer: Any = FluxTransformer2DModel(**sizes.flux_transformer)
        vae: Any = AutoencoderKL(**sizes.flux_vae)
        clip: Any = CLIPTextModel(CLIPTextConfig(**sizes.clip, **clip_ids))
        t5: Any = T5EncoderModel(T5Config(**sizes.t5, **t5_ids))
    for encoder in (clip, t5):
        keep_fp32(encoder, dtype)
    for module in (transformer, vae, clip, t5):
        module.eval()
    pipe: Any = FluxInpaintPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**SCHNELL_SCHEDULER),
        vae=vae,
        text_encoder=clip,
        tokenizer=clip_tok,
        text_encoder_2=t5,
        tokenizer_2=t5_tok,
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    params, weights_gb = size_of(transformer, vae, clip, t5)
    cuda = device.startswith("cuda")

    with tempfile.TemporaryDirectory(prefix="nanococoa-bench-") as tmp:
        folder = Path(tmp) / "bench-flux-schnell"
        pipe.save_config(folder)  # model_index.json
        transformer.save_config(folder / "transformer")
        vae.save_config(folder / "vae")
        for name in FLUX_WEIGHTS.required(folder):  # never read: the warm pipeline is handed over below
            stand_in = folder / name
            if not stand_in.exists():
                stand_in.parent.mkdir(parents=True, exist_ok=True)
                # An empty safetensors file (an 8-byte header length, then "{}") reads as 0 parameters.
                stand_in.write_bytes(struct.pack("<Q", 2) + b"{}" if name.endswith(".safetensors") else b"{}")
        settings = Settings(
            data_dir=Path(tmp) / "data",
            device=device,
            models_dir=Path(tmp),
            flux_model=folder.name,
            flux_size=side,
            flux_steps=steps,
        )
        largest = max(size_of(m)[1] for m in (transformer, vae, clip, t5))
        ckpt = dataclasses.replace(
            flux.inspect_checkpoint(settings), weights_gb=weights_gb, largest_gb=largest
        )
        warm = flux._Flux(pipe=pipe, checkpoint=ckpt, mode="gpu" if cuda else "cpu", device=device)
        manager = get_manager(settings)
        key = f"flux:{settings.flux_model}"
        manager.get(key, lambda: warm, vram_gb=flux._vram_gb(ckpt, warm.mode), unload=flux._unload)

        image, keep = _square_scene(side)
        inp = RepaintInput(
            image=image, keep_mask=keep, prompt=SCENE_PROMPT, strength=STRENGTH, guidance_scale=GUIDANCE, seed=0
        )
        ran: list[int] = []

        def once() -> None:
            ran.clear()
            out = flux.repaint(inp, settings, on_step=lambda step, _total: ran.append(step))
            assert out.shape == image.shape and (out[keep] == image[keep]).all()

        try:
            times, peak = timed(once, runs, cuda)
        finally:
            manager.unload(key)
    return Measured(
        stage="scene (FLUX)",
        model=sizes.names["flux"],
        params=params,
        weights_gb=weights_gb,
        times=times,
        peak_gb=peak,
        note=f"flux.repaint, {side}×{side}, {len(ran)} of {steps} steps run (strength {STRENGTH}), T5 256 tokens",
    )


QWEN_SPECIAL = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
QWEN_TEMPLATE = (  # Qwen2-VL's chat format, without its default system turn
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def qwen_processor() -> Any:
    """Qwen2-VL's image processor (real) with a tiny byte-level tokenizer: every text encodes, one token
    per byte, so the prompt is a few times longer in tokens than with the real vocabulary."""
    from tokenizers import pre_tokenizers
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    vocab = {"<|endoftext|>": 0} | {ch: i + 1 for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": QWEN_SPECIAL})
    return Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN_TEMPLATE,
    )


def bench_qwen(sizes: Sizes, device: str, dtype: Any, image: npt.NDArray[np.uint8], tokens: int, runs: int) -> Measured:
    """`qwen.generate`, the project's analysis call, on a Qwen2-VL-2B-sized model, writing exactly `tokens`
    new tokens (random weights would stop at a random length): MAX_NEW_TOKENS is lowered and the model's
    generation config asks for as many at least, for the duration of the run."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from nanococoa_mcp.ad.backends import qwen

    processor = qwen_processor()
    tok = processor.tokenizer
    special = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    config = Qwen2VLConfig(
        text_config={**sizes.qwen_text, "bos_token_id": 0, "eos_token_id": special["<|im_end|>"], "pad_token_id": 0},
        vision_config=sizes.qwen_vision,
        image_token_id=special["<|image_pad|>"],
        video_token_id=special["<|video_pad|>"],
        vision_start_token_id=special["<|vision_start|>"],
        vision_end_token_id=special["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    with building(device, dtype):
        model = Qwen2VLForConditionalGeneration(config)
    keep_fp32(model, dtype)
    model.eval()
    model.generation_config.min_new_tokens = tokens
    params, weights_gb = size_of(model)
    ip = processor.image_processor
    loaded = qwen.QwenModel(model=model, processor=processor, device=device, factor=int(ip.patch_size * ip.merge_size))
    h, w = image.shape[:2]
    fw, fh = qwen.frame_size(w, h, loaded.factor)
    visual = (fw // loaded.factor) * (fh // loaded.factor)
    default_max = qwen.MAX_NEW_TOKENS
    qwen.MAX_NEW_TOKENS = tokens
    try:
        times, peak = timed(lambda: qwen.generate(loaded, image), runs, device.startswith("cuda"))
    finally:
        qwen.MAX_NEW_TOKENS = default_max
    return Measured(
        stage="layout (Qwen2-VL)",
        model=sizes.names["qwen"],
        params=params,
        weights_gb=weights_gb,
        times=times,
        peak_gb=peak,
        note=f"qwen.generate, {w}×{h} ad read at {fw}×{fh} ({visual} visual tokens), {tokens} new tokens, "
        "prompt tokenised per byte",
    )


def bench_birefnet_proxy(sizes: Sizes, device: str, runs: int) -> Measured:
    """A PROXY: BiRefNet is remote code, not available offline. Its default backbone, Swin-L (window 12),
    run at 1024² and on the half-size copy its multi-scale input adds; its decoder is not counted, so
    the real model is slower than this."""
    import timm
    import torch
    import torch.nn.functional as F

    cuda = device.startswith("cuda")
    dtype = torch.float16 if cuda else torch.float32  # what the birefnet backend runs in
    side = sizes.birefnet_side
    with building(device, dtype):
        full = timm.create_model("swin_large_patch4_window12_384", img_size=side, features_only=True, **sizes.swin)
        half = timm.create_model("swin_large_patch4_window12_384", img_size=side // 2, features_only=True, **sizes.swin)
    full.eval()
    half.eval()
    x = torch.rand(1, 3, side, side, device=device, dtype=dtype)
    params, weights_gb = size_of(full)

    def once() -> None:
        with torch.inference_mode():
            full(x)
            half(F.interpolate(x, size=(side // 2, side // 2), mode="bilinear", align_corners=True))

    times, peak = timed(once, runs, cuda)
    return Measured(
        stage="cutout (BiRefNet)",
        model=sizes.names["birefnet"],
        params=params,
        weights_gb=weights_gb,
        times=times,
        peak_gb=peak,
        note=f"encoder only at {side}² + {side // 2}²; decoder and mask finishing not counted (real is slower)",
    )


# ---------------------------------------------------------------- report


def _count(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def _table(title: str) -> Table:
    table = Table(title=title)
    for col, justify in (
        ("stage", "left"),
        ("model", "left"),
        ("params", "right"),
        ("weights GB", "right"),
        ("time s", "right"),
        ("peak VRAM GB", "right"),
        ("notes", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    return table


def skipped_table() -> Table:
    table = _table("Model stages at real size on a CUDA device")
    for stage, model in (
        ("cutout (BiRefNet)", "PROXY: Swin-L encoder at 1024²"),
        ("scene (FLUX)", "FLUX.1-schnell FluxInpaintPipeline"),
        ("layout (Qwen2-VL)", "Qwen2-VL-2B"),
        ("whole ad", "the stages above + embedded CPU stages"),
    ):
        table.add_row(stage, model, "", "", SKIPPED, SKIPPED, "")
    return table


def report(
    rows: list[Measured], failed: list[tuple[str, str, str]], embedded: Embedded, title: str, cuda: bool
) -> Table:
    table = _table(title)
    for r in rows:
        peak = f"{r.peak_gb:.1f}" if r.peak_gb is not None else "n/a (CPU)"
        table.add_row(r.stage, r.model, _count(r.params), f"{r.weights_gb:.2f}", f"{r.seconds:.3f}", peak, r.note)
    for stage, model, why in failed:
        table.add_row(stage, model, "", "", "out of memory", "", why)
    cpu = sum(embedded.stages.values())
    detail = ", ".join(f"{s} {t:.3f}" for s, t in embedded.stages.items())
    table.add_row(
        "embedded stages",
        "CPU (studio scene, compose, copy, render, final)",
        "",
        "",
        f"{cpu:.3f}",
        "",
        f"measured here: {detail}",
    )
    peaks = [r.peak_gb for r in rows if r.peak_gb is not None]
    whole_peak = f"{max(peaks):.1f}" if peaks else "n/a (CPU)"
    table.add_row(
        "whole ad (estimate)",
        "sum of the rows above, 1 variant",
        _count(sum(r.params for r in rows)),
        f"{sum(r.weights_gb for r in rows):.2f}",
        f"{sum(r.seconds for r in rows) + cpu:.3f}",
        whole_peak,
        ("INCOMPLETE, without " + ", ".join(f[0] for f in failed) + "; " if failed else "")
        + (
            "models warm, one resident at a time (peak = the largest stage); all warm at once needs their weights"
            if cuda
            else "tiny CPU smoke run, not a GPU figure"
        ),
    )
    return table


def run_models(sizes: Sizes, device: str, side: int, steps: int, tokens: int, runs: int, console: Console) -> None:
    import torch

    cuda = device.startswith("cuda")
    if cuda:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = torch.float32
    console.print(f"embedded ad on {SAMPLES / 'fish.png'} …")
    embedded = bench_embedded(runs)
    rows: list[Measured] = []
    failed: list[tuple[str, str, str]] = []
    for stage, key, measure in (
        ("cutout (BiRefNet)", "birefnet", lambda: bench_birefnet_proxy(sizes, device, runs)),
        ("scene (FLUX)", "flux", lambda: bench_flux(sizes, device, dtype, side, steps, runs)),
        ("layout (Qwen2-VL)", "qwen", lambda: bench_qwen(sizes, device, dtype, embedded.step1, tokens, runs)),
    ):
        console.print(f"{stage}: {sizes.label}, {device} …")
        try:
            rows.append(measure())
        except Exception as exc:  # a GPU too small for the whole model: say so, keep the other rows
            if not is_oom(exc):
                raise
            failed.append((stage, sizes.names[key], f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"))
        free()  # one model resident at a time: each row's peak is its own
    if cuda:
        gpu = torch.cuda.get_device_name(torch.device(device))
        title = f"Model stages at real size, random weights, {gpu} ({dtype}), median of {runs} after a warm-up (s)"
    else:
        title = f"TINY CPU SMOKE RUN, NOT A GPU FIGURE: tiny configs, cpu float32, median of {runs} after a warm-up (s)"
    console.print(report(rows, failed, embedded, title, cuda))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="run the tiny configs on the CPU even with a GPU")
    parser.add_argument("--steps", type=int, default=4, help="FLUX steps (about steps × 0.6 run; schnell: 4)")
    parser.add_argument("--size", type=int, default=1024, help="FLUX working side, px (multiple of 16, ≥ 256)")
    parser.add_argument("--tokens", type=int, default=300, help="Qwen2-VL new tokens, a fixed count")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per stage after one warm-up (median)")
    args = parser.parse_args()
    if args.size < 256 or args.size % 16:
        parser.error("--size must be a multiple of 16, at least 256")
    console = Console(width=200)

    import torch

    if torch.cuda.is_available() and not args.tiny:
        run_models(REAL, "cuda", args.size, args.steps, args.tokens, args.runs, console)
        return
    if not torch.cuda.is_available():
        console.print(skipped_table())
    # Smallest sizes the code accepts (FLUX works at ≥ 256 px); a few tokens; one timed run.
    run_models(TINY, "cpu", 256, args.steps, min(args.tokens, 16), 1, console)


if __name__ == "__main__":
    main()
