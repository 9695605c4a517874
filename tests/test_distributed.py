"""The distributed stack as it is deployed, each part its own process on loopback: PostgreSQL and S3 (the test
session's), two `nanococoa serve` replicas and two `nanococoa worker`s. A job submitted on one replica is
followed and stopped from the other; a worker killed with SIGKILL mid-job loses nothing (the other finishes the
job from its last finished step); while PostgreSQL restarts the API answers 503 (REST) and a typed error (MCP)
and then recovers with no job lost; thirty jobs sent alternately to both replicas each complete once, their
images readable from either, and each replica lists every job once."""

from __future__ import annotations

import concurrent.futures
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastmcp import Client

from nanococoa_mcp.locations import PostgresDatabase
from tests.jobs.backends import database_name, fresh_migrated_database
from tests.realservers import PostgresServer, S3Server
from tests.server.rest.support import COFFEE, ad, b64, png_size, server_sent_events
from tests.stack import Proc, Stack, stack_env

TERMINAL = ("completed", "failed", "stopped")


class Deployment:
    def __init__(self, stack: Stack, database: PostgresDatabase) -> None:
        self.stack = stack
        self.database = database
        self.workers: list[Proc] = []
        self.replicas: list[Proc] = []

    def start_worker(self, name: str) -> Proc:
        proc = self.stack.worker(name)
        self.stack.wait_log(proc, "worker ready")
        self.workers = [w for w in self.workers if w.name != name] + [proc]
        return proc

    def row(self, job_id: str) -> dict[str, Any]:
        with psycopg.connect(self.database.conninfo.get_secret_value(), autocommit=True) as conn:
            cur = conn.execute("SELECT status, attempt, worker_pid, steps_done::text FROM jobs WHERE id = %s",
                               (job_id,))
            status, attempt, pid, done = cur.fetchone() or (None, None, None, "[]")
        return {"status": status, "attempt": attempt, "worker_pid": pid, "steps_done": json.loads(done)}


@pytest.fixture(scope="module")
def deployment(
    postgres: PostgresServer, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    database = fresh_migrated_database(postgres)
    bucket = s3.create_bucket(f"stack-{int(time.time())}")
    stack = Stack(tmp_path_factory.mktemp("stack"), stack_env(str(database.conninfo.get_secret_value()), s3.env(),
                                                               s3.blob_url(bucket)))
    deployed = Deployment(stack, database)
    try:
        for name in ("worker-1", "worker-2"):
            deployed.start_worker(name)
        deployed.replicas = [stack.serve("replica-a"), stack.serve("replica-b")]
        yield deployed
    finally:
        stack.close()
        if postgres.running:
            postgres.drop_database(database_name(database))
        s3.delete_bucket(bucket)


def _status(replica: Proc, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{replica.url}/status/{job_id}", timeout=10)
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
    response = httpx.post(f"{replica.url}/api/generate", json=ad(**fields), timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def _events(replica: Proc, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    with httpx.stream("GET", f"{replica.url}/jobs/{job_id}/events", timeout=120) as response:
        return server_sent_events(response.read().decode())


def test_a_job_submitted_on_one_replica_is_followed_and_stopped_from_the_other(deployment: Deployment) -> None:
    a, b = deployment.replicas
    job_id = _submit(a, product_image=b64(COFFEE), size="9:16", variants=4)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        followed = pool.submit(_events, b, job_id)  # b's stream, woken by the database's notifications
        _until(b, job_id, lambda st: st["status"] == "running" and st["progress_percent"] > 0)
        stop = httpx.post(f"{b.url}/stop/{job_id}", timeout=10)
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
        image = httpx.get(f"{replica.url}{done['final_result_url']}", timeout=30)
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
        down = httpx.get(f"{a.url}/status/{job_id}", timeout=30)
        assert down.status_code == 503 and down.headers["retry-after"] == "5", down.text
        assert down.json()["error"] == "storage_unavailable" and down.json()["field"] == "database_url"
        tool = _mcp(b, "check_generation_status", {"job_id": job_id})
        assert tool.is_error and json.loads(tool.content[0].text)["error"] == "storage_unavailable"
    finally:
        postgres.start()
    done = _until(a, job_id, lambda st: st["status"] in TERMINAL, timeout=120)
    assert done["status"] == "completed", done
    assert png_size(httpx.get(f"{b.url}{done['final_result_url']}", timeout=30).content) == (1080, 1080)


def test_thirty_jobs_sent_to_both_replicas_each_complete_once_readable_from_either_and_listed_once(
    deployment: Deployment,
) -> None:
    a, b = deployment.replicas
    jobs = [(i, _submit((a, b)[i % 2], ad_text=f"경단 {i}번 세일")) for i in range(30)]
    done = {job_id: _until((b, a)[i % 2], job_id, lambda st: st["status"] in TERMINAL, timeout=300)
            for i, job_id in jobs}
    assert {st["status"] for st in done.values()} == {"completed"}
    assert {deployment.row(job_id)["attempt"] for _, job_id in jobs} == {1}  # each ran once
    for i, job_id in jobs:
        assert done[job_id]["parameters"]["text_content"] == f"경단 {i}번 세일"
        url = (a, b)[i % 2].url + done[job_id]["final_result_url"]  # from the replica it was not sent to
        assert png_size(httpx.get(url, timeout=30).content) == (1080, 1080)
    for replica in (a, b):
        listed = _mcp(replica, "list_jobs", {"limit": 200, "kind": "ad"}).structured_content
        assert listed is not None
        ids = [j["job_id"] for j in listed["jobs"]]
        assert len(ids) == len(set(ids)) and {job_id for _, job_id in jobs} <= set(ids)


def _mcp(replica: Proc, tool: str, arguments: dict[str, Any]) -> Any:
    import asyncio

    async def call() -> Any:
        async with Client(f"{replica.url}/mcp", timeout=60) as client:
            return await client.call_tool(tool, arguments, raise_on_error=False)

    return asyncio.run(call())

