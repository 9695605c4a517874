"""The BiRefNet cut-out backend: a tiny checkpoint laid out like the official one (config.json with an
auto_map, the model's code files, model.safetensors) loaded offline by the real loader, its mask turned
into the RGBA cut-out.

The tiny model's final map is a fixed 1×1 convolution, logit = gain·(R - G - threshold) on 0..1 colours:
with gain 16 and threshold 0.5 the mask it gives on a red disc over white paper is known (the disc, its
edge as soft as the photo's); with 40 and 0.12 it finds the apple of samples/apple.jpg.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from nanococoa_mcp.ad.backends import birefnet
from nanococoa_mcp.ad.backends.models import get_manager
from nanococoa_mcp.ad.images import decode_image, fit_long_side
from nanococoa_mcp.ad.stages import cutout
from nanococoa_mcp.ad.stages.cutout import CutoutInput, CutoutOutput, CutoutParams
from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.settings import get_settings

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
MEAN, STD = birefnet.MEAN, birefnet.STD

# BiRefNet_config.py and birefnet.py as the hub folder has them (the model file imports the config
# relatively). The model returns its maps coarse to fine, as BiRefNet does; it refuses inputs larger
# than `oom_above` with CUDA's out-of-memory message.
CONFIG_CODE = """
from transformers import PretrainedConfig


class BiRefNetConfig(PretrainedConfig):
    model_type = "tiny_birefnet"

    def __init__(self, bb_pretrained=False, oom_above=0, **kwargs):
        self.bb_pretrained = bb_pretrained
        self.oom_above = oom_above
        super().__init__(**kwargs)
"""
MODEL_CODE = """
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel

from .BiRefNet_config import BiRefNetConfig


class BiRefNet(PreTrainedModel):
    config_class = BiRefNetConfig

    def __init__(self, config):
        super().__init__(config)
        self.coarse = nn.Conv2d(3, 1, 3, padding=1)
        self.head = nn.Conv2d(3, 1, 1)
        self.post_init()

    def forward(self, x):
        if 0 < self.config.oom_above < x.shape[-1]:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [self.coarse(F.avg_pool2d(x, 4)), self.head(x)]
