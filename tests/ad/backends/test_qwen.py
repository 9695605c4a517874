"""The Qwen2-VL layout backend: a real (tiny, randomly initialised) Qwen2-VL loaded offline from a local
folder, its answers parsed and checked against the image, and the embedded analysis used, with the
reason, whenever an answer cannot be."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nanococoa_mcp.ad.backends import qwen
from nanococoa_mcp.ad.backends.models import get_manager
from nanococoa_mcp.ad.stages import layout
from nanococoa_mcp.jobs.cancel import JobStopped, stop_checks
from nanococoa_mcp.settings import get_settings

SEED_EXAMPLE = {  # seed §7.4.2, the example the prompt shows the model
    "objects": [{"type": "product", "location": "bottom-center", "bbox": [120, 450, 680, 980], "점유율": 0.35}],
    "color_analysis": {
        "dominant_colors": ["#8B4513", "#F5DEB3", "#FFFFFF"],
        "brightness_map": {"top": 0.75, "middle": 0.50, "bottom": 0.45},
    },
    "empty_spaces": [
        {"region": "middle-left", "bbox": [50, 300, 200, 600], "suitability": 0.65, "reason": "near product edge"},
        {"region": "top-center", "bbox": [150, 50, 650, 350], "suitability": 0.90, "reason": "bright background"},
    ],
    "recommendations": {
        "text_position": "top-center",
        "text_color": "#FF0000",
        "background_needed": True,
        "background_opacity": 0.7,
        "font_size_range": [48, 72],
    },
}
SPECIAL_TOKENS = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
CHAT_TEMPLATE = (  # Qwen2-VL's chat format, without its default system turn
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _scene(w: int = 400, h: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """A light backdrop with a dark product in the lower middle, and the product's mask."""
    yy, xx = np.mgrid[0:h, 0:w]
    mask = ((xx - w / 2) / (w * 0.3)) ** 2 + ((yy - h * 0.7) / (h * 0.2)) ** 2 < 1
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (np.linspace(245, 200, h)[:, None, None] * np.ones((1, w, 3))).astype(np.uint8)
    img[mask] = (150, 40, 30)
    return img, mask


@pytest.fixture(scope="module")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Qwen2-VL with the real architecture at toy size, saved the way a hub checkpoint is."""
    import torch
    from tokenizers import pre_tokenizers
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor, Qwen2VLProcessor
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    # Byte-level BPE over the 256 byte symbols, no merges: every text encodes, one token per byte.
    vocab = {"<|endoftext|>": 0} | {ch: i + 1 for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[])
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 2, 4]},
            "bos_token_id": 0,
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": 0,
        },
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 32,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "Qwen2-VL-tiny"
    Qwen2VLForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture
def qwen_settings(tiny_qwen: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NANOCOCOA_QWEN_MODEL", str(tiny_qwen))
    monkeypatch.setenv("NANOCOCOA_DEVICE", "cpu")
    get_settings.cache_clear()
    qwen.clear_cache()
    yield
    qwen.clear_cache()


@pytest.fixture(scope="module", autouse=True)
def _unload_at_end() -> Iterator[None]:
    yield
    get_manager(get_settings()).unload_all()


def _run(img: np.ndarray, mask: np.ndarray | None) -> layout.LayoutOutput:
    return layout.run(layout.LayoutInput(image=img, product_mask=mask), layout.LayoutParams(backend="qwen"))


def _answer_with(text: str, loaded: qwen.QwenModel, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the tiny model 'say' `text` (its random weights cannot): returns the list of generate calls."""
    import torch

    calls: list[int] = []
    answer = loaded.processor.tokenizer(text + "<|im_end|>", return_tensors="pt")["input_ids"]

    def fake_generate(**kwargs: Any) -> torch.Tensor:
        calls.append(kwargs["input_ids"].shape[1])
        return torch.cat([kwargs["input_ids"], answer], dim=1)

    monkeypatch.setattr(loaded.model, "generate", fake_generate)
    return calls


def test_the_seed_example_is_read_from_a_fenced_answer_with_prose_around_it() -> None:
    text = f"Here is the analysis:\n```json\n{json.dumps(SEED_EXAMPLE, ensure_ascii=False, indent=2)}\n```\nDone."
    got = qwen.parse_analysis(text, frame=(800, 1200), size=(800, 1200))
    assert got.objects[0].occupancy == 0.35 and got.objects[0].bbox == [120, 450, 680, 980]
    assert [s.region for s in got.empty_spaces] == ["top-center", "middle-left"]  # best first
    assert got.recommendations.font_size_range == [48, 72]
    assert got.to_json_dict()["objects"][0]["점유율"] == 0.35  # type: ignore[index]


def test_coordinates_come_back_in_the_pixels_of_the_analysed_image() -> None:
    got = qwen.parse_analysis("The JSON: " + json.dumps(SEED_EXAMPLE), frame=(800, 1200), size=(400, 600))
    assert got.objects[0].bbox == [60, 225, 340, 490]
    assert got.empty_spaces[0].bbox == [75, 25, 325, 175]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I cannot see a product in this image.", "no JSON object"),
        ('```json\n{"objects": [}\n```', "invalid JSON"),
        (json.dumps({**SEED_EXAMPLE, "empty_spaces": []}), "does not match the schema (empty_spaces"),
        (json.dumps({**SEED_EXAMPLE, "mood": "happy"}), "does not match the schema (mood"),
        (
            json.dumps({**SEED_EXAMPLE, "objects": [{**SEED_EXAMPLE["objects"][0], "bbox": [0, 0, 900, 100]}]}),  # type: ignore[index]
            "objects[0].bbox [0, 0, 900, 100] lies outside the 800×1200 image",
        ),
    ],
)
def test_unusable_answers_are_rejected_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(qwen.AnalysisRejected) as info:
        qwen.parse_analysis(text, frame=(800, 1200), size=(800, 1200))
    assert reason in str(info.value)


