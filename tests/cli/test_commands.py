"""The `nanococoa` command line: ads, cut-outs and analyses from the shell; clear errors, nothing half-written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from nanococoa_mcp.ad.backends.registry import SPECS
from nanococoa_mcp.cli.commands import app
from nanococoa_mcp.settings import get_settings
from tests.conftest import SAMPLES
from tests.hint_photos import cluttered
from tests.server.serving import ServerProcess

runner = CliRunner()


def test_generate_writes_the_ad_and_its_json_report(tmp_path: Path) -> None:
    out = tmp_path / "ad.png"
    res = runner.invoke(app, ["generate", str(SAMPLES / "fish.png"), "--copy", "건어물 대박 세일",
                              "--sub-copy", "오늘만 30% 할인", "--style", "전통시장 분위기", "--out", str(out)])
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        assert im.size == (1080, 1350)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["variants"][0]["quality"]["passed"] is True


def test_jobs_status_and_stop_read_the_local_job_database(tmp_path: Path) -> None:
    out = tmp_path / "ad.png"
    made = runner.invoke(app, ["generate", str(SAMPLES / "dango.png"), "--copy", "수제 떡", "--size", "1:1",
                               "--out", str(out)])
    assert made.exit_code == 0, made.output
    job_id = json.loads(out.with_suffix(".json").read_text())["job_id"]
    assert f"job: {job_id}" in made.output
    listed = runner.invoke(app, ["jobs"])
    assert listed.exit_code == 0 and job_id in listed.output and "completed" in listed.output
    status = runner.invoke(app, ["status", job_id])
    assert status.exit_code == 0
    data = json.loads(status.stdout)
    assert data["status"] == "completed" and data["progress_percent"] == 100
    stopped = runner.invoke(app, ["stop", job_id])  # finished jobs are left as they are
    assert stopped.exit_code == 0 and "completed" in stopped.output
    missing = runner.invoke(app, ["status", "no-such-job"])
    assert missing.exit_code == 2 and "not_found" in missing.output
    bad = runner.invoke(app, ["jobs", "--status", "sleeping"])
    assert bad.exit_code == 2 and "--status" in bad.output


def test_generate_against_a_running_server_fetches_the_files(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "remote.png"
    with ServerProcess(tmp_path / "server-data") as server:
        res = runner.invoke(app, ["generate", str(SAMPLES / "fish.png"), "--copy", "건어물 대박 세일",
                                  "--variants", "2", "--size", "1:1", "--server", server.base, "--out", str(out),
                                  "--box", "0.1,0.1,0.9,0.9", "--point", "5,5,bg"])  # fmt: skip
        assert res.exit_code == 0, res.output
        params = json.loads(out.with_suffix(".json").read_text())
        assert params["variants"][0]["quality"]["hint_used"] is False  # the emoji has its own alpha
        status = runner.invoke(app, ["status", params["job_id"], "--server", server.base])
        sent = json.loads(status.output)["parameters"]
        assert sent["product_box"] == [26, 26, 230, 230] and sent["product_points"] == [
            {"x": 5, "y": 5, "label": "background"}]
        listed = runner.invoke(app, ["jobs", "--server", server.base])
        assert listed.exit_code == 0 and "건어물 대박 세일" in listed.output
        refused = runner.invoke(app, ["generate", str(SAMPLES / "fish.png"), "--copy", "세일", "--style", "없는스타일",
                                      "--server", server.base, "--out", str(tmp_path / "no.png")])
        assert refused.exit_code == 2 and "style" in refused.output
    with Image.open(out) as im:
        assert im.size == (1080, 1080)
    assert (tmp_path / "remote-2.png").is_file()
    assert not (data_dir / "jobs").exists()  # made by the server, in its own data directory
    unreachable = runner.invoke(app, ["jobs", "--server", "http://127.0.0.1:9"])
    assert unreachable.exit_code == 2 and "cannot reach" in unreachable.output


def test_variants_are_written_beside_the_first(tmp_path: Path) -> None:
    out = tmp_path / "ad.png"
    res = runner.invoke(app, ["generate", str(SAMPLES / "dango.png"), "--copy", "수제 떡", "--variants", "2",
                              "--size", "1:1", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file() and (tmp_path / "ad-2.png").is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--copy", ""], "copy"),
        (["--copy", "가" * 41], "copy"),
        (["--copy", "세일", "--style", "없는스타일"], "style"),
        (["--copy", "세일", "--size", "2:1"], "size"),
        (["--copy", "세일", "--text-position", "diagonal"], "--text-position"),
    ],
)
def test_bad_arguments_fail_with_a_reason_and_write_nothing(tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "ad.png"
    res = runner.invoke(app, ["generate", str(SAMPLES / "apple.jpg"), *args, "--out", str(out)])
    assert res.exit_code != 0
    assert needle in res.output
    assert not out.exists() and not out.with_suffix(".json").exists()


def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "photo.jpg"
    bogus.write_text("hello")
    res = runner.invoke(app, ["generate", str(bogus), "--copy", "세일", "--out", str(tmp_path / "ad.png")])
    assert res.exit_code == 2 and "not an image" in res.output
    assert not (tmp_path / "ad.png").exists()


def test_cutout_writes_an_rgba_png(tmp_path: Path) -> None:
    out = tmp_path / "cut.png"
    res = runner.invoke(app, ["cutout", str(SAMPLES / "apple.jpg"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with Image.open(out) as im:
        rgba = np.asarray(im)
    assert rgba.shape[2] == 4
    assert (rgba[..., 3] == 0).mean() > 0.05 and (rgba[..., 3] == 255).mean() > 0.3


def test_analyze_prints_the_seed_json(tmp_path: Path) -> None:
    res = runner.invoke(app, ["analyze", str(SAMPLES / "coffee.jpg")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"objects", "color_analysis", "empty_spaces", "recommendations"}


def test_fonts_styles_and_doctor_report_what_is_installed() -> None:
    fonts = runner.invoke(app, ["fonts"])
    assert fonts.exit_code == 0 and "bm-jua" in fonts.output and "11172/11172" in fonts.output
    styles = runner.invoke(app, ["styles"])
    assert styles.exit_code == 0 and "전통시장" in styles.output and "gold_balloon" in styles.output
    doctor = runner.invoke(app, ["doctor"])
    assert doctor.exit_code == 0, doctor.output
    assert "chromium launch" in doctor.output


def test_doctor_shows_every_registered_backend_and_the_exact_files_it_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    (models / "BiRefNet").mkdir(parents=True)
    (models / "BiRefNet" / "config.json").write_text("{}")  # the config, not the weights
    monkeypatch.setenv("NANOCOCOA_MODELS_DIR", str(models))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for name in ("OPENAI_API_KEY", "NANOCOCOA_LLM_API_KEY", "NANOCOCOA_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    res = runner.invoke(app, ["doctor"])
    assert res.exit_code == 0, res.output  # what cannot run here is not configured
    for spec in SPECS:
        assert re.search(rf"{spec.stage}\W+{spec.name}\W", res.output), spec
    lines = res.output.splitlines()
    lacks = lines.index("cutout: birefnet lacks")
    assert lines[lacks + 1].strip() == str(models / "BiRefNet" / "model.safetensors")
    assert "copy: llm lacks" in lines and "cutout: studio lacks" not in lines

    monkeypatch.setenv("NANOCOCOA_CUTOUT_BACKEND", "birefnet")
    get_settings.cache_clear()
    configured = runner.invoke(app, ["doctor"])
    assert configured.exit_code == 1  # the configured cut-out would fall back to the studio one


def test_a_command_is_refused_at_start_when_the_settings_name_an_unregistered_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NANOCOCOA_LAYOUT_BACKEND", "gpt5")
    get_settings.cache_clear()
    res = runner.invoke(app, ["fonts"])
    assert res.exit_code == 2
    assert "NANOCOCOA_LAYOUT_BACKEND" in res.output and "unknown layout backend 'gpt5'" in res.output
    assert "studio, qwen" in res.output


def test_a_photo_with_no_product_still_makes_an_ad_and_says_how_to_get_a_cut_out(tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:600, 0:800]
    checker = ((((xx // 40) + (yy // 40)) % 2) * 180 + 40).astype(np.uint8)
    Image.fromarray(np.dstack([checker] * 3)).save(tmp_path / "pattern.png")
    res = runner.invoke(app, ["generate", str(tmp_path / "pattern.png"), "--copy", "오늘의 특가",
                              "--out", str(tmp_path / "ad.png")])  # fmt: skip
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert "photo card:" in said and "product_box [x0, y0, x1, y1]" in said
    report = json.loads((tmp_path / "ad.json").read_text())
    assert report["variants"][0]["quality"]["layout_mode"] == "photo_card"


def test_generate_takes_a_box_and_keeps_the_cut_out_on_a_cluttered_table(tmp_path: Path) -> None:
    photo = cluttered()
    (tmp_path / "table.png").write_bytes(photo.png)
    x0, y0, x1, y1 = photo.box
    h, w = photo.truth.shape
    res = runner.invoke(app, ["generate", str(tmp_path / "table.png"), "--copy", "꿀 한 병 특가", "--size", "1:1",
                              "--box", f"{x0 / w},{y0 / h},{x1 / w},{y1 / h}", "--point", f"{(x0 + x1) // 2},{y1 - 20}",
                              "--out", str(tmp_path / "ad.png")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "photo card" not in res.output
    quality = json.loads((tmp_path / "ad.json").read_text())["variants"][0]["quality"]
    assert quality["layout_mode"] == "cutout" and quality["hint_used"] is True and quality["passed"]
    refused = runner.invoke(app, ["generate", str(tmp_path / "table.png"), "--copy", "꿀 특가",
                                  "--box", f"{x1},{y0},{x0},{y1}", "--out", str(tmp_path / "bad.png")])  # fmt: skip
    assert refused.exit_code == 2 and "field: --box" in refused.output and "inverted" in refused.output
    assert not (tmp_path / "bad.png").exists()
