"""remove_background, analyze_layout, list_fonts and list_styles, called as the doors call them (the image
tools' work runs as jobs in the service's worker: one service for the module, its jobs accumulate)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nanococoa_mcp.ad.stages.layout import LayoutAnalysis
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.service import Service
from nanococoa_mcp.tools import analyze_layout, check_generation_status, list_fonts, list_styles, remove_background
from tests.conftest import SAMPLES

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_remove_background_keeps_an_existing_alpha_exactly(module_service: Service) -> None:
    out = await remove_background(image_path=str(SAMPLES / "dango.png"))
    assert out.status == "completed" and out.method == "alpha-channel" and out.confidence == 1.0
    assert out.cutout_path is not None and Path(out.cutout_path).parent.name == out.job_id
    with Image.open(out.cutout_path) as im, Image.open(SAMPLES / "dango.png") as src:
        assert np.array_equal(np.asarray(im)[..., 3], np.asarray(src.convert("RGBA"))[..., 3])


async def test_remove_background_mattes_a_photo_into_rgba(module_service: Service) -> None:
    out = await remove_background(image_path=str(SAMPLES / "apple.jpg"))
    assert out.method == "matting" and out.cutout_path and out.preview_path and out.bbox and out.width and out.height
    with Image.open(out.cutout_path) as im:
        rgba = np.asarray(im)
    assert rgba.shape[2] == 4 and 0 < (rgba[..., 3] > 127).mean() < 0.95
    x0, y0, x1, y1 = out.bbox
    assert 0 <= x0 < x1 <= out.width and 0 <= y0 < y1 <= out.height
    assert Path(out.preview_path).stat().st_size < 100_000


async def test_without_wait_the_image_tools_return_their_job_to_follow(module_service: Service) -> None:
    queued = await remove_background(image_path=str(SAMPLES / "dango.png"), wait=False)
    assert queued.status in ("queued", "running") and queued.cutout_path is None
    job = await module_service.wait(queued.job_id, 60)
    assert job.kind == "cutout" and job.status == "completed" and job.result is not None
    assert job.final_result == job.result["cutout_path"]
    analysis = await analyze_layout(image_path=str(SAMPLES / "fish.png"), wait=False)
    assert analysis.analysis is None
    followed = await check_generation_status(analysis.job_id)
    assert followed.kind == "analysis" and followed.status in ("queued", "running", "completed")


async def test_analyze_layout_returns_the_seed_shape_for_a_base64_image(module_service: Service) -> None:
    raw = base64.b64encode((SAMPLES / "coffee.jpg").read_bytes()).decode()
    out = await analyze_layout(image=raw)
    parsed = LayoutAnalysis.model_validate(out.analysis)
    assert parsed.empty_spaces and parsed.recommendations.font_size_range[0] > 0
    assert (out.width, out.height) == (600, 400)


async def test_analyze_layout_uses_the_alpha_of_a_cut_out_as_the_product(module_service: Service) -> None:
    out = await analyze_layout(image_path=str(SAMPLES / "fish.png"))
    assert out.analysis is not None and out.backend == "studio"
    obj = out.analysis["objects"][0]
    with Image.open(SAMPLES / "fish.png") as im:
        alpha = np.asarray(im.convert("RGBA"))[..., 3] >= 128
    assert obj["점유율"] == pytest.approx(alpha.mean(), abs=0.002)


async def test_both_or_neither_image_inputs_are_refused_and_queue_nothing(module_service: Service) -> None:
    before = await module_service.jobs()
    with pytest.raises(InvalidInput, match="exactly one"):
        await remove_background()
    with pytest.raises(InvalidInput, match="exactly one"):
        await analyze_layout(image_path=str(SAMPLES / "apple.jpg"), image="aGVsbG8=")
    assert [j.job_id for j in await module_service.jobs()] == [j.job_id for j in before]


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
