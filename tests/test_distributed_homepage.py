"""Homepages on the distributed stack as it is deployed (PostgreSQL and S3 of the test session, two `nanococoa
serve` replicas, two `nanococoa worker`s, each its own process): a homepage submitted on one replica is built
by a worker (its ads made by the workers through the tools), and its pages, images and zip are served by the
other replica from the blob store; a worker killed with SIGKILL mid-run loses nothing: the other worker resumes
the run from its LangGraph checkpoint in PostgreSQL, without making again the ads it had finished."""

from __future__ import annotations

import io
import json
import signal
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.conftest import SAMPLES
from tests.homepage.conftest import SEED_RECORD
from tests.realservers import PostgresServer, S3Server
from tests.server.rest.support import b64
from tests.server.serving import LOOPBACK
from tests.stack import Deployment, Proc, deployed

PAGES = ["index.html", "about.html", "services.html", "contact.html"]


@pytest.fixture(scope="module")
def deployment(
    postgres: PostgresServer, s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    with deployed(postgres, s3, tmp_path_factory.mktemp("homepage-stack")) as running:
        yield running


def _submit(replica: Proc, photos: list[str]) -> str:
    response = LOOPBACK.post(f"{replica.url}/homepage/generate", json={**SEED_RECORD, "photos": photos}, timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def _until_done(replica: Proc, job_id: str, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        st = LOOPBACK.get(f"{replica.url}/homepage/status/{job_id}", timeout=10).json()
        if st["status"] in ("success", "failed", "stopped"):
            return dict(st)
        assert time.monotonic() < deadline, st
        time.sleep(0.25)


def test_a_homepage_submitted_on_one_replica_is_built_by_a_worker_and_served_by_the_other(
    deployment: Deployment,
) -> None:
    a, b = deployment.replicas
    job_id = _submit(a, [b64((SAMPLES / "dango.png").read_bytes())])
    done = _until_done(b, job_id)
    assert done["status"] == "success", json.dumps(done, ensure_ascii=False)  # the whole status, error included
    assert done["pages"] == PAGES and done["generated_images"] == 3  # hero, product_1, cta
    assert deployment.row(job_id)["attempt"] == 1
    assert not list(deployment.stack.base.glob("worker-*/scratch/*/generated_sites"))  # worked on, then cleared
    entry = deployment.sql("SELECT p.queue_name, p.status::text, p.worker_id IS NOT NULL FROM jobs j "
                 "JOIN procrastinate_jobs p ON p.id = j.task_id WHERE j.id = %s", (job_id,))
    assert entry == [("homepage", "succeeded", True)]  # its queue entry, taken by a worker (replicas take none)
    index = LOOPBACK.get(f"{b.url}{done['site_url']}", timeout=10)
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "김밥천국 강남점" in index.text and 'src="images/hero.jpg"' in index.text
    hero = LOOPBACK.get(f"{b.url}{done['site_url']}images/hero.jpg", timeout=10)
    assert hero.status_code == 200 and Image.open(io.BytesIO(hero.content)).size == (1080, 1080)
    css = LOOPBACK.get(f"{a.url}{done['site_url']}css/style.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert LOOPBACK.get(f"{a.url}{done['site_url']}.hidden", timeout=10).status_code == 404
    zipped = LOOPBACK.get(f"{b.url}{done['zip_url']}", timeout=10)
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert {f"{done['site_id']}/{page}" for page in PAGES} | {f"{done['site_id']}/images/hero.jpg"} <= set(names)
    # the run's checkpoints are in PostgreSQL, under the job id
    assert deployment.sql("SELECT COUNT(*) FROM checkpoints WHERE thread_id = %s", (job_id,))[0][0] > 0


def test_a_worker_killed_mid_homepage_loses_nothing_and_the_run_resumes_without_redoing_its_ads(
    deployment: Deployment,
) -> None:
    a, b = deployment.replicas
    job_id = _submit(b, [b64((SAMPLES / "dango.png").read_bytes()), b64((SAMPLES / "fish.png").read_bytes())])
    created = deployment.sql("SELECT created_at FROM jobs WHERE id = %s", (job_id,))[0][0]
    deadline = time.monotonic() + 180
    while True:  # until the hero ad is made and checkpointed: the run has gone on to the next ad
        status, message, pid = deployment.sql("SELECT status, message, worker_pid FROM jobs WHERE id = %s",
                                    (job_id,))[0]
        if status == "running" and message and message.startswith(("product_1:", "cta:")):
            break
        assert time.monotonic() < deadline and status in ("queued", "running"), (status, message)
        time.sleep(0.1)
    hero_ad = deployment.sql("SELECT id FROM jobs WHERE kind = 'ad' AND created_at > %s ORDER BY seq LIMIT 1",
                   (created,))[0][0]
    victim = next(w for w in deployment.workers if w.pid == pid)
    assert deployment.stack.stop(victim, signal.SIGKILL) == -signal.SIGKILL
    done = _until_done(a, job_id)
    assert done["status"] == "success", json.dumps(done, ensure_ascii=False)  # the whole status, error included
    assert deployment.row(job_id)["attempt"] == 2
    result = LOOPBACK.get(f"{a.url}/status/{job_id}", timeout=10).json()["result"]
    assert result["resumed"] is True
    assert result["ad_job_ids"][0] == hero_ad  # the ad checkpointed before the kill is the site's, not made again
    ads = deployment.sql("SELECT COUNT(*) FROM jobs WHERE kind = 'ad' AND status = 'completed' AND created_at > %s",
               (created,))[0][0]
    assert ads <= len(result["ad_job_ids"]) + 1  # at most the ad under way at the kill was made twice
    for replica in (a, b):
        for image in ("hero", "product_1", "cta"):
            got = LOOPBACK.get(f"{replica.url}{done['site_url']}images/{image}.jpg", timeout=10)
            assert got.status_code == 200, (replica.name, image)
    deployment.start_worker(victim.name)
