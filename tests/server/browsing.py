"""Debian Chromium for the web page's tests: one browser on its own thread (Playwright's sync API must stay
off pytest-asyncio's loop thread), viewports, and axe-core's accessibility check."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from nanococoa_mcp.ad.stages.render import find_chromium
from tests.server.serving import LOOPBACK, ROOT

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 812}
HANGUL = range(0xAC00, 0xD7A4)
AXE = ROOT / ".tools" / "node" / "node_modules" / "axe-core" / "axe.min.js"
T = TypeVar("T")


class ThreadBrowser:
    """One Chromium on its own thread; `run(fn)` calls fn(browser) there."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-web-browser")
        self._pool.submit(self._start).result()

    def _start(self) -> None:
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=str(find_chromium()),
            args=["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
        )

    def run(self, fn: Callable[[Browser], T]) -> T:
        return self._pool.submit(fn, self._browser).result()

    def close(self) -> None:
        def stop() -> None:
            self._browser.close()
            self._playwright.stop()

        self._pool.submit(stop).result()
        self._pool.shutdown()


def ad_job_ids(base: str) -> list[str]:
    """The server's ad jobs, newest first (the page's cut-out previews are jobs of their own kind)."""
    jobs = LOOPBACK.get(f"{base}/api/jobs", params={"limit": 200, "kind": "ad"}).json()["jobs"]
    return [j["job_id"] for j in jobs]


def is_korean(text: str) -> bool:
    return any(ord(ch) in HANGUL for ch in text)


def keep(shot: Path, name: str) -> None:
    """Copy a screenshot where a reviewer can open it after the run."""
    shutil.copyfile(shot, Path("/tmp") / name)


def axe_problems(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    if not AXE.is_file():  # scripts/test.sh installs it; say so rather than pass silently
        pytest.fail("axe-core is not installed: run scripts/setup_node.sh (scripts/test.sh does)")
    page.add_script_tag(path=str(AXE))
    found: list[str] = page.evaluate(
        "async () => (await axe.run(document, { resultTypes: ['violations'] })).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".flatMap(v => v.nodes.map(n => `${v.id}: ${n.target.join(' ')}: ${n.failureSummary}`))"
    )
    return found
