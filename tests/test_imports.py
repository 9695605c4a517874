"""The embedded engine never needs torch: importing every module and making an ad loads none of it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import SAMPLES

SCRIPT = f"""
import asyncio, sys, pkgutil, importlib
import nanococoa_mcp
for m in pkgutil.walk_packages(nanococoa_mcp.__path__, "nanococoa_mcp."):
    importlib.import_module(m.name)
from nanococoa_mcp.tools import generate_ad_image
from nanococoa_mcp.runtime import reset_host
out = asyncio.run(generate_ad_image(copy="수제 떡", product_image_path={str(SAMPLES / "dango.png")!r}))
reset_host()
heavy = sorted(n for n in ("torch", "diffusers", "transformers") if n in sys.modules)
print("HEAVY", heavy, out.variants[0].quality.passed)
"""


def test_no_heavy_ml_import_in_the_embedded_path(tmp_path: object) -> None:
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "HEAVY [] True" in res.stdout
