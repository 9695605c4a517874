"""The web page's cut-out preview, driven in Debian Chromium against a real `nanococoa serve`: a photo is cut out
as soon as it is chosen, a box dragged with the mouse (or a finger on a phone) and tapped points re-cut it, the
ad made afterwards uses the same hints, a bad box is refused in Korean beside the photo, and neither a refused
nor a slow cut-out ever blocks making the ad."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, ViewportSize
from scipy import ndimage

from bench.alpha_set import AlphaCase, build_case, iou
from tests.server.browsing import DESKTOP, PHONE, ThreadBrowser, ad_job_ids, axe_problems, is_korean, keep
from tests.server.serving import LOOPBACK, ROOT, ServerProcess

pytestmark = pytest.mark.browser

FISH = ROOT / "samples" / "fish.png"
CLUTTERED = 20  # a parcel box on a wooden table, a cookie against it: without a hint the cookie is kept (0.78)
Box = tuple[int, int, int, int]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc = ServerProcess(tmp_path_factory.mktemp("web-cutout") / "data").start()
    yield proc.base
    proc.stop()


@pytest.fixture(scope="module")
def cluttered(tmp_path_factory: pytest.TempPathFactory) -> tuple[AlphaCase, Path]:
    case = build_case("cluttered", CLUTTERED)
    path = tmp_path_factory.mktemp("photos") / "table.png"
    Image.fromarray(case.image).save(path)
    return case, path


def open_page(b: Browser, base: str, viewport: ViewportSize, touch: bool = False) -> tuple[Page, list[str]]:
    page = b.new_page(viewport=viewport, has_touch=touch, is_mobile=touch)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base + "/")
    page.wait_for_selector("#scene-grid label.choice img")
    return page, errors


def record_posts(page: Page) -> list[str]:
    """The paths the page posts to, in order (Chromium keeps a form's file parts, and so its body, to itself:
    what the hints were is read back from the jobs' parameters)."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(urlsplit(r.url).path) if r.method == "POST" else None)
    return sent


def shown_cutout(page: Page, other_than: str = "") -> str:
    """The job id of the cut-out the page shows, once it shows one (other than `other_than`)."""
    page.wait_for_function(
        "prev => { const img = document.getElementById('cutout-image');"
        " return document.getElementById('cutout').dataset.state === 'done' && !img.hidden"
        " && img.complete && img.dataset.jobId && img.dataset.jobId !== prev; }",
        arg=other_than,
        timeout=90_000,
    )
    return page.get_attribute("#cutout-image", "data-job-id") or ""


def to_screen(page: Page, size: tuple[int, int], x: float, y: float) -> tuple[float, float]:
    """Where pixel (x, y) of a `size` photo lies on screen: the photo is fitted (contained) in its frame."""
    frame = page.locator("#hint-layer").bounding_box()
    assert frame is not None
    w, h = size
    scale = min(frame["width"] / w, frame["height"] / h)
    left = frame["x"] + (frame["width"] - w * scale) / 2
    top = frame["y"] + (frame["height"] - h * scale) / 2
    return left + x * scale, top + y * scale


def drag(page: Page, size: tuple[int, int], box: Box) -> None:
    page.mouse.move(*to_screen(page, size, box[0], box[1]))
    page.mouse.down()
    page.mouse.move(*to_screen(page, size, box[2], box[3]), steps=8)
    page.mouse.up()


def cutout_status(base: str, job_id: str) -> dict[str, Any]:
    st: dict[str, Any] = LOOPBACK.get(f"{base}/status/{job_id}").json()
    assert st["status"] == "completed", st
    return st


def cutout_alpha(base: str, st: dict[str, Any]) -> npt.NDArray[np.float32]:
    png = LOOPBACK.get(base + st["cutout_url"])
    assert png.status_code == 200
    rgba = np.asarray(Image.open(io.BytesIO(png.content)).convert("RGBA"))
    return rgba[..., 3].astype(np.float32) / 255.0


def background_point_in(case: AlphaCase, box: Box) -> tuple[int, int]:
    """A pixel inside `box` well away from the product: what a person taps to say "not this"."""
    away = ndimage.distance_transform_edt(case.alpha < 0.05)
    inside = np.zeros_like(away, dtype=bool)
    x0, y0, x1, y1 = box
    inside[y0 + 10 : y1 - 10, x0 + 10 : x1 - 10] = True
    ys, xs = np.nonzero(inside & (away >= 25))
    assert len(xs), "the box holds some table"
    i = int(np.argmax(away[ys, xs]))
    return int(xs[i]), int(ys[i])


def test_a_box_dragged_on_a_cluttered_photo_recuts_it_and_the_ad_uses_the_same_hints(
    browser: ThreadBrowser, server: str, cluttered: tuple[AlphaCase, Path], tmp_path: Path
) -> None:
    case, photo = cluttered
    size = (case.image.shape[1], case.image.shape[0])
    box = case.hint_box()
    spot = background_point_in(case, box)

    def drive(b: Browser) -> tuple[str, str, str, list[str]]:
        page, errors = open_page(b, server, DESKTOP)
        sent = record_posts(page)
        page.set_input_files("#photo-input", str(photo))
        first = shown_cutout(page)
        status = page.text_content("#cutout-status") or ""
        assert "누끼 신뢰도" in status and any(w in status for w in ("높음", "보통", "낮음")), status
        if "낮음" in status:
            assert "네모" in status, "a low confidence says how to help: draw a box"
        assert page.is_disabled("#recut-btn"), "the same hints would give the same cut-out"

        drag(page, size, box)
        assert page.is_enabled("#recut-btn")
        page.click("label.seg-item:has(input[value=background])")
        page.mouse.click(*to_screen(page, size, *spot))
        drawn = page.evaluate(
            "[...document.querySelectorAll('#hint-layer rect.hint-box, #hint-layer .hint-point')]"
            ".map(e => e.getAttribute('class'))"
        )
        assert drawn == ["hint-box", "hint-point background"], drawn
        assert "다시 누끼를 눌러야" in (page.text_content("#hint-summary") or "")

        page.click("#recut-btn")
        second = shown_cutout(page, other_than=first)
        assert second in (page.get_attribute("#cutout-image", "src") or "")
        assert "표시를 반영했" in (page.text_content("#cutout-status") or "")
        assert axe_problems(page) == []
        page.locator("#ad-form").screenshot(path=tmp_path / "cutout-hinted.png")

        page.fill("#copy-input", "수제 꿀 선물세트")
        page.click('#scene-grid label.choice[data-id="minimal"]')
        page.click("#submit-btn")
        page.wait_for_selector("#result-image[data-kind=final]", timeout=90_000)
        ad = (page.get_attribute("#result-image", "src") or "").split("/")[2]
        page.screenshot(path=tmp_path / "cutout-ad.png", full_page=True)
        assert errors == []
        page.close()
        return first, second, ad, sent

    first, second, ad, sent = browser.run(drive)
    assert sent == ["/api/cutout", "/api/cutout", "/api/generate"]
    plain, hinted = cutout_status(server, first), cutout_status(server, second)
    assert plain["parameters"]["product_box"] is None and plain["parameters"]["product_points"] == []
    assert plain["hint_used"] is False, "the first cut-out is automatic"
    assert hinted["hint_used"] is True
    # The box and the point were drawn in screen pixels: what reached the server lies within two photo pixels.
    sent_box = hinted["parameters"]["product_box"]
    assert all(abs(a - b) <= 2 for a, b in zip(sent_box, box, strict=True)), (sent_box, box)
    [point] = hinted["parameters"]["product_points"]
    assert point["label"] == "background" and abs(point["x"] - spot[0]) <= 2 and abs(point["y"] - spot[1]) <= 2
    x0, y0, x1, y1 = (v * size[0] / hinted["width"] for v in hinted["bbox"])
    assert sent_box[0] <= x0 and sent_box[1] <= y0 and x1 <= sent_box[2] and y1 <= sent_box[3], (hinted, sent_box)
    before, after = iou(cutout_alpha(server, plain), case.alpha), iou(cutout_alpha(server, hinted), case.alpha)
    assert after >= 0.93 and after > before + 0.05, (before, after)

    made = LOOPBACK.get(f"{server}/status/{ad}").json()
    assert made["status"] == "completed"
    assert made["parameters"]["product_box"] == sent_box, "the ad carries the hints of the cut-out shown"
    assert made["parameters"]["product_points"] == hinted["parameters"]["product_points"]
    assert made["result"]["variants"][0]["quality"]["hint_used"] is True
    keep(tmp_path / "cutout-hinted.png", "web-cutout.png")
    keep(tmp_path / "cutout-ad.png", "web-cutout-ad.png")


def test_a_bad_box_is_refused_in_korean_beside_the_photo_and_a_refused_or_slow_cutout_never_blocks_the_ad(
    browser: ThreadBrowser, server: str, tmp_path: Path
) -> None:
    tiny = tmp_path / "tiny.png"  # 72 px: the page shows it enlarged, so a short drag is a box of a few pixels
    Image.open(FISH).convert("RGB").resize((72, 72)).save(tiny)

    def drive(b: Browser) -> tuple[str, list[str]]:
        page, errors = open_page(b, server, DESKTOP)
        sent = record_posts(page)
        page.set_input_files("#photo-input", str(tiny))
        page.wait_for_function("['done', 'failed'].includes(document.getElementById('cutout').dataset.state)",
                               timeout=60_000)
        drag(page, (72, 72), (30, 30, 35, 35))
        assert "네모 1개" in (page.text_content("#hint-summary") or "")
        page.click("#recut-btn")
        page.wait_for_selector("#box-error:not(:empty)")
        error = page.text_content("#box-error") or ""
        assert is_korean(error) and "네모" in error, error
        assert "too small" in error, "the server's own words are shown too"
        assert "has-error" in (page.get_attribute("#hint-stage", "class") or "")
        page.locator("#ad-form").screenshot(path=tmp_path / "cutout-bad-box.png")

        # The next cut-out never answers; the ad is made anyway, without the refused box.
        page.route("**/api/cutout", lambda route: None)
        page.click("#recut-btn")
        page.wait_for_selector("#cutout[data-state=running]")
        page.fill("#copy-input", "오늘만 반값")
        page.click("#submit-btn")
        page.wait_for_selector("#result-image[data-kind=final]", timeout=90_000)
        assert errors == []
        ad = (page.get_attribute("#result-image", "src") or "").split("/")[2]
        page.close()
        return ad, sent

    before = ad_job_ids(server)
    ad, sent = browser.run(drive)
    assert ad_job_ids(server) == [ad, *before]
    assert sent == ["/api/cutout", "/api/cutout", "/api/cutout", "/api/generate"]
    made = LOOPBACK.get(f"{server}/status/{ad}").json()
    assert made["status"] == "completed"
    assert made["parameters"]["product_box"] is None, "the refused box is not the ad's"
    keep(tmp_path / "cutout-bad-box.png", "web-cutout-bad-box.png")


def test_a_box_on_a_photo_turned_by_its_exif_reaches_the_server_in_pixels_of_the_upright_photo(
    browser: ThreadBrowser, server: str, tmp_path: Path
) -> None:
    turned = tmp_path / "turned.jpg"  # stored 320×240, shown (and cut out) upright as 240×320
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    Image.open(FISH).convert("RGB").resize((320, 240)).save(turned, exif=exif, quality=92)
    box = (120, 160, 236, 316)  # the lower right of the upright photo: outside it if read as stored

    def drive(b: Browser) -> str:
        page, errors = open_page(b, server, DESKTOP)
        page.set_input_files("#photo-input", str(turned))
        first = shown_cutout(page)
        assert page.evaluate("[document.getElementById('hint-photo').naturalWidth,"
                             " document.getElementById('hint-photo').naturalHeight]") == [240, 320]
        drag(page, (240, 320), box)
        page.click("#recut-btn")
        second = shown_cutout(page, other_than=first)
        assert page.text_content("#box-error") == ""
        assert errors == []
        page.close()
        return second

    hinted = cutout_status(server, browser.run(drive))
    assert (hinted["width"], hinted["height"]) == (240, 320)
    assert all(abs(a - b) <= 2 for a, b in zip(hinted["parameters"]["product_box"], box, strict=True)), hinted


def _touch_drag(page: Page, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
    """A finger pressed at `start`, moved to `end` and lifted, as the phone's touch screen reports it."""
    cdp = page.context.new_cdp_session(page)
    for i in range(steps + 1):
        t = i / steps
        x, y = start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t
        kind = "touchStart" if i == 0 else "touchMove"
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def test_on_a_phone_a_finger_draws_the_box_without_scrolling_the_page(
    browser: ThreadBrowser, server: str, cluttered: tuple[AlphaCase, Path], tmp_path: Path
) -> None:
    case, photo = cluttered
    size = (case.image.shape[1], case.image.shape[0])
    box = case.hint_box()

    def drive(b: Browser) -> tuple[str, list[str]]:
        page, errors = open_page(b, server, PHONE, touch=True)
        sent = record_posts(page)
        page.set_input_files("#photo-input", str(photo))
        first = shown_cutout(page)
        page.locator("#hint-stage").scroll_into_view_if_needed()
        scrolled = page.evaluate("window.scrollY")
        _touch_drag(page, to_screen(page, size, box[0], box[1]), to_screen(page, size, box[2], box[3]))
        assert page.evaluate("window.scrollY") == scrolled, "dragging on the photo does not scroll the page"
        page.touchscreen.tap(*to_screen(page, size, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
        assert "네모 1개, 상품 점 1개" in (page.text_content("#hint-summary") or "")
        page.click("#recut-btn")
        second = shown_cutout(page, other_than=first)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        for selector in ("#hint-stage", "#cutout-image", "#recut-btn", "#hint-clear"):
            found = page.locator(selector).bounding_box()
            assert found is not None and found["x"] >= 0 and found["x"] + found["width"] <= PHONE["width"], selector
        assert axe_problems(page) == []
        page.locator("#ad-form").screenshot(path=tmp_path / "phone-cutout.png")
        assert errors == []
        page.close()
        return second, sent

    second, sent = browser.run(drive)
    assert sent == ["/api/cutout", "/api/cutout"]
    hinted = cutout_status(server, second)
    assert hinted["hint_used"] is True
    hints = hinted["parameters"]
    assert all(abs(a - b) <= 3 for a, b in zip(hints["product_box"], box, strict=True)), (hints, box)
    assert [p["label"] for p in hints["product_points"]] == ["product"]
    keep(tmp_path / "phone-cutout.png", "web-phone-cutout.png")
