"""The ad tools, called as every door calls them: jobs accepted at once, finished ads, re-runs from a
step, stops, and refusals that leave nothing behind (those that reach no job: test_ads_refusals.py). The module's
tests share one job service (and its warm worker): each counts and finds only its own jobs."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nanococoa_mcp.ad.results import StoredAd
from nanococoa_mcp.errors import InvalidInput, NotFound
from nanococoa_mcp.jobs.models import JobStatus
from nanococoa_mcp.service import Service
from nanococoa_mcp.tools import (
    check_generation_status,
    generate_ad_image,
    list_jobs,
    stop_generation,
)
from nanococoa_mcp.tools.ads import AdFields, submit_ad
from nanococoa_mcp.tools.common import read_image_input
from tests.conftest import SAMPLES

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("module_service")]


def _pixels(path: str) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _ad(status: JobStatus) -> StoredAd:
    assert status.status == "completed", status.error
    assert status.result is not None
    return StoredAd.model_validate(status.result)


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
    status = await generate_ad_image(copy=copy, product_image_path=str(SAMPLES / photo), sub_copy="1+1 이벤트",
                                     style=style, text_style=text_style, size=size, wait=True)
    out = _ad(status)
    assert status.progress_percent == 100 and status.steps_done == ["step1_background", "step2_text",
                                                                   "step3_composite"]
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
    assert status.final_result == v.image_path
    assert status.step1_result is not None
    preview = _pixels(status.step1_result)  # a small JPEG of the scene, the ad's shape
    assert max(preview.shape[:2]) <= 512
    assert abs(preview.shape[1] / preview.shape[0] - out.width / out.height) < 0.02


async def test_a_job_is_accepted_at_once_and_followed_to_the_end() -> None:
    accepted = await generate_ad_image(copy="꿀사과 특가", product_image_path=str(SAMPLES / "apple.jpg"))
    assert accepted.status in ("queued", "running") and accepted.result is None
    assert accepted.parameters["text_content"] == "꿀사과 특가"
    for _ in range(300):
        status = await check_generation_status(accepted.job_id)
        if status.status == "completed":
            break
        assert status.system_metrics is not None and status.system_metrics.ram_total_gb > 0
        await asyncio.sleep(0.1)
    assert _ad(status).variants[0].quality.passed
    listed = {j.job_id: j for j in (await list_jobs(limit=200)).jobs}
    assert listed[accepted.job_id].final_result == status.final_result
    assert accepted.job_id not in {j.job_id for j in (await list_jobs(status="queued")).jobs}


async def test_variants_give_different_scenes_and_layouts() -> None:
    out = _ad(await generate_ad_image(copy="건어물 대박 세일", product_image_path=str(SAMPLES / "fish.png"),
                                      variants=3, wait=True))
    assert len(out.variants) == 3
    a, b, c = (_pixels(v.image_path) for v in out.variants)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 5
    assert np.abs(b.astype(int) - c.astype(int)).mean() > 5
    assert all(v.quality.passed for v in out.variants)


async def test_same_seed_same_ad() -> None:
    args = {"copy": "수제 떡 당일 제작", "product_image_path": str(SAMPLES / "dango.png"), "seed": 42, "wait": True}
    one = _ad(await generate_ad_image(**args))  # type: ignore[arg-type]
    two = _ad(await generate_ad_image(**args))  # type: ignore[arg-type]
    assert np.array_equal(_pixels(one.variants[0].image_path), _pixels(two.variants[0].image_path))


async def test_base64_and_data_url_inputs_work() -> None:
    raw = base64.b64encode((SAMPLES / "apple.jpg").read_bytes()).decode()
    out = _ad(await generate_ad_image(copy="꿀사과 특가", product_image=f"data:image/jpeg;base64,{raw}", wait=True))
    assert out.variants[0].quality.passed


async def test_new_copy_on_the_same_scene_reruns_from_step_2_as_a_child_job() -> None:
    parent = await generate_ad_image(copy="건어물 대박 세일", product_image_path=str(SAMPLES / "fish.png"),
                                     style="전통시장 분위기", variants=2, wait=True)
    first = _ad(parent)
    child = await generate_ad_image(parent_id=parent.job_id, start_step=2, copy="오늘만 반값",
                                    text_style="neon", wait=True)
    second = _ad(child)
    assert child.parent_id == parent.job_id and child.start_step == 2
    assert child.parameters["text_content"] == "오늘만 반값" and child.parameters["style"] == "전통시장 분위기"
    assert len(second.variants) == 2
    for a, b in zip(first.variants, second.variants, strict=True):
        assert np.array_equal(_pixels(a.step1_path), _pixels(b.step1_path))  # the very same scene
        assert not np.array_equal(_pixels(a.image_path), _pixels(b.image_path))  # with new copy
        assert b.text_style == "neon" and b.quality.passed
    # Step 3 alone composites the stored text layer again: the same ad, bit for bit.
    again = _ad(await generate_ad_image(parent_id=child.job_id, start_step=3, wait=True))
    assert np.array_equal(_pixels(again.variants[1].image_path), _pixels(second.variants[1].image_path))


async def test_a_step_2_rerun_may_not_change_the_scene_and_an_unknown_parent_is_named(
    module_service: Service,
) -> None:
    before = len(await module_service.jobs())
    parent = await generate_ad_image(copy="세일", product_image_path=str(SAMPLES / "apple.jpg"), wait=True)
    with pytest.raises(InvalidInput) as info:
        await generate_ad_image(parent_id=parent.job_id, start_step=2, copy="새 문구", style="luxury")
    assert info.value.field == "style" and "start_step 1" in (info.value.accepted or "")
    with pytest.raises(NotFound) as missing:
        await generate_ad_image(parent_id="no-such-job", start_step=2, copy="새 문구")
    assert missing.value.field == "parent_id"  # the request field at fault
    with pytest.raises(InvalidInput) as orphan:
        await generate_ad_image(start_step=2, copy="새 문구")
    assert orphan.value.field == "parent_id"
    assert len(await module_service.jobs()) == before + 1  # the refused ones queued nothing


async def test_hints_belong_to_their_photo_a_step_1_rerun_keeps_them_for_it_and_drops_them_for_a_new_one(
    module_service: Service,
) -> None:
    before = {job.job_id for job in await module_service.jobs()}
    apple = str(SAMPLES / "apple.jpg")  # 512×512
    parent = await generate_ad_image(copy="세일", product_image_path=apple, product_box=[0.1, 0.1, 0.9, 0.9])
    assert parent.parameters["product_box"] == [51, 51, 461, 461] and parent.parameters["photo_size"] == [512, 512]
    same = await generate_ad_image(parent_id=parent.job_id, start_step=1, copy="새 문구")
    assert same.parameters["product_box"] == [51, 51, 461, 461]
    moved = await generate_ad_image(parent_id=parent.job_id, start_step=1, product_points=[{"x": 5, "y": 5}])
    assert moved.parameters["product_box"] is None and moved.parameters["product_points"] == [
        {"x": 5, "y": 5, "label": "product"}]
    with pytest.raises(InvalidInput) as outside:  # checked against the parent's photo, kept by its size
        await generate_ad_image(parent_id=parent.job_id, start_step=1, product_box=[100, 100, 600, 300])
    assert outside.value.field == "product_box" and "512×512" in outside.value.message
    new_photo = await generate_ad_image(parent_id=parent.job_id, start_step=1,
                                        product_image_path=str(SAMPLES / "orange.jpg"))  # fmt: skip
    assert new_photo.parameters["product_box"] is None and new_photo.parameters["product_points"] == []
    made = {job.job_id for job in await module_service.jobs()} - before
    assert made == {parent.job_id, same.job_id, moved.job_id, new_photo.job_id}  # the refused one queued nothing
    for job_id in made:
        await stop_generation(job_id)
    for job_id in made:  # settled before the next test counts the module's files
        assert (await module_service.wait(job_id, 60)).status in ("stopped", "completed")


async def test_stopping_a_queued_job_stops_it_before_it_runs(module_service: Service) -> None:
    photo = str(SAMPLES / "dango.png")
    running = await generate_ad_image(copy="첫 번째", product_image_path=photo)
    queued = await generate_ad_image(copy="두 번째", product_image_path=photo)
    stopped = await stop_generation(queued.job_id)
    assert stopped.status == "stopped"
    assert (await check_generation_status(running.job_id)).status in ("queued", "running", "completed")
    final = await check_generation_status(queued.job_id)
    assert final.status == "stopped" and final.result is None
    with pytest.raises(NotFound):
        await stop_generation("no-such-job")
    await stop_generation(running.job_id)  # settled before the next test counts the module's files
    assert (await module_service.wait(running.job_id, 60)).status in ("stopped", "completed")


async def test_the_seeds_test_mode_is_refused_naming_the_field_and_false_is_kept_with_the_job(
    module_service: Service,
) -> None:
    """The seed sends `test_mode` but never says what a test run does: true is refused, not ignored."""
    service = module_service
    photo = read_image_input(str(SAMPLES / "apple.jpg"), None, service.settings)
    jobs, files = len(await service.jobs()), set(service.settings.data_dir.rglob("*"))
    with pytest.raises(InvalidInput) as info:
        await submit_ad(service, AdFields(text_content="세일"), photo, extras={"test_mode": True})
    assert info.value.field == "test_mode" and "false" in (info.value.accepted or "")
    assert len(await service.jobs()) == jobs
    assert not {p for p in service.settings.data_dir.rglob("*") if p.suffix in (".png", ".jpg")} - files
    accepted = await submit_ad(service, AdFields(text_content="세일"), photo, extras={"test_mode": False})
    assert accepted.parameters["test_mode"] is False
    assert (await service.wait(accepted.job_id, 60)).status == "completed"


async def test_a_requested_position_without_room_is_honoured_elsewhere_and_said() -> None:
    out = _ad(await generate_ad_image(copy="수제 떡 당일 제작", product_image_path=str(SAMPLES / "dango.png"),
                                      size="9:16", text_position="bottom", wait=True))
    q = out.variants[0].quality
    assert q.passed
    assert any("no room for the copy at the bottom" in n for n in q.notes)
