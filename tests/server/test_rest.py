"""The REST shim against a real `nanococoa serve`: the seed's model-server and backend routes, progress as
server-sent events, result files, problem bodies for bad input, the OpenAPI document, Origin and token."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from PIL import Image

from tests.server.serving import ROOT, ServerProcess, wait_done

SAMPLES = ROOT / "samples"
DANGO = (SAMPLES / "dango.png").read_bytes()  # 35 KB
COFFEE = (SAMPLES / "coffee.jpg").read_bytes()  # 80 KB
TERMINAL = ("completed", "failed", "stopped")
PROBLEM_KEYS = {"error", "message", "field", "accepted", "status"}
SEED_STATUS_FIELDS = {
    "status",
    "progress_percent",
    "current_step",
    "sub_step",
    "message",
    "elapsed_sec",
    "eta_seconds",
    "step_eta_seconds",
    "system_metrics",
    "parameters",
    "step1_result",
    "step1_result_url",
    "final_result",
    "final_result_url",
}
TOKEN = "rest-token-for-tests"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def ad(**fields: Any) -> dict[str, Any]:
    """A valid /api/generate body (a small square ad), with `fields` changed."""
    return {"product_image": b64(DANGO), "ad_text": "쫄깃한 경단 할인", "size": "1:1", **fields}


def wait_running(client: httpx.Client, job_id: str, timeout_s: float = 60.0) -> None:
    """Until the job is running with some progress (its worker is inside the pipeline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        st = client.get(f"/status/{job_id}").json()
        if st["status"] == "running" and st["progress_percent"] > 0:
            return
        assert st["status"] in ("queued", "running"), st
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not start in {timeout_s:.0f} s: {st}")
        time.sleep(0.05)


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        return im.size


def assert_problem(response: httpx.Response, code: int, error: str, field: str) -> dict[str, Any]:
    assert response.status_code == code, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"error", "message", "status"} <= set(body) <= PROBLEM_KEYS, body
    assert (body["error"], body["field"], body["status"]) == (error, field, code), body
    return body


