"""Render the web page's style thumbnails with the real engine: one small JPEG per scene style (the
product set in that scene, no copy) and one per text style (the same product ad with that lettering).

    .venv/bin/python scripts/make_thumbnails.py            # all of them, into src/nanococoa_mcp/web/thumbs/
    .venv/bin/python scripts/make_thumbnails.py --check    # fail if any is missing or too large

The outputs are committed static assets; run this again after changing a style.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from nanococoa_mcp.ad.catalog.styles import list_styles
from nanococoa_mcp.ad.catalog.text_styles import DEFAULT_TEXT_STYLE, TEXT_STYLES
from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.pipeline import AdRequest, Studio

ROOT = Path(__file__).resolve().parent.parent
THUMBS = ROOT / "src" / "nanococoa_mcp" / "web" / "thumbs"
SAMPLE = ROOT / "samples" / "dango.png"
SCENE_SIZE = (240, 300)  # the 4:5 ad at twice the grid cell, so it stays sharp on phones
TEXT_SIZE = (300, 180)  # the lettering, cropped from the ad: at full-ad scale it would be unreadable
QUALITY = 82
MAX_BYTES = 30 * 1024
SCENE_COPY = "봄맞이 세일"  # step 1 carries no copy; the engine still wants a valid request
TEXT_COPY = "대박 세일"
# Lettering shown on the scene it was designed for, so the thumbnail sells the look it will have.
TEXT_SCENE = {"neon": "neon", "retro_sign": "traditional_market", "elegant_serif": "luxury", "soft_round": "pastel"}
TEXT_SCENE_DEFAULT = "minimal"


def to_jpeg(rgb: npt.NDArray[np.uint8], size: tuple[int, int]) -> bytes:
    """Downscale an image of the same aspect to `size`, as JPEG under MAX_BYTES."""
    im = Image.fromarray(rgb[..., :3]).convert("RGB")
    im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    for quality in (QUALITY, 76, 70, 64):
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
        if buf.tell() <= MAX_BYTES:
            return buf.getvalue()
    raise SystemExit(f"a thumbnail stays above {MAX_BYTES} bytes even at quality 64")


def lettering_crop(ad: npt.NDArray[np.uint8], scene: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The part of the ad around its copy (where it differs from the bare scene), at TEXT_SIZE's aspect."""
    h, w = ad.shape[:2]
    changed = np.abs(ad[..., :3].astype(np.int16) - scene[..., :3].astype(np.int16)).max(axis=2) > 24
    ys, xs = np.nonzero(changed)
    if len(xs) == 0:
        raise SystemExit("the ad has no copy to crop to")
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    aspect = TEXT_SIZE[0] / TEXT_SIZE[1]
    cw = min(w, max(int((x1 - x0) * 1.15), int((y1 - y0) * 1.3 * aspect)))
    ch = min(h, round(cw / aspect))
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    left = min(max(0, cx - cw // 2), w - cw)
    top = min(max(0, cy - ch // 2), h - ch)
    return ad[top : top + ch, left : left + cw]


def render_all() -> None:
    image = decode_image(SAMPLE.read_bytes())
    studio = Studio()
    try:
        for style_id in (s.id for s in list_styles()):
            req = AdRequest(text_content=SCENE_COPY, style=style_id, text_style=DEFAULT_TEXT_STYLE, size="4:5")
            scene = studio.generate(image, req).variants[0].step1
            _write(THUMBS / "scene" / f"{style_id}.jpg", to_jpeg(scene, SCENE_SIZE))
        for text_id in TEXT_STYLES:
            scene_id = TEXT_SCENE.get(text_id, TEXT_SCENE_DEFAULT)
            req = AdRequest(text_content=TEXT_COPY, style=scene_id, text_style=text_id, size="4:5")
            ad = studio.generate(image, req).variants[0]
            _write(THUMBS / "text" / f"{text_id}.jpg", to_jpeg(lettering_crop(ad.image, ad.step1), TEXT_SIZE))
    finally:
        studio.close()


def _write(path: Path, jpeg: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg)
    print(f"{path.relative_to(ROOT)}  {len(jpeg) / 1024:.1f} KB")


def check() -> int:
    """Exit status 1 when a style has no thumbnail or one is too large."""
    scene_ids = [s.id for s in list_styles()]
    problems = [
        f"{path.relative_to(ROOT)}: {'missing' if not path.is_file() else 'over 30 KB'}"
        for kind, ids in (("scene", scene_ids), ("text", list(TEXT_STYLES)))
        for path in (THUMBS / kind / f"{i}.jpg" for i in ids)
        if not path.is_file() or path.stat().st_size > MAX_BYTES
    ]
    print("\n".join(problems) or "all thumbnails present")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that every thumbnail exists")
    args = parser.parse_args()
    if args.check:
        return check()
    render_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
