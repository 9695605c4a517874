"""Copy design + render + final: Korean copy typeset in Chromium, checked on the real pixels."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import replace

import cv2
import numpy as np
import pytest

from nanococoa_mcp.ad.backends.studio.layout import analyse
from nanococoa_mcp.ad.catalog.fonts import FONTS, missing_glyphs
from nanococoa_mcp.ad.catalog.text_styles import STYLES, resolve_text_style
from nanococoa_mcp.ad.stages import copy_design, final
from nanococoa_mcp.errors import InvalidInput
from tests.conftest import ThreadRenderer as Renderer

W, H = 1080, 1350
SAFE = (65, 68, 1015, 1282)


def _step1(tone: int, busy: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.empty((H, W, 3), np.uint8)
    img[...] = tone
    if busy:
        rng = np.random.default_rng(1)
        noise = cv2.resize(
            rng.integers(0, 256, (H // 16, W // 16, 3), dtype=np.uint8), (W, H), interpolation=cv2.INTER_NEAREST
        )
        img[: H // 2] = noise[: H // 2]
    mask = ((xx - 540) / 270) ** 2 + ((yy - 930) / 330) ** 2 < 1
    img[mask] = (196, 70, 40)
    product = np.zeros((H, W, 4), np.uint8)
    product[mask] = (196, 70, 40, 255)
    return img, product, mask


def _make(
    renderer: Renderer,
    style_id: str,
    tone: int,
    copy: str = "건어물 대박 세일",
    sub: str | None = "오늘만 30% 할인",
    busy: bool = False,
    narrow: bool = False,
) -> final.FinalOutput:
    img, product, mask = _step1(tone, busy)
    lay = analyse(img, mask, SAFE)
    region = lay.empty_spaces[0]
    if narrow:
        x0, y0, x1, y1 = region.bbox
        region = region.model_copy(update={"bbox": [x0, y0, x0 + (x1 - x0) // 2, y1]})
    doc = copy_design.run(
        copy_design.CopyInput(
            copy=copy, sub_copy=sub, style=resolve_text_style(style_id), analysis=lay, region=region, background=img
        )
    ).doc
    rendered = renderer.render(doc)
    core = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return final.run(
        final.FinalInput(
            step1=img,
            product_layer=product,
            core_mask=core,
            product_mask=mask,
            text=rendered,
            doc=doc,
            safe_box=SAFE,
            cutout_confidence=0.9,
        )
    )


@pytest.mark.parametrize("style", [s.id for s in STYLES])
@pytest.mark.parametrize("tone", [235, 30])
def test_every_text_style_passes_the_quality_report_on_light_and_dark_scenes(
    renderer: Renderer, style: str, tone: int
) -> None:
    out = _make(renderer, style, tone)
    q = out.quality
    assert q.product_pixels_changed == 0
    assert q.text_product_overlap_px == 0
    assert q.contrast_ratio >= 4.5
    assert q.inside_safe_area
    assert q.missing_glyphs == []
    assert q.broken_words == 0
    assert q.passed, q
    # The copy is really there: a solid block of text pixels in the top half, none at the bottom edge.
    changed = (out.image != _step1(tone)[0]).any(axis=2)
    assert changed[: H // 2].sum() > 5000
    assert not changed[SAFE[3] :].any()


def test_busy_background_gets_a_backing_plate_that_reaches_the_contrast(renderer: Renderer) -> None:
    q = _make(renderer, "bold_clean", 128, busy=True).quality
    assert q.plate_added
    assert q.contrast_ratio >= 4.5
    calm = _make(renderer, "bold_clean", 240).quality
    assert not calm.plate_added


def test_long_copy_wraps_between_words_never_inside_one(renderer: Renderer) -> None:
    out = _make(renderer, "gold_balloon", 235, copy="봄맞이 신상품 전품목 최대 20% 할인 대잔치", narrow=True)
    assert out.quality.broken_words == 0
    assert out.quality.passed


def test_font_size_shrinks_to_fit_a_narrow_region(renderer: Renderer) -> None:
    wide = _make(renderer, "bold_clean", 235, copy="수제 떡 당일 제작 판매합니다")
    narrow = _make(renderer, "bold_clean", 235, copy="수제 떡 당일 제작 판매합니다", narrow=True)
    assert narrow.quality.font_size_px < wide.quality.font_size_px


def test_the_browser_starts_once_and_is_reused(renderer: Renderer) -> None:
    for style in ("neon", "metal_3d", "sale_sticker"):
        _make(renderer, style, 200)
    assert renderer.launches == 1


def test_glyphs_the_font_cannot_draw_are_reported_and_fail_the_ad(renderer: Renderer) -> None:
    assert missing_glyphs(FONTS["bm-jua"], "세일 🐟") == ["🐟"]
    q = _make(renderer, "gold_balloon", 235, copy="건어물 🐟 세일").quality
    assert q.missing_glyphs == ["🐟"]
    assert not q.passed


class _Counter(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def local_server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_pages_render_offline_and_never_fetch_anything(renderer: Renderer, local_server: str) -> None:
    img, _product, mask = _step1(235)
    lay = analyse(img, mask, SAFE)
    doc = copy_design.run(
        copy_design.CopyInput(
            copy="세일", sub_copy=None, style=STYLES[0], analysis=lay, region=lay.empty_spaces[0], background=img
        )
    ).doc
    hostile = doc.html.replace(
        "</body>", f'<img src="{local_server}/x.png"><link rel="stylesheet" href="{local_server}/a.css"></body>'
    )
    renderer.render(replace(doc, html=hostile))
    assert _Counter.hits == 0


def test_copy_is_html_escaped(renderer: Renderer) -> None:
    img, _product, mask = _step1(235)
    lay = analyse(img, mask, SAFE)
    doc = copy_design.run(
        copy_design.CopyInput(
            copy="<특가> & 세일",
            sub_copy="<script>x</script>",
            style=STYLES[0],
            analysis=lay,
            region=lay.empty_spaces[0],
            background=img,
        )
    ).doc
    assert "<script>" not in doc.html and "&lt;특가&gt; &amp; 세일" in doc.html
    out = _make(renderer, "bold_clean", 235, copy="<특가> & 세일", sub=None)
    assert out.quality.passed


def test_unknown_text_style_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as info:
        resolve_text_style("comic sans")
    assert info.value.field == "text_style"
    assert "gold_balloon (골드 풍선)" in (info.value.accepted or "")


@pytest.mark.parametrize("name", ["골드 풍선", "골드 풍선 텍스트", "Gold balloon", "gold_balloon", "네온", "3D 메탈"])
def test_text_styles_resolve_by_korean_and_english_names(name: str) -> None:
    assert resolve_text_style(name).id in {"gold_balloon", "neon", "metal_3d"}
