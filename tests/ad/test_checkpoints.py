"""A job's stored steps: written compactly, read back bit for bit, and steps stored by earlier versions (numpy's
deflated .npz) still read, so a job made before an upgrade can be re-run from step 2."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zstandard

from nanococoa_mcp.ad.checkpoints import Checkpoints, TextStep
from nanococoa_mcp.ad.stages.compose import ComposeOutput
from nanococoa_mcp.ad.stages.layout import LayoutAnalysis
from nanococoa_mcp.ad.stages.render import FitMetrics, RenderOutput
from nanococoa_mcp.errors import Conflict
from tests.ad.stages.test_layout import SEED_EXAMPLE


def composed(seed: int = 0) -> ComposeOutput:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (96, 64, 3), dtype=np.uint8)
    layer = np.zeros((96, 64, 4), dtype=np.uint8)
    layer[20:70, 10:50] = rng.integers(0, 256, (50, 40, 4), dtype=np.uint8)
    return ComposeOutput(image=image, product_layer=layer, core_mask=layer[..., 3] == 255,
                         product_mask=layer[..., 3] >= 128, product_bbox=(10, 20, 50, 70), scale=0.75)


def same(a: ComposeOutput, b: ComposeOutput) -> bool:
    arrays = ("image", "product_layer", "core_mask", "product_mask")
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in arrays) and (
        (a.product_bbox, a.scale) == (b.product_bbox, b.scale)
    )


def test_a_stored_step_reads_back_bit_for_bit_and_is_compressed(tmp_path: Path) -> None:
    steps = Checkpoints(tmp_path, "job")
    comp = composed()
    flat = np.zeros((400, 300, 4), dtype=np.uint8)  # a plain product compresses to almost nothing
    steps.save_cutout(flat, 0.91, card_reason=None, hint_used=True)
    steps.save_step1(0, comp, "minimal", "chosen")
    assert same(steps.load_step1(0), comp)
    rgba, confidence, reason, hinted = steps.load_cutout()
    assert np.array_equal(rgba, flat) and (confidence, reason, hinted) == (0.91, None, True)
    stored = {p.name: p.stat().st_size for p in steps.dir.iterdir()}
    assert stored["cutout.npz.zst"] < flat.nbytes // 50, stored


def test_steps_stored_by_an_earlier_version_still_read(tmp_path: Path) -> None:
    steps = Checkpoints(tmp_path, "old")
    steps.dir.mkdir(parents=True)
    comp = composed(1)
    np.savez_compressed(steps.dir / "step1_0.npz", image=comp.image, product_layer=comp.product_layer,
                        core_mask=comp.core_mask, product_mask=comp.product_mask,
                        product_bbox=np.array(comp.product_bbox), scale=np.array(comp.scale))
    assert same(steps.load_step1(0), comp)
    child = Checkpoints(tmp_path, "child")
    child.inherit(steps, 2)
    assert same(child.load_step1(0), comp)


def test_a_step_never_stored_is_a_conflict_naming_it(tmp_path: Path) -> None:
    with pytest.raises(Conflict) as err:
        Checkpoints(tmp_path, "none").load_step1(3)
    assert "step1_3" in err.value.message and err.value.field == "start_step"


def text_step() -> TextStep:
    analysis = LayoutAnalysis.model_validate(SEED_EXAMPLE)
    metrics = FitMetrics(font_size=40, fits=True, group=(1, 2, 30, 20), lines=((1, 2, 30, 20),), sub=None,
                         line_count=1, broken_words=0)
    return TextStep(analysis=analysis, region=analysis.empty_spaces[0],
                    text=RenderOutput(layer=np.zeros((96, 64, 4), np.uint8), metrics=metrics), plate_boost=0.0,
                    max_font_px=None)


def _cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _overwritten(path: Path) -> None:
    path.write_bytes(b"\x89PNG not a step" * 8)


def _wrong_arrays(path: Path) -> None:
    path.write_bytes(zstandard.ZstdCompressor().compress(_npz(other=np.zeros(3))))


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


@pytest.mark.parametrize("damage", [_cut_short, _overwritten, _wrong_arrays])
@pytest.mark.parametrize("stored", ["cutout.npz.zst", "step1_1.npz.zst", "step2_1.npz.zst", "step2_1.json",
                                    "step1_1.json"])
def test_a_damaged_step_is_a_conflict_naming_it_not_the_decoders_error(tmp_path: Path, damage: Callable[[Path], None],
                                                                       stored: str) -> None:
    steps = Checkpoints(tmp_path, "job")
    steps.save_cutout(np.zeros((8, 8, 4), np.uint8), 0.9)
    steps.save_step1(1, composed(), "minimal", "chosen")
    steps.save_step2(1, text_step())
    steps.load_cutout(), steps.load_step1(1), steps.load_step1_style(1), steps.load_step2(1)  # whole, they read
    damage(steps.dir / stored)
    load = {"cutout": steps.load_cutout, "step1_1": lambda: (steps.load_step1(1), steps.load_step1_style(1)),
            "step2_1": lambda: steps.load_step2(1)}[stored.split(".")[0]]
    with pytest.raises(Conflict) as err:
        load()
    assert stored.split(".")[0] in err.value.message and "damaged" in err.value.message
    assert err.value.field == "start_step" and "start_step 1" in (err.value.accepted or "")
