"""What the homepage tests share: the seed's store record, small product photos, a run with the tool caller
the homepage kind is given in production, and one whole run with the built-in writer (real ads through the
real tools), made once per session and read by several tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from nanococoa_mcp.app import service_running
from nanococoa_mcp.homepage.graph import Progress as OnProgress
from nanococoa_mcp.homepage.models import StoreRecord
from nanococoa_mcp.homepage.run import HomepageResult, run_homepage
from nanococoa_mcp.server.tool_caller import McpToolCaller
from nanococoa_mcp.settings import Settings
from tests.conftest import SAMPLES

T = TypeVar("T")
SEED_RECORD: dict[str, Any] = {  # the seed's CustomerData example, plus opening hours
    "store_name": "김밥천국 강남점",
    "store_type": "음식점 (분식)",
    "budget": 500,
    "period": 30,
    "advertising_goal": "신규 고객 유치",
    "target_customer": "20-30대 직장인",
    "advertising_media": "네이버 블로그, 인스타그램",
    "store_strength": "24시간 영업, 빠른 조리",
    "location": "서울 강남구 테헤란로",
    "phone_number": "02-1234-5678",
    "opening_hours": "매일 10:00-22:00",
}
STORE = StoreRecord.model_validate(SEED_RECORD)
PHOTOS = [SAMPLES / "dango.png", SAMPLES / "fish.png"]  # small: hero (dango), product_1 (fish), cta (fish)
PAGES = ["index.html", "about.html", "services.html", "contact.html"]
NODES = ["brainstorm", "concept", "marketing", "structure", "content", "images", "header_footer", "pages", "package"]


@dataclass
class Progress:
    """Records on_progress calls."""

    events: list[tuple[str, float, str]] = field(default_factory=list)

    def __call__(self, node: str, percent: float, message: str) -> None:
        self.events.append((node, percent, message))

    @property
    def nodes(self) -> list[str]:
        return list(dict.fromkeys(n for n, _p, _m in self.events))


@dataclass(frozen=True)
class BuiltSite:
    settings: Settings
    result: HomepageResult
    progress: Progress
    seconds: float

    @property
    def folder(self) -> Path:
        return Path(self.result.output_path)


def builtin_settings(data_dir: Path) -> Settings:
    """Settings for the built-in writer whatever the environment says about an LLM."""
    return Settings(data_dir=data_dir).model_copy(update={"llm_base_url": None, "llm_api_key": None})


async def run_site(
    job_id: str,
    store: StoreRecord,
    photos: list[Path],
    settings: Settings,
    on_progress: OnProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> HomepageResult:
    """run_homepage as the homepage kind runs it: the job service up, the in-memory MCP tool caller."""
    async with service_running(settings):
        tools = McpToolCaller(settings)
        try:
            return await run_homepage(job_id, store, photos, settings, tools, on_progress, should_stop)
        finally:
            await tools.aclose()


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own loop in another thread (a session fixture cannot use pytest's loop)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="homepage-run") as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    settings = builtin_settings(tmp_path_factory.mktemp("homepage") / "data")
    progress = Progress()
    started = time.perf_counter()
    result = run_in_thread(run_site("job-built", STORE, PHOTOS, settings, on_progress=progress))
    return BuiltSite(settings, result, progress, time.perf_counter() - started)
