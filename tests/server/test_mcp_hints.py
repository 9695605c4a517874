"""The cut-out hints over MCP, in memory (FastMCP's `Client(app.mcp_server())`): product_box and product_points
in both tools' schemas with descriptions a calling model can act on, a box that keeps the cut-out to the
product on a cluttered table, a background point that drops what it marks, hints that do not fit the photo
refused as typed tool errors with no job, an ad with a box that stays a cut-out, children that keep the
hints, and a photo card that says how to get a cut-out, and does when re-run with a box."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastmcp import Client
from PIL import Image

from nanococoa_mcp.settings import Settings
from tests.conftest import SAMPLES
from tests.hint_photos import alpha_of, cluttered, iou, two_shoes
from tests.server.conftest import tool_error

pytestmark = pytest.mark.asyncio(loop_scope="module")  # one server for the module (module_client): jobs accumulate


def _uploads(settings: Settings) -> list[Path]:
    return sorted((settings.data_dir / "uploads").glob("*"))


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node` with its $ref (and a nullable anyOf's non-null branch) looked up in `schema`'s $defs."""
    if "anyOf" in node:
        node = {**node, **next(b for b in node["anyOf"] if b.get("type") != "null")}
    if "$ref" in node:
        node = {**node, **schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]}
    return node


async def test_both_tools_list_the_hints_with_descriptions_that_say_when_a_box_helps(
    module_client: Client[Any],
) -> None:
    tools = {t.name: t for t in await module_client.list_tools()}
    for name in ("generate_ad_image", "remove_background"):
        schema = tools[name].input_schema
        box = _resolve(schema, schema["properties"]["product_box"])
        assert box["type"] == "array" and box["items"] == {"type": "number"}
        assert box["minItems"] == box["maxItems"] == 4
        for words in ("[x0, y0, x1, y1]", "pixels", "fractions", "cluttered", "several objects", "0.6",
                      "photo_card"):
            assert words in box["description"], (name, words)
        points = _resolve(schema, schema["properties"]["product_points"])
        assert points["type"] == "array" and "background" in points["description"]
        point = _resolve(schema, points["items"])
        assert set(point["properties"]) == {"x", "y", "label"} and point["required"] == ["x", "y"]
        assert point["properties"]["label"]["enum"] == ["product", "background"]
        assert "product_box" in (tools[name].description or ""), name


