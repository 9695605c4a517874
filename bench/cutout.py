"""The cut-out benchmark: the exact-alpha set (bench/alpha_set.py) cut out without hints and with a box (the
true box + 4 % margin), per category; time per megapixel (warm, median); the confidence calibration table;
and, with --sheet, a contact sheet of the real sample photos' cut-outs.

    .venv/bin/python -m bench.cutout [--categories light,cluttered] [--per-category 4] [--seed 0]
                                     [--no-box] [--cases] [--fit] [--sheet docs/cutout_samples.jpg]
                                     [--dump runs.json]

--fit prints the logistic fit of the studio cut-out's confidence from the evidence each cut-out reports
(the CALIBRATION recipe of ad/backends/studio/cutout_confidence.py: `--seed 0,1,2 --fit`).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from bench.alpha_set import CATEGORIES, STUDIO_SHOTS, AlphaCase, Category, alpha_error, build_full_set, iou
from nanococoa_mcp.ad.backends.studio.cutout_confidence import HELD_DOWN, WEIGHTS, irregular_on_busy
from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.stages import cutout
from nanococoa_mcp.ad.stages.cutout import CutoutInput, CutoutOutput
from nanococoa_mcp.errors import InvalidInput

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
IOU_BANDS = ((0.0, 0.85, "IoU < 0.85"), (0.85, 0.95, "0.85–0.95"), (0.95, 1.01, "IoU ≥ 0.95"))
CONF_BANDS = ((0.0, 0.3), (0.3, 0.45), (0.45, 0.6), (0.6, 0.8), (0.8, 1.01))
FIT_MARGIN = 0.8  # logit between the best-scored badly wrong cut-out and LOW_CONFIDENCE after a fit


@dataclass(frozen=True, slots=True)
class Run:
    case: AlphaCase
    hinted: bool
    iou: float
    edge_error: float
    confidence: float
    seconds: float
    evidence: tuple[tuple[str, float], ...]
    failed: bool  # the stage found no product


def cut(case: AlphaCase, box: bool) -> Run:
    rgba = np.dstack([case.image, np.full(case.image.shape[:2], 255, np.uint8)])
    inp = CutoutInput(image=rgba, has_alpha=False, box=case.hint_box() if box else None)
    t = time.perf_counter()
    try:
        out: CutoutOutput | None = cutout.run(inp)
    except InvalidInput:
        out = None
    seconds = time.perf_counter() - t
    if out is None:
        return Run(case, box, 0.0, 1.0, 0.0, seconds, (), True)
    pred = out.rgba[..., 3].astype(np.float32) / 255.0
    return Run(case, box, iou(pred, case.alpha), alpha_error(pred, case.alpha)[1], out.confidence, seconds,
               out.evidence, False)


def _stats(values: Sequence[float]) -> tuple[str, str]:
    return (f"{np.mean(values):.3f}", f"{np.min(values):.3f}") if values else ("–", "–")


def quality_table(runs: list[Run], categories: Sequence[Category]) -> Table:
    table = Table(title="cut-out IoU on the exact-alpha set (no hint | with the true box + 4 %)")
    for col in ("category", "cases", "IoU mean", "IoU min", "box mean", "box min", "edge err", "conf mean",
                "s/MP median"):
        table.add_column(col, justify="right")

    def row(name: str, kinds: Sequence[Category]) -> None:
        plain = [r for r in runs if r.case.category in kinds and not r.hinted]
        boxed = [r for r in runs if r.case.category in kinds and r.hinted]
        if not plain and not boxed:
            return
        table.add_row(name, str(len(plain) or len(boxed)), *_stats([r.iou for r in plain]),
                      *_stats([r.iou for r in boxed]),
                      f"{np.mean([r.edge_error for r in plain or boxed]):.3f}",
                      f"{np.mean([r.confidence for r in plain or boxed]):.2f}",
                      f"{statistics.median([_per_mp(r) for r in plain or boxed]):.3f}")

    for kind in categories:
        row(kind, (kind,))
    table.add_section()
    row("studio shots", tuple(k for k in categories if k in STUDIO_SHOTS))
    row("all", tuple(categories))
    return table


def _per_mp(r: Run) -> float:
    h, w = r.case.image.shape[:2]
    return r.seconds / (h * w / 1e6)


def calibration_table(runs: list[Run]) -> Table:
    table = Table(title="calibration: cut-outs by IoU band (rows) and reported confidence (columns), all runs")
    table.add_column("", justify="left")
    for lo, hi in CONF_BANDS:
        table.add_column(f"conf {lo:.2f}–{min(hi, 1.0):.2f}", justify="right")
    table.add_column("share ≥ 0.6", justify="right")
    for lo, hi, name in IOU_BANDS:
        band = [r for r in runs if lo <= r.iou < hi]
        counts = [sum(1 for r in band if clo <= r.confidence < chi) for clo, chi in CONF_BANDS]
        sure = sum(1 for r in band if r.confidence >= cutout.LOW_CONFIDENCE)
        table.add_row(name, *(str(c) for c in counts), f"{sure}/{len(band)}")
    return table


def cases_table(runs: list[Run], evidence: bool) -> Table:
    table = Table(title="per case")
    for col in ("case", "hint", "IoU", "confidence", "s/MP", *(("evidence",) if evidence else ())):
        table.add_column(col, justify="right" if col not in ("case", "evidence") else "left")
    for r in runs:
        measured = " ".join(f"{k}={v:.2f}" for k, v in r.evidence) if not r.failed else "no product found"
        style = "red" if r.iou < 0.85 and r.confidence >= cutout.LOW_CONFIDENCE else None
        table.add_row(r.case.name, "box" if r.hinted else "", f"{r.iou:.3f}", f"{r.confidence:.2f}",
                      f"{_per_mp(r):.2f}", *((measured,) if evidence else ()), style=style)
    return table


def fit_confidence(runs: list[Run], console: Console) -> None:
    """The studio cut-out's CALIBRATION recipe (ad/backends/studio/cutout_confidence.py): logistic
    regression of "IoU >= 0.95" on the evidence, standardised (IRLS, ridge 1), mapped back to raw units;
    then the bias lowered until the best-scored run with IoU < 0.85 (not already held down by
    irregular_on_busy) sits FIT_MARGIN logit under LOW_CONFIDENCE. Printed as the code writes it."""
    usable = [r for r in runs if r.evidence and not r.failed]
    names = list(WEIGHTS)
    x = np.array([[dict(r.evidence)[n] for n in names] for r in usable], np.float64)
    y = np.array([r.iou >= 0.95 for r in usable], np.float64)
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(z.shape[1])
    ridge = np.eye(z.shape[1])
    ridge[0, 0] = 0.0
    for _ in range(60):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        hess = z.T @ (z * (p * (1 - p))[:, None]) + ridge
        w -= np.linalg.solve(hess, z.T @ (p - y) + ridge @ w)
    coef = w[1:] / std
    bias = w[0] - float((w[1:] * mean / std).sum())
    held = np.array([irregular_on_busy(dict(r.evidence)) for r in usable])
    bad = np.array([r.iou < 0.85 for r in usable]) & ~held
    if bad.any():
        line = math.log(cutout.LOW_CONFIDENCE / (1 - cutout.LOW_CONFIDENCE))
        bias -= max(0.0, float((x[bad] @ coef + bias).max()) - line + FIT_MARGIN)
    conf = np.where(held, np.minimum(1.0 / (1.0 + np.exp(-(x @ coef + bias))), HELD_DOWN),
                    1.0 / (1.0 + np.exp(-(x @ coef + bias))))
    good = np.array([r.iou >= 0.95 for r in usable])
    bad = np.array([r.iou < 0.85 for r in usable])
    console.print(f"fitted on {len(usable)} runs: {int(good.sum())} with IoU >= 0.95, {int(bad.sum())} under 0.85; "
                  f"after the shift {int((conf[good] >= cutout.LOW_CONFIDENCE).sum())} of the good ones and "
                  f"{int((conf[bad] >= cutout.LOW_CONFIDENCE).sum())} of the bad ones at >= {cutout.LOW_CONFIDENCE}")
    console.print("WEIGHTS = {" + ", ".join(f'"{n}": {c:.4g}' for n, c in zip(names, coef, strict=True)) + "}")
    console.print(f"BIAS = {bias:.4g}")


def samples_sheet(path: Path, console: Console) -> None:
    """The sample photos and their cut-outs on a checkerboard, side by side, one row each."""
    rows = []
    for photo in sorted(SAMPLES.iterdir()):
        image = decode_image(photo.read_bytes())
        try:
            out = cutout.run(CutoutInput(image=image.rgba, has_alpha=image.has_alpha))
        except InvalidInput as exc:
            console.print(f"{photo.name}: {exc}")
            continue
        own = image.rgba[..., 3:].astype(np.float32) / 255.0  # a photo with its own alpha: shown on white
        rgb = own * image.rgba[..., :3] + (1.0 - own) * 255.0
        h, w = rgb.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        board = np.where(((yy // 16 + xx // 16) % 2)[..., None] == 0, 235.0, 200.0)
        a = out.rgba[..., 3:].astype(np.float32) / 255.0
        over = a * out.rgba[..., :3] + (1 - a) * board
        pair = np.hstack([rgb, over]).astype(np.uint8)
        cv2.putText(pair, f"{photo.name} conf {out.confidence:.2f}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                    (20, 20, 20), 2)
        scale = 360 / pair.shape[0]
        rows.append(cv2.resize(pair, (round(pair.shape[1] * scale), 360), interpolation=cv2.INTER_AREA))
    width = max(r.shape[1] for r in rows)
    sheet = np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    console.print(f"contact sheet: {path}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--categories", default=",".join(CATEGORIES), help="comma-separated categories")
    parser.add_argument("--per-category", type=int, default=None, help="cases per category (default: all)")
    parser.add_argument("--seed", default="0", help="another seed builds other photos of each category; "
                                                    "several (0,1) build several sets")
    parser.add_argument("--no-box", action="store_true", help="skip the runs with a box")
    parser.add_argument("--cases", action="store_true", help="print every case")
    parser.add_argument("--evidence", action="store_true", help="with --cases: the confidence's evidence too")
    parser.add_argument("--fit", action="store_true", help="fit the confidence's logistic model and print it")
    parser.add_argument("--sheet", type=Path, default=None, help="write a contact sheet of the samples' cut-outs")
    parser.add_argument("--dump", type=Path, default=None, help="write every run (IoU, confidence, evidence) as JSON")
    args = parser.parse_args(argv)
    kinds = tuple(k for k in CATEGORIES if k in args.categories.split(","))
    console = Console(width=170)
    cases = [case for seed in args.seed.split(",") for case in build_full_set(args.per_category, int(seed), kinds)]
    cut(cases[0], False)  # warm: imports, first allocations
    runs = [cut(case, False) for case in cases]
    if not args.no_box:
        runs += [cut(case, True) for case in cases]
    console.print(quality_table(runs, kinds))
    console.print(calibration_table(runs))
    if args.cases:
        console.print(cases_table(runs, args.evidence))
    if args.fit:
        fit_confidence(runs, console)
    if args.dump:
        args.dump.write_text(json.dumps([{"case": r.case.name, "category": r.case.category, "box": r.hinted,
                                          "iou": r.iou, "confidence": r.confidence, "seconds": r.seconds,
                                          "failed": r.failed, "evidence": dict(r.evidence)} for r in runs]))
    if args.sheet:
        samples_sheet(args.sheet, console)


if __name__ == "__main__":
    main()
