"""Contact sheet of ads across scene and text styles, for looking at the studio's output as a user would.

    .venv/bin/python -m bench.gallery docs/gallery.jpg
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from PIL import Image

from nanococoa_mcp.ad.results import StoredAd
from nanococoa_mcp.app import service_running
from nanococoa_mcp.tools import generate_ad_image

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
JOBS = (
    ("fish.png", "건어물 대박 세일", "traditional_market", "gold_balloon"),
    ("apple.jpg", "꿀사과 한 박스 특가", "minimal", "bold_clean"),
    ("dango.png", "수제 떡 당일 제작", "cafe", "handwritten"),
    ("orange.jpg", "제철 오렌지 특가", "luxury", "elegant_serif"),
    ("coffee.jpg", "오늘의 커피 한 잔", "neon", "neon"),
    ("fish.png", "봄맞이 신상 20% 할인", "spring", "soft_round"),
    ("dango.png", "여름 한정 빙수떡", "summer", "pop_outline"),
    ("apple.jpg", "가을 햇사과 입고", "autumn", "retro_sign"),
    ("orange.jpg", "겨울 귤 한 상자", "winter", "sale_sticker"),
    ("fish.png", "신선한 생선 직송", "pastel", "metal_3d"),
    ("coffee.jpg", "산지 직송 원두", "nature", "gold_balloon"),
    ("dango.png", "명절 선물 세트", "luxury", "gold_balloon"),
)
TILE = (360, 450)


async def _sheet(target: Path) -> None:
    tiles = []
    async with service_running():
        for photo, copy, style, text_style in JOBS:
            job = await generate_ad_image(copy=copy, product_image_path=str(SAMPLES / photo), sub_copy="1+1 이벤트",
                                          style=style, text_style=text_style, wait=True, wait_timeout_sec=300)
            if job.result is None:
                raise SystemExit(f"{style}/{text_style}: the ad ended {job.status}: {job.error}")
            tiles.append(_tile(StoredAd.model_validate(job.result)))
    cols = 4
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (TILE[0] * cols, TILE[1] * rows), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % cols) * TILE[0], (i // cols) * TILE[1]))
    sheet.save(target, quality=82)


def _tile(ad: StoredAd) -> Image.Image:
    variant = ad.variants[0]
    print(f"{variant.style:20s} {variant.text_style:14s} passed={variant.quality.passed}")
    with Image.open(variant.image_path) as im:
        return im.convert("RGB").resize(TILE)


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "gallery.jpg")
    asyncio.run(_sheet(target))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
