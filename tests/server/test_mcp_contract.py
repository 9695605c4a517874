"""The MCP door's contract that no job reaches, in memory: the tools it lists with their schemas and
annotations, and the requests it refuses as typed tool errors before anything is written. One server for the
module (a refusal writes nothing, so they share it, and its data directory must stay empty throughout);
test_mcp.py has the calls that run jobs, each on a fresh server."""

from __future__ import annotations

from typing import Any

import pytest
from fastmcp import Client

from nanococoa_mcp.settings import Settings
from tests.conftest import SAMPLES
from tests.server.conftest import tool_error

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOOL_NAMES = {
    "generate_ad_image",
    "check_generation_status",
    "stop_generation",
    "list_jobs",
    "remove_background",
    "analyze_layout",
    "list_fonts",
    "list_styles",
    "server_health",
    "create_store",
    "get_store",
    "list_stores",
    "update_store",
    "generate_homepage",
}


async def test_every_tool_is_listed_with_schemas_and_honest_annotations(module_client: Client[Any]) -> None:
    tools = {t.name: t for t in await module_client.list_tools()}
    assert set(tools) == TOOL_NAMES
    gen = tools["generate_ad_image"]
    props = gen.input_schema["properties"]
    assert {"copy", "product_image_path", "product_image", "style", "text_style", "size", "variants"} <= set(props)
    assert "progress" not in props and "host" not in props
    assert gen.output_schema is not None
    assert {"job_id", "status", "progress_percent", "eta_seconds", "result"} <= set(gen.output_schema["properties"])
    annotations = {name: t.annotations for name, t in tools.items()}
    assert all(a is not None for a in annotations.values())
    assert annotations["generate_ad_image"].read_only_hint is False  # type: ignore[union-attr]
    assert annotations["generate_ad_image"].destructive_hint is False  # type: ignore[union-attr]
    assert annotations["analyze_layout"].read_only_hint is True  # type: ignore[union-attr]
    assert annotations["list_styles"].idempotent_hint is True  # type: ignore[union-attr]
    assert annotations["check_generation_status"].read_only_hint is True  # type: ignore[union-attr]
    assert annotations["stop_generation"].destructive_hint is True  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"copy": "", "product_image_path": str(SAMPLES / "apple.jpg")}, "copy"),
        ({"copy": "가" * 41, "product_image_path": str(SAMPLES / "apple.jpg")}, "copy"),
        ({"copy": "세일", "product_image_path": str(SAMPLES / "apple.jpg"), "style": "steampunk"}, "style"),
        ({"copy": "세일", "product_image_path": str(SAMPLES / "apple.jpg"), "size": "3:2"}, "size"),
        ({"copy": "세일", "product_image": "not base64!!"}, "product_image"),
        ({"copy": "세일", "product_image_path": "/nonexistent.jpg"}, "product_image_path"),
        ({"copy": "세일", "product_image_path": str(SAMPLES / "apple.jpg"), "variants": 9}, "variants"),
        ({"copy": "세일", "product_image_path": str(SAMPLES / "apple.jpg"), "text_position": "diagonal"},
         "text_position"),
    ],
)
async def test_bad_requests_come_back_as_typed_tool_errors_and_write_nothing(
    module_client: Client[Any], module_settings: Settings, args: dict[str, object], field: str
) -> None:
    data_dir = module_settings.data_dir
    async def job_ids() -> set[str]:
        listed = (await module_client.call_tool("list_jobs", {"limit": 200})).structured_content
        assert listed is not None
        return {job["job_id"] for job in listed["jobs"]}

    before = await job_ids()
    payload = tool_error(await module_client.call_tool("generate_ad_image", args, raise_on_error=False))
    assert payload["error"] == "invalid_input"
    assert payload["field"].startswith(field)
    assert payload.get("accepted")
    assert not (data_dir / "jobs").exists() or not any((data_dir / "jobs").iterdir())
    assert not (data_dir / "uploads").exists() or not any((data_dir / "uploads").iterdir())
    assert await job_ids() == before  # and no job row