"""
# Checkpoint code written for transformers 4: config as the second argument, no post_init().
LEGACY_MODEL_CODE = MODEL_CODE.replace(
    "def __init__(self, config):", "def __init__(self, bb_pretrained=True, config=BiRefNetConfig()):"
).replace("        self.post_init()\n", "")


def _write_checkpoint(
    path: Path, *, model_code: str = MODEL_CODE, oom_above: int = 0, gain: float = 16.0, threshold: float = 0.5
) -> Path:
    import torch
    from safetensors.torch import save_file

    path.mkdir(parents=True)
    (path / "BiRefNet_config.py").write_text(CONFIG_CODE)
    (path / "birefnet.py").write_text(model_code)
    config = {
        "architectures": ["BiRefNet"],
        "auto_map": {
            "AutoConfig": "BiRefNet_config.BiRefNetConfig",
            "AutoModelForImageSegmentation": "birefnet.BiRefNet",
        },
        "model_type": "tiny_birefnet",
        "bb_pretrained": False,
        "oom_above": oom_above,
    }
    (path / "config.json").write_text(json.dumps(config))
    gen = torch.Generator().manual_seed(0)
    # On normalised input x_c = (v_c - mean_c) / std_c: gain·(v_R - v_G - threshold) = w·x + b.
    head_w = torch.tensor([gain * STD[0], -gain * STD[1], 0.0]).view(1, 3, 1, 1)
    head_b = torch.tensor([gain * (MEAN[0] - MEAN[1] - threshold)])
    weights = {
        "coarse.weight": 0.1 * torch.randn(1, 3, 3, 3, generator=gen),
        "coarse.bias": torch.zeros(1),
        "head.weight": head_w,
        "head.bias": head_b,
    }
    save_file(weights, str(path / "model.safetensors"), metadata={"format": "pt"})
    return path


@pytest.fixture(scope="module")
def modules_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Remote code is copied into a private modules cache and forgotten afterwards. transformers reads
    HF_MODULES_CACHE once, at import, and a process's `transformers_modules` package stays where it was
    first imported from, so both are set aside and put back."""
    import transformers.dynamic_module_utils as dmu

    path = tmp_path_factory.mktemp("hf_modules")
    saved_cache, saved_path = dmu.HF_MODULES_CACHE, list(sys.path)
    ours = [k for k in sys.modules if k.split(".")[0] == "transformers_modules"]
    saved_modules = {k: sys.modules.pop(k) for k in ours}
    dmu.HF_MODULES_CACHE = str(path)
    yield path
    for k in [k for k in sys.modules if k.split(".")[0] == "transformers_modules"]:
        del sys.modules[k]
    sys.modules.update(saved_modules)
    sys.path[:] = saved_path
    dmu.HF_MODULES_CACHE = saved_cache


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, modules_cache: Path) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("models")
    _write_checkpoint(root / "BiRefNet")
    _write_checkpoint(root / "BiRefNet_apple", gain=40.0, threshold=0.12)
    _write_checkpoint(root / "BiRefNet_oom", oom_above=800)
    _write_checkpoint(root / "BiRefNet_legacy", model_code=LEGACY_MODEL_CODE)
    yield root
    manager = get_manager(get_settings())
    for key in manager.loaded():
        if key.startswith(f"birefnet:{root}"):
            manager.unload(key)


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub: offline mode on (huggingface_hub also reads HF_HUB_OFFLINE only at import, hence the
    attribute), an empty HF cache, and the CPU."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("NANOCOCOA_DEVICE", "cpu")
    get_settings.cache_clear()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("the test refused a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _use(monkeypatch: pytest.MonkeyPatch, model: Path | str) -> str:
    monkeypatch.setenv("NANOCOCOA_BIREFNET_MODEL", str(model))
    get_settings.cache_clear()
    return f"birefnet:{model}"


def _opaque(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _red_disc(w: int = 1200, h: int = 900) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """A red disc on white paper with an anti-aliased edge, and the disc's coverage of each pixel."""
    big = np.zeros((4 * h, 4 * w), np.float32)
    cv2.circle(big, (4 * w // 2, 4 * h // 2), 4 * 300, 1.0, -1)
    cover = np.asarray(cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA), np.float32)
    red, white = np.array([255.0, 0.0, 0.0]), np.array([255.0, 255.0, 255.0])
    rgb = cover[..., None] * red + (1.0 - cover[..., None]) * white
    return np.round(rgb).astype(np.uint8), cover


def _cut(rgba: npt.NDArray[np.uint8], has_alpha: bool = False) -> CutoutOutput:
    """The cut-out stage with the birefnet backend, as an ad runs it."""
    return cutout.run(CutoutInput(image=rgba, has_alpha=has_alpha), CutoutParams(backend="birefnet"))


def _birefnet(rgba: npt.NDArray[np.uint8]) -> CutoutOutput:
    """The backend itself (the stage would fall back to the studio cut-out where it cannot run)."""
    return birefnet.cut_out(CutoutInput(image=rgba, has_alpha=False), CutoutParams(), get_settings())


def test_the_checkpoint_loads_offline_once_and_sees_a_1024_square(
    models: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    key = _use(monkeypatch, models / "BiRefNet_apple")
    photo = decode_image((SAMPLES / "apple.jpg").read_bytes())
    rgba = fit_long_side(photo.rgba, 1600)
    first = _cut(rgba)  # loads the model (JIT)
    seen: list[tuple[int, ...]] = []
    warm = birefnet.load(get_settings())
    hook = warm.model.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    try:
        second = _cut(rgba)  # runs the warm model
    finally:
        hook.remove()
    assert get_manager(get_settings()).loads[key] == 1
    assert seen == [(1, 3, 1024, 1024)]
    for out in (first, second):
        assert out.method == "birefnet"
        assert out.rgba.shape == rgba.shape and out.rgba.dtype == np.uint8
        alpha = out.rgba[..., 3]
        assert alpha.min() == 0 and alpha.max() == 255
        assert not out.rgba[alpha == 0, :3].any()
        x0, y0, x1, y1 = out.bbox
        assert alpha[y0:y1, x0:x1].any() and not alpha[:y0].any() and not alpha[:, x1:].any()
        assert 0.0 <= out.confidence <= birefnet.MAX_CONFIDENCE
    assert np.array_equal(first.rgba, second.rgba)


def test_a_red_disc_is_cut_out_along_its_outline_with_red_edges_not_pink(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, models / "BiRefNet")
    rgb, cover = _red_disc()
    out = _cut(_opaque(rgb))
    alpha = out.rgba[..., 3]
    found, disc = alpha >= 128, cover >= 0.5
    assert np.count_nonzero(found & disc) / np.count_nonzero(found | disc) > 0.98
    assert np.abs(np.subtract(out.bbox, (300, 150, 900, 750))).max() <= 1  # the disc's anti-aliased rim
    assert out.confidence > 0.9 and out.notes == ()
    edge = (alpha > 0) & (alpha < 255)
    assert np.count_nonzero(edge) > 1000  # the outline is soft, as it should be
    raw, cut = rgb[edge].astype(float), out.rgba[edge, :3].astype(float)
    # The photo's edge pixels are pink (red mixed with the white paper); the cut-out's are red.
    assert raw[:, 1].mean() > 90
    assert cut[:, 1].mean() < 0.25 * raw[:, 1].mean()
    assert cut[:, 0].mean() > 200


def test_with_a_product_box_the_model_sees_the_box_and_keeps_nothing_outside_it(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, models / "BiRefNet")
    rgb, cover = _red_disc()
    left = np.zeros_like(cover)
    cv2.circle(left, (130, 450), 100, 1.0, -1)  # a second red disc, left of the box
    rgb[left > 0] = (255, 0, 0)
    seen: list[tuple[int, ...]] = []
    warm = birefnet.load(get_settings())
    hook = warm.model.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    try:
        out = cutout.run(CutoutInput(image=_opaque(rgb), has_alpha=False, box=(280, 130, 920, 770)),
                         CutoutParams(backend="birefnet"))
    finally:
        hook.remove()
    alpha = out.rgba[..., 3]
    assert seen == [(1, 3, 1024, 1024)]
    assert out.method == "birefnet+box" and out.hint_used
    found, disc = alpha >= 128, cover >= 0.5
    assert np.count_nonzero(found & disc) / np.count_nonzero(found | disc) > 0.98
    assert not alpha[left > 0].any()  # the other disc lies outside the box
    assert not alpha[:, :278].any() and not alpha[:, 922:].any()


def test_a_photo_with_its_own_alpha_keeps_it_and_never_loads_the_model(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _use(monkeypatch, models / "absent")
    photo = decode_image((SAMPLES / "dango.png").read_bytes())
    assert photo.has_alpha
    out = _cut(photo.rgba, has_alpha=True)
    assert out.method == "alpha-channel"
    assert np.array_equal(out.rgba[..., 3], photo.rgba[..., 3])
    assert key not in get_manager(get_settings()).loads


def _without_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """NANOCOCOA_MODELS_DIR holding a BiRefNet folder with its config but no weights."""
    folder = tmp_path / "models" / "BiRefNet"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv("NANOCOCOA_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("NANOCOCOA_BIREFNET_MODEL", raising=False)
    get_settings.cache_clear()
    return folder


def test_missing_weights_name_the_file_and_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    _without_weights(tmp_path, monkeypatch)
    rgb, _ = _red_disc(320, 240)
    with pytest.raises(BackendUnavailable) as err:
        _birefnet(_opaque(rgb))
    assert "ZhengPeng7/BiRefNet" in err.value.message and "model.safetensors" in err.value.message
    assert err.value.accepted is not None and "huggingface-cli download ZhengPeng7/BiRefNet" in err.value.accepted


def test_without_its_weights_the_stage_gives_way_to_the_studio_cut_out_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    _without_weights(tmp_path, monkeypatch)
    rgb, cover = _red_disc(800, 600)
    out = _cut(_opaque(rgb))
    assert out.method == "matting"
    assert out.fallback_reason is not None and out.fallback_reason.startswith("birefnet: ")
    assert "lacks model.safetensors" in out.fallback_reason and out.fallback_reason.endswith("used studio instead")
    found, disc = out.rgba[..., 3] >= 128, cover >= 0.5
    assert np.count_nonzero(found & disc) / np.count_nonzero(found | disc) > 0.9


def test_missing_code_files_are_named_before_transformers_would_fetch_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    folder = _write_checkpoint(tmp_path / "BiRefNet")
    (folder / "BiRefNet_config.py").unlink()
    _use(monkeypatch, folder)
    rgb, _ = _red_disc(320, 240)
    with pytest.raises(BackendUnavailable, match=r"BiRefNet_config\.py") as err:
        _birefnet(_opaque(rgb))
    assert err.value.accepted is not None and "huggingface-cli download" in err.value.accepted


def test_checkpoint_code_needing_a_missing_package_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modules_cache: Path
) -> None:
    # Same folder name and config code as the checkpoint other tests load: AutoModelForImageSegmentation's
    # registry would hand back that checkpoint's class instead of running this one's code.
    folder = _write_checkpoint(tmp_path / "BiRefNet", model_code="import nanococoa_no_such_package\n" + MODEL_CODE)
    _use(monkeypatch, folder)
    rgb, _ = _red_disc(320, 240)
    with pytest.raises(BackendUnavailable, match="nanococoa_no_such_package") as err:
        _birefnet(_opaque(rgb))
    assert err.value.accepted is not None and "nanococoa-mcp[gpu]" in err.value.accepted


def test_out_of_gpu_memory_reloads_the_model_and_retries_at_768(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = _use(monkeypatch, models / "BiRefNet_oom")
    rgb, cover = _red_disc(800, 600)
    out = _cut(_opaque(rgb))
    assert get_manager(get_settings()).loads[key] == 2  # unloaded with everything else, then loaded again
    assert any("768" in note for note in out.notes)
    found, disc = out.rgba[..., 3] >= 128, cover >= 0.5
    assert np.count_nonzero(found & disc) / np.count_nonzero(found | disc) > 0.97


def test_checkpoint_code_written_for_transformers_4_still_loads(
    models: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, no_network: None
) -> None:
    _use(monkeypatch, models / "BiRefNet_legacy")
    rgb, cover = _red_disc(640, 480)
    with caplog.at_level(logging.WARNING, logger=birefnet.__name__):
        out = _cut(_opaque(rgb))
    assert "loading its weights directly" in caplog.text  # from_pretrained alone cannot load it
    found, disc = out.rgba[..., 3] >= 128, cover >= 0.5
    assert np.count_nonzero(found & disc) / np.count_nonzero(found | disc) > 0.98


@pytest.mark.browser
def test_an_ad_made_with_the_birefnet_cut_out_passes_its_quality_checks(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanococoa_mcp.ad.pipeline import AdRequest, Studio

    _use(monkeypatch, models / "BiRefNet")
    monkeypatch.setenv("NANOCOCOA_CUTOUT_BACKEND", "birefnet")
    get_settings.cache_clear()
    rgb, _ = _red_disc(800, 600)
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    studio = Studio()
    try:
        ad = studio.generate(decode_image(png.tobytes()), AdRequest(text_content="꿀사과 특가"))
    finally:
        studio.close()
    assert ad.cutout_confidence > 0.9
    quality = ad.variants[0].quality
    assert quality.passed, quality
    assert not any(n.startswith("birefnet") for n in quality.notes)  # BiRefNet's own cut-out, no fallback
    assert quality.product_pixels_changed == 0
