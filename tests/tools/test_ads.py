"""The generate_ad_image tool, called as every door calls it: finished ads, files, and refusals."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nanococoa_mcp.errors import InvalidInput, NanococoaError
from nanococoa_mcp.tools import generate_ad_image
from tests.conftest import SAMPLES


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize(
    ("photo", "copy", "style", "text_style", "size"),
    [
        ("fish.png", "건어물 대박 세일", "전통시장 분위기", "골드 풍선", "4:5"),
        ("apple.jpg", "봄맞이 신상 20% 할인", "spring", "soft_round", "1:1"),
        ("dango.png", "수제 떡 당일 제작", "카페", "handwritten", "9:16"),
        ("orange.jpg", "제철 오렌지 특가", "luxury", "elegant_serif", "seed"),
        ("coffee.jpg", "오늘의 커피 한 잔", "네온/밤", "neon", "banner"),
    ],
)
async def test_finished_ads_pass_every_non_negotiable(
    photo: str, copy: str, style: str, text_style: str, size: str
) -> None:
    out = await generate_ad_image(copy=copy, product_image_path=str(SAMPLES / photo), sub_copy="1+1 이벤트",
                                  style=style, text_style=text_style, size=size)
    assert out.status == "completed"
    v = out.variants[0]
    img = _pixels(v.image_path)
    assert img.shape == (out.height, out.width, 3)
    q = v.quality
    assert q.product_pixels_changed == 0
    assert q.text_product_overlap_px == 0
    assert q.contrast_ratio >= 4.5
    assert q.inside_safe_area and q.missing_glyphs == [] and q.broken_words == 0
    assert q.passed
    report = json.loads((Path(out.output_dir) / "result.json").read_text())
    assert report["variants"][0]["quality"]["passed"] is True
    assert set(report["analysis"]) == {"objects", "color_analysis", "empty_spaces", "recommendations"}


async def test_variants_give_different_scenes_and_layouts() -> None:
    out = await generate_ad_image(copy="건어물 대박 세일", product_image_path=str(SAMPLES / "fish.png"), variants=3)
    assert len(out.variants) == 3
    a, b, c = (_pixels(v.image_path) for v in out.variants)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 5
    assert np.abs(b.astype(int) - c.astype(int)).mean() > 5
    assert all(v.quality.passed for v in out.variants)


async def test_same_seed_same_ad() -> None:
    args = {"copy": "수제 떡 당일 제작", "product_image_path": str(SAMPLES / "dango.png"), "seed": 42}
    one = await generate_ad_image(**args)  # type: ignore[arg-type]
    two = await generate_ad_image(**args)  # type: ignore[arg-type]
    assert np.array_equal(_pixels(one.variants[0].image_path), _pixels(two.variants[0].image_path))


async def test_base64_and_data_url_inputs_work() -> None:
    raw = base64.b64encode((SAMPLES / "apple.jpg").read_bytes()).decode()
    out = await generate_ad_image(copy="꿀사과 특가", product_image=f"data:image/jpeg;base64,{raw}")
    assert out.variants[0].quality.passed


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"copy": "   "}, "copy"),
        ({"copy": "가" * 41}, "copy"),
        ({"copy": "세일", "style": "steampunk"}, "style"),
        ({"copy": "세일", "text_style": "wordart"}, "text_style"),
        ({"copy": "세일", "size": "16:10"}, "size"),
        ({"copy": "세일", "sub_copy": "나" * 41}, "sub_copy"),
    ],
)
async def test_invalid_requests_are_refused_before_anything_is_written(
    data_dir: Path, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        await generate_ad_image(product_image_path=str(SAMPLES / "apple.jpg"), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field and info.value.accepted
    assert not data_dir.exists() or not any(data_dir.rglob("*.png"))


async def test_a_read_only_data_dir_gives_a_clear_error_and_no_partial_result(data_dir: Path) -> None:
    if os.geteuid() == 0:
        # root ignores directory permissions: make the data dir a file instead, which nobody can write under.
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        data_dir.write_text("not a directory")
    else:
        data_dir.mkdir(parents=True)
        data_dir.chmod(0o500)
    with pytest.raises(NanococoaError) as info:
        await generate_ad_image(copy="세일", product_image_path=str(SAMPLES / "apple.jpg"))
    assert info.value.field == "data_dir"
    assert "cannot write" in info.value.message or "could not save" in info.value.message


async def test_a_requested_position_without_room_is_honoured_elsewhere_and_said() -> None:
    out = await generate_ad_image(copy="수제 떡 당일 제작", product_image_path=str(SAMPLES / "dango.png"),
                                  size="9:16", text_position="bottom")
    q = out.variants[0].quality
    assert q.passed
    assert any("no room for the copy at the bottom" in n for n in q.notes)
