"""Shared fixtures: every test gets its own data directory (and `service`, its own job service), or a module
shares one service (`module_service`); browser tests share one warm Renderer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio

from nanococoa_mcp.ad.stages.copy_design import CopyDocument
from nanococoa_mcp.ad.stages.render import Renderer, RenderOutput, find_chromium
from nanococoa_mcp.app import service_running
from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.service import Service, current_service
from nanococoa_mcp.settings import Settings, get_settings

# real PostgreSQL and S3 servers, started only for tests that ask for them: postgres, postgres_db, s3, s3_bucket
pytest_plugins = ("tests.realservers_fixtures",)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"

# The modules that run for minutes (real servers, killed and restarted; whole homepages; browsers): they go
# to the test processes first, so that no process is left alone with one of them at the end of the run.
LONG_MODULES = (
    "tests/test_distributed.py",
    "tests/server/test_reliability.py",
    "tests/test_distributed_homepage.py",
    "tests/homepage/test_doors.py",
    "tests/homepage/test_kind.py",
    "tests/server/test_web_cutout.py",
    "tests/server/test_web.py",
    "tests/test_app.py",
    "tests/test_imports.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long modules first, in LONG_MODULES' order; the rest keep theirs (a stable sort keeps modules whole)."""
    gone = [name for name in LONG_MODULES if not (ROOT / name).is_file()]
    if gone:
        raise pytest.UsageError(f"tests/conftest.py LONG_MODULES names modules that are gone: {gone}")
    rank = {ROOT / name: i for i, name in enumerate(LONG_MODULES)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "data"
    monkeypatch.setenv("NANOCOCOA_DATA_DIR", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@pytest.fixture
async def service(data_dir: Path) -> AsyncIterator[Service]:
    """The job service (SQLite store, one worker process, the homepage runs) the tools reach through
    get_service()."""
    # A module sharing module_service would hand this test that service, with another data_dir than this
    # test's: checks on data_dir would then look at a folder nothing writes to.
    assert current_service() is None, "a module using module_service cannot also start its own service"
    async with service_running(get_settings()) as running:
        yield running


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Settings:
    """Settings of the job service a whole module shares: its own data directory, named after the module."""
    return Settings(data_dir=tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "data")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_service(module_settings: Settings) -> AsyncIterator[Service]:
    """One job service (and worker) for the module's tests, whose jobs and files accumulate: for tests that
    reach no job, or compare before and after. Such a module runs its tests in the module's event loop
    (`pytestmark = pytest.mark.asyncio(loop_scope="module")`), and none of its tests may start a service of its
    own meanwhile (a service already running is the one every later start shares)."""
    async with service_running(module_settings) as running:
        yield running


def _chromium_available() -> bool:
    try:
        find_chromium()
    except BackendUnavailable:
        return False
    return True


class ThreadRenderer:
    """A Renderer confined to its own thread: Playwright's sync API must not run on the thread that
    pytest-asyncio's event loops use."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-renderer")
        self._renderer = self._pool.submit(Renderer).result()

    @property
    def launches(self) -> int:
        return self._renderer.launches

    def render(self, doc: CopyDocument) -> RenderOutput:
        return self._pool.submit(self._renderer.render, doc).result()

    def close(self) -> None:
        self._pool.submit(self._renderer.close).result()
        self._pool.shutdown()


@pytest.fixture(scope="session")
def renderer() -> Iterator[ThreadRenderer]:
    if not _chromium_available():  # the README's test command installs it; say so rather than pass silently
        pytest.fail("Chromium is not installed: run scripts/test.sh, which installs it")
    r = ThreadRenderer()
    yield r
    r.close()
