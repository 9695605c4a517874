"""The cut-out benchmark: the exact-alpha set (bench/alpha_set.py) cut out without hints and with a box (the
true box + 4 % margin), per category: IoU mean and min each way, time per megapixel (warm, median); the
confidence calibration table (IoU bands × confidence bands), without hints and with a box, and the rule it
must keep (no cut-out under IoU 0.85 at confidence 0.6 or above, most over 0.95 there); with --sheet, a
contact sheet of the real sample photos' cut-outs.

    .venv/bin/python -m bench.cutout [--categories light,cluttered] [--per-category 4] [--seed 0,1,2,3,4,5]
                                     [--no-box] [--cases] [--fit --fit-seeds 0,1,2,3] [--dump runs.json]
                                     [--load runs.json] [--sheet docs/cutout_samples.jpg]

--fit fits the studio cut-out's confidence (logistic, from the evidence each cut-out reports: the
CALIBRATION recipe of ad/backends/studio/cutout_confidence.py) on the runs of --fit-seeds (default: all),
prints it as code, and prints the calibration the refitted model gives on the other seeds (held out).
--dump writes every run; --load reads such a file instead of cutting again (for refitting, or for the
tables of some seeds only: --load runs.json --seed 4,5 gives the held-out figures).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from bench.alpha_set import CATEGORIES, STUDIO_SHOTS, AlphaCase, Category, alpha_error, iou, iter_full_set
from nanococoa_mcp.ad.backends.studio.cutout_confidence import FEATURES, Logistic, confidence_of, held_down
from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.stages import cutout
from nanococoa_mcp.ad.stages.cutout import CutoutInput, CutoutOutput, Point
from nanococoa_mcp.errors import InvalidInput

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
IOU_BANDS = ((0.0, 0.85, "IoU < 0.85"), (0.85, 0.95, "0.85–0.95"), (0.95, 1.01, "IoU ≥ 0.95"))
CONF_BANDS = ((0.0, 0.3), (0.3, 0.45), (0.45, 0.6), (0.6, 0.8), (0.8, 1.01))
FIT_MARGIN = 0.8  # logit between the best-scored badly wrong cut-out and LOW_CONFIDENCE after a fit
BAD, GOOD = 0.85, 0.95


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    category: str
    seed: int
    megapixels: float
    hinted: bool
    iou: float
    edge_error: float
    confidence: float
    seconds: float
    evidence: tuple[tuple[str, float], ...]
    failed: bool  # the stage found no product

    @property
    def per_mp(self) -> float:
        return self.seconds / self.megapixels


def cut_out(case: AlphaCase, box: cutout.Box | None, points: tuple[Point, ...] = ()) -> CutoutOutput | None:
    """The cut-out stage on `case`'s photo as a camera gives it (no alpha), with the hints; None when it
    found no product."""
    rgba = np.dstack([case.image, np.full(case.image.shape[:2], 255, np.uint8)])
    try:
        return cutout.run(CutoutInput(image=rgba, has_alpha=False, box=box, points=points))
    except InvalidInput:
        return None


def cut(case: AlphaCase, box: bool, seed: int = 0) -> Run:
    mp = case.image.shape[0] * case.image.shape[1] / 1e6
    t = time.perf_counter()
    out = cut_out(case, case.hint_box() if box else None)
    seconds = time.perf_counter() - t
    if out is None:
        return Run(case.name, case.category, seed, mp, box, 0.0, 1.0, 0.0, seconds, (), True)
    pred = out.rgba[..., 3].astype(np.float32) / 255.0
    return Run(case.name, case.category, seed, mp, box, iou(pred, case.alpha), alpha_error(pred, case.alpha)[1],
               out.confidence, seconds, out.evidence, False)


def _stats(values: Sequence[float]) -> tuple[str, str]:
    return (f"{np.mean(values):.3f}", f"{np.min(values):.3f}") if values else ("–", "–")


def _median_per_mp(runs: Sequence[Run]) -> str:
    return f"{statistics.median([r.per_mp for r in runs]):.3f}" if runs else "–"


def quality_table(runs: list[Run], categories: Sequence[str]) -> Table:
    seeds = sorted({r.seed for r in runs})
    table = Table(title=f"cut-out IoU on the exact-alpha set, seeds {','.join(map(str, seeds))} "
                        "(no hint | with the true box + 4 %)")
    for col in ("category", "photos", "IoU mean", "IoU min", "box mean", "box min", "edge err", "conf mean",
                "s/MP", "box s/MP"):
        table.add_column(col, justify="right")

    def row(name: str, kinds: Sequence[str]) -> None:
        plain = [r for r in runs if r.category in kinds and not r.hinted]
        boxed = [r for r in runs if r.category in kinds and r.hinted]
        if not plain and not boxed:
            return
        table.add_row(name, str(len(plain) or len(boxed)), *_stats([r.iou for r in plain]),
                      *_stats([r.iou for r in boxed]),
                      f"{np.mean([r.edge_error for r in plain or boxed]):.3f}",
                      f"{np.mean([r.confidence for r in plain or boxed]):.2f}",
                      _median_per_mp(plain), _median_per_mp(boxed))

    for kind in categories:
        row(kind, (kind,))
    table.add_section()
    row("studio shots", tuple(k for k in categories if k in STUDIO_SHOTS))
    row("all", tuple(categories))
    return table


Scored = Sequence[tuple[float, float]]  # (IoU, confidence) per run


def calibration_table(scored: Scored, title: str) -> Table:
    table = Table(title=title)
    table.add_column("", justify="left")
    for lo, hi in CONF_BANDS:
        table.add_column(f"conf {lo:.2f}–{min(hi, 1.0):.2f}", justify="right")
    table.add_column(f"share ≥ {cutout.LOW_CONFIDENCE}", justify="right")
    for lo, hi, name in IOU_BANDS:
        band = [c for i, c in scored if lo <= i < hi]
        counts = [sum(1 for c in band if clo <= c < chi) for clo, chi in CONF_BANDS]
        sure = sum(1 for c in band if c >= cutout.LOW_CONFIDENCE)
        table.add_row(name, *(str(n) for n in counts), f"{sure}/{len(band)}")
    return table


def rule_line(scored: Scored) -> str:
    """The rule the confidence keeps: no cut-out under IoU 0.85 at LOW_CONFIDENCE or above, most over 0.95."""
    bad = [c for i, c in scored if i < BAD]
    good = [c for i, c in scored if i >= GOOD]
    sure_bad = sum(c >= cutout.LOW_CONFIDENCE for c in bad)
    sure_good = sum(c >= cutout.LOW_CONFIDENCE for c in good)
    worst = max(bad, default=0.0)
    return (f"IoU < {BAD}: {sure_bad} of {len(bad)} at ≥ {cutout.LOW_CONFIDENCE} (highest {worst:.2f}); "
            f"IoU ≥ {GOOD}: {sure_good} of {len(good)} ({100 * sure_good / max(1, len(good)):.0f} %) at "
            f"≥ {cutout.LOW_CONFIDENCE}")


def cases_table(runs: list[Run], evidence: bool) -> Table:
    table = Table(title="per case")
    for col in ("case", "seed", "hint", "IoU", "confidence", "s/MP", *(("evidence",) if evidence else ())):
        table.add_column(col, justify="right" if col not in ("case", "evidence") else "left")
    for r in runs:
        measured = " ".join(f"{k}={v:.2f}" for k, v in r.evidence) if not r.failed else "no product found"
        style = "red" if r.iou < BAD and r.confidence >= cutout.LOW_CONFIDENCE else None
        table.add_row(r.name, str(r.seed), "box" if r.hinted else "", f"{r.iou:.3f}", f"{r.confidence:.2f}",
                      f"{r.per_mp:.2f}", *((measured,) if evidence else ()), style=style)
    return table


def fit_confidence(runs: Sequence[Run]) -> Logistic:
    """The studio cut-out's CALIBRATION recipe (ad/backends/studio/cutout_confidence.py): logistic
    regression of "IoU >= 0.95" on the evidence, standardised (IRLS, ridge 1), mapped back to raw units;
    then the bias lowered until the best-scored run with IoU < 0.85 (not already held down: held_down)
    sits FIT_MARGIN logit under LOW_CONFIDENCE."""
    usable = [r for r in runs if r.evidence and not r.failed]
    x = np.array([[dict(r.evidence)[n] for n in FEATURES] for r in usable], np.float64)
    y = np.array([r.iou >= GOOD for r in usable], np.float64)
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / std])
    w = np.zeros(z.shape[1])
    ridge = np.eye(z.shape[1])
    ridge[0, 0] = 0.0
    for _ in range(60):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        hess = z.T @ (z * (p * (1 - p))[:, None]) + ridge
        w -= np.linalg.solve(hess, z.T @ (p - y) + ridge @ w)
    coef: npt.NDArray[np.float64] = w[1:] / std
    bias = float(w[0] - (w[1:] * mean / std).sum())
    held = np.array([held_down(dict(r.evidence)) is not None for r in usable])
    bad = np.array([r.iou < BAD for r in usable]) & ~held
    if bad.any():
        line = math.log(cutout.LOW_CONFIDENCE / (1 - cutout.LOW_CONFIDENCE))
        bias -= max(0.0, float((x[bad] @ coef + bias).max()) - line + FIT_MARGIN)
    return Logistic(tuple(round(float(c), 4) for c in coef), round(bias, 4))


def report_fit(runs: list[Run], fit_seeds: set[int], console: Console) -> None:
    fitting = [r for r in runs if r.seed in fit_seeds and not r.failed]
    held_out = [r for r in runs if r.seed not in fit_seeds and not r.failed]
    model = fit_confidence(fitting)
    console.print(f"MODEL = Logistic(({', '.join(f'{c:.4g}' for c in model.weights)}), {model.bias:.4g})")

    def scored(some: list[Run]) -> list[tuple[float, float]]:
        return [(r.iou, confidence_of(dict(r.evidence), model)[0]) for r in some]

    seeds = ",".join(map(str, sorted({r.seed for r in held_out})))
    for hinted, how in ((False, "without hints"), (True, "with a box")):
        mine = scored([r for r in fitting if r.hinted == hinted])
        console.print(f"fitted on seeds {sorted(fit_seeds)}, {how}: " + rule_line(mine))
        out = scored([r for r in held_out if r.hinted == hinted])
        if out:
            console.print(calibration_table(out, f"calibration of the refitted model on held-out seeds {seeds}, "
                                                 f"{how}"))
            console.print(f"held out, {how}: " + rule_line(out))


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


def _cut_all(seeds: Sequence[int], per_category: int | None, kinds: tuple[Category, ...], box: bool) -> list[Run]:
    """Every case of every seed cut without a hint and, with `box`, with one; each case built when it is cut."""
    runs: list[Run] = []
    for seed in seeds:
        for case in iter_full_set(per_category, seed, kinds):
            if not runs:
                cut(case, False)  # warm: imports, first allocations
            runs.append(cut(case, False, seed))
            if box:
                runs.append(cut(case, True, seed))
    return runs


def _load(paths: Sequence[Path]) -> list[Run]:
    runs = []
    for path in paths:
        for item in json.loads(path.read_text()):
            item["evidence"] = tuple((k, float(v)) for k, v in item["evidence"])
            runs.append(Run(**item))
    return runs


def _dump(runs: Sequence[Run], path: Path) -> None:
    path.write_text(json.dumps([asdict(r) for r in runs]))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--categories", default=",".join(CATEGORIES), help="comma-separated categories")
    parser.add_argument("--per-category", type=int, default=None, help="cases per category (default: all)")
    parser.add_argument("--seed", default=None, help="another seed builds other photos of each category; "
                                                     "several (0,1) build several sets (default 0; with --load, "
                                                     "the seeds read, default all)")
    parser.add_argument("--no-box", action="store_true", help="skip the runs with a box")
    parser.add_argument("--cases", action="store_true", help="print every case")
    parser.add_argument("--evidence", action="store_true", help="with --cases: the confidence's evidence too")
    parser.add_argument("--fit", action="store_true", help="fit the confidence's logistic model and print it")
    parser.add_argument("--fit-seeds", default=None, help="with --fit: the seeds fitted on (default: all); the "
                                                          "others are held out and reported")
    parser.add_argument("--sheet", type=Path, default=None, help="write a contact sheet of the samples' cut-outs")
    parser.add_argument("--dump", type=Path, default=None, help="write every run (IoU, confidence, evidence) as JSON")
    parser.add_argument("--load", type=Path, nargs="+", default=None, help="read runs written by --dump instead "
                                                                           "of cutting")
    args = parser.parse_args(argv)
    kinds = tuple(k for k in CATEGORIES if k in args.categories.split(","))
    console = Console(width=170)
    if args.load:
        seeds = {int(s) for s in args.seed.split(",")} if args.seed else None
        runs = [r for r in _load(args.load) if r.category in kinds and not (args.no_box and r.hinted)
                and (seeds is None or r.seed in seeds)]
    else:
        runs = _cut_all([int(s) for s in (args.seed or "0").split(",")], args.per_category, kinds, not args.no_box)
    console.print(quality_table(runs, kinds))
    for hinted, how in ((False, "without hints"), (True, "with the true box + 4 %")):
        scored = [(r.iou, r.confidence) for r in runs if r.hinted == hinted]
        if scored:
            console.print(calibration_table(scored, f"calibration {how}: cut-outs by IoU band (rows) and "
                                                    "reported confidence (columns)"))
            console.print(f"{how}: " + rule_line(scored))
    if args.cases:
        console.print(cases_table(runs, args.evidence))
    if args.fit:
        fit_seeds = {int(s) for s in args.fit_seeds.split(",")} if args.fit_seeds else {r.seed for r in runs}
        report_fit(runs, fit_seeds, console)
    if args.dump:
        _dump(runs, args.dump)
    if args.sheet:
        samples_sheet(args.sheet, console)


if __name__ == "__main__":
    main()
