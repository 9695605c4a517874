"""The homepage generator's doors: store records through the tools (checked field by field, a refusal
saves nothing), generate_homepage as a job through a real MCP client over HTTP, a server killed mid-run
that finishes the site after a restart, `nanococoa homepage` in process and through a server, and the form
page in a browser. The REST routes are tested in process in tests/server/rest/test_homepage.py."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from typer.testing import CliRunner

from nanococoa_mcp.cli.commands import app
from nanococoa_mcp.errors import InvalidInput, NotFound
from nanococoa_mcp.homepage.graph import IMAGES_SPAN, NODE_START
from nanococoa_mcp.service import Service
from nanococoa_mcp.tools import create_store, generate_homepage, get_store, list_stores, update_store
from tests.conftest import SAMPLES
from tests.server.serving import LOOPBACK, ServerProcess

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
PAGES = ["index.html", "about.html", "services.html", "contact.html"]
# The workflow's nodes, as progress names them (the web page labels them in Korean).
NODES = ["brainstorm", "concept", "marketing", "structure", "content", "images", "header_footer", "pages", "package"]
DANGO, FISH = SAMPLES / "dango.png", SAMPLES / "fish.png"
RUN_TIMEOUT_S = 240.0
runner = CliRunner()


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


ALL_PHOTOS = [b64(SAMPLES / name) for name in ("dango.png", "fish.png", "apple.jpg", "orange.jpg")]  # five ads


def store_rows(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "nanococoa.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM stores").fetchone()[0])


def store_files(data_dir: Path) -> list[Path]:
    root = data_dir / "stores"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


# ---------------------------------------------------------------- store records through the tools


async def test_a_store_is_saved_with_its_photos_read_back_listed_and_changed(service: Service) -> None:
    made = await create_store(**STORE, photo_paths=[str(DANGO)], photos=[b64(FISH)])
    assert made.record["store_name"] == "김밥천국 강남점" and made.record["opening_hours"] is None
    assert [Path(p).suffix for p in made.photos] == [".png", ".png"]
    assert Path(made.photos[0]).read_bytes() == DANGO.read_bytes()  # kept as received
    assert all(Path(p).parent == service.settings.data_dir / "stores" / made.store_id for p in made.photos)
    assert await get_store(made.store_id) == made
    assert [s.store_id for s in (await list_stores()).stores] == [made.store_id]

    changed = await update_store(made.store_id, phone_number="010-9876-5432", opening_hours="매일 10:00-22:00")
    assert changed.record["phone_number"] == "010-9876-5432" and changed.record["store_name"] == STORE["store_name"]
    assert changed.photos == made.photos and changed.updated_at > made.updated_at

    replaced = await update_store(made.store_id, photo_paths=[str(SAMPLES / "apple.jpg")])
    assert len(replaced.photos) == 1 and replaced.photos[0].endswith(".jpg")
    assert store_files(service.settings.data_dir) == [Path(replaced.photos[0])]  # the replaced ones are gone


REFUSED_STORES: list[tuple[dict[str, Any], str]] = [
    ({"phone_number": "1234-5678"}, "phone_number"),
    ({"store_name": "가" * 41}, "store_name"),
    ({"store_strength": "   "}, "store_strength"),
    ({"budget": -1}, "budget"),
    ({"period": 0}, "period"),
    ({"photos": ["bm90IGFuIGltYWdl"]}, "photos[0]"),
    ({"photo_paths": [str(DANGO), "/no/such/photo.png"]}, "photo_paths[1]"),
    ({"photos": [b64(DANGO)] * 5}, "photos"),
]


async def test_an_invalid_store_is_refused_naming_the_field_and_saves_nothing(service: Service) -> None:
    for change, field in REFUSED_STORES:  # one service for every case: each would otherwise start a worker
        with pytest.raises(InvalidInput) as info:
            await create_store(**{**STORE, **change})
        assert (info.value.field, bool(info.value.accepted)) == (field, True), change
    assert store_rows(service.settings.data_dir) == 0 and store_files(service.settings.data_dir) == []


async def test_a_refused_update_changes_nothing(service: Service) -> None:
    made = await create_store(**STORE, photo_paths=[str(DANGO)])
    with pytest.raises(InvalidInput) as info:
        await update_store(made.store_id, store_name="새 이름", phone_number="국번 없이 112")
    assert info.value.field == "phone_number"
    with pytest.raises(InvalidInput):
        await update_store(made.store_id, photos=["bm90IGFuIGltYWdl"])
    assert await get_store(made.store_id) == made
    assert store_files(service.settings.data_dir) == [Path(made.photos[0])]
    with pytest.raises(NotFound) as missing:
        await update_store("no-such-store", store_name="새 이름")
    assert missing.value.field == "store_id"


async def test_a_homepage_needs_a_known_store_with_a_photo_and_queues_nothing_otherwise(service: Service) -> None:
    bare = await create_store(**STORE)
    with pytest.raises(InvalidInput) as info:
        await generate_homepage(bare.store_id)
    assert info.value.field == "photos"
    with pytest.raises(NotFound):
        await generate_homepage("no-such-store")
    assert await service.jobs() == []


# ---------------------------------------------------------------- one served studio for the HTTP tests


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One `nanococoa serve` for the module's HTTP tests (each test makes its own stores and jobs)."""
    with ServerProcess(tmp_path_factory.mktemp("served") / "data") as running:
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base, timeout=60) as c:
        yield c