def read_events(client: httpx.Client, url: str) -> list[tuple[str, dict[str, Any]]]:
    """The server-sent events of a job's stream, up to and including `end`."""
    events: list[tuple[str, dict[str, Any]]] = []
    name, data = "", ""
    with client.stream("GET", url, timeout=90) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                data += line.partition(":")[2].strip()
            elif line == "" and name:
                events.append((name, json.loads(data)))
                if name == "end":
                    return events
                name, data = "", ""
    raise AssertionError(f"the stream ended without an end event: {events}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("rest") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base, timeout=30) as c:
        yield c


# ---------------------------------------------------------------- a job through the routes


def test_a_json_job_is_accepted_at_once_and_its_events_end_completed(client: httpx.Client) -> None:
    r = client.post("/api/generate", json=ad())
    assert r.status_code == 202, r.text
    body = r.json()
    job_id = body["job_id"]
    assert body["status"] == "processing"
    assert body["status_url"] == f"/status/{job_id}" == r.headers["location"]
    assert body["events_url"] == f"/jobs/{job_id}/events"

    events = read_events(client, body["events_url"])
    statuses = [data for name, data in events if name == "status"]
    progress = [s["progress_percent"] for s in statuses]
    assert progress == sorted(progress), progress
    assert {s["status"] for s in statuses} <= {"queued", "running", "completed"}
    assert statuses[-1]["status"] == "completed" and progress[-1] == 100
    assert events[-1] == ("end", {"job_id": job_id, "status": "completed"})


def test_a_finished_job_has_the_seed_status_fields_and_serves_its_png(client: httpx.Client) -> None:
    job_id = client.post("/api/generate", json=ad()).json()["job_id"]
    st = wait_done(client, job_id)
    assert st["status"] == "completed", st
    assert SEED_STATUS_FIELDS <= set(st)
    assert {"cpu_percent", "ram_used_gb", "ram_total_gb", "ram_percent"} <= set(st["system_metrics"])
    assert st["parameters"]["text_content"] == "쫄깃한 경단 할인" and st["parameters"]["size"] == "1:1"
    assert st["progress_percent"] == 100 and st["elapsed_sec"] > 0
    assert st["step1_result_url"] == f"/files/{job_id}/step1_1.jpg"
    assert st["final_result_url"] == f"/files/{job_id}/final_1.png"

    backend = client.get(f"/api/status/{job_id}").json()
    assert set(backend) == {
        "job_id", "status", "progress", "message", "current_step", "eta_seconds",
        "step1_image", "final_image", "images", "result", "error",
    }  # fmt: skip
    assert (backend["status"], backend["progress"], backend["error"]) == ("completed", 100, None)
    assert backend["final_image"] == st["final_result_url"] and backend["images"] == [st["final_result_url"]]
    assert backend["result"]["width"] == 1080

    image = client.get(st["final_result_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert png_size(image.content) == (1080, 1080)
    assert "content-disposition" not in image.headers
    download = client.get(st["final_result_url"], params={"download": "1"})
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.content == image.content
    preview = client.get(st["step1_result_url"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize("route, copy_field", [("/api/generate", "ad_text"), ("/generate", "text_content")])
@pytest.mark.parametrize("image_part", ["file", "base64"])
def test_a_multipart_upload_works_on_both_generate_routes(
    client: httpx.Client, route: str, copy_field: str, image_part: str
) -> None:
    form = {copy_field: "경단 세트 특가", "size": "1:1", "variants": "1"}
    if image_part == "file":
        r = client.post(route, data=form, files={"product_image": ("dango.png", DANGO, "image/png")})
    else:
        r = client.post(route, data={**form, "product_image": b64(DANGO)})
    assert r.status_code == 202, r.text
    st = wait_done(client, r.json()["job_id"])
    assert st["status"] == "completed", st
    assert st["parameters"]["text_content"] == "경단 세트 특가"
    assert png_size(client.get(st["final_result_url"]).content) == (1080, 1080)


def test_the_seed_model_server_request_is_accepted_and_its_fields_are_kept(client: httpx.Client) -> None:
    seed_body = {
        "start_step": 1,
        "product_image": b64(COFFEE),
        "text_content": "갓 볶은 원두 커피",
        "bg_prompt": "Wooden table in a cozy cafe, sunlight, realistic",
        "html_style_prompt": "Gold gradient with shadow, modern bold",
        "use_qwen_analysis": True,
        "use_llm_html": False,
        "text_position": "top",
        "strength": 0.7,
        "guidance_scale": 4.0,
        "test_mode": False,
    }
    refused = client.post("/generate", json={**seed_body, "test_mode": True})  # the seed never says what it does
    assert refused.status_code == 422 and refused.json()["field"] == "test_mode", refused.text
    r = client.post("/generate", json=seed_body)
    assert r.status_code == 202, r.text
    st = wait_done(client, r.json()["job_id"])
    assert st["status"] == "completed", st
    params = st["parameters"]
    for key in ("text_content", "bg_prompt", "html_style_prompt", "use_qwen_analysis", "use_llm_html",
                "text_position", "strength", "guidance_scale", "test_mode"):  # fmt: skip
        assert params[key] == seed_body[key], key
    assert (params["style"], params["text_style"]) == ("cafe", "gold_balloon")  # guessed from the prompts
    assert st["result"]["variants"][0]["text_region"]  # the copy was placed
    assert png_size(client.get(st["final_result_url"]).content) == (1080, 1350)  # the default 4:5


def test_a_step_2_child_keeps_the_parents_scene_and_sets_new_copy(client: httpx.Client) -> None:
    parent = client.post(
        "/generate", json={"product_image": b64(DANGO), "text_content": "경단 오픈 기념", "size": "1:1"}
    )
    parent_id = parent.json()["job_id"]
    assert wait_done(client, parent_id)["status"] == "completed"

    child = client.post(
        "/generate", json={"start_step": 2, "parent_id": parent_id, "text_content": "경단 두 번째 세일"}
    )
    assert child.status_code == 202, child.text
    st = wait_done(client, child.json()["job_id"])
    assert st["status"] == "completed", st
    assert (st["parent_id"], st["start_step"]) == (parent_id, 2)
    assert st["parameters"]["text_content"] == "경단 두 번째 세일"

    scene = client.get(f"/files/{st['job_id']}/step1_1.png")
    assert scene.status_code == 200
    assert scene.content == client.get(f"/files/{parent_id}/step1_1.png").content  # bit-exact
    assert client.get(st["final_result_url"]).content != client.get(f"/files/{parent_id}/final_1.png").content


@pytest.mark.parametrize("stop_route", ["/stop", "/api/stop"])
def test_both_stop_routes_stop_queued_and_running_jobs(client: httpx.Client, stop_route: str) -> None:
    running = client.post("/api/generate", json=ad(product_image=b64(COFFEE), size="9:16", variants=4)).json()
    queued = client.post("/api/generate", json=ad()).json()
    wait_running(client, running["job_id"])

    r = client.post(f"{stop_route}/{queued['job_id']}")
    assert r.status_code == 200 and r.json() == {"job_id": queued["job_id"], "status": "stopped"}
    r = client.post(f"{stop_route}/{running['job_id']}")
    assert r.status_code == 200 and r.json()["status"] in ("running", "stopped")
    st = wait_done(client, running["job_id"])
    assert st["status"] == "stopped" and st["final_result"] is None


@pytest.mark.parametrize("stop_route", ["/stop", "/api/stop"])
def test_stopping_an_unknown_job_is_a_404_naming_job_id(client: httpx.Client, stop_route: str) -> None:
    assert_problem(client.post(f"{stop_route}/no-such-job"), 404, "not_found", "job_id")


# ---------------------------------------------------------------- refused requests


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose upload limit sits between the two samples: dango.png passes, coffee.jpg does not."""
    proc = ServerProcess(tmp_path_factory.mktemp("strict") / "data", {"NANOCOCOA_MAX_UPLOAD_BYTES": "40000"})
    yield proc.start()
    proc.stop()


BAD_REQUESTS: list[tuple[str, str, dict[str, Any], str]] = [
    ("bad base64", "/api/generate", {"json": ad(product_image="%%% not base64 %%%")}, "product_image"),
    ("not an image", "/api/generate", {"json": ad(product_image=b64(b"just some text"))}, "product_image"),
    ("too large", "/api/generate", {"json": ad(product_image=b64(COFFEE))}, "product_image"),
    ("too large file", "/api/generate",
     {"data": {"ad_text": "경단"}, "files": {"product_image": ("c.jpg", COFFEE, "image/jpeg")}}, "product_image"),
    ("unknown background_style", "/api/generate", {"json": ad(background_style="moon base")}, "background_style"),
    ("unknown text_style", "/api/generate", {"json": ad(text_style="comic sans")}, "text_style"),
    ("unknown size", "/api/generate", {"json": ad(size="3:7")}, "size"),
    ("missing ad_text", "/api/generate", {"json": {"product_image": b64(DANGO)}}, "ad_text"),
    ("empty copy", "/api/generate", {"json": ad(ad_text="")}, "ad_text"),
    ("blank copy", "/api/generate", {"json": ad(ad_text="   ")}, "ad_text"),
    ("41-char copy", "/api/generate", {"json": ad(ad_text="가" * 41)}, "ad_text"),
    ("41-char seed copy", "/generate",
     {"json": {"product_image": b64(DANGO), "text_content": "가" * 41}}, "text_content"),
    ("unknown JSON field", "/api/generate", {"json": ad(colour="red")}, "colour"),
    ("unknown seed field", "/generate", {"json": {"product_image": b64(DANGO), "text_content": "경단", "x": 1}}, "x"),
    ("non-JSON body", "/api/generate", {"content": b"ad_text=hello", "headers": {"content-type": "text/plain"}},
     "body"),
    ("variants=9", "/api/generate", {"json": ad(variants=9)}, "variants"),
    ("two files", "/api/generate", {"data": {"ad_text": "경단"}, "files": [
        ("product_image", ("a.png", DANGO, "image/png")), ("product_image", ("b.png", DANGO, "image/png"))]}, "body"),
    ("step 2 without a parent", "/generate", {"json": {"start_step": 2, "text_content": "경단"}}, "parent_id"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("route", "request_kwargs", "field"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS]
)
def test_bad_input_is_a_problem_naming_the_field_and_leaves_nothing_behind(
    strict_server: ServerProcess, route: str, request_kwargs: dict[str, Any], field: str
) -> None:
    with httpx.Client(base_url=strict_server.base, timeout=30) as client:
        r = client.post(route, **request_kwargs)
        assert_problem(r, 422, "invalid_input", field)
        assert client.get("/api/jobs").json() == {"jobs": []}
    data_dir = strict_server.data_dir
    assert not [p for sub in ("uploads", "jobs", "steps") for p in (data_dir / sub).rglob("*")]


def test_an_unknown_status_filter_is_a_problem_naming_status(client: httpx.Client) -> None:
    assert_problem(client.get("/api/jobs", params={"status": "done"}), 422, "invalid_input", "status")


def test_the_strict_server_still_takes_a_photo_under_its_limit(strict_server: ServerProcess) -> None:
    """The control for the refusals above: the same requests, corrected, are accepted."""
    with httpx.Client(base_url=strict_server.base, timeout=30) as client:
        r = client.post("/api/generate", json=ad())
        assert r.status_code == 202, r.text
        assert wait_done(client, r.json()["job_id"])["status"] == "completed"


# ---------------------------------------------------------------- service routes


def test_health_fonts_and_styles_answer(client: httpx.Client) -> None:
    health = client.get("/health")
    assert health.status_code == 200
    report = health.json()
    assert report["status"] == "ok" and report["problems"] == []
    assert report["workers"]["alive"] == report["workers"]["configured"] >= 1

    fonts = client.get("/fonts").json()
    assert fonts and all(f["name"] and Path(f["path"]).is_file() for f in fonts)

    styles = client.get("/api/styles").json()
    assert "cafe" in {s["id"] for s in styles["scene_styles"]}
    assert "gold_balloon" in {s["id"] for s in styles["text_styles"]}
    assert "9:16" in {s["id"] for s in styles["sizes"]}


def test_the_openapi_document_is_3_1_with_every_route_and_resolvable_refs(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1.") and doc["info"]["title"] and doc["info"]["version"]
    assert {
        "/generate", "/status/{job_id}", "/stop/{job_id}", "/health", "/fonts", "/api/generate",
        "/api/status/{job_id}", "/api/stop/{job_id}", "/jobs/{job_id}/events",
    } <= set(doc["paths"])  # fmt: skip

    schemas = doc["components"]["schemas"]
    refs = re.findall(r'"\$ref": "([^"]*)"', json.dumps(doc))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)

    for path, item in doc["paths"].items():
        templated = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            assert method in ("get", "post", "put") and op["responses"], (path, method)
            assert all(r["description"] for r in op["responses"].values()), (path, method)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path" and p["required"]}
            assert declared == templated, (path, method)
            if method in ("post", "put") and "requestBody" in op:
                assert "application/json" in op["requestBody"]["content"]


# ---------------------------------------------------------------- who may call


def test_a_foreign_origin_is_refused_and_the_same_origin_passes(server: ServerProcess, client: httpx.Client) -> None:
    before = len(client.get("/api/jobs", params={"limit": 200}).json()["jobs"])
    evil = client.post("/api/generate", json=ad(), headers={"Origin": "http://evil.example"})
    assert_problem(evil, 403, "forbidden_origin", "Origin")
    assert len(client.get("/api/jobs", params={"limit": 200}).json()["jobs"]) == before

    same = client.post("/api/generate", json=ad(), headers={"Origin": server.base})
    assert same.status_code == 202, same.text
    assert wait_done(client, same.json()["job_id"])["status"] == "completed"


def test_a_token_guards_the_rest_routes_but_not_health(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data", {"NANOCOCOA_TOKEN": TOKEN}) as server:
        assert httpx.get(f"{server.base}/health").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            r = httpx.post(f"{server.base}/api/generate", json=ad(), headers=headers)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", headers
            assert httpx.get(f"{server.base}/api/jobs", headers=headers).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=server.base, headers=auth, timeout=30) as client:
            assert client.get("/api/jobs").json() == {"jobs": []}
            r = client.post("/api/generate", json=ad())
            assert r.status_code == 202, r.text
            assert wait_done(client, r.json()["job_id"])["status"] == "completed"
            assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/files/..%2f../x",
        "/files/..%2f..%2fnanococoa.db/x",
        "/files/%2e%2e/nanococoa.db",
        "/files/..%2fnanococoa.db",
        "/files/jobs/..%2fnanococoa.db",
        "/files/x/..%2f..%2fnanococoa.db",
        "/files/uploads/..",
        "/files/%2e%2e/%2e%2e",
    ],
)
def test_result_files_never_leave_the_job_folders(server: ServerProcess, client: httpx.Client, path: str) -> None:
    assert (server.data_dir / "nanococoa.db").is_file()  # a file worth reaching, were traversal possible
    r = client.get(path)
    assert r.status_code == 404, (path, r.text)
    assert b"SQLite" not in r.content
