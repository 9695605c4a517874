"""The job service the tools reach: only while a door runs it, with a clear way to get one."""

from __future__ import annotations

import pytest

from nanococoa_mcp.errors import BackendUnavailable
from nanococoa_mcp.service import get_service
from nanococoa_mcp.tools import list_jobs


async def test_outside_a_doors_lifetime_the_tools_say_how_to_start_the_service() -> None:
    with pytest.raises(BackendUnavailable) as info:
        get_service()
    assert info.value.field == "server" and "nanococoa serve" in (info.value.accepted or "")
    with pytest.raises(BackendUnavailable):
        await list_jobs()
