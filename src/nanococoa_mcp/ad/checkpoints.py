"""A job's finished steps on disk (`<data_dir>/steps/<job_id>/`), so a job can re-run from step 2 or 3.

Step 1 keeps the cut-out and, per variant, the composed scene with its product layer and masks; step 2
keeps, per variant, the rendered text layer and what produced it. Every file is written atomically, and
a step counts as done only once all its files are written (the pipeline reports the next step after).
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import zstandard

from nanococoa_mcp.ad.catalog.fonts import FontSpec
from nanococoa_mcp.ad.catalog.text_styles import Theme
from nanococoa_mcp.ad.images import encode_jpeg
from nanococoa_mcp.ad.stages.compose import ComposeOutput
from nanococoa_mcp.ad.stages.copy_design import CopyDocument, Plate
from nanococoa_mcp.ad.stages.layout import EmptySpace, LayoutAnalysis
from nanococoa_mcp.ad.stages.render import FitMetrics, RenderOutput
from nanococoa_mcp.errors import Conflict
from nanococoa_mcp.storage import StorageError, write_bytes_atomic


@dataclass(frozen=True, slots=True)
class TextStep:
    """Step 2 of one variant: the text layer and the copy-design inputs that reproduce its document."""

    analysis: LayoutAnalysis
    region: EmptySpace
    text: RenderOutput
    plate_boost: float
    max_font_px: int | None
    doc: CopyDocument | None = None  # kept when it cannot be derived again (an LLM's design)
    text_style: str | None = None  # the text style id it was set in (None in steps stored before it was kept)
    style_reason: str | None = None  # why that text style (and the scene's style) were chosen


def steps_dir(data_dir: Path, job_id: str) -> Path:
    return data_dir / "steps" / job_id


ARRAYS = ".npz.zst"  # an uncompressed .npz in one Zstandard frame
LEGACY_ARRAYS = ".npz"  # numpy's savez_compressed, as steps stored before 2026-12 were written
# What reading a damaged step file raises: Zstandard's frame errors, numpy's format and missing-array errors,
# zipfile's, a truncated stream's, and JSON's (a ValueError), or a field of the wrong type.
DAMAGED = (zstandard.ZstdError, zipfile.BadZipFile, ValueError, KeyError, EOFError, TypeError)


def _arrays_bytes(**arrays: npt.NDArray[Any]) -> bytes:
    """The arrays as an .npz (stored, not deflated) in one Zstandard frame (level 1): a tenth of the time
    numpy's savez_compressed took for files of the same size (it was a third of a warm ad's time)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return zstandard.ZstdCompressor(level=1).compress(buf.getbuffer())


def _doc_json(doc: CopyDocument) -> dict[str, Any]:
    return {
        "html": doc.html,
        "width": doc.width,
        "height": doc.height,
        "box": list(doc.box),
        "font": doc.font.model_dump(mode="json"),
        "missing_glyphs": list(doc.missing_glyphs),
        "theme_name": doc.theme_name,
        "theme": doc.theme.model_dump(mode="json"),
        "plate": asdict(doc.plate) if doc.plate is not None else None,
        "font_size_range": list(doc.font_size_range),
        "align": doc.align,
        "plate_added": doc.plate_added,
    }


def _doc_from_json(d: dict[str, Any]) -> CopyDocument:
    x0, y0, x1, y1 = (int(v) for v in d["box"])
    lo, hi = (int(v) for v in d["font_size_range"])
    return CopyDocument(
        html=d["html"],
        width=int(d["width"]),
        height=int(d["height"]),
        box=(x0, y0, x1, y1),
        font=FontSpec.model_validate(d["font"]),
        missing_glyphs=tuple(d["missing_glyphs"]),
        theme_name=d["theme_name"],
        theme=Theme.model_validate(d["theme"]),
        plate=Plate(**d["plate"]) if d["plate"] is not None else None,
        font_size_range=(lo, hi),
        align=d["align"],
        plate_added=bool(d["plate_added"]),
    )


