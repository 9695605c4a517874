"""Studio benchmark: per-stage and end-to-end time of a 1080×1350 ad (warm browser, median of N),
peak RSS, and cut-out quality (IoU, alpha error) on the exact-alpha test set. Prints tables.

    .venv/bin/python -m bench [--runs 7] [--cutout-cases 12]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.pipeline import AdRequest, Studio
from nanococoa_mcp.ad.stages import cutout

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CASES = (
    ("fish.png", "건어물 대박 세일", "traditional_market", "gold_balloon"),
    ("apple.jpg", "꿀사과 한 박스 특가", "minimal", "bold_clean"),
    ("coffee.jpg", "오늘의 커피 한 잔", "cafe", "handwritten"),
)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_pipeline(runs: int, console: Console) -> None:
    studio = Studio()
    table = Table(title=f"1080×1350 ad, warm browser, median of {runs} (seconds)")
    stages = ("cutout", "scene", "compose", "layout", "copy", "render", "final")
    for col in ("photo", *stages, "end-to-end", "passed"):
        table.add_column(col, justify="right")
    try:
        for photo, copy, style, text_style in CASES:
            image = decode_image((SAMPLES / photo).read_bytes())
            req = AdRequest(text_content=copy, sub_copy="오늘만 30% 할인", style=style, text_style=text_style)
            studio.generate(image, req)  # warm-up: browser start, caches
            totals: list[float] = []
            per_stage: dict[str, list[float]] = {s: [] for s in stages}
            passed = True
            for i in range(runs):
                t = time.perf_counter()
                result = studio.generate(image, req.model_copy(update={"seed": i}))
                totals.append(time.perf_counter() - t)
                for s in stages:
                    per_stage[s].append(result.timings.get(s, 0.0))
                passed &= result.variants[0].quality.passed
            table.add_row(photo, *(f"{statistics.median(per_stage[s]):.3f}" for s in stages),
                          f"{statistics.median(totals):.3f}", "yes" if passed else "NO")
    finally:
        studio.close()
    console.print(table)


def bench_cutout(limit: int | None, console: Console) -> None:
    from bench.alpha_set import alpha_error, build_alpha_set, iou

    table = Table(title="cut-out on the exact-alpha test set")
    for col in ("set", "cases", "IoU mean", "IoU min", "alpha err", "edge-band err", "confidence", "time median (s)"):
        table.add_column(col, justify="right")
    for kind in ("studio", "textured"):
        cases = build_alpha_set(kind, n=limit)  # type: ignore[arg-type]
        ious, errs, band_errs, confs, times = [], [], [], [], []
        for case in cases:
            rgba = np.dstack([case.image, np.full(case.image.shape[:2], 255, np.uint8)])
            t = time.perf_counter()
            out = cutout.run(cutout.CutoutInput(image=rgba, has_alpha=False))
            times.append(time.perf_counter() - t)
            pred = out.rgba[..., 3].astype(np.float32) / 255.0
            ious.append(iou(pred, case.alpha))
            whole, band = alpha_error(pred, case.alpha)
            errs.append(whole)
            band_errs.append(band)
            confs.append(out.confidence)
        table.add_row(kind, str(len(cases)), f"{np.mean(ious):.3f}", f"{np.min(ious):.3f}", f"{np.mean(errs):.4f}",
                      f"{np.mean(band_errs):.3f}", f"{np.mean(confs):.2f}", f"{statistics.median(times):.3f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per photo (median reported)")
    parser.add_argument("--cutout-cases", type=int, default=None, help="limit the cut-out set per kind")
    args = parser.parse_args()
    console = Console(width=170)
    bench_pipeline(max(5, args.runs), console)
    bench_cutout(args.cutout_cases, console)
    console.print(f"peak RSS: {_peak_rss_mb():.0f} MB (this process; Chromium runs in its own processes)")
