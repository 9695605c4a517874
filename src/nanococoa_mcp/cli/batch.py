"""The batch cut-out behind `nanococoa cutout`: every photo cut out in this process by one Studio (its cut-out
backend loaded once and kept warm), each written as an RGBA PNG with a JSON of its figures beside it. A bad
photo is reported and skipped; the others go on."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.hints import ProductPoint
from nanococoa_mcp.ad.images import encode_png
from nanococoa_mcp.ad.pipeline import Studio
from nanococoa_mcp.errors import NanococoaError
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.storage import StorageError, write_bytes_atomic, write_json_atomic
from nanococoa_mcp.tools.common import photo_hints, read_image_input


class CutoutReport(BaseModel):
    """The JSON written beside each cut-out."""

    model_config = ConfigDict(extra="forbid")

    photo: str = Field(description="The photo cut out.")
    cutout: str = Field(description="The RGBA PNG written.")
    confidence: float = Field(description="0-1; below 0.6 the cut-out deserves a look (or a --box).")
    low_confidence: bool
    method: str
    bbox: list[int] = Field(description="[x0, y0, x1, y1] of the product in the PNG.")
    hint_used: bool = Field(description="--box / --point shaped the cut-out.")
    width: int = Field(description="Of the PNG: the photo, its long side at most 1600 px.")
    height: int
    seconds: float = Field(description="The cut-out itself, wall clock (decoding and writing the files excluded).")
    cpu_seconds: float = Field(
        description="The CPU time this process spent on it, all threads: on a busy machine, what the cut-out cost "
        "rather than how long it waited."
    )
    fallback_reason: str | None = None
    notes: list[str]


@dataclass(frozen=True, slots=True)
class Failure:
    photo: Path
    error: NanococoaError


def option_name(field: str | None) -> str | None:
    """The CLI option a hint error names: --box for product_box, --point i (the i-th --point, from 0) for
    product_points[i] and product_points[i].label."""
    if field and field.startswith("product_box"):
        return "--box"
    if field and field.startswith("product_points"):
        index = field.removeprefix("product_points").partition("]")[0].lstrip("[")
        return f"--point {index}" if index.isdigit() else "--point"
    return field


def targets(photos: Sequence[Path], out: Path | None, out_dir: Path | None) -> list[Path]:
    """Where each photo's PNG goes: `out`, or `<out_dir>/<stem>.png` (`<stem>-2.png`, … when stems repeat)."""
    if out is not None:
        return [out]
    assert out_dir is not None
    seen: dict[str, int] = {}
    paths = []
    for photo in photos:
        n = seen[photo.stem] = seen.get(photo.stem, 0) + 1
        paths.append(out_dir / (f"{photo.stem}.png" if n == 1 else f"{photo.stem}-{n}.png"))
    return paths


def cut_out_all(
    settings: Settings,
    jobs: Sequence[tuple[Path, Path]],
    box: list[float] | None,
    points: list[ProductPoint] | None,
    done: Callable[[Path, CutoutReport | Failure], None],
) -> list[CutoutReport | Failure]:
    """Cut out each (photo, PNG path) in turn with one Studio; `done` hears of each as it ends."""
    studio = Studio(settings)
    results: list[CutoutReport | Failure] = []
    try:
        for photo, target in jobs:
            try:
                result: CutoutReport | Failure = _one(studio, settings, photo, target, box, points)
            except NanococoaError as exc:
                result = Failure(photo, exc)
            results.append(result)
            done(photo, result)
    finally:
        studio.close()
    return results


def _one(
    studio: Studio,
    settings: Settings,
    photo: Path,
    target: Path,
    box: list[float] | None,
    points: list[ProductPoint] | None,
) -> CutoutReport:
    """Raises InvalidInput (the photo, the hints against it, no product found) or StorageError."""
    try:
        image = read_image_input(str(photo), None, settings)
        hints = photo_hints(box, points, image)
    except NanococoaError as exc:
        exc.field = "PHOTO" if exc.field == "product_image_path" else option_name(exc.field)
        raise
    started, cpu = time.perf_counter(), time.process_time()
    cut = studio.cut_out(image, hints)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    h, w = cut.rgba.shape[:2]
    report = CutoutReport(
        photo=str(photo),
        cutout=str(target),
        confidence=round(cut.confidence, 3),
        low_confidence=cut.low_confidence,
        method=cut.method,
        bbox=list(cut.bbox),
        hint_used=cut.hint_used,
        width=w,
        height=h,
        seconds=round(seconds, 4),
        cpu_seconds=round(cpu, 4),
        fallback_reason=cut.fallback_reason,
        notes=list(cut.notes),
    )
    try:
        write_bytes_atomic(target, encode_png(cut.rgba), fsync=False)
        write_json_atomic(target.with_suffix(".json"), report.model_dump(mode="json"))
    except OSError as exc:
        raise StorageError(f"could not write {target}: {exc.strerror or exc}", field="--out",
                           accepted="a writable folder with free space") from exc
    return report
