"""remove_background, analyze_layout, list_fonts and list_styles, called as the doors call them."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nanococoa_mcp.ad.stages.layout import LayoutAnalysis
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.tools import analyze_layout, list_fonts, list_styles, remove_background
from tests.conftest import SAMPLES


async def test_remove_background_keeps_an_existing_alpha_exactly() -> None:
    out = await remove_background(image_path=str(SAMPLES / "dango.png"))
    assert out.method == "alpha-channel" and out.confidence == 1.0
    with Image.open(out.cutout_path) as im, Image.open(SAMPLES / "dango.png") as src:
        assert np.array_equal(np.asarray(im)[..., 3], np.asarray(src.convert("RGBA"))[..., 3])


async def test_remove_background_mattes_a_photo_into_rgba() -> None:
    out = await remove_background(image_path=str(SAMPLES / "apple.jpg"))
    assert out.method == "matting"
    with Image.open(out.cutout_path) as im:
        rgba = np.asarray(im)
    assert rgba.shape[2] == 4 and 0 < (rgba[..., 3] > 127).mean() < 0.95
    x0, y0, x1, y1 = out.bbox
    assert 0 <= x0 < x1 <= out.width and 0 <= y0 < y1 <= out.height
    assert Path(out.preview_path).stat().st_size < 100_000


async def test_analyze_layout_returns_the_seed_shape_for_a_base64_image() -> None:
    raw = base64.b64encode((SAMPLES / "coffee.jpg").read_bytes()).decode()
    out = await analyze_layout(image=raw)
    parsed = LayoutAnalysis.model_validate(out.analysis)
    assert parsed.empty_spaces and parsed.recommendations.font_size_range[0] > 0
    assert (out.width, out.height) == (600, 400)


async def test_analyze_layout_uses_the_alpha_of_a_cut_out_as_the_product() -> None:
    out = await analyze_layout(image_path=str(SAMPLES / "fish.png"))
    obj = out.analysis["objects"][0]
    with Image.open(SAMPLES / "fish.png") as im:
        alpha = np.asarray(im.convert("RGBA"))[..., 3] >= 128
    assert obj["점유율"] == pytest.approx(alpha.mean(), abs=0.002)


async def test_both_or_neither_image_inputs_are_refused() -> None:
    with pytest.raises(InvalidInput, match="exactly one"):
        await remove_background()
    with pytest.raises(InvalidInput, match="exactly one"):
        await analyze_layout(image_path=str(SAMPLES / "apple.jpg"), image="aGVsbG8=")


async def test_list_fonts_reports_installed_korean_fonts_with_full_hangul() -> None:
    fonts = (await list_fonts()).fonts
    installed = [f for f in fonts if f.available]
    assert len(installed) >= 8
    assert all(f.hangul_syllables == 11172 for f in installed)


async def test_list_styles_names_every_style_in_korean_and_english() -> None:
    cat = await list_styles()
    scene_ko = {s.name_ko for s in cat.scene_styles}
    assert {"전통시장 분위기", "고급스러운", "미니멀", "카페", "파스텔"} <= scene_ko
    assert len(cat.scene_styles) >= 8 and len(cat.text_styles) >= 8
    assert {"골드 풍선", "네온", "3D 메탈"} <= {s.name_ko for s in cat.text_styles}
    assert {s.id for s in cat.sizes} == {"1:1", "4:5", "9:16", "seed", "banner"}
