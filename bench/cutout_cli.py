"""The batch cut-out as a user runs it: `nanococoa cutout PHOTO… --out-dir DIR` (its entry, in this process) on
the exact-alpha set's photos (bench/alpha_set.py, written as JPEG files) and the sample photos; the time per
megapixel read back from the JSON each cut-out writes, warm (the first photo, which pays for imports and
first allocations, is left out of the figures), against the target of a median <= 0.5 s/MP on 2 cores. The
CPU time (all threads of the process) is printed beside it: on a machine busy with other work the wall clock
measures the waiting too.

    .venv/bin/python -m bench.cutout_cli [--per-category 3] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table
from typer.main import get_command

from bench.alpha_set import CATEGORIES, build_full_set
from nanococoa_mcp.cli.commands import app

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
TARGET_S_PER_MP = 0.5


def write_photos(folder: Path, per_category: int | None, seed: int) -> list[Path]:
    """The alpha set's photos as JPEG files (as a phone would hand them over), then the samples."""
    photos = []
    for case in build_full_set(per_category, seed):
        path = folder / f"{case.name}.jpg"
        Image.fromarray(case.image).save(path, quality=92)
        photos.append(path)
    return photos + sorted(SAMPLES.iterdir())


def run_batch(photos: Sequence[Path], out_dir: Path) -> tuple[int, float]:
    """`nanococoa cutout … --out-dir out_dir`; its exit code and wall time."""
    started = time.perf_counter()
    code = get_command(app).main(["cutout", *map(str, photos), "--out-dir", str(out_dir)], standalone_mode=False)
    return int(code or 0), time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-category", type=int, default=3, help="alpha-set photos per category")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="write the photos and cut-outs here (kept)")
    args = parser.parse_args(argv)
    console = Console(width=150)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        (root / "photos").mkdir(parents=True, exist_ok=True)
        photos = write_photos(root / "photos", args.per_category, args.seed)
        code, wall = run_batch(photos, root / "cut")
        reports = [json.loads((root / "cut" / f"{p.stem}.json").read_text()) for p in photos
                   if (root / "cut" / f"{p.stem}.json").is_file()]  # fmt: skip
    warm = reports[1:]
    per_mp = [r["seconds"] / (r["width"] * r["height"] / 1e6) for r in warm]
    cpu_per_mp = [r["cpu_seconds"] / (r["width"] * r["height"] / 1e6) for r in warm]
    megapixels = sum(r["width"] * r["height"] for r in reports) / 1e6
    table = Table(title=f"nanococoa cutout, one batch of {len(photos)} photos in one process "
                        f"({len(CATEGORIES)} alpha-set categories × {args.per_category} + samples)")  # fmt: skip
    for col in ("photos cut", "MP", "warm s/MP median", "p90", "max", "CPU s/MP median", "cold first s",
                "wall s/MP (all, with I/O)", "median ≤ 0.5", "exit"):
        table.add_column(col, justify="right")
    median = statistics.median(per_mp)
    table.add_row(f"{len(reports)}/{len(photos)}", f"{megapixels:.1f}", f"{median:.3f}",
                  f"{float(np.percentile(per_mp, 90)):.3f}", f"{max(per_mp):.3f}",
                  f"{statistics.median(cpu_per_mp):.3f}", f"{reports[0]['seconds']:.2f}", f"{wall / megapixels:.3f}",
                  "yes" if median <= TARGET_S_PER_MP else "NO", str(code))  # fmt: skip
    console.print(table)
    load = os.getloadavg()
    console.print(f"{os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
                  "(other work on the machine slows every figure)")  # fmt: skip
    by_method: dict[str, list[float]] = {}
    for r, v in zip(warm, per_mp, strict=True):
        by_method.setdefault(r["method"], []).append(v)
    console.print("warm s/MP median by method: " + ", ".join(
        f"{m} {statistics.median(v):.3f} ({len(v)})" for m, v in sorted(by_method.items())))  # fmt: skip


if __name__ == "__main__":
    main()
