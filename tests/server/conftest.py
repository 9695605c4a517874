"""The web page's tests share one Chromium per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nanococoa_mcp.ad.stages.render import find_chromium
from nanococoa_mcp.errors import BackendUnavailable
from tests.server.browsing import ThreadBrowser


@pytest.fixture(scope="module")
def browser() -> Iterator[ThreadBrowser]:
    try:
        find_chromium()
    except BackendUnavailable:  # the README's test command installs it; say so rather than pass silently
        pytest.fail("Chromium is not installed: run scripts/test.sh, which installs it")
    b = ThreadBrowser()
    yield b
    b.close()
