"""API keys end to end: made, listed and revoked through the real CLI against a running `nanococoa serve` that
requires a credential (the revoked key is refused at once, the shared token keeps working), and the web page in
Debian Chromium asking for a key in Korean, keeping it for the tab and still showing the images it loads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from playwright.sync_api import Browser

from tests.server.browsing import DESKTOP, ThreadBrowser, is_korean
from tests.server.serving import LOOPBACK, ROOT, ServerProcess

TOKEN = "shared-token-for-web-auth-tests"
FISH = ROOT / "samples" / "fish.png"


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NANOCOCOA_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "nanococoa_mcp.cli", "keys", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def new_key(data_dir: Path, tenant: str) -> tuple[str, str]:
    made = cli(data_dir, "create", "--tenant", tenant)
    assert made.returncode == 0, made.stderr
    key = made.stdout.splitlines()[0]
    found = re.search(r"id (key_[0-9a-f]+), tenant " + re.escape(tenant), made.stdout)
    assert key.startswith("nck_") and found, made.stdout
    return found.group(1), key


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    data_dir = tmp_path_factory.mktemp("web-auth") / "data"
    cli(data_dir, "list")  # the database exists before the server opens it
    proc = ServerProcess(data_dir, {"NANOCOCOA_AUTH_REQUIRED": "true", "NANOCOCOA_TOKEN": TOKEN}).start()
    yield proc, data_dir
    proc.stop()


async def test_a_key_made_by_the_cli_works_on_rest_and_mcp_until_the_cli_revokes_it(
    served: tuple[ServerProcess, Path],
) -> None:
    proc, data_dir = served
    key_id, key = new_key(data_dir, "shop-cli")
    auth = {"Authorization": f"Bearer {key}"}
    assert LOOPBACK.get(f"{proc.base}/api/jobs").status_code == 401
    assert LOOPBACK.get(f"{proc.base}/api/jobs", headers=auth).json() == {"jobs": []}
    assert LOOPBACK.get(f"{proc.base}/api/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    http = httpx2.AsyncClient(headers=auth, timeout=30)
    async with http, Client(streamable_http_client(f"{proc.base}/mcp", http_client=http)) as client:
        assert "generate_ad_image" in {t.name for t in (await client.list_tools()).tools}

    listed = cli(data_dir, "list")
    row = next(line for line in listed.stdout.splitlines() if key_id in line)
    assert "shop-cli" in row and key not in listed.stdout and key[4:12] not in listed.stdout
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row)) == 2  # created, and used just now

    revoked = cli(data_dir, "revoke", key_id)
    assert revoked.returncode == 0 and f"{key_id} (tenant shop-cli) revoked" in revoked.stdout
    assert LOOPBACK.get(f"{proc.base}/api/jobs", headers=auth).status_code == 401  # at once: no cache to expire
    assert len(re.findall(r"\d{4}-\d\d-\d\d", next(
        line for line in cli(data_dir, "list").stdout.splitlines() if key_id in line))) == 3
    unknown = cli(data_dir, "revoke", "key_000000000000")
    assert unknown.returncode == 2 and "not_found" in unknown.stderr


@pytest.mark.browser
def test_the_page_asks_for_a_key_in_korean_keeps_it_for_the_tab_and_its_images_load(
    served: tuple[ServerProcess, Path], browser: ThreadBrowser
) -> None:
    proc, data_dir = served
    _, key = new_key(data_dir, "shop-web")

    def run(b: Browser) -> None:
        page = b.new_page(viewport=DESKTOP)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(proc.base + "/")
        page.wait_for_selector("#auth-dialog[open]")
        assert is_korean(page.inner_text("#auth-dialog"))
        page.fill("#auth-key", "nck_not-a-key")
        page.click("#auth-submit")
        page.wait_for_selector("#auth-error:not([hidden])")
        assert is_korean(page.inner_text("#auth-error"))
        page.fill("#auth-key", key)
        page.click("#auth-submit")
        page.wait_for_selector("#scene-grid label.choice img")  # the styles came with the key
        assert not page.is_visible("#auth-dialog")
        assert page.evaluate("document.documentElement.dataset.tenant") == "shop-web"
        assert page.evaluate("sessionStorage.getItem('nanococoa_api_key')") == key

        page.set_input_files("#photo-input", str(FISH))  # the cut-out preview: an image loaded by its URL
        page.wait_for_function(
            "() => { const img = document.getElementById('cutout-image');"
            " return !img.hidden && img.complete && img.naturalWidth > 0; }",
            timeout=90_000,
        )
        assert page.evaluate("document.getElementById('cutout-image').src").startswith(proc.base + "/files/")

        page.reload()  # the same tab keeps its key: no question
        page.wait_for_selector("#scene-grid label.choice img")
        assert not page.is_visible("#auth-dialog")
        other = b.new_page(viewport=DESKTOP)  # another browser (no key, no cookie) is asked again
        other.goto(proc.base + "/")
        other.wait_for_selector("#auth-dialog[open]")
        other.close()
        assert errors == []
        page.close()

    browser.run(run)