def test_an_empty_space_on_the_product_is_rejected() -> None:
    mask = np.zeros((1200, 800), bool)
    mask[100:300, 200:600] = True  # the product sits where the model saw empty space
    with pytest.raises(qwen.AnalysisRejected, match=r"empty_spaces\[1\] \(top-center\) lies on the product"):
        qwen.parse_analysis(json.dumps(SEED_EXAMPLE), frame=(800, 1200), size=(800, 1200), product_mask=mask)


def test_frames_keep_the_aspect_in_multiples_of_28_within_the_pixel_budget() -> None:
    w, h = qwen.frame_size(800, 1200)
    assert w % 28 == 0 and h % 28 == 0 and w * h <= qwen.MAX_PIXELS
    assert abs(h / w - 1.5) < 0.05
    assert qwen.frame_size(100, 100) == (84, 84)


@pytest.mark.usefixtures("qwen_settings")
def test_random_weights_fall_back_to_the_studio_analysis_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qwen, "MAX_NEW_TOKENS", 96)  # random weights never stop by themselves; keep it quick
    img, mask = _scene()
    out = _run(img, mask)
    assert out.backend == "studio"
    assert out.fallback_reason is not None and out.fallback_reason.startswith("qwen: ")
    assert "JSON" in out.fallback_reason or "schema" in out.fallback_reason
    assert out.analysis == layout.run(layout.LayoutInput(image=img, product_mask=mask)).analysis
    assert get_manager(get_settings()).loaded() == [f"qwen:{get_settings().qwen_model}"]


@pytest.mark.usefixtures("qwen_settings")
def test_a_good_answer_is_used_and_cached_per_image(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    img, mask = _scene()
    fw, fh = qwen.frame_size(400, 600)
    good = {
        **SEED_EXAMPLE,
        "objects": [{"type": "product", "location": "bottom-center", "bbox": [0, fh // 2, fw, fh], "점유율": 0.4}],
        "empty_spaces": [
            {
                "region": "top-center",
                "bbox": [fw // 8, fh // 12, fw * 7 // 8, fh // 4],
                "suitability": 0.9,
                "reason": "밝은 배경",
            },
        ],
    }
    fenced = f"```json\n{json.dumps(good, ensure_ascii=False)}\n```"
    calls = _answer_with(fenced, qwen.load(get_settings()), monkeypatch)

    out = _run(img, mask)
    assert (out.backend, out.fallback_reason, out.notes) == ("qwen", None, ())
    assert out.analysis.objects[0].occupancy == 0.4
    assert out.analysis.empty_spaces[0].reason == "밝은 배경"
    assert out.analysis.empty_spaces[0].bbox == [50, 50, 350, 150]  # back in the 400×600 image's pixels
    assert len(calls) == 1

    again = _run(img, mask)
    assert again.analysis == out.analysis and again.notes and "cached" in again.notes[0]
    qwen.clear_cache()  # a fresh worker: the answer is read back from the data directory
    assert _run(img, mask).analysis == out.analysis
    assert len(calls) == 1 and len(list((data_dir / "cache" / "qwen").glob("*.json"))) == 1

    other = img.copy()
    other[0, 0] = (0, 0, 0)  # one pixel differs: a different image, a new answer
    _run(other, mask)
    assert len(calls) == 2


@pytest.mark.usefixtures("qwen_settings")
def test_a_missing_model_falls_back_and_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NANOCOCOA_QWEN_MODEL", str(tmp_path / "no-such-model"))
    get_settings.cache_clear()
    img, mask = _scene()
    out = _run(img, mask)
    assert out.backend == "studio"
    assert out.fallback_reason is not None and "is not on this machine" in out.fallback_reason
    assert "huggingface-cli download" in out.fallback_reason


@pytest.mark.usefixtures("qwen_settings")
def test_a_stop_request_during_generation_stops_the_job_instead_of_falling_back(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    monkeypatch.setattr(qwen, "MAX_NEW_TOKENS", 32)
    checks: list[int] = []

    def stop_on_the_third_check() -> None:  # the first is before generation, the rest between tokens
        checks.append(1)
        if len(checks) == 3:
            raise JobStopped("stopped on request", field="job_id")

    img, mask = _scene()
    with stop_checks(stop_on_the_third_check), pytest.raises(JobStopped):
        _run(img, mask)
    assert len(checks) == 3
    assert not (data_dir / "cache" / "qwen").exists()


@pytest.mark.usefixtures("qwen_settings")
def test_an_ad_with_qwen_configured_reports_the_fallback_and_the_request_can_turn_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nanococoa_mcp.ad.images import decode_image
    from nanococoa_mcp.ad.pipeline import AdRequest, Studio
    from tests.conftest import SAMPLES

    monkeypatch.setattr(qwen, "MAX_NEW_TOKENS", 64)
    settings = get_settings().model_copy(update={"layout_backend": "qwen"})
    image = decode_image((SAMPLES / "dango.png").read_bytes())
    studio = Studio(settings)
    try:
        request = AdRequest(text_content="수제 떡 당일 제작", size="1:1")
        used = studio.generate(image, request)
        skipped = studio.generate(image, request.model_copy(update={"use_qwen_analysis": False}))
    finally:
        studio.close()
    notes = used.variants[0].quality.notes
    assert any(n.startswith("qwen: ") for n in notes), notes  # random weights: the studio analysis, and why
    assert used.variants[0].quality.passed
    assert not any(n.startswith("qwen") for n in skipped.variants[0].quality.notes)