# ---------------------------------------------------------------- whole runs through every door


def follow(client: httpx.Client, job_id: str, timeout_s: float = RUN_TIMEOUT_S) -> tuple[dict[str, Any], list[str]]:
    """Poll /homepage/status until the job ends; its last answer and the nodes seen on the way."""
    deadline = time.monotonic() + timeout_s
    nodes: list[str] = []
    while True:
        st: dict[str, Any] = client.get(f"/homepage/status/{job_id}").json()
        if st["current_step"] and st["current_step"] not in nodes:
            nodes.append(st["current_step"])
        if st["status"] in ("success", "failed", "stopped"):
            return st, nodes
        assert time.monotonic() < deadline, f"still {st['status']} after {timeout_s:.0f} s: {st}"
        time.sleep(0.2)


def assert_site(st: dict[str, Any], client: httpx.Client) -> None:
    """The seed's answer, and a site that is really there and served whole."""
    assert st["status"] == "success", st["error"]
    assert st["pages"] == PAGES and st["generated_images"] >= 1
    folder = Path(st["output_path"])
    assert all((folder / page).is_file() for page in PAGES) and any((folder / "images").iterdir())
    for page in PAGES:
        html = client.get(f"{st['site_url']}{page}")
        assert html.status_code == 200 and "<html" in html.text.lower()
    index = client.get(st["site_url"]).text
    for ref in sorted(set(re.findall(r'(?:src|href)="((?:images|css)/[^"]+)"', index))):
        assert client.get(f"{st['site_url']}{ref}").status_code == 200, ref
    zipped = client.get(st["zip_url"])
    assert zipped.status_code == 200 and zipped.content[:2] == b"PK"


async def test_generate_homepage_through_mcp_is_a_job_that_names_its_node_and_ends_with_the_site(
    server: ServerProcess, client: httpx.Client
) -> None:
    async with Client(f"{server.base}/mcp", mode="legacy") as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
        hints = {n: (t.annotations.read_only_hint, t.annotations.destructive_hint) for n, t in tools.items()}
        assert hints["get_store"] == hints["list_stores"] == (True, False)
        assert hints["create_store"] == (False, False) and hints["update_store"] == (False, True)
        assert hints["generate_homepage"] == (False, False)
        refused = await mcp.call_tool("create_store", {**STORE, "phone_number": "12"})
        assert refused.is_error and json.loads(refused.content[0].text)["field"] == "phone_number"

        made = await mcp.call_tool("create_store", {**STORE, "photo_paths": [str(DANGO)]})
        assert not made.is_error, made.content
        accepted = await mcp.call_tool("generate_homepage", {"store_id": made.structured_content["store_id"]})
        assert not accepted.is_error, accepted.content
        job = accepted.structured_content
        assert job["kind"] == "homepage" and job["status"] in ("queued", "running") and job["result"] is None
        nodes: list[str] = []
        while True:
            st = (await mcp.call_tool("check_generation_status", {"job_id": job["job_id"]})).structured_content
            if st["current_step"] and st["current_step"] not in nodes:
                nodes.append(st["current_step"])
            if st["status"] in ("completed", "failed", "stopped"):
                break
            await asyncio.sleep(0.2)
        assert st["status"] == "completed" and st["progress_percent"] == 100, st["error"]
        assert nodes and set(nodes) <= set(NODES) and st["steps_done"] == NODES
        result = st["result"]
        assert result["pages"] == PAGES and Path(result["output_path"]).name == result["site_id"]
        listed = (await mcp.call_tool("list_jobs", {"kind": "homepage"})).structured_content["jobs"]
        assert (listed[0]["job_id"], listed[0]["text_content"]) == (job["job_id"], STORE["store_name"])
    assert_site(client.get(f"/homepage/status/{job['job_id']}").json(), client)


