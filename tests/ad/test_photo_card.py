"""The photo card: a photo with no trustworthy cut-out still gets an ad, the photo itself framed in the scene."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from nanococoa_mcp.ad.images import decode_image, encode_png
from nanococoa_mcp.ad.photo_card import ASPECT_RANGE, MOUNT_RGB, photo_card, subject_box
from nanococoa_mcp.ad.pipeline import AdRequest, AdResult, Studio
from nanococoa_mcp.settings import Settings


def _photo(h: int = 600, w: int = 800, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3)).astype(np.uint8)


def test_the_card_keeps_the_photos_pixels_inside_a_mount_with_rounded_corners() -> None:
    photo = _photo()
    subject = np.zeros(photo.shape[:2], bool)
    subject[200:400, 300:420] = True
    card = photo_card(photo, subject)
    x0, y0, x1, y1 = subject_box(photo.shape[:2], subject)
    assert x0 <= 300 and y0 <= 200 and x1 >= 420 and y1 >= 400  # the subject is inside the crop, with margin
    assert ASPECT_RANGE[0] <= (x1 - x0) / (y1 - y0) <= ASPECT_RANGE[1] + 0.01
    border = (card.shape[0] - (y1 - y0)) // 2
    inner = card[border : border + y1 - y0, border : border + x1 - x0]
    assert np.array_equal(inner[..., :3], photo[y0:y1, x0:x1]) and (inner[..., 3] == 255).all()
    assert tuple(card[card.shape[0] // 2, 1, :3]) == MOUNT_RGB  # the mount
    assert card[0, 0, 3] == 0 and card[card.shape[0] // 2, 0, 3] == 255  # rounded corners, straight sides


def test_a_small_subject_is_shown_with_at_least_half_the_photo_around_it() -> None:
    photo = _photo(600, 800)
    subject = np.zeros(photo.shape[:2], bool)
    subject[30:140, 590:700] = True  # 2.5 % of the photo, near a corner: maybe a stray piece, not the product
    x0, y0, x1, y1 = subject_box(photo.shape[:2], subject)
    assert x1 - x0 >= 400 and y1 - y0 >= 300  # half the photo each way, not a 140 x 140 patch
    assert x0 <= 590 and y0 <= 30 and x1 >= 700 and y1 >= 140 and (x1, y0) == (800, 0)  # kept inside the photo


def test_with_no_plausible_subject_the_card_is_the_photos_centre() -> None:
    photo = _photo(500, 500)
    x0, y0, x1, y1 = subject_box(photo.shape[:2], None)
    assert (x0, y0) == (35, 35) and (x1, y1) == (465, 465)
    everything = np.ones(photo.shape[:2], bool)  # a "subject" that is the whole photo says nothing
    assert subject_box(photo.shape[:2], everything) == (x0, y0, x1, y1)


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[tuple[ThreadPoolExecutor, Studio]]:
    pool = ThreadPoolExecutor(max_workers=1)  # Playwright's sync API on its own thread
    s = pool.submit(Studio, Settings(data_dir=tmp_path / "data", llm_base_url=None)).result()
    yield pool, s
    pool.submit(s.close).result()
    pool.shutdown()


def _make(studio: tuple[ThreadPoolExecutor, Studio], rgb: np.ndarray, copy: str) -> AdResult:
    pool, s = studio
    image = decode_image(encode_png(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])))
    return pool.submit(s.generate, image, AdRequest(text_content=copy, size="1:1", style="minimal")).result()


def test_a_photo_where_nothing_stands_apart_still_gets_an_ad_as_a_photo_card(
    studio: tuple[ThreadPoolExecutor, Studio],
) -> None:
    yy, xx = np.mgrid[0:600, 0:800]
    checker = ((((xx // 40) + (yy // 40)) % 2) * 180 + 40).astype(np.uint8)  # a pattern: no product in it
    ad = _make(studio, np.dstack([checker] * 3), "오늘의 특가")
    q = ad.variants[0].quality
    assert ad.layout_mode == "photo_card" and q.layout_mode == "photo_card"
    assert q.layout_mode_reason is not None and "product_box" in q.layout_mode_reason
    assert "no product stands apart" in q.layout_mode_reason
    assert q.product_pixels_changed == 0 and q.text_product_overlap_px == 0 and q.passed
    card = ad.cutout_rgba
    assert card.shape[0] > 100 and tuple(card[card.shape[0] // 2, 2, :3]) == MOUNT_RGB


def test_a_clear_product_is_still_cut_out(studio: tuple[ThreadPoolExecutor, Studio]) -> None:
    photo = np.full((600, 800, 3), 238, np.uint8)
    yy, xx = np.mgrid[0:600, 0:800]
    photo[((xx - 400) / 150) ** 2 + ((yy - 320) / 190) ** 2 < 1] = (196, 40, 36)  # a red fruit on white paper
    ad = _make(studio, photo, "꿀사과 특가")
    assert ad.layout_mode == "cutout" and ad.variants[0].quality.layout_mode_reason is None
    assert ad.cutout_confidence >= 0.6
