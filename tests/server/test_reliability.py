"""The job system under failure, through a real `nanococoa serve`: a worker killed mid-job, a server
stopped or killed with work queued, a burst of submissions against the queue cap, an unusable data
directory, and stops (honoured, or enforced on a worker that does not answer)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.serving import ROOT, ServerProcess, wait_done

SAMPLES = ROOT / "samples"
DANGO = base64.b64encode((SAMPLES / "dango.png").read_bytes()).decode()
COFFEE = base64.b64encode((SAMPLES / "coffee.jpg").read_bytes()).decode()
TERMINAL = ("completed", "failed", "stopped")
SMALL = {"product_image": DANGO, "ad_text": "쫄깃한 경단 할인", "size": "1:1"}  # about a second of work
LONG = {"product_image": COFFEE, "ad_text": "향긋한 커피 한 잔", "size": "9:16", "variants": 4}  # about eight


def submit(client: httpx.Client, body: dict[str, Any]) -> str:
    r = client.post("/api/generate", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


def job_row(data_dir: Path, job_id: str) -> dict[str, Any]:
    """The job's row, read straight from the database (read-only), as a dead server left it."""
    uri = f"file:{data_dir / 'nanococoa.db'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    assert row is not None, job_id
    return dict(row)


def wait_row(data_dir: Path, job_id: str, ready: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll the job's row until `ready` holds: "started" (a worker is inside the pipeline) or
    "step1_done" (step 1 is finished and stored, the job still running)."""
    deadline = time.monotonic() + timeout_s
    while True:
        row = job_row(data_dir, job_id)
        assert row["status"] in ("queued", "running"), row
        started = row["status"] == "running" and row["progress_percent"] > 0 and row["worker_pid"]
        if started and (ready == "started" or json.loads(row["steps_done"])):
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never reached {ready} in {timeout_s:.0f} s: {row}")
        time.sleep(0.02)


def wait_health(client: httpx.Client, timeout_s: float = 30.0) -> dict[str, Any]:
    """Until /health says ok again (a replaced worker is up)."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.get("/health")
        if r.status_code == 200:
            report: dict[str, Any] = r.json()
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"/health still {r.status_code} after {timeout_s:.0f} s: {r.text}")
        time.sleep(0.1)


def final_pngs(data_dir: Path) -> list[Path]:
    return sorted(data_dir.rglob("final_*.png"))


@pytest.fixture
def one_worker(data_dir: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(data_dir, {"NANOCOCOA_WORKERS": "1"}).start()
    yield proc
    proc.stop()


@pytest.fixture
def client(one_worker: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=one_worker.base, timeout=30) as c:
        yield c


# ---------------------------------------------------------------- crashes and restarts


def test_a_worker_killed_mid_job_fails_it_as_resumable_and_is_replaced(
    one_worker: ServerProcess, client: httpx.Client
) -> None:
    job_id = submit(client, LONG)
    row = wait_row(one_worker.data_dir, job_id, "started")
    os.kill(row["worker_pid"], signal.SIGKILL)

    st = wait_done(client, job_id)
    assert st["status"] == "failed" and st["resumable"] is True, st
    assert st["error"]["error"] == "worker_crashed" and "SIGKILL" in st["error"]["message"]
    health = wait_health(client)
    assert health["workers"]["alive"] == 1 and health["workers"]["replaced"] == 1
    assert wait_done(client, submit(client, SMALL))["status"] == "completed"
    assert job_row(one_worker.data_dir, job_id)["worker_pid"] is None


def test_sigterm_lets_the_running_job_finish_and_keeps_the_queue_for_the_next_start(data_dir: Path) -> None:
    """The defined graceful stop (WorkerPool.close): no new job starts, the running one finishes (within
    the pool's 10 s close timeout; a longer one would be killed and settled by the next start's recovery),
    the queued ones wait in the database and run after the restart."""
    server = ServerProcess(data_dir, {"NANOCOCOA_WORKERS": "1"}).start()
    with httpx.Client(base_url=server.base, timeout=30) as client:
        running = submit(client, {**LONG, "size": "1:1", "variants": 2})  # well inside the close timeout
        queued = [submit(client, SMALL) for _ in range(3)]
        wait_row(data_dir, running, "started")
    server.stop()

    assert job_row(data_dir, running)["status"] == "completed"
    assert [job_row(data_dir, j)["status"] for j in queued] == ["queued"] * 3
    with ServerProcess(data_dir, {"NANOCOCOA_WORKERS": "1"}) as again:
        with httpx.Client(base_url=again.base, timeout=30) as client:
            assert [wait_done(client, j)["status"] for j in [running, *queued]] == ["completed"] * 4


def test_a_killed_server_requeues_unstarted_jobs_and_fails_a_half_done_one_as_resumable(data_dir: Path) -> None:
    server = ServerProcess(data_dir, {"NANOCOCOA_WORKERS": "1"}).start()
    with httpx.Client(base_url=server.base, timeout=30) as client:
        half_done = submit(client, LONG)
        queued = [submit(client, SMALL) for _ in range(3)]
        wait_row(data_dir, half_done, "step1_done")
    server.kill()  # the server and its workers, at once
    assert job_row(data_dir, half_done)["status"] == "running"  # nobody was left to settle it

    with ServerProcess(data_dir, {"NANOCOCOA_WORKERS": "1"}) as again:
        with httpx.Client(base_url=again.base, timeout=30) as client:
            st = wait_done(client, half_done)
            assert (st["status"], st["resumable"], st["error"]["error"]) == ("failed", True, "interrupted"), st
            assert "step1_background" in st["steps_done"]
            assert [wait_done(client, j)["status"] for j in queued] == ["completed"] * 3

            child = client.post(
                "/generate", json={"parent_id": half_done, "start_step": 2, "text_content": "다시 만든 커피 광고"}
            )
            assert child.status_code == 202, child.text
            done = wait_done(client, child.json()["job_id"])
            assert done["status"] == "completed", done
            assert done["parameters"]["size"] == "9:16" and len(done["image_urls"]) == 4
            known = client.get("/api/jobs", params={"limit": 200}).json()["jobs"]
            assert {j["job_id"] for j in known} == {half_done, *queued, done["job_id"]}


# ---------------------------------------------------------------- load


@pytest.fixture
def busy_server(data_dir: Path) -> Iterator[ServerProcess]:
    env = {"NANOCOCOA_WORKERS": "2", "NANOCOCOA_MAX_QUEUED_JOBS": "8"}
    proc = ServerProcess(data_dir, env).start()
    yield proc
    proc.stop()


async def test_a_hundred_concurrent_submissions_get_202_or_429_and_every_accepted_job_completes(
    busy_server: ServerProcess,
) -> None:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=busy_server.base, timeout=60, limits=limits) as client:
        responses = await asyncio.gather(*(client.post("/api/generate", json=SMALL) for _ in range(100)))
        codes = [r.status_code for r in responses]
        assert set(codes) <= {202, 429}, codes
        for r in responses:
            if r.status_code == 429:
                assert r.headers["retry-after"].isdigit()
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["error"] == "queue_full" and r.json()["status"] == 429
        accepted = [r.json()["job_id"] for r in responses if r.status_code == 202]
        assert 8 <= len(accepted) < 100, codes  # the cap counts waiting jobs; started ones make room

        deadline = time.monotonic() + 90
        pending = set(accepted)
        while pending:
            assert time.monotonic() < deadline, f"{len(pending)} jobs unfinished"
            for job_id in list(pending):
                st = (await client.get(f"/status/{job_id}")).json()
                if st["status"] in TERMINAL:
                    assert st["status"] == "completed", st
                    pending.discard(job_id)
            await asyncio.sleep(0.5)
        listed = (await client.get("/api/jobs", params={"limit": 200})).json()["jobs"]
        assert sorted(j["job_id"] for j in listed) == sorted(accepted)  # refused ones left no row


