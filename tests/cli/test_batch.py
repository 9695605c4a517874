"""`nanococoa cutout PHOTO… (--out FILE.png | --out-dir DIR) [--box …] [--point …]` through the CLI's entry
(typer's runner, in process): a PNG and a JSON for each photo, the hints honoured, a bad photo reported while
the others are written, wrong options refused before anything runs."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from nanococoa_mcp.cli import commands
from nanococoa_mcp.cli.commands import app
from tests.conftest import SAMPLES
from tests.hint_photos import alpha_of, cluttered, iou, two_shoes

runner = CliRunner()
REPORT_FIELDS = {"confidence", "method", "bbox", "hint_used", "width", "height", "seconds", "cpu_seconds"}


def test_a_batch_writes_a_png_and_a_json_for_each_photo_and_reports_the_bad_one(tmp_path: Path) -> None:
    again = tmp_path / "elsewhere" / "apple.jpg"  # the same name from another folder is not overwritten
    again.parent.mkdir()
    shutil.copyfile(SAMPLES / "apple.jpg", again)
    bogus = tmp_path / "broken.jpg"
    bogus.write_bytes(b"not a photo")
    photos = [SAMPLES / "apple.jpg", bogus, SAMPLES / "dango.png", again, SAMPLES / "orange.jpg"]
    out_dir = tmp_path / "cut"  # made when missing
    res = runner.invoke(app, ["cutout", *map(str, photos), "--out-dir", str(out_dir)])
    assert res.exit_code == 2, res.output
    assert f"{bogus}: the file is not an image" in res.output and "1 of 5 photo(s) failed" in res.output
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == sorted(f"{stem}.{ext}" for stem in ("apple", "apple-2", "dango", "orange")
                             for ext in ("png", "json"))  # fmt: skip
    for stem in ("apple", "apple-2", "dango", "orange"):
        report = json.loads((out_dir / f"{stem}.json").read_text())
        assert REPORT_FIELDS <= set(report) and report["hint_used"] is False
        alpha = alpha_of((out_dir / f"{stem}.png").read_bytes())
        assert alpha.shape == (report["height"], report["width"])
        x0, y0, x1, y1 = report["bbox"]
        assert alpha[y0:y1, x0:x1].any() and not alpha[:y0].any() and not alpha[:, x1:].any()
        assert 0 < report["seconds"] < 60 and 0 <= report["confidence"] <= 1
    dango = json.loads((out_dir / "dango.json").read_text())
    assert dango["method"] == "alpha-channel" and dango["confidence"] == 1.0
    apple = json.loads((out_dir / "apple.json").read_text())
    timed = ("photo", "cutout", "seconds", "cpu_seconds")  # the same photo twice: the same cut-out
    assert apple == {**json.loads((out_dir / "apple-2.json").read_text()), **{k: apple[k] for k in timed}}


def test_a_box_keeps_the_cut_out_inside_it_on_a_cluttered_table(tmp_path: Path) -> None:
    photo = cluttered()
    (tmp_path / "table.png").write_bytes(photo.png)
    x0, y0, x1, y1 = photo.box
    out = tmp_path / "jar.png"
    box = f"{x0},{y0},{x1},{y1}"
    res = runner.invoke(app, ["cutout", str(tmp_path / "table.png"), "--out", str(out), "--box", box])
    assert res.exit_code == 0, res.output
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["hint_used"] is True and report["method"].startswith("matting+box")
    alpha = alpha_of(out.read_bytes())
    outside = np.ones(alpha.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not alpha[outside].any() and iou(alpha, photo.truth) >= 0.95


def test_a_background_point_drops_what_it_marks(tmp_path: Path) -> None:
    photo = two_shoes()
    (tmp_path / "shoes.png").write_bytes(photo.png)
    x, y = photo.point
    out = tmp_path / "left.png"
    res = runner.invoke(app, ["cutout", str(tmp_path / "shoes.png"), "--out", str(out), "--point", f"{x},{y},bg"])
    assert res.exit_code == 0, res.output
    alpha = alpha_of(out.read_bytes())
    assert (alpha[photo.dropped] > 127).mean() <= 0.02 and iou(alpha, photo.truth) >= 0.95
    assert json.loads(out.with_suffix(".json").read_text())["hint_used"] is True


@pytest.mark.parametrize(
    ("options", "field", "says"),
    [
        (["--out", "{tmp}/a.png", "--out-dir", "{tmp}/d"], "--out", "give --out (one photo) or --out-dir"),
        ([], "--out", "give --out (one photo) or --out-dir"),
        (["--out", "{tmp}/a.jpg"], "--out", "must end in .png"),
        (["--out", "{tmp}/a.png", "--box", "1,2,3"], "--box", "is not four numbers"),
        (["--out", "{tmp}/a.png", "--point", "4,5,maybe"], "--point 0", "is not x,y or x,y,bg"),
    ],
)
def test_wrong_options_are_refused_before_anything_runs(
    tmp_path: Path, options: list[str], field: str, says: str
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in options]
    res = runner.invoke(app, ["cutout", str(SAMPLES / "apple.jpg"), *args])
    assert res.exit_code == 2 and says in res.output and f"field: {field}" in res.output, res.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "field", "says"),
    [
        (["--box", "600,40,100,400"], "--box", "inverted"),
        (["--box", "100,40,900,400"], "--box", "reaches outside the 512×512 px photo"),
        (["--box", "100,40,104,400"], "--box", "too small"),
        (["--point", "600,10"], "--point 0", "outside the 512×512 px photo"),
    ],
)
def test_hints_that_do_not_fit_the_photo_fail_that_photo_naming_the_option(
    tmp_path: Path, options: list[str], field: str, says: str
) -> None:
    res = runner.invoke(app, ["cutout", str(SAMPLES / "apple.jpg"), "--out", str(tmp_path / "a.png"), *options])
    assert res.exit_code == 2 and says in res.output and f"field: {field}" in res.output, res.output
    assert list(tmp_path.iterdir()) == []


def test_out_takes_one_photo(tmp_path: Path) -> None:
    res = runner.invoke(app, ["cutout", str(SAMPLES / "apple.jpg"), str(SAMPLES / "orange.jpg"),
                              "--out", str(tmp_path / "a.png")])  # fmt: skip
    assert res.exit_code == 2 and "--out takes one photo; 2 were given" in res.output
    assert list(tmp_path.iterdir()) == []


def test_on_a_terminal_a_progress_bar_counts_the_photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(commands, "err", Console(file=screen, force_terminal=True, width=100))
    res = runner.invoke(app, ["cutout", str(SAMPLES / "dango.png"), str(SAMPLES / "fish.png"),
                              "--out-dir", str(tmp_path)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "2/2" in screen.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dango.json", "dango.png", "fish.json", "fish.png"]
