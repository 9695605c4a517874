"""The FLUX scene backend: real (tiny, randomly initialised) FLUX pipelines saved to a local folder and
loaded offline by the backend, repainting the scene around a product whose pixels come back unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from nanococoa_mcp.ad.backends import flux
from nanococoa_mcp.ad.backends.models import get_manager
from nanococoa_mcp.ad.stages.scene import RepaintInput
from nanococoa_mcp.errors import BackendUnavailable, InvalidInput
from nanococoa_mcp.jobs.cancel import JobStopped, stop_checks
from nanococoa_mcp.settings import Settings

SCHNELL = "tiny-flux-schnell"  # guidance-distilled text-to-image checkpoint, saved as a FluxPipeline
FILL = "tiny-flux-fill"  # guidance-embedded Fill checkpoint
WORDS = ["a", "wooden", "table", "in", "cozy", "cafe", "sunlight", "marble", "studio", "realistic"]
LATENT = 2  # tiny VAE: 2 latent channels, 3 blocks -> 4× downsampling, sides multiples of 8
BLOCKS = (4, 4, 4)


def _save_tiny_flux(path: Path, *, fill: bool) -> None:
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxFillPipeline,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5TokenizerFast

    clip_vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for token in [f"{w}</w>" for w in WORDS] + list("abcdefghijklmnopqrstuvwxyz,."):
        clip_vocab.setdefault(token, len(clip_vocab))
    tokenizer = CLIPTokenizer(vocab=clip_vocab, merges=[], model_max_length=77)
    t5_vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)] + [(f"▁{w}", -1.0) for w in WORDS]
    tokenizer_2 = T5TokenizerFast(vocab=t5_vocab, extra_ids=0, model_max_length=32)

    torch.manual_seed(0)
    scale = 2 ** (len(BLOCKS) - 1)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=8 * LATENT + 4 * scale * scale if fill else 4 * LATENT,
        out_channels=4 * LATENT,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=fill,
        axes_dims_rope=[4, 4, 8],
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(clip_vocab),
            projection_dim=32,
        )
    )
    text_encoder_2 = T5EncoderModel(
        T5Config(
            vocab_size=len(t5_vocab),
            d_model=32,
            d_kv=8,
            d_ff=37,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(BLOCKS),
        up_block_types=("UpDecoderBlock2D",) * len(BLOCKS),
        block_out_channels=BLOCKS,
        layers_per_block=1,
        latent_channels=LATENT,
        norm_num_groups=1,
        sample_size=32,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    cls = FluxFillPipeline if fill else FluxPipeline
    pipe = cls(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )
    pipe.save_pretrained(path)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("models")
    _save_tiny_flux(root / SCHNELL, fill=False)
    _save_tiny_flux(root / FILL, fill=True)
    yield root
    manager = get_manager(Settings())
    for name in (SCHNELL, FILL):
        manager.unload(f"flux:{name}")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _settings(models_dir: Path, model: str = SCHNELL) -> Settings:
    return Settings(device="cpu", models_dir=models_dir, flux_model=model, flux_size=256)


def _composed(h: int = 64, w: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """A two-tone studio scene with a striped product standing in the lower middle, and its mask."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.where((yy < h * 0.6)[..., None], np.array([236, 228, 214]), np.array([180, 150, 120])).astype(np.uint8)
    product = ((xx - w / 2) / (w * 0.18)) ** 2 + ((yy - h * 0.62) / (h * 0.28)) ** 2 < 1
    img[product] = np.where((yy[product] // 3 % 2 == 0)[:, None], [200, 30, 40], [250, 240, 90])
    return img, product


def _input(**overrides: object) -> RepaintInput:
    img, keep = _composed()
    args: dict[str, object] = {
        "image": img,
        "keep_mask": keep,
        "prompt": "a wooden table in a cozy cafe, sunlight",
        "strength": 0.6,
        "guidance_scale": 3.5,
        "seed": 7,
        "steps": None,
    }
    args.update(overrides)
    return RepaintInput(**args)  # type: ignore[arg-type]


def test_the_scene_is_repainted_around_the_product_and_the_product_is_kept_bit_for_bit(models_dir: Path) -> None:
    inp = _input()
    steps: list[tuple[int, int]] = []
    out = flux.repaint(inp, _settings(models_dir), on_step=lambda i, n: steps.append((i, n)))

    assert out.shape == inp.image.shape and out.dtype == np.uint8
    assert np.array_equal(out[inp.keep_mask], inp.image[inp.keep_mask])
    around = ~inp.keep_mask
    changed = np.abs(out.astype(int) - inp.image.astype(int)).max(axis=2)[around] > 8
    assert changed.mean() > 0.5  # the scene is new, not the procedural one
    # schnell's 4 steps at strength 0.6: diffusers re-noises 60 % of the schedule and runs its last 3 steps
    assert steps == [(1, 3), (2, 3), (3, 3)]


def test_progress_counts_every_diffusion_step_at_full_strength(models_dir: Path) -> None:
    steps: list[tuple[int, int]] = []
    flux.repaint(_input(strength=1.0, steps=5), _settings(models_dir), on_step=lambda i, n: steps.append((i, n)))
    assert steps == [(i, 5) for i in range(1, 6)]


def test_the_same_seed_gives_the_same_scene_and_another_seed_another(models_dir: Path) -> None:
    settings = _settings(models_dir)
    a = flux.repaint(_input(seed=11), settings)
    b = flux.repaint(_input(seed=11), settings)
    c = flux.repaint(_input(seed=12), settings)
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).max() > 8


def test_a_stop_request_ends_the_step_loop(models_dir: Path) -> None:
    steps: list[tuple[int, int]] = []

    def check() -> None:
        if len(steps) >= 2:
            raise JobStopped("stop requested")

    with stop_checks(check), pytest.raises(JobStopped):
        flux.repaint(_input(strength=1.0, steps=6), _settings(models_dir), lambda i, n: steps.append((i, n)))
    assert steps == [(1, 6), (2, 6)]
    # the warm pipeline is left usable: the next job runs to the end
    steps.clear()
    flux.repaint(_input(strength=1.0, steps=6), _settings(models_dir), lambda i, n: steps.append((i, n)))
    assert steps == [(i, 6) for i in range(1, 7)]


def test_the_model_loads_once_and_stays_warm(models_dir: Path) -> None:
    settings = _settings(models_dir)
    manager = get_manager(settings)
    key = f"flux:{SCHNELL}"
    manager.unload(key)
    before = manager.loads.get(key, 0)
    flux.repaint(_input(), settings)
    flux.repaint(_input(seed=3), settings)
    assert manager.loads[key] == before + 1
    assert key in manager.loaded()


def test_running_out_of_memory_retries_once_smaller_then_gives_a_typed_error(models_dir: Path) -> None:
    settings = _settings(models_dir)
    manager = get_manager(settings)
    key = f"flux:{SCHNELL}"
    manager.unload(key)
    before = manager.loads.get(key, 0)
    steps: list[int] = []
    ooms = [1]  # how many more steps run out of memory (as CUDA words it); -1: all of them

    def oom() -> None:
        if steps and ooms[0]:
            ooms[0] -= 1
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with stop_checks(oom):
        out = flux.repaint(_input(strength=1.0, steps=2), settings, on_step=lambda i, n: steps.append(i))
    assert out.shape == (64, 80, 3)
    assert steps == [1, 1, 2]  # the first try failed in its first step, the retry ran both
    assert manager.loads[key] == before + 2  # everything was unloaded and the model loaded afresh

    steps.clear()
    ooms[0] = -1
    with stop_checks(oom), pytest.raises(BackendUnavailable) as err:
        flux.repaint(_input(strength=1.0, steps=2), settings, on_step=lambda i, n: steps.append(i))
    assert err.value.field == "device" and "out of GPU memory twice" in err.value.message


def test_a_fill_checkpoint_runs_through_the_fill_pipeline(models_dir: Path) -> None:
    settings = _settings(models_dir, FILL)
    ckpt = flux.inspect_checkpoint(settings, bytes_per_param=4)
    assert ckpt.fill and not ckpt.distilled

    inp = _input(strength=1.0, steps=2, guidance_scale=30.0)
    steps: list[tuple[int, int]] = []
    out = flux.repaint(inp, settings, on_step=lambda i, n: steps.append((i, n)))
    assert np.array_equal(out[inp.keep_mask], inp.image[inp.keep_mask])
    assert steps == [(1, 2), (2, 2)]
    loaded = get_manager(settings).get(f"flux:{FILL}", lambda: pytest.fail("the Fill model should be warm"))
    assert type(loaded.pipe).__name__ == "FluxFillPipeline"
    # the size estimate read from the safetensors headers is the real parameter count
    params = sum(p.numel() for c in flux.COMPONENTS for p in getattr(loaded.pipe, c).parameters())
    assert ckpt.weights_gb == pytest.approx(params * 4 / 1e9, rel=0.01)


def test_a_text_to_image_checkpoint_runs_through_the_inpainting_pipeline(models_dir: Path) -> None:
    ckpt = flux.inspect_checkpoint(_settings(models_dir))
    assert not ckpt.fill and ckpt.distilled
    assert json.loads((ckpt.path / "model_index.json").read_text())["_class_name"] == "FluxPipeline"


def test_a_control_checkpoint_is_refused_by_its_input_channels(tmp_path: Path) -> None:
    model = tmp_path / "FLUX.1-Canny-dev"
    for folder, config in (
        ("transformer", {"in_channels": 128, "guidance_embeds": True}),
        ("vae", {"latent_channels": 16, "block_out_channels": [128, 256, 512, 512]}),
    ):
        (model / folder).mkdir(parents=True)
        (model / folder / "config.json").write_text(json.dumps(config))
    (model / "model_index.json").write_text("{}")
    with pytest.raises(BackendUnavailable) as err:
        flux.inspect_checkpoint(Settings(models_dir=tmp_path, flux_model=model.name))
    assert err.value.field == "flux_model" and "in_channels 128" in err.value.message


def test_a_missing_model_names_its_files_and_how_to_get_it(tmp_path: Path) -> None:
    settings = Settings(device="cpu", models_dir=tmp_path, flux_model="black-forest-labs/FLUX.1-schnell")
    with pytest.raises(BackendUnavailable) as err:
        flux.repaint(_input(), settings)
    assert "model_index.json" in err.value.message
    assert "huggingface-cli download black-forest-labs/FLUX.1-schnell" in (err.value.accepted or "")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"strength": 0.0}, "strength"),
        ({"strength": 1.5}, "strength"),
        ({"prompt": "  "}, "bg_prompt"),
        ({"keep_mask": np.ones((64, 80), bool)}, "keep_mask"),
        ({"keep_mask": np.zeros((32, 80), bool)}, "keep_mask"),
        ({"image": np.zeros((64, 80, 4), np.uint8)}, "image"),
        ({"steps": 0}, "steps"),
        ({"guidance_scale": float("nan")}, "guidance_scale"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_input_is_refused_naming_the_field(overrides: dict[str, object], field: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        flux.repaint(_input(**overrides), Settings(device="cpu", models_dir=tmp_path))
    assert err.value.field == field


def test_the_working_size_keeps_the_aspect_on_the_model_grid() -> None:
    assert flux.work_size(1080, 1920, 1024, 16) == (576, 1024)
    assert flux.work_size(1000, 800, 1024, 16) == (1024, 816)
    assert flux.work_size(64, 80, 256, 8) == (208, 256)


def test_the_model_keeps_only_latent_cells_wholly_inside_the_product() -> None:
    _, keep = _composed(600, 400)
    size, cell = flux.work_size(600, 400, 1024, 16), 8
    kept = flux.model_keep(keep, size, cell)
    assert kept.shape == size and kept.any()
    cells = kept.reshape(size[0] // cell, cell, size[1] // cell, cell)
    assert (cells.all(axis=(1, 3)) == cells.any(axis=(1, 3))).all()  # whole cells only
    back = cv2.resize(kept.astype(np.uint8), (400, 600), interpolation=cv2.INTER_NEAREST).astype(bool)
    assert not (back & ~keep).any()  # nothing of the old scene around the product is kept


def test_a_whole_ad_with_the_flux_scene_keeps_the_product_and_reports_each_step(models_dir: Path) -> None:
    """Through the real pipeline: procedural init, compose, FLUX around the product, copy, final check."""
    from nanococoa_mcp.ad.images import decode_image
    from nanococoa_mcp.ad.pipeline import AdRequest, AdResult, ProgressEvent, Studio
    from nanococoa_mcp.ad.plan import stage_plan
    from tests.conftest import SAMPLES

    settings = _settings(models_dir).model_copy(update={"scene_backend": "flux", "data_dir": models_dir / "data"})
    events: list[ProgressEvent] = []
    request = AdRequest(text_content="수제 떡 당일 제작", size="1:1", bg_prompt="a wooden table in a cozy cafe")
    photo = decode_image((SAMPLES / "dango.png").read_bytes())

    def make(scene_backend: str) -> AdResult:
        studio = Studio(settings.model_copy(update={"scene_backend": scene_backend}))
        try:
            return studio.generate(photo, request, events.append if scene_backend == "flux" else None)
        finally:
            studio.close()

    # Playwright's sync API (the typesetting) runs on its own thread, as in a worker.
    with ThreadPoolExecutor(max_workers=1) as pool:
        ad = pool.submit(make, "flux").result()
        procedural = pool.submit(make, "studio").result()
    quality = ad.variants[0].quality
    assert quality.product_pixels_changed == 0 and quality.text_product_overlap_px == 0
    assert not np.array_equal(ad.variants[0].step1, procedural.variants[0].step1)  # the scene was repainted
    stages = [(e.step, e.sub_step) for e in events]
    assert [st for i, st in enumerate(stages) if i == 0 or st != stages[i - 1]] == stage_plan(1, 1, True)
    diffusion = [e for e in events if e.sub_step == "scene_generation"]
    assert len(diffusion) >= 2 and "step 1 of" in diffusion[1].message
    percents = [e.percent for e in events]
    assert percents == sorted(percents)
