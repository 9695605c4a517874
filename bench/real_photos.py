"""Contact sheet of ads made from real photos with no hint and no style, for looking at what a merchant
would get: each tile is the finished ad, captioned with its layout (cut-out or photo card), the cut-out's
confidence and the chosen style.

    .venv/bin/python -m bench.real_photos docs/ads_real_photos.jpg

The photos: the repo's samples (OpenCV and scikit-image sample data) and scikit-image's bundled photos
(CC0 or public domain: see README, "Samples and licences"), read from the installed scikit-image (a test
dependency). No photo is shipped by this script; only the sheet of ads is written.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nanococoa_mcp.ad.results import StoredAd
from nanococoa_mcp.app import service_running
from nanococoa_mcp.tools import generate_ad_image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# (photo, copy): the repo's samples, then scikit-image's photos by their data function's name.
PHOTOS = (
    ("samples/apple.jpg", "꿀사과 한 박스 특가"),
    ("samples/orange.jpg", "제철 오렌지 직송"),
    ("samples/coffee.jpg", "오늘의 커피 한 잔"),
    ("skimage/chelsea", "고양이 용품 할인"),
    ("skimage/astronaut", "우주 캠프 모집"),
    ("skimage/rocket", "모형 로켓 입고"),
    ("skimage/coins", "고대 주화 경매"),
    ("skimage/camera", "필름 카메라 대여"),
    ("skimage/immunohistochemistry", "현미경 표본 판매"),
    ("skimage/retina", "눈 건강 검진"),
    ("skimage/hubble_deep_field", "별 보기 체험"),
)
TILE = (300, 375)
CAPTION = 54
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _photo(name: str, scratch: Path) -> Path:
    """The photo as a file: a repo sample as it is, a scikit-image photo written as PNG."""
    kind, _, rest = name.partition("/")
    if kind == "samples":
        return SAMPLES.parent / name
    from skimage import data  # a test dependency: only this bench needs it

    pixels = np.asarray(getattr(data, rest)())
    path = scratch / f"{rest}.png"
    Image.fromarray(pixels).save(path)
    return path


async def _sheet(target: Path) -> None:
    tiles = []
    with tempfile.TemporaryDirectory() as scratch:
        async with service_running():
            for name, copy in PHOTOS:
                job = await generate_ad_image(copy=copy, product_image_path=str(_photo(name, Path(scratch))),
                                              wait=True, wait_timeout_sec=300)
                if job.result is None:
                    print(f"{name}: no ad ({job.status}: {job.error})")
                    tiles.append(_failed(name, str(job.error)))
                    continue
                tiles.append(_tile(name, StoredAd.model_validate(job.result)))
    cols = 4
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (TILE[0] * cols, (TILE[1] + CAPTION) * rows), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % cols) * TILE[0], (i // cols) * (TILE[1] + CAPTION)))
    sheet.save(target, quality=80, optimize=True)


def _tile(name: str, ad: StoredAd) -> Image.Image:
    variant = ad.variants[0]
    quality = variant.quality
    line1 = f"{name.split('/')[-1]}: {quality.layout_mode}, conf {ad.cutout_confidence:.2f}"
    line2 = f"{variant.style} / {variant.text_style}"
    print(f"{line1}; {line2}; passed={quality.passed}; {quality.layout_mode_reason or ''}")
    with Image.open(variant.image_path) as im:
        return _captioned(im.convert("RGB").resize(TILE), (line1, line2))


def _failed(name: str, error: str) -> Image.Image:
    return _captioned(Image.new("RGB", TILE, (240, 200, 200)), (f"{name}: NO AD", error[:48]))


def _captioned(image: Image.Image, lines: tuple[str, str]) -> Image.Image:
    tile = Image.new("RGB", (TILE[0], TILE[1] + CAPTION), "white")
    tile.paste(image, (0, 0))
    draw = ImageDraw.Draw(tile)
    font = ImageFont.truetype(FONT, 13) if Path(FONT).exists() else ImageFont.load_default()
    for k, line in enumerate(lines):
        draw.text((6, TILE[1] + 6 + 20 * k), line, fill=(20, 20, 20), font=font)
    return tile


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "ads_real_photos.jpg")
    asyncio.run(_sheet(target))
    print(f"wrote {target} ({target.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
