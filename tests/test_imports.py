"""The embedded engine never needs torch: importing every module and making an ad loads none of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLES

SCRIPT = f"""
import asyncio, sys, pkgutil, importlib
import nanococoa_mcp
for m in pkgutil.walk_packages(nanococoa_mcp.__path__, "nanococoa_mcp."):
    if not m.name.endswith(".__main__"):  # running the CLI is not importing it
        importlib.import_module(m.name)
from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.pipeline import AdRequest, Studio
from nanococoa_mcp.app import service_running
from nanococoa_mcp.tools import generate_ad_image

async def serve_one():  # the server process: tools, job store, pool
    async with service_running():
        return await generate_ad_image(copy="수제 떡", product_image_path={str(SAMPLES / "dango.png")!r}, wait=True)

out = asyncio.run(serve_one())
# What a worker process runs, here in this process so its imports can be seen.
studio = Studio()
image = decode_image(open({str(SAMPLES / "fish.png")!r}, "rb").read())
ad = studio.generate(image, AdRequest(text_content="건어물 세일"))
studio.close()
heavy = sorted(n for n in ("torch", "diffusers", "transformers") if n in sys.modules)
print("HEAVY", heavy, out.status, ad.variants[0].quality.passed)
"""


def test_no_heavy_ml_import_in_the_embedded_path(tmp_path: Path) -> None:
    env = {**os.environ, "NANOCOCOA_DATA_DIR": str(tmp_path / "data")}
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "HEAVY [] completed True" in res.stdout


def test_starting_a_server_or_worker_imports_neither_langgraph_nor_an_mcp_client() -> None:
    """Every `nanococoa serve`, `worker` and `mcp` process imports app.py: LangGraph (the homepage's graph) and
    FastMCP's client (the homepage's tool caller) are imported by the first homepage run, not at start."""
    script = "import sys, nanococoa_mcp.app; print(sorted({n.split('.')[0] for n in sys.modules} & " \
             "{'langgraph', 'langchain_core', 'langsmith'} | ({'fastmcp.client'} & set(sys.modules))))"
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]", res.stdout
