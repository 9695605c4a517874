"""The ad routes in process: the seed's model-server and backend requests as JSON and as forms, a job's
status in both shapes, its progress as server-sent events, stop, recent jobs, health, fonts and styles."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.server.rest.support import COFFEE, DANGO, ad, assert_problem, b64, png_size, server_sent_events, wait_done

pytestmark = pytest.mark.asyncio(loop_scope="module")
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


async def wait_running(client: httpx.AsyncClient, job_id: str, timeout_s: float = 60.0) -> None:
    """Until the job is running with some progress (its worker is inside the pipeline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        st = (await client.get(f"/status/{job_id}")).json()
        if st["status"] == "running" and st["progress_percent"] > 0:
            return
        assert st["status"] in ("queued", "running"), st
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not start in {timeout_s:.0f} s: {st}")
        await asyncio.sleep(0.05)


async def test_a_json_job_is_accepted_at_once_and_its_events_end_completed(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/generate", json=ad())
    assert r.status_code == 202, r.text
    body = r.json()
    job_id = body["job_id"]
    assert body["status"] == "processing"
    assert body["status_url"] == f"/status/{job_id}" == r.headers["location"]
    assert body["events_url"] == f"/jobs/{job_id}/events"

    stream = await client.get(body["events_url"], timeout=90)
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    events = server_sent_events(stream.text)
    statuses = [data for name, data in events if name == "status"]
    progress = [s["progress_percent"] for s in statuses]
    assert progress == sorted(progress), progress
    assert {s["status"] for s in statuses} <= {"queued", "running", "completed"}
    assert statuses[-1]["status"] == "completed" and progress[-1] == 100
    assert statuses[-1]["final_result_url"] == f"/files/{job_id}/final_1.png"
    assert events[-1] == ("end", {"job_id": job_id, "status": "completed"})


async def test_the_events_of_an_unknown_job_are_a_404_before_any_stream(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/jobs/no-such-job/events"), 404, "not_found", "job_id")


async def test_a_finished_job_has_the_seed_status_fields_in_both_shapes(client: httpx.AsyncClient) -> None:
    job_id = (await client.post("/api/generate", json=ad())).json()["job_id"]
    st = await wait_done(client, job_id)
    assert st["status"] == "completed", st
    assert SEED_STATUS_FIELDS <= set(st)
    assert {"cpu_percent", "ram_used_gb", "ram_total_gb", "ram_percent"} <= set(st["system_metrics"])
    assert st["parameters"]["text_content"] == "쫄깃한 경단 할인" and st["parameters"]["size"] == "1:1"
    assert st["progress_percent"] == 100 and st["elapsed_sec"] > 0
    assert st["step1_result_url"] == f"/files/{job_id}/step1_1.jpg"
    assert st["final_result_url"] == f"/files/{job_id}/final_1.png"

    backend = (await client.get(f"/api/status/{job_id}")).json()
    assert set(backend) == {
        "job_id", "status", "progress", "message", "current_step", "eta_seconds",
        "step1_image", "final_image", "images", "result", "error",
    }  # fmt: skip
    assert (backend["status"], backend["progress"], backend["error"]) == ("completed", 100, None)
    assert backend["final_image"] == st["final_result_url"] and backend["images"] == [st["final_result_url"]]
    assert backend["result"]["width"] == 1080
    assert png_size((await client.get(st["final_result_url"])).content) == (1080, 1080)


@pytest.mark.parametrize("route, copy_field", [("/api/generate", "ad_text"), ("/generate", "text_content")])
@pytest.mark.parametrize("image_part", ["file", "base64"])
async def test_a_multipart_upload_works_on_both_generate_routes(
    client: httpx.AsyncClient, route: str, copy_field: str, image_part: str
) -> None:
    form = {copy_field: "경단 세트 특가", "size": "1:1", "variants": "1", "sub_copy": ""}  # an empty input is unset
    if image_part == "file":
        r = await client.post(route, data=form, files={"product_image": ("dango.png", DANGO, "image/png")})
    else:
        r = await client.post(route, data={**form, "product_image": b64(DANGO)})
    assert r.status_code == 202, r.text
    st = await wait_done(client, r.json()["job_id"])
    assert st["status"] == "completed", st
    assert st["parameters"]["text_content"] == "경단 세트 특가" and st["parameters"]["sub_copy"] is None
    assert png_size((await client.get(st["final_result_url"])).content) == (1080, 1080)


async def test_a_urlencoded_form_with_a_data_url_is_read_like_json(client: httpx.AsyncClient) -> None:
    form = {"ad_text": "경단 한정 판매", "size": "1:1", "product_image": f"data:image/png;base64,{b64(DANGO)}"}
    r = await client.post("/api/generate", data=form)
    assert r.status_code == 202, r.text
    assert (await wait_done(client, r.json()["job_id"]))["status"] == "completed"


async def test_the_seed_model_server_request_is_accepted_and_its_fields_are_kept(client: httpx.AsyncClient) -> None:
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
    refused = await client.post("/generate", json={**seed_body, "test_mode": True})  # the seed never says what it does
    assert refused.status_code == 422 and refused.json()["field"] == "test_mode", refused.text
    r = await client.post("/generate", json=seed_body)
    assert r.status_code == 202, r.text
    st = await wait_done(client, r.json()["job_id"])
    assert st["status"] == "completed", st
    params = st["parameters"]
    for key in ("text_content", "bg_prompt", "html_style_prompt", "use_qwen_analysis", "use_llm_html",
                "text_position", "strength", "guidance_scale", "test_mode"):  # fmt: skip
        assert params[key] == seed_body[key], key
    assert (params["style"], params["text_style"]) == ("cafe", "gold_balloon")  # guessed from the prompts
    assert st["result"]["variants"][0]["text_region"]  # the copy was placed
    assert png_size((await client.get(st["final_result_url"])).content) == (1080, 1350)  # the default 4:5


async def test_a_step_2_child_keeps_the_parents_scene_and_sets_new_copy(client: httpx.AsyncClient) -> None:
    parent = await client.post(
        "/generate", json={"product_image": b64(DANGO), "text_content": "경단 오픈 기념", "size": "1:1"}
    )
    parent_id = parent.json()["job_id"]
    assert (await wait_done(client, parent_id))["status"] == "completed"

    child = await client.post(
        "/generate", json={"start_step": 2, "parent_id": parent_id, "text_content": "경단 두 번째 세일"}
    )
    assert child.status_code == 202, child.text
    st = await wait_done(client, child.json()["job_id"])
    assert st["status"] == "completed", st
    assert (st["parent_id"], st["start_step"]) == (parent_id, 2)
    assert st["parameters"]["text_content"] == "경단 두 번째 세일"

    scene = await client.get(f"/files/{st['job_id']}/step1_1.png")
    assert scene.status_code == 200
    assert scene.content == (await client.get(f"/files/{parent_id}/step1_1.png")).content  # bit-exact
    final = (await client.get(st["final_result_url"])).content
    assert final != (await client.get(f"/files/{parent_id}/final_1.png")).content


@pytest.mark.parametrize("stop_route", ["/stop", "/api/stop"])
async def test_both_stop_routes_stop_queued_and_running_jobs(client: httpx.AsyncClient, stop_route: str) -> None:
    running = (await client.post("/api/generate", json=ad(product_image=b64(COFFEE), size="9:16", variants=4))).json()
    queued = (await client.post("/api/generate", json=ad())).json()
    await wait_running(client, running["job_id"])

    r = await client.post(f"{stop_route}/{queued['job_id']}")
    assert r.status_code == 200 and r.json() == {"job_id": queued["job_id"], "status": "stopped"}
    r = await client.post(f"{stop_route}/{running['job_id']}")
    assert r.status_code == 200 and r.json()["status"] in ("running", "stopped")
    st = await wait_done(client, running["job_id"])
    assert st["status"] == "stopped" and st["final_result"] is None


@pytest.mark.parametrize("route", ["/stop/no-such-job", "/api/stop/no-such-job"])
async def test_stopping_an_unknown_job_is_a_404_naming_job_id(client: httpx.AsyncClient, route: str) -> None:
    assert_problem(await client.post(route), 404, "not_found", "job_id")


async def test_recent_jobs_are_listed_newest_first_and_filtered(client: httpx.AsyncClient) -> None:
    first = (await client.post("/api/generate", json=ad())).json()["job_id"]
    second = (await client.post("/api/generate", json=ad(ad_text="경단 두 번째"))).json()["job_id"]
    await wait_done(client, second)
    listed = (await client.get("/api/jobs", params={"kind": "ad", "limit": 2})).json()["jobs"]
    assert [j["job_id"] for j in listed] == [second, first] and listed[0]["text_content"] == "경단 두 번째"
    assert (await client.get("/api/jobs", params={"kind": "homepage"})).json() == {"jobs": []}


@pytest.mark.parametrize(
    "params, field",
    [({"status": "done"}, "status"), ({"kind": "video"}, "kind"), ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit")],
)
async def test_a_bad_job_filter_is_a_problem_naming_it(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    body = assert_problem(await client.get("/api/jobs", params=params), 422, "invalid_input", field)
    assert body["accepted"]


async def test_health_fonts_and_styles_answer(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    report = health.json()
    assert report["status"] == "ok" and report["problems"] == []
    assert report["workers"]["alive"] == report["workers"]["configured"] >= 1

    fonts = (await client.get("/fonts")).json()
    assert fonts and all(f["name"] == f["family"] and Path(f["path"]).is_file() for f in fonts)

    styles = (await client.get("/api/styles")).json()
    scene = {s["id"]: s for s in styles["scene_styles"]}
    assert "cafe" in scene and "gold_balloon" in {s["id"] for s in styles["text_styles"]}
    assert "9:16" in {s["id"] for s in styles["sizes"]}
    thumb = scene["cafe"]["thumbnail_url"]
    assert thumb == "/static/thumbs/scene/cafe.jpg"
    picture = await client.get(thumb)
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
