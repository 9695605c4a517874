"""The generated site in Debian Chromium, offline: every page at phone and desktop width without horizontal
overflow, broken images or links, console errors or a request leaving the site, and axe-core finding no
serious or critical violation; every text the record or a writer gives is escaped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from playwright.async_api import Page, Request, Route, async_playwright

from nanococoa_mcp.ad.stages.render import find_chromium
from nanococoa_mcp.homepage.models import StoreRecord
from nanococoa_mcp.homepage.site import SiteInput, render_pages
from nanococoa_mcp.homepage.writer import BuiltinWriter
from tests.conftest import ROOT
from tests.homepage.conftest import PAGES, SEED_RECORD, BuiltSite

AXE = ROOT / ".tools" / "node" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (375, 1280)


async def _site_for(store: StoreRecord) -> SiteInput:
    w = BuiltinWriter()
    brainstorm = (await w.brainstorm(store)).output
    concept = (await w.concept(store, brainstorm)).output
    marketing = (await w.marketing(store, brainstorm, concept)).output
    structure = (await w.structure(store, concept, marketing)).output
    content = (await w.content(store, concept, marketing, structure)).output
    chrome = (await w.header_footer(store, concept, structure)).output
    return SiteInput(store=store, concept=concept, structure=structure, content=content, images=[], chrome=chrome)


async def test_every_text_from_the_record_is_escaped() -> None:
    store = StoreRecord.model_validate({
        **SEED_RECORD, "store_name": '떡집 <script>alert("x")</script>', "store_strength": "<b>쫄깃함</b> & 정성",
        "description": "</script><img src=x onerror=alert(1)>", "location": '서울 "종로구" 인사동길',
    })
    pages = render_pages(await _site_for(store))
    for page in pages.pages:
        assert "<script>alert" not in page.html and "<img src=x" not in page.html and "<b>" not in page.html
        assert page.html.count("<script") == page.html.count('<script type="application/ld+json">')
    index = pages.pages[0].html
    assert "떡집 &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in index and "&amp; 정성" in index
    json_ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', index, re.S).group(1)  # type: ignore[union-attr]
    assert "</" not in json_ld and "\\u003c/script\\u003e" in json_ld  # the data block cannot be closed early


def _axe_script() -> Path:
    if not AXE.is_file():  # scripts/test.sh installs it; say so rather than pass silently
        pytest.fail("axe-core is not installed: run scripts/setup_node.sh (scripts/test.sh does)")
    return AXE


async def _check_page(page: Page, folder: Path, name: str, width: int) -> list[str]:
    """Problems found on one page, as sentences (empty when the page is fine)."""
    problems: list[str] = []
    await page.goto((folder / name).as_uri())
    where = f"{name} at {width} px"
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        problems.append(f"{where}: {overflow} px of horizontal overflow")
    for img in await page.query_selector_all("img"):  # lazy images load once scrolled to
        await img.scroll_into_view_if_needed()
    await page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=10_000)
    broken = await page.evaluate("Array.from(document.images).filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
    problems += [f"{where}: broken image {src}" for src in broken]
    missing_alt = await page.evaluate("Array.from(document.images).filter(i => !i.alt.trim()).length")
    if missing_alt:
        problems.append(f"{where}: {missing_alt} images without alt text")
    links: list[str] = await page.evaluate(
        "Array.from(document.querySelectorAll('a[href], link[href], img[src]')).map(e => e.getAttribute('href') ?? "
        "e.getAttribute('src'))"
    )
    for href in links:
        if href.startswith("tel:"):
            continue
        if href.startswith("#"):
            if not await page.query_selector(href):
                problems.append(f"{where}: link to missing anchor {href}")
        elif urlparse(href).scheme or href.startswith("//"):
            problems.append(f"{where}: link leaves the site: {href}")
        elif not (folder / unquote(href.split("#")[0])).is_file():
            problems.append(f"{where}: broken link {href}")
    await page.keyboard.press("Tab")  # the first stop is the skip link to the main content
    if await page.evaluate("document.activeElement.getAttribute('href')") != "#main":
        problems.append(f"{where}: the first tab stop is not the skip link")
    await page.add_script_tag(path=str(_axe_script()))
    result: dict[str, Any] = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    for v in result["violations"]:
        if v["impact"] in ("serious", "critical"):
            targets = [n["target"] for n in v["nodes"]][:3]
            problems.append(f"{where}: axe {v['impact']} {v['id']}: {v['help']} {targets}")
    return problems


@pytest.mark.browser
async def test_every_page_works_offline_at_phone_and_desktop_width(built_site: BuiltSite) -> None:
    folder = built_site.folder.resolve()
    requests: list[str] = []
    console: list[str] = []

    async def offline(route: Route) -> None:
        await route.abort()  # nothing but the site's own files may load: there is no network

    def seen(request: Request) -> None:
        requests.append(request.url)

    problems: list[str] = []
    async with async_playwright() as pw:
        # axe reads the stylesheets' rules, which a file:// page may only fetch with this switch
        browser = await pw.chromium.launch(executable_path=str(find_chromium()),
                                           args=["--no-sandbox", "--allow-file-access-from-files"])
        try:
            for width in WIDTHS:
                context = await browser.new_context(viewport={"width": width, "height": 800}, locale="ko-KR")
                await context.route(re.compile(r"^(?!file:).*"), offline)
                page = await context.new_page()
                page.on("request", seen)
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
                page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
                for name in PAGES:
                    problems += await _check_page(page, folder, name, width)
                await context.close()
        finally:
            await browser.close()
    leaving = [u for u in requests if not unquote(u).startswith(f"file://{folder}/")]
    assert problems == [] and console == [] and leaving == []
    assert len([u for u in requests if u.endswith(".html")]) == len(PAGES) * len(WIDTHS)
