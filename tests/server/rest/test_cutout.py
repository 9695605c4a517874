"""POST /api/cutout in process: a multipart or JSON photo with a product box or points, the job at once or
(wait=true) the finished cut-out's URL and figures, the same figures from GET /status/{id}; hints that do not
fit the photo refused naming the field, with no job and no file; the ad routes take the same hints."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from nanococoa_mcp.service import Service
from tests.hint_photos import alpha_of, cluttered, iou, two_shoes
from tests.server.rest.support import DANGO, assert_problem, b64, wait_done

pytestmark = pytest.mark.asyncio(loop_scope="module")
CUTOUT_FIELDS = {"cutout_url", "confidence", "method", "bbox", "hint_used", "width", "height"}


def leftovers(data_dir: Path) -> list[Path]:
    return sorted(p for sub in ("uploads", "jobs", "steps") for p in (data_dir / sub).rglob("*"))


async def test_a_multipart_photo_with_a_box_waited_on_gives_a_cut_out_inside_the_box(
    client: httpx.AsyncClient,
) -> None:
    photo = cluttered()
    x0, y0, x1, y1 = photo.box
    r = await client.post(
        "/api/cutout",
        data={"product_box": f"{x0},{y0},{x1},{y1}", "wait": "true"},
        files={"photo": ("table.png", photo.png, "image/png")},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert CUTOUT_FIELDS <= set(body) and body["status"] == "completed"
    assert body["status_url"] == f"/status/{body['job_id']}" == r.headers["location"]
    assert body["hint_used"] is True and "+box" in body["method"]
    png = await client.get(body["cutout_url"])
    assert png.status_code == 200 and body["cutout_url"] == f"/files/{body['job_id']}/cutout.png"
    alpha = alpha_of(png.content)
    assert alpha.shape == (body["height"], body["width"]) == photo.truth.shape
    outside = np.ones(alpha.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not alpha[outside].any()
    assert iou(alpha, photo.truth) >= 0.95
    bx0, by0, bx1, by1 = body["bbox"]
    assert x0 <= bx0 < bx1 <= x1 and y0 <= by0 < by1 <= y1

    status = (await client.get(body["status_url"])).json()
    assert {k: status[k] for k in CUTOUT_FIELDS} == {k: body[k] for k in CUTOUT_FIELDS}
    assert status["parameters"]["product_box"] == [x0, y0, x1, y1]


async def test_a_json_photo_with_a_background_point_drops_what_it_marks(client: httpx.AsyncClient) -> None:
    photo = two_shoes()
    x, y = photo.point
    r = await client.post(
        "/api/cutout", json={"image": b64(photo.png), "product_points": [{"x": x, "y": y, "label": "background"}]}
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] in ("queued", "running") and body["cutout_url"] is None and body["confidence"] is None
    status = await wait_done(client, body["job_id"])
    assert status["status"] == "completed" and status["hint_used"] is True, status
    alpha = alpha_of((await client.get(status["cutout_url"])).content)
    assert (alpha[photo.dropped] > 127).mean() <= 0.02
    assert iou(alpha, photo.truth) >= 0.95


async def test_a_form_takes_the_points_as_a_json_array_and_the_box_as_one(client: httpx.AsyncClient) -> None:
    photo = two_shoes()
    h, w = photo.truth.shape
    x, y = photo.point
    form = {
        "product_box": "[0, 0, 1, 1]",  # fractions: the whole photo
        "product_points": json.dumps([{"x": x, "y": y, "label": "background"}]),
    }
    r = await client.post("/api/cutout", data=form, files={"photo": ("shoes.png", photo.png, "image/png")})
    assert r.status_code == 202, r.text
    status = await wait_done(client, r.json()["job_id"])
    assert status["parameters"]["product_box"] == [0, 0, w, h]
    assert status["parameters"]["product_points"] == [{"x": x, "y": y, "label": "background"}]


BAD_HINTS = [
    ("box outside the photo", {"product_box": "100,100,2000,400"}, "product_box"),
    ("inverted box", {"product_box": "[400, 100, 100, 400]"}, "product_box"),
    ("box under 8 px", {"product_box": "100,100,105,400"}, "product_box"),
    ("box of three numbers", {"product_box": "100,100,400"}, "product_box"),
    ("box not numbers", {"product_box": "[1, 2"}, "product_box"),
    ("point off the photo", {"product_points": '[{"x": 5000, "y": 10}]'}, "product_points[0]"),
    ("point with an unknown label", {"product_points": '[{"x": 5, "y": 10, "label": "maybe"}]'},
     "product_points[0].label"),
    ("product point outside the box", {"product_box": "10,10,100,100", "product_points": '[{"x": 500, "y": 500}]'},
     "product_points[0]"),
]  # fmt: skip


@pytest.mark.parametrize(("form", "field"), [c[1:] for c in BAD_HINTS], ids=[c[0] for c in BAD_HINTS])
async def test_hints_that_do_not_fit_the_photo_are_refused_naming_the_field_with_no_job(
    client: httpx.AsyncClient, rest_service: Service, form: dict[str, str], field: str
) -> None:
    jobs_before = (await client.get("/api/jobs")).json()
    files_before = leftovers(rest_service.settings.data_dir)
    r = await client.post("/api/cutout", data=form, files={"photo": ("shoes.png", two_shoes().png, "image/png")})
    body = assert_problem(r, 422, "invalid_input", field)
    assert body["accepted"], body
    assert (await client.get("/api/jobs")).json() == jobs_before
    assert leftovers(rest_service.settings.data_dir) == files_before


@pytest.mark.parametrize(
    ("request_kwargs", "field"),
    [({"json": {}}, "photo"), ({"json": {"image": "not base64!"}}, "image"),
     ({"json": {"image": b64(DANGO), "photo": b64(DANGO)}}, "photo")],
    ids=["no photo", "not base64", "two photos"],
)  # fmt: skip
async def test_a_cut_out_needs_exactly_one_photo(
    client: httpx.AsyncClient, request_kwargs: dict[str, Any], field: str
) -> None:
    assert_problem(await client.post("/api/cutout", **request_kwargs), 422, "invalid_input", field)


async def test_the_ad_routes_take_the_box_as_json_and_as_a_form_and_refuse_a_bad_one(
    client: httpx.AsyncClient, rest_service: Service
) -> None:
    photo = cluttered()
    h, w = photo.truth.shape
    x0, y0, x1, y1 = photo.box
    fractions = [x0 / w, y0 / h, x1 / w, y1 / h]
    r = await client.post(
        "/api/generate",
        data={"ad_text": "꿀 한 병 특가", "size": "1:1", "product_box": json.dumps(fractions)},
        files={"product_image": ("table.png", photo.png, "image/png")},
    )
    assert r.status_code == 202, r.text
    seed = await client.post(
        "/generate",
        json={"text_content": "꿀 한 병 특가", "size": "1:1", "product_image": b64(photo.png),
              "product_box": [x0, y0, x1, y1], "product_points": [{"x": (x0 + x1) // 2, "y": (y0 + y1) // 2}]},
    )  # fmt: skip
    assert seed.status_code == 202, seed.text
    form_job, seed_job = await wait_done(client, r.json()["job_id"]), await wait_done(client, seed.json()["job_id"])
    box = form_job["parameters"]["product_box"]
    assert all(abs(a - b) <= 1 for a, b in zip(box, photo.box, strict=True)), box
    assert seed_job["parameters"]["product_box"] == [x0, y0, x1, y1]
    for job in (form_job, seed_job):
        quality = job["result"]["variants"][0]["quality"]
        # The box says where the product is: a cut-out, whatever its confidence, never a photo card.
        assert quality["layout_mode"] == "cutout" and quality["hint_used"] is True, quality
        assert quality["product_pixels_changed"] == 0 and quality["text_product_overlap_px"] == 0

    jobs_before = (await client.get("/api/jobs")).json()
    files_before = leftovers(rest_service.settings.data_dir)
    bad = await client.post(
        "/generate", json={"text_content": "꿀 특가", "product_image": b64(photo.png), "product_box": [x1, y0, x0, y1]}
    )
    assert_problem(bad, 422, "invalid_input", "product_box")
    assert (await client.get("/api/jobs")).json() == jobs_before
    assert leftovers(rest_service.settings.data_dir) == files_before


async def test_an_ad_that_ends_as_a_photo_card_says_in_its_status_how_to_get_a_cut_out(
    client: httpx.AsyncClient,
) -> None:
    yy, xx = np.mgrid[0:600, 0:800]
    checker = ((((xx // 40) + (yy // 40)) % 2) * 180 + 40).astype(np.uint8)  # nothing stands apart
    buf = io.BytesIO()
    Image.fromarray(np.dstack([checker] * 3)).save(buf, format="PNG")
    r = await client.post("/api/generate", json={"product_image": b64(buf.getvalue()), "ad_text": "오늘의 특가",
                                                 "size": "1:1"})  # fmt: skip
    st = await wait_done(client, r.json()["job_id"])
    quality = st["result"]["variants"][0]["quality"]
    assert quality["layout_mode"] == "photo_card" and "product_box [x0, y0, x1, y1]" in quality["layout_mode_reason"]
    backend = (await client.get(f"/api/status/{st['job_id']}")).json()
    assert "product_box" in backend["result"]["variants"][0]["quality"]["layout_mode_reason"]
