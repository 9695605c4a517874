"""The composition root: the service it starts (and refuses to start), the kinds it registers with the job
runtime, and no inference in the server process, whatever backend is configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from nanococoa_mcp.app import job_kinds, service_running
from nanococoa_mcp.errors import NanococoaError
from nanococoa_mcp.service import get_service
from nanococoa_mcp.settings import Settings, get_settings
from nanococoa_mcp.tools.ads import JobKindName
from tests.conftest import SAMPLES


async def test_a_read_only_data_dir_gives_a_clear_error_and_no_partial_result(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("not a directory")  # nobody, root included, can write under a file
    settings = get_settings().model_copy(update={"data_dir": blocked / "data"})
    with pytest.raises(NanococoaError) as info:
        async with service_running(settings):
            pass
    assert info.value.field == "data_dir"
    assert "cannot write" in info.value.message


def test_every_kind_the_tools_start_is_registered_with_the_runtime(data_dir: Path) -> None:
    worker, server = job_kinds(Settings(data_dir=data_dir))
    assert [k.name for k in worker] == ["ad", "cutout", "analysis"] and {k.runs_in for k in worker} == {"worker"}
    assert [k.name for k in server] == ["homepage"] and server[0].runs_in == "server"
    assert {k.name for k in (*worker, *server)} == set(get_args(JobKindName))


async def test_nested_doors_share_the_one_running_service(data_dir: Path) -> None:
    async with service_running() as outer:
        async with service_running() as inner:
            assert inner is outer and get_service() is outer
        assert get_service() is outer  # the inner door's end does not stop it
        assert outer.workers().alive == 1
    assert outer.pool.alive_workers() == 0


# Serve as `nanococoa serve` does (the job service in this process), cut out and analyse with the model
# backends configured; report what this process imported. The worker runs the tiny BiRefNet checkpoint.
SERVER = """
import asyncio, json, sys
from nanococoa_mcp.app import service_running
from nanococoa_mcp.tools import analyze_layout, remove_background

async def main():
    async with service_running():
        cut = await remove_background(image_path=sys.argv[1])
        layout = await analyze_layout(image_path=sys.argv[2])
    return cut, layout

cut, layout = asyncio.run(main())
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "diffusers")
               or m.startswith(("nanococoa_mcp.ad.backends.birefnet", "nanococoa_mcp.ad.backends.qwen")))
print(json.dumps({"method": cut.method, "layout": layout.backend, "fallback": layout.fallback_reason,
                  "heavy": heavy}))
"""


def test_the_server_process_never_loads_torch_while_its_worker_runs_the_model(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.ad.backends.test_birefnet import _write_checkpoint

    model = _write_checkpoint(tmp_path / "BiRefNet", gain=40.0, threshold=0.12)  # it finds the apple
    env = {
        **os.environ,
        "NANOCOCOA_DATA_DIR": str(tmp_path / "data"),
        "NANOCOCOA_CUTOUT_BACKEND": "birefnet",
        "NANOCOCOA_BIREFNET_MODEL": str(model),
        "NANOCOCOA_LAYOUT_BACKEND": "qwen",  # no weights here: the worker tries, falls back, says why
        "NANOCOCOA_DEVICE": "cpu",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_MODULES_CACHE": str(tmp_path / "hf_modules"),
    }
    res = subprocess.run(
        [sys.executable, "-c", SERVER, str(SAMPLES / "apple.jpg"), str(SAMPLES / "coffee.jpg")],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["method"] == "birefnet"  # the model ran, in the worker
    assert out["layout"] == "studio" and "qwen" in (out["fallback"] or "").lower()
    assert out["heavy"] == []  # and nothing of it, nor of its backends, in the server process
