"""Image tools: cut a product out of its photo, and analyse an image for copy placement."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.images import encode_jpeg, encode_png, fit_long_side
from nanococoa_mcp.ad.stages import layout
from nanococoa_mcp.runtime import get_host
from nanococoa_mcp.storage import JobDir, StorageError, new_job_id, write_bytes_atomic
from nanococoa_mcp.tools.common import read_image_input


class CutoutResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    cutout_path: str = Field(description="RGBA PNG of the product on transparency.")
    preview_path: str
    width: int
    height: int
    confidence: float = Field(description="0-1; below 0.6 the edges deserve a look.")
    low_confidence: bool
    method: str = Field(description="alpha-channel (the photo was already cut out) or matting.")
    bbox: list[int] = Field(description="[x0, y0, x1, y1] of the product in the cut-out.")
    notes: list[str]


class AnalysisResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: str = Field(description="The backend whose analysis this is (studio when a model backend fell back).")
    fallback_reason: str | None = Field(default=None, description="Why the configured model's analysis was not used.")
    notes: list[str] = Field(default_factory=list)
    width: int
    height: int
    analysis: dict[str, Any] = Field(
        description="The seed's Qwen2-VL analysis JSON: objects, color_analysis, empty_spaces, recommendations."
    )


async def remove_background(
    image_path: Annotated[str | None, Field(description="Path of the photo on this machine.")] = None,
    image: Annotated[str | None, Field(description="The photo as base64 (data: URL ok).")] = None,
) -> CutoutResult:
    """Cut the product out of its photo: an RGBA PNG with a soft, clean edge and a confidence figure.
    A photo that already has transparency keeps its own alpha."""
    host = get_host()
    settings = host.settings
    decoded = await asyncio.to_thread(read_image_input, image_path, image, settings, "image")
    cut = await host.call(lambda studio: studio.cut_out(decoded))
    job_id = new_job_id()
    final_dir = settings.data_dir / "jobs" / job_id
    try:
        with JobDir(settings.data_dir, job_id) as stage:
            write_bytes_atomic(stage / "cutout.png", encode_png(cut.rgba))
            write_bytes_atomic(stage / "preview.jpg", encode_jpeg(cut.rgba))
    except OSError as exc:
        raise StorageError(f"could not save the cut-out: {exc.strerror or exc}", field="data_dir") from exc
    h, w = cut.rgba.shape[:2]
    return CutoutResult(
        job_id=job_id,
        cutout_path=str(final_dir / "cutout.png"),
        preview_path=str(final_dir / "preview.jpg"),
        width=w,
        height=h,
        confidence=round(cut.confidence, 3),
        low_confidence=cut.low_confidence,
        method=cut.method,
        bbox=list(cut.bbox),
        notes=[*cut.notes, *(r for r in (cut.fallback_reason,) if r)],
    )


async def analyze_layout(
    image_path: Annotated[str | None, Field(description="Path of the image on this machine.")] = None,
    image: Annotated[str | None, Field(description="The image as base64 (data: URL ok).")] = None,
) -> AnalysisResult:
    """Analyse an image for ad copy: product position, brightness, dominant colours, scored empty regions
    and a recommended text position/colour (the seed's Qwen2-VL JSON shape). Read-only."""
    host = get_host()
    settings = host.settings
    decoded = await asyncio.to_thread(read_image_input, image_path, image, settings, "image")
    rgb = fit_long_side(decoded.rgba, 1600)
    mask = (rgb[..., 3] >= 128) if decoded.has_alpha else None
    # Flatten transparency on white: what a viewer would see.
    a = rgb[..., 3:4].astype("float32") / 255.0
    flat = (rgb[..., :3].astype("float32") * a + 255.0 * (1 - a)).round().astype("uint8")
    out = await host.call(
        lambda _studio: layout.run(
            layout.LayoutInput(image=flat, product_mask=mask), layout.LayoutParams(backend=settings.layout_backend)
        )
    )
    h, w = flat.shape[:2]
    return AnalysisResult(
        backend=out.backend,
        fallback_reason=out.fallback_reason,
        notes=list(out.notes),
        width=w,
        height=h,
        analysis=out.analysis.to_json_dict(),
    )
