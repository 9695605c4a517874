"""The distributed stack as it is deployed, each part its own process on loopback: PostgreSQL and S3 (the test
session's), two `nanococoa serve` replicas and two `nanococoa worker`s. A job submitted on one replica is
followed and stopped from the other; a worker killed with SIGKILL mid-job loses nothing (the other finishes the
job from its last finished step); while PostgreSQL restarts the API answers 503 (REST) and a typed error (MCP)
and then recovers with no job lost; two hundred submissions sent alternately to both replicas (seven whole
ads, the others quick cut-outs) each complete once, their images readable from either, and each replica
lists every job once. And `nanococoa serve --workers 1` alone runs its jobs, and stops its worker as it exits."""

from __future__ import annotations

import concurrent.futures
import io
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastmcp import Client
from PIL import Image, ImageDraw

from tests.realservers import PostgresServer, S3Server
from tests.server.rest.support import COFFEE, ad, b64, png_size, server_sent_events
from tests.server.serving import LOOPBACK
from tests.stack import Deployment, Proc, deployed

TERMINAL = ("completed", "failed", "stopped")


@pytest.fixture(scope="module")
def deployment(
    postgres: PostgresServer, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    with deployed(postgres, s3, tmp_path_factory.mktemp("stack"), max_queued_jobs=250) as running:
        yield running


def _status(replica: Proc, job_id: str) -> dict[str, Any]:
    response = LOOPBACK.get(f"{replica.url}/status/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _until(replica: Proc, job_id: str, ok: Any, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        st = _status(replica, job_id)
        if ok(st):
            return st
        assert time.monotonic() < deadline, f"job {job_id}: {st['status']} {st['message']}"
        time.sleep(0.1)


def _submit(replica: Proc, **fields: Any) -> str:
    response = LOOPBACK.post(f"{replica.url}/api/generate", json=ad(**fields), timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def _events(replica: Proc, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    with LOOPBACK.stream("GET", f"{replica.url}/jobs/{job_id}/events", timeout=120) as response:
        return server_sent_events(response.read().decode())


def test_a_job_submitted_on_one_replica_is_followed_and_stopped_from_the_other(deployment: Deployment) -> None:
    a, b = deployment.replicas
    job_id = _submit(a, product_image=b64(COFFEE), size="9:16", variants=4)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        followed = pool.submit(_events, b, job_id)  # b's stream, woken by the database's notifications
        _until(b, job_id, lambda st: st["status"] == "running" and st["progress_percent"] > 0)
        stop = LOOPBACK.post(f"{b.url}/stop/{job_id}", timeout=10)
        assert stop.status_code == 200, stop.text
        events = followed.result(timeout=60)
    assert events[-1] == ("end", {"job_id": job_id, "status": "stopped"})
    assert any(data.get("status") == "running" for name, data in events if name == "status")
    assert _status(a, job_id)["status"] == "stopped" and _status(a, job_id)["final_result"] is None


def test_a_worker_killed_mid_job_loses_no_job_and_the_other_finishes_it_from_its_last_step(
    deployment: Deployment,
) -> None:
    a, b = deployment.replicas
    job_id = _submit(a, product_image=b64(COFFEE), size="9:16", variants=3)
    deadline = time.monotonic() + 120
    while "step1_background" not in (row := deployment.row(job_id))["steps_done"] or row["status"] != "running":
        assert time.monotonic() < deadline, row
        time.sleep(0.05)
    pid = row["worker_pid"]
    victim = next(w for w in deployment.workers if w.pid == pid)
    assert deployment.stack.stop(victim, signal.SIGKILL) == -signal.SIGKILL
    done = _until(b, job_id, lambda st: st["status"] in TERMINAL, timeout=120)
    assert done["status"] == "completed", done
    row = deployment.row(job_id)
    assert row["attempt"] == 2 and row["status"] == "completed"
    assert "cutout" not in done["result"]["timings_sec"]  # the second attempt started at step 2: no new cut-out
    for replica in (a, b):
        image = LOOPBACK.get(f"{replica.url}{done['final_result_url']}", timeout=30)
        assert png_size(image.content) == (1080, 1920)
    deployment.start_worker(victim.name)


def test_while_postgres_restarts_the_api_answers_503_and_recovers_with_no_job_lost(
    deployment: Deployment, postgres: PostgresServer
) -> None:
    a, b = deployment.replicas
    job_id = _submit(b)
    _until(a, job_id, lambda st: st["status"] == "running")
    postgres.stop("immediate")
    try:
        # Both doors asked at once: each answers only after its pool gave up waiting for a connection (5 s).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            asked = pool.submit(_mcp, b, "check_generation_status", {"job_id": job_id})
            down = LOOPBACK.get(f"{a.url}/status/{job_id}", timeout=30)
            tool = asked.result(timeout=60)
        assert down.status_code == 503 and down.headers["retry-after"] == "5", down.text
        assert down.json()["error"] == "storage_unavailable" and down.json()["field"] == "database_url"
        assert tool.is_error and json.loads(tool.content[0].text)["error"] == "storage_unavailable"
    finally:
        postgres.start()
    done = _until(a, job_id, lambda st: st["status"] in TERMINAL, timeout=120)
    assert done["status"] == "completed", done
    assert png_size(LOOPBACK.get(f"{b.url}{done['final_result_url']}", timeout=30).content) == (1080, 1080)


def _mcp(replica: Proc, tool: str, arguments: dict[str, Any]) -> Any:
    import asyncio

    async def call() -> Any:
        async with Client(f"{replica.url}/mcp", timeout=60) as client:
            return await client.call_tool(tool, arguments, raise_on_error=False)

    return asyncio.run(call())



def _small_photo() -> bytes:
    """A 96 px product shot (a red ball on white): its cut-out takes a moment."""
    image = Image.new("RGB", (96, 96), "white")
    ImageDraw.Draw(image).ellipse((24, 20, 72, 76), fill=(200, 30, 40))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_two_hundred_submissions_sent_to_both_replicas_each_complete_once_readable_from_either_and_listed_once(
    deployment: Deployment,
) -> None:
    """Seven whole ads, the others quick cut-outs of a small photo (on two cores 200 ads would take minutes)."""
    a, b = deployment.replicas
    photo = b64(_small_photo())

    def submit(i: int) -> tuple[str, str]:
        replica = (a, b)[i % 2]
        if i % 33 == 0:  # seven ads, from both replicas
            return "ad", _submit(replica, ad_text=f"경단 {i}번 세일")
        response = LOOPBACK.post(f"{replica.url}/api/cutout", json={"image": photo}, timeout=60)
        assert response.status_code == 202, response.text
        return "cutout", str(response.json()["job_id"])

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        jobs = list(pool.map(submit, range(200)))
    ids = [job_id for _, job_id in jobs]
    assert len(set(ids)) == 200
    deadline = time.monotonic() + 300
    while True:  # read from the database: 200 status requests a round would only slow the workers
        rows = deployment.sql("SELECT status, attempt, last_failure FROM jobs WHERE id = ANY(%s)", (ids,))
        if all(status in TERMINAL for status, _, _ in rows) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sorted({status for status, _, _ in rows}) == ["completed"]
    # Each ran once, unless a recorded reason put it back in its queue (delivery is at least once: on a loaded
    # machine a worker may miss its heartbeats for the stall time); either way it completed exactly once.
    again = [(attempt, reason) for _, attempt, reason in rows if attempt != 1]
    assert all(attempt == 2 and reason for attempt, reason in again), again
    for i, (kind, job_id) in enumerate(jobs):
        other = (b, a)[i % 2]  # from the replica it was not sent to
        st = _status(other, job_id)
        if kind == "ad":
            assert st["parameters"]["text_content"] == f"경단 {i}번 세일"
            assert png_size(LOOPBACK.get(f"{other.url}{st['final_result_url']}", timeout=30).content) == (1080, 1080)
        else:
            assert png_size(LOOPBACK.get(f"{other.url}{st['cutout_url']}", timeout=30).content) == (96, 96)
    for replica in (a, b):
        seen = []
        for kind in ("ad", "cutout"):
            listed = _mcp(replica, "list_jobs", {"limit": 200, "kind": kind}).structured_content
            assert listed is not None
            seen += [j["job_id"] for j in listed["jobs"]]
        assert len(seen) == len(set(seen)) and set(ids) <= set(seen)


def _gone(pid: int) -> bool:
    """No such process any more (or only its zombie, waiting to be reaped by whoever adopted it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_serve_with_one_worker_runs_its_jobs_alone_and_stops_its_worker_when_it_exits(
    postgres: PostgresServer, s3: S3Server, tmp_path: Path
) -> None:
    with deployed(postgres, s3, tmp_path, workers=0, replicas=0) as solo_stack:
        solo = solo_stack.stack.serve("solo", "--workers", "1")
        assert LOOPBACK.get(f"{solo.url}/health", timeout=10).json()["workers"]["configured"] == 1
        job_id = _submit(solo)
        deadline = time.monotonic() + 120
        while (row := solo_stack.row(job_id))["worker_pid"] is None:
            assert time.monotonic() < deadline and row["status"] == "queued", row
            time.sleep(0.05)
        worker_pid = row["worker_pid"]
        assert worker_pid in [c.pid for c in psutil.Process(solo.pid).children()]  # the server's own worker
        done = _until(solo, job_id, lambda st: st["status"] in TERMINAL)
        assert done["status"] == "completed", done
        assert png_size(LOOPBACK.get(f"{solo.url}{done['final_result_url']}", timeout=30).content) == (1080, 1080)
        assert not _gone(worker_pid)
        assert solo_stack.stack.stop(solo) == -signal.SIGTERM  # shut down, then uvicorn re-raises the signal it caught
        deadline = time.monotonic() + 30
        while not _gone(worker_pid):
            assert time.monotonic() < deadline, f"worker {worker_pid} outlived its server"
            time.sleep(0.2)
