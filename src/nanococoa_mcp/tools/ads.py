"""The ad tool: one product photo + Korean copy → finished ad images with a quality report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.engine.final import QualityReport
from nanococoa_mcp.engine.images import encode_jpeg, encode_png
from nanococoa_mcp.engine.layout import EmptySpace
from nanococoa_mcp.engine.pipeline import AdRequest, AdResult, TextPosition, check_request
from nanococoa_mcp.runtime import get_host
from nanococoa_mcp.storage import JobDir, StorageError, new_job_id, write_bytes_atomic, write_json_atomic
from nanococoa_mcp.tools.common import read_image_input
from nanococoa_mcp.tools.context import progress_sink

JobStatus = Literal["queued", "running", "completed", "failed", "stopped"]


class AdVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int
    image_path: str = Field(description="The finished ad (PNG).")
    step1_path: str = Field(description="The scene with the product, before the copy (PNG).")
    preview_path: str = Field(description="A small JPEG preview (<= 512 px).")
    style: str
    text_style: str
    seed: int
    text_region: EmptySpace
    quality: QualityReport


class GenerateAdResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    status: JobStatus
    width: int
    height: int
    output_dir: str
    cutout_path: str
    cutout_confidence: float
    variants: list[AdVariant]
    analysis: dict[str, Any] = Field(
        description="Layout analysis of the first variant (the seed's Qwen2-VL JSON shape)."
    )
    timings_sec: dict[str, float]


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
    job_id = new_job_id()
    try:
        return _store(job_id, result, settings.data_dir, time.perf_counter() - started)
    except OSError as exc:
        raise StorageError(
            f"could not save the results: {exc.strerror or exc}",
            field="data_dir",
            accepted="a writable NANOCOCOA_DATA_DIR with free space",
        ) from exc


def _store(job_id: str, result: AdResult, data_dir: Path, elapsed: float) -> GenerateAdResult:
    final_dir = data_dir / "jobs" / job_id
    with JobDir(data_dir, job_id) as stage:
        write_bytes_atomic(stage / "cutout.png", encode_png(result.cutout.rgba))
        out_variants = []
        for v in result.variants:
            n = v.index + 1
            write_bytes_atomic(stage / f"final_{n}.png", encode_png(v.image))
            write_bytes_atomic(stage / f"step1_{n}.png", encode_png(v.step1))
            write_bytes_atomic(stage / f"preview_{n}.jpg", encode_jpeg(v.image))
            out_variants.append(
                AdVariant(
                    index=v.index,
                    image_path=str(final_dir / f"final_{n}.png"),
                    step1_path=str(final_dir / f"step1_{n}.png"),
                    preview_path=str(final_dir / f"preview_{n}.jpg"),
                    style=v.style_id,
                    text_style=v.text_style_id,
                    seed=v.seed,
                    text_region=v.region,
                    quality=v.quality,
                )
            )
        out = GenerateAdResult(
            job_id=job_id,
            status="completed",
            width=result.size.width,
            height=result.size.height,
            output_dir=str(final_dir),
            cutout_path=str(final_dir / "cutout.png"),
            cutout_confidence=round(result.cutout.confidence, 3),
            variants=out_variants,
            analysis=result.variants[0].analysis.to_json_dict(),
            timings_sec={k: round(v, 4) for k, v in {**result.timings, "total": elapsed}.items()},
        )
        write_json_atomic(stage / "result.json", out.model_dump(mode="json"))
    return out
