"""The ad tool: one product photo + Korean copy → finished ad images with a quality report."""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import Field

from nanococoa_mcp.engine.pipeline import AdRequest, AdResult, TextPosition, check_request
from nanococoa_mcp.engine.results import StoredAd, write_ad
from nanococoa_mcp.runtime import get_host
from nanococoa_mcp.storage import new_job_id
from nanococoa_mcp.tools.common import read_image_input
from nanococoa_mcp.tools.context import progress_sink

JobStatus = Literal["queued", "running", "completed", "failed", "stopped"]


class GenerateAdResult(StoredAd):
    """A finished ad: its files, quality report per variant, and layout analysis (result.json, plus status)."""

    status: JobStatus


async def generate_ad_image(
    copy: Annotated[str, Field(description="Main ad copy in Korean, 1-40 characters, e.g. '건어물 대박 세일'.")],
    product_image_path: Annotated[str | None, Field(description="Path of the product photo on this machine.")] = None,
    product_image: Annotated[str | None, Field(description="The product photo as base64 (data: URL ok).")] = None,
    sub_copy: Annotated[str | None, Field(description="Optional second line: price, period, place.")] = None,
    style: Annotated[
        str, Field(description="Scene style (list_styles): e.g. 미니멀, 카페, 전통시장 분위기, luxury.")
    ] = "minimal",
    text_style: Annotated[
        str, Field(description="Text style (list_styles): e.g. 골드 풍선, 네온, 3D 메탈.")
    ] = "gold_balloon",
    size: Annotated[str, Field(description="Size preset: 1:1, 4:5, 9:16, seed (800×1200), banner.")] = "4:5",
    variants: Annotated[int, Field(ge=1, le=4, description="Number of different scene/layout choices.")] = 1,
    seed: Annotated[int, Field(ge=0, le=2**31 - 1, description="Same seed, same ad.")] = 0,
    text_position: Annotated[
        TextPosition, Field(description="Where the copy goes; auto picks the best empty space.")
    ] = "auto",
) -> GenerateAdResult:
    """Make a finished ad: cut the product out, set it in a new scene with a shadow, typeset the copy
    where it reads best (never over the product), and check the result. Returns file paths, a quality
    report per variant and the layout analysis."""
    host = get_host()
    settings = host.settings
    progress = progress_sink.get()
    req = AdRequest(
        text_content=copy,
        sub_copy=sub_copy,
        style=style,
        text_style=text_style,
        size=size,
        variants=variants,
        seed=seed,
        text_position=text_position,
    )
    check_request(req, settings)
    image = read_image_input(product_image_path, product_image, settings)
    started = time.perf_counter()
    result: AdResult = await host.call(lambda studio: studio.generate(image, req, progress))
    stored = write_ad(settings.data_dir, new_job_id(), result, time.perf_counter() - started)
    return GenerateAdResult(status="completed", **stored.model_dump())