async def test_remove_background_with_a_box_keeps_to_the_product_on_a_cluttered_table(
    module_client: Client[Any],
) -> None:
    photo = cluttered()
    result = await module_client.call_tool(
        "remove_background", {"image": base64.b64encode(photo.png).decode(), "product_box": list(photo.box)}
    )
    cut = result.structured_content
    assert cut is not None and cut["status"] == "completed" and cut["hint_used"] is True
    assert cut["method"].startswith("matting+box")
    alpha = alpha_of(Path(cut["cutout_path"]).read_bytes())
    x0, y0, x1, y1 = photo.box
    outside = np.ones(alpha.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not alpha[outside].any() and iou(alpha, photo.truth) >= 0.95


async def test_remove_background_drops_what_a_background_point_marks(
    module_client: Client[Any], tmp_path: Path
) -> None:
    photo = two_shoes()
    (tmp_path / "shoes.png").write_bytes(photo.png)
    path = str(tmp_path / "shoes.png")
    plain = (await module_client.call_tool("remove_background", {"image_path": path})).structured_content
    assert plain is not None and plain["hint_used"] is False
    assert (alpha_of(Path(plain["cutout_path"]).read_bytes())[photo.dropped] > 127).mean() >= 0.95  # both shoes
    x, y = photo.point
    args = {"image_path": path, "product_points": [{"x": x, "y": y, "label": "background"}]}
    cut = (await module_client.call_tool("remove_background", args)).structured_content
    assert cut is not None and cut["hint_used"] is True and cut["method"] == "matting+points"
    alpha = alpha_of(Path(cut["cutout_path"]).read_bytes())
    assert (alpha[photo.dropped] > 127).mean() <= 0.02 and iou(alpha, photo.truth) >= 0.95


BAD_HINTS = [
    ({"product_box": [400, 40, 100, 400]}, "product_box", "inverted"),
    ({"product_box": [100, 40, 600, 400]}, "product_box", "outside the 512×512 px photo"),
    ({"product_box": [100, 40, 105, 400]}, "product_box", "too small"),
    ({"product_box": [0.5, 0.5, 0.1, 0.9]}, "product_box", "inverted"),
    ({"product_box": [1, 2, 3]}, "product_box", "at least 4 items"),
    ({"product_points": [{"x": 600, "y": 5}]}, "product_points[0]", "outside the 512×512 px photo"),
    ({"product_points": [{"x": 5, "y": 5, "label": "maybe"}]}, "product_points[0].label", "'product' or 'background'"),
    ({"product_box": [100, 100, 300, 300], "product_points": [{"x": 5, "y": 5}]}, "product_points[0]",
     "outside the product box"),
]  # fmt: skip


@pytest.mark.parametrize("tool", ["remove_background", "generate_ad_image"])
@pytest.mark.parametrize(("hints", "field", "says"), BAD_HINTS)
async def test_hints_that_do_not_fit_the_photo_are_typed_errors_naming_the_field_and_make_no_job(
    module_client: Client[Any], module_settings: Settings, tool: str, hints: dict[str, Any], field: str, says: str
) -> None:
    photo = {"image_path": str(SAMPLES / "apple.jpg")} if tool == "remove_background" else {
        "product_image_path": str(SAMPLES / "apple.jpg"), "copy": "꿀사과 특가"}  # fmt: skip
    jobs_before = (await module_client.call_tool("list_jobs", {})).structured_content
    uploads_before = _uploads(module_settings)
    payload = tool_error(await module_client.call_tool(tool, {**photo, **hints}, raise_on_error=False))
    assert payload["error"] == "invalid_input" and payload["field"] == field, payload
    assert says in payload["message"] + payload.get("accepted", ""), payload
    assert (await module_client.call_tool("list_jobs", {})).structured_content == jobs_before
    assert _uploads(module_settings) == uploads_before


async def test_an_ad_with_a_box_stays_a_cut_out_and_its_children_keep_the_box(
    module_client: Client[Any], tmp_path: Path
) -> None:
    photo = cluttered()
    (tmp_path / "table.png").write_bytes(photo.png)
    args = {"copy": "꿀 한 병 특가", "product_image_path": str(tmp_path / "table.png"), "size": "1:1", "wait": True}
    plain = (await module_client.call_tool("generate_ad_image", args)).structured_content
    assert plain is not None and plain["status"] == "completed"
    assert plain["result"]["variants"][0]["quality"]["layout_mode"] == "photo_card"  # not sure of it: a card

    boxed_args = {**args, "product_box": list(photo.box)}
    boxed = (await module_client.call_tool("generate_ad_image", boxed_args)).structured_content
    assert boxed is not None and boxed["status"] == "completed"
    quality = boxed["result"]["variants"][0]["quality"]
    assert quality["layout_mode"] == "cutout" and quality["hint_used"] is True and quality["passed"]
    assert quality["cutout_low_confidence"] is True  # still a cut-out: the box said where the product is
    assert boxed["parameters"]["product_box"] == list(photo.box)

    child = {"parent_id": boxed["job_id"], "start_step": 2, "copy": "꿀 두 병 특가", "wait": True}
    second = (await module_client.call_tool("generate_ad_image", child)).structured_content
    assert second is not None and second["status"] == "completed"
    assert second["parameters"]["product_box"] == list(photo.box)
    assert second["result"]["variants"][0]["quality"]["hint_used"] is True
    refused = tool_error(await module_client.call_tool("generate_ad_image", {**child, "product_box": [0, 0, 100, 100]},
                                            raise_on_error=False))  # fmt: skip
    assert (refused["error"], refused["field"]) == ("invalid_input", "product_box")
    assert "start_step 1" in refused["accepted"]


async def test_a_photo_card_says_to_give_a_box_and_a_re_run_with_one_is_cut_out(
    module_client: Client[Any], tmp_path: Path
) -> None:
    yy, xx = np.mgrid[0:600, 0:800]
    checker = ((((xx // 40) + (yy // 40)) % 2) * 180 + 40).astype(np.uint8)  # nothing stands apart
    checker[200:400, 300:500] = 120  # but a person can see this grey tile is the product
    Image.fromarray(np.dstack([checker] * 3)).save(tmp_path / "pattern.png")
    args = {"copy": "오늘의 특가", "product_image_path": str(tmp_path / "pattern.png"), "size": "1:1", "wait": True}
    card = await module_client.call_tool("generate_ad_image", args)
    job = card.structured_content
    assert job is not None and job["status"] == "completed"
    quality = job["result"]["variants"][0]["quality"]
    assert quality["layout_mode"] == "photo_card" and "product_box [x0, y0, x1, y1]" in quality["layout_mode_reason"]
    assert "product_box" in card.content[0].text  # what a model reads says it too

    outside = tool_error(await module_client.call_tool(
        "generate_ad_image", {"parent_id": job["job_id"], "start_step": 1, "product_box": [700, 100, 900, 500]},
        raise_on_error=False))  # fmt: skip
    assert outside["field"] == "product_box" and "800×600" in outside["message"]
    again = {"parent_id": job["job_id"], "start_step": 1, "product_box": [280, 180, 520, 420], "wait": True}
    redone = (await module_client.call_tool("generate_ad_image", again)).structured_content
    assert redone is not None and redone["status"] == "completed"
    quality = redone["result"]["variants"][0]["quality"]
    assert quality["layout_mode"] == "cutout" and quality["hint_used"] is True
    alpha = alpha_of(Path(redone["result"]["cutout_path"]).read_bytes())
    assert alpha[250:350, 350:450].min() == 255 and not alpha[:170].any() and not alpha[430:].any()
