"""The homepage's production ToolCaller: our own tools through an in-memory MCP client, answering their
structured results and raising the typed error each tool reported."""

from __future__ import annotations

import pytest

from nanococoa_mcp.errors import InvalidInput, NotFound
from nanococoa_mcp.server.tool_caller import McpToolCaller
from nanococoa_mcp.service import Service
from tests.conftest import SAMPLES


async def test_tools_answer_their_structured_result_and_their_errors_as_typed_exceptions(service: Service) -> None:
    tools = McpToolCaller(service.settings)
    try:
        styles = await tools.call("list_styles", {})
        assert {"scene_styles", "text_styles", "sizes"} <= styles.keys()
        with pytest.raises(NotFound) as missing:
            await tools.call("stop_generation", {"job_id": "no-such-job"})
        assert missing.value.field == "job_id"
        with pytest.raises(InvalidInput) as refused:
            await tools.call("generate_ad_image", {"copy": "세일", "product_image_path": str(SAMPLES / "fish.png"),
                                                   "style": "steampunk"})
        assert refused.value.field == "style" and refused.value.accepted
    finally:
        await tools.aclose()
    again = await tools.call("list_jobs", {})  # closed, then used again: it opens a new session
    await tools.aclose()
    assert again == {"jobs": []}
