"""The homepage routes in process: shop records as JSON or forms (refused field by field, saving nothing),
the seed's `POST /homepage/generate` answered in its shape with the site served whole, a run stopped while
it makes its images, a finished site served for preview and nothing outside it, and the form page."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from nanococoa_mcp.service import Service
from tests.conftest import SAMPLES
from tests.server.rest.support import DANGO, assert_problem, b64, record_finished_job

pytestmark = pytest.mark.asyncio(loop_scope="module")
# The seed's CustomerData example.
STORE: dict[str, Any] = {
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
}
FISH = (SAMPLES / "fish.png").read_bytes()
ALL_PHOTOS = [b64((SAMPLES / name).read_bytes()) for name in ("dango.png", "fish.png", "apple.jpg", "orange.jpg")]
PAGES = ["index.html", "about.html", "services.html", "contact.html"]
RUN_TIMEOUT_S = 240.0
STOP_GRACE_S = 10.0  # NANOCOCOA_STOP_GRACE_SEC's default


async def stores_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/api/stores", params={"limit": 200})).json()["stores"])


async def wait_for(
    client: httpx.AsyncClient, job_id: str, until: Callable[[dict[str, Any]], bool], timeout_s: float = RUN_TIMEOUT_S
) -> dict[str, Any]:
    """Poll /homepage/status until `until` holds (the job must not end before it does)."""
    deadline = time.monotonic() + timeout_s
    while True:
        st: dict[str, Any] = (await client.get(f"/homepage/status/{job_id}")).json()
        if until(st):
            return st
        assert st["status"] in ("queued", "running"), st
        assert time.monotonic() < deadline, st
        await asyncio.sleep(0.05)


def ended(st: dict[str, Any]) -> bool:
    return st["status"] in ("success", "failed", "stopped")


async def assert_site(st: dict[str, Any], client: httpx.AsyncClient) -> None:
    """The seed's answer, and a site that is really there and served whole."""
    assert st["status"] == "success", st["error"]
    assert st["pages"] == PAGES and st["generated_images"] >= 1
    folder = Path(st["output_path"])
    assert all((folder / page).is_file() for page in PAGES) and any((folder / "images").iterdir())
    for page in PAGES:
        html = await client.get(f"{st['site_url']}{page}")
        assert html.status_code == 200 and "<html" in html.text.lower()
    index = (await client.get(st["site_url"])).text
    for ref in sorted(set(re.findall(r'(?:src|href)="((?:images|css)/[^"]+)"', index))):
        assert (await client.get(f"{st['site_url']}{ref}")).status_code == 200, ref
    zipped = await client.get(st["zip_url"])
    assert zipped.status_code == 200 and zipped.content[:2] == b"PK"
    assert zipped.headers["content-type"] == "application/zip"


# ---------------------------------------------------------------- shop records