class Checkpoints:
    """Read and write one job's finished steps."""

    def __init__(self, data_dir: Path, job_id: str) -> None:
        self.dir = steps_dir(data_dir, job_id)

    def _write(self, name: str, data: bytes) -> None:
        try:
            write_bytes_atomic(self.dir / name, data)
        except OSError as exc:
            raise StorageError(
                f"could not save a finished step: {exc.strerror or exc}",
                field="data_dir",
                accepted="a writable NANOCOCOA_DATA_DIR with free space",
            ) from exc

    def _read(self, name: str) -> Path:
        path = self.dir / name
        if not path.is_file():
            raise Conflict(
                f"the parent job has no stored {name}",
                field="start_step",
                accepted="start_step 1, or a parent that finished the earlier steps",
            )
        return path

    @contextmanager
    def _damaged(self, stem: str) -> Iterator[None]:
        """Reading step `stem`: a file that is there but cannot be read (cut short, overwritten, from no
        version of ours) is a Conflict naming it, as a missing one is, not the decoder's own error."""
        try:
            yield
        except DAMAGED as exc:
            raise Conflict(
                f"the parent job's stored {stem} is damaged and cannot be read ({type(exc).__name__})",
                field="start_step",
                accepted="start_step 1, which makes every step again",
            ) from exc

    def _arrays(self, stem: str) -> np.lib.npyio.NpzFile:
        """The arrays a step stored as `stem` (in either format). Raises Conflict when there are none."""
        legacy = self.dir / f"{stem}{LEGACY_ARRAYS}"
        if not (self.dir / f"{stem}{ARRAYS}").is_file() and legacy.is_file():
            return np.load(legacy)
        packed = self._read(f"{stem}{ARRAYS}").read_bytes()  # raises the Conflict when neither is there
        return np.load(io.BytesIO(zstandard.ZstdDecompressor().decompress(packed)))

    def inherit(self, parent: Checkpoints, upto_step: int) -> None:
        """Copy the parent's files of steps before `upto_step` (a child job keeps its own full set)."""
        prefixes: tuple[str, ...] = ("cutout", "step1_") if upto_step >= 2 else ()
        prefixes += ("step2_",) if upto_step >= 3 else ()
        if not parent.dir.is_dir():
            parent._read(f"cutout{ARRAYS}")  # raises the Conflict naming the missing step
        for src in sorted(parent.dir.iterdir()):
            if src.name.startswith(prefixes) and not src.name.startswith("."):
                self._write(src.name, src.read_bytes())

    # step 1
    def save_cutout(
        self, rgba: npt.NDArray[np.uint8], confidence: float, card_reason: str | None = None, hint_used: bool = False
    ) -> None:
        """The product step 1 placed: a cut-out (shaped by the request's hints or not), or a photo card (with
        why)."""
        self._write(
            f"cutout{ARRAYS}",
            _arrays_bytes(
                rgba=rgba,
                confidence=np.array(confidence),
                card_reason=np.array(card_reason or ""),
                hint_used=np.array(hint_used),
            ),
        )

    def load_cutout(self) -> tuple[npt.NDArray[np.uint8], float, str | None, bool]:
        """The product, the cut-out's confidence, why a photo card stands in for it (None: a cut-out), and
        whether hints shaped it."""
        with self._damaged("cutout"), self._arrays("cutout") as z:
            reason = str(z["card_reason"]) if "card_reason" in z.files else ""
            hint_used = bool(z["hint_used"]) if "hint_used" in z.files else False
            return z["rgba"], float(z["confidence"]), reason or None, hint_used

    def save_step1(self, n: int, comp: ComposeOutput, style: str, style_reason: str) -> None:
        self._write(f"step1_{n}.json", json.dumps({"style": style, "style_reason": style_reason}).encode())
        self._write(
            f"step1_{n}{ARRAYS}",
            _arrays_bytes(
                image=comp.image,
                product_layer=comp.product_layer,
                core_mask=comp.core_mask,
                product_mask=comp.product_mask,
                product_bbox=np.array(comp.product_bbox),
                scale=np.array(comp.scale),
            ),
        )
        self._write(f"step1_{n}.jpg", encode_jpeg(comp.image))

    def load_step1_style(self, n: int) -> tuple[str, str] | None:
        """The scene style id variant `n` was built in and why; None for a step stored before it was kept."""
        path = self.dir / f"step1_{n}.json"
        if not path.is_file():
            return None
        with self._damaged(f"step1_{n}"):
            meta = json.loads(path.read_text())
            return str(meta["style"]), str(meta["style_reason"])

    def load_step1(self, n: int) -> ComposeOutput:
        with self._damaged(f"step1_{n}"), self._arrays(f"step1_{n}") as z:
            x0, y0, x1, y1 = (int(v) for v in z["product_bbox"])
            return ComposeOutput(
                image=z["image"],
                product_layer=z["product_layer"],
                core_mask=z["core_mask"],
                product_mask=z["product_mask"],
                product_bbox=(x0, y0, x1, y1),
                scale=float(z["scale"]),
            )

    # step 2
    def save_step2(self, n: int, step: TextStep) -> None:
        self._write(f"step2_{n}{ARRAYS}", _arrays_bytes(layer=step.text.layer))
        meta = {
            "analysis": step.analysis.model_dump(mode="json", by_alias=True),
            "region": step.region.model_dump(mode="json", by_alias=True),
            "metrics": asdict(step.text.metrics),
            "plate_boost": step.plate_boost,
            "max_font_px": step.max_font_px,
            "doc": _doc_json(step.doc) if step.doc is not None else None,
            "text_style": step.text_style,
            "style_reason": step.style_reason,
        }
        self._write(f"step2_{n}.json", json.dumps(meta, ensure_ascii=False).encode())

    def load_step2(self, n: int) -> TextStep:
        """Variant `n`'s text layer and what produced it."""
        with self._damaged(f"step2_{n}"):
            return self._step2(n)

    def _step2(self, n: int) -> TextStep:
        meta = json.loads(self._read(f"step2_{n}.json").read_text())
        with self._arrays(f"step2_{n}") as z:
            layer = z["layer"]
        m = meta["metrics"]
        metrics = FitMetrics(
            font_size=m["font_size"],
            fits=m["fits"],
            group=tuple(m["group"]),
            lines=tuple(tuple(line) for line in m["lines"]),
            sub=tuple(m["sub"]) if m["sub"] is not None else None,
            line_count=m["line_count"],
            broken_words=m["broken_words"],
        )
        return TextStep(
            analysis=LayoutAnalysis.model_validate(meta["analysis"]),
            region=EmptySpace.model_validate(meta["region"]),
            text=RenderOutput(layer=layer, metrics=metrics),
            plate_boost=float(meta["plate_boost"]),
            max_font_px=meta["max_font_px"],
            doc=_doc_from_json(meta["doc"]) if meta.get("doc") else None,
            text_style=meta.get("text_style"),
            style_reason=meta.get("style_reason"),
        )

    def preview(self, step: int, n: int = 1) -> Path | None:
        """The JPEG preview of a finished step-1 image, if there is one."""
        path = self.dir / f"step{step}_{n}.jpg"
        return path if path.is_file() else None

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