# ---------------------------------------------------------------- storage


def test_a_data_dir_that_is_a_file_stops_the_server_at_start_naming_it(data_dir: Path) -> None:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    data_dir.write_text("not a directory")  # unwritable for root too
    env = {**os.environ, "NANOCOCOA_DATA_DIR": str(data_dir)}
    cmd = [sys.executable, "-m", "nanococoa_mcp.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "data_dir" in out and str(data_dir) in out and "cannot write" in out


def test_an_upload_folder_that_cannot_be_written_refuses_with_507_and_creates_no_job(
    one_worker: ServerProcess, client: httpx.Client
) -> None:
    (one_worker.data_dir / "uploads").write_text("in the way")
    r = client.post("/api/generate", json=SMALL)
    assert r.status_code == 507, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (r.json()["error"], r.json()["field"]) == ("storage_error", "data_dir")
    assert client.get("/api/jobs").json() == {"jobs": []}


def test_a_result_folder_that_cannot_be_written_fails_the_job_with_no_partial_result(
    one_worker: ServerProcess, client: httpx.Client
) -> None:
    (one_worker.data_dir / "jobs").write_text("in the way")
    st = wait_done(client, submit(client, SMALL))
    assert (st["status"], st["error"]["error"], st["resumable"]) == ("failed", "storage_error", True), st
    assert st["final_result"] is None and final_pngs(one_worker.data_dir) == []

    (one_worker.data_dir / "jobs").unlink()  # the disk is fixed: the next job completes
    assert wait_done(client, submit(client, SMALL))["status"] == "completed"


# ---------------------------------------------------------------- stops


def test_a_stopped_running_job_ends_stopped_within_the_grace_period_and_the_next_job_runs(
    one_worker: ServerProcess, client: httpx.Client
) -> None:
    job_id = submit(client, LONG)
    after = submit(client, SMALL)
    wait_row(one_worker.data_dir, job_id, "started")
    asked = time.monotonic()
    assert client.post(f"/stop/{job_id}").status_code == 200

    st = wait_done(client, job_id)
    assert st["status"] == "stopped", st
    assert time.monotonic() - asked < 10.0  # NANOCOCOA_STOP_GRACE_SEC's default
    assert client.get("/health").json()["workers"]["replaced"] == 0  # the worker honoured it itself
    assert not (one_worker.data_dir / "jobs" / job_id).exists()
    assert wait_done(client, after)["status"] == "completed"
    assert [p.parent.name for p in final_pngs(one_worker.data_dir)] == [after]


def test_a_worker_that_ignores_a_stop_is_killed_after_the_grace_period_and_replaced(data_dir: Path) -> None:
    env = {"NANOCOCOA_WORKERS": "1", "NANOCOCOA_STOP_GRACE_SEC": "2"}
    with ServerProcess(data_dir, env) as server, httpx.Client(base_url=server.base, timeout=30) as client:
        job_id = submit(client, LONG)
        row = wait_row(data_dir, job_id, "started")
        os.kill(row["worker_pid"], signal.SIGSTOP)  # frozen: it cannot see the stop request
        try:
            asked = time.monotonic()
            assert client.post(f"/api/stop/{job_id}").status_code == 200
            st = wait_done(client, job_id)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(row["worker_pid"], signal.SIGCONT)
        assert st["status"] == "stopped", st
        assert 2.0 <= time.monotonic() - asked < 15.0
        assert wait_health(client)["workers"]["replaced"] == 1
        assert wait_done(client, submit(client, SMALL))["status"] == "completed"
        assert final_pngs(data_dir)[0].parent.name != job_id