async def test_stores_are_made_from_json_or_a_form_read_listed_and_changed(client: httpx.AsyncClient) -> None:
    made = await client.post("/api/stores", json={**STORE, "photos": [b64(DANGO)]})
    assert made.status_code == 201, made.text
    store = made.json()
    assert made.headers["location"] == f"/api/stores/{store['store_id']}" and len(store["photos"]) == 1
    assert Path(store["photos"][0]).read_bytes() == DANGO  # kept as received
    form = {k: str(v) for k, v in {**STORE, "store_name": "떡집 본점", "description": ""}.items()}
    files = [("photos", ("dango.png", DANGO, "image/png")), ("photos", ("fish.png", FISH))]
    from_form = await client.post("/api/stores", data=form, files=files)
    assert from_form.status_code == 201, from_form.text
    assert from_form.json()["record"]["budget"] == 500 and len(from_form.json()["photos"]) == 2
    assert from_form.json()["record"]["description"] is None  # an empty input is no description
    assert (await client.get(f"/api/stores/{store['store_id']}")).json() == store
    listed = [s["store_id"] for s in (await client.get("/api/stores", params={"limit": 50})).json()["stores"]]
    assert listed.index(from_form.json()["store_id"]) < listed.index(store["store_id"])  # newest first

    changed = await client.put(f"/api/stores/{store['store_id']}", json={"opening_hours": "매일 07:00-23:00"})
    assert changed.status_code == 200 and changed.json()["record"]["opening_hours"] == "매일 07:00-23:00"
    assert changed.json()["photos"] == store["photos"] and changed.json()["record"]["store_name"] == STORE["store_name"]
    replaced = await client.put(
        f"/api/stores/{store['store_id']}", files={"photos": ("fish.png", FISH, "image/png")}, data={"period": "60"}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["record"]["period"] == 60 and Path(replaced.json()["photos"][0]).read_bytes() == FISH


REFUSED_STORES: list[tuple[dict[str, Any], str]] = [
    ({**STORE, "phone_number": "02-12-34"}, "phone_number"),
    ({**STORE, "budget": "오백"}, "budget"),
    ({**STORE, "store_name": "가" * 41}, "store_name"),
    ({**STORE, "homepage_color": "pink"}, "homepage_color"),
    ({**STORE, "photos": "not a list"}, "photos"),
    ({**STORE, "photos": [b64(DANGO)] * 5}, "photos"),
    ({**STORE, "photos": ["bm90IGFuIGltYWdl"]}, "photos[0]"),
    ({**STORE, "photos": [b64(DANGO), 7]}, "photos[1]"),
    ({k: v for k, v in STORE.items() if k != "location"}, "location"),
]


@pytest.mark.parametrize(("body", "field"), REFUSED_STORES, ids=[f for _b, f in REFUSED_STORES])
async def test_a_refused_store_names_the_field_and_what_it_accepts_and_saves_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    before = await stores_count(client)
    problem = assert_problem(await client.post("/api/stores", json=body), 422, "invalid_input", field)
    assert problem["accepted"], problem
    assert await stores_count(client) == before


async def test_a_refused_change_changes_nothing_and_an_unknown_store_is_a_404(client: httpx.AsyncClient) -> None:
    store = (await client.post("/api/stores", json=STORE)).json()
    for change, field in (({"period": 0}, "period"), ({"phone_number": "국번 없이 112"}, "phone_number")):
        refused = await client.put(f"/api/stores/{store['store_id']}", json={"store_name": "새 이름", **change})
        assert_problem(refused, 422, "invalid_input", field)
    assert (await client.get(f"/api/stores/{store['store_id']}")).json() == store
    assert_problem(await client.get("/api/stores/no-such-store"), 404, "not_found", "store_id")
    assert_problem(await client.put("/api/stores/no-such-store", json={"period": 3}), 404, "not_found", "store_id")
    assert_problem(await client.get("/api/stores", params={"limit": 0}), 422, "invalid_input", "limit")


# ---------------------------------------------------------------- the seed's homepage generator


async def test_a_homepage_without_a_photo_is_refused_and_saves_no_store(client: httpx.AsyncClient) -> None:
    before = await stores_count(client)
    assert_problem(await client.post("/homepage/generate", json=STORE), 422, "invalid_input", "photos")
    refused = await client.post("/homepage/generate?wait_timeout_sec=0", json={**STORE, "photos": [b64(DANGO)]})
    assert_problem(refused, 422, "invalid_input", "wait_timeout_sec")
    assert await stores_count(client) == before


async def test_the_seeds_post_generate_answers_in_its_shape_and_the_site_is_served(client: httpx.AsyncClient) -> None:
    started = await client.post("/homepage/generate", json={**STORE, "photos": [b64(DANGO)]})
    assert started.status_code == 202, started.text
    body = started.json()
    assert {"status", "output_path", "pages", "generated_images", "job_id"} <= body.keys()
    assert body["status"] in ("queued", "running") and body["output_path"] is None and body["pages"] == []
    assert started.headers["location"] == body["status_url"] == f"/homepage/status/{body['job_id']}"
    form = {k: str(v) for k, v in STORE.items()}
    done = await client.post(  # waits for its site (a form this time), the first one's run included
        f"/homepage/generate?wait=true&wait_timeout_sec={RUN_TIMEOUT_S}", data=form, files={"photos": ("f.png", FISH)}
    )
    assert done.status_code == 200, done.text
    assert done.headers["location"] == done.json()["status_url"]
    st = await wait_for(client, body["job_id"], ended)
    await assert_site(st, client)
    await assert_site(done.json(), client)
    assert done.json()["site_id"] != st["site_id"]
    job = (await client.get(f"/status/{body['job_id']}")).json()
    assert job["kind"] == "homepage" and len(job["result"]["ad_job_ids"]) == st["generated_images"]
    ad_job = await client.get(f"/homepage/status/{job['result']['ad_job_ids'][0]}")
    assert_problem(ad_job, 404, "not_found", "job_id")  # an ad is no homepage


async def test_a_homepage_job_stopped_while_it_makes_its_images_ends_stopped_with_no_site(
    client: httpx.AsyncClient,
) -> None:
    started = await client.post(
        "/homepage/generate?wait=true&wait_timeout_sec=0.2", json={**STORE, "photos": ALL_PHOTOS}
    )
    assert started.status_code == 202, started.text  # the bounded wait ran out: still running, in the seed's shape
    assert started.json()["status"] in ("queued", "running") and started.json()["pages"] == []
    job_id = started.json()["job_id"]
    await wait_for(client, job_id, lambda st: st["current_step"] == "images")
    stopping = await client.post(f"/stop/{job_id}")
    assert stopping.status_code == 200 and stopping.json()["status"] == "running"
    st = await wait_for(client, job_id, lambda st: st["status"] != "running", timeout_s=STOP_GRACE_S + 5)
    assert st["status"] == "stopped" and st["output_path"] is None and st["site_url"] is None
    assert "images" not in st["steps_done"]
    assert (await client.post(f"/stop/{job_id}")).json()["status"] == "stopped"  # a finished job stays as it is
    assert_problem(await client.get(f"/homepage/download/{job_id}"), 404, "not_found", "job_id")


# ---------------------------------------------------------------- finished sites, the form page


def handmade_site(data_dir: Path, site_id: str) -> None:
    site = data_dir / "generated_sites" / site_id
    (site / "css").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>첫 화면</title><link rel=stylesheet href=css/style.css>")
    (site / "css" / "style.css").write_text("body { color: #222; }")
    (site / ".hidden").write_text("secret")
    (data_dir / "generated_sites" / "secret.txt").write_text("outside the site")


async def test_a_site_is_served_for_preview_and_nothing_outside_it(
    client: httpx.AsyncClient, rest_service: Service
) -> None:
    handmade_site(rest_service.settings.data_dir, "떡집_20260123_143052")
    await record_finished_job(rest_service, "home-made-by-hand", "homepage", {"site_id": "떡집_20260123_143052"})
    base = f"/sites/{quote('떡집_20260123_143052')}"
    index = await client.get(f"{base}/")
    assert index.status_code == 200 and "첫 화면" in index.text
    assert index.headers["content-type"].startswith("text/html")
    assert "connect-src 'none'" in index.headers["content-security-policy"]
    assert (await client.get(f"{base}/index.html")).text == index.text
    assert (await client.get(f"{base}/css/style.css")).headers["content-type"].startswith("text/css")
    moved = await client.get(base, follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"].endswith(f"{base}/")
    for path in (
        f"{base}/..%2Fsecret.txt",
        f"{base}/%2E%2E/%2E%2E/nanococoa.db",
        f"{base}/.hidden",
        f"{base}/missing.html",
        "/sites/%2E%2E/",
        "/sites/no-such-site/",
    ):
        url = client.base_url.copy_with(raw_path=path.encode())  # sent as written, dots and all
        response = await client.send(client.build_request("GET", url))
        assert response.status_code == 404, (path, response.text[:200])
        assert "outside the site" not in response.text and "SQLite" not in response.text


async def test_the_form_page_is_served_and_linked_from_the_ad_page(client: httpx.AsyncClient) -> None:
    page = await client.get("/homepage")
    assert page.status_code == 200 and "홈페이지 만들기" in page.text
    assert 'href="/homepage"' in (await client.get("/")).text
