"""The studio's one entry point, `Studio.generate`: what it chooses when the request leaves a choice open."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nanococoa_mcp.ad.checkpoints import Checkpoints
from nanococoa_mcp.ad.images import DecodedImage, decode_image
from nanococoa_mcp.ad.pipeline import AdRequest, AdResult, Studio
from nanococoa_mcp.settings import Settings
from tests.conftest import SAMPLES


class Maker:
    """One warm Studio on its own thread (Playwright's sync API), making ads into one job's checkpoints."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.studio = self.pool.submit(Studio, settings).result()
        self.photo = decode_image((SAMPLES / "dango.png").read_bytes())

    def make(self, req: AdRequest, job: str = "job", start_step: int = 1, parent: str | None = None) -> AdResult:
        stored = Checkpoints(self.settings.data_dir, job)
        if parent is not None:
            stored.inherit(Checkpoints(self.settings.data_dir, parent), start_step)
        image: DecodedImage | None = self.photo if start_step == 1 else None
        return self.pool.submit(self.studio.generate, image, req, start_step=start_step, checkpoints=stored).result()

    def close(self) -> None:
        self.pool.submit(self.studio.close).result()
        self.pool.shutdown()


@pytest.fixture
def maker(tmp_path: Path) -> Iterator[Maker]:
    m = Maker(Settings(data_dir=tmp_path / "data", llm_base_url=None))
    yield m
    m.close()


def test_an_ad_with_no_style_gets_one_that_fits_its_copy_and_says_why(maker: Maker) -> None:
    ad = maker.make(AdRequest(text_content="팥빙수 개시", size="1:1"))
    v = ad.variants[0]
    assert (v.style_id, v.text_style_id) == ("summer", "soft_round")
    assert "빙수" in v.style_reason and v.quality.passed


def test_variants_of_an_ad_with_no_style_explore_different_styles(maker: Maker) -> None:
    ad = maker.make(AdRequest(text_content="한우 선물세트 특가", size="1:1", variants=2))
    assert len({(v.style_id, v.text_style_id) for v in ad.variants}) == 2


def test_an_asked_style_is_kept_and_auto_means_chosen(maker: Maker) -> None:
    ad = maker.make(AdRequest(text_content="팥빙수 개시", style="카페", text_style="auto", size="1:1"))
    v = ad.variants[0]
    assert v.style_id == "cafe" and "scene cafe: as asked" in v.style_reason
    assert v.text_style_id == "soft_round"  # 빙수: soft lettering, chosen


def test_new_copy_on_the_parents_scene_keeps_its_style_and_chooses_lettering_for_the_new_copy(maker: Maker) -> None:
    parent = maker.make(AdRequest(text_content="팥빙수 개시", size="1:1"), job="parent")
    assert parent.variants[0].style_id == "summer"
    child = maker.make(AdRequest(text_content="여름 특가 세일", size="1:1"), job="child", start_step=2, parent="parent")
    v = child.variants[0]
    assert v.style_id == "summer" and "the parent's scene" in v.style_reason
    assert v.text_style_id == "sale_sticker"
    again = maker.make(AdRequest(text_content="여름 특가 세일", size="1:1"), job="again", start_step=3, parent="child")
    assert again.variants[0].text_style_id == "sale_sticker"  # step 3 composites the stored text layer
