"""The job service on its own: start-up refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanococoa_mcp.errors import NanococoaError
from nanococoa_mcp.service import service_running
from nanococoa_mcp.settings import get_settings


async def test_a_read_only_data_dir_gives_a_clear_error_and_no_partial_result(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("not a directory")  # nobody, root included, can write under a file
    settings = get_settings().model_copy(update={"data_dir": blocked / "data"})
    with pytest.raises(NanococoaError) as info:
        async with service_running(settings):
            pass
    assert info.value.field == "data_dir"
    assert "cannot write" in info.value.message
