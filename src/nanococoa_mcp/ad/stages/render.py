"""Render stage: Chromium (driven by Playwright) typesets the copy's HTML into a transparent layer.

One browser per Renderer, started on first use and reused; the page fits the font size to the box.
Pages are loaded offline: every network request is refused.
"""

from __future__ import annotations

import io
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from nanococoa_mcp.ad.stages.copy_design import CopyDocument
from nanococoa_mcp.errors import BackendUnavailable

# Chromium's headless shell first (Debian's chromium-headless-shell, what Playwright itself runs headless): it
# starts with less than half the work of the whole browser, and every worker starts one. Each name is looked
# for where Debian keeps the binary itself, then on PATH (/usr/bin/chromium is a wrapper script).
CHROMIUM_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser")
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--font-render-hinting=none",
    "--disable-extensions",
]

# Binary search on the group's font size until it fits the box (padding, plate and both lines included).
_FIT_JS = """
async ([lo, hi]) => {
  await document.fonts.ready;
  const box = document.getElementById('box');
  const group = box.querySelector('.group');
  const fits = () => {
    const g = group.getBoundingClientRect(); const b = box.getBoundingClientRect();
    const main = group.querySelector('.main');
    // Containment, not just size: a rotated sticker's corners must stay inside the box too.
    return g.left >= b.left - 0.5 && g.top >= b.top - 0.5 && g.right <= b.right + 0.5 && g.bottom <= b.bottom + 0.5
      && main.scrollWidth <= main.clientWidth + 1 && group.scrollWidth <= group.clientWidth + 1;
  };
  let best = lo;
  group.style.fontSize = lo + 'px';
  const fitsAtMin = fits();
  let a = lo, z = hi;
  while (z - a > 1) {
    const mid = Math.floor((a + z) / 2);
    group.style.fontSize = mid + 'px';
    if (fits()) { a = mid; best = mid; } else { z = mid; }
  }
  group.style.fontSize = hi + 'px';
  if (fits()) best = hi;
  group.style.fontSize = best + 'px';
  const rect = (r) => [r.left, r.top, r.width, r.height];
  const lines = [];
  const back = group.querySelector('.main .back');
  const range = document.createRange(); range.selectNodeContents(back);
  for (const r of range.getClientRects()) lines.push(rect(r));
  // A word is broken when its characters sit on more than one line.
  let broken = 0;
  const text = back.firstChild ? back.firstChild.textContent : '';
  const node = back.firstChild;
  let pos = 0;
  for (const word of text.split(' ')) {
    if (word.length > 0 && node) {
      const r = document.createRange(); r.setStart(node, pos); r.setEnd(node, pos + word.length);
      const tops = new Set(Array.from(r.getClientRects()).filter(q => q.width > 0).map(q => Math.round(q.top)));
      if (tops.size > 1) broken += 1;
    }
    pos += word.length + 1;
  }
  const sub = group.querySelector('.sub span');
  return { size: best, broken_words: broken, fits_at_min: fitsAtMin, group: rect(group.getBoundingClientRect()), lines,
           sub: sub ? rect(sub.getBoundingClientRect()) : null,
           line_count: new Set(lines.map(l => Math.round(l[1]))).size };
}
"""


@dataclass(frozen=True, slots=True)
class FitMetrics:
    font_size: int
    fits: bool  # false when even the smallest size overflowed the box
    group: tuple[float, float, float, float]  # x, y, w, h of the whole copy block (plate included)
    lines: tuple[tuple[float, float, float, float], ...]  # the main copy's line boxes
    sub: tuple[float, float, float, float] | None
    line_count: int
    broken_words: int  # words split across lines (must be 0: Korean breaks between words, keep-all)


@dataclass(frozen=True, slots=True)
class RenderOutput:
    layer: npt.NDArray[np.uint8]  # H×W×4 straight alpha, transparent outside the copy
    metrics: FitMetrics


def find_chromium(configured: Path | None = None) -> Path:
    """The Chromium executable. Raises BackendUnavailable saying how to install it."""
    if configured is not None:
        if configured.is_file():
            return configured
        raise BackendUnavailable(
            f"NANOCOCOA_CHROMIUM_PATH points to {configured}, which does not exist",
            field="chromium_path",
            accepted="path of a Chromium executable",
        )
    for name in CHROMIUM_NAMES:
        for found in (f"/usr/lib/chromium/{name}", shutil.which(name)):
            if found and Path(found).is_file():
                return Path(found)
    raise BackendUnavailable(
        "Chromium is not installed; the copy is typeset by a headless Chromium",
        field="chromium_path",
        accepted="apt-get install chromium-headless-shell fonts-noto-cjk (the README's setup command)",
    )


class Renderer:
    """Owns one headless Chromium. Not thread-safe: use it from the thread that created it."""

    def __init__(self, chromium: Path | None = None) -> None:
        self._configured = chromium
        self._pw: Any = None
        self._browser: Any = None
        self._page: Any = None
        self._owner = threading.get_ident()
        self.launches = 0

    def _ensure(self) -> Any:
        if self._page is not None and self._browser.is_connected():
            return self._page
        from playwright.sync_api import sync_playwright

        path = find_chromium(self._configured)
        self.close()
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:
            self.close()
            raise BackendUnavailable(f"Chromium at {path} failed to start: {exc}", field="chromium_path") from exc
        self.launches += 1
        context = self._browser.new_context(device_scale_factor=1, java_script_enabled=True, offline=True)
        context.route("**/*", lambda route: route.abort())
        self._page = context.new_page()
        return self._page

    def warm(self) -> None:
        """Launch the browser now rather than on the first render."""
        self._ensure()

    def render(self, doc: CopyDocument) -> RenderOutput:
        if threading.get_ident() != self._owner:
            raise RuntimeError("Renderer used from a thread other than its owner")
        page = self._ensure()
        page.set_viewport_size({"width": doc.width, "height": doc.height})
        page.set_content(doc.html, wait_until="load")
        fit = page.evaluate(_FIT_JS, list(doc.font_size_range))
        metrics = FitMetrics(
            font_size=int(fit["size"]),
            fits=bool(fit["fits_at_min"]) or int(fit["size"]) > doc.font_size_range[0],
            group=tuple(fit["group"]),
            lines=tuple(tuple(r) for r in fit["lines"]),
            sub=tuple(fit["sub"]) if fit["sub"] else None,
            line_count=int(fit["line_count"]),
            broken_words=int(fit["broken_words"]),
        )
        # Screenshot only around the copy (effects reach ~0.5 em past the glyphs): far less to encode.
        gx, gy, gw, gh = metrics.group
        reach = 0.6 * metrics.font_size + 8
        x0, y0 = max(0, int(gx - reach)), max(0, int(gy - reach))
        x1, y1 = min(doc.width, int(np.ceil(gx + gw + reach))), min(doc.height, int(np.ceil(gy + gh + reach)))
        png = page.screenshot(
            omit_background=True, type="png", clip={"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}
        )
        crop = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
        layer = np.zeros((doc.height, doc.width, 4), dtype=np.uint8)
        layer[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
        return RenderOutput(layer=layer, metrics=metrics)

    def close(self) -> None:
        for closer in (self._browser, self._pw):
            if closer is None:
                continue
            try:
                closer.close() if closer is self._browser else closer.stop()
            except Exception:  # shutting down a dead browser must not raise
                pass
        self._pw = self._browser = self._page = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()
