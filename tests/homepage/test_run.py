"""Whole homepage runs: the built-in writer with real ads made through the real tools, the answer in the seed's
shape, progress by node, a stop and a crash in node E resumed from the checkpoint without making any ad
again, and a finished run answered again without work."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nanococoa_mcp.app import service_running
from nanococoa_mcp.errors import Conflict, InvalidInput
from nanococoa_mcp.homepage.run import run_homepage
from nanococoa_mcp.jobs.cancel import JobStopped
from nanococoa_mcp.server.tool_caller import McpToolCaller
from nanococoa_mcp.tools import list_jobs
from tests.homepage.conftest import NODES, PAGES, PHOTOS, STORE, BuiltSite, Progress, builtin_settings, run_site


def test_a_whole_run_with_the_builtin_writer_writes_four_pages_three_ads_and_a_zip(built_site: BuiltSite) -> None:
    r, settings = built_site.result, built_site.settings
    assert r.status == "success" and r.pages == PAGES and r.generated_images == 3 and r.resumed is False
    assert re.fullmatch(r"김밥천국_강남점_\d{8}_\d{6}", r.site_id)
    assert Path(r.output_path) == settings.data_dir / "generated_sites" / r.site_id
    assert r.writer == "builtin" and {n.node for n in r.notes} == {
        "brainstorm", "concept", "marketing", "structure", "content", "header_footer"}
    assert all(n.writer == "builtin" and n.reason is None for n in r.notes)
    folder = built_site.folder
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert names == sorted([*PAGES, "css/style.css", "images/cta.jpg", "images/hero.jpg", "images/product_1.jpg"])
    for name in ("hero", "product_1", "cta"):  # real ads: square, not blank
        with Image.open(folder / "images" / f"{name}.jpg") as im:
            assert im.format == "JPEG" and im.size == (1080, 1080)
            assert float(np.asarray(im.convert("L")).std()) > 20
    with zipfile.ZipFile(r.zip_path) as zf:
        assert sorted(zf.namelist()) == sorted(f"{r.site_id}/{n}" for n in names)
    assert len(set(r.ad_job_ids)) == 3
    print(f"\nbuilt-in run: {built_site.seconds:.1f} s, {len(r.ad_job_ids)} ad jobs")


def test_progress_names_every_node_in_order_and_only_rises_to_100(built_site: BuiltSite) -> None:
    events = built_site.progress.events
    assert built_site.progress.nodes == NODES
    percents = [p for _n, p, _m in events]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert [m for n, _p, m in events if n == "images" and m.startswith("광고 이미지 ")] == [
        "광고 이미지 계획 중", "광고 이미지 1/3 만드는 중 (hero)", "광고 이미지 2/3 만드는 중 (product_1)",
        "광고 이미지 3/3 만드는 중 (cta)"]


def test_the_home_page_carries_the_records_facts_in_korean(built_site: BuiltSite) -> None:
    page = (built_site.folder / "index.html").read_text(encoding="utf-8")
    assert '<html lang="ko">' in page and "<title>김밥천국 강남점 | 테헤란로 분식</title>" in page
    assert 'href="tel:0212345678"' in page and "24시간 영업" in page and "빠른 조리" in page
    assert '<meta property="og:image" content="images/hero.jpg">' in page
    data = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert data["@type"] == "LocalBusiness" and data["name"] == "김밥천국 강남점"
    assert data["telephone"] == "+82-2-1234-5678" and data["openingHours"] == ["Mo-Su 10:00-22:00"]
    assert data["address"] == {
        "@type": "PostalAddress", "streetAddress": "서울 강남구 테헤란로", "addressCountry": "KR"}
    for name in PAGES:  # nothing fetched from elsewhere: no CDN, no web font, no remote script
        html = (built_site.folder / name).read_text(encoding="utf-8")
        assert re.findall(r'(?:src|href)="(https?:)?//', html) == [] and "<script src" not in html
    css = (built_site.folder / "css" / "style.css").read_text(encoding="utf-8")
    assert '"Noto Sans CJK KR", "Noto Sans KR", "NanumGothic"' in css and "@import" not in css and "url(" not in css


async def test_a_finished_run_answers_again_without_doing_anything(built_site: BuiltSite) -> None:
    tools = McpToolCaller(built_site.settings)
    again = await run_homepage("job-built", STORE, PHOTOS, built_site.settings, tools)
    await tools.aclose()
    assert again.resumed is True and again.site_id == built_site.result.site_id
    assert again.ad_job_ids == built_site.result.ad_job_ids  # no ad made (no job service was even started)


async def test_a_job_id_belongs_to_its_store_and_photos(built_site: BuiltSite) -> None:
    other = STORE.model_copy(update={"store_name": "다른 가게"})
    with pytest.raises(Conflict) as info:
        await run_homepage("job-built", other, PHOTOS, built_site.settings, McpToolCaller(built_site.settings))
    assert info.value.field == "job_id"


async def test_a_missing_photo_is_refused_before_anything_runs(data_dir: Path) -> None:
    settings = builtin_settings(data_dir)
    with pytest.raises(InvalidInput) as info:
        await run_homepage("job-x", STORE, [PHOTOS[0], data_dir / "nope.png"], settings, McpToolCaller(settings))
    assert info.value.field == "photos[1]" and not (data_dir / "generated_sites").exists()


async def test_a_stop_between_nodes_raises_and_the_run_resumes_where_it_stopped(data_dir: Path) -> None:
    settings = builtin_settings(data_dir)
    first = Progress()
    with pytest.raises(JobStopped, match="before structure"):
        await run_site("job-stop", STORE, [], settings, on_progress=first,
                       should_stop=lambda: first.nodes[-1:] == ["marketing"])
    assert first.nodes == ["brainstorm", "concept", "marketing"]
    second = Progress()
    done = await run_site("job-stop", STORE, [], settings, on_progress=second)
    assert second.nodes == NODES[3:] and done.resumed is True
    assert done.generated_images == 0 and "<img" not in Path(done.output_path, "index.html").read_text("utf-8")


async def test_a_crash_in_node_e_resumes_without_making_any_ad_again(data_dir: Path) -> None:
    settings = builtin_settings(data_dir)

    def crash_at_the_second_ad(node: str, percent: float, message: str) -> None:
        if node == "images" and message.startswith("광고 이미지 2/"):
            raise RuntimeError("injected crash")

    async with service_running(settings):  # as in the server: one job service for both calls
        with pytest.raises(RuntimeError, match="injected crash"):
            await run_site("job-crash", STORE, PHOTOS, settings, on_progress=crash_at_the_second_ad)
        before = (await list_jobs(limit=200)).jobs
        assert [j.status for j in before] == ["completed"] and before[0].text_content == "김밥천국 강남점"
        resumed = Progress()
        result = await run_site("job-crash", STORE, PHOTOS, settings, on_progress=resumed)
        after = (await list_jobs(limit=200)).jobs
    assert result.resumed and result.generated_images == 3
    assert len(after) == 3 and {j.job_id for j in after} == set(result.ad_job_ids)  # 3 ads, not 4
    assert result.ad_job_ids[0] == before[0].job_id  # the hero made before the crash is the one used
    assert resumed.nodes == NODES[5:]  # straight back into node E, the planning nodes are not run again
    assert not any(m.startswith("광고 이미지 1/") for _n, _p, m in resumed.events)
    assert sorted(p.name for p in Path(result.output_path, "images").iterdir()) == [
        "cta.jpg", "hero.jpg", "product_1.jpg"]


async def test_a_run_whose_every_photo_the_ad_tool_refuses_fails_naming_the_photos(
    data_dir: Path, tmp_path: Path
) -> None:
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (20, 20), (200, 40, 40)).save(tiny)
    with pytest.raises(InvalidInput) as info:
        await run_site("job-tiny", STORE, [tiny], builtin_settings(data_dir))
    assert info.value.field == "photos" and "generate_ad_image refused product_image_path" in info.value.message
    assert not (data_dir / "generated_sites").exists() or not any((data_dir / "generated_sites").rglob("*.html"))
