"""A finished job's files under `<data_dir>/jobs/<id>/`, staged and renamed into place, and their index: an
ad's (result.json), a cut-out's; and what a layout analysis answers."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.images import encode_jpeg, encode_png
from nanococoa_mcp.ad.pipeline import AdResult
from nanococoa_mcp.ad.stages.cutout import CutoutOutput
from nanococoa_mcp.ad.stages.final import QualityReport
from nanococoa_mcp.ad.stages.layout import EmptySpace
from nanococoa_mcp.storage import JobDir, StorageError, write_bytes_atomic, write_json_atomic


class StoredVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int
    image_path: str = Field(description="The finished ad (PNG).")
    step1_path: str = Field(description="The scene with the product, before the copy (PNG).")
    preview_path: str = Field(description="A small JPEG preview (<= 512 px).")
    style: str
    text_style: str
    style_reason: str = Field(
        default="", description="Why this scene and text style: as asked, or what in the copy or product led here."
    )
    seed: int
    text_region: EmptySpace
    quality: QualityReport


class StoredAd(BaseModel):
    """What result.json holds; the same fields as the tool's GenerateAdResult, less its status."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    width: int
    height: int
    output_dir: str
    cutout_path: str
    cutout_confidence: float
    variants: list[StoredVariant]
    analysis: dict[str, Any] = Field(description="Layout analysis of the first variant (the seed's VLM JSON shape).")
    timings_sec: dict[str, float]


def job_output_dir(data_dir: Path, job_id: str) -> Path:
    return data_dir / "jobs" / job_id


def write_ad(data_dir: Path, job_id: str, result: AdResult, elapsed: float) -> StoredAd:
    """Write every file of a finished ad at once (all or nothing). Raises StorageError when unwritable."""
    try:
        return _write(data_dir, job_id, result, elapsed)
    except OSError as exc:
        raise StorageError(
            f"could not save the results: {exc.strerror or exc}",
            field="data_dir",
            accepted="a writable NANOCOCOA_DATA_DIR with free space",
        ) from exc


def _write(data_dir: Path, job_id: str, result: AdResult, elapsed: float) -> StoredAd:
    final_dir = job_output_dir(data_dir, job_id)
    # Left by a run of this job that died between writing and recording: it is not a result of record.
    shutil.rmtree(final_dir, ignore_errors=True)
    shutil.rmtree(final_dir.parent / f".staging-{job_id}", ignore_errors=True)
    with JobDir(data_dir, job_id) as stage:
        write_bytes_atomic(stage / "cutout.png", encode_png(result.cutout_rgba))
        variants = []
        for v in result.variants:
            n = v.index + 1
            write_bytes_atomic(stage / f"final_{n}.png", encode_png(v.image))
            write_bytes_atomic(stage / f"step1_{n}.png", encode_png(v.step1))
            write_bytes_atomic(stage / f"preview_{n}.jpg", encode_jpeg(v.image))
            variants.append(
                StoredVariant(
                    index=v.index,
                    image_path=str(final_dir / f"final_{n}.png"),
                    step1_path=str(final_dir / f"step1_{n}.png"),
                    preview_path=str(final_dir / f"preview_{n}.jpg"),
                    style=v.style_id,
                    text_style=v.text_style_id,
                    style_reason=v.style_reason,
                    seed=v.seed,
                    text_region=v.region,
                    quality=v.quality,
                )
            )
        stored = StoredAd(
            job_id=job_id,
            width=result.size.width,
            height=result.size.height,
            output_dir=str(final_dir),
            cutout_path=str(final_dir / "cutout.png"),
            cutout_confidence=round(result.cutout_confidence, 3),
            variants=variants,
            analysis=result.variants[0].analysis.to_json_dict(),
            timings_sec={k: round(v, 4) for k, v in {**result.timings, "total": elapsed}.items()},
        )
        write_json_atomic(stage / "result.json", stored.model_dump(mode="json"))
    return stored


class StoredCutout(BaseModel):
    """A cut-out job's result: the RGBA file, its preview and how sure the cut-out is."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    cutout_path: str = Field(description="RGBA PNG of the product on transparency.")
    preview_path: str
    width: int
    height: int
    confidence: float = Field(description="0-1; below 0.6 the edges deserve a look.")
    low_confidence: bool
    method: str = Field(description="alpha-channel (the photo was already cut out), matting or birefnet.")
    bbox: list[int] = Field(description="[x0, y0, x1, y1] of the product in the cut-out.")
    hint_used: bool = Field(default=False, description="A product box or points from the request shaped the cut-out.")
    notes: list[str]


class StoredAnalysis(BaseModel):
    """A layout analysis job's result (the seed's Qwen2-VL JSON shape, and which backend made it)."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field(description="The backend whose analysis this is (studio when a model backend fell back).")
    fallback_reason: str | None = Field(default=None, description="Why the configured model's analysis was not used.")
    notes: list[str] = Field(default_factory=list)
    width: int
    height: int
    analysis: dict[str, Any] = Field(
        description="The seed's Qwen2-VL analysis JSON: objects, color_analysis, empty_spaces, recommendations."
    )


def write_cutout(data_dir: Path, job_id: str, cut: CutoutOutput) -> StoredCutout:
    """The cut-out and its preview, all or nothing. Raises StorageError when unwritable."""
    final_dir = job_output_dir(data_dir, job_id)
    shutil.rmtree(final_dir, ignore_errors=True)  # left by a run of this job that died before recording it
    shutil.rmtree(final_dir.parent / f".staging-{job_id}", ignore_errors=True)
    try:
        with JobDir(data_dir, job_id) as stage:
            write_bytes_atomic(stage / "cutout.png", encode_png(cut.rgba))
            write_bytes_atomic(stage / "preview.jpg", encode_jpeg(cut.rgba))
    except OSError as exc:
        raise StorageError(
            f"could not save the cut-out: {exc.strerror or exc}",
            field="data_dir",
            accepted="a writable NANOCOCOA_DATA_DIR with free space",
        ) from exc
    h, w = cut.rgba.shape[:2]
    return StoredCutout(
        job_id=job_id,
        cutout_path=str(final_dir / "cutout.png"),
        preview_path=str(final_dir / "preview.jpg"),
        width=w,
        height=h,
        confidence=round(cut.confidence, 3),
        low_confidence=cut.low_confidence,
        method=cut.method,
        bbox=list(cut.bbox),
        hint_used=cut.hint_used,
        notes=list(cut.notes),
    )
