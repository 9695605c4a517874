"""The touch-up benchmark: what one tap does to a cut-out. Every photo of the cluttered and textured
categories (bench/alpha_set.py) is cut out without a hint and with a box (the true box + 4 %); where the
largest wrong piece is at least MIN_SHARE of the product, a person taps it once: `background` on a
piece wrongly kept, `product` on a piece wrongly left out (whichever is larger; its deepest pixel; inside
the box when there is one), and the photo is cut again with the tap. Per seed and kind of tap: how
many taps made the IoU worse or better (by more than 0.01), the mean gain, and how much of the tapped
piece was put right and of the product kept before was lost.

    .venv/bin/python -m bench.touchup [--seed 0,1,2,3] [--categories cluttered,textured] [--no-box] [--cases]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from bench.alpha_set import CATEGORIES, AlphaCase, Category, iou, iter_full_set
from bench.cutout import cut_out
from nanococoa_mcp.ad.stages import cutout
from nanococoa_mcp.ad.stages.cutout import Point, PointLabel

BoolArray = npt.NDArray[np.bool_]
MIN_SHARE = 0.02  # a wrong piece this share of the product's area is worth a tap
CHANGED = 0.01    # an IoU change beyond this counts as worse or better


@dataclass(frozen=True, slots=True)
class Tap:
    name: str
    seed: int
    boxed: bool
    label: PointLabel
    before: float  # IoU without the tap
    after: float   # IoU with it
    fixed: float   # share of the tapped piece put right
    lost: float    # share of the product kept before that the tap lost

    @property
    def gain(self) -> float:
        return self.after - self.before


def _cut(case: AlphaCase, box: cutout.Box | None, points: tuple[Point, ...] = ()) -> BoolArray:
    out = cut_out(case, box, points)
    return np.zeros(case.image.shape[:2], bool) if out is None else np.asarray(out.rgba[..., 3] >= 128)


def _largest(wrong: BoolArray) -> tuple[BoolArray, Point | None]:
    """The largest piece of `wrong`, and its deepest pixel (unlabelled; None when there is none)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(wrong.astype(np.uint8), connectivity=8)
    if n < 2:
        return np.zeros_like(wrong), None
    piece = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    depth = cv2.distanceTransform(piece.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return piece, Point(int(x), int(y))


def touch_up(case: AlphaCase, seed: int, boxed: bool) -> Tap | None:
    """The cut-out of `case`, one tap on its largest wrong piece, and the cut-out again; None when no
    wrong piece is worth a tap."""
    box = case.hint_box() if boxed else None
    truth = case.alpha >= 0.5
    before = _cut(case, box)
    inside = np.zeros_like(truth)
    x0, y0, x1, y1 = box or (0, 0, truth.shape[1], truth.shape[0])
    inside[y0:y1, x0:x1] = True
    kept, at_kept = _largest(before & ~truth & inside)
    missed, at_missed = _largest(~before & truth)
    if max(np.count_nonzero(kept), np.count_nonzero(missed)) < MIN_SHARE * np.count_nonzero(truth):
        return None
    label: PointLabel = "background" if np.count_nonzero(kept) >= np.count_nonzero(missed) else "product"
    piece, at = (kept, at_kept) if label == "background" else (missed, at_missed)
    assert at is not None
    after = _cut(case, box, (Point(at.x, at.y, label),))
    product = truth & before
    return Tap(case.name, seed, boxed, label, iou(before, truth), iou(after, truth),
               float(np.mean(after[piece] != before[piece])),
               float(np.mean(~after[product])) if product.any() else 0.0)


def taps_table(taps: Sequence[Tap]) -> Table:
    table = Table(title="one tap on the largest wrong piece: IoU before → after")
    for col in ("hint", "tap", "seed", "taps", "worse", "better", "mean gain", "worst", "piece fixed",
                "product lost"):
        table.add_column(col, justify="right")
    seeds = sorted({t.seed for t in taps})
    for boxed in (False, True):
        for label in ("background", "product", "all"):
            for seed in [*seeds, None] if len(seeds) > 1 else seeds:
                some = [t for t in taps if t.boxed == boxed and label in ("all", t.label)
                        and seed in (None, t.seed)]
                if not some:
                    continue
                gains = [t.gain for t in some]
                table.add_row("box" if boxed else "none", label, "all" if seed is None else str(seed), str(len(some)),
                              str(sum(g < -CHANGED for g in gains)), str(sum(g > CHANGED for g in gains)),
                              f"{np.mean(gains):+.3f}", f"{min(gains):+.3f}",
                              f"{np.mean([t.fixed for t in some]):.2f}", f"{np.mean([t.lost for t in some]):.3f}",
                              style="bold" if seed is None else None)
        table.add_section()
    return table


def cases_table(taps: Sequence[Tap]) -> Table:
    table = Table(title="per tap")
    for col in ("case", "seed", "hint", "tap", "before", "after", "fixed", "lost"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for t in taps:
        table.add_row(t.name, str(t.seed), "box" if t.boxed else "", t.label, f"{t.before:.3f}", f"{t.after:.3f}",
                      f"{t.fixed:.2f}", f"{t.lost:.3f}", style="red" if t.gain < -CHANGED else None)
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", default="0", help="comma-separated seeds of the exact-alpha set (default 0)")
    parser.add_argument("--categories", default="cluttered,textured", help="comma-separated categories")
    parser.add_argument("--no-box", action="store_true", help="skip the taps with a box")
    parser.add_argument("--cases", action="store_true", help="print every tap")
    args = parser.parse_args(argv)
    kinds: tuple[Category, ...] = tuple(k for k in CATEGORIES if k in args.categories.split(","))
    taps = []
    for seed in (int(s) for s in args.seed.split(",")):
        for case in iter_full_set(None, seed, kinds):
            for boxed in (False,) if args.no_box else (False, True):
                tap = touch_up(case, seed, boxed)
                if tap is not None:
                    taps.append(tap)
    console = Console(width=150)
    if args.cases:
        console.print(cases_table(taps))
    console.print(taps_table(taps))


if __name__ == "__main__":
    main()
