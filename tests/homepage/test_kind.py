"""The homepage as a job kind of the one runtime: queued, claimed and run beside its own ad jobs with a
single worker; a photo the ad tool refuses recorded while the site is still built; a full queue waited out
rather than failing the run; parameters checked before anything is queued."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.kind import input_file
from nanococoa_mcp.app import service_running
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.homepage.kind import HomepageKind
from nanococoa_mcp.jobs.models import JobTicket
from nanococoa_mcp.server.tool_caller import McpToolCaller
from nanococoa_mcp.settings import Settings
from tests.conftest import SAMPLES
from tests.homepage.conftest import NODES, PAGES, SEED_RECORD, builtin_settings

DANGO = SAMPLES / "dango.png"


def parameters(photos: list[Path]) -> dict[str, object]:
    return {"store_id": "s1", "store_name": SEED_RECORD["store_name"], "record": SEED_RECORD,
            "photos": [str(p) for p in photos]}


@dataclass
class Recorded:
    """A JobContext of the test's own: what a run reports, never a stop."""

    data_dir: Path
    reports: list[tuple[float, str, str]] = field(default_factory=list)

    def report(self, percent: float, step: str, sub_step: str | None, message: str) -> None:
        self.reports.append((percent, step, message))

    def should_stop(self) -> bool:
        return False


def test_a_homepage_job_is_refused_before_queueing_when_its_parameters_are_wrong(data_dir: Path) -> None:
    kind = HomepageKind(Settings(data_dir=data_dir), tools=lambda: McpToolCaller(Settings(data_dir=data_dir)))
    assert kind.check(parameters([DANGO]))["record"]["opening_hours"] == "매일 10:00-22:00"
    for bad, name in (
        ({**parameters([DANGO]), "photos": [str(DANGO)] * 5}, "photos"),
        ({**parameters([DANGO]), "record": {**SEED_RECORD, "phone_number": "12"}}, "record.phone_number"),
        ({k: v for k, v in parameters([DANGO]).items() if k != "store_id"}, "store_id"),
    ):
        with pytest.raises(InvalidInput) as info:
            kind.check(bad)
        assert info.value.field == name


async def test_with_one_worker_a_homepage_job_runs_beside_its_ads_and_a_refused_photo_is_recorded(
    data_dir: Path, tmp_path: Path
) -> None:
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (20, 20), (200, 40, 40)).save(tiny)  # the ad tool refuses it: too small
    settings = builtin_settings(data_dir)
    assert settings.workers == 1
    async with service_running(settings) as service:
        job = await service.submit("homepage", parameters([DANGO, tiny]))
        assert job.kind == "homepage" and job.status in ("queued", "running")
        done = await service.wait(job.job_id, 240)
        ads = await service.jobs(kind="ad")
    assert done.status == "completed", done.error
    assert done.steps_done == NODES and done.progress_percent == 100
    result = done.result
    assert result is not None and result["pages"] == PAGES and result["generated_images"] == 1
    assert [s["id"] for s in result["skipped_images"]] == ["product_1", "cta"]  # the one photo, both its ads
    assert all(s["photo"] == str(tiny) for s in result["skipped_images"])
    assert result["skipped_images"][0]["reason"].startswith("generate_ad_image refused product_image_path:")
    assert [a.status for a in ads] == ["completed"]  # the hero, made by the one worker the run never held
    assert (Path(result["output_path"]) / "images" / "hero.jpg").is_file()
    assert not (Path(result["output_path"]) / "images" / "product_1.jpg").exists()


async def test_a_hard_photo_among_the_shops_photos_still_gets_its_ads_as_photo_cards_and_the_site_builds(
    data_dir: Path, tmp_path: Path
) -> None:
    hard = tmp_path / "pattern.png"
    yy, xx = np.mgrid[0:600, 0:800]
    checker = ((((xx // 40) + (yy // 40)) % 2) * 180 + 40).astype(np.uint8)  # nothing in it stands apart
    Image.fromarray(np.dstack([checker] * 3)).save(hard)
    async with service_running(builtin_settings(data_dir)) as service:
        job = await service.submit("homepage", parameters([DANGO, hard]))
        done = await service.wait(job.job_id, 240)
        ads = await service.jobs(kind="ad")
    assert done.status == "completed", done.error
    result = done.result
    assert result is not None and result["generated_images"] == 3 and result["skipped_images"] == []
    images = Path(result["output_path"]) / "images"
    assert all((images / f"{name}.jpg").is_file() for name in ("hero", "product_1", "cta"))
    modes = sorted(v["quality"]["layout_mode"] for a in ads if a.result for v in a.result["variants"])
    assert modes == ["cutout", "photo_card", "photo_card"], modes  # the hard photo's two ads are cards


@pytest.mark.browser
async def test_a_full_queue_is_waited_out_and_the_run_then_makes_its_ads(data_dir: Path) -> None:
    # Retried every 0.5 s (NANOCOCOA_QUEUE_RETRY_MAX_SEC): the default's pauses of up to 5 s only made it wait.
    settings = builtin_settings(data_dir).model_copy(update={"max_queued_jobs": 1, "queue_retry_max_sec": 0.5})
    photo = input_file(decode_image(DANGO.read_bytes()))
    long_ad = {"text_content": "오래 걸리는 광고", "variants": 4, "size": "9:16"}
    async with service_running(settings) as service:
        busy = await service.submit("ad", long_ad, input_file=photo)
        while (await service.status(busy.job_id, metrics=False)).status == "queued":
            await asyncio.sleep(0.05)
        waiting = await service.submit("ad", {"text_content": "기다리는 광고", "size": "1:1"}, input_file=photo)
        assert (await service.status(waiting.job_id, metrics=False)).status == "queued"  # the queue is full
        kind = HomepageKind(settings, tools=lambda: McpToolCaller(settings))
        context = Recorded(data_dir)
        ticket = JobTicket(job_id="site-1", kind="homepage", parameters=kind.check(parameters([DANGO])),
                           input_path=None, start_step=1, parent_id=None, steps_done=[])
        result = await kind.run(ticket, context)
        ads = await service.jobs(kind="ad", limit=50)
    waits = [m for _p, step, m in context.reports if step == "images" and "대기열이 가득 차" in m]
    assert waits, [m for _p, _s, m in context.reports]
    assert result["generated_images"] == 3 and result["skipped_images"] == []
    assert len(ads) == 5 and {a.status for a in ads} == {"completed"}