def wait_for(client: httpx.Client, job_id: str, until: Any, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        st: dict[str, Any] = client.get(f"/homepage/status/{job_id}").json()
        if until(st):
            return st
        assert st["status"] in ("queued", "running"), st
        assert time.monotonic() < deadline, st
        time.sleep(0.05)



def test_a_server_killed_mid_run_finishes_the_site_after_a_restart_without_remaking_its_images(
    data_dir: Path,
) -> None:
    first = ServerProcess(data_dir).start()
    try:
        with httpx.Client(base_url=first.base, timeout=60) as client:
            job_id = client.post("/homepage/generate", json={**STORE, "photos": ALL_PHOTOS}).json()["job_id"]
            # Each image is a step of the images node, checkpointed before the next one starts. The first
            # image's progress ends where the second's begins: past that point, the first is checkpointed.
            second = NODE_START["images"] + IMAGES_SPAN / 5
            before = wait_for(client, job_id, lambda st: st["progress_percent"] > second + 0.05)
            finished_ads = {"kind": "ad", "status": "completed", "limit": 50}
            made_before = {j["job_id"] for j in client.get("/api/jobs", params=finished_ads).json()["jobs"]}
    finally:
        first.kill()  # the server, its worker and the run, at once
    assert before["status"] == "running" and before["current_step"] == "images", before
    with ServerProcess(data_dir) as again, httpx.Client(base_url=again.base, timeout=60) as client:
        st, _nodes = follow(client, job_id)
        assert_site(st, client)
        result = client.get(f"/status/{job_id}").json()["result"]
        assert result["resumed"] is True and len(result["ad_job_ids"]) == 5
        assert made_before & set(result["ad_job_ids"])  # the image checkpointed before the kill was kept
        assert set(before["steps_done"]) <= set(st["steps_done"])


def test_the_cli_builds_a_site_in_process_or_through_a_server_and_prints_where_it_is(
    tmp_path: Path, server: ServerProcess
) -> None:
    store_json = tmp_path / "store.json"
    store_json.write_text(json.dumps(STORE, ensure_ascii=False), encoding="utf-8")
    local = runner.invoke(app, ["homepage", str(store_json), "--photo", str(DANGO)])
    assert local.exit_code == 0, local.output
    site = Path(re.search(r"site: (.+)", local.stdout).group(1).strip())  # type: ignore[union-attr]
    assert all((site / page).is_file() for page in PAGES) and "pages: index.html, about.html" in local.stdout
    assert "zip: " in local.stdout and "job: " in local.stdout

    remote = runner.invoke(app, ["homepage", str(store_json), "--photo", str(FISH), "--server", server.base])
    assert remote.exit_code == 0, remote.output
    preview = re.search(r"preview: (\S+)", remote.stdout).group(1)  # type: ignore[union-attr]
    assert LOOPBACK.get(preview).status_code == 200

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**STORE, "phone_number": "1234"}), encoding="utf-8")
    refused = runner.invoke(app, ["homepage", str(bad), "--photo", str(DANGO)])
    assert refused.exit_code == 2 and "phone_number" in refused.output
    missing = runner.invoke(app, ["homepage", str(store_json), "--photo", str(tmp_path / "none.png")])
    assert missing.exit_code == 2 and "--photo[0]" in missing.output


# ---------------------------------------------------------------- the web page


@pytest.mark.browser
def test_the_form_page_shows_korean_field_errors_follows_the_nodes_and_opens_the_site(
    server: ServerProcess, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    from nanococoa_mcp.ad.stages.render import find_chromium

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(find_chromium()))
        page = browser.new_page(viewport={"width": 375, "height": 812})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        expected = "status of 422"  # the browser logs the refused phone number's answer; nothing else may fail
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and expected not in m.text else None)
        page.add_init_script(
            "window.__nodes = []; setInterval(() => { const t = document.getElementById('step-label');"
            " if (t && !document.getElementById('progress').hidden) window.__nodes.push(t.textContent); }, 50);"
        )
        page.goto(f"{server.base}/homepage")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # fits a phone

        page.click("#submit-btn")  # nothing filled in: every required box says so, in Korean
        assert "한 장 이상" in page.text_content("#photos-error")  # type: ignore[operator]
        assert page.text_content("#e-store_name") == "이 칸을 채워 주세요."

        page.set_input_files("#photos-input", [str(DANGO)])
        for name, value in STORE.items():
            page.fill(f"#f-{name}", str(value))
        page.fill("#f-phone_number", "0000-123-4567")  # the page's own check lets it through; the server does not
        page.click("#submit-btn")
        page.wait_for_selector("#e-phone_number:not(:empty)")
        assert "하이픈" in page.text_content("#e-phone_number")  # type: ignore[operator]
        assert page.get_attribute("#f-phone_number", "aria-invalid") == "true"

        page.fill("#f-phone_number", STORE["phone_number"])
        page.click("#submit-btn")
        page.wait_for_selector("#open-site:visible", timeout=RUN_TIMEOUT_S * 1000)
        site_url = page.get_attribute("#open-site", "href")
        assert site_url and site_url.startswith("/sites/") and "job=" in page.url
        shown = set(page.evaluate("window.__nodes"))
        assert shown and all(any("가" <= ch <= "힣" for ch in label) for label in shown), shown
        assert page.text_content("#result-badge") == "완성"
        assert [a.text_content() for a in page.query_selector_all("#page-links a")] == [
            "첫 화면", "가게 소개", "메뉴·서비스", "오시는 길"
        ]
        frame = page.frame_locator("#site-preview")
        assert frame.locator("body").inner_text(timeout=10_000)  # the site shows in the preview
        page.screenshot(path=tmp_path / "homepage-done.png", full_page=True)
        shutil.copyfile(tmp_path / "homepage-done.png", "/tmp/homepage-done.png")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375

        page.reload()  # the job is in the address: a reload shows it again
        page.wait_for_selector("#open-site:visible")
        browser.close()
    assert errors == []
