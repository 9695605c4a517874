"""The web page at `/`, driven in Debian Chromium against a real `nanococoa serve`: a merchant uploads a
photo, picks styles, follows the progress and downloads the ad; bad input is refused in Korean next to its
field; the page fits a phone and axe-core finds nothing serious; without an event stream it polls; new copy can
reuse a finished scene. The cut-out preview and its hints are tested in test_web_cutout.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.server.browsing import DESKTOP, PHONE, ThreadBrowser, ad_job_ids, axe_problems, is_korean, keep
from tests.server.serving import LOOPBACK, ROOT, ServerProcess

pytestmark = pytest.mark.browser

FISH = ROOT / "samples" / "fish.png"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Records what the progress area showed, so a fast job's intermediate states can be asserted afterwards.
WATCH_PROGRESS = """
window.__seen = [];
window.__shown = [];
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("progress-bar");
  const label = document.getElementById("step-label");
  const image = document.getElementById("result-image");
  const note = () => window.__seen.push([Number(bar.getAttribute("aria-valuenow")), label.textContent]);
  new MutationObserver(note).observe(bar, { attributes: true, attributeFilter: ["aria-valuenow"] });
  new MutationObserver(note).observe(label, { childList: true, characterData: true, subtree: true });
  const shown = () => image.dataset.kind && window.__shown.push(image.dataset.kind + " " + image.getAttribute("src"));
  new MutationObserver(shown).observe(image, { attributes: true, attributeFilter: ["data-kind"] });
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the module (each start costs seconds); tests compare job lists, never assume them empty."""
    proc = ServerProcess(tmp_path_factory.mktemp("web") / "data").start()
    yield proc.base
    proc.stop()


def open_page(browser: Browser, base: str, viewport: ViewportSize) -> tuple[Page, list[str]]:
    """The page, loaded with its style pickers; the list collects script errors."""
    page = browser.new_page(viewport=viewport)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script(WATCH_PROGRESS)
    page.goto(base + "/")
    page.wait_for_selector("#scene-grid label.choice img")
    page.wait_for_selector("#text-grid label.choice img")
    return page, errors


def fill_ad(page: Page, copy: str = "건어물 대박 세일") -> None:
    page.set_input_files("#photo-input", str(FISH))
    page.fill("#copy-input", copy)
    page.click('#scene-grid label.choice[data-id="traditional_market"]')
    page.click('#text-grid label.choice[data-id="sale_sticker"]')


def wait_final(page: Page) -> None:
    page.wait_for_selector("#result-image[data-kind=final]", timeout=60_000)


def test_a_merchant_uploads_a_photo_follows_progress_and_downloads_the_ad(
    browser: ThreadBrowser, server: str, tmp_path: Path
) -> None:
    def drive(b: Browser) -> None:
        page, errors = open_page(b, server, DESKTOP)
        page.screenshot(path=tmp_path / "desktop-empty.png", full_page=True)
        fill_ad(page)
        assert page.is_checked('#scene-grid input[value="traditional_market"]')
        assert page.is_checked('#text-grid input[value="sale_sticker"]')
        assert page.is_visible("#photo-preview")
        assert page.text_content("#copy-count") == "9/40"
        page.click("#submit-btn")

        page.wait_for_selector("#stop-btn", state="visible")
        try:  # the scene preview shows for about a second; the screenshot is for a reviewer, not an assertion
            page.wait_for_selector("#result[data-state=running] #result-image[data-kind=preview]", timeout=10_000)
        except PlaywrightTimeout:
            pass
        page.screenshot(path=tmp_path / "desktop-progress.png", full_page=True)
        wait_final(page)
        page.screenshot(path=tmp_path / "desktop-done.png", full_page=True)

        seen: list[list[object]] = page.evaluate("window.__seen")
        percents = [float(str(p)) for p, _label in seen]
        labels = {str(label) for _p, label in seen}
        assert any(0 < p < 100 for p in percents), seen
        assert percents == sorted(percents), "the bar only moves forward"
        assert {"1단계: 배경 만들기", "2단계: 문구 배치"} <= labels, labels
        assert page.get_attribute("#progress-bar", "aria-valuenow") == "100"
        shown: list[str] = page.evaluate("window.__shown")
        assert [s.split()[0] for s in shown] == ["preview", "final"], "the scene is shown before the copy is on it"
        assert shown[0].endswith("/step1_1.jpg") and shown[1].endswith("/final_1.png")
        assert page.evaluate("document.getElementById('result-image').naturalWidth") == 1080
        assert page.is_hidden("#stop-btn")
        assert page.text_content("#result-badge") == "완성"
        assert "품질 검사 통과" in (page.text_content("#quality") or "")
        assert "글자 대비" in (page.text_content("#quality") or "")

        href = page.get_attribute("#download-link", "href") or ""
        assert href.endswith("/final_1.png?download=1")
        download = page.request.get(server + href)
        assert download.ok
        assert download.body().startswith(PNG_SIGNATURE)
        assert "attachment" in download.headers["content-disposition"]

        page.wait_for_selector("#recent-list .recent-item.current img")
        newest = page.locator("#recent-list .recent-item").first
        assert "current" in (newest.get_attribute("class") or "")
        assert "건어물 대박 세일" in (newest.text_content() or "")
        assert "완성" in (newest.text_content() or "")
        assert axe_problems(page) == []
        assert errors == []
        page.close()

    before = ad_job_ids(server)
    browser.run(drive)
    jobs = LOOPBACK.get(f"{server}/api/jobs", params={"kind": "ad"}).json()["jobs"]
    assert len(jobs) == len(before) + 1
    assert (jobs[0]["status"], jobs[0]["text_content"]) == ("completed", "건어물 대박 세일")
    keep(tmp_path / "desktop-done.png", "web-desktop.png")
    keep(tmp_path / "desktop-progress.png", "web-desktop-progress.png")


def test_empty_copy_and_a_file_that_is_not_an_image_are_refused_in_korean_next_to_their_field(
    browser: ThreadBrowser, server: str, tmp_path: Path
) -> None:
    fake = tmp_path / "menu.png"  # named like a photo, so only the server can tell
    fake.write_text("this is a shopping list, not a photo")

    def drive(b: Browser) -> None:
        page, errors = open_page(b, server, DESKTOP)
        page.set_input_files("#photo-input", str(FISH))
        page.click("#submit-btn")
        copy_error = page.text_content("#copy-error") or ""
        assert is_korean(copy_error) and "문구" in copy_error
        assert page.evaluate("document.activeElement.id") == "copy-input"
        assert page.text_content("#photo-error") == ""

        page.set_input_files("#photo-input", str(fake))
        page.fill("#copy-input", "건어물 대박 세일")
        assert page.text_content("#copy-error") == "", "typing clears the copy's error"
        page.click("#submit-btn")
        page.wait_for_selector("#photo-error:not(:empty)")
        photo_error = page.text_content("#photo-error") or ""
        assert is_korean(photo_error) and "사진" in photo_error
        assert "not an image" in photo_error, "the server's own words are shown too"
        assert "has-error" in (page.get_attribute("#dropzone", "class") or "")
        assert page.get_attribute("#result", "data-state") == "idle"
        page.screenshot(path=tmp_path / "desktop-error.png", full_page=True)
        assert errors == []
        page.close()

    before = ad_job_ids(server)
    browser.run(drive)
    assert ad_job_ids(server) == before, "a refused request creates no job"
    keep(tmp_path / "desktop-error.png", "web-error.png")


def test_the_page_fits_a_phone_without_horizontal_scrolling(
    browser: ThreadBrowser, server: str, tmp_path: Path
) -> None:
    catalog = LOOPBACK.get(f"{server}/api/styles").json()
    styles = len(catalog["scene_styles"]) + len(catalog["text_styles"])

    def drive(b: Browser) -> None:
        page, errors = open_page(b, server, PHONE)
        for selector in (
            "#dropzone",
            "#copy-input",
            "#sub-input",
            "#scene-grid",
            "#text-grid",
            "#size-select",
            "#submit-btn",
        ):
            box = page.locator(selector).bounding_box()
            assert box is not None and page.is_visible(selector), selector
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)
        scene_boxes = [page.locator("#scene-grid label.choice").nth(i).bounding_box() for i in range(2)]
        assert scene_boxes[0] and scene_boxes[1] and scene_boxes[0]["y"] == scene_boxes[1]["y"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # The thumbnails are added once /api/styles answers and are drawn on first request: wait
        # until every one has finished loading (or failed), then check that none is broken.
        page.wait_for_function(
            "(n) => { const t = [...document.querySelectorAll("
            "'label.choice:not([data-id=auto]) .choice-thumb')];"
            " return t.length === n && t.every(i => i.tagName !== 'IMG' || i.complete); }",
            arg=styles,
            timeout=60_000,
        )
        thumbs = page.evaluate(
            "[...document.querySelectorAll('label.choice:not([data-id=auto]) .choice-thumb')]"
            ".map(i => [i.tagName, i.naturalWidth])"
        )
        assert len(thumbs) == styles and all(tag == "IMG" and width > 0 for tag, width in thumbs), thumbs
        # Each grid starts with "자동 추천", picked by default: the style is then chosen from the copy.
        autos = page.evaluate(
            "[...document.querySelectorAll('label.choice[data-id=auto] input')].map(i => [i.name, i.checked])"
        )
        assert autos == [["background_style", True], ["text_style", True]], autos
        page.screenshot(path=tmp_path / "phone-empty.png", full_page=True)

        fill_ad(page, "오늘만 반값")
        page.wait_for_selector("#cutout[data-state=done] #cutout-image:not([hidden])", timeout=60_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert axe_problems(page) == []
        page.click("#submit-btn")
        wait_final(page)
        page.wait_for_selector("#recent-list .recent-item img")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert page.is_visible("#download-link")
        page.screenshot(path=tmp_path / "phone-done.png", full_page=True)
        assert errors == []
        page.close()

    browser.run(drive)
    keep(tmp_path / "phone-done.png", "web-phone.png")


def test_without_an_event_stream_the_page_polls_and_new_copy_reuses_the_same_scene(
    browser: ThreadBrowser, server: str, tmp_path: Path
) -> None:
    def drive(b: Browser) -> tuple[str, str]:
        page, errors = open_page(b, server, DESKTOP)
        page.route("**/jobs/*/events", lambda route: route.abort())  # a proxy that drops event streams
        polls: list[str] = []
        page.on("request", lambda req: polls.append(req.url) if "/status/" in req.url else None)
        fill_ad(page, "쫀득한 경단")
        page.click("#submit-btn")
        wait_final(page)
        first = (page.get_attribute("#result-image", "src") or "").split("/")[2]
        page.wait_for_selector("#cutout[data-state=done] #cutout-image[data-job-id]", timeout=60_000)
        cut = page.get_attribute("#cutout-image", "data-job-id")  # the photo's cut-out preview polls too
        ad_polls = [url for url in polls if not url.endswith(f"/status/{cut}")]
        assert ad_polls and all(url.endswith(f"/status/{first}") for url in ad_polls), polls

        assert page.input_value("#rerun-input") == "쫀득한 경단"
        page.fill("#rerun-input", "")
        page.click("#rerun-btn")
        assert is_korean(page.text_content("#rerun-error") or "")
        page.click('#text-grid label.choice[data-id="neon"]')
        page.fill("#rerun-input", "오늘만 반값")
        page.click("#rerun-btn")
        page.wait_for_function(
            "first => { const img = document.getElementById('result-image');"
            " return img.dataset.kind === 'final' && !img.src.includes(first); }",
            arg=first,
            timeout=60_000,
        )
        second = (page.get_attribute("#result-image", "src") or "").split("/")[2]
        page.screenshot(path=tmp_path / "desktop-rerun.png", full_page=True)

        page.wait_for_selector(f'#recent-list .recent-item[data-job-id="{first}"] img')
        page.click(f'#recent-list .recent-item[data-job-id="{first}"] button')
        page.wait_for_function("first => document.getElementById('result-image').src.includes(first)", arg=first)
        assert "current" in (page.get_attribute(f'#recent-list .recent-item[data-job-id="{first}"]', "class") or "")
        assert errors == []
        page.close()
        return first, second

    first, second = browser.run(drive)
    rerun = LOOPBACK.get(f"{server}/status/{second}").json()
    assert (rerun["parent_id"], rerun["start_step"]) == (first, 2)
    assert rerun["parameters"]["text_content"] == "오늘만 반값"
    assert rerun["parameters"]["text_style"] == "neon"
    assert rerun["parameters"]["style"] == "traditional_market"


def test_the_api_docs_page_renders_every_route_with_no_internet(browser: ThreadBrowser, server: str) -> None:
    """`/docs` is Swagger UI served from this port: it draws the routes even where no CDN can be reached."""
    routes = LOOPBACK.get(f"{server}/openapi.json").json()["paths"]

    def drive(b: Browser) -> tuple[list[str], int, list[str]]:
        page = b.new_page(viewport=DESKTOP)
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        drawn = page.locator(".opblock").count()
        page.close()
        return asked, drawn, errors

    asked, drawn, errors = browser.run(drive)
    assert errors == []
    assert [url for url in asked if not url.startswith(server)] == [], "the page asks nothing of another host"
    operations = sum(len(methods) for methods in routes.values())
    assert drawn == operations, (drawn, operations)
