"""Homepage benchmark: time to a finished site with the built-in writer (no LLM), and how many ad jobs
it used, in-process on this machine (job service with one worker, warm after the first ad).

    .venv/bin/python -m bench.homepage [--photos 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PHOTOS = ("dango.png", "fish.png", "apple.jpg", "coffee.jpg")


async def run(photos: int, data_dir: Path) -> tuple[float, dict[str, float], object, int]:
    from nanococoa_mcp.app import service_running
    from nanococoa_mcp.homepage.models import StoreRecord
    from nanococoa_mcp.homepage.run import run_homepage
    from nanococoa_mcp.server.tool_caller import McpToolCaller
    from nanococoa_mcp.settings import Settings

    settings = Settings(data_dir=data_dir, llm_base_url=None, llm_api_key=None)
    store = StoreRecord(
        store_name="다온 떡집",
        store_type="떡집",
        budget=50,
        period=30,
        advertising_goal="동네 단골 늘리기",
        target_customer="30-40대 주부, 근처 직장인",
        advertising_media="인스타그램, 네이버 플레이스",
        store_strength="매일 아침 직접 빚는 떡, 국산 쌀",
        location="서울 마포구 망원로 12",
        phone_number="02-336-1234",
        opening_hours="매일 08:00-20:00",
    )
    nodes: dict[str, float] = {}
    last = {"node": "", "at": time.perf_counter()}

    def on_progress(node: str, _percent: float, _message: str) -> None:
        now = time.perf_counter()
        if node != last["node"]:
            if last["node"]:
                nodes[last["node"]] = nodes.get(last["node"], 0.0) + now - last["at"]
            last.update(node=node, at=now)

    async with service_running(settings) as service:
        started = time.perf_counter()
        tools = McpToolCaller(settings)  # what the homepage job kind is given in the server
        try:
            result = await run_homepage(
                "bench-homepage", store, [SAMPLES / p for p in PHOTOS[:photos]], settings, tools, on_progress
            )
        finally:
            await tools.aclose()
        total = time.perf_counter() - started
        if last["node"]:
            nodes[last["node"]] = nodes.get(last["node"], 0.0) + time.perf_counter() - last["at"]
        ads = len(await service.jobs(limit=200, kind="ad"))
    return total, nodes, result, ads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2, choices=range(1, 5))
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="nanococoa-bench-") as tmp:
        os.environ.pop("NANOCOCOA_LLM_BASE_URL", None)
        total, nodes, result, ads = asyncio.run(run(args.photos, Path(tmp) / "data"))
    table = Table(title=f"Homepage, built-in writer, {args.photos} photo(s), {os.cpu_count()} CPUs (seconds)")
    table.add_column("node")
    table.add_column("seconds", justify="right")
    for node, seconds in nodes.items():
        table.add_row(node, f"{seconds:.2f}")
    table.add_row("[bold]whole site[/]", f"[bold]{total:.2f}[/]")
    console.print(table)
    pages = getattr(result, "pages", [])
    console.print(f"ad jobs used: {ads} · pages: {len(pages)} · images: {getattr(result, 'generated_images', 0)}")
    console.print("(the clock starts once the job service is up; the worker may still be starting its browser)")


if __name__ == "__main__":
    main()
